#!/usr/bin/env bash
# make install / uninstall, tested: installs into a temporary prefix, checks the files (versioned
# SONAME and links, no debug info, header, hakmem.pc), builds c_tests/install/hello.c with
# `pkg-config --cflags --libs hakmem` (shared) and against libhakmem.a (static), runs both;
# then a DESTDIR install and `make uninstall`, which must leave nothing behind; last, that a
# debug build of the library (no LTO) loads and links too.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
# shellcheck source=scripts/lib/testing.sh
. "$ROOT/scripts/lib/testing.sh"
parse_options "" "$@"
MAKE=${MAKE:-make}
CC=${CC:-cc}
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
# die WHY: the first failed check ends the test (FAIL on stderr, exit status 1).
die() { fail "install: $*" >&2; exit 1; }

version=$(sed -n 's/^version = "\(.*\)"/\1/p' Cargo.toml | head -n 1)
major=${version%%.*}
prefix=$TMP/prefix
"$MAKE" -s install PREFIX="$prefix" >/dev/null
lib=$prefix/lib
for f in "$lib/libhakmem.so.$version" "$lib/libhakmem.a" "$prefix/include/hakmem.h" "$lib/pkgconfig/hakmem.pc"; do
    [ -f "$f" ] || die "$f not installed"
done
[ "$(readlink "$lib/libhakmem.so")" = "libhakmem.so.$major" ] || die "libhakmem.so does not link to libhakmem.so.$major"
[ "$(readlink "$lib/libhakmem.so.$major")" = "libhakmem.so.$version" ] || die "libhakmem.so.$major does not link to libhakmem.so.$version"
soname=$(readelf -d "$lib/libhakmem.so.$version" | sed -n 's/.*(SONAME).*\[\(.*\)\]/\1/p')
[ "$soname" = "libhakmem.so.$major" ] || die "SONAME is '$soname', not libhakmem.so.$major"
if readelf -S "$lib/libhakmem.so.$version" | grep -q '\.debug_info'; then die "the installed .so has debug info"; fi

export PKG_CONFIG_PATH=$lib/pkgconfig
[ "$(pkg-config --modversion hakmem)" = "$version" ] || die "pkg-config --modversion hakmem: $(pkg-config --modversion hakmem)"
# shellcheck disable=SC2046 # pkg-config's flags are words
"$CC" -O2 -o "$TMP/hello" c_tests/install/hello.c $(pkg-config --cflags --libs hakmem) -Wl,-rpath,"$lib"
readelf -d "$TMP/hello" | grep -q "NEEDED.*\[libhakmem.so.$major\]" || die "hello does not record libhakmem.so.$major"
out=$("$TMP/hello") || die "hello (shared) failed: $out"
[ "$out" = "hakmem $version: ok" ] || die "hello (shared) printed '$out'"
# shellcheck disable=SC2046
"$CC" -O2 -o "$TMP/hello_static" c_tests/install/hello.c $(pkg-config --cflags hakmem) \
    "$lib/libhakmem.a" $(pkg-config --static --libs-only-l hakmem | sed 's/-lhakmem//')
if readelf -d "$TMP/hello_static" | grep -q 'NEEDED.*libhakmem'; then die "hello_static needs libhakmem.so"; fi
out=$("$TMP/hello_static") || die "hello (static) failed: $out"
[ "$out" = "hakmem $version: ok" ] || die "hello (static) printed '$out'"
pass "install [prefix, pkg-config: shared and static]"

stage=$TMP/stage
"$MAKE" -s install DESTDIR="$stage" PREFIX=/opt/hakmem >/dev/null
[ -f "$stage/opt/hakmem/lib/libhakmem.so.$version" ] || die "DESTDIR install: no library under $stage/opt/hakmem/lib"
grep -qx 'prefix=/opt/hakmem' "$stage/opt/hakmem/lib/pkgconfig/hakmem.pc" || die "DESTDIR install: hakmem.pc does not name the prefix /opt/hakmem"
"$MAKE" -s uninstall DESTDIR="$stage" PREFIX=/opt/hakmem >/dev/null
left=$(find "$stage" -type f -o -type l)
[ -z "$left" ] || die "uninstall left: $left"
pass "install [DESTDIR, uninstall]"

# The library has no std on x86-64 Linux; a debug build (no LTO to drop core's references to the
# unwinder's personality routine) must still load and link.
"${CARGO:-cargo}" build -q -p hakmem-preload
debug=$ROOT/target/debug
out=$(LD_PRELOAD="$debug/libhakmem.so" "$TMP/hello_static" 2>&1) || die "a program under the debug libhakmem.so failed: $out"
# shellcheck disable=SC2046
"$CC" -O0 -o "$TMP/hello_debug" c_tests/install/hello.c -Iinclude "$debug/libhakmem.a" \
    $(pkg-config --static --libs-only-l hakmem | sed 's/-lhakmem//') || die "cannot link the debug libhakmem.a"
out=$("$TMP/hello_debug") || die "hello (debug, static) failed: $out"
[ "$out" = "hakmem $version: ok" ] || die "hello (debug, static) printed '$out'"
pass "install [debug build: preloaded, static]"
