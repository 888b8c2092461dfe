#!/bin/sh
# pkgconfig.sh - the pkg-config files cover both libraries: cistern's Libs
# link libcistern_api, its dropin_libs variable and the cistern-dropin
# module link libcistern.  Speaks TAP.

: "${abs_top_builddir:=$(pwd)}"
if ! command -v pkg-config >/dev/null 2>&1; then
    echo "1..0 # SKIP pkg-config not installed"
    exit 0
fi
PKG_CONFIG_PATH="$abs_top_builddir"
export PKG_CONFIG_PATH
unset PKG_CONFIG_LIBDIR

n=0
fails=0
check() { # description, command, expected word
    n=$((n + 1))
    out=$(eval "$2" 2>&1)
    case " $out " in
    *" $3 "*) echo "ok $n - $1" ;;
    *) echo "not ok $n - $1: got '$out', want '$3'"; fails=$((fails + 1)) ;;
    esac
}

echo "1..5"
check "cistern: Libs link the API library" "pkg-config --libs cistern" "-lcistern_api"
check "both modules are found" "pkg-config --exists cistern cistern-dropin && echo found" "found"
check "cistern: dropin_libs link the drop-in library" "pkg-config --variable=dropin_libs cistern" "-lcistern"
check "cistern: api_libs link the API library" "pkg-config --variable=api_libs cistern" "-lcistern_api"
check "cistern-dropin: Libs link the drop-in library" "pkg-config --libs cistern-dropin" "-lcistern"
[ "$fails" -eq 0 ]
