# shellcheck shell=bash
# scripts/lib/cbuild.sh — sourced by scripts/test_c.sh and scripts/test_stress.sh: compiling
# the C test programs only when needed, and showing logs.

# show_log FILE LABEL [N]: the last N (15) lines of FILE, indented, when it is not empty.
show_log() {
    if [[ -s "$1" ]]; then
        echo "    --- $2 (last ${3:-15} lines) ---"
        tail -n "${3:-15}" "$1" | sed 's/^/    /'
    fi
}

# compile BIN LOG INPUT... -- CMD...: runs the compiler command CMD (which writes BIN) unless
# BIN is newer than every INPUT and was built by the same command (recorded next to BIN). On a
# compile error BIN is removed and LOG holds the compiler's output and the command.
compile() {
    local bin=$1 log=$2 input fresh=1
    shift 2
    local -a inputs=()
    while [[ $1 != -- ]]; do
        inputs+=("$1")
        shift
    done
    shift
    local stamp
    stamp="$(dirname "$bin")/.$(basename "$bin").cmd"
    if [[ -x "$bin" && -f "$stamp" && "$(cat "$stamp")" == "$*" ]]; then
        for input in "${inputs[@]}"; do
            [[ -e "$input" && "$input" -nt "$bin" ]] && fresh=0
        done
        [[ $fresh == 1 ]] && return 0
    fi
    rm -f "$bin" "$stamp"
    if "$@" >"$log" 2>&1; then
        echo "$*" >"$stamp"
    else
        echo "command: $*" >>"$log"
        rm -f "$bin"
    fi
}
