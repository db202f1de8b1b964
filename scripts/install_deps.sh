#!/usr/bin/env bash
# Install what `make test` needs on a fresh Debian 12 machine (run by .ci/run as root).
# Idempotent and quiet: packages already installed are skipped, `apt-get update` runs at
# most once, and only when something is missing. Starts no services.
#
# Needed by scripts/test_programs.sh:
#   sqlite3              sqlite3 CLI
#   redis-server         redis-server (+ redis-tools: redis-cli, redis-benchmark)
# Needed by scripts/icount --check (make test-icount):
#   valgrind
# Needed by scripts/test_install.sh:
#   pkg-config
# Needed by scripts/test_security.sh (its peer-allocator programs link them):
#   libtcmalloc-minimal4, libjemalloc2   (jemalloc also comes with redis-server)
#   git, python3         come with the CI image (python3 is pyenv's, with its test suite;
#                        failing that, Debian's python3 + libpython3.11-testsuite)
set -euo pipefail

# Debian package -> a command it provides (a package counts as present when either the
# package is installed or the command is on PATH).
declare -A PKGS=(
    [sqlite3]=sqlite3
    [redis-server]=redis-server
    [redis-tools]=redis-benchmark
    [pkg-config]=pkg-config
    [valgrind]=valgrind
)

SUDO=""
if [ "$(id -u)" -ne 0 ]; then
    if command -v sudo >/dev/null 2>&1; then SUDO="sudo"; else
        echo "install_deps: not root and no sudo; cannot install packages" >&2
    fi
fi

missing=()
for pkg in "${!PKGS[@]}"; do
    cmd=${PKGS[$pkg]}
    if dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q 'install ok installed'; then
        continue
    fi
    if command -v "$cmd" >/dev/null 2>&1; then
        continue
    fi
    missing+=("$pkg")
done

# test_programs.sh runs CPython's own test suite: pyenv's python3 has it; if no python3
# here has it, bring Debian's python3 with its test suite.
have_py_tests=0
for py in python3 "${PYENV_ROOT:-$HOME/.pyenv}/shims/python3" /root/.pyenv/shims/python3 /usr/bin/python3; do
    if command -v "$py" >/dev/null 2>&1 &&
        "$py" -c 'import os, sys, test; sys.exit(not os.path.exists(os.path.join(os.path.dirname(test.__file__), "test_dict.py")))' \
            >/dev/null 2>&1; then
        have_py_tests=1
        break
    fi
done
if [ "$have_py_tests" = 0 ]; then
    missing+=(python3 libpython3.11-testsuite)
fi
# Libraries: present when the package is installed.
for pkg in libtcmalloc-minimal4 libjemalloc2; do
    if ! dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q 'install ok installed'; then
        missing+=("$pkg")
    fi
done

if [ "${#missing[@]}" -eq 0 ]; then
    echo "install_deps: all packages present"
else
    echo "install_deps: installing ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    # Never let a package's maintainer script start a daemon (no systemd here anyway).
    policy_rc=/usr/sbin/policy-rc.d
    created_policy=0
    if [ ! -e "$policy_rc" ]; then
        printf '#!/bin/sh\nexit 101\n' | $SUDO tee "$policy_rc" >/dev/null
        $SUDO chmod +x "$policy_rc"
        created_policy=1
    fi
    log=$(mktemp)
    cleanup() {
        if [ "$created_policy" = 1 ]; then $SUDO rm -f "$policy_rc"; fi
        rm -f "$log"
    }
    trap cleanup EXIT
    # Quiet on success; show apt's output when it fails.
    if ! { $SUDO apt-get update -q &&
           $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends \
               -o Dpkg::Use-Pty=0 "${missing[@]}"; } >"$log" 2>&1; then
        echo "install_deps: apt-get failed; its output:" >&2
        tail -n 40 "$log" >&2
        exit 1
    fi
    echo "install_deps: done"
fi

# Sanity: the commands the tests use must now exist.
rc=0
for cmd in sqlite3 redis-server redis-cli redis-benchmark git python3 timeout diff; do
    if ! command -v "$cmd" >/dev/null 2>&1; then
        echo "install_deps: missing command after install: $cmd" >&2
        rc=1
    fi
done
exit "$rc"
