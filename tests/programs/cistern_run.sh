#!/usr/bin/env bash
# tools/cistern-run, as built: options, help and version, the environment it
# hands the program (LD_PRELOAD kept after cistern, CISTERN_OPTIONS appended
# to), and a real program (perl sorting numbers) run through it with --stats.
# (Not a coreutils program: those close stderr before exit, so a report
# printed at exit has nowhere to go.)

# shellcheck source-path=SCRIPTDIR source=common.sh
. "${srcdir:-$(dirname "$0")/../..}/tests/programs/common.sh"

: "${CISTERN_RUN:=$abs_top_builddir/tools/cistern-run}"
[ -x "$CISTERN_RUN" ] || bail "no cistern-run script at $CISTERN_RUN (run make first)"
need_program perl sort env
perl=$prog
sort=$(program_path sort)
envp=$(program_path env)
need_library
make_tmpdir
export CISTERN_LIB

plan 10

"$CISTERN_RUN" --help >"$tmp/help" 2>&1
status=$?
[ "$status" -eq 0 ] && grep -q '^Usage: cistern-run ' "$tmp/help"
ok $? "--help prints the usage" || show "$tmp/help"

version=$("$CISTERN_RUN" --version 2>&1)
[[ $version =~ ^cistern-run\ \(cistern\)\ [0-9][0-9.a-z~+-]*$ ]]
ok $? "--version prints the package version ($version)"

"$CISTERN_RUN" --stats >/dev/null 2>"$tmp/noprog"
status=$?
[ "$status" -eq 2 ] && grep -q '^Usage' "$tmp/noprog"
ok $? "no program: usage on stderr, status 2 (got $status)"

CISTERN_LIB=$tmp/missing.so "$CISTERN_RUN" "$envp" >/dev/null 2>"$tmp/nolib"
status=$?
[ "$status" -eq 2 ] && grep -q 'missing.so' "$tmp/nolib"
ok $? "a missing library is reported, status 2 (got $status)" || show "$tmp/nolib"

# The environment the program gets.  The old LD_PRELOAD entry need not exist:
# ld.so warns about it and goes on.
LD_PRELOAD=$tmp/old.so CISTERN_OPTIONS=decay_ms=1000 \
    "$CISTERN_RUN" --stats --options hugepages=off -- "$envp" >"$tmp/env" 2>"$tmp/env.err"
status=$?
got_preload=$(grep '^LD_PRELOAD=' "$tmp/env")
got_options=$(grep '^CISTERN_OPTIONS=' "$tmp/env")
[ "$status" -eq 0 ] && [ "$got_preload" = "LD_PRELOAD=$CISTERN_LIB:$tmp/old.so" ]
ok $? "LD_PRELOAD: cistern first, the old entries kept" ||
    { diag "status $status, got: $got_preload"; show "$tmp/env.err"; }
[ "$got_options" = "CISTERN_OPTIONS=decay_ms=1000,stats_print=1,hugepages=off" ]
ok $? "CISTERN_OPTIONS: the environment's, then --stats, then --options" ||
    diag "got: $got_options"

# A real program through the script: perl sorts 200,000 numbers; sort(1)
# without cistern gives the expected output.
for ((i = 0; i < 200000; i++)); do
    echo $(((i * 7919 + 13) % 100003))
done >"$tmp/numbers"
"$sort" -n "$tmp/numbers" >"$tmp/want"
cat >"$tmp/sort.pl" <<'PL'
print sort { $a <=> $b } <>;
PL

env -u CISTERN_OPTIONS "$CISTERN_RUN" --stats "$perl" "$tmp/sort.pl" "$tmp/numbers" >"$tmp/got" 2>"$tmp/stats.err"
status=$?
[ "$status" -eq 0 ] && cmp -s "$tmp/want" "$tmp/got"
ok $? "cistern-run --stats perl: numbers sorted (status $status)" ||
    show "$tmp/stats.err"
check_marker "$tmp/stats.err" "perl run with --stats"

env -u CISTERN_OPTIONS "$CISTERN_RUN" "$perl" "$tmp/sort.pl" "$tmp/numbers" >"$tmp/got" 2>"$tmp/plain.err"
status=$?
[ "$status" -eq 0 ] && cmp -s "$tmp/want" "$tmp/got" && ! grep -qF -- "$CISTERN_TEST_MARKER" "$tmp/plain.err"
ok $? "without --stats: numbers sorted, no stats report (status $status)" || show "$tmp/plain.err"

env -u CISTERN_OPTIONS "$CISTERN_RUN" --options=stats_print=1 "$perl" "$tmp/sort.pl" "$tmp/numbers" \
    >/dev/null 2>"$tmp/opt.err"
check_marker "$tmp/opt.err" "perl run with --options=stats_print=1"

done_testing
