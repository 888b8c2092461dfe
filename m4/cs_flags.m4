# CS_CHECK_CFLAGS: warnings and the visibility every object is built with.
AC_DEFUN([CS_CHECK_CFLAGS], [
  CS_CFLAGS="-std=gnu11 -Wall -Wextra -Wno-unused-parameter -fvisibility=hidden"
  CS_CFLAGS="$CS_CFLAGS -fno-strict-aliasing -fno-builtin-malloc -fno-builtin-free"
  AC_SUBST([CS_CFLAGS])
])

# CS_ENABLE_SANITIZERS: --enable-asan, --enable-ubsan, --enable-tsan.
AC_DEFUN([CS_ENABLE_SANITIZERS], [
  AC_ARG_ENABLE([asan], [AS_HELP_STRING([--enable-asan], [build with AddressSanitizer])])
  AC_ARG_ENABLE([ubsan], [AS_HELP_STRING([--enable-ubsan], [build with UndefinedBehaviorSanitizer])])
  AC_ARG_ENABLE([tsan], [AS_HELP_STRING([--enable-tsan], [build with ThreadSanitizer])])
  SAN_FLAGS=""
  AS_IF([test "x$enable_asan" = xyes], [SAN_FLAGS="$SAN_FLAGS -fsanitize=address"])
  AS_IF([test "x$enable_ubsan" = xyes], [SAN_FLAGS="$SAN_FLAGS -fsanitize=undefined -fno-sanitize-recover=undefined"])
  AS_IF([test "x$enable_tsan" = xyes], [SAN_FLAGS="$SAN_FLAGS -fsanitize=thread"])
  AS_IF([test "x$enable_asan" = xyes -a "x$enable_tsan" = xyes],
        [AC_MSG_ERROR([--enable-asan and --enable-tsan cannot be combined])])
  AS_IF([test -n "$SAN_FLAGS"], [SAN_FLAGS="$SAN_FLAGS -fno-omit-frame-pointer -g"])
  dnl Under ASan or TSan the sanitizer owns malloc: tests link the API library only.
  AM_CONDITIONAL([SANITIZER_OWNS_MALLOC],
                 [test "x$enable_asan" = xyes -o "x$enable_tsan" = xyes])
  AS_IF([test "x$enable_asan" = xyes -o "x$enable_tsan" = xyes],
        [AC_DEFINE([CS_SANITIZER_OWNS_MALLOC], [1], [a sanitizer interposes malloc])])
  AC_SUBST([SAN_FLAGS])
])

# CS_ENABLE_DEBUG: --enable-debug turns on internal assertions (CISTERN_DEBUG=2).
AC_DEFUN([CS_ENABLE_DEBUG], [
  AC_ARG_ENABLE([debug], [AS_HELP_STRING([--enable-debug[=LEVEL]],
                [internal checks: 1 API misuse, 2 internal asserts (default for yes), 3 heap validation])])
  AS_CASE(["x$enable_debug"],
    [xyes], [cs_debug=2],
    [x1|x2|x3], [cs_debug=$enable_debug],
    [cs_debug=0])
  AC_DEFINE_UNQUOTED([CISTERN_DEBUG], [$cs_debug], [internal check level])
])

# CS_WITH_CUDA: --with-cuda[=DIR] builds the CUDA device source.
AC_DEFUN([CS_WITH_CUDA], [
  AC_ARG_WITH([cuda], [AS_HELP_STRING([--with-cuda[=DIR]], [build the CUDA device source])],
              [], [with_cuda=no])
  CUDA_CFLAGS=""; CUDA_LIBS=""
  AS_IF([test "x$with_cuda" != xno], [
    AS_IF([test "x$with_cuda" = xyes], [cuda_dir=/usr/local/cuda], [cuda_dir=$with_cuda])
    AS_IF([test -f "$cuda_dir/include/cuda_runtime_api.h"], [
      CUDA_CFLAGS="-I$cuda_dir/include"
      CUDA_LIBS="-L$cuda_dir/lib64 -Wl,-rpath,$cuda_dir/lib64 -lcudart"
      AC_DEFINE([CS_HAVE_CUDA], [1], [the CUDA device source is built])
      have_cuda=yes
    ], [AC_MSG_ERROR([CUDA toolkit not found in $cuda_dir])])
  ])
  AM_CONDITIONAL([HAVE_CUDA], [test "x$have_cuda" = xyes])
  AC_SUBST([CUDA_CFLAGS])
  AC_SUBST([CUDA_LIBS])
])

# CS_TLS_DESCRIPTORS: the unloadable API library keeps the dynamic TLS
# model, whose classic form calls __tls_get_addr on every access.  TLS
# descriptors (-mtls-dialect=gnu2) resolve a module loaded at start-up to a
# constant offset, leaving one indirect call to a two-instruction resolver.
# Asked for on x86-64 only: AArch64 uses descriptors already, s390x has
# none, and 32-bit ARM builds with gnu2 crashed under qemu-user.
# TLS_DESC_CFLAGS is empty elsewhere, or where the toolchain refuses.
AC_DEFUN([CS_TLS_DESCRIPTORS], [
  AC_REQUIRE([AC_CANONICAL_HOST])
  TLS_DESC_CFLAGS=
  AS_CASE([$host_cpu], [x86_64], [
    cs_save_CFLAGS=$CFLAGS
    cs_save_LDFLAGS=$LDFLAGS
    CFLAGS="$CFLAGS -fPIC -mtls-dialect=gnu2 -Werror"
    LDFLAGS="$LDFLAGS -shared"
    AC_MSG_CHECKING([whether $CC supports TLS descriptors])
    AC_LINK_IFELSE([AC_LANG_PROGRAM([[__thread int cs_probe;]],
                                    [[return cs_probe++;]])],
                   [TLS_DESC_CFLAGS=-mtls-dialect=gnu2; AC_MSG_RESULT([yes])],
                   [AC_MSG_RESULT([no])])
    CFLAGS=$cs_save_CFLAGS
    LDFLAGS=$cs_save_LDFLAGS
  ])
  AC_SUBST([TLS_DESC_CFLAGS])
])
