#!/bin/sh
# qemu-run.sh PROGRAM [ARG...] - run one cross-compiled test program under
# qemu-user; the LOG_COMPILER of `make check` in a cross build.
#
#   CS_CROSS_QEMU     the emulator and its options, e.g. "qemu-s390x -L /usr/s390x-linux-gnu"
#   CS_CROSS_LIBPATH  directories for the guest's LD_LIBRARY_PATH
#   CS_CROSS_TIMEOUT  seconds before the program is killed (default 600)
#
# The guest sees CS_UNDER_QEMU=1, for a test that must allow for what
# qemu-user does differently from a kernel.
#
# A libtool wrapper script (a program linked against an uninstalled shared
# library) cannot run under qemu: the real program is in .libs/ next to it,
# and finds the library through LD_LIBRARY_PATH.
set -e
prog=$1
shift
libpath=${CS_CROSS_LIBPATH:-}
if [ "$(head -c 4 "$prog" | od -An -c | tr -d ' ')" != '177ELF' ]; then
    real=$(dirname "$prog")/.libs/$(basename "$prog")
    [ -f "$real" ] || real=$(dirname "$prog")/.libs/lt-$(basename "$prog")
    [ -f "$real" ] || { echo "qemu-run: $prog is neither a program nor a libtool wrapper" >&2; exit 99; }
    prog=$real
    libpath=$(pwd)/lib/.libs${libpath:+:$libpath}
fi
# shellcheck disable=SC2086
exec timeout -k 10 "${CS_CROSS_TIMEOUT:-600}" $CS_CROSS_QEMU -E CS_UNDER_QEMU=1 ${libpath:+-E LD_LIBRARY_PATH=$libpath} "$prog" "$@"
