/*
 * chain_threads.c - sources added to and removed from an arena's chain
 * while other threads allocate and free in it.
 */
#include "srcutil.h"
#include "testutil.h"

#include <pthread.h>
#include <stdio.h>
#include <time.h>

#define WORKERS 4
#define POOL_LEN (16 * MiB)
#define RUN_SECONDS 2.0

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

struct shared {
    cistern_arena_t *arena;    /* NULL: the default arena through cistern_malloc */
    cistern_sysalloc_t *pool[2];
    void *base[2];
    int stop, chained; /* read and written with __atomic: shared between threads */
    unsigned long edits, failures;
};

struct worker {
    struct shared *sh;
    unsigned id;
    unsigned long ops, in_pool, bad;
};

static void *worker_main(void *arg)
{
    struct worker *w = arg;
    struct shared *sh = w->sh;
    enum { RING = 128 };
    struct {
        unsigned char *p;
        size_t n;
    } ring[RING] = { { 0 } };
    uint64_t rng = 0x1234567ull + w->id;
    unsigned k = 0;
    while (!__atomic_load_n(&sh->stop, __ATOMIC_ACQUIRE)) {
        if (ring[k].p) {
            if (ring[k].p[0] != (unsigned char)k || ring[k].p[ring[k].n - 1] != (unsigned char)w->id)
                w->bad++;
            cistern_free(ring[k].p);
        }
        uint32_t r = su_rand(&rng);
        size_t n = r % 16 == 0 ? 200 * KiB + r % (400 * KiB) : 8 + r % 3000;
        unsigned char *p = sh->arena ? cistern_arena_malloc(sh->arena, n) : cistern_malloc(n);
        if (!p) {
            w->bad++;
            ring[k].p = NULL;
            continue;
        }
        p[0] = (unsigned char)k;
        p[n - 1] = (unsigned char)w->id;
        ring[k].p = p;
        ring[k].n = n;
        for (int i = 0; i < 2; i++)
            w->in_pool += su_inside(p, n, sh->base[i], POOL_LEN);
        k = (k + 1) % RING;
        w->ops++;
    }
    for (unsigned i = 0; i < RING; i++)
        cistern_free(ring[i].p);
    return NULL;
}

/* Pool 0 goes first in the chain, pool 1 last; then both leave again. */
static void *control_main(void *arg)
{
    struct shared *sh = arg;
    cistern_arena_t *a = sh->arena ? sh->arena : cistern_arena_default();
    while (!__atomic_load_n(&sh->stop, __ATOMIC_ACQUIRE)) {
        sh->failures += cistern_arena_add_sysalloc(a, sh->pool[0], 0) != 0;
        sh->failures += cistern_arena_add_sysalloc(a, sh->pool[1], CISTERN_CHAIN_LAST) != 0;
        __atomic_store_n(&sh->chained, 1, __ATOMIC_RELEASE);
        usleep(500);
        sh->failures += cistern_arena_remove_sysalloc(a, sh->pool[1]) != 0;
        usleep(200);
        sh->failures += cistern_arena_remove_sysalloc(a, sh->pool[0]) != 0;
        sh->edits++;
    }
    return NULL;
}

START_TEST(add_remove_under_load)
{
    struct shared sh = { 0 };
    if (_i == 1) {
        cistern_sysalloc_t *os = cistern_sysalloc_os();
        sh.arena = su_arena("user", &os, 1);
    }
    for (int i = 0; i < 2; i++) {
        sh.base[i] = su_map(POOL_LEN, 2 * MiB);
        sh.pool[i] = cistern_sysalloc_pool(sh.base[i], POOL_LEN, 0);
        ck_assert_ptr_nonnull(sh.pool[i]);
    }
    pthread_t ctl, th[WORKERS];
    struct worker w[WORKERS];
    /* The first region comes from a pool: workers start once both are in. */
    ck_assert_int_eq(pthread_create(&ctl, NULL, control_main, &sh), 0);
    while (!__atomic_load_n(&sh.chained, __ATOMIC_ACQUIRE))
        usleep(100);
    for (unsigned i = 0; i < WORKERS; i++) {
        w[i] = (struct worker){ &sh, i, 0, 0, 0 };
        ck_assert_int_eq(pthread_create(&th[i], NULL, worker_main, &w[i]), 0);
    }
    double t0 = now_s();
    while (now_s() - t0 < RUN_SECONDS)
        usleep(10000);
    __atomic_store_n(&sh.stop, 1, __ATOMIC_RELEASE);
    pthread_join(ctl, NULL);
    unsigned long ops = 0, in_pool = 0;
    for (unsigned i = 0; i < WORKERS; i++) {
        pthread_join(th[i], NULL);
        ck_assert_msg(w[i].bad == 0, "worker %u: %lu failed or damaged allocations", i, w[i].bad);
        ops += w[i].ops;
        in_pool += w[i].in_pool;
    }
    fprintf(stderr, "# edits %lu ops %lu in_pool %lu\n", sh.edits, ops, in_pool);
    ck_assert_uint_eq(sh.failures, 0);
    ck_assert_uint_ge(sh.edits, 20);
    ck_assert_uint_gt(ops, 10000);
    ck_assert_msg(in_pool > 0, "no allocation was ever served by a pool");
    ck_assert_int_eq(cistern_check_heap(), 0);

    /* The workers freed everything; objects still cached on the way back
       to their spans are handed back, then the pools hold nothing. */
    cistern_release_free_memory();
    for (int i = 0; i < 2; i++) {
        cistern_sysalloc_stats_t st = su_stats(sh.pool[i]);
        ck_assert_msg(st.in_use_bytes == 0 && st.reserved_bytes == 0,
                      "pool %d: %zu bytes in use, %zu reserved after every free", i,
                      st.in_use_bytes, st.reserved_bytes);
        ck_assert_int_eq(cistern_sysalloc_release(sh.pool[i]), 0);
    }
    ck_assert_int_eq(cistern_check_heap(), 0);
    if (sh.arena)
        ck_assert_int_eq(cistern_arena_destroy(sh.arena), 0);
}
END_TEST

static Suite *make_suite(void)
{
    Suite *s = suite_create("chain_threads");
    TCase *tc = tcase_create("chain_edits");
    tcase_set_timeout(tc, 30);
    tcase_add_loop_test(tc, add_remove_under_load, 0, 2); /* default arena, user arena */
    suite_add_tcase(s, tc);
    return s;
}

CS_TEST_MAIN(make_suite)
