# shellcheck shell=bash
# bench_larson/allocators.sh — sourced by scripts/bench, scripts/icount,
# scripts/test_larson.sh and scripts/stress.sh (bash). Finds the allocators to compare and
# proves that LD_PRELOAD really swaps each one in.
#
# After `resolve_allocators LIST` (LIST: comma separated, from ALL_ALLOCATORS):
#   SELECTED=(names that are available, in LIST's order)
#   PRELOAD[name]=absolute path of the shared object ("" for glibc)
#   PEER_PKG[name]=Debian package of a peer allocator
# A missing peer is installed with apt-get (update once, then install) unless
# ALLOC_INSTALL=0; one that still cannot be found is skipped with a warning. A missing
# hakmem is an error: it is what is being measured. HAK_LIB overrides its path.
#
# Expects ROOT (the repository root) to be set.

ALL_ALLOCATORS="glibc,jemalloc,mimalloc,tcmalloc,hakmem"
: "${ALLOC_INSTALL:=1}"

declare -A PRELOAD=()
declare -A PEER_PKG=([jemalloc]=libjemalloc2 [mimalloc]=libmimalloc2.0 [tcmalloc]=libtcmalloc-minimal4)
declare -A PEER_STEM=([jemalloc]=jemalloc [mimalloc]=mimalloc [tcmalloc]=tcmalloc_minimal)
SELECTED=()
_alloc_apt_updated=0

_alloc_pkg_installed() {
    dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q 'install ok installed'
}

# _alloc_install PKG: apt-get update (once per script run), then install PKG.
_alloc_install() {
    [ "$ALLOC_INSTALL" = 1 ] || return 1
    command -v apt-get >/dev/null 2>&1 || return 1
    local sudo=""
    if [ "$(id -u)" -ne 0 ]; then
        command -v sudo >/dev/null 2>&1 || return 1
        sudo=sudo
    fi
    echo "allocators: installing $1 ..." >&2
    if [ "$_alloc_apt_updated" = 0 ]; then
        $sudo apt-get update -q >/dev/null 2>&1 || return 1
        _alloc_apt_updated=1
    fi
    $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends \
        -o Dpkg::Use-Pty=0 "$1" >/dev/null 2>&1
}

# _alloc_find_so PKG STEM: the libSTEM.so* that PKG ships (dpkg -L), else the one in the
# loader cache (ldconfig -p). Prints the resolved absolute path, or fails.
_alloc_find_so() {
    local pkg=$1 stem=$2 f
    f=$(dpkg -L "$pkg" 2>/dev/null | grep -E "/lib${stem}\.so(\.[0-9]+)*$" | sort | head -n1 || true)
    if [ -z "$f" ] || [ ! -e "$f" ]; then
        f=$(ldconfig -p 2>/dev/null | grep -E "[[:space:]]lib${stem}\.so(\.[0-9]+)* " |
            awk '{ print $NF }' | sort | head -n1 || true)
    fi
    [ -n "$f" ] && [ -e "$f" ] && readlink -f "$f"
}

hakmem_lib() {
    echo "${HAK_LIB:-$ROOT/target/release/libhakmem.so}"
}

# resolve_allocators LIST: fills SELECTED and PRELOAD; returns 2 on an unknown name and 1
# when hakmem is asked for but not built.
resolve_allocators() {
    local list=$1 a so pkg lib
    local -a want
    IFS=, read -r -a want <<<"$list"
    for a in "${want[@]}"; do
        case "$a" in
            glibc) PRELOAD[glibc]="" ;;
            hakmem)
                lib=$(hakmem_lib)
                if [ ! -f "$lib" ]; then
                    echo "$lib does not exist. Build it first (make lib, i.e." >&2
                    echo "cargo build --release -p hakmem-preload), or leave hakmem out of the allocator list" >&2
                    echo "(e.g. --allocators glibc,jemalloc,mimalloc,tcmalloc)." >&2
                    return 1
                fi
                PRELOAD[hakmem]=$(readlink -f "$lib")
                ;;
            jemalloc | mimalloc | tcmalloc)
                pkg=${PEER_PKG[$a]}
                so=$(_alloc_find_so "$pkg" "${PEER_STEM[$a]}" || true)
                if [ -z "$so" ] && ! _alloc_pkg_installed "$pkg"; then
                    _alloc_install "$pkg" || true
                    so=$(_alloc_find_so "$pkg" "${PEER_STEM[$a]}" || true)
                fi
                if [ -z "$so" ]; then
                    echo "WARNING: $a ($pkg) is not installed and could not be installed; skipping it" >&2
                    continue
                fi
                PRELOAD[$a]=$so
                ;;
            "") continue ;;
            *)
                echo "unknown allocator '$a' (known: $ALL_ALLOCATORS)" >&2
                return 2
                ;;
        esac
        SELECTED+=("$a")
    done
}

# check_preload NAME ORIGIN_BINARY: run build/bench/malloc_origin under the allocator's
# LD_PRELOAD and check that malloc resolves to that object (glibc: to libc). Prints the
# reason and fails otherwise — a benchmark that silently measured glibc is worthless.
check_preload() {
    local a=$1 bin=$2 so expect origin
    so=${PRELOAD[$a]}
    expect=$(basename "${so:-libc.so}")
    local rc=0
    origin=$( (timeout 20 env LD_PRELOAD="$so" "$bin"; exit $?) 2>&1) || rc=$?
    if [ "$rc" -ne 0 ]; then
        echo "$a: LD_PRELOAD=$so $bin failed (exit status $rc)${origin:+:}" >&2
        [ -z "$origin" ] || printf '%s\n' "$origin" >&2
        return 1
    fi
    case "$origin" in
        *"malloc="*"$expect"*) return 0 ;;
        *)
            echo "$a: LD_PRELOAD=$so did not take effect: $origin" >&2
            return 1
            ;;
    esac
}
