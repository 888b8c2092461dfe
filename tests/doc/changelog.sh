#!/bin/sh
# changelog.sh - ChangeLog keeps the GNU format: entries under headers of
# the form "YYYY-MM-DD  Name  <address>", each entry's lines indented by a
# tab and its first line starting "* " with the files it touched, newest
# header first.  Speaks TAP.

if [ -z "${srcdir:-}" ]; then
    srcdir=$(cd "$(dirname "$0")/../.." && pwd)
fi
log=$srcdir/ChangeLog
echo "1..3"
[ -f "$log" ] || { echo "not ok 1 - no ChangeLog at $log"; echo "not ok 2"; echo "not ok 3"; exit 1; }

bad=$(awk '
    /^$/ { next }
    /^[0-9][0-9][0-9][0-9]-[0-1][0-9]-[0-3][0-9]  [^ ].*  <[^>]+>$/ { next }
    /^\t/ { next }
    { print NR ": " $0 }' "$log" | head -5)
if [ -z "$bad" ]; then echo "ok 1 - every line is a header, blank or tab-indented"
else echo "not ok 1 - lines in no GNU form:"; echo "$bad" | sed 's/^/#   /'; fi

entries=$(awk '/^\t\* [^ ].*: /' "$log" | wc -l)
if [ "$entries" -gt 0 ]; then echo "ok 2 - $entries entries name their files"
else echo "not ok 2 - no \"* file: ...\" entries"; fi

dates=$(sed -n 's/^\([0-9-]\{10\}\)  .*/\1/p' "$log")
if [ "$dates" = "$(echo "$dates" | sort -r)" ] && [ -n "$dates" ]; then
    echo "ok 3 - headers newest first"
else
    echo "not ok 3 - headers out of date order"
fi
[ -z "$bad" ] && [ "$entries" -gt 0 ] && [ "$dates" = "$(echo "$dates" | sort -r)" ]
