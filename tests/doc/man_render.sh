#!/bin/sh
# man_render.sh - render every manual page in doc/ and fail on any warning.
#
# Each page is formatted with `groff -ww -man -Tutf8 -z` (all warnings on)
# and, where man-db is installed, with `man -l` at MANWIDTH=80; anything
# either prints is a failure.  A page that is only a `.so` link must name
# a page that exists in doc/, and is rendered the same way from a copy of
# the pages laid out as an installed tree (man1/, man3/), where its link
# resolves.  Output is TAP; exit 77 (skip) without groff.
#
# automake sets srcdir in the test environment; run by hand, the source
# tree is found from this script's own path.

if [ -z "${srcdir:-}" ]; then
    srcdir=$(cd "$(dirname "$0")/../.." && pwd)
fi
docdir=$srcdir/doc

if ! command -v groff >/dev/null 2>&1; then
    echo "1..0 # SKIP groff not found"
    exit 77
fi
if [ ! -d "$docdir" ]; then
    echo "Bail out! no doc directory at $docdir"
    exit 1
fi

have_man=no
if command -v man >/dev/null 2>&1 && man --version 2>/dev/null | grep -q '^man'; then
    have_man=yes
fi

# A UTF-8 locale keeps groff and man from warning about the characters
# they are given; fall back to C where none is installed.
if locale -a 2>/dev/null | grep -qi '^c\.utf-\{0,1\}8$'; then
    LC_ALL=C.UTF-8
else
    LC_ALL=C
fi
export LC_ALL
# man-db's seccomp sandbox fails inside some containers; it is not needed
# for formatting a local file.
MAN_DISABLE_SECCOMP=1
export MAN_DISABLE_SECCOMP

tmp=${TMPDIR:-/tmp}/man_render.$$
tree=${TMPDIR:-/tmp}/man_render_tree.$$
trap 'rm -rf "$tmp" "$tree"' EXIT HUP INT TERM
for page in "$docdir"/*.[1-8]; do
    [ -f "$page" ] || continue
    section=${page##*.}
    mkdir -p "$tree/man$section" && cp "$page" "$tree/man$section/"
done

# Render one page (a path relative to the current directory) with groff and
# man; every complaint is printed as a TAP comment.  Returns non-zero on any.
render() {
    bad=0
    groff -ww -man -Tutf8 -z "$1" >"$tmp" 2>&1
    rc=$?
    if [ "$rc" -ne 0 ] || [ -s "$tmp" ]; then
        echo "# groff -ww -man -Tutf8 -z $1 (exit $rc):"
        sed 's/^/#   /' "$tmp"
        bad=1
    fi
    if [ "$have_man" = yes ]; then
        MANWIDTH=80 man --warnings=w -E UTF-8 -l "$1" 2>"$tmp" >/dev/null
        rc=$?
        if [ "$rc" -ne 0 ] || [ -s "$tmp" ]; then
            echo "# MANWIDTH=80 man -l $1 (exit $rc):"
            sed 's/^/#   /' "$tmp"
            bad=1
        fi
    fi
    return $bad
}

pages=
count=0
for page in "$docdir"/*.[1-8]; do
    [ -f "$page" ] || continue
    pages="$pages $page"
    count=$((count + 1))
done
if [ "$count" -eq 0 ]; then
    echo "Bail out! no manual pages in $docdir"
    exit 1
fi

echo "1..$count"
n=0
failed=0
for page in $pages; do
    n=$((n + 1))
    name=$(basename "$page")
    ok=yes

    first=$(sed -n '1p' "$page")
    case $first in
    .so\ *)
        # A link page: one .so line naming man<N>/<page>, which must exist.
        target=${first#.so }
        lines=$(grep -c . "$page")
        if [ "$lines" -ne 1 ] || [ ! -f "$docdir/$(basename "$target")" ]; then
            echo "# $name: bad link to $target"
            ok=no
        elif ! (cd "$tree" && render "man${name##*.}/$name"); then
            ok=no
        fi
        ;;
    *)
        render "$page" || ok=no
        ;;
    esac

    if [ "$ok" = yes ]; then
        echo "ok $n - $name"
    else
        echo "not ok $n - $name"
        failed=$((failed + 1))
    fi
done

[ "$failed" -eq 0 ]
