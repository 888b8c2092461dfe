/*
 * regions.c - spans never cross regions (design invariant 3), and a free
 * run inside a region is decommitted while its neighbours live (invariant 4).
 *
 * The custom source hands out consecutive slices of one reservation, so
 * every region it gives is address-adjacent to the one before: a page heap
 * that merged free runs by address alone would join them.
 */
#include "srcutil.h"
#include "testutil.h"

#define RESERVE (64 * MiB)

struct adjacent {
    char *base, *cur;
    size_t chunk;            /* each region is at least this big */
    unsigned nalloc;
    struct {
        uintptr_t p;
        size_t len;
    } decommits[64];
    unsigned ndecommit;
};

static void *adjacent_alloc(void *ctx, size_t size, size_t align, size_t *actual)
{
    struct adjacent *s = ctx;
    size_t give = size < s->chunk ? s->chunk : size;
    give = (give + align - 1) & ~(align - 1);
    if (((uintptr_t)s->cur & (align - 1)) || s->cur + give > s->base + RESERVE)
        return NULL;
    void *p = s->cur;
    s->cur += give;
    s->nalloc++;
    *actual = give;
    return p;
}

static int adjacent_decommit(void *ctx, void *p, size_t len)
{
    struct adjacent *s = ctx;
    if (s->ndecommit < 64) {
        s->decommits[s->ndecommit].p = (uintptr_t)p;
        s->decommits[s->ndecommit].len = len;
    }
    s->ndecommit++;
    return madvise(p, len, MADV_DONTNEED) == 0 ? 0 : errno;
}

/* No unmap op: regions are never given back, so nothing but the heap's own
   decisions changes which regions exist. */
static cistern_sysalloc_t *adjacent_source_granule(struct adjacent *s, size_t chunk, size_t granule)
{
    memset(s, 0, sizeof *s);
    s->base = s->cur = su_map(RESERVE, 2 * MiB);
    s->chunk = chunk;
    cistern_sysalloc_ops_t ops = { 0 };
    ops.alloc = adjacent_alloc;
    ops.decommit = adjacent_decommit;
    cistern_sysalloc_t *src = cistern_sysalloc_custom("adjacent", &ops, s, granule, 0);
    ck_assert_ptr_nonnull(src);
    return src;
}

static cistern_sysalloc_t *adjacent_source(struct adjacent *s, size_t chunk)
{
    return adjacent_source_granule(s, chunk, 0);
}

START_TEST(adjacent_free_regions_not_joined)
{
    ck_assert_int_eq(cistern_option_set("decay_ms", "-1"), 0);
    struct adjacent s;
    cistern_sysalloc_t *src = adjacent_source(&s, 1 * MiB);
    cistern_arena_t *a = su_arena("adjacent", &src, 1);
    /* 768 KiB twice: the second cannot fit the first region's rest. */
    char *p = cistern_arena_malloc(a, 768 * KiB);
    char *q = cistern_arena_malloc(a, 768 * KiB);
    ck_assert_uint_eq(s.nalloc, 2);
    ck_assert_ptr_eq(p, s.base);
    ck_assert_ptr_eq(q, s.base + 1 * MiB);
    cistern_free(p);
    cistern_free(q);
    ck_assert_int_eq(cistern_check_heap(), 0);
    /* Both regions are wholly free and adjacent: 2 MiB, 1.5 MiB or even
       1 MiB + one page must come from a new region. */
    static const size_t asks[] = { 2 * MiB, 1536 * KiB, 1 * MiB + 8 * KiB };
    for (unsigned i = 0; i < 3; i++) {
        unsigned before = s.nalloc;
        char *r = cistern_arena_malloc(a, asks[i]);
        ck_assert_ptr_nonnull(r);
        ck_assert_msg(r >= s.base + 2 * MiB,
                      "%zu bytes carved at %p from the two adjacent 1 MiB regions at %p",
                      asks[i], (void *)r, (void *)s.base);
        ck_assert_uint_eq(s.nalloc, before + 1);
        ck_assert_int_eq(cistern_check_heap(), 0);
    }
    /* Each old region still serves what fits in it. */
    unsigned before = s.nalloc;
    char *r1 = cistern_arena_malloc(a, 1 * MiB);
    char *r2 = cistern_arena_malloc(a, 1 * MiB);
    ck_assert_uint_eq(s.nalloc, before);
    ck_assert(r1 == s.base || r1 == s.base + 1 * MiB);
    ck_assert(r2 == s.base || r2 == s.base + 1 * MiB);
    ck_assert_int_eq(cistern_check_heap(), 0);
    ck_assert_int_eq(cistern_arena_destroy(a), 0);
    ck_assert_int_eq(cistern_sysalloc_release(src), 0);
}
END_TEST

/* Growing a block in place must not take the next region's pages. */
START_TEST(realloc_does_not_grow_across)
{
    ck_assert_int_eq(cistern_option_set("decay_ms", "-1"), 0);
    struct adjacent s;
    cistern_sysalloc_t *src = adjacent_source(&s, 1 * MiB);
    cistern_arena_t *a = su_arena("adjacent", &src, 1);
    char *d = cistern_arena_malloc(a, 1 * MiB); /* fills region 1 exactly */
    char *e = cistern_arena_malloc(a, 512 * KiB);
    ck_assert_ptr_eq(d, s.base);
    ck_assert_ptr_eq(e, s.base + 1 * MiB);
    cistern_free(e); /* region 2 is free, right after d */
    memset(d, 0x7e, 1 * MiB);
    char *g = cistern_arena_realloc(a, d, 1 * MiB + 256 * KiB);
    ck_assert_ptr_nonnull(g);
    ck_assert_msg(g != d, "realloc grew %p in place into the next region", (void *)d);
    ck_assert(g[0] == 0x7e && g[1 * MiB - 1] == 0x7e);
    ck_assert_int_eq(cistern_check_heap(), 0);
    cistern_free(g);
    ck_assert_int_eq(cistern_arena_destroy(a), 0);
    ck_assert_int_eq(cistern_sysalloc_release(src), 0);
}
END_TEST

START_TEST(middle_run_decommitted)
{
    ck_assert_int_eq(cistern_option_set("decay_ms", "-1"), 0);
    struct adjacent s;
    cistern_sysalloc_t *src = adjacent_source(&s, 8 * MiB);
    cistern_arena_t *a = su_arena("adjacent", &src, 1);
    char *x = cistern_arena_malloc(a, 512 * KiB);
    char *y = cistern_arena_malloc(a, 512 * KiB);
    char *z = cistern_arena_malloc(a, 512 * KiB);
    ck_assert_uint_eq(s.nalloc, 1);
    ck_assert(y == x + 512 * KiB && z == y + 512 * KiB);
    memset(x, 1, 512 * KiB);
    memset(y, 2, 512 * KiB);
    memset(z, 3, 512 * KiB);
    size_t committed = su_stats(src).committed_bytes;
    cistern_free(y);
    ck_assert_uint_eq(s.ndecommit, 0);
    cistern_release_free_memory();
    /* Exactly y's pages were decommitted; x and z were not touched. */
    int found = 0;
    for (unsigned i = 0; i < s.ndecommit && i < 64; i++) {
        uintptr_t lo = s.decommits[i].p, hi = lo + s.decommits[i].len;
        ck_assert_msg(hi <= (uintptr_t)x || lo >= (uintptr_t)x + 512 * KiB,
                      "decommit of [%#lx, %#lx) hit a live neighbour", (unsigned long)lo,
                      (unsigned long)hi);
        ck_assert_msg(hi <= (uintptr_t)z || lo >= (uintptr_t)z + 512 * KiB,
                      "decommit of [%#lx, %#lx) hit a live neighbour", (unsigned long)lo,
                      (unsigned long)hi);
        found |= lo == (uintptr_t)y && hi == (uintptr_t)y + 512 * KiB;
    }
    ck_assert_msg(found, "the free run between two live blocks was not decommitted (%u calls)",
                  s.ndecommit);
    ck_assert_uint_eq(su_stats(src).committed_bytes, committed - 512 * KiB);
    ck_assert_uint_eq(su_resident(y, 512 * KiB), 0);
    ck_assert_uint_eq(su_resident(x, 512 * KiB), 512 * KiB / su_page());
    ck_assert_uint_eq(su_resident(z, 512 * KiB), 512 * KiB / su_page());
    ck_assert(x[0] == 1 && x[512 * KiB - 1] == 1 && z[0] == 3 && z[512 * KiB - 1] == 3);
    /* The region stays whole and in use: no new region was needed. */
    ck_assert_uint_eq(s.nalloc, 1);
    ck_assert_uint_gt(su_stats(src).in_use_bytes, 0);
    /* The decommitted run is served again and is usable. */
    char *w = cistern_arena_malloc(a, 512 * KiB);
    ck_assert_ptr_eq(w, y);
    memset(w, 4, 512 * KiB);
    ck_assert_int_eq(cistern_check_heap(), 0);
    ck_assert_int_eq(cistern_arena_destroy(a), 0);
    ck_assert_int_eq(cistern_sysalloc_release(src), 0);
}
END_TEST

/* Invariant 4 for a custom source whose granule is far above the heap page
   (2 MiB): its regions come in whole, aligned granules, so once their
   blocks are freed the release hands whole granules back, and only those. */
START_TEST(big_granule_decommitted_whole)
{
    static struct adjacent s;
    cistern_sysalloc_t *src = adjacent_source_granule(&s, 0, 2 * MiB);
    cistern_arena_t *a = su_arena("granule", &src, 1);
    void *v[24];
    for (int i = 0; i < 24; i++) {
        v[i] = cistern_arena_malloc(a, 100 * KiB + (size_t)i * 4096);
        ck_assert_ptr_nonnull(v[i]);
        memset(v[i], 1, 100 * KiB);
    }
    for (int i = 0; i < 24; i++)
        cistern_free(v[i]);
    cistern_release_free_memory();
    ck_assert_uint_gt(s.ndecommit, 0);
    for (unsigned i = 0; i < s.ndecommit && i < 64; i++) {
        ck_assert_uint_eq(s.decommits[i].p % (2 * MiB), 0);
        ck_assert_uint_eq(s.decommits[i].len % (2 * MiB), 0);
    }
    ck_assert_uint_eq(su_stats(src).committed_bytes, 0);
    ck_assert_int_eq(cistern_arena_destroy(a), 0);
    ck_assert_int_eq(cistern_sysalloc_release(src), 0);
}
END_TEST

static Suite *make_suite(void)
{
    Suite *s = suite_create("regions");
    TCase *tc = tcase_create("boundaries");
    tcase_set_timeout(tc, 20);
    tcase_add_test(tc, adjacent_free_regions_not_joined);
    tcase_add_test(tc, realloc_does_not_grow_across);
    tcase_add_test(tc, middle_run_decommitted);
    tcase_add_test(tc, big_granule_decommitted_whole);
    suite_add_tcase(s, tc);
    return s;
}

CS_TEST_MAIN(make_suite)
