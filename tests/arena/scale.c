/*
 * scale.c - arenas by the thousand: 100,000 created and destroyed in a loop
 * leave the process's RSS and cistern's metadata flat after a warm-up, and
 * 1,000 arenas live at once, each over a pool of its own, all work.  The
 * figures are printed as TAP diagnostics.
 */
#include "arutil.h"

#define LOOP 100000
#define WARMUP 5000

START_TEST(create_destroy_loop_stays_flat)
{
    size_t rss0 = 0, meta0 = 0;
    double t0 = ar_now();
    for (unsigned i = 0; i < LOOP; i++) {
        if (i == WARMUP) {
            rss0 = ar_rss();
            meta0 = ar_metadata_bytes();
        }
        /* Every third arena goes uncached, every fifth is reset first: the
           loop runs through each path that sets up or drops state. */
        cistern_arena_config_t cfg = { "loop", NULL, 0, i % 3 ? 0 : CISTERN_ARENA_NO_TCACHE, 0 };
        cistern_arena_t *a = cistern_arena_create(&cfg);
        AR_CHECK_MSG(a != NULL, "create %u: %s", i, strerror(errno));
        void *p = cistern_arena_malloc(a, 16 + i % 200);
        AR_CHECK(p != NULL);
        memset(p, 1, 16);
        int reset = i % 5 == 0;
        if (reset) {
            void *big = cistern_arena_malloc(a, 300 * KiB);
            AR_CHECK(big != NULL);
            memset(big, 2, 4096);
            cistern_arena_reset(a);
            AR_CHECK(cistern_arena_malloc(a, 40) != NULL);
        }
        if (i % 2 && !reset) /* after a reset p is gone already */
            cistern_free(p);
        AR_CHECK(cistern_arena_destroy(a) == 0);
    }
    double t1 = ar_now();
    size_t rss1 = ar_rss(), meta1 = ar_metadata_bytes();
    printf("# %d arenas created and destroyed in %.2f s (%.1f us each)\n", LOOP, t1 - t0,
           (t1 - t0) / LOOP * 1e6);
    printf("# after %d: RSS %zu KiB, metadata %zu KiB; at the end: RSS %zu KiB, metadata %zu KiB\n",
           WARMUP, rss0 >> 10, meta0 >> 10, rss1 >> 10, meta1 >> 10);
    ck_assert_msg(rss1 <= rss0 + 2 * MiB, "RSS grew from %zu to %zu KiB over %d arenas", rss0 >> 10,
                  rss1 >> 10, LOOP - WARMUP);
    ck_assert_msg(meta1 <= meta0 + 256 * KiB, "metadata grew from %zu to %zu KiB", meta0 >> 10,
                  meta1 >> 10);
    ck_assert_int_eq(cistern_check_heap(), 0);
}
END_TEST

#define LIVE 1000
#define POOL (1 * MiB)
#define PER_ARENA 24

/* One generation of LIVE arenas, each over its own pool: all live at once,
   used across each other, then destroyed and their pools released.
   Returns cistern's metadata while they were all live. */
static size_t live_generation(void)
{
    char *space = ar_map((size_t)LIVE * POOL, 2 * MiB);
    static cistern_sysalloc_t *pools[LIVE];
    static cistern_arena_t *arenas[LIVE];
    static void *p[LIVE][PER_ARENA];
    for (int i = 0; i < LIVE; i++) {
        pools[i] = cistern_sysalloc_pool(space + (size_t)i * POOL, POOL, 0);
        ck_assert_msg(pools[i] != NULL, "pool %d: %s", i, strerror(errno));
        char name[16];
        snprintf(name, sizeof name, "live%d", i);
        arenas[i] = ar_create(name, &pools[i], 1, i % 4 ? 0 : CISTERN_ARENA_NO_TCACHE, 0);
    }
    /* Round-robin over all of them, so no arena stays in a thread cache. */
    for (int k = 0; k < PER_ARENA; k++)
        for (int i = 0; i < LIVE; i++) {
            size_t n = k == 0 ? 256 * KiB + 1 : (size_t)16 << (k % 7);
            void *q = cistern_arena_malloc(arenas[i], n);
            AR_CHECK_MSG(q != NULL, "arena %d, block %d: %s", i, k, strerror(errno));
            AR_CHECK(ar_inside(q, n, space + (size_t)i * POOL, POOL));
            AR_CHECK(cistern_arena_of(q) == arenas[i]);
            *(uint32_t *)q = (uint32_t)(i * PER_ARENA + k);
            p[i][k] = q;
        }
    for (int i = 0; i < LIVE; i++)
        for (int k = 0; k < PER_ARENA; k++)
            AR_CHECK(*(uint32_t *)p[i][k] == (uint32_t)(i * PER_ARENA + k));
    /* Frees in an order that crosses arenas at every step. */
    for (int k = 1; k < PER_ARENA; k += 2)
        for (int i = LIVE - 1; i >= 0; i--)
            cistern_free(p[(i * 7) % LIVE][k]);
    for (int i = 0; i < LIVE; i += 97) {
        struct ar_seen w = ar_walk(arenas[i]);
        ck_assert_uint_eq(w.n, PER_ARENA - PER_ARENA / 2);
        free(w.b);
    }
    ck_assert_int_eq(cistern_check_heap(), 0);
    size_t meta_live = ar_metadata_bytes();
    for (int i = 0; i < LIVE; i++) {
        if (i % 2)
            cistern_arena_reset(arenas[i]);
        ck_assert_int_eq(cistern_arena_destroy(arenas[i]), 0);
        ck_assert_int_eq(cistern_sysalloc_release(pools[i]), 0);
    }
    /* Every range came back mapped: first and last page of each, all pages
       of every 50th. */
    size_t page = (size_t)sysconf(_SC_PAGESIZE);
    for (int i = 0; i < LIVE; i++) {
        char *b = space + (size_t)i * POOL;
        for (size_t off = 0; off < POOL; off += i % 50 ? POOL - page : page)
            b[off] = (char)i;
        AR_CHECK(b[POOL - page] == (char)i);
    }
    munmap(space, (size_t)LIVE * POOL);
    return meta_live;
}

/* A second generation reuses what the first one left (arena records are
   kept for reuse): metadata does not grow again. */
START_TEST(thousand_live_arenas_with_pools)
{
    double t0 = ar_now();
    size_t meta0 = ar_metadata_bytes();
    size_t live1 = live_generation();
    double t1 = ar_now();
    size_t live2 = live_generation();
    size_t meta1 = ar_metadata_bytes();
    printf("# %d live arenas over their own pools: %.2f s per generation; metadata %zu KiB "
           "before, %zu KiB with all live, %zu KiB with the second generation live, %zu KiB "
           "after\n",
           LIVE, t1 - t0, meta0 >> 10, live1 >> 10, live2 >> 10, meta1 >> 10);
    /* Metadata comes in 1 MiB chunks, and how many a generation ends up
       touching varies with the release thread's timing: two chunks of
       slack on top of an eighth, no more.  Without reuse of the arena
       records the second generation would need about as much again. */
    ck_assert_msg(live2 <= live1 + live1 / 8 + 2 * MiB, "metadata grew from %zu to %zu KiB",
                  live1 >> 10, live2 >> 10);
}
END_TEST

static Suite *make_suite(void)
{
    Suite *s = suite_create("arena_scale");
    TCase *tc = tcase_create("scale");
    tcase_add_checked_fixture(tc, ar_no_release_thread, NULL);
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, create_destroy_loop_stays_flat);
    tcase_add_test(tc, thousand_live_arenas_with_pools);
    suite_add_tcase(s, tc);
    return s;
}

CS_TEST_MAIN(make_suite)
