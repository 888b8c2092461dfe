## tests/arena: build fragment, included by tests/local.mk.
##
## Arenas through the public API only (<cistern.h>): create, reset, destroy,
## the arena malloc family, thread caches and epochs, walks, statistics and
## scale.  Each program links libcistern_api, so its own malloc stays the C
## library's and check's bookkeeping never lands in an arena under test.

ARENA_HDRS = tests/arena/arutil.h tests/testutil.h
ARENA_LIBS = lib/libcistern_api.la $(TEST_LIBS)

# The library's internal check level (config.h): a debug build stops at the
# use of a destroyed arena, a release build answers EINVAL.  The public
# header does not carry it, so it is handed to the test that cares.
ARENA_DEBUG_LEVEL = $(shell sed -n 's/^\#define CISTERN_DEBUG \([0-9][0-9]*\).*/\1/p' \
	$(top_builddir)/config.h 2>/dev/null)

if HAVE_CHECK
ARENA_TESTS = \
	tests/arena/arena_basic \
	tests/arena/arena_reset \
	tests/arena/arena_tcache \
	tests/arena/arena_threads \
	tests/arena/arena_walk \
	tests/arena/arena_stats \
	tests/arena/arena_scale
check_PROGRAMS += $(ARENA_TESTS)
TESTS += $(ARENA_TESTS)
endif

tests_arena_arena_basic_SOURCES = tests/arena/basic.c $(ARENA_HDRS)
tests_arena_arena_basic_CPPFLAGS = $(TEST_CPPFLAGS) -DCS_TEST_DEBUG_LEVEL=0$(ARENA_DEBUG_LEVEL)
tests_arena_arena_basic_LDADD = $(ARENA_LIBS)
# Reconfiguring with another debug level must rebuild the test that reads it.
tests/arena/arena_basic-basic.$(OBJEXT): $(top_builddir)/config.h

tests_arena_arena_reset_SOURCES = tests/arena/reset.c $(ARENA_HDRS)
tests_arena_arena_reset_CPPFLAGS = $(TEST_CPPFLAGS)
tests_arena_arena_reset_LDADD = $(ARENA_LIBS)

tests_arena_arena_tcache_SOURCES = tests/arena/tcache.c $(ARENA_HDRS)
tests_arena_arena_tcache_CPPFLAGS = $(TEST_CPPFLAGS)
tests_arena_arena_tcache_LDADD = $(ARENA_LIBS)

tests_arena_arena_threads_SOURCES = tests/arena/threads.c $(ARENA_HDRS)
tests_arena_arena_threads_CPPFLAGS = $(TEST_CPPFLAGS)
tests_arena_arena_threads_LDADD = $(ARENA_LIBS)

tests_arena_arena_walk_SOURCES = tests/arena/walk.c $(ARENA_HDRS)
tests_arena_arena_walk_CPPFLAGS = $(TEST_CPPFLAGS)
tests_arena_arena_walk_LDADD = $(ARENA_LIBS)

# The JSON report is checked with python3 when the machine has it.
tests_arena_arena_stats_SOURCES = tests/arena/stats.c $(ARENA_HDRS)
tests_arena_arena_stats_CPPFLAGS = $(TEST_CPPFLAGS)
tests_arena_arena_stats_LDADD = $(ARENA_LIBS)

tests_arena_arena_scale_SOURCES = tests/arena/scale.c $(ARENA_HDRS)
tests_arena_arena_scale_CPPFLAGS = $(TEST_CPPFLAGS)
tests_arena_arena_scale_LDADD = $(ARENA_LIBS)
