#!/bin/sh
# formats.sh - the reports parse with real parsers: malloc_info's XML with
# Python's xml.etree, cistern_stats_print's JSON with its json module, and
# their totals move by what a program holds.  Also: stats_print=1 in
# CISTERN_OPTIONS prints the report at exit.  Speaks TAP.

: "${abs_top_builddir:=$(pwd)}"
dump="$abs_top_builddir/tests/compat/dump"
MB=32

if [ ! -x "$dump" ]; then
    echo "1..0 # SKIP $dump not built"
    exit 0
fi
tmp=$(mktemp -d "${TMPDIR:-/tmp}/cistern-formats.XXXXXX") || exit 1
trap 'rm -rf "$tmp"' EXIT
# The test's own settings only.
unset CISTERN_OPTIONS

n=0
# result STATUS DESCRIPTION
result() {
    n=$((n + 1))
    if [ "$1" -eq 0 ]; then echo "ok $n - $2"; else echo "not ok $n - $2"; fi
}
show() { sed 's/^/# /' "$@"; }
python=$(command -v python3 || true)
# check DESCRIPTION SCRIPT ARGS...: a Python check, skipped without Python.
check() {
    desc=$1 script=$2
    shift 2
    if [ -z "$python" ]; then
        n=$((n + 1))
        echo "ok $n # SKIP python3 not found: $desc"
        return
    fi
    "$python" -c "$script" "$@" >"$tmp/why" 2>&1
    st=$?
    result $st "$desc"
    [ $st -eq 0 ] || show "$tmp/why"
}

echo "1..4"

"$dump" info 0 >"$tmp/info0.xml" && "$dump" info $MB >"$tmp/info1.xml"
check "malloc_info writes well-formed XML in glibc's shape" '
import sys, xml.etree.ElementTree as ET
root = ET.parse(sys.argv[1]).getroot()
assert root.tag == "malloc" and root.get("version") == "1", root.attrib
heaps = root.findall("heap")
assert heaps and all(h.get("nr") is not None for h in heaps), "no <heap nr=...>"
for h in heaps:
    for size in h.find("sizes"):
        assert int(size.get("from")) <= int(size.get("to")), size.attrib
types = [t.get("type") for t in root.findall("total")]
assert types == ["fast", "rest", "mmap", "inuse"], types
assert root.findall("source"), "no <source>"
' "$tmp/info1.xml"

check "malloc_info totals move by what the program holds" '
import sys, xml.etree.ElementTree as ET
mb = int(sys.argv[3]) << 20
def total(node, kind, attr="size"):
    return next(int(t.get(attr)) for t in node.findall("total") if t.get("type") == kind)
a, b = (ET.parse(f).getroot() for f in sys.argv[1:3])
for root in (a, b):
    heaps = sum(total(h, "inuse") for h in root.findall("heap"))
    assert heaps == total(root, "inuse"), "heaps: %d, total: %d" % (heaps, total(root, "inuse"))
    assert total(root, "mmap", "count") >= 1, "the 1 MiB block is not a large span"
grew = total(b, "inuse") - total(a, "inuse")
assert mb <= grew <= mb + mb // 8 + (1 << 20), "inuse grew by %d for %d" % (grew, mb)
' "$tmp/info0.xml" "$tmp/info1.xml" $MB

"$dump" json 0 >"$tmp/s0.json" && "$dump" json $MB >"$tmp/s1.json"
check "cistern_stats_print(json=1) is valid JSON whose figures move" '
import json, sys
mb = int(sys.argv[3]) << 20
a, b = (json.load(open(f))["cistern"] for f in sys.argv[1:3])
for doc in (a, b):
    assert doc["arenas"] and doc["sources"], doc
def allocated(doc):
    return sum(x["allocated_bytes"] for x in doc["arenas"])
grew = allocated(b) - allocated(a)
assert mb <= grew <= mb + mb // 8 + (1 << 20), "allocated grew by %d for %d" % (grew, mb)
' "$tmp/s0.json" "$tmp/s1.json" $MB

CISTERN_OPTIONS=stats_print=1 "$dump" none >"$tmp/exit.out" 2>"$tmp/exit.err"
st=$?
grep -q "cistern stats" "$tmp/exit.err"
found=$?
[ $st -eq 0 ] && [ $found -eq 0 ]
result $? "CISTERN_OPTIONS=stats_print=1 prints the report at exit"
[ $found -eq 0 ] || show "$tmp/exit.err"
