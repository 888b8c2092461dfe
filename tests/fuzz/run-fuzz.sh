#!/usr/bin/env bash
# run-fuzz.sh [SECONDS] - build the API fuzzer with clang's libFuzzer and run
# it for SECONDS (default 60).
#
#   tests/fuzz/run-fuzz.sh 120        (or: make fuzz FUZZ_TIME=120)
#
# The fuzzer is tests/fuzz/api_fuzz.c over the interpreter tests/fuzz/
# interp.c, linked with the core's own sources (the list `make
# fuzz-core-sources` prints: the API flavour, as in libcistern_api), all
# built with -fsanitize=fuzzer,address,undefined.  The corpus starts from
# tests/fuzz/seeds and grows in the work folder.  Each crash, leak, timeout
# or out-of-memory input is copied to tests/fuzz/regressions/, where
# `make check` (tests/fuzz/replay) runs it again; the script then fails.
#
# Needs a configured tree (config.h) and clang with its runtime
# (Debian: clang, libclang-rt-14-dev or the version matching clang).
#
# Environment:
#   FUZZ_BUILDDIR    the configured build tree (default: the source tree)
#   FUZZ_WORKDIR     objects, corpus and artifacts (default: BUILDDIR/fuzz-work)
#   FUZZ_CC          the compiler (default: clang)
#   FUZZ_SANITIZERS  -fsanitize= list (default: fuzzer,address,undefined)
#   FUZZ_JOBS        parallel compiles (default: the number of CPUs)
#   FUZZ_ARGS        more libFuzzer arguments
set -euo pipefail

srcdir=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
builddir=$(cd "${FUZZ_BUILDDIR:-$srcdir}" && pwd)
workdir=${FUZZ_WORKDIR:-$builddir/fuzz-work}
seconds=${1:-${FUZZ_TIME:-60}}
cc=${FUZZ_CC:-clang}
sanitizers=${FUZZ_SANITIZERS:-fuzzer,address,undefined}
jobs=${FUZZ_JOBS:-$(nproc 2>/dev/null || echo 2)}

say() { printf '\n==> %s\n' "$*"; }

[ -f "$builddir/config.h" ] || { echo "run-fuzz: $builddir is not configured (no config.h)" >&2; exit 2; }
command -v "$cc" >/dev/null || { echo "run-fuzz: no $cc (Debian: apt-get install clang libclang-rt-14-dev)" >&2; exit 2; }

mkdir -p "$workdir/obj" "$workdir/corpus" "$workdir/artifacts"
workdir=$(cd "$workdir" && pwd)

# The same warnings as the core; the sanitizers' instrumentation on top.
# libFuzzer's own main, so -fsanitize=fuzzer only at the link.
cflags=$(make -s -C "$builddir" fuzz-core-cflags | sed -n 's/^fuzz-cflags: //p')
compile_san=${sanitizers//fuzzer/fuzzer-no-link}
flags=(-g -O1 $cflags -fsanitize="$compile_san" -fno-sanitize-recover=undefined
       -fno-omit-frame-pointer -I"$srcdir/include" -I"$srcdir/lib" -I"$srcdir" -I"$builddir")

mapfile -t sources < <(make -s -C "$builddir" fuzz-core-sources | sed -n 's/^fuzz-source: //p')
[ ${#sources[@]} -gt 0 ] || { echo "run-fuzz: make fuzz-core-sources listed nothing" >&2; exit 2; }
sources+=(tests/fuzz/interp.c tests/fuzz/api_fuzz.c)

say "Building the fuzzer (${#sources[@]} sources, $cc -fsanitize=$sanitizers)"
t0=$SECONDS
objs=()
for s in "${sources[@]}"; do
    objs+=("$workdir/obj/$(echo "$s" | tr / _).o")
done
# Compile what changed since the last build (a header newer than an object
# rebuilds them all), $jobs at a time.
stale() {
    [ ! -f "$2" ] || [ "$1" -nt "$2" ] || [ "$builddir/config.h" -nt "$2" ] ||
        [ -n "$(find "$srcdir/lib" "$srcdir/sysalloc" "$srcdir/include" "$srcdir/tests/fuzz" \
            -name '*.h' -newer "$2" -print -quit)" ]
}
pids=()
for i in "${!sources[@]}"; do
    src=$srcdir/${sources[$i]} obj=${objs[$i]}
    stale "$src" "$obj" || continue
    "$cc" "${flags[@]}" -c "$src" -o "$obj" &
    pids+=($!)
    if [ ${#pids[@]} -ge "$jobs" ]; then
        wait "${pids[0]}"
        pids=("${pids[@]:1}")
    fi
done
for p in "${pids[@]}"; do wait "$p"; done
"$cc" -fsanitize="$sanitizers" "${objs[@]}" -lpthread -ldl -o "$workdir/api_fuzz"
echo "built $workdir/api_fuzz in $((SECONDS - t0)) s"

say "Fuzzing for $seconds s"
log=$workdir/fuzz.log
set +e
# -timeout: one input running this long is a hang; -rss_limit_mb: cistern
# keeps freed pages a while, so allow more than the default 2 GiB.
"$workdir/api_fuzz" -max_total_time="$seconds" -timeout=30 -rss_limit_mb=4096 \
    -print_final_stats=1 -artifact_prefix="$workdir/artifacts/" ${FUZZ_ARGS:-} \
    "$workdir/corpus" "$srcdir/tests/fuzz/seeds" >"$log" 2>&1
rc=$?
set -e
grep -E '^(#[0-9]+ +DONE|Done [0-9]+ runs|stat::)' "$log" || tail -n 20 "$log"

# Artifacts become regression inputs (named by content, so reruns add
# nothing twice).
new=0
mkdir -p "$srcdir/tests/fuzz/regressions"
for a in "$workdir"/artifacts/*; do
    [ -f "$a" ] || continue
    kind=$(basename "$a" | cut -d- -f1)
    dest=$srcdir/tests/fuzz/regressions/$kind-$(sha1sum "$a" | cut -c1-16)
    if [ ! -f "$dest" ]; then
        cp "$a" "$dest"
        new=$((new + 1))
        echo "new regression input: ${dest#"$srcdir"/}"
    fi
done
if [ "$rc" -ne 0 ] || [ "$new" -ne 0 ]; then
    echo "run-fuzz: the fuzzer stopped with status $rc; see $log" >&2
    grep -m 20 -E 'ERROR|fuzz: |cistern: |SUMMARY' "$log" >&2 || true
    exit 1
fi
echo "run-fuzz: no crash in $seconds s"
