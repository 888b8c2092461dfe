## tests: one fragment per tier, each owned by its folder.
##   tests/unit    internals, linked against the convenience library
##   tests/api     the public header only, against the installed-shape libraries
##   tests/stress  multithreaded and long-running checks
##   tests/sources memory sources, pools, injection (public API)
##   tests/cross   cross-compiled runs under qemu-user (make check-cross)
##   tests/arena   arenas: reset, destroy, walk, scale
##   tests/device  NOTOUCH, shared-memory and CUDA sources
##   tests/lifecycle teardown, unload, faults
##   tests/fuzz    the API fuzzer and its regressions
##   tests/compat  glibc introspection and tool integration
## Every check program prints TAP (srunner_set_tap); a skip prints "1..0 # SKIP why" (the TAP driver counts exit 77 as an error).

TEST_CPPFLAGS = $(AM_CPPFLAGS) -I$(top_srcdir)/tests $(CHECK_CFLAGS)
TEST_LIBS = $(CHECK_LIBS) -lpthread
EXTRA_DIST += tests/testutil.h

include $(srcdir)/tests/unit/local.mk
include $(srcdir)/tests/api/local.mk
include $(srcdir)/tests/stress/local.mk
include $(srcdir)/tests/sources/local.mk
include $(srcdir)/tests/cross/local.mk
include $(srcdir)/tests/arena/local.mk
include $(srcdir)/tests/device/local.mk
include $(srcdir)/tests/lifecycle/local.mk
include $(srcdir)/tests/fuzz/local.mk
include $(srcdir)/tests/compat/local.mk
