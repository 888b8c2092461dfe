## tests/fuzz: build fragment, included by tests/local.mk.
##
## The API fuzzer: tests/fuzz/interp.c reads bytes as calls to the public
## API and checks every result.  tests/fuzz/run-fuzz.sh builds it with
## clang's libFuzzer (-fsanitize=fuzzer,address,undefined) over the core's
## own sources and runs it for a bounded time; each crash it finds is saved
## under tests/fuzz/regressions/.  `make check` replays those and the seed
## inputs through the same interpreter, linked with libcistern_api.

check_PROGRAMS += tests/fuzz/replay
TESTS += tests/fuzz/replay
tests_fuzz_replay_SOURCES = tests/fuzz/replay.c tests/fuzz/interp.c tests/fuzz/interp.h
tests_fuzz_replay_CPPFLAGS = -I$(top_srcdir)/include \
	-DFZ_DEFAULT_DIRS='"$(abs_top_srcdir)/tests/fuzz/regressions", "$(abs_top_srcdir)/tests/fuzz/seeds"'
tests_fuzz_replay_LDADD = lib/libcistern_api.la -lpthread

EXTRA_DIST += tests/fuzz/api_fuzz.c tests/fuzz/run-fuzz.sh tests/fuzz/regressions \
	tests/fuzz/seeds

# What run-fuzz.sh compiles: the core's C sources (the API flavour: no
# CS_OWNS_PROCESS_MALLOC, no initial-exec TLS), relative to the source
# tree, and the warning flags the core builds with.  Each line is tagged:
# make may print other lines first (a Makefile regenerated on the way).
fuzz-core-sources:
	@for f in $(filter %.c,$(CORE_SOURCES)); do echo "fuzz-source: $$f"; done
fuzz-core-cflags:
	@echo 'fuzz-cflags: $(CS_CFLAGS)'

# Run the fuzzer for FUZZ_TIME seconds (default 60).
fuzz:
	FUZZ_BUILDDIR='$(abs_top_builddir)' bash $(top_srcdir)/tests/fuzz/run-fuzz.sh $(FUZZ_TIME)

.PHONY: fuzz fuzz-core-sources fuzz-core-cflags
