#!/usr/bin/env bash
# Build and run the C behaviour tests in c_tests/ against libhakmem.so.
#
# Each c_tests/NAME.c (common.h holds the shared helpers) is one program
# testing one behaviour.  Every test runs in three modes:
#   linked   built with  -Iinclude -Ltarget/release -lhakmem -Wl,-rpath,...
#   preload  built without -lhakmem, run with LD_PRELOAD=target/release/libhakmem.so
#   small-arena  the linked binary, run with HAKMEM_ARENA_MB=2: the SuperSlab arena
#            holds one SuperSlab, the others are mapped on their own (as when there
#            is no arena, under `ulimit -v`), so both kinds meet in one run
# A test fails on a compile error, a non-zero exit, a signal, a timeout
# (60 s) or a corrupted pattern (which the program reports and exits 1 on).
# Tests named bad_input_* must instead abort: killed by SIGABRT (status 134)
# with a line containing "hakmem:" on stderr.  The stats test runs with
# HAKMEM_STATS=1 and its stderr must contain "): malloc tiny=" (the counts, after
# "hakmem stats: PROGRAM (pid N)").
#
# Output: one line per test and mode ("PASS api_errno [linked]"), failure
# details indented under a FAIL line, and last a line "N passed, M failed".
# Exit status 0 only when nothing failed.  Build outputs and logs go to
# build/c_tests/ (logs: build/c_tests/logs/NAME.MODE.{out,err}).
#
# Environment:
#   HAK_TEST_LIB=/path/to/other/malloc.so
#                       validate the tests against another allocator: only the
#                       preload mode runs, with that library; hakmem-only tests
#                       (prefixed_api, stats, options, introspection, bad_input_*_mid,
#                       bad_input_free_after_trim)
#                       are skipped, bad_input_* only
#                       need the abort, and the programs get
#                       HAK_TEST_FOREIGN=1 (non-standard entry points such as
#                       free_sized are skipped instead of required).
#   HAK_TEST_LIB=none
#                       the same, with no preload at all (plain glibc).
#   HAK_TEST_LIBDIR=DIR     where libhakmem.so is (default target/release).
#   HAK_TEST_MODES="linked preload small-arena"   modes to run (default: all; only
#                       "preload"/"plain" make sense with HAK_TEST_LIB).
#   HAK_TEST_FILTER=REGEX   run only the tests whose name matches.
#   HAK_TEST_TIMEOUT=60     per-run timeout in seconds.
#   CC, CFLAGS          compiler and flags (default: cc, -O2 -g ...).
#   HAK_TEST_JOBS=2  compilers run at once.
# Extra environment for the programs: HAK_TEST_SEED (random_ops seed),
# HAK_TEST_OPS (random_ops op count), HAK_TEST_MIN_ALIGN (only to
# validate against an allocator that aligns small blocks to 8).

set -u
cd "$(dirname "$0")/.." || exit 2
ROOT=$PWD
# shellcheck source=scripts/lib/testing.sh
. "$ROOT/scripts/lib/testing.sh"
# shellcheck source=scripts/lib/cbuild.sh
. "$ROOT/scripts/lib/cbuild.sh"
parse_options "" "$@"

CC=${CC:-cc}
CFLAGS=${CFLAGS:-"-O2 -g -std=gnu11 -Wall -Wextra -Wno-unused-parameter -fno-builtin"}
read -ra CFLAGS_WORDS <<<"$CFLAGS"
LIBDIR=${HAK_TEST_LIBDIR:-$ROOT/target/release}
HAKLIB=$LIBDIR/libhakmem.so
TIMEOUT=${HAK_TEST_TIMEOUT:-60}
FILTER=${HAK_TEST_FILTER:-}
OUTDIR=$ROOT/build/c_tests
LOGDIR=$OUTDIR/logs

FOREIGN=0
PRELOAD_LIB=$HAKLIB
if [[ -n "${HAK_TEST_LIB:-}" ]]; then
    FOREIGN=1
    if [[ "$HAK_TEST_LIB" == none ]]; then
        PRELOAD_LIB=
        MODES=${HAK_TEST_MODES:-plain}
    else
        PRELOAD_LIB=$HAK_TEST_LIB
        MODES=${HAK_TEST_MODES:-preload}
    fi
else
    MODES=${HAK_TEST_MODES:-linked preload small-arena}
fi

if [[ $FOREIGN == 0 && ! -f "$HAKLIB" ]]; then
    echo "test_c.sh: $HAKLIB not found; build it first (make lib)" >&2
    T_FAILED=$((T_FAILED + 1))
    finish
    exit 1
fi
if [[ -n "$PRELOAD_LIB" && ! -f "$PRELOAD_LIB" ]]; then
    echo "test_c.sh: $PRELOAD_LIB not found" >&2
    T_FAILED=$((T_FAILED + 1))
    finish
    exit 1
fi

mkdir -p "$OUTDIR" "$LOGDIR"
ulimit -c 0 2>/dev/null || true

# --- per-test properties --------------------------------------------------
test_env() { # extra environment for the program
    case $1 in
    stats) echo HAKMEM_STATS=1 ;;
    bad_input_use_after_free) echo HAKMEM_CHECK=1 ;;
    esac
}
test_ldflags() { # extra link flags
    case $1 in
    munmap_refused) echo -rdynamic ;; # its own munmap must be what hakmem calls
    esac
}
expects_abort() { [[ $1 == bad_input_* ]]; }
stderr_pattern() { # NAME MODE: fixed string that stderr must contain
    case $1 in
    stats) echo '): malloc tiny=' ;;
    # The arena keeps a given-back SuperSlab's range (in the one-SuperSlab arena the block
    # lies outside it, in a SuperSlab unmapped since, no longer hakmem's).
    bad_input_free_after_trim) [[ $2 == small-arena ]] && echo 'hakmem:' || echo "inside hakmem's heap" ;;
    bad_input_*) [[ $FOREIGN == 1 ]] || echo 'hakmem:' ;;
    esac
}
# (The *_mid bad inputs go beyond what other allocators detect: glibc frees a 16 KiB block
# twice without a word; so does the free after malloc_trim.)
hakmem_only() { [[ $1 == prefixed_api || $1 == munmap_refused || $1 == stats || $1 == options || $1 == thp || $1 == introspection || $1 == bad_input_*_mid || $1 == bad_input_free_after_trim ]]; }

# --- build ------------------------------------------------------------------
# The build a mode runs: small-arena runs the linked binaries.
build_of() { if [[ $1 == small-arena ]]; then echo linked; else echo "$1"; fi; }

# build MODE NAME: compile c_tests/NAME.c for MODE into $OUTDIR/MODE/NAME
# (skipped when the binary is newer than its inputs); on a compile error the
# binary is removed and the compiler output is in $LOGDIR/NAME.MODE.build.
build() {
    local mode=$1 name=$2 src=$ROOT/c_tests/$2.c
    local bin=$OUTDIR/$mode/$name log=$LOGDIR/$name.$mode.build
    mkdir -p "$OUTDIR/$mode"
    local -a cmd
    case $mode in
    linked)
        # shellcheck disable=SC2054 # the commas belong to -Wl,-rpath,DIR
        cmd=("$CC" "${CFLAGS_WORDS[@]}" -I"$ROOT/include" -I"$ROOT/c_tests" -o "$bin" "$src"
            -L"$LIBDIR" -lhakmem -Wl,-rpath,"$LIBDIR" -pthread -ldl $(test_ldflags "$name"))
        ;;
    *)
        cmd=("$CC" "${CFLAGS_WORDS[@]}" -DHAK_PRELOAD -I"$ROOT/include" -I"$ROOT/c_tests" -o "$bin" "$src"
            -pthread -ldl $(test_ldflags "$name"))
        ;;
    esac
    compile "$bin" "$log" "$src" "$ROOT/c_tests/common.h" "$ROOT/include/hakmem.h" \
        "$ROOT/scripts/test_c.sh" -- "${cmd[@]}"
}

# build everything first, two compilers at a time
build_all() {
    local mode m name running=0
    for mode in $(for m in $MODES; do build_of "$m"; done | sort -u); do
        for name in "${tests[@]}"; do
            if [[ $FOREIGN == 1 ]] && hakmem_only "$name"; then
                continue
            fi
            build "$mode" "$name" &
            running=$((running + 1))
            if ((running >= ${HAK_TEST_JOBS:-2})); then
                wait -n
                running=$((running - 1))
            fi
        done
    done
    wait
}

# --- run ------------------------------------------------------------------
run_one() {
    local mode=$1 name=$2
    local label="$name [$mode]"
    if [[ $FOREIGN == 1 ]] && hakmem_only "$name"; then
        skip "$label (hakmem-only test; HAK_TEST_LIB is set)"
        return
    fi
    local bin
    bin=$OUTDIR/$(build_of "$mode")/$name
    if [[ ! -x "$bin" ]]; then
        fail "$label (compile error)"
        show_log "$LOGDIR/$name.$(build_of "$mode").build" "compiler output"
        return
    fi

    local out=$LOGDIR/$name.$mode.out err=$LOGDIR/$name.$mode.err
    local -a envs=("HAK_TEST_FOREIGN=$FOREIGN")
    local e
    for e in $(test_env "$name"); do envs+=("$e"); done
    if [[ $mode == preload && -n "$PRELOAD_LIB" ]]; then
        envs+=("LD_PRELOAD=$PRELOAD_LIB")
    fi
    if [[ $mode == small-arena ]]; then
        envs+=("HAKMEM_ARENA_MB=2")
    fi
    # timeout and env run without the preload; only the test program gets it.
    # The subshell keeps bash's "Aborted" job message out of the output.
    local start=$SECONDS status
    (timeout -k 5 "$TIMEOUT" env "${envs[@]}" "$bin" >"$out" 2>"$err" </dev/null; exit $?) 2>/dev/null
    status=$?
    local secs=$((SECONDS - start))

    local why=""
    if expects_abort "$name" && [[ $status != 124 && $status != 137 ]]; then
        if [[ $status != 134 ]]; then
            if [[ $status == 0 || $status == 3 ]]; then
                why="expected an abort (SIGABRT, status 134); the program returned $status: bad input not detected"
            elif ((status > 128)); then
                why="expected SIGABRT (status 134), got signal $((status - 128)) (status $status)"
            else
                why="expected SIGABRT (status 134), got exit status $status"
            fi
        fi
    else
        why=$(exit_reason "$status" "$TIMEOUT")
    fi
    local pat
    pat=$(stderr_pattern "$name" "$mode")
    if [[ -z "$why" && -n "$pat" ]] && ! grep -qF -- "$pat" "$err"; then
        why="stderr does not contain \"$pat\""
    fi
    if [[ -z "$why" && $mode == preload ]] && grep -q 'cannot be preloaded' "$err"; then
        why="the library was not preloaded"
    fi

    if [[ -z "$why" ]]; then
        pass "$label"
    else
        fail "$label ($why, ${secs}s)" "    command: (cd $ROOT && ${envs[*]} $bin)"
        show_log "$err" "stderr"
        show_log "$out" "stdout"
    fi
}

tests=()
for src in "$ROOT"/c_tests/*.c; do
    name=$(basename "$src" .c)
    if [[ -n "$FILTER" ]] && ! [[ $name =~ $FILTER ]]; then
        continue
    fi
    tests+=("$name")
done

for mode in $MODES; do
    case $mode in
    linked | preload | plain | small-arena) ;;
    *)
        echo "test_c.sh: unknown mode '$mode' (linked, preload, plain, small-arena)" >&2
        exit 2
        ;;
    esac
    if [[ $(build_of "$mode") == linked && $FOREIGN == 1 ]]; then
        echo "test_c.sh: the $mode mode needs libhakmem.so; unset HAK_TEST_LIB" >&2
        exit 2
    fi
done

build_all
for mode in $MODES; do
    for name in "${tests[@]}"; do
        run_one "$mode" "$name"
    done
done

finish
