#!/bin/sh
# cpu_relax_select.sh - which spin-wait instruction lib/cpu_relax.h picks
# (TAP).  The choice is made by the preprocessor from predefined macros, so
# each combination below is checked by compiling cpu_relax_test.c with the
# build machine's compiler, the machine's own macros undefined and the
# combination's defined:
#   -DEXPECT_KIND=N  the compiler checks CS_RELAX_KIND both as C sees it and
#                    as #if sees it (cs_cpu_relax() chooses its body by #if);
#   -S               the assembly text must hold the instruction the kind
#                    names (pause, yield; neither for the barrier), which
#                    needs no assembler for the target.
# Then each real cross compiler that is installed builds it (objdump must
# show the instruction) and, where qemu-user is installed, runs it.  A
# missing compiler or emulator makes its checks skip.

: "${srcdir:=$(dirname "$0")/../..}"
CC=${CS_HOST_CC:-${CC:-cc}}
src=$srcdir/tests/cross/cpu_relax_test.c
inc=-I$srcdir/lib
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# The machine's own architecture macros, which the header tests.
UNDEF="-U__x86_64__ -U__i386__ -U__aarch64__ -U__arm__ -U__ARM_ARCH -U__ARMEB__ -U__ARMEL__
       -U__AARCH64EB__ -U__AARCH64EL__ -U__s390__ -U__s390x__ -U__riscv"

# name | kind (0 barrier, 1 pause, 2 yield) | -D flags
combos='x86_64|1|-D__x86_64__=1
i386|1|-D__i386__=1
aarch64|2|-D__aarch64__=1 -D__AARCH64EL__=1
aarch64 big-endian|2|-D__aarch64__=1 -D__AARCH64EB__=1
arm __ARM_ARCH=6|0|-D__arm__=1 -D__ARM_ARCH=6 -D__ARMEL__=1
arm __ARM_ARCH=7|2|-D__arm__=1 -D__ARM_ARCH=7 -D__ARMEL__=1
arm __ARM_ARCH=8 (AArch32)|2|-D__arm__=1 -D__ARM_ARCH=8 -D__ARMEL__=1
big-endian arm __ARM_ARCH=7 (__ARMEB__)|2|-D__arm__=1 -D__ARM_ARCH=7 -D__ARMEB__=1
big-endian arm __ARM_ARCH=6 (__ARMEB__)|0|-D__arm__=1 -D__ARM_ARCH=6 -D__ARMEB__=1
arm with only the GNU __ARM_ARCH__=7|0|-D__arm__=1 -D__ARM_ARCH__=7
arm without __ARM_ARCH|0|-D__arm__=1
s390x|0|-D__s390__=1 -D__s390x__=1
riscv|0|-D__riscv=1
unknown architecture|0|'

# real compiler | extra flags | kind | qemu to run it ("-": compile only)
real="${CS_HOST_CC:-cc}||host|-
${CS_HOST_CC:-cc}|-m32|1|-
aarch64-linux-gnu-gcc||2|qemu-aarch64
aarch64-linux-gnu-gcc|-mbig-endian|2|-
arm-linux-gnueabihf-gcc||2|qemu-arm
arm-linux-gnueabihf-gcc|-march=armv8-a -mfpu=neon-fp-armv8|2|-
arm-linux-gnueabihf-gcc|-march=armv6 -marm -mfpu=vfp|0|-
arm-linux-gnueabihf-gcc|-mbig-endian|2|-
s390x-linux-gnu-gcc||0|qemu-s390x"

kind_name() {
    case $1 in 0) echo barrier ;; 1) echo pause ;; 2) echo yield ;; esac
}

# Does the text on stdin show the instruction of kind $1 (and no other)?
shows_kind() {
    t=$(cat)
    p=$(printf '%s\n' "$t" | grep -cw pause)
    y=$(printf '%s\n' "$t" | grep -cw yield)
    case $1 in
    0) [ "$p" = 0 ] && [ "$y" = 0 ] ;;
    1) [ "$p" != 0 ] && [ "$y" = 0 ] ;;
    2) [ "$y" != 0 ] && [ "$p" = 0 ] ;;
    esac
}

# The build machine's own kind, from its compiler's target.
host_kind() {
    case $($1 -dumpmachine 2>/dev/null) in
    x86_64* | i?86*) echo 1 ;;
    aarch64*) echo 2 ;;
    s390* | riscv* | powerpc* | mips*) echo 0 ;;
    *) echo "" ;; # 32-bit arm depends on -march: not guessed here
    esac
}

n_combos=$(printf '%s\n' "$combos" | wc -l)
n_real=$(printf '%s\n' "$real" | wc -l)
echo "1..$((n_combos + n_real))"
n=0
fails=0

IFS_SAVE=$IFS
printf '%s\n' "$combos" >"$tmp/combos"
while IFS='|' read -r name kind defs; do
    IFS=$IFS_SAVE
    n=$((n + 1))
    # shellcheck disable=SC2086
    if ! $CC -std=gnu11 -O2 -S $inc $UNDEF $defs -DEXPECT_KIND="$kind" "$src" -o "$tmp/t.s" 2>"$tmp/err"; then
        echo "not ok $n - $name: expected $(kind_name "$kind"); the compiler disagrees:"
        sed 's/^/# /' "$tmp/err"
        fails=$((fails + 1))
    elif ! shows_kind "$kind" <"$tmp/t.s"; then
        echo "not ok $n - $name: expected $(kind_name "$kind") in the assembly, which reads:"
        sed -n '/APP/,/NO_APP/p' "$tmp/t.s" | sed 's/^/# /'
        fails=$((fails + 1))
    else
        echo "ok $n - $name: $(kind_name "$kind")"
    fi
done <"$tmp/combos"

printf '%s\n' "$real" >"$tmp/real"
while IFS='|' read -r cc flags kind emu; do
    IFS=$IFS_SAVE
    n=$((n + 1))
    what="$cc${flags:+ $flags}"
    [ "$kind" = host ] && kind=$(host_kind "$cc")
    tool=${cc%gcc}
    case $cc in *-gcc) objdump=${tool}objdump ;; *) objdump=objdump ;; esac
    if [ -z "$kind" ]; then
        echo "ok $n - $what # SKIP no known kind for $($cc -dumpmachine 2>/dev/null)"
        continue
    fi
    # shellcheck disable=SC2086
    if ! command -v ${cc%% *} >/dev/null 2>&1 || ! command -v "$objdump" >/dev/null 2>&1; then
        echo "ok $n - $what # SKIP not installed"
        continue
    fi
    echo 'int cs_empty;' >"$tmp/empty.c"
    # shellcheck disable=SC2086
    if ! $cc $flags -c "$tmp/empty.c" -o "$tmp/empty.o" >/dev/null 2>&1; then
        echo "ok $n - $what # SKIP the compiler refuses these flags"
        continue
    fi
    # shellcheck disable=SC2086
    if ! $cc $flags -std=gnu11 -O2 -c $inc "$src" -o "$tmp/r.o" 2>"$tmp/err"; then
        echo "not ok $n - $what: does not compile:"
        sed 's/^/# /' "$tmp/err"
        fails=$((fails + 1))
        continue
    fi
    # shellcheck disable=SC2086
    if ! $cc $flags -std=gnu11 -O2 -fsyntax-only $inc -DEXPECT_KIND="$kind" "$src" 2>"$tmp/err"; then
        echo "not ok $n - $what: expected $(kind_name "$kind"):"
        sed 's/^/# /' "$tmp/err"
        fails=$((fails + 1))
        continue
    fi
    body=$("$objdump" -d "$tmp/r.o" | awk '/<cs_test_relax>:/ { f = 1; next } f && /^$/ { exit } f')
    if ! printf '%s\n' "$body" | shows_kind "$kind"; then
        echo "not ok $n - $what: expected $(kind_name "$kind"); objdump shows:"
        printf '%s\n' "$body" | sed 's/^/# /'
        fails=$((fails + 1))
        continue
    fi
    ran=""
    if [ "$emu" != - ] && command -v "$emu" >/dev/null 2>&1 &&
        $cc $flags -static -O2 $inc "$src" -o "$tmp/r" 2>/dev/null; then
        # main() exits with 10 + the kind it was built with.
        "$emu" "$tmp/r"
        rc=$?
        if [ $rc != $((10 + kind)) ]; then
            echo "not ok $n - $what: under $emu it exited with $rc, not $((10 + kind))"
            fails=$((fails + 1))
            continue
        fi
        ran=", ran under $emu"
    fi
    echo "ok $n - $what: $(kind_name "$kind")$ran"
done <"$tmp/real"

[ $fails = 0 ]
