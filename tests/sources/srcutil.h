/*
 * srcutil.h - helpers shared by the memory-source tests: ranges the tests
 * reserve themselves (the memory a program would inject), residency counts,
 * and short wrappers over the source statistics.
 */
#ifndef CS_SRCUTIL_H
#define CS_SRCUTIL_H

#include <cistern.h>
#include <check.h>
#include "testutil.h"
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#define KiB ((size_t)1 << 10)
#define MiB ((size_t)1 << 20)

/* A private anonymous range of len bytes aligned to align (a power of two).
   Aligning it keeps the pool free of the partial heap page cistern would
   trim at an unaligned start, so whole-range arithmetic in the tests holds. */
static inline void *su_map(size_t len, size_t align)
{
    void *p = test_map_aligned(len, align, MAP_NORESERVE);
    ck_assert_msg(p != NULL, "mmap of %zu bytes failed", len + align);
    return p;
}

static inline int su_inside(const void *p, size_t n, const void *base, size_t len)
{
    uintptr_t a = (uintptr_t)p, b = (uintptr_t)base;
    return a >= b && a + n <= b + len && a + n >= a;
}

static inline size_t su_page(void)
{
    return (size_t)sysconf(_SC_PAGESIZE);
}

/* Pages of [base, base+len) the kernel holds in memory now. */
static inline size_t su_resident(const void *base, size_t len)
{
    size_t page = su_page(), n = (len + page - 1) / page, count = 0;
    unsigned char *vec = calloc(n, 1);
    ck_assert_ptr_nonnull(vec);
    ck_assert_int_eq(mincore((void *)base, len, vec), 0);
    for (size_t i = 0; i < n; i++)
        count += vec[i] & 1;
    free(vec);
    return count;
}

static inline cistern_sysalloc_stats_t su_stats(const cistern_sysalloc_t *s)
{
    cistern_sysalloc_stats_t st;
    ck_assert_int_eq(cistern_sysalloc_get_stats(s, &st), 0);
    return st;
}

/* An arena whose whole chain is the given sources. */
static inline cistern_arena_t *su_arena(const char *name, cistern_sysalloc_t *const *src, size_t n)
{
    cistern_arena_config_t cfg = { name, src, n, 0, 0 };
    cistern_arena_t *a = cistern_arena_create(&cfg);
    ck_assert_msg(a != NULL, "cistern_arena_create: %s", strerror(errno));
    return a;
}

/* A cheap deterministic generator: runs are reproducible from their seed. */
static inline uint32_t su_rand(uint64_t *state)
{
    *state = *state * 6364136223846793005ull + 1442695040888963407ull;
    return (uint32_t)(*state >> 33);
}

#endif
