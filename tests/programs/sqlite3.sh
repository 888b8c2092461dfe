#!/usr/bin/env bash
# sqlite3 on a generated database: 300,000 rows made by a recursive CTE, two
# indexes, aggregates, a self-join, a sort, a 3 MB string aggregate, an
# update, a delete and a VACUUM; every result is compared with values worked
# out independently of SQLite.

# shellcheck source-path=SCRIPTDIR source=common.sh
. "${srcdir:-$(dirname "$0")/../..}/tests/programs/common.sh"

need_program sqlite3
need_library
make_tmpdir

cat >"$tmp/script.sql" <<'SQL'
PRAGMA cache_size = -65536;
PRAGMA synchronous = OFF;
CREATE TABLE t(id INTEGER PRIMARY KEY, k INTEGER NOT NULL, s TEXT NOT NULL);
WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 300000)
INSERT INTO t
  SELECT x, (x * 7919) % 1000, printf('%08x-%d', (x * 2654435761) % 4294967296, x % 97)
  FROM c;
CREATE INDEX t_k ON t(k);
CREATE INDEX t_s ON t(s);
SELECT 'rows', count(*), sum(k), sum(length(s)) FROM t;
SELECT 'distinct', count(DISTINCT k), min(s), max(s) FROM t;
SELECT 'group', k, count(*), sum(id) FROM t WHERE k IN (0, 1, 999) GROUP BY k ORDER BY k;
SELECT 'join', count(*) FROM t AS a JOIN t AS b ON a.s = b.s;
SELECT 'sort', group_concat(id, ',')
  FROM (SELECT id FROM t ORDER BY substr(s, 5) || k, id LIMIT 5);
SELECT 'prefix', count(*), max(n) FROM (SELECT substr(s, 1, 3) AS p, count(*) AS n FROM t GROUP BY p);
SELECT 'concat', length(group_concat(s, '')) FROM t;
UPDATE t SET s = s || '!' WHERE k < 100;
SELECT 'update', sum(length(s)) FROM t;
DELETE FROM t WHERE id % 3 = 0;
VACUUM;
SELECT 'delete', count(*), sum(k) FROM t;
PRAGMA integrity_check;
SQL

# k = 7919x mod 1000 runs through every residue once per 1000 rows (7919 is
# prime to 1000), so each k has 300 rows and sum(k) = 300 * 499500; s is
# unique (2654435761 is odd, so x -> 2654435761x mod 2^32 is one-to-one).
cat >"$tmp/expected" <<'OUT'
rows|300000|149850000|3269071
distinct|1000|0000609b-45|ffffd2e5-12
group|0|300|45150000
group|1|300|45053700
group|999|300|44946300
join|300000
sort|131072,262144,65536,196608,143185
prefix|4096|76
concat|3269071
update|3299071
delete|200000|99900000
ok
OUT

plan 3

preloaded "$prog" -batch -init /dev/null "$tmp/test.db" <"$tmp/script.sql" >"$tmp/out" 2>"$tmp/err"
status=$?
ok "$status" "sqlite3 exited normally (status $status)" || show "$tmp/err"

diff -u "$tmp/expected" "$tmp/out" >"$tmp/diff"
ok $? "query results are the expected ones" || show "$tmp/diff" 40

check_marker "$tmp/err" sqlite3
done_testing
