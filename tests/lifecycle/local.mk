## tests/lifecycle: build fragment, included by tests/local.mk.
##
## Teardown and unloading (design invariant 6), the secondary allocator and
## the stops on bad pointers (invariant 7), and sources that fail.  Every
## program uses the public API; all but unload link libcistern_api, so
## their own malloc stays the C library's.

LC_HDRS = tests/lifecycle/lcutil.h tests/testutil.h
# The public header and the tests' own only: the library's internal
# headers stay out of the path (one of them is named malloc.h).
LC_CPPFLAGS = -I$(top_srcdir)/include -I$(top_srcdir)/tests $(CHECK_CFLAGS)
LC_LIBS = lib/libcistern_api.la $(TEST_LIBS)

# The plugin unload dlopens: a module of its own linking libcistern_api,
# built only for `make check`.  -rpath makes libtool build it shared; the
# run path lets dlopen find the uninstalled libcistern_api without
# LD_LIBRARY_PATH (the test program links no cistern library, so no
# libtool wrapper sets one).
check_LTLIBRARIES = tests/lifecycle/lc_plugin.la
tests_lifecycle_lc_plugin_la_SOURCES = tests/lifecycle/plugin.c tests/lifecycle/plugin.h
tests_lifecycle_lc_plugin_la_CPPFLAGS = -I$(top_srcdir)/include
tests_lifecycle_lc_plugin_la_LIBADD = lib/libcistern_api.la -lpthread
tests_lifecycle_lc_plugin_la_LDFLAGS = $(AM_LDFLAGS) -module -avoid-version -rpath /nowhere \
	-Wl,-rpath,$(abs_top_builddir)/lib/.libs

if HAVE_CHECK
LC_TESTS = tests/lifecycle/unload tests/lifecycle/teardown_again \
	tests/lifecycle/secondary tests/lifecycle/hardening tests/lifecycle/faults \
	tests/lifecycle/routing
# It defines malloc itself: not where a sanitizer's runtime owns malloc.
if !SANITIZER_OWNS_MALLOC
LC_TESTS += tests/lifecycle/secondary_interposed
endif
check_PROGRAMS += $(LC_TESTS)
TESTS += $(LC_TESTS)
endif

# The same, read from the library's dynamic section: names the cause.
TESTS += tests/lifecycle/api_unloadable.sh
EXTRA_DIST += tests/lifecycle/api_unloadable.sh

tests_lifecycle_unload_SOURCES = tests/lifecycle/unload.c tests/lifecycle/plugin.h $(LC_HDRS)
tests_lifecycle_unload_CPPFLAGS = $(LC_CPPFLAGS) \
	-DLC_PLUGIN='"$(abs_top_builddir)/tests/lifecycle/.libs/lc_plugin.so"'
tests_lifecycle_unload_LDADD = $(TEST_LIBS) -ldl
# dlopen finds the plugin by path: build it before the program runs.
EXTRA_tests_lifecycle_unload_DEPENDENCIES = tests/lifecycle/lc_plugin.la

# The plugin's workload, linked in: teardown instead of dlclose.
tests_lifecycle_teardown_again_SOURCES = tests/lifecycle/teardown_again.c \
	tests/lifecycle/plugin.c tests/lifecycle/plugin.h $(LC_HDRS)
tests_lifecycle_teardown_again_CPPFLAGS = $(LC_CPPFLAGS)
tests_lifecycle_teardown_again_LDADD = $(LC_LIBS)

tests_lifecycle_secondary_SOURCES = tests/lifecycle/secondary.c $(LC_HDRS)
tests_lifecycle_secondary_CPPFLAGS = $(LC_CPPFLAGS)
tests_lifecycle_secondary_LDADD = $(LC_LIBS)

tests_lifecycle_secondary_interposed_SOURCES = tests/lifecycle/secondary_interposed.c $(LC_HDRS)
tests_lifecycle_secondary_interposed_CPPFLAGS = $(LC_CPPFLAGS)
tests_lifecycle_secondary_interposed_LDADD = $(LC_LIBS)
# Its malloc family must be the process's, as a preloaded allocator's is:
# exported, so the dynamic linker (and glibc itself) binds to it.
tests_lifecycle_secondary_interposed_LDFLAGS = $(AM_LDFLAGS) -export-dynamic

tests_lifecycle_hardening_SOURCES = tests/lifecycle/hardening.c $(LC_HDRS)
tests_lifecycle_hardening_CPPFLAGS = $(LC_CPPFLAGS)
tests_lifecycle_hardening_LDADD = $(LC_LIBS)

tests_lifecycle_faults_SOURCES = tests/lifecycle/faults.c $(LC_HDRS)
tests_lifecycle_faults_CPPFLAGS = $(LC_CPPFLAGS)
tests_lifecycle_faults_LDADD = $(LC_LIBS)

tests_lifecycle_routing_SOURCES = tests/lifecycle/routing.c $(LC_HDRS)
tests_lifecycle_routing_CPPFLAGS = $(LC_CPPFLAGS)
tests_lifecycle_routing_LDADD = $(LC_LIBS)
