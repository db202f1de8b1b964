# shellcheck shell=bash
# benchmarks/allocators.sh — sourced by scripts/bench, scripts/icount,
# scripts/test_larson.sh and scripts/stress.sh (bash). Finds the allocators to compare and
# proves that LD_PRELOAD really swaps each one in.
#
# After `resolve_allocators LIST` (LIST: comma separated, from ALL_ALLOCATORS):
#   SELECTED=(names that are available, in LIST's order)
#   PRELOAD[name]=absolute path of the shared object ("" for glibc)
#   PEER_PKG[name]=Debian package of a peer allocator
#   ALLOC_LABEL[name]=name and version, for column headers ("mimalloc 3.3.2")
# Two kinds of peer:
# - Debian's packages (jemalloc, tcmalloc, mimalloc = Debian's mimalloc 2.0.9): a missing
#   one is installed with apt-get (update once, then install) unless ALLOC_INSTALL=0.
# - Today's upstream releases, built from the sources their crates.io packages ship
#   (mimalloc3, mimalloc2: libmimalloc-sys; snmalloc: snmalloc-sys; versions pinned in
#   PEER_CRATE): `cargo vendor` fetches them into build/peers/vendor, and each is compiled
#   the way its own build makes its override library into build/peers/lib<name>.so (cached;
#   rebuilt when its command line changes).
# A peer that cannot be found, installed or built is skipped with a warning. A missing
# hakmem is an error: it is what is being measured. HAK_LIB overrides its path.
#
# Expects ROOT (the repository root) to be set.

ALL_ALLOCATORS="glibc,jemalloc,tcmalloc,mimalloc,mimalloc2,mimalloc3,snmalloc,hakmem"
: "${ALLOC_INSTALL:=1}"

declare -A PRELOAD=()
declare -A PEER_PKG=([jemalloc]=libjemalloc2 [mimalloc]=libmimalloc2.0 [tcmalloc]=libtcmalloc-minimal4)
declare -A PEER_STEM=([jemalloc]=jemalloc [mimalloc]=mimalloc [tcmalloc]=tcmalloc_minimal)
declare -A ALLOC_LABEL=([glibc]=glibc [hakmem]=hakmem)
SELECTED=()
_alloc_apt_updated=0

# The crates whose sources the upstream peers are built from (exact versions).
declare -A PEER_CRATE=([mimalloc3]=libmimalloc-sys@0.1.49 [mimalloc2]=libmimalloc-sys@0.1.49
    [snmalloc]=snmalloc-sys@0.7.6)

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

# _alloc_vendor: the pinned crates' sources under build/peers/vendor (once; needs network
# the first time). Prints the vendor directory.
_alloc_vendor() {
    local dir=$ROOT/build/peers crate deps=""
    for crate in $(printf '%s\n' "${PEER_CRATE[@]}" | sort -u); do
        deps+=$'\n'"${crate%@*} = \"=${crate#*@}\""
    done
    mkdir -p "$dir/fetch"
    local manifest="[package]
name = \"hakmem-peer-sources\"
version = \"0.0.0\"
edition = \"2021\"
publish = false
[lib]
path = \"lib.rs\"
[workspace]
[dependencies]$deps"
    if [ ! -d "$dir/vendor" ] || [ "$(cat "$dir/fetch/Cargo.toml" 2>/dev/null)" != "$manifest" ]; then
        printf '%s' "$manifest" >"$dir/fetch/Cargo.toml"
        : >"$dir/fetch/lib.rs"
        echo "allocators: fetching the peers' sources (cargo vendor: ${PEER_CRATE[*]}) ..." >&2
        rm -rf "$dir/vendor"
        (cd "$dir/fetch" && cargo vendor --versioned-dirs "$dir/vendor" >/dev/null 2>"$dir/fetch/vendor.log") || {
            tail -n 5 "$dir/fetch/vendor.log" >&2
            rm -rf "$dir/vendor"
            return 1
        }
    fi
    echo "$dir/vendor"
}

# _alloc_build_source NAME: builds build/peers/libNAME.so from its crate's sources; prints
# its path. The command lines follow each project's CMake build of its override library:
# mimalloc's libmimalloc.so (src/static.c, MI_MALLOC_OVERRIDE, MI_SHARED_LIB[_EXPORT], -O3,
# initial-exec TLS) and snmalloc's libsnmallocshim.so (override/malloc.cc + new.cc, C++20,
# -mcx16, wait-on-address, glibc's thread-exit hook, static libstdc++).
_alloc_build_source() {
    local name=$1 vendor src so cmd
    vendor=$(_alloc_vendor) || return 1
    src=$vendor/${PEER_CRATE[$name]/@/-}
    so=$ROOT/build/peers/lib$name.so
    case "$name" in
        mimalloc3 | mimalloc2)
            src=$src/c_src/mimalloc/v${name#mimalloc}
            cmd="cc -O3 -DNDEBUG -fPIC -shared -DMI_MALLOC_OVERRIDE -DMI_SHARED_LIB -DMI_SHARED_LIB_EXPORT"
            cmd+=" -ftls-model=initial-exec -fno-builtin-malloc -fvisibility=hidden -Wno-unknown-pragmas"
            cmd+=" -I $src/include $src/src/static.c -o $so -lpthread"
            ;;
        snmalloc)
            src=$src/upstream
            cmd="c++ -std=c++20 -O3 -DNDEBUG -fPIC -shared -mcx16 -mprfchw -fomit-frame-pointer"
            cmd+=" -ftls-model=initial-exec -ffunction-sections -fvisibility=hidden"
            cmd+=" -DSNMALLOC_USE_WAIT_ON_ADDRESS=1 -DSNMALLOC_USE_CXX11_THREAD_ATEXIT_DIRECT"
            cmd+=" -DSNMALLOC_CHECK_LOADS=false -DSNMALLOC_PAGEID=false"
            cmd+=" '-DSNMALLOC_EXPORT=__attribute__((visibility(\"default\")))'"
            cmd+=" -I $src/src $src/src/snmalloc/override/malloc.cc $src/src/snmalloc/override/new.cc"
            cmd+=" -static-libstdc++ -o $so"
            ;;
    esac
    if [ ! -f "$so" ] || [ "$(cat "$so.cmd" 2>/dev/null)" != "$cmd" ]; then
        echo "allocators: building $name from ${PEER_CRATE[$name]} ..." >&2
        rm -f "$so" "$so.cmd"
        # $cmd is eval'ed for its one quoted define (snmalloc's export attribute).
        eval "$cmd" 2>"$so.log" || { tail -n 5 "$so.log" >&2; rm -f "$so"; return 1; }
        printf '%s' "$cmd" >"$so.cmd"
    fi
    echo "$so"
}

# _alloc_source_version NAME: the upstream version in the sources built for NAME.
_alloc_source_version() {
    local src
    src=$ROOT/build/peers/vendor/${PEER_CRATE[$1]/@/-}
    case "$1" in
        mimalloc*)
            sed -n 's/^#define MI_MALLOC_VERSION \([0-9]*\).*/\1/p' "$src/c_src/mimalloc/v${1#mimalloc}/include/mimalloc.h" |
                awk '{ printf "%d.%d.%d", $1 / 10000, ($1 / 100) % 100, $1 % 100 }' ;;
        snmalloc) echo "${PEER_CRATE[$1]#*@}" ;; # snmalloc-sys's version is snmalloc's release
    esac
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
            mimalloc3 | mimalloc2 | snmalloc)
                if ! so=$(_alloc_build_source "$a"); then
                    echo "WARNING: $a could not be fetched or built (${PEER_CRATE[$a]}); skipping it" >&2
                    continue
                fi
                PRELOAD[$a]=$so
                ALLOC_LABEL[$a]="${a%[23]} $(_alloc_source_version "$a")"
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
                ALLOC_LABEL[$a]="$a $(dpkg-query -W -f='${Version}' "$pkg" 2>/dev/null | sed 's/[-+~].*//')"
                [ "$a" != mimalloc ] || ALLOC_LABEL[$a]+=" (Debian)"
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
