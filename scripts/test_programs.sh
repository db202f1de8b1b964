#!/usr/bin/env bash
# Real programs under LD_PRELOAD=libhakmem.so, each compared with a run without preload.
#
#   scripts/test_programs.sh                   # uses target/release/libhakmem.so
#   HAK_LIB=/path/to/lib.so scripts/test_programs.sh
#   TEST_PROGRAMS_KEEP=1 scripts/test_programs.sh   # keep the temp dir (outputs, logs)
#
# Tests (each run twice, concurrently: "base" without preload and "hak" with it; the
# normalised outputs must be identical and every check must hold in both runs):
#   python    CPython's own stdlib regression tests with PYTHONMALLOC=malloc
#   git       init/add/commit of thousands of files, gc, fsck, log, count-objects
#   sqlite3   300k-row table, indexes, aggregates, sorts, joins, updates, integrity_check
#   redis     redis-server on 127.0.0.1, redis-benchmark, redis-cli commands, clean shutdown
#   hakmem_stats  HAKMEM_STATS=1 makes the allocator print "hakmem stats:" at exit (proof
#                 that the preloaded allocator served the calls); when HAK_LIB points at
#                 another allocator a missing line is reported as SKIP, not FAIL.
# Prints PASS/FAIL per test and ends with "N passed, M failed"; exits 1 if anything failed.
# Needs: python3 (with its test package), git, sqlite3, redis-server, redis-cli,
# redis-benchmark (scripts/install_deps.sh installs them).

# For shellcheck, the whole file: the test functions (run by run_test as "$func") and the
# trap handlers are called indirectly (SC2317); run_test sets MODE, D and BAD for a test
# function in the subshell it runs it in (SC2030, SC2031).
# shellcheck disable=SC2317,SC2030,SC2031
set -uo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
# shellcheck source=scripts/lib/testing.sh
. "$ROOT/scripts/lib/testing.sh"
parse_options "" "$@"
if [ -n "${HAK_LIB:-}" ]; then
    LIB=$(realpath -- "$HAK_LIB" 2>/dev/null || echo "$HAK_LIB")
    LIB_OVERRIDDEN=1
else
    LIB=$ROOT/target/release/libhakmem.so
    LIB_OVERRIDDEN=0
fi

# A clean, deterministic environment for every program.
unset LD_PRELOAD HAKMEM_STATS PYTHONMALLOC PYTHONHOME PYTHONPATH GIT_DIR GIT_WORK_TREE
export LC_ALL=C LANG=C TZ=UTC

START=$SECONDS

# finish_and_exit: the time taken and the score; exits non-zero when anything failed.
finish_and_exit() {
    echo "test_programs: $((SECONDS - START)) s"
    finish
    exit
}

if [ ! -f "$LIB" ]; then
    fail "setup: allocator library not found: $LIB (build it with 'make lib')"
    finish_and_exit
fi

TMP=$(mktemp -d "${TMPDIR:-/tmp}/hakmem-programs.XXXXXX")
PIDFILE=$TMP/pids
: >"$PIDFILE"
cleanup() {
    # Kill whatever background server this script started and is still alive.
    local p
    for p in $(jobs -p); do kill "$p" 2>/dev/null; done
    while read -r p; do
        [ -n "$p" ] && kill -9 "$p" 2>/dev/null
    done <"$PIDFILE"
    if [ "${TEST_PROGRAMS_KEEP:-0}" = 1 ]; then echo "test_programs: kept $TMP"; else rm -rf "$TMP"; fi
}
trap cleanup EXIT
trap 'echo "test_programs: interrupted"; exit 130' INT TERM

# ---------------------------------------------------------------------------------------
# helpers (inside a test function: $MODE is "base" or "hak", $D the run's own directory)

# step SECONDS CMD...: run CMD under timeout, with the allocator preloaded in "hak" mode and
# plainly in "base" mode (only CMD is preloaded: env execs it; `timeout` is not); report a
# non-zero status on stderr and return it.
step() {
    local t=$1 rc; shift
    if [ "$MODE" = hak ]; then
        timeout -k 5 "$t" env LD_PRELOAD="$LIB" "$@"
    else
        timeout -k 5 "$t" "$@"
    fi
    rc=$?
    if [ "$rc" -ne 0 ]; then
        local what="$*"
        [ "${#what}" -gt 300 ] && what="${what:0:300}..."
        set -- "$what"
        case $rc in
            124|137) echo "!! timed out after ${t}s (rc=$rc): $*" >&2 ;;
            *) if [ "$rc" -gt 128 ]; then
                   echo "!! killed by signal $((rc - 128)) (rc=$rc): $*" >&2
               else
                   echo "!! exit status $rc: $*" >&2
               fi ;;
        esac
    fi
    return "$rc"
}

# check_fail MSG: record a failed check (the test function returns $BAD).
check_fail() { echo "!! check failed: $*" >&2; BAD=1; }

# ---------------------------------------------------------------------------------------
# driver: run_test NAME FUNC — runs FUNC base and FUNC hak concurrently, compares $D/out.

show_fail_details() {
    local d=$1 f
    if [ -s "$d/diff" ]; then
        echo "  --- diff of normalised outputs (base vs hak), first 40 lines:"
        head -n 40 "$d/diff" | sed 's/^/  | /'
    fi
    for f in hak base; do
        if grep -q '^!!' "$d/$f/log" 2>/dev/null || [ "$f" = hak ]; then
            echo "  --- $f run: log tail (stderr and notes):"
            tail -n 25 "$d/$f/log" | sed 's/^/  | /'
        fi
    done
}

run_test() {
    local name=$1 func=$2 d=$TMP/$1 t0=$SECONDS rb rh why=""
    mkdir -p "$d/base" "$d/hak"
    ( MODE=base D=$d/base BAD=0; cd "$D" && "$func"; ) >"$d/base/log" 2>&1 &
    local pb=$!
    ( MODE=hak D=$d/hak BAD=0; cd "$D" && "$func"; ) >"$d/hak/log" 2>&1 &
    local ph=$!
    wait "$pb"; rb=$?
    wait "$ph"; rh=$?
    touch "$d/base/out" "$d/hak/out"
    sed -e "s#$d/base#<DIR>#g" "$d/base/out" >"$d/base.norm"
    sed -e "s#$d/hak#<DIR>#g" "$d/hak/out" >"$d/hak.norm"
    diff -u --label base --label hak "$d/base.norm" "$d/hak.norm" >"$d/diff"
    local rd=$?
    [ "$rh" -ne 0 ] && why="${why}checks failed under preload; "
    [ "$rb" -ne 0 ] && why="${why}checks failed in the baseline run without preload (environment problem?); "
    [ "$rd" -ne 0 ] && why="${why}outputs differ; "
    if [ -z "$why" ]; then
        pass "$name ($((SECONDS - t0)) s)"
    else
        fail "$name ($((SECONDS - t0)) s): ${why%; }"
        show_fail_details "$d"
    fi
}

# ---------------------------------------------------------------------------------------
# (a) python: CPython's own regression tests with PYTHONMALLOC=malloc

# The first python3 whose stdlib test suite is installed (pyenv's in CI; Debian's python3
# only ships it with libpython3.11-testsuite); sys.executable gets past pyenv's shim.
find_python() {
    local c
    for c in python3 "${PYENV_ROOT:-$HOME/.pyenv}/shims/python3" /root/.pyenv/shims/python3 /usr/bin/python3; do
        command -v "$c" >/dev/null 2>&1 || continue
        "$c" -c 'import os, sys, test.libregrtest
d = os.path.dirname(test.__file__)
sys.exit(not all(os.path.exists(os.path.join(d, m + ".py")) for m in ("test_dict", "test_list", "test_re")))' \
            >/dev/null 2>&1 || continue
        "$c" -c 'import sys; print(sys.executable)'
        return 0
    done
    return 1
}
PY=$(find_python)
PY_MODULES=(test_dict test_list test_tuple test_set test_json test_re test_unicode
    test_bytes test_collections test_itertools test_deque test_ordered_dict test_functools
    test_sort test_heapq test_array test_struct test_csv test_pickle test_weakref test_gc
    test_xml_etree)

t_python() {
    if [ -z "$PY" ]; then
        echo "!! no python3 with its stdlib test suite (test/test_dict.py ...) found; tried" \
             "python3 on PATH, pyenv's shim and /usr/bin/python3 (scripts/install_deps.sh)" >&2
        return 1
    fi
    echo "python: $PY"
    local testdir mods=() m rc
    testdir=$("$PY" -c 'import os, test; print(os.path.dirname(test.__file__))')
    for m in "${PY_MODULES[@]}"; do
        [ -e "$testdir/$m.py" ] || [ -d "$testdir/$m" ] && mods+=("$m")
    done
    if [ "${#mods[@]}" -lt 5 ]; then
        echo "!! only ${#mods[@]} of the chosen test modules exist in $testdir" >&2
        return 1
    fi
    mkdir -p "$D/tmp"
    step 170 env PYTHONMALLOC=malloc TMPDIR="$D/tmp" PYTHONDONTWRITEBYTECODE=1 \
        "$PY" -m test -j1 --timeout 150 --randseed 12345 "${mods[@]}" >"$D/raw" 2>&1
    rc=$?
    # Per-module results, the overall result and the test counts; no timings.
    {
        echo "exit=$rc"
        # (--randseed also shuffles the order: sort)
        sed -nE 's/^.*\[ *[0-9]+\/[0-9]+(\/[0-9]+)?\] (test_[A-Za-z0-9_.]+) (passed|failed|skipped|crashed|resource denied|timed out|interrupted|env changed|did not run|uncaught exception|refleak)?.*$/\2 \3/p' "$D/raw" | sort
        grep -E '^== Tests result|^Total tests:|^Total test files:|^Result:|tests? (OK|failed|skipped|crashed)' "$D/raw"
    } >"$D/out"
    grep -q '^== Tests result: SUCCESS' "$D/raw" || check_fail "regrtest did not report SUCCESS"
    [ "$rc" -eq 0 ] || { check_fail "python3 -m test exit status $rc"; tail -n 30 "$D/raw" >&2; }
    return "$BAD"
}

# ---------------------------------------------------------------------------------------
# (b) git: thousands of files, several commits, gc, fsck

make_git_template() {
    # 3000 small files with deterministic content in 30 directories (made without preload).
    python3 - "$1" <<'EOF'
import os, sys
root = sys.argv[1]
for i in range(3000):
    d = os.path.join(root, "dir%02d" % (i % 30))
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, "file%04d.txt" % i), "w") as f:
        for j in range(i % 17 + 1):
            f.write("line %d of file %d: %s\n" % (j, i, "abcdefghij" * (1 + (i * 7 + j) % 9)))
EOF
}

t_git() {
    local GIT rc
    GIT=$(command -v git) || { echo "!! git not found" >&2; return 1; }
    export HOME=$D GIT_CONFIG_NOSYSTEM=1 GIT_CONFIG_GLOBAL=/dev/null
    export GIT_AUTHOR_NAME=hakmem GIT_AUTHOR_EMAIL=hakmem@example.invalid
    export GIT_COMMITTER_NAME=hakmem GIT_COMMITTER_EMAIL=hakmem@example.invalid
    g() {
        step 60 "$GIT" -c user.name=hakmem -c user.email=hakmem@example.invalid \
            -c pack.threads=1 -c gc.auto=0 -c maintenance.auto=false -c core.pager=cat \
            -c init.defaultBranch=main "$@" || BAD=1
    }
    cd "$D" || return 1
    cp -r "$TMP/git-template" repo && cd repo || return 1
    g init -q
    export GIT_AUTHOR_DATE='2020-01-01T00:00:00 +0000' GIT_COMMITTER_DATE='2020-01-01T00:00:00 +0000'
    g add -A
    g commit -q -m 'initial: 3000 files'
    # Commit 2: modify 600 files, delete 150, add 300 new ones.
    local i
    for ((i = 0; i < 3000; i += 5)); do
        printf 'appended to %d\n' "$i" >>"dir$(printf %02d $((i % 30)))/file$(printf %04d "$i").txt"
    done
    for ((i = 1; i < 3000; i += 20)); do rm -f "dir$(printf %02d $((i % 30)))/file$(printf %04d "$i").txt"; done
    mkdir -p new
    for ((i = 0; i < 300; i++)); do printf 'new file %d\n%s\n' "$i" "$((i * i))" >"new/n$i.txt"; done
    export GIT_AUTHOR_DATE='2020-01-02T00:00:00 +0000' GIT_COMMITTER_DATE='2020-01-02T00:00:00 +0000'
    g add -A
    g commit -q -m 'second: modify, delete, add'
    # Commit 3: a rename of a directory and a big file.
    g mv dir07 renamed07
    python3 -c 'import sys; sys.stdout.write("".join("big line %d\n" % i for i in range(200000)))' >big.txt
    export GIT_AUTHOR_DATE='2020-01-03T00:00:00 +0000' GIT_COMMITTER_DATE='2020-01-03T00:00:00 +0000'
    g add -A
    g commit -q -m 'third: rename and big file'
    # A branch and a merge.
    g checkout -q -b side
    for ((i = 0; i < 100; i++)); do printf 'side %d\n' "$i" >>"new/n$i.txt"; done
    export GIT_AUTHOR_DATE='2020-01-04T00:00:00 +0000' GIT_COMMITTER_DATE='2020-01-04T00:00:00 +0000'
    g commit -q -a -m 'side branch'
    g checkout -q main
    sed -i 's/^big line 1000$/big line one thousand/' big.txt
    g commit -q -a -m 'fourth: edit big file'
    export GIT_AUTHOR_DATE='2020-01-05T00:00:00 +0000' GIT_COMMITTER_DATE='2020-01-05T00:00:00 +0000'
    g merge -q --no-edit side
    g gc -q
    {
        echo "== fsck"; g fsck --full --strict --no-progress 2>&1
        echo "== log"; g log --format='%H %T %P %s'
        echo "== count-objects"; g count-objects -v
        echo "== verify-pack"; g verify-pack -v .git/objects/pack/*.idx | grep -vE '^[0-9a-f]{40} ' 
        echo "== ls-tree"; g ls-tree -r HEAD | sha256sum
        echo "== diff --stat"; g diff --stat HEAD~3 HEAD | tail -n 1
        echo "== log --stat"; g log --stat --format=%h | sha256sum
        echo "== log -p"; g log -p --format=%h | sha256sum
        echo "== grep"; g grep -c 'line 3 of' | wc -l
        echo "== blame"; g blame -s big.txt | sed -n '999,1002p'
        echo "== archive"; g archive --format=tar HEAD | sha256sum
        echo "== status"; g status --porcelain
        echo "== rev-list"; g rev-list --all --objects | wc -l
    } >"$D/out"
    # A clean fsck prints nothing; anything there is a failure.
    if [ -n "$(sed -n '/^== fsck$/,/^== log$/p' "$D/out" | sed '1d;$d')" ]; then
        check_fail "git fsck reported problems"
    fi
    [ "$(g log --format=%H | wc -l)" -eq 6 ] || check_fail "expected 6 commits"
    return "$BAD"
}

# ---------------------------------------------------------------------------------------
# (c) sqlite3: a few hundred thousand rows, indexes, aggregates, sorts, joins

SQL_MAIN=$(cat <<'EOF'
PRAGMA cache_size = -65536;
CREATE TABLE t(id INTEGER PRIMARY KEY, k INTEGER, v TEXT, f REAL, b BLOB);
WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 300000)
  INSERT INTO t SELECT x, (x * 7919) % 1009, printf('val-%08d-%s', (x * 48271) % 2147483647, hex(x * x)),
                       (x % 997) * 1.5, zeroblob(x % 200) FROM c;
CREATE INDEX t_k ON t(k);
CREATE INDEX t_v ON t(v);
CREATE TABLE u AS SELECT k, count(*) AS n, sum(f) AS s FROM t GROUP BY k;
SELECT 'count', count(*), sum(k), total(f), min(v), max(v), sum(length(b)) FROM t;
SELECT 'group', k, count(*), sum(f), avg(length(v)) FROM t GROUP BY k ORDER BY count(*) DESC, k LIMIT 15;
SELECT 'order', id, v FROM t ORDER BY v DESC LIMIT 8;
SELECT 'order2', id, k FROM t ORDER BY substr(v, 5, 6), id LIMIT 8;
SELECT 'distinct', count(DISTINCT substr(v, 1, 8)), count(DISTINCT k) FROM t;
SELECT 'window', id, sum(k) OVER (ORDER BY id ROWS 5 PRECEDING), rank() OVER (PARTITION BY k % 10 ORDER BY f DESC, id)
  FROM t WHERE id % 25000 = 0 ORDER BY id;
SELECT 'join', t.k, count(*), max(u.n) FROM t JOIN u ON u.k = t.k WHERE t.k < 8 GROUP BY t.k ORDER BY t.k;
SELECT 'selfjoin', count(*), sum(a.k - b.k) FROM t a JOIN t b ON a.id = b.id + 1 WHERE a.k > b.k;
SELECT 'like', count(*) FROM t WHERE v LIKE '%-3132%';
SELECT 'json', json_group_array(id) FROM (SELECT id FROM t WHERE k = 5 ORDER BY id LIMIT 12);
SELECT 'gc', length(group_concat(v, ',')) FROM (SELECT v FROM t ORDER BY id LIMIT 50000);
UPDATE t SET v = v || '-updated-' || hex(randomblob(0)) || k WHERE k % 3 = 0;
DELETE FROM t WHERE k % 7 = 0;
SELECT 'after', count(*), sum(length(v)), max(v) FROM t;
VACUUM;
SELECT 'integrity', * FROM pragma_integrity_check;
SELECT 'final', count(*), sum(id), sum(k * f) FROM t;
EOF
)

t_sqlite3() {
    local rc
    command -v sqlite3 >/dev/null || { echo "!! sqlite3 not found" >&2; return 1; }
    printf '%s\n' "$SQL_MAIN" >"$D/main.sql"
    step 90 sqlite3 -batch -bail "$D/db.sqlite" <"$D/main.sql" >"$D/stdout" 2>"$D/stderr"
    rc=$?
    { echo "exit=$rc"; cat "$D/stdout"; echo "== stderr"; cat "$D/stderr"; } >"$D/out"
    cat "$D/stderr" >&2
    [ "$rc" -eq 0 ] || check_fail "sqlite3 exit status $rc"
    grep -qx 'integrity|ok' "$D/stdout" || check_fail "integrity_check did not say ok"
    [ "$(grep -c '^group|' "$D/stdout")" -eq 15 ] || check_fail "expected 15 group rows"
    return "$BAD"
}

# ---------------------------------------------------------------------------------------
# (d) redis: server on 127.0.0.1, benchmark, commands, clean shutdown

port_free() { ! (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

make_redis_pipe() {
    # RESP commands for `redis-cli --pipe`: 20000 commands on lists, hashes, sets, zsets, strings.
    python3 - >"$1" <<'EOF'
import sys
out = []
def cmd(*a):
    out.append("*%d\r\n" % len(a) + "".join("$%d\r\n%s\r\n" % (len(x.encode()), x) for x in a))
for i in range(4000):
    cmd("RPUSH", "list", "item-%d" % i)
    cmd("HSET", "hash", "f%d" % i, "v" * (i % 97))
    cmd("SADD", "set", "m%d" % (i % 3000))
    cmd("ZADD", "zset", str((i * 7919) % 10007), "z%d" % i)
    cmd("SET", "str:%d" % i, "x" * ((i * 13) % 3000))
sys.stdout.write("".join(out))
EOF
}

t_redis() {
    local port base i rc pid pong
    if [ "$MODE" = hak ]; then base=6420; else base=6390; fi
    port=""
    for ((i = base; i < base + 30; i++)); do
        if port_free "$i"; then port=$i; break; fi
    done
    [ -n "$port" ] || { echo "!! no free port in $base..$((base + 29))" >&2; return 1; }
    echo "redis port $port"
    # Started directly (env execs redis-server, so $! is the server's pid), not under
    # `timeout`: every client step has its own timeout, the shutdown below waits a bounded
    # time, and the EXIT trap kills a server that is still alive.
    if [ "$MODE" = hak ]; then
        env LD_PRELOAD="$LIB" redis-server --port "$port" --bind 127.0.0.1 \
            --save "" --appendonly no --daemonize no --dir "$D" --logfile "$D/redis.log" \
            --protected-mode yes </dev/null >"$D/server.stdout" 2>&1 &
    else
        redis-server --port "$port" --bind 127.0.0.1 \
            --save "" --appendonly no --daemonize no --dir "$D" --logfile "$D/redis.log" \
            --protected-mode yes </dev/null >"$D/server.stdout" 2>&1 &
    fi
    pid=$!
    echo "$pid" >>"$PIDFILE"
    # Replies and anything a client prints on stderr both go into the compared output.
    cli() { step 30 redis-cli -h 127.0.0.1 -p "$port" "$@" 2>&1; }
    for ((i = 0; i < 100; i++)); do
        pong=$(timeout 5 redis-cli -h 127.0.0.1 -p "$port" ping 2>/dev/null)
        [ "$pong" = PONG ] && break
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.1
    done
    if [ "$pong" != PONG ]; then
        echo "!! redis-server did not answer PING on port $port" >&2
        tail -n 20 "$D/redis.log" >&2
        kill -9 "$pid" 2>/dev/null; wait "$pid"
        return 1
    fi
    {
        echo "== benchmark"
        step 90 redis-benchmark -h 127.0.0.1 -p "$port" -q -n 20000 -t set,get,lpush,lpop,incr \
            >"$D/bench1" 2>"$D/bench.err" || BAD=1
        step 60 redis-benchmark -h 127.0.0.1 -p "$port" -q -n 5000 -d 4096 -t set,get \
            >"$D/bench2" 2>>"$D/bench.err" || BAD=1
        cat "$D/bench.err"
        # Keep only "NAME: ok" per benchmark (throughput numbers differ from run to run).
        tr '\r' '\n' <"$D/bench1" | sed -nE 's/^([A-Z_]+): [0-9.]+ requests per second.*/\1: ok/p'
        tr '\r' '\n' <"$D/bench2" | sed -nE 's/^([A-Z_]+): [0-9.]+ requests per second.*/\1 4096: ok/p'
        echo "== pipe"
        cli --pipe <"$TMP/redis.pipe" 2>&1 | grep -E '^errors' || BAD=1
        echo "== big values"
        python3 -c 'import sys; sys.stdout.write("".join("%07d" % i for i in range(300000)))' >"$D/big"
        cli -x SET big1 <"$D/big"
        cli STRLEN big1
        cli APPEND big1 tail-of-the-value
        cli GETRANGE big1 2099990 2100030
        cli GET big1 | sha256sum
        cli SET big2 "$(head -c 100000 "$D/big")"  # one argv string: < 128 KiB
        cli STRLEN big2
        cli GETRANGE big2 -20 -1
        cli DEL big1 big2
        echo "== data"
        cli DBSIZE
        cli GET 'counter:__rand_int__'
        cli LLEN mylist
        cli GET 'key:__rand_int__' | wc -c
        cli LLEN list
        cli LRANGE list 1000 1004
        cli HLEN hash
        cli HGET hash f777
        cli HGETALL hash | paste - - | sort | sha256sum  # field order is seeded per server
        cli SCARD set
        cli SISMEMBER set m2999
        cli ZCARD zset
        cli ZRANGE zset 0 5 WITHSCORES
        cli ZRANGEBYSCORE zset 5000 5010
        cli SORT list ALPHA DESC LIMIT 0 5
        cli STRLEN str:3999
        cli MGET str:1 str:2 | wc -c
        cli LTRIM list 0 99
        cli HDEL hash f1 f2 f3
        cli SPOP set 0
        cli ZREMRANGEBYRANK zset 0 999
        cli LLEN list
        cli HLEN hash
        cli ZCARD zset
        cli FLUSHALL
        cli DBSIZE
    } >"$D/out"
    # Not compared (numbers vary), but must be answered.
    cli INFO memory >"$D/info" || BAD=1
    grep -q '^used_memory:' "$D/info" || check_fail "INFO memory has no used_memory"
    for i in SET GET LPUSH LPOP INCR; do
        grep -q "^$i: ok" "$D/out" || check_fail "redis-benchmark printed no result for $i"
    done
    grep -qx 'errors: 0, replies: 20000' "$D/out" || check_fail "redis-cli --pipe: not 20000 replies without errors"
    timeout 10 redis-cli -h 127.0.0.1 -p "$port" SHUTDOWN NOSAVE >/dev/null 2>&1
    for ((i = 0; i < 150; i++)); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    if kill -0 "$pid" 2>/dev/null; then
        echo "!! redis-server still running 15 s after SHUTDOWN; killing it" >&2
        kill -9 "$pid" 2>/dev/null
    fi
    wait "$pid"; rc=$?
    { echo "server exit=$rc"; echo "== server stdout/stderr"; cat "$D/server.stdout"; } >>"$D/out"
    [ "$rc" -eq 0 ] || check_fail "redis-server exited with status $rc (>128 = killed by a signal)"
    if grep -qiE 'crashed by signal|BUG REPORT|Assertion|Guru Meditation' "$D/redis.log"; then
        check_fail "redis-server log reports a crash"; tail -n 40 "$D/redis.log" >&2
    fi
    grep -q 'Redis is now ready to exit' "$D/redis.log" || check_fail "redis-server did not log a clean exit"
    return "$BAD"
}

# ---------------------------------------------------------------------------------------
# (e) hakmem_stats: HAKMEM_STATS=1 prints "hakmem stats:" on stderr at exit

t_stats() {
    local d=$TMP/hakmem_stats rc t0=$SECONDS
    mkdir -p "$d"
    # (in a subshell whose stderr is kept: bash's "Aborted ..." note lands there)
    (
        timeout -k 5 60 env LD_PRELOAD="$LIB" HAKMEM_STATS=1 sqlite3 -batch ':memory:' \
            "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 50000)
             SELECT count(*), sum(length(printf('%0100d', x))) FROM (SELECT x FROM c ORDER BY -x);" \
            >"$d/stdout" 2>"$d/stderr"
    ) 2>"$d/shell"
    rc=$?
    if [ "$rc" -ne 0 ] || [ "$(cat "$d/stdout")" != "50000|5000000" ]; then
        fail "hakmem_stats: sqlite3 with HAKMEM_STATS=1 failed (exit $rc, stdout '$(head -c 200 "$d/stdout")')" \
            "  command: HAKMEM_STATS=1 LD_PRELOAD=$LIB sqlite3 :memory: '<query>'"
        cat "$d/shell" "$d/stderr" | tail -n 20 | sed 's/^/  | /'
    elif grep -q '^hakmem stats:' "$d/stderr"; then
        pass "hakmem_stats ($((SECONDS - t0)) s): $(grep -m1 '^hakmem stats:' "$d/stderr" | cut -c1-160)"
    elif [ "$LIB_OVERRIDDEN" = 1 ]; then
        skip "hakmem_stats: HAK_LIB=$LIB printed no 'hakmem stats:' line (not hakmem?)"
    else
        fail "hakmem_stats: no line starting with 'hakmem stats:' on stderr with HAKMEM_STATS=1" \
            "  command: HAKMEM_STATS=1 LD_PRELOAD=$LIB sqlite3 :memory: '<query>'" \
            "  --- stderr tail:"
        tail -n 20 "$d/stderr" | sed 's/^/  | /'
    fi
}

# ---------------------------------------------------------------------------------------

echo "test_programs: LD_PRELOAD=$LIB"
mkdir -p "$TMP/git-template"
make_git_template "$TMP/git-template"
make_redis_pipe "$TMP/redis.pipe"

# The python run is the longest; run it alongside nothing else heavy (2 cores: base + hak).
run_test python t_python
run_test git t_git
run_test sqlite3 t_sqlite3
run_test redis t_redis
t_stats
finish_and_exit
