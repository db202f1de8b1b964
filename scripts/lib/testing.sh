# shellcheck shell=bash
# scripts/lib/testing.sh — sourced by the test scripts in scripts/ (bash): their option
# parsing, and the score they keep and print.
#
#   parse_options SPEC "$@"   the script's command line (see below)
#   pass TEXT                 print "PASS TEXT" and count a pass
#   fail TEXT [DETAIL...]     print "FAIL TEXT", then each DETAIL on its own line; count a
#                             failure (more details may follow from the caller)
#   skip TEXT                 print "SKIP TEXT" and count a skip
#   finish                    print "(N skipped)" when something was skipped, then
#                             "N passed, M failed" alone on the last line; returns non-zero
#                             when anything failed
#   exit_reason STATUS LIMIT  why a run that ended with STATUS under `timeout LIMIT` failed:
#                             "timed out after LIMITs", "killed by signal N (status S)",
#                             "exit status S"; nothing for 0
# The counts are T_PASSED, T_FAILED and T_SKIPPED (a script may add counts of its own).
#
# Expects ROOT (the repository root) to be set; the scripts live in $ROOT/scripts.

T_PASSED=0
T_FAILED=0
T_SKIPPED=0
# The script's name in messages ("test_stress" for scripts/test_stress.sh), and its file
# (by ROOT: $0 may be relative to a directory the script has left).
T_NAME=${0##*/}
T_NAME=${T_NAME%.sh}
T_SCRIPT=$ROOT/scripts/${0##*/}

pass() {
    echo "PASS $1"
    T_PASSED=$((T_PASSED + 1))
}

fail() {
    echo "FAIL $1"
    shift
    if [ $# -gt 0 ]; then printf '%s\n' "$@"; fi
    T_FAILED=$((T_FAILED + 1))
}

skip() {
    echo "SKIP $1"
    T_SKIPPED=$((T_SKIPPED + 1))
}

finish() {
    if [ "$T_SKIPPED" -gt 0 ]; then echo "($T_SKIPPED skipped)"; fi
    echo "$T_PASSED passed, $T_FAILED failed"
    [ "$T_FAILED" -eq 0 ]
}

exit_reason() {
    local status=$1 limit=$2
    if [ "$status" = 124 ] || [ "$status" = 137 ]; then
        echo "timed out after ${limit}s"
    elif [ "$status" -gt 128 ]; then
        echo "killed by signal $((status - 128)) (status $status)"
    elif [ "$status" != 0 ]; then
        echo "exit status $status"
    fi
}

# usage: the script's header comment (the comment lines after the #! line), without the "# ".
usage() {
    awk 'NR > 1 { if (!/^#/) exit; sub(/^# ?/, ""); print }' "$T_SCRIPT"
}

# parse_options SPEC ARGS...: SPEC lists the script's long options, comma separated, getopt
# style: "NAME:" takes a value, given as --NAME VALUE or --NAME=VALUE, which goes into the
# variable NAME (dashes become underscores); a plain "NAME" is a flag and sets its variable
# to 1. The script sets the defaults first. -h/--help prints the header comment and exits 0;
# an unknown option, or one without its value, exits 2.
#   long=0 scale=1
#   parse_options long,scale: "$@"
parse_options() {
    local _spec=",$1," _arg _name
    shift
    while [ $# -gt 0 ]; do
        _arg=$1
        shift
        _name=${_arg#--}
        _name=${_name%%=*}
        if [ "$_arg" = -h ] || [ "$_arg" = --help ]; then
            usage
            exit 0
        elif [[ $_arg == --?* && $_spec == *",$_name:,"* ]]; then
            if [[ $_arg == *=* ]]; then
                printf -v "${_name//-/_}" '%s' "${_arg#*=}"
            elif [ $# -gt 0 ]; then
                printf -v "${_name//-/_}" '%s' "$1"
                shift
            else
                echo "$T_NAME: option '$_arg' needs a value" >&2
                exit 2
            fi
        elif [[ $_arg == --?* && $_arg != *=* && $_spec == *",$_name,"* ]]; then
            printf -v "${_name//-/_}" '%s' 1
        else
            echo "$T_NAME: unknown option '$_arg'" >&2
            exit 2
        fi
    done
}
