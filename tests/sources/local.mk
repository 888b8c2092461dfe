## tests/sources: build fragment, included by tests/local.mk.
##
## Memory sources through the public API only (<cistern.h>): pools, custom
## sources, the hugepage source, chain edits.  Each program links the API
## library, so its own malloc stays the C library's and check's bookkeeping
## never lands in the memory under test.

SOURCES_HDRS = tests/sources/srcutil.h tests/testutil.h
SOURCES_LIBS = lib/libcistern_api.la $(TEST_LIBS)

if HAVE_CHECK
SOURCES_TESTS = \
	tests/sources/pool_chain \
	tests/sources/pool_intact \
	tests/sources/pool_decommit \
	tests/sources/pool_errors \
	tests/sources/pool_arena \
	tests/sources/fault_inject \
	tests/sources/chain_threads \
	tests/sources/hugepage_thp \
	tests/sources/hugepage_tlb \
	tests/sources/regions \
	tests/sources/init_hook
check_PROGRAMS += $(SOURCES_TESTS)
TESTS += $(SOURCES_TESTS)

# pool_option preloads the drop-in library into a plain program; under a
# sanitizer that owns malloc nothing else may be preloaded.
if !SANITIZER_OWNS_MALLOC
check_PROGRAMS += tests/sources/pool_option tests/sources/preload_probe
TESTS += tests/sources/pool_option
endif
endif

tests_sources_pool_chain_SOURCES = tests/sources/pool_chain.c $(SOURCES_HDRS)
tests_sources_pool_chain_CPPFLAGS = $(TEST_CPPFLAGS)
tests_sources_pool_chain_LDADD = $(SOURCES_LIBS)

# Defines munmap to watch the library's calls: needs dlsym.
tests_sources_pool_intact_SOURCES = tests/sources/pool_intact.c $(SOURCES_HDRS)
tests_sources_pool_intact_CPPFLAGS = $(TEST_CPPFLAGS)
tests_sources_pool_intact_LDADD = $(SOURCES_LIBS) -ldl

tests_sources_pool_decommit_SOURCES = tests/sources/pool_decommit.c $(SOURCES_HDRS)
tests_sources_pool_decommit_CPPFLAGS = $(TEST_CPPFLAGS)
tests_sources_pool_decommit_LDADD = $(SOURCES_LIBS)

tests_sources_pool_errors_SOURCES = tests/sources/pool_errors.c $(SOURCES_HDRS)
tests_sources_pool_errors_CPPFLAGS = $(TEST_CPPFLAGS)
tests_sources_pool_errors_LDADD = $(SOURCES_LIBS)

tests_sources_pool_arena_SOURCES = tests/sources/pool_arena.c $(SOURCES_HDRS)
tests_sources_pool_arena_CPPFLAGS = $(TEST_CPPFLAGS)
tests_sources_pool_arena_LDADD = $(SOURCES_LIBS)

tests_sources_fault_inject_SOURCES = tests/sources/fault_inject.c $(SOURCES_HDRS)
tests_sources_fault_inject_CPPFLAGS = $(TEST_CPPFLAGS)
tests_sources_fault_inject_LDADD = $(SOURCES_LIBS)

tests_sources_chain_threads_SOURCES = tests/sources/chain_threads.c $(SOURCES_HDRS)
tests_sources_chain_threads_CPPFLAGS = $(TEST_CPPFLAGS)
tests_sources_chain_threads_LDADD = $(SOURCES_LIBS)

# One source, two programs: with huge pages reserved (root only, else the
# program skips) and with none to be had.
tests_sources_hugepage_thp_SOURCES = tests/sources/hugepage.c $(SOURCES_HDRS)
tests_sources_hugepage_thp_CPPFLAGS = $(TEST_CPPFLAGS) -DWANT_HUGETLB=0
tests_sources_hugepage_thp_LDADD = $(SOURCES_LIBS)
tests_sources_hugepage_tlb_SOURCES = tests/sources/hugepage.c $(SOURCES_HDRS)
tests_sources_hugepage_tlb_CPPFLAGS = $(TEST_CPPFLAGS) -DWANT_HUGETLB=1
tests_sources_hugepage_tlb_LDADD = $(SOURCES_LIBS)

tests_sources_regions_SOURCES = tests/sources/regions.c $(SOURCES_HDRS)
tests_sources_regions_CPPFLAGS = $(TEST_CPPFLAGS)
tests_sources_regions_LDADD = $(SOURCES_LIBS)

tests_sources_init_hook_SOURCES = tests/sources/init_hook.c $(SOURCES_HDRS)
tests_sources_init_hook_CPPFLAGS = $(TEST_CPPFLAGS)
tests_sources_init_hook_LDADD = $(SOURCES_LIBS)

tests_sources_pool_option_SOURCES = tests/sources/pool_option.c $(SOURCES_HDRS)
tests_sources_pool_option_CPPFLAGS = $(TEST_CPPFLAGS) \
	-DCS_DROPIN_LIB='"$(abs_top_builddir)/lib/.libs/libcistern.so"' \
	-DCS_PROBE='"$(abs_top_builddir)/tests/sources/preload_probe"'
tests_sources_pool_option_LDADD = $(SOURCES_LIBS)
# Plain on purpose: it must not link cistern, only find it preloaded.
tests_sources_preload_probe_SOURCES = tests/sources/preload_probe.c
tests_sources_preload_probe_LDADD = -ldl
