/*
 * pool_decommit.c - decommitted pool pages really lose their backing.
 *
 * cistern's committed figures are its own belief; mincore(2) is the
 * kernel's.  The pool is private anonymous memory, so a decommit that only
 * updated the counters would leave the pages resident.
 */
#include "srcutil.h"
#include "testutil.h"

#include <time.h>

#define POOL_LEN (32 * MiB)

static void fill_arena(cistern_arena_t *a, void **ptrs, unsigned n, int large_only)
{
    for (unsigned i = 0; i < n; i++) {
        size_t sz = large_only || i % 8 == 7 ? 512 * KiB + (i % 3) * 64 * KiB
                                              : 64 + (size_t)(i * 131 % 8000);
        ptrs[i] = cistern_arena_malloc(a, sz);
        ck_assert_ptr_nonnull(ptrs[i]);
        memset(ptrs[i], 0xa5, sz); /* touch every page */
    }
}

START_TEST(release_free_memory_drops_pages)
{
    void *base = su_map(POOL_LEN, 2 * MiB);
    cistern_sysalloc_t *pool = cistern_sysalloc_pool(base, POOL_LEN, 0);
    ck_assert_ptr_nonnull(pool);
    cistern_arena_t *a = su_arena("decommit", &pool, 1);
    /* No release behind the test's back: only the explicit call acts. */
    ck_assert_int_eq(cistern_option_set("decay_ms", "-1"), 0);
    enum { N = 320 };
    void *ptrs[N];
    fill_arena(a, ptrs, N, 0);
    size_t before = su_resident(base, POOL_LEN);
    ck_assert_msg(before > POOL_LEN / 4 / su_page(), "only %zu pages resident after filling", before);
    for (unsigned i = 0; i < N; i++)
        cistern_free(ptrs[i]);
    size_t freed = su_resident(base, POOL_LEN);
    ck_assert_uint_ge(freed, before - before / 10); /* nothing dropped yet */
    cistern_release_free_memory();
    size_t after = su_resident(base, POOL_LEN);
    ck_assert_msg(after * 20 < before, "resident pages: %zu before, %zu after release", before, after);
    cistern_sysalloc_stats_t st = su_stats(pool);
    ck_assert_uint_eq(st.in_use_bytes, 0);
    ck_assert_uint_le(st.committed_bytes, after * su_page() + 64 * KiB);
    ck_assert_int_eq(cistern_check_heap(), 0);

    /* Decommitted pages come back usable (and the pool serves them again). */
    void *p = cistern_arena_malloc(a, 4 * MiB);
    ck_assert(su_inside(p, 4 * MiB, base, POOL_LEN));
    memset(p, 0x11, 4 * MiB);
    cistern_free(p);
    ck_assert_int_eq(cistern_arena_destroy(a), 0);
    ck_assert_int_eq(cistern_sysalloc_release(pool), 0);
}
END_TEST

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* decay_ms=0: freed runs are decommitted by the release policy itself,
   with no further call into cistern (the program may sit idle). */
START_TEST(decay_zero_drops_pages_when_idle)
{
    ck_assert_int_eq(cistern_option_set("decay_ms", "0"), 0);
    void *base = su_map(POOL_LEN, 2 * MiB);
    cistern_sysalloc_t *pool = cistern_sysalloc_pool(base, POOL_LEN, 0);
    ck_assert_ptr_nonnull(pool);
    cistern_arena_t *a = su_arena("decay", &pool, 1);
    enum { N = 40 };
    void *ptrs[N];
    fill_arena(a, ptrs, N, 1);
    size_t before = su_resident(base, POOL_LEN);
    ck_assert_uint_gt(before, 20 * MiB / su_page());
    for (unsigned i = 0; i < N; i++)
        cistern_free(ptrs[i]);
    size_t after = before;
    for (double t0 = now_s(); now_s() - t0 < 3.0 && after * 20 >= before;) {
        usleep(20000);
        after = su_resident(base, POOL_LEN);
    }
    ck_assert_msg(after * 20 < before, "resident pages: %zu before, %zu 3 s after the frees",
                  before, after);
    ck_assert_int_eq(cistern_arena_destroy(a), 0);
    ck_assert_int_eq(cistern_sysalloc_release(pool), 0);
}
END_TEST

static Suite *make_suite(void)
{
    Suite *s = suite_create("pool_decommit");
    TCase *tc = tcase_create("mincore");
    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, release_free_memory_drops_pages);
    tcase_add_test(tc, decay_zero_drops_pages_when_idle);
    suite_add_tcase(s, tc);
    return s;
}

CS_TEST_MAIN(make_suite)
