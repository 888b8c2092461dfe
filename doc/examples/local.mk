## doc/examples: build fragment, included by the top-level Makefile.am.
## Paths are relative to the top source directory (non-recursive build).

# pool: a server that runs all of its malloc from a pool it injects at
# start.  It links the drop-in library, so its plain malloc is cistern's,
# and it reports in TAP, so `make check` builds and runs it as a test.
# Under a sanitizer that owns malloc the drop-in cannot be the malloc.
if !SANITIZER_OWNS_MALLOC
check_PROGRAMS += doc/examples/pool
TESTS += doc/examples/pool
endif
doc_examples_pool_SOURCES = doc/examples/pool.c
doc_examples_pool_LDADD = lib/libcistern.la
