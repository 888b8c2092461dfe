#!/bin/sh
# api_unloadable.sh - libcistern_api can leave the process again: its
# dynamic section asks for no static TLS block (initial-exec TLS, which the
# loader can satisfy only from the surplus reserved at start-up and which
# pins the object), is not marked NODELETE, and carries no initial-exec
# TLS relocation.  tests/lifecycle/unload checks the same by doing it; this
# names the cause.  The drop-in libcistern is the contrast: it is meant to
# stay, and has both marks.  Prints TAP.
lib=${abs_top_builddir:-.}/lib/.libs/libcistern_api.so
dropin=${abs_top_builddir:-.}/lib/.libs/libcistern.so

if ! command -v readelf >/dev/null 2>&1; then
    echo "1..0 # SKIP readelf not installed"
    exit 0
fi
if [ ! -f "$lib" ]; then
    echo "1..0 # SKIP no shared $lib (--disable-shared?)"
    exit 0
fi

echo "1..4"
n=0 failed=0
check() { # STATUS DESCRIPTION
    n=$((n + 1))
    if [ "$1" -eq 0 ]; then
        echo "ok $n - $2"
    else
        echo "not ok $n - $2"
        failed=1
    fi
}

dyn=$(readelf -dW "$lib")
echo "$dyn" | grep -E '\((FLAGS|FLAGS_1)\)' | sed 's/^/# /'
echo "$dyn" | grep -q 'STATIC_TLS'
check $((1 - $?)) "libcistern_api: no STATIC_TLS flag"
echo "$dyn" | grep -E '\(FLAGS_1\)' | grep -q 'NODELETE'
check $((1 - $?)) "libcistern_api: not NODELETE"
# Initial-exec TLS relocations, by each architecture's name for them.
ie=$(readelf -rW "$lib" | grep -E 'TPOFF|TPREL|TLS_IE|TLS_TP' | grep -v DTP)
[ -n "$ie" ] && echo "$ie" | sed 's/^/# /'
[ -z "$ie" ]
check $? "libcistern_api: no initial-exec TLS relocation"

# The contrast: the drop-in library is meant to stay resident.
if [ -f "$dropin" ]; then
    readelf -dW "$dropin" | grep -E '\(FLAGS_1\)' | grep -q NODELETE
    check $? "libcistern (drop-in): NODELETE, as intended"
else
    echo "ok $((n + 1)) # SKIP no shared libcistern"
    n=$((n + 1))
fi
exit $failed
