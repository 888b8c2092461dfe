/*
 * basic.c - the arena calls one by one: create and destroy, the arena malloc
 * family, cistern_arena_of, per-arena statistics, limit_bytes, and what each
 * call does with bad input.
 */
#include "arutil.h"

#include <signal.h>

#ifndef CS_TEST_DEBUG_LEVEL
#define CS_TEST_DEBUG_LEVEL 0
#endif

START_TEST(create_default_chain)
{
    cistern_arena_t *a = cistern_arena_create(NULL);
    ck_assert_ptr_nonnull(a);
    ck_assert_ptr_ne(a, cistern_arena_default());
    void *small = cistern_arena_malloc(a, 24), *large = cistern_arena_malloc(a, 3 * MiB);
    ck_assert_ptr_nonnull(small);
    ck_assert_ptr_nonnull(large);
    memset(small, 1, 24);
    memset(large, 2, 3 * MiB);
    ck_assert_ptr_eq(cistern_arena_of(small), a);
    ck_assert_ptr_eq(cistern_arena_of(large), a);
    cistern_free(small);
    ck_assert_int_eq(cistern_arena_destroy(a), 0); /* large still live: destroy frees it */
    ck_assert_int_eq(cistern_check_heap(), 0);
}
END_TEST

START_TEST(malloc_family_stays_in_the_arena)
{
    cistern_arena_t *a = ar_create("family", NULL, 0, 0, 0);
    static const size_t sizes[] = { 0, 1, 8, 17, 100, 1000, 4096, 40000, 256 * KiB, 300 * KiB, 5 * MiB };
    for (size_t i = 0; i < sizeof sizes / sizeof *sizes; i++) {
        void *p = cistern_arena_malloc(a, sizes[i]);
        ck_assert_msg(p != NULL, "arena_malloc(%zu)", sizes[i]);
        ck_assert_ptr_eq(cistern_arena_of(p), a);
        ck_assert_uint_ge(cistern_usable_size(p), sizes[i]);
        if (sizes[i] >= 16)
            ck_assert_uint_eq((uintptr_t)p % 16, 0);
        test_fill(p, sizes[i], (uint32_t)i);
        /* realloc keeps p's arena, whichever arena is passed or current. */
        void *q = cistern_arena_realloc(NULL, p, sizes[i] * 3 + 10);
        ck_assert_ptr_nonnull(q);
        ck_assert_ptr_eq(cistern_arena_of(q), a);
        ck_assert(test_check(q, sizes[i], (uint32_t)i));
        void *r = cistern_realloc(q, sizes[i] / 2 + 1);
        ck_assert_ptr_eq(cistern_arena_of(r), a);
        ck_assert(test_check(r, sizes[i] / 2 + 1, (uint32_t)i));
        cistern_free(r);
    }
    /* realloc of NULL allocates in the arena named. */
    void *n = cistern_arena_realloc(a, NULL, 200);
    ck_assert_ptr_eq(cistern_arena_of(n), a);
    ck_assert_ptr_null(cistern_arena_realloc(a, n, 0)); /* size 0 frees */

    /* calloc zeroes even memory that held data. */
    for (int round = 0; round < 2; round++) {
        char *c = cistern_arena_calloc(a, 1000, 7);
        ck_assert_ptr_nonnull(c);
        ck_assert_ptr_eq(cistern_arena_of(c), a);
        for (size_t k = 0; k < 7000; k++)
            AR_CHECK(c[k] == 0);
        memset(c, 0xa5, 7000);
        cistern_free(c);
        char *big = cistern_arena_calloc(a, 3, MiB);
        ck_assert_ptr_nonnull(big);
        for (size_t k = 0; k < 3 * MiB; k += 1021)
            AR_CHECK(big[k] == 0);
        memset(big, 0x5a, 3 * MiB);
        cistern_free(big);
    }
    errno = 0;
    ck_assert_ptr_null(cistern_arena_calloc(a, SIZE_MAX / 2, 3));
    ck_assert_int_eq(errno, ENOMEM);

    for (size_t align = 1; align <= 4 * MiB; align *= 4) {
        void *p = cistern_arena_aligned_alloc(a, align, 3 * align / 2 + 1);
        ck_assert_msg(p != NULL, "aligned_alloc(%zu)", align);
        ck_assert_uint_eq((uintptr_t)p % align, 0);
        ck_assert_ptr_eq(cistern_arena_of(p), a);
        cistern_free_sized(p, 3 * align / 2 + 1);
    }
    errno = 0;
    ck_assert_ptr_null(cistern_arena_aligned_alloc(a, 48, 100));
    ck_assert_int_eq(errno, EINVAL);
    ck_assert_int_eq(cistern_check_heap(), 0);
    ck_assert_int_eq(cistern_arena_destroy(a), 0);
}
END_TEST

START_TEST(arena_of_knows_every_pointer)
{
    cistern_arena_t *a = ar_create("of-a", NULL, 0, 0, 0);
    cistern_arena_t *b = ar_create("of-b", NULL, 0, 0, 0);
    int local;
    void *libc = malloc(64);
    ck_assert_ptr_null(cistern_arena_of(NULL));
    ck_assert_ptr_null(cistern_arena_of(&local));
    ck_assert_ptr_null(cistern_arena_of(libc));
    free(libc);
    void *d = cistern_malloc(40);
    ck_assert_ptr_eq(cistern_arena_of(d), cistern_arena_default());
    void *pa = cistern_arena_malloc(a, 40), *pb = cistern_arena_malloc(b, 40);
    void *la = cistern_arena_malloc(a, 2 * MiB);
    ck_assert_ptr_eq(cistern_arena_of(pa), a);
    ck_assert_ptr_eq(cistern_arena_of(pb), b);
    ck_assert_ptr_eq(cistern_arena_of(la), a);
    cistern_free(la);
    cistern_free(d);
    cistern_free(pa);
    cistern_free(pb);
    ck_assert_int_eq(cistern_arena_destroy(a), 0);
    ck_assert_int_eq(cistern_arena_destroy(b), 0);
}
END_TEST

/* free, realloc and usable_size take a pointer from any arena, in any order. */
START_TEST(free_takes_any_arena)
{
    enum { N = 6000, NA = 3 };
    cistern_arena_t *arenas[NA + 1];
    for (int i = 0; i < NA; i++)
        arenas[i] = ar_create("mixed", NULL, 0, i == 1 ? CISTERN_ARENA_NO_TCACHE : 0, 0);
    arenas[NA] = cistern_arena_default();
    void **p = malloc(N * sizeof *p);
    uint64_t rng = 7;
    for (int i = 0; i < N; i++) {
        size_t n = 1 + ar_rand(&rng) % (i % 50 == 0 ? 600000 : 700);
        cistern_arena_t *a = arenas[i % (NA + 1)];
        p[i] = a == arenas[NA] ? cistern_malloc(n) : cistern_arena_malloc(a, n);
        AR_CHECK(p[i] != NULL);
        AR_CHECK(cistern_arena_of(p[i]) == a);
        AR_CHECK(cistern_usable_size(p[i]) >= n);
        test_fill(p[i], n < 64 ? n : 64, (uint32_t)i);
    }
    for (int i = N - 1; i > 0; i--) { /* shuffle */
        int j = (int)(ar_rand(&rng) % (uint32_t)(i + 1));
        void *t = p[i];
        p[i] = p[j];
        p[j] = t;
    }
    for (int i = 0; i < N; i += 3) {
        cistern_arena_t *owner = cistern_arena_of(p[i]);
        p[i] = cistern_realloc(p[i], 300);
        AR_CHECK(cistern_arena_of(p[i]) == owner);
    }
    for (int i = 0; i < N; i++)
        cistern_free(p[i]);
    free(p);
    for (int i = 0; i < NA; i++) {
        cistern_arena_stats_t st = ar_stats(arenas[i]);
        ck_assert_uint_eq(st.allocated_bytes, 0);
        ck_assert_uint_eq(st.nmalloc, st.nfree);
        ck_assert_int_eq(cistern_arena_destroy(arenas[i]), 0);
    }
    ck_assert_int_eq(cistern_check_heap(), 0);
}
END_TEST

/* allocated_bytes is the sum of the usable sizes; the counters count calls. */
START_TEST(stats_follow_the_arena)
{
    for (unsigned flags = 0; flags <= CISTERN_ARENA_NO_TCACHE; flags++) {
        cistern_arena_t *a = ar_create("stats", NULL, 0, flags, 0);
        cistern_arena_stats_t st = ar_stats(a);
        ck_assert_uint_eq(st.allocated_bytes, 0);
        ck_assert_uint_eq(st.active_bytes, 0);
        ck_assert_uint_eq(st.nmalloc, 0);
        enum { N = 3000 };
        void *p[N];
        size_t sum = 0;
        uint64_t rng = 11;
        for (int i = 0; i < N; i++) {
            size_t n = i % 100 == 7 ? 300000 + ar_rand(&rng) % 100000 : 1 + ar_rand(&rng) % 3000;
            p[i] = cistern_arena_malloc(a, n);
            AR_CHECK(p[i] != NULL);
            sum += cistern_usable_size(p[i]);
        }
        st = ar_stats(a);
        ck_assert_uint_eq(st.allocated_bytes, sum);
        ck_assert_uint_eq(st.nmalloc, N);
        ck_assert_uint_eq(st.nfree, 0);
        ck_assert_uint_ge(st.active_bytes, st.allocated_bytes);
        ck_assert_uint_ge(st.committed_bytes, st.active_bytes);
        for (int i = 0; i < N; i += 2) {
            sum -= cistern_usable_size(p[i]);
            cistern_free(p[i]);
        }
        st = ar_stats(a);
        ck_assert_uint_eq(st.allocated_bytes, sum);
        ck_assert_uint_eq(st.nfree, N / 2);
        for (int i = 1; i < N; i += 2)
            cistern_free(p[i]);
        st = ar_stats(a);
        ck_assert_uint_eq(st.allocated_bytes, 0);
        ck_assert_uint_eq(st.nmalloc, st.nfree);
        ck_assert_int_eq(cistern_arena_destroy(a), 0);
    }
}
END_TEST

START_TEST(limit_bytes_gives_enomem)
{
    const size_t limit = 4 * MiB;
    cistern_arena_t *a = ar_create("limited", NULL, 0, 0, limit);
    void *big[4];
    for (int i = 0; i < 4; i++) {
        big[i] = cistern_arena_malloc(a, MiB);
        ck_assert_ptr_nonnull(big[i]);
    }
    errno = 0;
    ck_assert_ptr_null(cistern_arena_malloc(a, MiB));
    ck_assert_int_eq(errno, ENOMEM);
    errno = 0;
    ck_assert_ptr_null(cistern_arena_malloc(a, 5 * MiB));
    ck_assert_int_eq(errno, ENOMEM);
    errno = 0;
    ck_assert_ptr_null(cistern_arena_calloc(a, 2, MiB));
    ck_assert_int_eq(errno, ENOMEM);
    errno = 0;
    ck_assert_ptr_null(cistern_arena_aligned_alloc(a, MiB, MiB));
    ck_assert_int_eq(errno, ENOMEM);
    /* A failed growth leaves the block as it was. */
    test_fill(big[0], MiB, 3);
    errno = 0;
    ck_assert_ptr_null(cistern_realloc(big[0], 3 * MiB));
    ck_assert_int_eq(errno, ENOMEM);
    ck_assert(test_check(big[0], MiB, 3));
    ck_assert_uint_le(ar_stats(a).active_bytes, limit);
    /* Small requests hit the same wall. */
    cistern_free(big[3]);
    cistern_free(big[2]);
    size_t got = 0;
    void *s;
    errno = 0;
    while ((s = cistern_arena_malloc(a, 1000)) != NULL)
        got += 1000;
    ck_assert_int_eq(errno, ENOMEM);
    ck_assert_uint_gt(got, MiB);
    ck_assert_uint_le(got, 2 * MiB);
    ck_assert_uint_le(ar_stats(a).active_bytes, limit);
    /* Room made is room served; a reset makes all of it room. */
    cistern_free(big[1]);
    ck_assert_ptr_nonnull(cistern_arena_malloc(a, MiB));
    cistern_arena_reset(a);
    for (int i = 0; i < 4; i++)
        ck_assert_ptr_nonnull(cistern_arena_malloc(a, MiB));
    ck_assert_int_eq(cistern_arena_destroy(a), 0);
}
END_TEST

/* The limit is in bytes: a limit that is not a multiple of the heap page
   must not be rounded up into room for one more page. */
START_TEST(limit_is_not_rounded_up)
{
    const size_t limit = 4 * MiB + 100;
    cistern_arena_t *a = ar_create("limited-odd", NULL, 0, 0, limit);
    for (int i = 0; i < 4; i++)
        ck_assert_ptr_nonnull(cistern_arena_malloc(a, MiB));
    /* 100 bytes of room are left: no span fits, whatever the request. */
    errno = 0;
    void *p = cistern_arena_malloc(a, 16);
    ck_assert_msg(p == NULL, "a 16-byte block past a limit of %zu bytes: active now %zu bytes", limit,
                  ar_stats(a).active_bytes);
    ck_assert_int_eq(errno, ENOMEM);
    ck_assert_uint_le(ar_stats(a).active_bytes, limit);
    ck_assert_int_eq(cistern_arena_destroy(a), 0);
}
END_TEST

START_TEST(bad_input)
{
    cistern_arena_t *def = cistern_arena_default();
    ck_assert_ptr_nonnull(def);
    errno = 0;
    ck_assert_ptr_null(cistern_arena_malloc(NULL, 8));
    ck_assert_int_eq(errno, EINVAL);
    errno = 0;
    ck_assert_ptr_null(cistern_arena_calloc(NULL, 1, 8));
    ck_assert_int_eq(errno, EINVAL);
    errno = 0;
    ck_assert_ptr_null(cistern_arena_aligned_alloc(NULL, 64, 8));
    ck_assert_int_eq(errno, EINVAL);
    errno = 0;
    ck_assert_ptr_null(cistern_arena_realloc(NULL, NULL, 8));
    ck_assert_int_eq(errno, EINVAL);
    errno = 0;
    cistern_arena_reset(NULL);
    ck_assert_int_eq(errno, EINVAL);
    ck_assert_int_eq(cistern_arena_destroy(NULL), EINVAL);

    /* The default arena is never reset nor destroyed, and keeps serving. */
    void *keep = cistern_malloc(100);
    test_fill(keep, 100, 9);
    errno = 0;
    cistern_arena_reset(def);
    ck_assert_int_eq(errno, EINVAL);
    ck_assert_int_eq(cistern_arena_destroy(def), EINVAL);
    ck_assert(test_check(keep, 100, 9));
    ck_assert_ptr_eq(cistern_arena_of(keep), def);
    cistern_free(keep);

    cistern_arena_stats_t st;
    ck_assert_int_eq(cistern_arena_get_stats(NULL, &st), EINVAL);
    ck_assert_int_eq(cistern_arena_get_stats(def, NULL), EINVAL);
    ck_assert_int_eq(cistern_arena_walk(NULL, ar_collect, NULL), EINVAL);
    ck_assert_int_eq(cistern_arena_walk(def, NULL, NULL), EINVAL);

    /* Bad configurations. */
    cistern_sysalloc_t *os = cistern_sysalloc_os();
    cistern_sysalloc_t *twice[2] = { os, os };
    cistern_sysalloc_t *hole[2] = { os, NULL };
    cistern_arena_config_t cfg = { "bad", NULL, 1, 0, 0 };
    errno = 0;
    ck_assert_ptr_null(cistern_arena_create(&cfg)); /* nsources without sources */
    ck_assert_int_eq(errno, EINVAL);
    cfg.sources = twice;
    cfg.nsources = 2;
    errno = 0;
    ck_assert_ptr_null(cistern_arena_create(&cfg));
    ck_assert_int_eq(errno, EINVAL);
    cfg.sources = hole;
    errno = 0;
    ck_assert_ptr_null(cistern_arena_create(&cfg));
    ck_assert_int_eq(errno, EINVAL);
    cfg.sources = twice;
    cfg.nsources = 1;
    cfg.flags = 0x80u;
    errno = 0;
    ck_assert_ptr_null(cistern_arena_create(&cfg));
    ck_assert_int_eq(errno, EINVAL);
}
END_TEST

#if CS_TEST_DEBUG_LEVEL >= 1
/* Debug builds stop at the first use of a destroyed arena. */
START_TEST(use_after_destroy_is_fatal)
{
    cistern_arena_t *a = ar_create("gone", NULL, 0, 0, 0);
    ck_assert_int_eq(cistern_arena_destroy(a), 0);
    cistern_arena_malloc(a, 8);
    ck_abort_msg("arena_malloc on a destroyed arena returned");
}
END_TEST
#else
/* A destroyed record is not the next arena's: a handle kept past its
   destroy still finds it dead while a few more arenas come and go. */
START_TEST(destroyed_handle_stays_dead)
{
    cistern_arena_t *a = ar_create("gone", NULL, 0, 0, 0);
    ck_assert_int_eq(cistern_arena_destroy(a), 0);
    cistern_arena_t *live[8];
    for (int i = 0; i < 8; i++) {
        cistern_arena_t *b = ar_create("next", NULL, 0, 0, 0);
        ck_assert_ptr_ne(b, a);
        ck_assert_int_eq(cistern_arena_destroy(b), 0);
        live[i] = ar_create("kept", NULL, 0, 0, 0);
        ck_assert_ptr_ne(live[i], a);
        errno = 0;
        ck_assert_ptr_null(cistern_arena_malloc(a, 8));
        ck_assert_int_eq(errno, EINVAL);
    }
    for (int i = 0; i < 8; i++)
        ck_assert_int_eq(cistern_arena_destroy(live[i]), 0);
}
END_TEST

/* Release builds answer EINVAL (the record waits for 16 more destroys
   before it serves again). */
START_TEST(use_after_destroy_is_einval)
{
    cistern_arena_t *a = ar_create("gone", NULL, 0, 0, 0);
    ck_assert_ptr_nonnull(cistern_arena_malloc(a, 8));
    ck_assert_int_eq(cistern_arena_destroy(a), 0);
    errno = 0;
    ck_assert_ptr_null(cistern_arena_malloc(a, 8));
    ck_assert_int_eq(errno, EINVAL);
    errno = 0;
    cistern_arena_reset(a);
    ck_assert_int_eq(errno, EINVAL);
    ck_assert_int_eq(cistern_arena_destroy(a), EINVAL);
    cistern_arena_stats_t st;
    ck_assert_int_eq(cistern_arena_get_stats(a, &st), EINVAL);
    ck_assert_int_eq(cistern_arena_walk(a, ar_collect, NULL), EINVAL);
    /* Routing to it is refused, and the thread keeps its arena. */
    errno = 0;
    ck_assert_ptr_eq(cistern_thread_set_arena(a), cistern_arena_default());
    ck_assert_int_eq(errno, EINVAL);
    void *p = cistern_malloc(32);
    ck_assert_ptr_eq(cistern_arena_of(p), cistern_arena_default());
    cistern_free(p);
}
END_TEST
#endif

static Suite *make_suite(void)
{
    Suite *s = suite_create("arena_basic");
    TCase *tc = tcase_create("basic");
    tcase_add_checked_fixture(tc, ar_no_release_thread, NULL);
    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, create_default_chain);
    tcase_add_test(tc, malloc_family_stays_in_the_arena);
    tcase_add_test(tc, arena_of_knows_every_pointer);
    tcase_add_test(tc, free_takes_any_arena);
    tcase_add_test(tc, stats_follow_the_arena);
    tcase_add_test(tc, limit_bytes_gives_enomem);
    tcase_add_test(tc, limit_is_not_rounded_up);
    tcase_add_test(tc, bad_input);
#if CS_TEST_DEBUG_LEVEL >= 1
    tcase_add_test_raise_signal(tc, use_after_destroy_is_fatal, SIGABRT);
#else
    tcase_add_test(tc, use_after_destroy_is_einval);
    tcase_add_test(tc, destroyed_handle_stays_dead);
#endif
    suite_add_tcase(s, tc);
    return s;
}

CS_TEST_MAIN(make_suite)
