#!/usr/bin/env bash
# The attack suite: each security/NAME.c performs one attack on the allocator (a bad free, a
# use-after-free or overflow write, ...; see security/attack.h). Every program runs under
# LD_PRELOAD=libhakmem.so in the default mode and in check mode (HAKMEM_CHECK=1) and must end
# in SIGABRT with the message its header names (`expect:`, `expect-check:`) on one "hakmem:"
# line. A program marked `modes: check` must be caught in check mode; in the default mode it
# may also exit 0 (undetected, no harm done), but never crash or let the attack work.
#
#   scripts/test_security.sh              # the test (make test runs it)
#   scripts/test_security.sh --compare    # the outcome of every attack under glibc, jemalloc,
#                                         # mimalloc, tcmalloc (the Debian packages present)
#                                         # and hakmem: a table, no verdict
# Then security/peers/NAME.c, each linked with the peer allocator its header names (`link:`,
# skipped when that library is not installed), must run to exit 0 under the preload: the
# pointers the peer's own entry points return (tc_malloc, mallocx) go back to the peer.
# Environment: HAK_TEST_LIB (default target/release/libhakmem.so), CC,
# HAK_TEST_FILTER (regex on the names), HAK_TEST_TIMEOUT (per run, default 60 s).
# Builds into build/security/ (logs: build/security/logs/).
set -u
cd "$(dirname "$0")/.." || exit 2
ROOT=$PWD
# shellcheck source=scripts/lib/testing.sh
. "$ROOT/scripts/lib/testing.sh"
compare=0
parse_options compare "$@"
CC=${CC:-cc}
LIB=${HAK_TEST_LIB:-$ROOT/target/release/libhakmem.so}
TIMEOUT=${HAK_TEST_TIMEOUT:-60}
FILTER=${HAK_TEST_FILTER:-}
OUT=$ROOT/build/security
LOGS=$OUT/logs
mkdir -p "$LOGS"

[ -f "$LIB" ] || { fail "setup: $LIB not found (make lib)"; exit 1; }

header() { sed -n "s/^ \* $2: //p" "security/$1.c" | head -1; }

# Builds every program; prints the names built.
names=()
for src in security/*.c; do
    name=$(basename "$src" .c)
    [[ -n $FILTER && ! $name =~ $FILTER ]] && continue
    if ! "$CC" -O1 -g -fno-builtin -pthread -Wall -o "$OUT/$name" "$src" 2>"$LOGS/$name.build"; then
        fail "$name: does not compile (see $LOGS/$name.build)"
        exit 1
    fi
    names+=("$name")
done

# run NAME TAG PRELOAD [ENV...]: runs the program; sets $status and $err (the stderr file).
run() {
    local name=$1 tag=$2 preload=$3
    shift 3
    err=$LOGS/$name.$tag.err
    # In a subshell whose stderr is dropped: bash's own "Aborted" report is noise here.
    status=$( (env ${preload:+LD_PRELOAD=$preload} "$@" timeout "$TIMEOUT" "$OUT/$name" \
        >"$LOGS/$name.$tag.out" 2>"$err"; echo $?) 2>/dev/null)
}

# outcome: one word for $status and $err.
outcome() {
    case $status in
        0) echo "silent" ;;
        3) echo "WORKED" ;;
        134)
            local line
            line=$(grep -m1 -v '^ATTACK' "$err" | cut -c1-60)
            echo "abort: ${line:-no message}" ;;
        139) echo "SIGSEGV" ;;
        124) echo "timeout" ;;
        *) if [ "$status" -gt 128 ]; then echo "signal $((status - 128))"; else echo "exit $status"; fi ;;
    esac
}

if [ $compare = 1 ]; then
    declare -A PEERS=(
        [glibc]=""
        [jemalloc]=/usr/lib/x86_64-linux-gnu/libjemalloc.so.2
        [mimalloc]=/usr/lib/x86_64-linux-gnu/libmimalloc.so.2
        [tcmalloc]=/usr/lib/x86_64-linux-gnu/libtcmalloc_minimal.so.4
    )
    order=(glibc jemalloc mimalloc tcmalloc)
    table=$OUT/compare.md
    {
        echo "| attack | glibc | jemalloc | mimalloc | tcmalloc | hakmem | hakmem (check) |"
        echo "|---|---|---|---|---|---|---|"
    } >"$table"
    for name in "${names[@]}"; do
        row="| $name"
        for peer in "${order[@]}"; do
            lib=${PEERS[$peer]}
            if [ -n "$lib" ] && [ ! -f "$lib" ]; then row+=" | (not installed)"; continue; fi
            run "$name" "$peer" "$lib"
            row+=" | $(outcome | sed 's/|/\\|/g')"
        done
        run "$name" hakmem "$LIB"
        row+=" | $(outcome | sed 's/|/\\|/g')"
        run "$name" hakmem-check "$LIB" HAKMEM_CHECK=1
        row+=" | $(outcome | sed 's/|/\\|/g') |"
        echo "$row" | tee -a "$table"
    done
    echo "wrote $table"
    exit 0
fi

for name in "${names[@]}"; do
    check_only=$([ "$(header "$name" modes)" = check ] && echo 1 || echo 0)
    for mode in default check; do
        if [ $mode = check ]; then
            run "$name" check "$LIB" HAKMEM_CHECK=1
            pat=$(header "$name" expect-check)
            [ -n "$pat" ] || pat=$(header "$name" expect)
        else
            run "$name" default "$LIB"
            pat=$(header "$name" expect)
        fi
        why=""
        lines=$(grep -c '^hakmem:' "$err")
        if [ "$status" = 0 ] && [ $mode = default ] && [ "$check_only" = 1 ]; then
            why=""
        elif [ "$status" != 134 ]; then
            why="expected SIGABRT with \"$pat\"; got: $(outcome)"
        elif ! grep -q '^hakmem:' "$err" || ! grep -qF -- "$pat" "$err"; then
            why="aborted without \"$pat\" on a hakmem: line"
        elif [ "$lines" != 1 ]; then
            why="$lines hakmem: lines, want one"
        fi
        if [ -z "$why" ]; then
            pass "$name [$mode]: $(outcome)"
        else
            fail "$name [$mode]: $why"
            sed 's/^/    /' "$err" | head -5
        fi
    done
done
for src in security/peers/*.c; do
    name=peer_$(basename "$src" .c)
    [[ -n $FILTER && ! $name =~ $FILTER ]] && continue
    lib=/usr/lib/x86_64-linux-gnu/$(sed -n 's/^ \* link: //p' "$src" | head -1)
    if [ ! -f "$lib" ]; then
        skip "$name: $lib not installed"
        continue
    fi
    if ! "$CC" -O1 -g -fno-builtin -o "$OUT/$name" "$src" "$lib" 2>"$LOGS/$name.build"; then
        fail "$name: does not compile (see $LOGS/$name.build)"
        continue
    fi
    run "$name" default "$LIB"
    if [ "$status" = 0 ]; then
        pass "$name"
    else
        fail "$name: $(outcome)"
        sed 's/^/    /' "$err" | head -5
    fi
done
finish
