# shellcheck shell=bash
# benchmarks/testlib.sh — sourced by scripts/test_larson.sh and scripts/stress.sh (bash).
#
# Runs the workloads as tests under one allocator (LD_PRELOAD):
#   testlib_init ALLOCATOR       resolve and check the allocator, build the workloads
#   run_case NAME TIMEOUT CMD... run one case; PASS when it exits 0 within TIMEOUT seconds
#                                and prints its result line; otherwise FAIL with the command
#                                and the end of its output
# The score is kept by scripts/lib/testing.sh (pass, fail, finish), which the caller has
# sourced first. Expects ROOT (the repository root) to be set.

# shellcheck source=benchmarks/allocators.sh
. "$ROOT/benchmarks/allocators.sh"

T_SO=""
T_BIN=$ROOT/build/bench

# testlib_init ALLOCATOR: on failure prints why, records one failed case and returns 1.
testlib_init() {
    local a=$1 rc=0
    ALLOC_INSTALL=${ALLOC_INSTALL:-1}
    resolve_allocators "$a" || rc=$?
    if [ "$rc" -ne 0 ] || [ "${#SELECTED[@]}" -eq 0 ]; then
        fail "setup: allocator '$a' is not available"
        return 1
    fi
    T_SO=${PRELOAD[$a]}
    if ! make -s -C "$ROOT/benchmarks" OUT="$T_BIN" >/dev/null; then
        fail "setup: building benchmarks/ failed (make -C benchmarks)"
        return 1
    fi
    if check_preload "$a" "$T_BIN/malloc_origin"; then
        pass "preload: malloc and free come from ${T_SO:-libc}"
    else
        fail "preload: build/bench/malloc_origin under LD_PRELOAD=$T_SO (see above)"
        return 1
    fi
}

# run_case NAME TIMEOUT PROG ARGS...: PROG is a name in build/bench/.
run_case() {
    local name=$1 limit=$2 prog=$3
    shift 3
    local out rc=0 t0 t1 result
    out=$(mktemp)
    t0=$(date +%s.%N)
    # In a subshell, so that bash's own "Aborted"/"Segmentation fault" report lands in $out.
    # ("exit" keeps bash from exec'ing the command directly).
    (timeout -k 5 "$limit" env LD_PRELOAD="$T_SO" "$T_BIN/$prog" "$@"; exit $?) >"$out" 2>&1 || rc=$?
    t1=$(date +%s.%N)
    result=$(grep -E '^[a-z_]+: ops=' "$out" | tail -n1 || true)
    local took
    took=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.1fs", b - a }')
    if [ "$rc" -eq 0 ] && [ -n "$result" ]; then
        pass "$name ($took) ${result#*: }"
    else
        local why="exit $rc"
        case "$rc" in
            0) why="no result line" ;;
            124 | 137) why="timed out after ${limit}s" ;;
            134) why="abort (SIGABRT)" ;;
            135) why="bus error (SIGBUS)" ;;
            139) why="segmentation fault (SIGSEGV)" ;;
            3) why="corruption detected" ;;
            4) why="malloc returned NULL" ;;
        esac
        fail "$name ($took): $why" "     command: LD_PRELOAD=$T_SO $T_BIN/$prog $*"
        tail -n 15 "$out" | sed 's/^/     | /'
    fi
    rm -f "$out"
}
