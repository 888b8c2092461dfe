#!/usr/bin/env bash
# demo.sh: real programs on cistern, beside the same runs on the system malloc.
#
#   tools/demo.sh [--peers] [LIBRARY]
#
# Runs two workloads, each once on the system malloc (glibc) and once with
# LIBRARY (default: lib/.libs/libcistern.so of this tree) preloaded and
# CISTERN_OPTIONS=stats_print=1, so that cistern prints its statistics at
# exit; then prints the wall time and peak RSS of every run in a table.
#   python3  PYTHONMALLOC=malloc, so every object comes from malloc: dicts and
#            lists of strings built and sorted, JSON round trips
#   sqlite3  a generated database of 400,000 rows, indexed and aggregated
# With --peers, jemalloc, tcmalloc and mimalloc run too where installed.
# The outputs of all runs of a workload must agree; the exit status is
# non-zero if any run fails or disagrees.  One run each: the figures are an
# illustration, not a benchmark (see `make bench`).
set -euo pipefail

top=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
peers=no
lib=
while [ $# -gt 0 ]; do
    case $1 in
    --peers) peers=yes ;;
    -h | --help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    -*) echo "demo.sh: unknown option $1" >&2; exit 2 ;;
    *) lib=$1 ;;
    esac
    shift
done
lib=${lib:-${CISTERN_LIB:-$top/lib/.libs/libcistern.so}}
[ -r "$lib" ] || { echo "demo.sh: no library at $lib (build first: make)" >&2; exit 1; }
case $lib in /*) ;; *) lib=$PWD/$lib ;; esac

# The system's programs, not whatever a personal PATH puts first.
sysprog() {
    if [ -x "/usr/bin/$1" ]; then echo "/usr/bin/$1"; else command -v "$1"; fi
}
python=$(sysprog python3) || { echo "demo.sh: python3 is needed" >&2; exit 1; }
sqlite=$(sysprog sqlite3 || true)

tmp=$(mktemp -d "${TMPDIR:-/tmp}/cistern-demo.XXXXXX")
trap 'rm -rf "$tmp"' EXIT

cat >"$tmp/work.py" <<'PY'
import hashlib, json

def lcg(x):
    while True:
        x = (x * 6364136223846793005 + 1442695040888963407) & (2**64 - 1)
        yield x >> 20

h = hashlib.sha256()
rng = lcg(2024)
for rnd in range(2):
    # a dict of 250,000 string keys, its items sorted by value then key
    d = {"user:%011x" % next(rng): "v%d" % (i % 1013) * (1 + i % 5) for i in range(250000)}
    items = sorted(d.items(), key=lambda kv: (kv[1], kv[0]))
    h.update(items[0][0].encode() + items[-1][0].encode())
    # lists of strings split, joined and sorted
    words = " ".join(k + "/" + v for k, v in items[::3]).split()
    words.sort(key=str.lower)
    h.update(words[len(words) // 2].encode())
    # a JSON round trip of a nested structure
    doc = {"round": rnd, "rows": [{"k": k, "v": v, "n": [len(k), len(v)]} for k, v in items[::2]]}
    text = json.dumps(doc, sort_keys=True)
    back = json.loads(text)
    assert back == doc
    h.update(str(len(text)).encode())
    del d, items, words, doc, back, text
print("python3 workload checksum", h.hexdigest()[:16])
PY

cat >"$tmp/work.sql" <<'SQL'
PRAGMA cache_size = -131072;
PRAGMA synchronous = OFF;
PRAGMA journal_mode = OFF;
CREATE TABLE orders(id INTEGER PRIMARY KEY, customer INTEGER, amount INTEGER, note TEXT);
WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 400000)
INSERT INTO orders
  SELECT x, (x * 7919) % 5000, (x * 104729) % 10007, printf('order %d for customer %d', x, (x * 7919) % 5000)
  FROM c;
CREATE INDEX orders_customer ON orders(customer);
CREATE INDEX orders_note ON orders(note);
SELECT 'orders', count(*), sum(amount), count(DISTINCT customer) FROM orders;
SELECT 'top', customer, total FROM
  (SELECT customer, sum(amount) AS total FROM orders GROUP BY customer ORDER BY total DESC, customer LIMIT 3);
SELECT 'notes', count(*) FROM orders AS a JOIN orders AS b ON a.note = b.note;
SELECT 'sorted', group_concat(id) FROM (SELECT id FROM orders ORDER BY amount DESC, note LIMIT 5);
PRAGMA integrity_check;
SQL

cat >"$tmp/driver.py" <<'PY'
import os, subprocess, sys, time

tmp, lib, peers, python, sqlite = sys.argv[1:6]
allocators = [("glibc", None), ("cistern", lib)]
if peers == "yes":
    libdir = "/usr/lib/x86_64-linux-gnu"
    for name, so in (("jemalloc", "libjemalloc.so.2"), ("tcmalloc", "libtcmalloc_minimal.so.4"),
                     ("mimalloc", "libmimalloc.so.2")):
        for d in (libdir, "/usr/lib", "/usr/lib64"):
            if os.path.exists(os.path.join(d, so)):
                allocators.append((name, os.path.join(d, so)))
                break

workloads = [("python3", [python, os.path.join(tmp, "work.py")], None, {"PYTHONMALLOC": "malloc"})]
if sqlite:
    workloads.append(("sqlite3", [sqlite, "-batch", "-init", "/dev/null", os.path.join(tmp, "db")],
                      os.path.join(tmp, "work.sql"), {}))
else:
    print("(sqlite3 is not installed: that workload is left out)")

def run(argv, stdin, extra, preload, is_cistern):
    env = dict(os.environ, **extra)
    env.pop("LD_PRELOAD", None)
    env.pop("CISTERN_OPTIONS", None)
    if preload:
        env["LD_PRELOAD"] = preload
    if is_cistern:
        env["CISTERN_OPTIONS"] = "stats_print=1"
    db = os.path.join(tmp, "db")
    if os.path.exists(db):
        os.unlink(db)
    fin = open(stdin, "rb") if stdin else subprocess.DEVNULL
    out, err = open(os.path.join(tmp, "out"), "w+b"), open(os.path.join(tmp, "err"), "w+b")
    start = time.monotonic()
    proc = subprocess.Popen(argv, stdin=fin, stdout=out, stderr=err, env=env)
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.monotonic() - start
    proc.returncode = os.waitstatus_to_exitcode(status)
    out.seek(0), err.seek(0)
    return proc.returncode, wall, usage.ru_maxrss / 1024.0, out.read(), err.read()

rows, failed = [], False
for wname, argv, stdin, extra in workloads:
    reference = None
    for aname, preload in allocators:
        print("running %-8s on %-8s ..." % (wname, aname), flush=True)
        code, wall, rss, out, err = run(argv, stdin, extra, preload, aname == "cistern")
        if aname == "cistern":
            text = err.decode(errors="replace").rstrip()
            print("--- %s on cistern: stderr (statistics at exit) ---" % wname)
            print(text if text else "(nothing: no statistics were printed)")
            print("---")
        if code != 0:
            verdict = "FAILED (status %d)" % code
            if aname != "cistern":
                print(err.decode(errors="replace")[-2000:])
        elif reference is None:
            reference, verdict = out, "reference"
        elif out == reference:
            verdict = "same output"
        else:
            verdict = "DIFFERENT output"
        failed |= verdict not in ("reference", "same output")
        rows.append((wname, aname, wall, rss, verdict))

print()
print("%-9s %-9s %10s %15s  %s" % ("workload", "malloc", "wall (s)", "peak RSS (MiB)", "result"))
print("%-9s %-9s %10s %15s  %s" % ("-" * 9, "-" * 9, "-" * 10, "-" * 15, "-" * 16))
for wname, aname, wall, rss, verdict in rows:
    print("%-9s %-9s %10.2f %15.1f  %s" % (wname, aname, wall, rss, verdict))
print()
print("One run each on this machine; for measurements run `make bench`.")
sys.exit(1 if failed else 0)
PY

"$python" "$tmp/driver.py" "$tmp" "$lib" "$peers" "$python" "$sqlite"
