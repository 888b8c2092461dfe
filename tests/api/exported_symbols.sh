#!/bin/sh
# exported_symbols.sh - the shared libraries export the public interface and
# nothing else: libcistern_api.so exactly the cistern_* functions that
# <cistern.h> and <cistern/*.h> declare, libcistern.so those plus the malloc
# family.  A stray internal name is a symbol a program could bind to (and a
# clash with other libraries); a missing one is a link failure for users.
# Speaks TAP.

LC_ALL=C
export LC_ALL
: "${srcdir:=.}"
: "${abs_top_builddir:=$(pwd)}"
libdir="$abs_top_builddir/lib/.libs"
api_so="$libdir/libcistern_api.so"
dropin_so="$libdir/libcistern.so"
tmp=$(mktemp -d "${TMPDIR:-/tmp}/cistern-syms.XXXXXX") || exit 1
trap 'rm -rf "$tmp"' EXIT

skip_all() {
    echo "1..0 # SKIP $1"
    exit 0
}

[ -f "$api_so" ] && [ -f "$dropin_so" ] || skip_all "shared libraries not built"

# Defined dynamic symbols, one name per line.
if command -v "${NM:-nm}" >/dev/null 2>&1; then
    defined() { "${NM:-nm}" -D --defined-only "$1" | awk 'NF >= 3 { print $3 }' | sed 's/@.*//' | sort -u; }
elif command -v readelf >/dev/null 2>&1; then
    defined() {
        readelf -W --dyn-syms "$1" |
            awk '$1 ~ /^[0-9]+:$/ && $7 != "UND" && $8 != "" { print $8 }' | sed 's/@.*//' | sort -u
    }
else
    skip_all "neither nm nor readelf found"
fi

# Entries every shared object may carry, whatever its interface.
linker_entries='^(_init|_fini|_edata|_end|__bss_start)$'

# The cistern_* functions the public headers declare: comments removed,
# then every cistern_name followed by "(".
headers="$srcdir/include/cistern.h $srcdir/include/cistern/*.h"
# shellcheck disable=SC2086
awk '
    {
        line = $0; out = ""
        while (line != "") {
            if (incomment) {
                i = index(line, "*/")
                if (!i) { line = ""; break }
                line = substr(line, i + 2); incomment = 0
            } else {
                i = index(line, "/*")
                if (!i) { out = out line; line = ""; break }
                out = out substr(line, 1, i - 1) " "; line = substr(line, i + 2); incomment = 1
            }
        }
        print out
    }' $headers |
    grep -o 'cistern_[A-Za-z0-9_]*[[:space:]]*(' | sed 's/[[:space:]]*($//' | sort -u >"$tmp/declared"

# cistern_init_hook is declared for the program to define; the library only
# refers to it (weakly), so it must not define it.
grep -vx 'cistern_init_hook' "$tmp/declared" >"$tmp/api_expected"

cat >"$tmp/family_required" <<'LIST'
malloc
free
calloc
realloc
reallocarray
aligned_alloc
posix_memalign
memalign
valloc
pvalloc
malloc_usable_size
free_sized
free_aligned_sized
cfree
malloc_trim
__libc_malloc
__libc_free
__libc_calloc
__libc_realloc
__libc_memalign
__posix_memalign
LIST
# Allowed when present.
family_optional='^(__libc_valloc|__libc_pvalloc|malloc_stats|malloc_info|mallinfo|mallinfo2|mallopt)$'

# Under ASan or TSan the sanitizer keeps malloc: the drop-in has no family.
sanitized=no
grep -q '^#define CS_SANITIZER_OWNS_MALLOC 1' "$abs_top_builddir/config.h" 2>/dev/null && sanitized=yes

defined "$api_so" | grep -Ev "$linker_entries" >"$tmp/api_defined"
defined "$dropin_so" | grep -Ev "$linker_entries" >"$tmp/dropin_defined"

n=0
ok() {
    n=$((n + 1))
    echo "ok $n - $1"
}
not_ok() {
    n=$((n + 1))
    echo "not ok $n - $1"
    sed 's/^/# /' "$tmp/why"
}
# check NAME: passes when $tmp/why is empty.
check() {
    if [ -s "$tmp/why" ]; then not_ok "$1"; else ok "$1"; fi
}
# Lines of file $1 not in file $2, with a prefix.
missing_from() {
    comm -23 "$1" "$2" | sed "s/^/$3 /"
}

echo "1..7"

# 1: the header scan found the interface (a broken scan would pass 2-6 vacuously).
if [ "$(wc -l <"$tmp/api_expected")" -ge 20 ] && grep -qx cistern_malloc "$tmp/api_expected"; then
    : >"$tmp/why"
else
    { echo "only these names found in $headers:"; cat "$tmp/api_expected"; } >"$tmp/why"
fi
check "the headers declare the cistern_* interface ($(wc -l <"$tmp/api_expected") functions)"

missing_from "$tmp/api_expected" "$tmp/api_defined" "missing:" >"$tmp/why"
check "libcistern_api.so exports every declared cistern_* function"

missing_from "$tmp/api_defined" "$tmp/api_expected" "extra:" >"$tmp/why"
check "libcistern_api.so exports nothing else"

missing_from "$tmp/api_expected" "$tmp/dropin_defined" "missing:" >"$tmp/why"
check "libcistern.so exports every declared cistern_* function"

if [ "$sanitized" = yes ]; then
    n=$((n + 1))
    echo "ok $n # SKIP the sanitizer owns malloc: no malloc family in libcistern.so"
    sort -u "$tmp/api_expected" >"$tmp/dropin_allowed"
else
    sort -u "$tmp/family_required" >"$tmp/family_sorted"
    missing_from "$tmp/family_sorted" "$tmp/dropin_defined" "missing:" >"$tmp/why"
    check "libcistern.so exports the malloc family"
    sort -u "$tmp/api_expected" "$tmp/family_required" >"$tmp/dropin_allowed"
fi

grep -Ev "$family_optional" "$tmp/dropin_defined" >"$tmp/dropin_checked"
missing_from "$tmp/dropin_checked" "$tmp/dropin_allowed" "extra:" >"$tmp/why"
check "libcistern.so exports nothing else"

{
    grep -x cistern_init_hook "$tmp/api_defined" | sed 's/^/libcistern_api.so defines /'
    grep -x cistern_init_hook "$tmp/dropin_defined" | sed 's/^/libcistern.so defines /'
} >"$tmp/why"
check "cistern_init_hook is left for the program to define"

# The verdict is in the TAP lines above.
exit 0
