## tests/stress: build fragment, included by tests/local.mk.
## Multithreaded checks with a fixed amount of work each.  They call the
## allocation functions through tests/api/names.h: the drop-in library's
## malloc where it can own malloc, the cistern_* names of libcistern_api
## under ASan or TSan (whose builds run these too).

if SANITIZER_OWNS_MALLOC
STRESS_LIB = lib/libcistern_api.la
STRESS_NAMES =
else
STRESS_LIB = lib/libcistern.la
STRESS_NAMES = -DCS_TEST_DROPIN=1
endif
STRESS_CPPFLAGS = $(TEST_CPPFLAGS) -I$(top_srcdir)/tests/api $(STRESS_NAMES)

STRESS_TESTS = tests/stress/stress_cross_thread tests/stress/stress_thread_exit \
	tests/stress/stress_fork
check_PROGRAMS += $(STRESS_TESTS)
TESTS += $(STRESS_TESTS)
EXTRA_DIST += tests/stress/stress.h

tests_stress_stress_cross_thread_SOURCES = tests/stress/cross_thread.c
tests_stress_stress_cross_thread_CPPFLAGS = $(STRESS_CPPFLAGS)
tests_stress_stress_cross_thread_LDADD = $(STRESS_LIB) $(TEST_LIBS)

tests_stress_stress_thread_exit_SOURCES = tests/stress/thread_exit.c
tests_stress_stress_thread_exit_CPPFLAGS = $(STRESS_CPPFLAGS)
tests_stress_stress_thread_exit_LDADD = $(STRESS_LIB) $(TEST_LIBS)

tests_stress_stress_fork_SOURCES = tests/stress/fork_churn.c
tests_stress_stress_fork_CPPFLAGS = $(STRESS_CPPFLAGS)
tests_stress_stress_fork_LDADD = $(STRESS_LIB) $(TEST_LIBS)
