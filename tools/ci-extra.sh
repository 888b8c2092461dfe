#!/usr/bin/env bash
# ci-extra.sh [STEP...] - the checks beyond `make check`, each in a copy of
# the tree of its own and each bounded in time:
#
#   asan      --enable-asan --enable-ubsan build; `make check` on the test
#             programs that run under AddressSanitizer (unit, api, sources,
#             stress, arena, device, lifecycle, fuzz replay, cross smoke)
#   tsan      --enable-tsan build; `make check` on the threaded tests
#   valgrind  python3 and sqlite3 workloads with the normal build's
#             libcistern.so preloaded, under memcheck twice: with memcheck's
#             allocator in cistern's place (--soname-synonyms=somalloc=
#             *cistern*), and with cistern's own allocator reporting its
#             blocks to memcheck; each run must end "ERROR SUMMARY: 0 errors"
#   fuzz      tests/fuzz/run-fuzz.sh for FUZZ_TIME seconds (default 120);
#             a crash is saved under tests/fuzz/regressions/ of this tree
#   cross     make check-cross CROSS_ARCHES="aarch64 armhf s390x" (qemu-user)
#
# With no STEP, all of them, in that order.  Every step runs even when an
# earlier one failed; the script prints each step's time and result at the
# end and fails when any step failed.
#
# The tree is copied first (the files git tracks or does not ignore, as
# tools/cross/run-cross.sh does), bootstrapped once with autoreconf, and
# each build configures its own copy in place.
#
# Environment:
#   CI_EXTRA_DIR       where to build (default: ./build-extra)
#   CI_EXTRA_JOBS      parallel make jobs (default: the number of CPUs)
#   CI_EXTRA_INSTALL   1: install what a step lacks with apt-get (as root)
#   FUZZ_TIME          seconds of fuzzing (default 120)
#   CROSS_ARCHES       architectures for the cross step (default "aarch64 armhf s390x")
#   STEP_TIMEOUT_<STEP> seconds a step may take (defaults below)
#
# Debian packages the steps use: autoconf automake libtool pkg-config check
# libatomic-ops-dev (the build); valgrind python3 sqlite3 (valgrind); clang
# libclang-rt-14-dev (fuzz); qemu-user gcc-aarch64-linux-gnu
# gcc-s390x-linux-gnu check:arm64 check:s390x (cross, which
# tools/cross/run-cross.sh --install-deps installs).
set -uo pipefail

srcdir=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
work=${CI_EXTRA_DIR:-$srcdir/build-extra}
jobs=${CI_EXTRA_JOBS:-$(nproc 2>/dev/null || echo 2)}
fuzz_time=${FUZZ_TIME:-120}
cross_arches=${CROSS_ARCHES:-aarch64 armhf s390x}

# Bounds that keep the whole run near 30 minutes on 2 cores.
: "${STEP_TIMEOUT_asan:=600}" "${STEP_TIMEOUT_tsan:=420}" "${STEP_TIMEOUT_valgrind:=300}"
: "${STEP_TIMEOUT_fuzz:=$((fuzz_time + 180))}" "${STEP_TIMEOUT_cross:=900}"

steps=("$@")
[ ${#steps[@]} -gt 0 ] || steps=(asan tsan valgrind fuzz cross)
for s in "${steps[@]}"; do
    case $s in asan | tsan | valgrind | fuzz | cross) ;; *)
        echo "ci-extra: unknown step '$s' (asan tsan valgrind fuzz cross)" >&2
        exit 2
        ;;
    esac
done

mkdir -p "$work"
work=$(cd "$work" && pwd)
say() { printf '\n==> %s\n' "$*"; }

# ---- the tree, copied and bootstrapped once ---------------------------------------

# Copy the source tree to $1: what git tracks or does not ignore (without
# git: everything but build outputs), never the build directory itself.
snapshot() {
    local dst=$1 rel=/nonexistent
    mkdir -p "$dst"
    case $work/ in "$srcdir"/*) rel=${work#"$srcdir"/} ;; esac
    if git -C "$srcdir" rev-parse --is-inside-work-tree >/dev/null 2>&1; then
        (cd "$srcdir" && git ls-files -z --cached --others --exclude-standard \
            --exclude="/$rel/" | while IFS= read -r -d '' f; do
                [ -e "$f" ] && printf '%s\0' "$f"
            done | tar --null -T - -cf -) | tar -C "$dst" -xf -
    else
        (cd "$srcdir" && tar --exclude=.git --exclude=.libs --exclude=.deps \
            --exclude="./$rel" --exclude='*.o' --exclude='*.lo' --exclude='*.la' \
            --exclude=config.status --exclude=config.h --exclude=Makefile -cf - .) |
            tar -C "$dst" -xf -
    fi
}

prepare_base() {
    rm -rf "$work/base"
    snapshot "$work/base"
    (cd "$work/base" && autoreconf -fi >autoreconf.log 2>&1) ||
        { cat "$work/base/autoreconf.log"; return 1; }
}

# configure_copy NAME ARGS...: a fresh copy of the base, configured and built.
configure_copy() {
    local name=$1
    shift
    rm -rf "${work:?}/$name"
    cp -a "$work/base" "$work/$name"
    (cd "$work/$name" && ./configure -q "$@" >configure.out 2>&1) ||
        { tail -n 30 "$work/$name/configure.out"; return 1; }
    make -C "$work/$name" -j"$jobs" -s >"$work/$name/build.log" 2>&1 ||
        { tail -n 40 "$work/$name/build.log"; return 1; }
}

# The compiled test programs among TESTS of the build in $1.
check_programs() {
    make -s -C "$1" -f Makefile -f - ci-extra-print-programs <<'EOF' | sed -n 's/^programs: //p'
ci-extra-print-programs:
	@echo "programs: $(filter $(check_PROGRAMS),$(TESTS))"
EOF
}

# run_check DIR PATTERN: `make check` on the test programs whose path
# matches the extended regular expression PATTERN; prints the summary.
run_check() {
    local dir=$1 pattern=$2 list
    list=$(check_programs "$dir" | tr ' ' '\n' | grep -E "$pattern" | tr '\n' ' ')
    [ -n "$list" ] || { echo "no test programs match $pattern"; return 1; }
    echo "tests: $list"
    local rc=0
    make -C "$dir" -j"$jobs" check TESTS="$list" >"$dir/check.out" 2>&1 || rc=$?
    grep -E '^(# (TOTAL|PASS|SKIP|XFAIL|FAIL|XPASS|ERROR)|(FAIL|ERROR):)' "$dir/check.out" | sort -u
    if [ $rc -ne 0 ]; then
        local log
        for log in $(grep -lE '^:test-result: (FAIL|ERROR)' $(find "$dir/tests" -name '*.trs') 2>/dev/null); do
            printf '\n----- %s\n' "${log%.trs}.log"
            grep -vE '^(ok|PASS)' "${log%.trs}.log" | head -n 40
        done
    fi
    return $rc
}

# ---- the steps ----------------------------------------------------------------------------

step_asan() {
    configure_copy asan --enable-asan --enable-ubsan || return 1
    # Left out: test_central and test_tcache measure the thread and transfer
    # caches, which an ASan build bypasses so that every object passes the
    # poisoning hooks; arena_threads bounds committed bytes that the
    # bypassed caches make larger.
    # The check programs fork a child per test; leak reports from those
    # children are check's own bookkeeping, not the library's.
    ASAN_OPTIONS=detect_leaks=0:abort_on_error=1:allow_user_segv_handler=1 \
        UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
        run_check "$work/asan" \
        '^tests/(unit/test_(sizeclass|pagemap|pageheap|malloc)|api/|sources/|stress/|arena/arena_(basic|reset|tcache|walk|stats|scale)|device/|lifecycle/|fuzz/|cross/)'
}

step_tsan() {
    configure_copy tsan --enable-tsan || return 1
    # die_after_fork=0: stress_fork forks while threads run, by design.
    TSAN_OPTIONS=halt_on_error=1:second_deadlock_stack=1:die_after_fork=0 \
        run_check "$work/tsan" \
        '^tests/(stress/|sources/chain_threads|unit/test_tcache|lifecycle/faults)'
}

# memcheck EXPECTED COMMAND...: one program under memcheck, both ways,
# with stdin replayed to each run and @TMP@ in an argument replaced by a
# fresh directory.  Fails unless both runs print the line EXPECTED and say
# "ERROR SUMMARY: 0 errors".
memcheck() {
    local expected=$1 lib=$work/normal/lib/.libs/libcistern.so input rc=0 how syn
    shift
    input=$(mktemp)
    cat >"$input"
    for how in replaced own; do
        # replaced: memcheck's allocator stands in for cistern's malloc
        #   family (the library still initialises and runs its threads);
        # own: a synonym that matches nothing keeps cistern's allocator,
        #   which reports its blocks to memcheck through client requests.
        [ $how = replaced ] && syn='somalloc=*cistern*' || syn='somalloc=nomatch'
        local out=$work/valgrind-$(basename "$1")-$how.log tmp arg args=()
        tmp=$(mktemp -d)
        for arg in "$@"; do args+=("${arg//@TMP@/$tmp}"); done
        LD_PRELOAD=$lib PYTHONMALLOC=malloc CISTERN_OPTIONS=stats_print=1 \
            valgrind --tool=memcheck --soname-synonyms="$syn" --error-exitcode=99 \
            --track-origins=yes --num-callers=30 "${args[@]}" <"$input" >"$out" 2>&1
        local status=$? summary served=no
        rm -rf "$tmp"
        summary=$(grep -m1 'ERROR SUMMARY' "$out" | sed 's/^==[0-9]*== //')
        grep -q 'cistern stats' "$out" && served=yes
        printf '  %-8s %-9s exit %d, %s (cistern stats printed: %s)\n' "$(basename "$1")" \
            "$how" "$status" "${summary:-no summary}" "$served"
        if [ $status -ne 0 ] || ! grep -q 'ERROR SUMMARY: 0 errors' "$out" ||
            ! grep -qxF "$expected" "$out"; then
            rc=1
            grep -vE '^==[0-9]+== *$' "$out" | grep -vE '^ *(source|arena|metadata)' | head -n 40
        fi
    done
    rm -f "$input"
    return $rc
}

step_valgrind() {
    command -v valgrind >/dev/null || { echo "valgrind is not installed"; return 1; }
    [ -f "$work/normal/lib/.libs/libcistern.so" ] || configure_copy normal || return 1
    local rc=0 py=/usr/bin/python3
    [ -x $py ] || py=$(command -v python3)
    memcheck "python ok" "$py" - <<'PY' || rc=1
import json, re, threading
d = {("k%d" % i): [i] * (i % 7) for i in range(20000)}
assert json.loads(json.dumps(d)) == d
text = " ".join("ab%d" % i for i in range(20000))
assert len(re.findall(r"ab\d*7\b", text)) == 2000
out = []
def work(n):
    out.append(sum(len(str(x)) for x in range(n)))
threads = [threading.Thread(target=work, args=(20000,)) for _ in range(4)]
for t in threads: t.start()
for t in threads: t.join()
assert sum(out) == 4 * 88890
print("python ok")
PY
    memcheck "16000|1" "$(command -v sqlite3)" @TMP@/t.db <<'SQL' || rc=1
CREATE TABLE t(a INTEGER PRIMARY KEY, b TEXT, c BLOB);
WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 20000)
INSERT INTO t SELECT i, printf('row-%d-%s', i, hex(randomblob(16))), randomblob(i % 500) FROM n;
CREATE INDEX tb ON t(b);
SELECT count(*) FROM t WHERE b LIKE 'row-1%';
UPDATE t SET c = randomblob(100) WHERE a % 3 = 0;
DELETE FROM t WHERE a % 5 = 0;
VACUUM;
SELECT count(*), sum(length(c)) > 0 FROM t;
SQL
    return $rc
}

step_fuzz() {
    [ -f "$work/normal/config.h" ] || configure_copy normal || return 1
    local rc=0 before
    before=$(ls "$work/normal/tests/fuzz/regressions" 2>/dev/null)
    FUZZ_BUILDDIR=$work/normal FUZZ_WORKDIR=$work/fuzz-work \
        bash "$work/normal/tests/fuzz/run-fuzz.sh" "$fuzz_time" || rc=$?
    # New crash inputs go back to the tree this script came from.
    local f
    mkdir -p "$srcdir/tests/fuzz/regressions"
    for f in "$work"/normal/tests/fuzz/regressions/*; do
        [ -f "$f" ] || continue
        if ! grep -qx "$(basename "$f")" <<<"$before"; then
            cp "$f" "$srcdir/tests/fuzz/regressions/" &&
                echo "saved tests/fuzz/regressions/$(basename "$f")"
        fi
    done
    return $rc
}

step_cross() {
    local a missing=()
    for a in $cross_arches; do
        case $a in
        aarch64 | arm64) command -v aarch64-linux-gnu-gcc >/dev/null || missing+=("$a") ;;
        s390x) command -v s390x-linux-gnu-gcc >/dev/null || missing+=("$a") ;;
        armhf | arm) command -v arm-linux-gnueabihf-gcc >/dev/null || missing+=("$a") ;;
        esac
    done
    if [ ${#missing[@]} -gt 0 ]; then
        if [ "${CI_EXTRA_INSTALL:-0}" = 1 ]; then
            bash "$srcdir/tools/cross/run-cross.sh" --install-deps $cross_arches || return 1
        else
            echo "cross compilers missing for: ${missing[*]} (CI_EXTRA_INSTALL=1 installs them)"
            return 1
        fi
    fi
    [ -f "$work/normal/Makefile" ] || configure_copy normal || return 1
    CROSS_BUILD_DIR=$work/cross CROSS_JOBS=$jobs \
        make -C "$work/normal" check-cross CROSS_ARCHES="$cross_arches" >"$work/cross.out" 2>&1
    local rc=$?
    grep -E '^(==>|# (TOTAL|PASS|SKIP|FAIL|ERROR)|(FAIL|ERROR):)' "$work/cross.out"
    [ $rc -eq 0 ] || tail -n 40 "$work/cross.out"
    return $rc
}

# ---- driver ------------------------------------------------------------------------------

declare -A took result
t_all=$SECONDS
say "Preparing the tree in $work"
t0=$SECONDS
prepare_base || { echo "ci-extra: bootstrap failed" >&2; exit 1; }
echo "bootstrapped in $((SECONDS - t0)) s"
# The normal build serves valgrind, fuzz and cross: build it once.
case " ${steps[*]} " in *" valgrind "* | *" fuzz "* | *" cross "*)
    say "Normal build"
    t0=$SECONDS
    configure_copy normal || { echo "ci-extra: the normal build failed" >&2; exit 1; }
    echo "built in $((SECONDS - t0)) s"
    ;;
esac

export -f snapshot configure_copy check_programs run_check memcheck \
    step_asan step_tsan step_valgrind step_fuzz step_cross
export work jobs fuzz_time cross_arches srcdir
for s in "${steps[@]}"; do
    limit_var=STEP_TIMEOUT_$s
    say "Step $s (at most ${!limit_var} s)"
    t0=$SECONDS
    timeout -k 20 "${!limit_var}" bash -c "step_$s"
    rc=$?
    took[$s]=$((SECONDS - t0))
    case $rc in
    0) result[$s]=passed ;;
    124 | 137) result[$s]="TIMED OUT" ;;
    *) result[$s]="FAILED ($rc)" ;;
    esac
    echo "step $s: ${result[$s]} in ${took[$s]} s"
done

say "Summary ($((SECONDS - t_all)) s in all)"
failed=0
for s in "${steps[@]}"; do
    printf '  %-9s %-12s %5d s\n' "$s" "${result[$s]}" "${took[$s]}"
    [ "${result[$s]}" = passed ] || failed=1
done
exit $failed
