## tests/device: build fragment, included by tests/local.mk.
##
## NOTOUCH memory (PROT_NONE ranges: any touch is a SIGSEGV), the shm source
## over a memfd, device sources over user callbacks, and the CUDA source.
## Public API only; each program links the API library, so check's own
## malloc stays the C library's and never lands in the memory under test.

DEVICE_HDRS = tests/device/devutil.h tests/sources/srcutil.h tests/testutil.h
DEVICE_LIBS = lib/libcistern_api.la $(TEST_LIBS)

if HAVE_CHECK
DEVICE_TESTS = \
	tests/device/notouch_classes \
	tests/device/notouch_threads \
	tests/device/notouch_hooks \
	tests/device/notouch_secondary \
	tests/device/shm_memfd
check_PROGRAMS += $(DEVICE_TESTS)
TESTS += $(DEVICE_TESTS)
endif

tests_device_notouch_classes_SOURCES = tests/device/notouch_classes.c $(DEVICE_HDRS)
tests_device_notouch_classes_CPPFLAGS = $(TEST_CPPFLAGS)
tests_device_notouch_classes_LDADD = $(DEVICE_LIBS)

tests_device_notouch_threads_SOURCES = tests/device/notouch_threads.c $(DEVICE_HDRS)
tests_device_notouch_threads_CPPFLAGS = $(TEST_CPPFLAGS)
tests_device_notouch_threads_LDADD = $(DEVICE_LIBS)

tests_device_notouch_hooks_SOURCES = tests/device/notouch_hooks.c $(DEVICE_HDRS)
tests_device_notouch_hooks_CPPFLAGS = $(TEST_CPPFLAGS)
tests_device_notouch_hooks_LDADD = $(DEVICE_LIBS)

tests_device_notouch_secondary_SOURCES = tests/device/notouch_secondary.c $(DEVICE_HDRS)
tests_device_notouch_secondary_CPPFLAGS = $(TEST_CPPFLAGS)
tests_device_notouch_secondary_LDADD = $(DEVICE_LIBS)

tests_device_shm_memfd_SOURCES = tests/device/shm_memfd.c $(DEVICE_HDRS)
tests_device_shm_memfd_CPPFLAGS = $(TEST_CPPFLAGS)
tests_device_shm_memfd_LDADD = $(DEVICE_LIBS)

# The CUDA test prints TAP itself (no libcheck: GPU machines may lack it)
# and skips without CUDA or without a GPU, so every build runs it.
# With CUDA, cuda_mock runs the same program over a stand-in runtime
# (PROT_NONE host memory, handed out 256 bytes off the heap's alignment on
# purpose), so the CUDA source's alignment and hooks are exercised on
# machines with no GPU too.
DEVICE_CUDA_CPPFLAGS = $(AM_CPPFLAGS)
if HAVE_CUDA
DEVICE_CUDA_CPPFLAGS += $(CUDA_CFLAGS) -DCS_TEST_CUDA=1
check_PROGRAMS += tests/device/cuda_mock
TESTS += tests/device/cuda_mock
endif
check_PROGRAMS += tests/device/cuda_test
TESTS += tests/device/cuda_test
tests_device_cuda_test_SOURCES = tests/device/cuda_test.c
tests_device_cuda_test_CPPFLAGS = $(DEVICE_CUDA_CPPFLAGS)
tests_device_cuda_test_LDADD = lib/libcistern_api.la -lpthread $(CUDA_LIBS)
tests_device_cuda_mock_SOURCES = tests/device/cuda_test.c tests/device/cuda_mock.c
tests_device_cuda_mock_CPPFLAGS = $(DEVICE_CUDA_CPPFLAGS) -DCS_TEST_CUDA_MOCK=1
tests_device_cuda_mock_LDADD = lib/libcistern_api.la -lpthread $(CUDA_LIBS)
# Exported, the stand-in's definitions take the place of libcudart's for the
# library too (the dynamic linker searches the program first).
tests_device_cuda_mock_LDFLAGS = $(AM_LDFLAGS) -export-dynamic
