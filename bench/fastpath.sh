#!/bin/sh
# fastpath.sh [pairs] [size...] - instructions per malloc+free pair on a
# thread-cache hit, counted by callgrind, for cistern and the peers.
#
# Each allocator runs bench/fastpath under `valgrind --tool=callgrind
# --toggle-collect=pairs`; the count is (inclusive - self) cost of pairs()
# over the number of pairs: the instructions of malloc and free themselves,
# with their PLT stubs, and none of the loop's.  cistern runs with
# CISTERN_OPTIONS=tool_hooks=0 (its memory-checker hooks would take the
# slow paths under valgrind otherwise).  Counts do not depend on the
# machine's load.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/.." && pwd)
pairs=${1:-200000}
shift 2>/dev/null || true
sizes=${*:-16 32 100 1000}
lib=/usr/lib/$(gcc -print-multiarch 2>/dev/null || echo x86_64-linux-gnu)
command -v valgrind >/dev/null || { echo "fastpath.sh: valgrind is needed" >&2; exit 2; }
[ -x "$top/bench/fastpath" ] || { echo "fastpath.sh: build bench/fastpath first (make bench-programs)" >&2; exit 2; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

count() { # name preload size
	out="$tmp/cg.$1.$3"
	CISTERN_OPTIONS=tool_hooks=0 LD_PRELOAD="$2" valgrind --tool=callgrind \
		--toggle-collect=pairs --callgrind-out-file="$out" \
		"$top/bench/fastpath" "$pairs" "$3" >/dev/null 2>&1 || { echo "-"; return; }
	callgrind_annotate --inclusive=yes "$out" 2>/dev/null | awk -v n="$pairs" '
		/fastpath.c:pairs|:pairs \[/ { gsub(",", "", $1); incl = $1 }
		END { if (incl == "") print "-"; else printf "%.1f\n", incl / n }' >"$tmp/incl"
	callgrind_annotate --inclusive=no "$out" 2>/dev/null | awk -v n="$pairs" '
		/fastpath.c:pairs|:pairs \[/ { gsub(",", "", $1); self = $1 }
		END { if (self == "") print "-"; else printf "%.1f\n", self / n }' >"$tmp/self"
	awk 'NR == FNR { i = $1; next } { if (i == "-" || $1 == "-") print "-"; else printf "%.1f\n", i - $1 }' \
		"$tmp/incl" "$tmp/self"
}

printf '%-10s' "size"
for name in cistern glibc jemalloc tcmalloc mimalloc; do printf '%10s' "$name"; done
printf '\n'
for size in $sizes; do
	printf '%-10s' "$size"
	for name in cistern glibc jemalloc tcmalloc mimalloc; do
		case $name in
		cistern) pre="$top/lib/.libs/libcistern.so" ;;
		glibc) pre="" ;;
		jemalloc) pre="$lib/libjemalloc.so.2" ;;
		tcmalloc) pre="$lib/libtcmalloc_minimal.so.4" ;;
		mimalloc) pre="$lib/libmimalloc.so.2" ;;
		esac
		if [ -n "$pre" ] && [ ! -e "$pre" ]; then printf '%10s' "n/a"; continue; fi
		printf '%10s' "$(count "$name" "$pre" "$size")"
	done
	printf '\n'
done
echo "(instructions per malloc+free pair on a cache hit, PLT stubs included; $pairs pairs)"
