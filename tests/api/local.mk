## tests/api: build fragment, included by tests/local.mk.
## Conformance of the public interface, through <cistern.h> only, against
## the libraries as they are installed.

API_CONFORMANCE_SOURCES = tests/api/main.c tests/api/api_suite.h tests/api/names.h \
	tests/api/family.c tests/api/align.c tests/api/death.c

# The cistern_* names against libcistern_api: in every build, sanitizers
# included (the sanitizer keeps malloc, cistern serves its own names).
check_PROGRAMS += tests/api/api_conformance
TESTS += tests/api/api_conformance
tests_api_api_conformance_SOURCES = $(API_CONFORMANCE_SOURCES)
tests_api_api_conformance_CPPFLAGS = $(TEST_CPPFLAGS)
tests_api_api_conformance_LDADD = lib/libcistern_api.la $(TEST_LIBS)

# The standard names against the drop-in library, whose malloc is the
# test's own: only where no sanitizer owns malloc.
if !SANITIZER_OWNS_MALLOC
check_PROGRAMS += tests/api/api_conformance_dropin
TESTS += tests/api/api_conformance_dropin
tests_api_api_conformance_dropin_SOURCES = $(API_CONFORMANCE_SOURCES) tests/api/glibc.c
tests_api_api_conformance_dropin_CPPFLAGS = $(TEST_CPPFLAGS) -DCS_TEST_DROPIN=1
tests_api_api_conformance_dropin_LDADD = lib/libcistern.la $(TEST_LIBS) -ldl
endif

# The exported dynamic symbols against the names the headers declare.
TESTS += tests/api/exported_symbols.sh
EXTRA_DIST += tests/api/exported_symbols.sh
