## bench: build fragment, included by the top-level Makefile.am.
##
## The benchmarks are EXTRA_PROGRAMS: neither 'make' nor 'make check'
## builds them.  'make bench-programs' builds them, 'make bench' also runs
## them against cistern and the peer allocators (extra runner options go
## in BENCH_ARGS, e.g. make bench BENCH_ARGS=--quick).
##
## They use only the standard malloc family and are linked against
## nothing of cistern's: every allocator, cistern included, is swapped in
## with LD_PRELOAD, so all of them run the very same binaries.
##
## This fragment is included before the other ones, so it sets
## EXTRA_PROGRAMS with '='; later fragments must append with '+='.

BENCH_PROGS = \
	bench/churn_small \
	bench/server_mt \
	bench/prodcons \
	bench/mixed_ws \
	bench/large \
	bench/realloc_grow \
	bench/mass_free \
	bench/short_threads

EXTRA_PROGRAMS = $(BENCH_PROGS)
CLEANFILES += $(BENCH_PROGS:=$(EXEEXT))
EXTRA_DIST += bench/run bench/README.md

# Per-target flags replace AM_CFLAGS/AM_LDFLAGS on purpose: the project
# flags may carry sanitizer options (--enable-asan), and a sanitizer's own
# malloc would sit in front of whatever allocator is preloaded.  -O2 is
# set here because the numbers mean nothing at -O0.
BENCH_COMPILE_FLAGS = -std=gnu11 -O2 -Wall -Wextra -pthread
BENCH_LINK_FLAGS = -pthread

bench_churn_small_SOURCES = bench/churn_small.c bench/bench_util.h
bench_churn_small_CFLAGS = $(BENCH_COMPILE_FLAGS)
bench_churn_small_LDFLAGS = $(BENCH_LINK_FLAGS)

bench_server_mt_SOURCES = bench/server_mt.c bench/bench_util.h
bench_server_mt_CFLAGS = $(BENCH_COMPILE_FLAGS)
bench_server_mt_LDFLAGS = $(BENCH_LINK_FLAGS)

bench_prodcons_SOURCES = bench/prodcons.c bench/bench_util.h
bench_prodcons_CFLAGS = $(BENCH_COMPILE_FLAGS)
bench_prodcons_LDFLAGS = $(BENCH_LINK_FLAGS)

bench_mixed_ws_SOURCES = bench/mixed_ws.c bench/bench_util.h
bench_mixed_ws_CFLAGS = $(BENCH_COMPILE_FLAGS)
bench_mixed_ws_LDFLAGS = $(BENCH_LINK_FLAGS)

bench_large_SOURCES = bench/large.c bench/bench_util.h
bench_large_CFLAGS = $(BENCH_COMPILE_FLAGS)
bench_large_LDFLAGS = $(BENCH_LINK_FLAGS)

bench_realloc_grow_SOURCES = bench/realloc_grow.c bench/bench_util.h
bench_realloc_grow_CFLAGS = $(BENCH_COMPILE_FLAGS)
bench_realloc_grow_LDFLAGS = $(BENCH_LINK_FLAGS)

bench_mass_free_SOURCES = bench/mass_free.c bench/bench_util.h
bench_mass_free_CFLAGS = $(BENCH_COMPILE_FLAGS)
bench_mass_free_LDFLAGS = $(BENCH_LINK_FLAGS)

bench_short_threads_SOURCES = bench/short_threads.c bench/bench_util.h
bench_short_threads_CFLAGS = $(BENCH_COMPILE_FLAGS)
bench_short_threads_LDFLAGS = $(BENCH_LINK_FLAGS)

bench-programs: $(BENCH_PROGS:=$(EXEEXT))

# The preloadable library is the one built here (lib/.libs/libcistern.so);
# the programs are looked up in this build tree's bench/ directory.
bench: bench-programs $(lib_LTLIBRARIES)
	$(srcdir)/bench/run --bindir bench --cistern lib/.libs/libcistern.so $(BENCH_ARGS)

.PHONY: bench bench-programs

# notouch measures cistern itself: a NOTOUCH arena (over a PROT_NONE pool)
# beside an ordinary one.  It needs the arena API, so unlike the programs
# above it links the API library, and bench/run does not run it:
# 'make bench-notouch' builds and runs it (arguments in BENCH_NOTOUCH_ARGS).
EXTRA_PROGRAMS += bench/notouch
CLEANFILES += bench/notouch$(EXEEXT)
bench_notouch_SOURCES = bench/notouch.c bench/bench_util.h
bench_notouch_CPPFLAGS = -I$(top_srcdir)/include
bench_notouch_CFLAGS = $(BENCH_COMPILE_FLAGS)
bench_notouch_LDFLAGS = $(BENCH_LINK_FLAGS)
bench_notouch_LDADD = lib/libcistern_api.la

bench-notouch: bench/notouch$(EXEEXT)
	bench/notouch $(BENCH_NOTOUCH_ARGS)

.PHONY: bench-notouch
EXTRA_DIST += bench/chart.py

# region: build a tree of a million small nodes and drop it, several ways
# (cistern arena reset, cistern free per node, jemalloc's arenas with
# arena.<i>.reset, a bump allocator as the floor).  It calls cistern's
# arena API and jemalloc's mallocx/mallctl, so like notouch it links the
# API library (and jemalloc) and bench/run does not run it: 'make
# bench-region' builds and runs it (arguments in BENCH_REGION_ARGS), and
# 'make bench-programs' builds it.  jemalloc is looked for when the
# program is built: without it the jemalloc row says so and the rest runs.
REGION_JEMALLOC = $(shell printf '\043include <jemalloc/jemalloc.h>\nint main(void) { return mallocx(1, 0) == 0; }\n' | \
	$(CC) -x c - -ljemalloc -o /dev/null >/dev/null 2>&1 && echo 1)

EXTRA_PROGRAMS += bench/region
CLEANFILES += bench/region$(EXEEXT)
bench_region_SOURCES = bench/region.c bench/region_jemalloc.c bench/bench_util.h
bench_region_CPPFLAGS = -I$(top_srcdir)/include -DREGION_JEMALLOC=0$(REGION_JEMALLOC)
bench_region_CFLAGS = $(BENCH_COMPILE_FLAGS)
bench_region_LDFLAGS = $(BENCH_LINK_FLAGS)
bench_region_LDADD = lib/libcistern_api.la $(if $(REGION_JEMALLOC),-ljemalloc)
bench_region_DEPENDENCIES = lib/libcistern_api.la

bench-programs: bench/region$(EXEEXT)

bench-region: bench/region$(EXEEXT)
	bench/region $(BENCH_REGION_ARGS)

.PHONY: bench-region

# fastpath: malloc+free pairs on a thread-cache hit, counted in
# instructions by callgrind for cistern and each peer (bench/fastpath.sh).
# 'make bench-fastpath' builds and runs it (arguments in
# BENCH_FASTPATH_ARGS: pairs, then sizes).
EXTRA_PROGRAMS += bench/fastpath
CLEANFILES += bench/fastpath$(EXEEXT)
EXTRA_DIST += bench/fastpath.sh
bench_fastpath_SOURCES = bench/fastpath.c
bench_fastpath_CFLAGS = $(BENCH_COMPILE_FLAGS)
bench_fastpath_LDFLAGS = $(BENCH_LINK_FLAGS)

bench-fastpath: bench/fastpath$(EXEEXT) $(lib_LTLIBRARIES)
	$(SHELL) $(srcdir)/bench/fastpath.sh $(BENCH_FASTPATH_ARGS)

.PHONY: bench-fastpath
bench-programs: bench/fastpath$(EXEEXT)
