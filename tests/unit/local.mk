## tests/unit: build fragment, included by tests/local.mk.
##
## One check program per core module.  They link the core convenience
## library, which holds the internals, so they can call cs_* functions; the
## programs' own malloc stays the C library's.  The fake source is compiled
## into each program that needs it.

UNIT_FAKE = tests/unit/fake_source.c tests/unit/fake_source.h tests/unit/unit.h

if HAVE_CHECK
UNIT_TESTS = \
	tests/unit/test_sizeclass \
	tests/unit/test_pagemap \
	tests/unit/test_pageheap \
	tests/unit/test_central \
	tests/unit/test_tcache \
	tests/unit/test_malloc \
	tests/unit/test_meta \
	tests/unit/test_threads
check_PROGRAMS += $(UNIT_TESTS)
TESTS += $(UNIT_TESTS)
endif

tests_unit_test_sizeclass_SOURCES = tests/unit/test_sizeclass.c tests/unit/unit.h
tests_unit_test_sizeclass_CPPFLAGS = $(TEST_CPPFLAGS)
tests_unit_test_sizeclass_LDADD = lib/libcistern_core.la $(TEST_LIBS)

tests_unit_test_pagemap_SOURCES = tests/unit/test_pagemap.c tests/unit/unit.h
tests_unit_test_pagemap_CPPFLAGS = $(TEST_CPPFLAGS)
tests_unit_test_pagemap_LDADD = lib/libcistern_core.la $(TEST_LIBS)

tests_unit_test_pageheap_SOURCES = tests/unit/test_pageheap.c $(UNIT_FAKE)
tests_unit_test_pageheap_CPPFLAGS = $(TEST_CPPFLAGS)
tests_unit_test_pageheap_LDADD = lib/libcistern_core.la $(TEST_LIBS)

tests_unit_test_central_SOURCES = tests/unit/test_central.c $(UNIT_FAKE)
tests_unit_test_central_CPPFLAGS = $(TEST_CPPFLAGS)
tests_unit_test_central_LDADD = lib/libcistern_core.la $(TEST_LIBS)

tests_unit_test_tcache_SOURCES = tests/unit/test_tcache.c $(UNIT_FAKE)
tests_unit_test_tcache_CPPFLAGS = $(TEST_CPPFLAGS)
tests_unit_test_tcache_LDADD = lib/libcistern_core.la $(TEST_LIBS)

tests_unit_test_malloc_SOURCES = tests/unit/test_malloc.c $(UNIT_FAKE)
tests_unit_test_malloc_CPPFLAGS = $(TEST_CPPFLAGS)
tests_unit_test_malloc_LDADD = lib/libcistern_core.la $(TEST_LIBS)

tests_unit_test_meta_SOURCES = tests/unit/test_meta.c tests/unit/unit.h
tests_unit_test_meta_CPPFLAGS = $(TEST_CPPFLAGS)
tests_unit_test_meta_LDADD = lib/libcistern_core.la $(TEST_LIBS)

tests_unit_test_threads_SOURCES = tests/unit/test_threads.c tests/unit/unit.h
tests_unit_test_threads_CPPFLAGS = $(TEST_CPPFLAGS)
tests_unit_test_threads_LDADD = lib/libcistern_core.la $(TEST_LIBS)
