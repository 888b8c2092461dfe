#!/bin/sh
# tools_catch.sh - memory checkers see inside cistern's arenas: a leak and a
# read after reset planted in tests/compat/planted are reported by valgrind
# memcheck (client requests) and, in an ASan build, by AddressSanitizer.
# TAP; a tool that is missing makes its checks skip.
prog=${abs_top_builddir:-.}/tests/compat/planted
run() { "${abs_top_builddir:-.}/libtool" --mode=execute "$@"; }
kind=$(run "$prog" probe 2>/dev/null)
echo "1..5"
n=0
if [ "$kind" = asan ]; then
    n=$((n + 1))
    out=$(run "$prog" invalid 2>&1)
    if echo "$out" | grep -q "use-after-poison"; then
        echo "ok $n - ASan reports the read after an arena reset"
    else
        echo "not ok $n - ASan said nothing about the read after reset"; echo "$out" | sed 's/^/# /'
    fi
    for k in 2 3 4 5; do echo "ok $k # SKIP valgrind does not run ASan builds"; done
    exit 0
fi
echo "ok 1 # SKIP not an ASan build (the ASan check runs in the sanitizer build)"
if ! command -v valgrind >/dev/null 2>&1; then
    for k in 2 3 4 5; do echo "ok $k # SKIP valgrind missing"; done
    exit 0
fi
out=$(run valgrind --leak-check=full "$prog" leak 2>&1)
if echo "$out" | grep -Eq "definitely lost: [1-9]"; then
    echo "ok 2 - memcheck reports the block leaked from an arena"
else
    echo "not ok 2 - memcheck missed the arena leak"; echo "$out" | sed 's/^/# /'
fi
out=$(run valgrind "$prog" invalid 2>&1)
if echo "$out" | grep -q "Invalid read"; then
    echo "ok 3 - memcheck reports the read after an arena reset"
else
    echo "not ok 3 - memcheck missed the read after reset"; echo "$out" | sed 's/^/# /'
fi
n=3
for what in leak_first leak_large; do
    n=$((n + 1))
    out=$(run valgrind --leak-check=full "$prog" $what 2>&1)
    if echo "$out" | grep -Eq "definitely lost: [1-9]"; then
        echo "ok $n - memcheck reports the leaked block ($what): no record holds its address"
    else
        echo "not ok $n - memcheck missed the leaked block ($what)"; echo "$out" | sed 's/^/# /'
    fi
done
