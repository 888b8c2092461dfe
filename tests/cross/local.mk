## tests/cross: build fragment, included by tests/local.mk.
##
##   make check-cross [CROSS_ARCHES="aarch64 armhf s390x"]
##
## builds the tree with Debian's cross compilers and runs its test programs
## under qemu-user (tools/cross/run-cross.sh says how); the two tests below
## also run natively in `make check`.

# The public API worked hard, needing no libcheck: the one test every cross
# build runs whatever the target has installed.
check_PROGRAMS += tests/cross/cross_smoke
TESTS += tests/cross/cross_smoke
tests_cross_cross_smoke_SOURCES = tests/cross/cross_smoke.c
tests_cross_cross_smoke_LDADD = lib/libcistern_api.la -lpthread

# Which spin-wait instruction lib/cpu_relax.h picks for each combination of
# predefined macros, and what the real cross compilers emit for it.
TESTS += tests/cross/cpu_relax_select.sh
EXTRA_DIST += tests/cross/cpu_relax_select.sh tests/cross/cpu_relax_test.c
AM_TESTS_ENVIRONMENT += CS_HOST_CC='$(CC)'; export CS_HOST_CC;

EXTRA_DIST += tools/cross/run-cross.sh tools/cross/qemu-run.sh

# What a cross build runs under qemu: the compiled programs among TESTS (the
# scripts need the build machine), less those listed here.  The real-program
# tests are scripts, so they drop out by themselves.
#
# qemu-user cannot run these at all:
#   stress_fork     qemu-user 7.2 (Debian 12) asserts in its own code when a
#                   multithreaded guest forks (cpu_exec: cpu == current_cpu)
#   pool_option     execs a preloaded probe program: without binfmt_misc a
#                   guest cannot exec another guest binary (exit 127)
#   hugepage_tlb    qemu-user maps guest memory itself and does not give
#                   MAP_HUGETLB its kernel meaning
CROSS_QEMU_CANNOT = tests/stress/stress_fork tests/sources/pool_option \
	tests/sources/hugepage_tlb
# qemu-user 7.2 also asserts in its plugin core (qemu_plugin_vcpu_init_hook)
# when many guest threads start, which the thread-heavy programs do; and its
# mincore() refuses the PROT_NONE reservations the NOTOUCH tests probe.
CROSS_QEMU_THREADS = tests/stress/stress_cross_thread tests/stress/stress_thread_exit \
	tests/compat/introspect tests/api/api_conformance_dropin
CROSS_QEMU_MINCORE = tests/device/notouch_classes tests/device/notouch_threads \
	tests/device/notouch_hooks
# Emulation runs these 10-50x slower, past their time limits, or slow enough
# that their checks of figures the background release thread changes while
# they read them (committed and reserved bytes) no longer hold.
CROSS_TOO_SLOW = tests/arena/arena_scale tests/arena/arena_threads \
	tests/sources/fault_inject tests/lifecycle/secondary tests/lifecycle/secondary_interposed
CROSS_EXCLUDE = $(CROSS_QEMU_CANNOT) $(CROSS_QEMU_THREADS) $(CROSS_QEMU_MINCORE) $(CROSS_TOO_SLOW)
cross-list-tests:
	@echo $(filter-out $(CROSS_EXCLUDE),$(filter $(check_PROGRAMS),$(TESTS)))

CROSS_ARCHES = aarch64 armhf s390x
check-cross:
	CROSS_SRCDIR='$(abs_top_srcdir)' bash $(top_srcdir)/tools/cross/run-cross.sh $(CROSS_ARCHES)

clean-cross:
	rm -rf build-cross

.PHONY: check-cross clean-cross cross-list-tests
