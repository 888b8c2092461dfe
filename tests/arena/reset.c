/*
 * reset.c - region semantics: a reset frees every allocation at once, in
 * time that follows the spans (not the objects), keeps up to
 * reset_keep_bytes committed and decommits the rest; a destroy hands every
 * region back to its source, injected ranges still mapped and whole.
 */
#include "arutil.h"

/* A mix of small and large blocks, some freed again, all written. */
static size_t fill_mixed(cistern_arena_t *a, size_t bytes, uint64_t seed)
{
    size_t got = 0;
    uint64_t rng = seed;
    void *prev = NULL;
    while (got < bytes) {
        uint32_t r = ar_rand(&rng);
        size_t n = r % 64 == 0 ? 200 * KiB + r % (600 * KiB) : 1 + r % 2000;
        void *p = cistern_arena_malloc(a, n);
        AR_CHECK_MSG(p != NULL, "arena_malloc(%zu) after %zu bytes: %s", n, got, strerror(errno));
        memset(p, 0x77, n);
        got += n;
        if (r % 5 == 0 && prev)
            cistern_free(prev);
        prev = r % 3 ? p : NULL;
    }
    return got;
}

START_TEST(reset_frees_everything)
{
    for (unsigned flags = 0; flags <= CISTERN_ARENA_NO_TCACHE; flags++) {
        cistern_arena_t *a = ar_create("reset", NULL, 0, flags, 0);
        for (int round = 0; round < 3; round++) {
            fill_mixed(a, 24 * MiB, (uint64_t)round + 1);
            cistern_arena_stats_t st = ar_stats(a);
            ck_assert_uint_gt(st.allocated_bytes, 0);
            cistern_arena_reset(a);
            st = ar_stats(a);
            ck_assert_uint_eq(st.allocated_bytes, 0);
            ck_assert_uint_eq(st.active_bytes, 0);
            struct ar_seen w = ar_walk(a);
            ck_assert_uint_eq(w.n, 0);
            free(w.b);
            ck_assert_int_eq(cistern_check_heap(), 0);
            /* Usable again at once, every size. */
            void *s = cistern_arena_malloc(a, 33), *l = cistern_arena_malloc(a, 3 * MiB);
            ck_assert_ptr_nonnull(s);
            ck_assert_ptr_nonnull(l);
            ck_assert_ptr_eq(cistern_arena_of(s), a);
            ck_assert_ptr_eq(cistern_arena_of(l), a);
            memset(s, 1, 33);
            memset(l, 2, 3 * MiB);
            st = ar_stats(a);
            ck_assert_uint_eq(st.allocated_bytes, cistern_usable_size(s) + cistern_usable_size(l));
            ck_assert_uint_eq(st.nmalloc, 2);
        }
        ck_assert_int_eq(cistern_arena_destroy(a), 0);
    }
}
END_TEST

/* An arena over a small pool survives many fills only if every reset
   really makes the whole pool free again. */
START_TEST(reset_reuses_the_pool)
{
    const size_t len = 16 * MiB;
    void *base = ar_map(len, 2 * MiB);
    cistern_sysalloc_t *pool = cistern_sysalloc_pool(base, len, 0);
    ck_assert_ptr_nonnull(pool);
    cistern_arena_t *a = ar_create("refill", &pool, 1, 0, 0);
    for (int round = 0; round < 20; round++) {
        size_t got = 0;
        uint64_t rng = (uint64_t)round;
        while (got < 12 * MiB) {
            size_t n = 16 + ar_rand(&rng) % (round % 2 ? 100 : 70000);
            void *p = cistern_arena_malloc(a, n);
            AR_CHECK_MSG(p != NULL, "round %d: ENOMEM after %zu bytes", round, got);
            AR_CHECK(ar_inside(p, n, base, len));
            got += n;
        }
        cistern_arena_reset(a);
        ck_assert_uint_le(ar_source(pool).reserved_bytes, len);
    }
    cistern_sysalloc_stats_t st;
    ck_assert_int_eq(cistern_sysalloc_get_stats(pool, &st), 0);
    ck_assert_uint_eq(st.in_use_bytes, 0);
    ck_assert_uint_eq(st.failures, 0);
    ck_assert_int_eq(cistern_arena_destroy(a), 0);
    ck_assert_int_eq(cistern_sysalloc_release(pool), 0);
    munmap(base, len);
}
END_TEST

/* Past reset_keep_bytes, the pages of a reset arena go back to the system
   (seen in the pool's residency); below it they stay committed. */
START_TEST(reset_keeps_up_to_the_policy)
{
    ck_assert_int_eq(cistern_option_set("decay_ms", "-1"), 0); /* no release behind our back */
    ck_assert_int_eq(cistern_option_set("reset_keep_bytes", "4M"), 0);
    const size_t len = 48 * MiB;
    void *base = ar_map(len, 2 * MiB);
    cistern_sysalloc_t *pool = cistern_sysalloc_pool(base, len, 0);
    ck_assert_ptr_nonnull(pool);
    cistern_arena_t *a = ar_create("keep", &pool, 1, 0, 0);

    fill_mixed(a, 32 * MiB, 5);
    ck_assert_uint_ge(ar_resident(base, len), 24 * MiB);
    cistern_arena_reset(a);
    cistern_arena_stats_t st = ar_stats(a);
    ck_assert_uint_le(st.committed_bytes, 4 * MiB);
    ck_assert_uint_le(ar_resident(base, len), 4 * MiB);
    ck_assert_uint_le(ar_source(pool).committed_bytes, 4 * MiB);

    ck_assert_int_eq(cistern_option_set("reset_keep_bytes", "64M"), 0);
    fill_mixed(a, 32 * MiB, 6);
    size_t before = ar_stats(a).committed_bytes, resident = ar_resident(base, len);
    cistern_arena_reset(a);
    st = ar_stats(a);
    ck_assert_uint_eq(st.active_bytes, 0);
    ck_assert_uint_eq(st.committed_bytes, before);
    ck_assert_uint_ge(ar_resident(base, len), resident);

    /* keep 0: everything goes. */
    ck_assert_int_eq(cistern_option_set("reset_keep_bytes", "0"), 0);
    cistern_arena_reset(a);
    ck_assert_uint_eq(ar_stats(a).committed_bytes, 0);
    ck_assert_uint_eq(ar_resident(base, len), 0);
    ck_assert_int_eq(cistern_arena_destroy(a), 0);
    ck_assert_int_eq(cistern_sysalloc_release(pool), 0);
    munmap(base, len);
}
END_TEST

/* The same policy over os regions: what stays committed is within the
   budget, whatever the number of regions. */
START_TEST(reset_keep_over_os_regions)
{
    ck_assert_int_eq(cistern_option_set("decay_ms", "-1"), 0);
    ck_assert_int_eq(cistern_option_set("reset_keep_bytes", "40M"), 0);
    cistern_arena_t *a = ar_create("keep-os", NULL, 0, 0, 0);
    fill_mixed(a, 100 * MiB, 8);
    cistern_arena_reset(a);
    ck_assert_uint_le(ar_stats(a).committed_bytes, 40 * MiB);
    ck_assert_int_eq(cistern_check_heap(), 0);
    ck_assert_int_eq(cistern_arena_destroy(a), 0);
}
END_TEST

static double median3(double a, double b, double c)
{
    return a > b ? (b > c ? b : (a > c ? c : a)) : (a > c ? a : (b > c ? c : b));
}

/* Time to reset an arena of n objects of the given size. */
static double time_reset(size_t n, size_t size)
{
    cistern_arena_t *a = ar_create("timed", NULL, 0, 0, 0);
    double t[3];
    for (int r = 0; r < 3; r++) {
        for (size_t i = 0; i < n; i++)
            AR_CHECK(cistern_arena_malloc(a, size) != NULL);
        double t0 = ar_now();
        cistern_arena_reset(a);
        t[r] = ar_now() - t0;
    }
    ck_assert_int_eq(cistern_arena_destroy(a), 0);
    return median3(t[0], t[1], t[2]);
}

/* A reset costs what the spans cost: a million 16-byte objects and 131,072
   objects of 128 bytes both fill 2,048 one-page spans, and reset in about
   the same time; freeing the million one by one costs far more. */
START_TEST(reset_time_follows_spans)
{
    ck_assert_int_eq(cistern_option_set("decay_ms", "-1"), 0);
    ck_assert_int_eq(cistern_option_set("reset_keep_bytes", "1G"), 0);
    const size_t nsmall = 1u << 20;
    double t_small = time_reset(nsmall, 16);
    double t_fewer = time_reset(nsmall / 8, 128);

    cistern_arena_t *a = ar_create("freed", NULL, 0, 0, 0);
    void **p = malloc(nsmall * sizeof *p);
    for (size_t i = 0; i < nsmall; i++)
        p[i] = cistern_arena_malloc(a, 16);
    double t0 = ar_now();
    for (size_t i = 0; i < nsmall; i++)
        cistern_free(p[i]);
    double t_free = ar_now() - t0;
    free(p);
    ck_assert_int_eq(cistern_arena_destroy(a), 0);
    printf("# reset, 2,048 spans: 1M objects %.3f ms, 128K objects %.3f ms; 1M frees %.3f ms\n",
           t_small * 1e3, t_fewer * 1e3, t_free * 1e3);
    if (AR_ASAN) /* the sanitizer hooks visit every object on purpose */
        return;
    ck_assert_msg(t_small < 3 * t_fewer + 0.002, "reset follows objects: %.3f ms vs %.3f ms",
                  t_small * 1e3, t_fewer * 1e3);
    ck_assert_msg(t_small < t_free / 4, "reset %.3f ms is not well under 1M frees %.3f ms",
                  t_small * 1e3, t_free * 1e3);
}
END_TEST

/* Write and read back every page of a range: it is mapped and whole. */
static void assert_range_usable(char *base, size_t len, unsigned char seed)
{
    size_t page = (size_t)sysconf(_SC_PAGESIZE);
    for (size_t off = 0; off < len; off += page)
        base[off] = (char)(seed + off / page);
    for (size_t off = 0; off < len; off += page)
        AR_CHECK((unsigned char)base[off] == (unsigned char)(seed + off / page));
}

START_TEST(destroy_hands_back_injected_ranges)
{
    const size_t len = 24 * MiB;
    char *b1 = ar_map(len, 2 * MiB), *b2 = ar_map(len, 2 * MiB);
    cistern_sysalloc_t *chain[2] = { cistern_sysalloc_pool(b1, len, 0),
                                     cistern_sysalloc_pool(b2, len, 0) };
    ck_assert_ptr_nonnull(chain[0]);
    ck_assert_ptr_nonnull(chain[1]);
    cistern_arena_t *a = ar_create("two-pools", chain, 2, 0, 0);
    /* Enough to spill from the first pool into the second. */
    size_t got = 0;
    while (got < len + 8 * MiB) {
        void *p = cistern_arena_malloc(a, got % 3 ? 700 : 300 * KiB);
        AR_CHECK(p != NULL);
        AR_CHECK(ar_inside(p, 1, b1, len) || ar_inside(p, 1, b2, len));
        memset(p, 0xee, got % 3 ? 700 : 300 * KiB);
        got += got % 3 ? 700 : 300 * KiB;
    }
    ck_assert_uint_gt(ar_source(chain[1]).committed_bytes, 0);
    /* Live allocations and all: the sources are busy until the destroy. */
    ck_assert_int_eq(cistern_sysalloc_release(chain[0]), EBUSY);
    ck_assert_int_eq(cistern_arena_destroy(a), 0);
    for (int i = 0; i < 2; i++) {
        cistern_sysalloc_stats_t st;
        ck_assert_int_eq(cistern_sysalloc_get_stats(chain[i], &st), 0);
        ck_assert_uint_eq(st.in_use_bytes, 0);
        ck_assert_uint_eq(st.committed_bytes, 0);
        ck_assert_int_eq(cistern_sysalloc_release(chain[i]), 0);
    }
    assert_range_usable(b1, len, 1);
    assert_range_usable(b2, len, 2);
    munmap(b1, len);
    munmap(b2, len);
}
END_TEST

/* Regions a destroyed arena gave back serve the next arena over the pool. */
START_TEST(pool_serves_again_after_destroy)
{
    const size_t len = 8 * MiB;
    char *base = ar_map(len, 2 * MiB);
    cistern_sysalloc_t *pool = cistern_sysalloc_pool(base, len, 0);
    ck_assert_ptr_nonnull(pool);
    for (int round = 0; round < 5; round++) {
        cistern_arena_t *a = ar_create("again", &pool, 1, round % 2 ? CISTERN_ARENA_NO_TCACHE : 0, 0);
        size_t got = 0;
        while (got < 6 * MiB) {
            void *p = cistern_arena_malloc(a, round % 2 ? 64 * KiB : 512 * KiB);
            AR_CHECK_MSG(p != NULL, "round %d: ENOMEM after %zu bytes", round, got);
            AR_CHECK(ar_inside(p, 1, base, len));
            got += round % 2 ? 64 * KiB : 512 * KiB;
        }
        ck_assert_int_eq(cistern_arena_destroy(a), 0);
    }
    ck_assert_int_eq(cistern_sysalloc_release(pool), 0);
    assert_range_usable(base, len, 3);
    munmap(base, len);
}
END_TEST

static Suite *make_suite(void)
{
    Suite *s = suite_create("arena_reset");
    TCase *tc = tcase_create("reset");
    tcase_add_checked_fixture(tc, ar_no_release_thread, NULL);
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, reset_frees_everything);
    tcase_add_test(tc, reset_reuses_the_pool);
    tcase_add_test(tc, reset_keeps_up_to_the_policy);
    tcase_add_test(tc, reset_keep_over_os_regions);
    tcase_add_test(tc, reset_time_follows_spans);
    tcase_add_test(tc, destroy_hands_back_injected_ranges);
    tcase_add_test(tc, pool_serves_again_after_destroy);
    suite_add_tcase(s, tc);
    return s;
}

CS_TEST_MAIN(make_suite)
