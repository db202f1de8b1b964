-- benchmarks/real/lua.lua SCALE — scripts/bench_real's Lua workload: short-lived tables,
-- strings and closures, the garbage Lua programs make. Prints checksums that must not depend
-- on the allocator.
local scale = tonumber(arg[1]) or 1
local function n(x) return math.floor(x * scale) end
math.randomseed(42) -- Lua 5.4 seeds randomly otherwise

-- Records with string fields, sorted by a comparator closure.
local recs = {}
for i = 1, n(120000) do
    recs[i] = { id = i, key = string.format("k%08d", math.random(1, 1 << 30)), tags = { i % 7, i % 11 } }
end
table.sort(recs, function(a, b) return a.key < b.key end)
local sum = 0
for i = 1, #recs, 97 do sum = (sum + recs[i].id * 31 + #recs[i].key) % 1000000007 end
print("records", #recs, sum)
recs = nil

-- Word counts: many small strings interned and dropped.
local counts, distinct = {}, 0
for _ = 1, n(300000) do
    local len = math.random(3, 12)
    local t = {}
    for j = 1, len do t[j] = string.char(97 + math.random(0, 3)) end
    local w = table.concat(t)
    if not counts[w] then distinct = distinct + 1 end
    counts[w] = (counts[w] or 0) + 1
end
print("words", distinct, counts["abcd"] or 0)
counts = nil

-- Closures over upvalues, created and dropped in bulk.
local acc = 0
for round = 1, n(40) do
    local fs = {}
    for i = 1, 5000 do
        local c = i + round
        fs[i] = function(x) c = c + x; return c end
    end
    for i = 1, #fs do acc = (acc + fs[i](i)) % 1000000007 end
end
print("closures", acc)

-- Binary trees: the classic allocation benchmark.
local function make(d)
    if d == 0 then return {} end
    return { make(d - 1), make(d - 1) }
end
local function check(t)
    if not t[1] then return 1 end
    return 1 + check(t[1]) + check(t[2])
end
local long = make(14)
local nodes = 0
for _ = 1, n(40) do nodes = nodes + check(make(12)) end
print("trees", nodes, check(long))

-- String building and pattern substitution.
local parts = {}
for i = 1, n(60000) do parts[#parts + 1] = string.format("%d:%x;", i, i * 2654435761 % 4294967296) end
local s = table.concat(parts)
local replaced, cnt = s:gsub("(%d+):(%x+);", "%2=%1,")
print("strings", #s, #replaced, cnt)
