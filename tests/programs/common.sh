# Shared by the real-program tests in tests/programs/ (sourced, not run).
#
# Each test runs an unmodified program from the system with libcistern
# preloaded, checks that the program did its work correctly, and checks that
# cistern really was the allocator: with CISTERN_OPTIONS=stats_print=1 the
# library prints a report to stderr at exit whose first line contains
# "cistern stats".  The tests speak TAP; a missing program skips the test.
#
# Environment (set by `make check` through AM_TESTS_ENVIRONMENT):
#   CISTERN_LIB          the library to preload
#                        (default: lib/.libs/libcistern.so of the build tree)
#   abs_top_builddir     the top of the build tree (default: the current directory)
#   CISTERN_TEST_MARKER  what the stats report must contain ("cistern stats")
#   CISTERN_TEST_TIMEOUT seconds a program may run before it counts as hung (300)

# shellcheck shell=bash

set -u

: "${abs_top_builddir:=$PWD}"
: "${CISTERN_LIB:=$abs_top_builddir/lib/.libs/libcistern.so}"
case $CISTERN_LIB in
/*) ;;
*) CISTERN_LIB=$PWD/$CISTERN_LIB ;;  # the tests change directory
esac
: "${CISTERN_TEST_MARKER:=cistern stats}"

tap_n=0
tap_failed=0
tap_planned=

# plan N: announce N checks.
plan() {
    tap_planned=$1
    echo "1..$1"
}

# ok STATUS DESCRIPTION: report one check; STATUS 0 passes.  Returns STATUS.
ok() {
    local status=$1
    shift
    tap_n=$((tap_n + 1))
    if [ "$status" -eq 0 ]; then
        echo "ok $tap_n - $*"
    else
        echo "not ok $tap_n - $*"
        tap_failed=$((tap_failed + 1))
    fi
    return "$status"
}

# diag TEXT...: a comment in the TAP stream (shown in the test's log).
diag() {
    printf '%s\n' "$@" | sed 's/^/# /'
}

# show FILE [LINES]: the last lines of FILE as TAP comments.
show() {
    [ -f "$1" ] || return 0
    diag "--- last lines of ${1##*/}:"
    tail -n "${2:-20}" "$1" | sed 's/^/# /'
}

# Under automake's TAP driver a skipped test says so in its plan and exits 0;
# run alone, or under the plain driver, it exits 77.
under_tap_driver() {
    [ -n "${AM_TAP_AWK+set}" ] && return 0
    tr '\0' ' ' <"/proc/$PPID/cmdline" 2>/dev/null | grep -q 'tap-driver'
}

# skip_all REASON: skip the whole test.
skip_all() {
    echo "1..0 # SKIP $*"
    if under_tap_driver; then exit 0; else exit 77; fi
}

# bail REASON: stop the test as failed.
bail() {
    echo "Bail out! $*"
    exit 99
}

# done_testing: check the plan and exit with the verdict.  Automake's TAP
# driver counts failures from the "not ok" lines (a non-zero status would be
# reported once more, as an error); the plain driver needs the status.
done_testing() {
    if [ -n "$tap_planned" ] && [ "$tap_n" -ne "$tap_planned" ]; then
        diag "planned $tap_planned checks, ran $tap_n"
        exit 1
    fi
    [ "$tap_failed" -eq 0 ] || under_tap_driver || exit 1
    exit 0
}

# program_path NAME: the path of an installed program.  /usr/bin is tried
# first, so that a python3 or gcc from a personal PATH (pyenv shims and the
# like) does not stand in for the system's.
program_path() {
    if [ -x "/usr/bin/$1" ]; then
        echo "/usr/bin/$1"
    else
        command -v "$1" 2>/dev/null
    fi
}

# need_program NAME...: skip unless every program is installed; the path of
# the first goes to $prog.
need_program() {
    local p
    for p in "$@"; do
        program_path "$p" >/dev/null || skip_all "$p is not installed"
    done
    # shellcheck disable=SC2034  # for the test that sources this file
    prog=$(program_path "$1")
}

# need_library: stop unless the library to preload is there (skip when the
# build made static libraries only).
need_library() {
    [ -r "$CISTERN_LIB" ] && return 0
    if grep -q "^dlname=''" "${CISTERN_LIB%/.libs/*}/libcistern.la" 2>/dev/null; then
        skip_all "built without shared libraries (--disable-shared)"
    fi
    bail "no library to preload at $CISTERN_LIB (build it first)"
}

# make_tmpdir: a scratch directory in $tmp, removed at exit, be it on a
# signal.
make_tmpdir() {
    tmp=$(mktemp -d "${TMPDIR:-/tmp}/cistern-test.XXXXXX") || bail "mktemp failed"
    trap cleanup EXIT
    trap 'exit 129' HUP
    trap 'exit 130' INT
    trap 'exit 143' TERM
}

# Tests may redefine cleanup_hook to stop what they started.
cleanup_hook() { :; }
cleanup() {
    cleanup_hook
    [ -z "${tmp-}" ] || rm -rf "$tmp"
}

# preload_exec COMMAND...: replace this (sub)shell with COMMAND, run with
# libcistern preloaded and statistics printed at exit (options already in
# CISTERN_OPTIONS are kept).  `preload_exec cmd &` leaves the pid of cmd in $!.
preload_exec() {
    export LD_PRELOAD="$CISTERN_LIB${LD_PRELOAD:+:$LD_PRELOAD}"
    export CISTERN_OPTIONS="${CISTERN_OPTIONS:+$CISTERN_OPTIONS,}stats_print=1"
    exec "$@"
}

# preloaded COMMAND...: run COMMAND as preload_exec does and wait for it, but
# for no more than CISTERN_TEST_TIMEOUT seconds (300): a hang fails the test
# (status 124) instead of stalling the suite.  timeout itself runs without
# the preload, so only COMMAND can print the stats report.
preloaded() {
    timeout -k 10 "${CISTERN_TEST_TIMEOUT:-300}" \
        env LD_PRELOAD="$CISTERN_LIB${LD_PRELOAD:+:$LD_PRELOAD}" \
        CISTERN_OPTIONS="${CISTERN_OPTIONS:+$CISTERN_OPTIONS,}stats_print=1" \
        "$@"
}

# check_marker FILE [WHAT]: the check that cistern was the allocator of the
# run (of WHAT) whose stderr went to FILE.
check_marker() {
    local desc="cistern was the allocator${2:+ of $2} (stats report on stderr)"
    if grep -qF -- "$CISTERN_TEST_MARKER" "$1"; then
        ok 0 "$desc"
    else
        ok 1 "$desc"
        diag "no line containing '$CISTERN_TEST_MARKER' in the stderr of the run"
        show "$1"
    fi
}
