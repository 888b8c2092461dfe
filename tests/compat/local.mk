## tests/compat: build fragment, included by tests/local.mk.
##
## glibc's introspection calls (malloc_stats, malloc_info, mallinfo2,
## mallinfo, mallopt) as the drop-in library answers them, and the formats
## of the reports.  The calls exist only in libcistern, and only where no
## sanitizer owns malloc.

# Without -I lib: only the public header and <malloc.h>, the system's, so
# the structures tested are glibc's own.
COMPAT_CPPFLAGS = -I$(top_srcdir)/include -I$(top_srcdir)/tests -I$(top_builddir) $(CHECK_CFLAGS)

if !SANITIZER_OWNS_MALLOC
check_PROGRAMS += tests/compat/introspect tests/compat/dump
TESTS += tests/compat/introspect tests/compat/formats.sh
endif
tests_compat_introspect_SOURCES = tests/compat/introspect.c
tests_compat_introspect_CPPFLAGS = $(COMPAT_CPPFLAGS)
# mallinfo is deprecated in glibc's header, and tested here on purpose.
tests_compat_introspect_CFLAGS = $(AM_CFLAGS) -Wno-deprecated-declarations
tests_compat_introspect_LDADD = lib/libcistern.la $(TEST_LIBS)

tests_compat_dump_SOURCES = tests/compat/dump.c
tests_compat_dump_CPPFLAGS = $(COMPAT_CPPFLAGS)
tests_compat_dump_LDADD = lib/libcistern.la
EXTRA_DIST += tests/compat/formats.sh

TESTS += tests/compat/pkgconfig.sh
EXTRA_DIST += tests/compat/pkgconfig.sh

# Memory checkers catching bugs planted inside an arena (valgrind here; ASan
# in the --enable-asan build).  TSan builds skip it: TSan has no such report.
check_PROGRAMS += tests/compat/planted
TESTS += tests/compat/tools_catch.sh
tests_compat_planted_SOURCES = tests/compat/planted.c
tests_compat_planted_CPPFLAGS = -I$(top_srcdir)/include
tests_compat_planted_LDADD = lib/libcistern_api.la
EXTRA_DIST += tests/compat/tools_catch.sh
