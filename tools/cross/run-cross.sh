#!/usr/bin/env bash
# run-cross.sh ARCH... - build cistern with a cross compiler and run its
# tests under qemu-user, for each ARCH of: aarch64 armhf s390x.
#
#   tools/cross/run-cross.sh aarch64 s390x      (or: make check-cross)
#   tools/cross/run-cross.sh --install-deps aarch64 armhf s390x
#
# Per architecture: configure --host=TRIPLET in BUILD/ARCH, `make` (the
# libraries and everything else `all` builds), then `make check` limited to
# the compiled test programs the tree marks as runnable under qemu (see
# `cross-list-tests` in tests/cross/local.mk), each one run by
# tools/cross/qemu-run.sh.  Programs that need libcheck are built only when
# the target's libcheck is installed (Debian multiarch: check:ARCH);
# tests/cross/cross_smoke needs nothing and always runs.
#
# configure refuses to build out of a source tree that is configured in
# place, so the tree is copied first (tracked and unignored files, plus the
# generated autotools files) to BUILD/src; mtimes are kept, so later runs
# rebuild only what changed.
#
# Environment:
#   CROSS_BUILD_DIR        where to build (default: ./build-cross)
#   CROSS_JOBS             parallel make jobs (default: the number of CPUs)
#   CROSS_CONFIGURE_FLAGS  extra configure arguments
#   CROSS_TESTS            test programs to run instead of the tree's list
#   CROSS_TEST_TIMEOUT     seconds one test program may run (default 600)
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
srcdir=${CROSS_SRCDIR:-$(cd "$here/../.." && pwd)}
builddir=${CROSS_BUILD_DIR:-build-cross}
mkdir -p "$builddir"
builddir=$(cd "$builddir" && pwd)
jobs=${CROSS_JOBS:-$(nproc 2>/dev/null || echo 2)}

# ARCH -> "triplet qemu debian-arch"
arch_info() {
    case $1 in
    aarch64 | arm64) echo "aarch64-linux-gnu qemu-aarch64 arm64" ;;
    armhf | arm) echo "arm-linux-gnueabihf qemu-arm armhf" ;;
    s390x) echo "s390x-linux-gnu qemu-s390x s390x" ;;
    *) return 1 ;;
    esac
}

say() { printf '\n==> %s\n' "$*"; }
die() { echo "run-cross: $*" >&2; exit 2; }

# The cross compilers, qemu-user and the target's libcheck (multiarch).  The
# target's libatomic_ops is not installed: its package is not co-installable
# across architectures, and cistern uses only the headers, whose sysdeps are
# chosen by the compiler's predefined macros, so the build machine's
# /usr/include/atomic_ops works for every target.
install_deps() {
    local pkgs=(qemu-user) a info
    for a in "$@"; do
        info=$(arch_info "$a") || die "unknown architecture '$a'"
        set -- $info
        pkgs+=("gcc-$1")
        dpkg --print-foreign-architectures | grep -qx "$3" || dpkg --add-architecture "$3"
        pkgs+=("check:$3")
    done
    DEBIAN_FRONTEND=noninteractive apt-get -y -q update || true
    DEBIAN_FRONTEND=noninteractive apt-get -y -q install --no-install-recommends "${pkgs[@]}"
}

# Copy the source tree to $1 without build outputs.
snapshot() {
    local dst=$1 rel=/nonexistent list
    mkdir -p "$dst"
    list=$(mktemp)
    # The build directory may lie inside the source tree: never copy it.
    case $builddir/ in "$srcdir"/*) rel=${builddir#"$srcdir"/} ;; esac
    # git lists the files only when the source tree is a work tree's top
    # (a copy ignored inside another repository would list nothing).
    if [ "$(git -C "$srcdir" rev-parse --show-toplevel 2>/dev/null)" = "$(cd "$srcdir" && pwd -P)" ]; then
        (cd "$srcdir" && git ls-files -z --cached --others --exclude-standard \
            --exclude="/$rel/") | tr '\0' '\n' >"$list"
    else
        (cd "$srcdir" && find . \( -name .git -o -name .libs -o -name .deps -o \
            -name autom4te.cache -o -path "./$rel" \) -prune -o -type f \
            ! -name '*.[oa]' ! -name '*.l[oa]' ! -name '*.so*' ! -name '*.log' ! -name '*.trs' \
            ! -name config.status ! -name config.h ! -name stamp-h1 ! -name libtool \
            ! -name Makefile -print) >"$list"
    fi
    # The generated autotools files, so the copy needs no autoreconf.
    if [ -x "$srcdir/configure" ]; then
        (cd "$srcdir" && find configure aclocal.m4 config.h.in build-aux m4 -type f 2>/dev/null &&
            find . -path "./$rel" -prune -o -name Makefile.in -type f -print) >>"$list"
    fi
    # Only regular files that exist (a tracked file may be deleted), no programs
    # built in place by the build machine.
    (cd "$srcdir" && while IFS= read -r f; do
        [ -f "$f" ] || continue
        case $(head -c 4 "$f" | od -An -c | tr -d ' ') in '177ELF') continue ;; esac
        printf '%s\0' "$f"
    done <"$list") | (cd "$srcdir" && tar --null -T - -cf -) | (cd "$dst" && tar -xf -)
    rm -f "$list"
    [ -x "$dst/configure" ] || (cd "$dst" && autoreconf -fi >/dev/null)
}

run_arch() {
    local arch=$1 triplet qemu t0 t1 t2 t3 bdir tests rc=0
    # shellcheck disable=SC2046
    set -- $(arch_info "$arch")
    triplet=$1 qemu=$2
    command -v "$triplet-gcc" >/dev/null || die "$triplet-gcc not found (apt-get install gcc-$triplet, or --install-deps)"
    command -v "$qemu" >/dev/null || die "$qemu not found (apt-get install qemu-user)"
    bdir=$builddir/$arch
    mkdir -p "$bdir"
    t0=$(date +%s)

    say "$arch: configure --host=$triplet"
    # The target's .pc files live in its multiarch directory; pkg-config of
    # the build machine reads them when told to look only there.
    local pcdirs="/usr/lib/$triplet/pkgconfig:/usr/share/pkgconfig"
    local pkgconfig=pkg-config
    command -v "$triplet-pkg-config" >/dev/null && pkgconfig=$triplet-pkg-config
    if [ ! -f "$bdir/Makefile" ] || [ "$srcdir_copy/configure" -nt "$bdir/config.status" ]; then
        # shellcheck disable=SC2086
        (cd "$bdir" && PKG_CONFIG=$pkgconfig PKG_CONFIG_LIBDIR=$pcdirs \
            "$srcdir_copy/configure" -q --host="$triplet" --build="$("$srcdir_copy/build-aux/config.guess")" \
            CFLAGS="${CROSS_CFLAGS:--O2}" ${CROSS_CONFIGURE_FLAGS:-}) || return 1
    fi
    t1=$(date +%s)

    say "$arch: make"
    make -C "$bdir" -s -j"$jobs" >/dev/null || return 1
    t2=$(date +%s)

    tests=${CROSS_TESTS:-$(make -C "$bdir" -s --no-print-directory cross-list-tests)}
    # Results of an earlier run with another list would be reported again.
    find "$bdir/tests" \( -name '*.log' -o -name '*.trs' \) -type f -delete 2>/dev/null || true
    say "$arch: make check under $qemu: $(echo $tests)"
    # The guest's dynamic loader comes from /usr/TRIPLET (-L); its libc must
    # come from there too, not from a multiarch libc6:ARCH of another
    # version, hence LD_LIBRARY_PATH, which also finds lib/.libs.
    CS_CROSS_QEMU="$qemu -L /usr/$triplet" CS_CROSS_LIBPATH="/usr/$triplet/lib" \
    CS_CROSS_TIMEOUT=${CROSS_TEST_TIMEOUT:-600} \
        make -C "$bdir" -j"$jobs" check TESTS="$tests" \
        LOG_COMPILER="$SHELL_FOR_TESTS $here/qemu-run.sh" || rc=1
    t3=$(date +%s)
    results+=("$arch: $([ $rc = 0 ] && echo PASS || echo FAIL) (configure $((t1 - t0))s, make $((t2 - t1))s, check $((t3 - t2))s, total $((t3 - t0))s)")
    if [ $rc != 0 ]; then
        local trs
        for trs in $(cd "$bdir" && find . -name '*.trs' | sort); do
            grep -qE '^:test-result: (FAIL|XPASS|ERROR)' "$bdir/$trs" || continue
            printf '\n===== %s/%s =====\n' "$arch" "${trs%.trs}.log"
            cat "$bdir/${trs%.trs}.log" || true
        done
    fi
    return $rc
}

install=0
arches=()
for a in "$@"; do
    case $a in
    --install-deps) install=1 ;;
    -h | --help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    *) arch_info "$a" >/dev/null || die "unknown architecture '$a' (aarch64, armhf, s390x)"; arches+=("$a") ;;
    esac
done
[ ${#arches[@]} -gt 0 ] || arches=(aarch64 armhf s390x)
[ $install = 0 ] || install_deps "${arches[@]}"

SHELL_FOR_TESTS=${CONFIG_SHELL:-/bin/sh}
srcdir_copy=$builddir/src
say "copying the source tree to $srcdir_copy"
snapshot "$srcdir_copy"

results=()
status=0
start=$(date +%s)
for a in "${arches[@]}"; do
    run_arch "$a" || { status=1; [ ${#results[@]} -gt 0 ] && [[ ${results[-1]} == "$a:"* ]] || results+=("$a: FAIL (build)"); }
done
say "cross summary ($(($(date +%s) - start))s)"
printf '  %s\n' "${results[@]}"
exit $status
