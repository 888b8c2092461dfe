/*
 * pool_chain.c - a pool put first in the default arena's chain serves
 * cistern_malloc until it is exhausted, then the os source takes over.
 */
#include "srcutil.h"
#include "testutil.h"

#define POOL_LEN (16 * MiB)
#define MAX_PTRS 20000

/* Small requests cycle through classes; every fifth is a large one, so the
   pool holds both span kinds when it runs out. */
static size_t request_size(unsigned i)
{
    static const size_t small[] = { 16, 48, 100, 256, 700, 1024, 3000, 4096 };
    if (i % 5 == 4)
        return 300 * KiB + (i % 7) * 40 * KiB;
    return small[i % 8];
}

START_TEST(pool_first_until_exhausted)
{
    void *base = su_map(POOL_LEN, 2 * MiB);
    cistern_sysalloc_t *pool = cistern_sysalloc_pool(base, POOL_LEN, 0);
    ck_assert_ptr_nonnull(pool);
    cistern_arena_t *def = cistern_arena_default();
    ck_assert_int_eq(cistern_arena_add_sysalloc(def, pool, 0), 0);

    void **ptrs = calloc(MAX_PTRS, sizeof *ptrs);
    ck_assert_ptr_nonnull(ptrs);
    unsigned n = 0, first_out = 0, outside = 0;
    int exhausted = 0;
    while (n < MAX_PTRS && outside < 50) {
        size_t sz = request_size(n);
        cistern_sysalloc_stats_t before = su_stats(pool);
        void *p = cistern_malloc(sz);
        ck_assert_msg(p != NULL, "malloc(%zu) failed with the os source behind the pool", sz);
        memset(p, (int)(n & 0xff), sz < 64 ? sz : 64);
        ptrs[n] = p;
        if (!su_inside(p, sz, base, POOL_LEN)) {
            if (!exhausted) {
                /* The pool must really be spent: its one region is all of it
                   and what is left cannot hold the request's span (a small
                   class's span is far below 1 MiB). */
                cistern_sysalloc_stats_t now = su_stats(pool);
                ck_assert_uint_eq(now.reserved_bytes, POOL_LEN);
                ck_assert_uint_gt(now.failures, before.failures);
                size_t left = POOL_LEN - before.in_use_bytes;
                ck_assert_msg(left < (sz > 256 * KiB ? sz : 1 * MiB),
                              "os served %zu bytes while the pool still had %zu free", sz, left);
                first_out = n;
                exhausted = 1;
            }
            outside++;
        }
        n++;
    }
    ck_assert_msg(exhausted, "the pool never ran out in %u allocations", n);
    ck_assert_uint_gt(first_out, 40); /* it served a good many first */
    for (unsigned i = 0; i < first_out; i++)
        ck_assert_msg(su_inside(ptrs[i], request_size(i), base, POOL_LEN),
                      "pointer %u (%p) served before exhaustion lies outside the pool", i, ptrs[i]);

    cistern_sysalloc_stats_t st = su_stats(pool);
    ck_assert_str_eq(st.name, "pool");
    ck_assert(st.flags & CISTERN_SYSALLOC_INJECTED);
    ck_assert_uint_ge(st.failures, 1);
    ck_assert_uint_le(st.reserved_bytes, POOL_LEN);
    ck_assert_uint_le(st.in_use_bytes, st.reserved_bytes);
    ck_assert_uint_gt(st.in_use_bytes, POOL_LEN / 2);
    ck_assert_uint_le(st.committed_bytes, POOL_LEN);
    ck_assert_uint_gt(su_stats(cistern_sysalloc_os()).in_use_bytes, 0);
    ck_assert_int_eq(cistern_check_heap(), 0);

    for (unsigned i = 0; i < n; i++) {
        unsigned char *p = ptrs[i];
        ck_assert_uint_eq(p[0], i & 0xff);
        cistern_free(p);
    }
    free(ptrs);
    /* Cached objects keep their spans in use: hand them back first. */
    cistern_release_free_memory();
    ck_assert_uint_eq(su_stats(pool).in_use_bytes, 0);
    ck_assert_int_eq(cistern_arena_remove_sysalloc(def, pool), 0);
    ck_assert_uint_eq(su_stats(pool).reserved_bytes, 0);
    ck_assert_int_eq(cistern_sysalloc_release(pool), 0);
    ck_assert_int_eq(cistern_check_heap(), 0);
    ck_assert_int_eq(munmap(base, POOL_LEN), 0);
}
END_TEST

/* The chain's order holds for memory already obtained: once the pool has
   free runs again, they are preferred over the os region's. */
START_TEST(pool_runs_preferred_over_os_runs)
{
    void *base = su_map(POOL_LEN, 2 * MiB);
    cistern_sysalloc_t *pool = cistern_sysalloc_pool(base, POOL_LEN, 0);
    ck_assert_ptr_nonnull(pool);
    cistern_arena_t *def = cistern_arena_default();
    ck_assert_int_eq(cistern_arena_add_sysalloc(def, pool, 0), 0);
    void *big[15];
    for (int i = 0; i < 15; i++) {
        big[i] = cistern_malloc(1 * MiB);
        ck_assert(su_inside(big[i], 1 * MiB, base, POOL_LEN));
    }
    /* The pool has 1 MiB left: this one makes the os region (with free runs). */
    void *spill = cistern_malloc(2 * MiB);
    ck_assert(!su_inside(spill, 1, base, POOL_LEN));
    cistern_free(big[3]);
    cistern_free(big[4]);
    void *again = cistern_malloc(2 * MiB);
    ck_assert_msg(su_inside(again, 2 * MiB, base, POOL_LEN),
                  "the pool's free run was passed over for the os region's (%p)", again);
    cistern_free(again);
    cistern_free(spill);
    for (int i = 0; i < 15; i++)
        if (i != 3 && i != 4)
            cistern_free(big[i]);
    ck_assert_int_eq(cistern_arena_remove_sysalloc(def, pool), 0);
    ck_assert_int_eq(cistern_sysalloc_release(pool), 0);
    ck_assert_int_eq(cistern_check_heap(), 0);
}
END_TEST

/* A program that has run for a while has an os region with free runs when
   it injects its pool.  "Position 0: asked first" must still hold: new
   memory comes from the pool, not from what the os region has left. */
START_TEST(pool_first_after_os_warm)
{
    void *warm = cistern_malloc(1 * MiB); /* the os region exists, mostly free */
    void *small = cistern_malloc(100);
    ck_assert_ptr_nonnull(warm);
    ck_assert_ptr_nonnull(small);
    void *base = su_map(POOL_LEN, 2 * MiB);
    cistern_sysalloc_t *pool = cistern_sysalloc_pool(base, POOL_LEN, 0);
    ck_assert_ptr_nonnull(pool);
    cistern_arena_t *def = cistern_arena_default();
    ck_assert_int_eq(cistern_arena_add_sysalloc(def, pool, 0), 0);
    void *p = cistern_malloc(1 * MiB);
    ck_assert_msg(su_inside(p, 1 * MiB, base, POOL_LEN),
                  "the pool first in the chain was not asked: %p came from the os region's "
                  "free runs", p);
    cistern_free(p);
    cistern_free(warm);
    cistern_free(small);
    cistern_release_free_memory();
    ck_assert_int_eq(cistern_arena_remove_sysalloc(def, pool), 0);
    ck_assert_int_eq(cistern_sysalloc_release(pool), 0);
}
END_TEST

static Suite *make_suite(void)
{
    Suite *s = suite_create("pool_chain");
    TCase *tc = tcase_create("default_arena");
    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, pool_first_until_exhausted);
    tcase_add_test(tc, pool_runs_preferred_over_os_runs);
    tcase_add_test(tc, pool_first_after_os_warm);
    suite_add_tcase(s, tc);
    return s;
}

CS_TEST_MAIN(make_suite)
