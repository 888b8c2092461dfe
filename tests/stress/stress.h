/*
 * stress.h - what the stress programs share: the allocation names (see
 * tests/api/names.h: the drop-in's malloc, or the cistern_* names where a
 * sanitizer owns malloc), a small random generator, and a content pattern
 * tied to the block's address so that a block handed out twice, or moved
 * without its contents, fails the check.
 */
#ifndef CS_STRESS_H
#define CS_STRESS_H

#include "testutil.h"
#include "names.h"

#include <stdint.h>
#include <string.h>

/* Sanitizers slow every access down many times: do less work under them,
   the same kind of work. */
#if defined(__SANITIZE_THREAD__) || defined(__SANITIZE_ADDRESS__)
#define STRESS_SCALE 8
#else
#define STRESS_SCALE 1
#endif

static inline uint64_t stress_mix(uint64_t x)
{
    x ^= x >> 30;
    x *= 0xbf58476d1ce4e5b9ull;
    x ^= x >> 27;
    x *= 0x94d049bb133111ebull;
    return x ^ (x >> 31);
}

/* xorshift64*: per-thread state, never shared. */
static inline uint64_t stress_rand(uint64_t *s)
{
    uint64_t x = *s;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    *s = x;
    return x * 0x2545f4914f6cdd1dull;
}

/* 8 B .. 1 MiB, most of it small, as programs allocate. */
static inline size_t stress_size(uint64_t *s)
{
    uint64_t r = stress_rand(s);
    unsigned pick = (unsigned)(r % 1000);
    r >>= 10;
    if (pick < 700)
        return 8 + r % 249;                 /* 8 .. 256 */
    if (pick < 950)
        return 257 + r % (8192 - 257);      /* up to 8 KiB */
    if (pick < 995)
        return 8193 + r % (262144 - 8193);  /* up to the small limit */
    return 262145 + r % (1048576 - 262144); /* up to 1 MiB */
}

/* Word i of block p holds base + i * odd; trailing bytes follow on. */
#define STRESS_STEP 0x9e3779b97f4a7c15ull

static inline uint64_t stress_base(const void *p, uint64_t seed)
{
    return stress_mix((uint64_t)(uintptr_t)p ^ seed);
}

static inline void stress_fill(void *p, size_t n, uint64_t seed)
{
    uint64_t v = stress_base(p, seed);
    unsigned char *c = p;
    size_t i = 0;
    for (; i + 8 <= n; i += 8, v += STRESS_STEP)
        memcpy(c + i, &v, 8);
    /* The tail takes the bytes the next word would have, in memory order,
       so a shorter prefix of a block checks the same on any endianness. */
    unsigned char t[8];
    memcpy(t, &v, 8);
    for (; i < n; i++)
        c[i] = t[i % 8];
}

/* 1 when [q, q+n) holds the pattern written for block p. */
static inline int stress_check(const void *q, size_t n, const void *p, uint64_t seed)
{
    uint64_t v = stress_base(p, seed), w;
    const unsigned char *c = q;
    size_t i = 0;
    for (; i + 8 <= n; i += 8, v += STRESS_STEP) {
        memcpy(&w, c + i, 8);
        if (w != v)
            return 0;
    }
    unsigned char t[8];
    memcpy(t, &v, 8);
    for (; i < n; i++)
        if (c[i] != t[i % 8])
            return 0;
    return 1;
}

/* Default arena counters; 0 on success. */
static inline int stress_stats(cistern_arena_stats_t *st)
{
    return cistern_arena_get_stats(cistern_arena_default(), st);
}

/* Objects allocated and not freed between two readings. */
static inline long long stress_live_delta(const cistern_arena_stats_t *a,
                                          const cistern_arena_stats_t *b)
{
    return (long long)(b->nmalloc - a->nmalloc) - (long long)(b->nfree - a->nfree);
}

/* Commit and free a large block, then allocate once more, so that what
   cistern starts once a megabyte is committed (its background thread, whose
   creation may allocate: the next allocation slow path starts it) exists
   before a baseline is taken.  Large blocks, as they always take that path. */
static inline void stress_settle(void)
{
    T_FREE(T_MALLOC((size_t)1 << 20));
    T_FREE(T_MALLOC((size_t)1 << 20));
}

#endif
