#!/usr/bin/env bash
# gcc compiling C under the preload: the driver, cc1, as, collect2 and ld all
# run on cistern.  A small program (sieve, recursion, qsort, a linked list)
# plus 400 generated functions are compiled with -O2; the binary is then run
# (plain and preloaded) and its output compared with values worked out apart.

# shellcheck source-path=SCRIPTDIR source=common.sh
. "${srcdir:-$(dirname "$0")/../..}/tests/programs/common.sh"

need_program gcc
need_library
make_tmpdir

cat >"$tmp/prog.c" <<'C'
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct node { struct node *next; uint64_t key; char name[24]; };

static uint64_t lcg(uint64_t *x)
{
    *x = *x * 6364136223846793005u + 1442695040888963407u;
    return *x >> 16;
}

static int primes_below(int n)
{
    char *composite = calloc((size_t)n, 1);
    int count = 0;
    if (!composite) return -1;
    for (int i = 2; i < n; i++) {
        if (composite[i]) continue;
        count++;
        for (long j = (long)i * i; j < n; j += i) composite[j] = 1;
    }
    free(composite);
    return count;
}

static unsigned fib(unsigned n) { return n < 2 ? n : fib(n - 1) + fib(n - 2); }

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return (x > y) - (x < y);
}

static uint64_t sorted_checksum(size_t n)
{
    uint64_t seed = 42, sum = 0, *v = malloc(n * sizeof *v);
    if (!v) return 0;
    for (size_t i = 0; i < n; i++) v[i] = lcg(&seed) % 1000003u;
    qsort(v, n, sizeof *v, cmp_u64);
    for (size_t i = 0; i < n; i++) sum = sum * 31 + v[i];
    free(v);
    return sum;
}

static uint64_t list_walk(int n)
{
    struct node *head = NULL;
    uint64_t sum = 0;
    for (int i = 0; i < n; i++) {
        struct node *p = malloc(sizeof *p);
        if (!p) return 0;
        p->key = (uint64_t)i * i;
        snprintf(p->name, sizeof p->name, "node-%d", i);
        p->next = head;
        head = p;
    }
    while (head) {
        struct node *next = head->next;
        sum += head->key + strlen(head->name);
        free(head);
        head = next;
    }
    return sum;
}

extern unsigned long (*const gen_table[])(unsigned long);
extern const int gen_count;

int main(void)
{
    unsigned long gen = 0;
    for (int i = 0; i < gen_count; i++)
        gen += gen_table[i](1000u + (unsigned)i);
    printf("primes %d\n", primes_below(1000000));
    printf("fib %u\n", fib(27));
    printf("sorted %llu\n", (unsigned long long)sorted_checksum(200000));
    printf("list %llu\n", (unsigned long long)list_walk(100000));
    printf("gen %lu\n", gen);
    return 0;
}
C

# 400 functions of loops and switches, and a table of them: work for the
# optimiser.
for ((i = 0; i < 400; i++)); do
    cat <<C
unsigned long f$i(unsigned long x)
{
    unsigned long r = $i;
    for (int k = 0; k < (int)(x % 13) + 3; k++) {
        switch ((x + k) % 5) {
        case 0: r += x * $((i + 1)); break;
        case 1: r ^= x << $((i % 11)); break;
        case 2: r = r * 3 + $((i % 17)); break;
        case 3: r -= x >> 1; break;
        default: r += (unsigned long)k * k;
        }
    }
    return r;
}
C
done >"$tmp/gen.c"
{
    echo 'unsigned long (*const gen_table[])(unsigned long) = {'
    for ((i = 0; i < 400; i++)); do echo "    f$i,"; done
    echo '};'
    echo 'const int gen_count = 400;'
} >>"$tmp/gen.c"

# primes below 10^6: 78498; fib(27) = 196418; list: sum of i^2 + strlen("node-i")
# for i < 100000; sorted and gen: computed by an independent implementation.
cat >"$tmp/expected" <<'OUT'
primes 78498
fib 196418
sorted 9110306738105405704
list 333328334338890
gen 1514189906
OUT

plan 6

(cd "$tmp" && preloaded "$prog" -O2 -Wall -o prog prog.c gen.c) >"$tmp/cc.out" 2>"$tmp/cc.err"
status=$?
ok "$status" "gcc -O2 exited normally (status $status)" || show "$tmp/cc.err"

check_marker "$tmp/cc.err" gcc

"$tmp/prog" >"$tmp/out" 2>"$tmp/run.err"
ok $? "the compiled program ran" || show "$tmp/run.err"
diff -u "$tmp/expected" "$tmp/out" >"$tmp/diff"
ok $? "the compiled program printed the expected values" || show "$tmp/diff"

preloaded "$tmp/prog" >"$tmp/out2" 2>"$tmp/run2.err"
status=$?
cmp -s "$tmp/expected" "$tmp/out2"
ok $((status | $?)) "the compiled program gives the same values on cistern" ||
    { show "$tmp/out2"; show "$tmp/run2.err"; }
check_marker "$tmp/run2.err" "the compiled program"

done_testing
