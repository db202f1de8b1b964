#!/usr/bin/env bash
# scripts/test_stress.sh — self-checking stress programs under hakmem (LD_PRELOAD).
#
# The C programs in c_tests/stress/ (shared helpers: stress.h, ../common.h) fill every
# block with a pattern and check it before freeing it, and exit non-zero with a
# "FAIL file:line: ..." message on any corruption, unexpected NULL or other misbehaviour:
#   stress_prodcons       producers -> bounded queue -> consumers, sizes across all tiers,
#                         consumers realloc some blocks and free them (cross-thread frees)
#   stress_thread_churn   thousands of short-lived threads handing blocks to main and to each
#                         other; RSS after the last rounds must stay <= 2x round 3 + 32 MiB
#   stress_fork           threads allocate while main forks; children (and grandchildren)
#                         use and free inherited blocks and allocate across tiers; a hung
#                         child is killed after 30 s and reported
#   stress_oom            RLIMIT_AS = 320 MiB, set before the program (re-executed) starts:
#                         malloc until NULL (errno ENOMEM) for
#                         several sizes, memory recovered after freeing, calloc/realloc/
#                         posix_memalign/aligned_alloc/memalign failing cleanly
#   stress_realloc_align  realloc chains across the tier boundaries (1 B .. 8 MiB); aligned
#                         allocations of every power of two 16 B .. 2 MiB, usable size checked
#                         and all usable bytes written
# and larson4 (build/bench/larson, built from benchmarks/ when missing): 4 threads,
# `larson 2 8 1000 5000 100 SEED 4`, 3 seeds (20 with --long).
#
# Every case runs twice: [normal], and [check] with HAKMEM_CHECK=1 (hakmem's hardened check
# mode). A case fails on a compile error, a non-zero exit, a signal, a timeout or a missing
# final "NAME: ok" line; the FAIL line is followed by the command and the end of its stderr.
# Output: "PASS name [mode]" / "FAIL name [mode] (why)" lines, and last, alone on its line,
# "N passed, M failed". Exit status non-zero when anything failed.
#
# Fast mode (the default, for `make test`): scale 1, about a minute on 2 cores.
#
# Options:
#   --long          scale 10 and 20 Larson runs (a few minutes; scripts/stress.sh runs this)
#   --scale N       the programs' scale (default 1, 10 with --long)
#   --filter REGEX  run only the cases whose name matches
#   --modes "normal check"   the modes to run (default both)
# Environment:
#   HAK_LIB=PATH         the library to preload (default target/release/libhakmem.so);
#                           HAK_LIB=none runs without any preload (plain glibc), to
#                           validate the programs themselves
#   HAK_STRESS_TIMEOUT=S per-run timeout (default 90, 600 with --long)
#   HAK_TEST_SEED        passed through: the programs' seed
#   CC, CFLAGS              compiler and flags
# Build outputs and logs: build/stress/ (logs: build/stress/logs/NAME.MODE.{out,err}).
set -u
cd "$(dirname "$0")/.." || exit 2
ROOT=$PWD

# shellcheck source=scripts/lib/testing.sh
. "$ROOT/scripts/lib/testing.sh"
# shellcheck source=scripts/lib/cbuild.sh
. "$ROOT/scripts/lib/cbuild.sh"

long=0
scale=
filter=
modes="normal check"
parse_options long,scale:,filter:,modes: "$@"
if [ -z "$scale" ]; then
    if [ $long = 1 ]; then scale=10; else scale=1; fi
fi
if [ $long = 1 ]; then
    larson_runs=20
    TIMEOUT=${HAK_STRESS_TIMEOUT:-600}
else
    larson_runs=3
    TIMEOUT=${HAK_STRESS_TIMEOUT:-90}
fi
for m in $modes; do
    case $m in
        normal | check) ;;
        *) echo "test_stress: unknown mode '$m' (normal, check)" >&2; exit 2 ;;
    esac
done

CC=${CC:-cc}
CFLAGS=${CFLAGS:-"-O2 -g -std=gnu11 -Wall -Wextra -Wno-unused-parameter -fno-builtin"}
read -ra CFLAGS_WORDS <<<"$CFLAGS"
OUTDIR=$ROOT/build/stress
LOGDIR=$OUTDIR/logs
SRCDIR=$ROOT/c_tests/stress
LARSON=$ROOT/build/bench/larson
LIB=${HAK_LIB:-$ROOT/target/release/libhakmem.so}
if [ "$LIB" = none ]; then
    LIB=
fi

mkdir -p "$OUTDIR" "$LOGDIR"
ulimit -c 0 2>/dev/null || true

if [ -n "$LIB" ] && [ ! -f "$LIB" ]; then
    fail "setup: $LIB not found (build it with make lib, or set HAK_LIB)"
    finish
    exit 1
fi
echo "test_stress: scale $scale, preload ${LIB:-none (plain glibc)}, modes: $modes"

# --- build ------------------------------------------------------------------
# build NAME: c_tests/stress/NAME.c -> build/stress/NAME, unless up to date; on a compile
# error the binary is removed and the compiler output is in logs/NAME.build.
build() {
    local name=$1 src=$SRCDIR/$1.c bin=$OUTDIR/$1 log=$LOGDIR/$1.build
    compile "$bin" "$log" "$src" "$SRCDIR/stress.h" "$ROOT/c_tests/common.h" \
        -- "$CC" "${CFLAGS_WORDS[@]}" -I"$ROOT/c_tests" -o "$bin" "$src" -pthread -ldl
}

# --- run ------------------------------------------------------------------
# run_case NAME MODE OKPATTERN CMD...: PASS when CMD exits 0 within TIMEOUT and its stdout
# has a line matching OKPATTERN (an extended regex).
run_case() {
    local name=$1 mode=$2 okpat=$3
    shift 3
    local label="$name [$mode]" tag=${name//[^A-Za-z0-9_.-]/_}
    local out=$LOGDIR/$tag.$mode.out err=$LOGDIR/$tag.$mode.err
    local -a envs=()
    [ -n "$LIB" ] && envs+=("LD_PRELOAD=$LIB")
    [ "$mode" = check ] && envs+=("HAKMEM_CHECK=1")
    local t0 status=0 why
    t0=$(date +%s.%N)
    # timeout and env run without the preload; only the program gets it. The subshell keeps
    # bash's own "Aborted"/"Segmentation fault" report out of the output.
    (timeout -k 5 "$TIMEOUT" env ${envs[@]+"${envs[@]}"} "$@" >"$out" 2>"$err" </dev/null; exit $?) 2>/dev/null
    status=$?
    local took
    took=$(awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1fs", b - a }')
    why=$(exit_reason "$status" "$TIMEOUT")
    if [ -z "$why" ]; then
        if ! grep -qE "$okpat" "$out"; then
            why="no final line matching '$okpat' on stdout"
        elif [ -n "$LIB" ] && grep -q 'cannot be preloaded' "$err"; then
            why="the library was not preloaded"
        fi
    fi
    if [ -z "$why" ]; then
        pass "$label ($took)"
    else
        fail "$label ($why, $took)" "    command: (cd $ROOT && ${envs[*]+${envs[*]}} $*)"
        show_log "$err" stderr 20
        show_log "$out" stdout 8
    fi
}

selected() { [ -z "$filter" ] || [[ $1 =~ $filter ]]; }

programs=()
for src in "$SRCDIR"/*.c; do
    name=$(basename "$src" .c)
    selected "$name" && programs+=("$name")
done
for name in ${programs[@]+"${programs[@]}"}; do
    build "$name"
done

larson_ok=0
if selected larson4; then
    if [ ! -x "$LARSON" ] || [ "$ROOT/benchmarks/larson.c" -nt "$LARSON" ] ||
        [ "$ROOT/benchmarks/bench_common.h" -nt "$LARSON" ]; then
        make -s -C "$ROOT/benchmarks" OUT="$ROOT/build/bench" "$LARSON" >"$LOGDIR/larson.build" 2>&1
    fi
    if [ -x "$LARSON" ]; then
        larson_ok=1
    else
        fail "larson4 (building build/bench/larson failed: make -C benchmarks)"
        show_log "$LOGDIR/larson.build" "make output"
    fi
fi

for mode in $modes; do
    for name in ${programs[@]+"${programs[@]}"}; do
        if [ ! -x "$OUTDIR/$name" ]; then
            fail "$name [$mode] (compile error)"
            show_log "$LOGDIR/$name.build" "compiler output"
            continue
        fi
        run_case "$name" "$mode" "^$name: ok" "$OUTDIR/$name" "$scale"
    done
    if [ $larson_ok = 1 ]; then
        for ((i = 1; i <= larson_runs; i++)); do
            seed=$((5150 + i))
            run_case "larson4#$i seed=$seed" "$mode" '^larson: ops=' \
                "$LARSON" 2 8 1000 5000 100 "$seed" 4
        done
    fi
done

finish
