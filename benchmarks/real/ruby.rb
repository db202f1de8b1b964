# benchmarks/real/ruby.rb SCALE — scripts/bench_real's Ruby workload: objects, strings
# and hashes (Ruby's heap pages and every string or hash buffer of more than a few bytes come
# from malloc). Prints checksums that must not depend on the allocator.
scale = (ARGV[0] || "1").to_f
n = ->(x) { (x * scale).to_i }
rng = Random.new(42)

# Records as objects, grouped in a hash and sorted.
Rec = Struct.new(:id, :name, :score, :tags)
recs = Array.new(n.(125_000)) do |i|
  Rec.new(i, format("user%06d", rng.rand(1_000_000)), rng.rand, Array.new(rng.rand(1..5)) { rng.rand(50) })
end
groups = recs.group_by { |r| r.name[-2, 2] }
best = groups.values.map { |g| g.max_by(&:score).id }.sort
puts "records #{recs.size} #{groups.size} #{best.sum % 1_000_003}"
recs = groups = nil

# Strings: build, split, count, substitute.
words = Array.new(n.(150_000)) { Array.new(rng.rand(2..9)) { ("a".ord + rng.rand(8)).chr }.join }
text = words.join(" ")
freq = Hash.new(0)
text.split.each { |w| freq[w] += 1 }
lines = freq.sort.map { |k, v| "#{k}=#{v}" }
puts "strings #{text.size} #{freq.size} #{lines.join("\n").gsub("a", "AA").size}"

# Hashes of hashes, rebuilt and merged.
acc = 0
n.(25).times do |round|
  h = {}
  5000.times { |i| h["k#{i}"] = { v: i + round, s: "x" * (i % 40) } }
  h2 = h.transform_values { |v| v.merge(w: v[:v] * 2) }
  acc = (acc + h2.sum { |_, v| v[:w] + v[:s].size }) % 1_000_000_007
end
puts "hashes #{acc}"

# Binary trees as arrays.
make = ->(d) { d.zero? ? [] : [make.(d - 1), make.(d - 1)] }
check = ->(t) { t.empty? ? 1 : 1 + check.(t[0]) + check.(t[1]) }
puts "trees #{Array.new(n.(25)) { check.(make.(12)) }.sum}"
