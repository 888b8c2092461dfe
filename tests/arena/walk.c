/*
 * walk.c - cistern_arena_walk visits exactly the live allocations, each
 * once, with its usable size: not the objects parked in thread caches (this
 * thread's or others') or in transfer caches, before and after frees from
 * other threads, and without touching a NOTOUCH arena's memory; also while
 * the library's own release thread drains transfer caches.
 */
#include "arutil.h"

#define N 40000

/* What the test holds: pointer -> usable size, and the totals. */
struct held {
    void **p;
    size_t n;
};

static void assert_walk_matches(cistern_arena_t *a, const struct held *h)
{
    struct ar_seen w = ar_walk(a);
    struct ar_set live;
    ar_set_init(&live, h->n);
    size_t bytes = 0, n = 0;
    for (size_t i = 0; i < h->n; i++)
        if (h->p[i]) {
            ar_set_add(&live, h->p[i]);
            bytes += cistern_usable_size(h->p[i]);
            n++;
        }
    ck_assert_msg(w.n == n, "walk visited %zu blocks, %zu are live", w.n, n);
    ck_assert_msg(w.bytes == bytes, "walk saw %zu bytes, %zu are live", w.bytes, bytes);
    struct ar_set seen;
    ar_set_init(&seen, w.n);
    for (size_t i = 0; i < w.n; i++) {
        AR_CHECK_MSG(ar_set_has(&live, w.b[i].p), "walk visited %p, which is not live", w.b[i].p);
        AR_CHECK_MSG(ar_set_add(&seen, w.b[i].p), "walk visited %p twice", w.b[i].p);
        AR_CHECK(w.b[i].usable == cistern_usable_size(w.b[i].p));
    }
    ck_assert_uint_eq(ar_stats(a).allocated_bytes, bytes);
    ar_set_free(&seen);
    ar_set_free(&live);
    free(w.b);
}

static void *alloc_some(cistern_arena_t *a, uint64_t *rng)
{
    uint32_t r = ar_rand(rng);
    void *p;
    switch (r % 16) {
    case 0:
        p = cistern_arena_malloc(a, 256 * KiB + r % (2 * MiB));
        break;
    case 1:
        p = cistern_arena_aligned_alloc(a, (size_t)64 << (r % 8), 1 + r % 5000);
        break;
    case 2:
        p = cistern_arena_calloc(a, 1 + r % 30, 24);
        break;
    default:
        p = cistern_arena_malloc(a, r % 3 ? 1 + r % 128 : 1 + r % 20000);
    }
    AR_CHECK(p != NULL);
    return p;
}

struct remote {
    void **p;
    size_t from, to, step;
    pthread_barrier_t *hold;
};

/* Frees its share and stays alive, its cache holding objects of the arena,
   until the main thread has walked. */
static void *remote_free(void *arg)
{
    struct remote *r = arg;
    for (size_t i = r->from; i < r->to; i += r->step) {
        cistern_free(r->p[i]);
        r->p[i] = NULL;
    }
    pthread_barrier_wait(r->hold);
    pthread_barrier_wait(r->hold);
    return NULL;
}

static void walk_exact(unsigned flags)
{
    cistern_arena_t *a = ar_create("walked", NULL, 0, flags, 0);
    struct held h = { calloc(N, sizeof(void *)), N };
    uint64_t rng = 99;
    for (size_t i = 0; i < N; i++)
        h.p[i] = alloc_some(a, &rng);
    assert_walk_matches(a, &h);
    /* Frees here: this thread's cache, then overflow into the transfer cache. */
    for (size_t i = 0; i < N; i += 4) {
        cistern_free(h.p[i]);
        h.p[i] = NULL;
    }
    assert_walk_matches(a, &h);
    /* Frees from three threads that stay alive meanwhile. */
    enum { T = 3 };
    pthread_barrier_t hold;
    pthread_barrier_init(&hold, NULL, T + 1);
    struct remote r[T];
    pthread_t t[T];
    for (int i = 0; i < T; i++) {
        r[i] = (struct remote){ h.p, (size_t)1 + (size_t)i, N, 2 * T, &hold };
        t[i] = ar_spawn(remote_free, &r[i]);
    }
    pthread_barrier_wait(&hold);
    assert_walk_matches(a, &h);
    /* New blocks while those caches still hold freed ones. */
    for (size_t i = 0; i < N; i += 8)
        if (!h.p[i])
            h.p[i] = alloc_some(a, &rng);
    assert_walk_matches(a, &h);
    pthread_barrier_wait(&hold);
    for (int i = 0; i < T; i++)
        ar_join(t[i]);
    pthread_barrier_destroy(&hold);
    /* Their caches went back to the arena when they exited. */
    assert_walk_matches(a, &h);
    ck_assert_int_eq(cistern_check_heap(), 0);
    for (size_t i = 0; i < N; i++)
        cistern_free(h.p[i]);
    for (size_t i = 0; i < N; i++)
        h.p[i] = NULL;
    assert_walk_matches(a, &h);
    free(h.p);
    ck_assert_int_eq(cistern_arena_destroy(a), 0);
}

START_TEST(walk_exact_cached)
{
    walk_exact(0);
}
END_TEST

START_TEST(walk_exact_uncached)
{
    walk_exact(CISTERN_ARENA_NO_TCACHE);
}
END_TEST

/* After a walk the arena is exactly as before: the same blocks are live,
   and the cached ones are handed out again (not lost, not doubled). */
START_TEST(walk_leaves_the_arena_as_it_was)
{
    cistern_arena_t *a = ar_create("again", NULL, 0, 0, 0);
    enum { M = 5000 };
    void *p[M];
    for (int i = 0; i < M; i++)
        p[i] = cistern_arena_malloc(a, 40);
    for (int i = 0; i < M; i += 2)
        cistern_free(p[i]);
    struct ar_seen w = ar_walk(a);
    ck_assert_uint_eq(w.n, M / 2);
    free(w.b);
    struct ar_set set;
    ar_set_init(&set, M);
    for (int i = 1; i < M; i += 2)
        ar_set_add(&set, p[i]);
    for (int i = 0; i < M; i += 2) {
        void *q = cistern_arena_malloc(a, 40);
        AR_CHECK_MSG(ar_set_add(&set, q), "%p handed out while live", q);
    }
    w = ar_walk(a);
    ck_assert_uint_eq(w.n, M);
    free(w.b);
    ar_set_free(&set);
    ck_assert_int_eq(cistern_check_heap(), 0);
    ck_assert_int_eq(cistern_arena_destroy(a), 0);
}
END_TEST

static int stop_after_ten(void *p, size_t usable, void *ctx)
{
    (void)p;
    (void)usable;
    return ++*(int *)ctx == 10 ? 7 : 0;
}

START_TEST(walk_stops_when_told)
{
    cistern_arena_t *a = ar_create("stop", NULL, 0, 0, 0);
    for (int i = 0; i < 100; i++)
        cistern_arena_malloc(a, i % 10 ? 64 : 300 * KiB);
    int calls = 0;
    ck_assert_int_eq(cistern_arena_walk(a, stop_after_ten, &calls), 7);
    ck_assert_int_eq(calls, 10);
    /* Nothing is left marked: a full walk still sees all 100. */
    struct ar_seen w = ar_walk(a);
    ck_assert_uint_eq(w.n, 100);
    free(w.b);
    ck_assert_int_eq(cistern_arena_destroy(a), 0);
}
END_TEST

/* A NOTOUCH arena over PROT_NONE memory: any read or write of it by the
   library is a SIGSEGV, so the walk must use metadata alone. */
START_TEST(walk_notouch_arena)
{
    const size_t len = 32 * MiB;
    void *base = ar_map(len, 2 * MiB);
    ck_assert_int_eq(mprotect(base, len, PROT_NONE), 0);
    cistern_sysalloc_t *pool = cistern_sysalloc_pool(base, len, CISTERN_SYSALLOC_NOTOUCH);
    ck_assert_ptr_nonnull(pool);
    cistern_arena_t *a = ar_create("device-like", &pool, 1, 0, 0);
    struct held h = { calloc(3000, sizeof(void *)), 3000 };
    for (size_t i = 0; i < h.n; i++) {
        h.p[i] = cistern_arena_malloc(a, i % 100 ? 16 + i % 900 : 300 * KiB);
        AR_CHECK(h.p[i] != NULL);
        AR_CHECK(ar_inside(h.p[i], 1, base, len));
    }
    for (size_t i = 0; i < h.n; i += 3) {
        cistern_free(h.p[i]);
        h.p[i] = NULL;
    }
    assert_walk_matches(a, &h);
    cistern_arena_reset(a);
    struct ar_seen w = ar_walk(a);
    ck_assert_uint_eq(w.n, 0);
    free(w.b);
    free(h.p);
    ck_assert_int_eq(cistern_arena_destroy(a), 0);
    ck_assert_int_eq(cistern_sysalloc_release(pool), 0);
    munmap(base, len);
}
END_TEST

static int count_bytes(void *p, size_t usable, void *ctx)
{
    (void)p;
    *(size_t *)ctx += usable;
    return 0;
}

/* A walk may take a while over a big arena, and the library's own release
   thread may wake meanwhile and drain the transfer caches: the walk must
   stay exact and the drain must not mistake anything for a double free.
   The transfer caches are refilled between walks; no program thread
   allocates or frees during one. */
START_TEST(walk_races_the_release_thread)
{
    ar_busy_release_thread();
    cistern_arena_t *a = ar_create("walk-raced", NULL, 0, 0, 0);
    enum { LIVE = 200000 };
    size_t live_bytes = 0;
    for (int i = 0; i < LIVE; i++) {
        void *q = cistern_arena_malloc(a, 32);
        AR_CHECK(q != NULL);
        live_bytes += cistern_usable_size(q);
    }
    static void *p[2048];
    double t0 = ar_now();
    long walks = 0;
    while (ar_now() - t0 < 2.5) {
        unsigned n = 0;
        for (size_t size = 4 * KiB; size <= 64 * KiB; size += size / 8)
            for (int i = 0; i < 48; i++)
                p[n++] = cistern_arena_malloc(a, size);
        for (unsigned i = 0; i < n; i++)
            cistern_free(p[i]);
        size_t seen = 0;
        AR_CHECK(cistern_arena_walk(a, count_bytes, &seen) == 0);
        AR_CHECK_MSG(seen == live_bytes, "walk %ld saw %zu bytes, %zu are live", walks, seen,
                     live_bytes);
        walks++;
    }
    printf("# %ld walks against the release thread\n", walks);
    ck_assert_int_eq(cistern_check_heap(), 0);
    ck_assert_int_eq(cistern_arena_destroy(a), 0);
}
END_TEST

static Suite *make_suite(void)
{
    Suite *s = suite_create("arena_walk");
    TCase *tc = tcase_create("walk");
    tcase_add_checked_fixture(tc, ar_no_release_thread, NULL);
    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, walk_exact_cached);
    tcase_add_test(tc, walk_exact_uncached);
    tcase_add_test(tc, walk_leaves_the_arena_as_it_was);
    tcase_add_test(tc, walk_stops_when_told);
    tcase_add_test(tc, walk_notouch_arena);
    suite_add_tcase(s, tc);
    TCase *bg = tcase_create("release_thread");
    tcase_set_timeout(bg, 60);
    tcase_add_test(bg, walk_races_the_release_thread);
    suite_add_tcase(s, bg);
    return s;
}

CS_TEST_MAIN(make_suite)
