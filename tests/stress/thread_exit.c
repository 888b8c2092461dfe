/*
 * thread_exit.c - a thread that ends must hand its cache back: 200 short
 * threads each leave objects of many size classes in their caches when
 * they exit.  Kept caches would pin memory per dead thread (the arena's
 * active pages grow with the thread count); dropped ones would leave their
 * objects counted as allocated forever.
 */
#include "stress.h"

#include <pthread.h>
#include <stdio.h>

#define NTHREADS 200
#define WAVE 8     /* threads alive at once */
#define PER_THREAD 96
#define MAIN_HOLDS 100

static void *short_life(void *arg)
{
    uint64_t rng = stress_mix((uint64_t)(uintptr_t)arg) | 1;
    void *p[PER_THREAD];
    size_t n[PER_THREAD];
    for (int i = 0; i < PER_THREAD; i++) {
        /* 16 B .. 4 KiB: many classes, each keeps some in the cache. */
        n[i] = (size_t)16 << (i % 9);
        p[i] = T_MALLOC(n[i]);
        if (!p[i])
            return (void *)"malloc failed";
        stress_fill(p[i], n[i], rng);
    }
    for (int i = 0; i < PER_THREAD; i++) {
        if (!stress_check(p[i], n[i], p[i], rng))
            return (void *)"pattern damaged";
        T_FREE(p[i]);
    }
    return NULL;
}

static void run_wave(uintptr_t first)
{
    pthread_t t[WAVE];
    for (uintptr_t i = 0; i < WAVE; i++)
        ck_assert_int_eq(pthread_create(&t[i], NULL, short_life, (void *)(first + i)), 0);
    for (int i = 0; i < WAVE; i++) {
        void *err = NULL;
        ck_assert_int_eq(pthread_join(t[i], &err), 0);
        ck_assert_msg(err == NULL, "thread %lu: %s", (unsigned long)(first + (uintptr_t)i),
                      (const char *)err);
    }
}

START_TEST(exiting_threads_return_caches)
{
    stress_settle();
    cistern_arena_stats_t base, first, end;
    ck_assert_int_eq(stress_stats(&base), 0);

    /* What the main thread holds throughout. */
    void *mine[MAIN_HOLDS];
    size_t held = 0;
    for (int i = 0; i < MAIN_HOLDS; i++) {
        mine[i] = T_MALLOC(100 + (size_t)i * 10);
        ck_assert_ptr_nonnull(mine[i]);
        held += T_USABLE_SIZE(mine[i]);
    }

    run_wave(0);
    ck_assert_int_eq(stress_stats(&first), 0);
    for (uintptr_t t = WAVE; t < NTHREADS; t += WAVE)
        run_wave(t);
    ck_assert_int_eq(stress_stats(&end), 0);
    ck_assert_int_eq(cistern_check_heap(), 0);

    /* Live objects: the main thread's, plus (drop-in) a few of glibc's
       thread set-up that it keeps for reuse. */
    long long live = stress_live_delta(&base, &end);
    ck_assert_msg(live >= MAIN_HOLDS && live <= MAIN_HOLDS + 4 * WAVE,
                  "%lld objects live after %d threads; the main thread holds %d", live, NTHREADS,
                  MAIN_HOLDS);
    ck_assert_msg(end.allocated_bytes <= base.allocated_bytes + held + ((size_t)64 << 10),
                  "allocated_bytes %zu -> %zu, the main thread holds %zu", base.allocated_bytes,
                  end.allocated_bytes, held);
    /* 192 more threads than at the first reading: caches left behind would
       add about 192 * PER_THREAD objects' pages. */
    ck_assert_msg(end.active_bytes <= first.active_bytes + ((size_t)2 << 20),
                  "active_bytes grew from %zu to %zu over %d exited threads", first.active_bytes,
                  end.active_bytes, NTHREADS - WAVE);

    for (int i = 0; i < MAIN_HOLDS; i++)
        T_FREE(mine[i]);
}
END_TEST

static Suite *stress_suite(void)
{
    Suite *s = suite_create("stress: thread exit, " T_LIBNAME);
    TCase *tc = tcase_create("thread_exit");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, exiting_threads_return_caches);
    suite_add_tcase(s, tc);
    return s;
}

CS_TEST_MAIN(stress_suite)
