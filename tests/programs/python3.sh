#!/usr/bin/env bash
# python3 (PYTHONMALLOC=malloc, so every Python object comes from malloc) on a
# workload with known answers: a 300,000-key dict of strings sorted and
# hashed, a JSON round trip of a 7 MB document, regex search and substitution
# over a large text, waves of objects from 1 byte to 1 MiB (a few GB over the
# run), and lists built on worker threads and freed on the main thread.

# shellcheck source-path=SCRIPTDIR source=common.sh
. "${srcdir:-$(dirname "$0")/../..}/tests/programs/common.sh"

need_program python3
need_library
make_tmpdir

cat >"$tmp/work.py" <<'PY'
import gc, hashlib, json, re
from concurrent.futures import ThreadPoolExecutor

def lcg(seed):
    x = seed
    while True:
        x = (x * 6364136223846793005 + 1442695040888963407) & 0xFFFFFFFFFFFFFFFF
        yield x >> 16

def digest(data):
    return hashlib.sha256(data.encode()).hexdigest()[:16]

# 1. a large dict of strings, sorted
rng = lcg(1)
words = {}
for i in range(300000):
    k = "%012x-%d" % (next(rng), i % 977)
    words[k] = words.get(k, 0) + i
keys = sorted(words)
print("dict", len(words), digest("\n".join(keys)), sum(words.values()))

# 2. json round trip of a large structure
doc = [{"id": i, "name": "item-%d" % i, "tags": ["t%d" % (i % 13), "u%d" % (i % 7)],
        "values": [i * j % 101 for j in range(i % 17)], "nested": {"a": str(i), "b": [i] * (i % 5)}}
       for i in range(60000)]
text = json.dumps(doc, sort_keys=True, separators=(",", ":"))
back = json.loads(text)
print("json", len(text), digest(text), back == doc)
del doc, back

# 3. regex over a large text
text = " ".join("%s%d" % ("abc"[i % 3] * (1 + i % 4), i) for i in range(200000))
m = re.findall(r"\b(a+|bb+)(\d*7)\b", text)
subbed = re.sub(r"c+(\d)", r"C\1", text)
print("regex", len(m), digest("".join(a + b for a, b in m)), len(subbed), digest(subbed))
del text, subbed, m

# 4. churn: objects from 1 byte to 1 MiB, allocated and freed in waves
rng = lcg(7)
total = 0
keep = []
for wave in range(40):
    objs = [bytearray(1 + next(rng) % (1 << (4 + (i % 17)))) for i in range(3000)]
    total += sum(len(o) for o in objs)
    keep.append(objs[wave % len(objs)])
    del objs
print("churn", total, sum(len(k) for k in keep))

# 5. threads: lists built on worker threads, freed on the main thread
def work(n):
    r = lcg(n)
    return sorted(str(next(r)) for _ in range(20000))
with ThreadPoolExecutor(max_workers=4) as pool:
    results = list(pool.map(work, range(32)))
print("threads", len(results), digest("".join(r[0] + r[-1] for r in results)))
del results
gc.collect()
print("done")
PY

# The data come from a fixed LCG, so the answers do not depend on the
# allocator or on hash seeds: the dict's keys are unique, so its values sum
# to 0 + 1 + ... + 299999; the digests (sha256 of the sorted keys, of the JSON
# text, ...) were taken from runs on the system malloc.
cat >"$tmp/expected" <<'OUT'
dict 300000 6da6464791d9cd4c 44999850000
json 7559489 ef57159938d9c0a9 True
regex 13333 80586b7c37723ceb 1688890 02f2285767a14d5a
churn 7377702561 1363145
threads 32 d0a5e1698cbf53a9
done
OUT

plan 8

PYTHONMALLOC=malloc PYTHONHASHSEED=0 preloaded "$prog" "$tmp/work.py" >"$tmp/out" 2>"$tmp/err"
status=$?
ok "$status" "python3 exited normally (status $status)" || show "$tmp/err"

while IFS= read -r want; do
    name=${want%% *}
    got=$(grep -m1 -E "^$name( |\$)" "$tmp/out")
    [ "$got" = "$want" ]
    ok $? "output: $want" || diag "got: ${got:-nothing}"
done <"$tmp/expected"

check_marker "$tmp/err" python3
done_testing
