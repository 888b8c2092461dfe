## tests/programs: build fragment, included by the top-level Makefile.am.
## Paths are relative to the top source directory (non-recursive build).

# Real programs from the system (python3, sqlite3, gcc, redis-server, perl
# through tools/cistern-run) run with the freshly built libcistern.so
# preloaded.  Each checks the program's results and that cistern's stats
# report (CISTERN_OPTIONS=stats_print=1) appeared on stderr, so a run that
# silently fell back to the system malloc fails.  They speak TAP; a program
# that is not installed makes its test skip.
PROGRAM_TESTS = \
	tests/programs/python3.sh \
	tests/programs/sqlite3.sh \
	tests/programs/gcc.sh \
	tests/programs/redis.sh \
	tests/programs/cistern_run.sh

# Under ASan or TSan the sanitizer owns malloc and its runtime must come
# first, so the drop-in library cannot be preloaded into other programs.
if !SANITIZER_OWNS_MALLOC
TESTS += $(PROGRAM_TESTS)
endif
EXTRA_DIST += $(PROGRAM_TESTS) tests/programs/common.sh

# The drop-in library as libtool leaves it in the build tree.
AM_TESTS_ENVIRONMENT += \
	abs_top_builddir='$(abs_top_builddir)'; export abs_top_builddir; \
	CISTERN_LIB='$(abs_top_builddir)/lib/.libs/libcistern.so'; export CISTERN_LIB;
