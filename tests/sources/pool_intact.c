/*
 * pool_intact.c - injected memory is never unmapped (design invariant 1).
 *
 * This program defines munmap and mremap itself: the library reaches them
 * through its PLT, so the executable's definitions are the ones it calls.
 * Every call is forwarded to the C library's and recorded when it touches
 * the watched range (the pool): realloc may move a big block's pages with
 * mremap, but only in os memory, never in injected memory.  The project
 * compiles with hidden visibility, so the definitions say they are to be
 * exported.  The first tests prove the interposition sees the library's
 * own calls, so the others cannot pass by not looking.
 */
#define _GNU_SOURCE
#include "srcutil.h"
#include "testutil.h"

#include <dlfcn.h>
#include <stdarg.h>

#define POOL_LEN (24 * MiB)

static uintptr_t watch_lo, watch_hi;
static unsigned watch_hits, remap_hits, remap_calls;

__attribute__((visibility("default"))) int munmap(void *addr, size_t len)
{
    static int (*next)(void *, size_t);
    if (!next)
        next = (int (*)(void *, size_t))dlsym(RTLD_NEXT, "munmap");
    uintptr_t a = (uintptr_t)addr;
    if (a < watch_hi && watch_lo < a + len)
        __atomic_add_fetch(&watch_hits, 1, __ATOMIC_RELAXED);
    return next(addr, len);
}

__attribute__((visibility("default"))) void *mremap(void *old, size_t old_len, size_t new_len,
                                                    int flags, ...)
{
    static void *(*next)(void *, size_t, size_t, int, ...);
    if (!next)
        next = (void *(*)(void *, size_t, size_t, int, ...))dlsym(RTLD_NEXT, "mremap");
    void *to = NULL;
    if (flags & MREMAP_FIXED) {
        va_list ap;
        va_start(ap, flags);
        to = va_arg(ap, void *);
        va_end(ap);
    }
    uintptr_t a = (uintptr_t)old, b = (uintptr_t)to;
    __atomic_add_fetch(&remap_calls, 1, __ATOMIC_RELAXED);
    if ((a < watch_hi && watch_lo < a + old_len) || (to && b < watch_hi && watch_lo < b + new_len))
        __atomic_add_fetch(&remap_hits, 1, __ATOMIC_RELAXED);
    return to ? next(old, old_len, new_len, flags, to) : next(old, old_len, new_len, flags);
}

static void watch(const void *base, size_t len)
{
    watch_lo = (uintptr_t)base;
    watch_hi = watch_lo + len;
    watch_hits = remap_hits = 0;
}

static void unwatch(void)
{
    watch_lo = watch_hi = 0;
}

/* Every page of the range is still mapped and writable: write each one,
   then read each back (an unmapped page would fault here). */
static void assert_range_intact(void *base, size_t len)
{
    size_t page = (size_t)sysconf(_SC_PAGESIZE);
    volatile unsigned char *p = base;
    for (size_t off = 0; off < len; off += page) {
        p[off] = (unsigned char)(off / page);
        p[off + page - 1] = 0x5a;
    }
    for (size_t off = 0; off < len; off += page)
        ck_assert_msg(p[off] == (unsigned char)(off / page) && p[off + page - 1] == 0x5a,
                      "page at offset %zu of the pool did not keep what was written", off);
}

/* Mixed sizes; contents written so the pages are really backed. */
static void churn(cistern_arena_t *a, void **ptrs, unsigned n)
{
    for (unsigned i = 0; i < n; i++) {
        size_t sz = i % 30 == 29 ? 700 * KiB : 24 + (size_t)(i * 37 % 5000);
        ptrs[i] = a ? cistern_arena_malloc(a, sz) : cistern_malloc(sz);
        ck_assert_ptr_nonnull(ptrs[i]);
        memset(ptrs[i], 0xc3, sz);
    }
}

START_TEST(interposer_sees_library_munmap)
{
    /* An os-only arena unmaps its regions on destroy: the hook must see it. */
    cistern_arena_t *a = cistern_arena_create(NULL);
    ck_assert_ptr_nonnull(a);
    void *p = cistern_arena_malloc(a, 3 * MiB);
    ck_assert_ptr_nonnull(p);
    watch(p, 3 * MiB);
    ck_assert_int_eq(cistern_arena_destroy(a), 0);
    unsigned hits = watch_hits;
    unwatch();
    ck_assert_msg(hits > 0, "munmap interposition is not in effect: the tests below prove nothing");
}
END_TEST

/* Growing a big block whose neighbour is in use moves it to a mapping of
   its own, and growing that past its room moves the pages with mremap: the
   hook must see it (a checker such as ASan turns this path off). */
START_TEST(interposer_sees_library_mremap)
{
#if defined(__SANITIZE_ADDRESS__)
    return;
#endif
    cistern_arena_t *a = cistern_arena_create(NULL);
    ck_assert_ptr_nonnull(a);
    cistern_thread_set_arena(a);
    unsigned char *p = cistern_malloc(1 * MiB);
    void *blocker = cistern_malloc(1 * MiB);
    ck_assert_ptr_nonnull(p);
    ck_assert_ptr_nonnull(blocker);
    memset(p, 0x5a, 1 * MiB);
    remap_calls = 0;
    p = cistern_realloc(p, 3 * MiB);
    ck_assert_ptr_nonnull(p);
    p = cistern_realloc(p, 40 * MiB);
    ck_assert_ptr_nonnull(p);
    ck_assert(p[0] == 0x5a && p[1 * MiB - 1] == 0x5a);
    ck_assert_msg(remap_calls > 0,
                  "mremap interposition is not in effect: the test below proves nothing");
    cistern_free(p);
    cistern_free(blocker);
    cistern_thread_set_arena(NULL);
    ck_assert_int_eq(cistern_arena_destroy(a), 0);
}
END_TEST

/* Big blocks in a pool that realloc grows, with neighbours in use so they
   must move, both in an arena over the pool alone and with the pool first
   in the default chain: they stay in the pool, keep their contents, and
   no munmap or mremap ever touches the pool.  The pool is larger than the
   first region the heap takes from it, so the pool could serve blocks a
   region of their own: only the rule that such regions come from the os
   source alone keeps them out. */
#define GROW_POOL_LEN (96 * MiB)
START_TEST(realloc_growth_keeps_range)
{
    for (int round = 0; round < 2; round++) {
        void *base = su_map(GROW_POOL_LEN, 2 * MiB);
        watch(base, GROW_POOL_LEN);
        cistern_sysalloc_t *pool = cistern_sysalloc_pool(base, GROW_POOL_LEN, 0);
        ck_assert_ptr_nonnull(pool);
        cistern_arena_t *def = cistern_arena_default(), *a = NULL;
        if (round == 0) {
            a = su_arena("over-pool", &pool, 1);
            cistern_thread_set_arena(a);
        } else {
            ck_assert_int_eq(cistern_arena_add_sysalloc(def, pool, 0), 0);
        }
        enum { N = 2 };
        unsigned char *b[N];
        void *blockers[N];
        size_t n = 300 * KiB;
        for (int i = 0; i < N; i++) {
            b[i] = cistern_malloc(n);
            blockers[i] = cistern_malloc(64 * KiB);
            ck_assert_ptr_nonnull(b[i]);
            ck_assert_ptr_nonnull(blockers[i]);
            memset(b[i], 0x20 + i, n);
        }
        for (; n < 3 * MiB; n = n * 3 / 2) {
            size_t m = n * 3 / 2;
            for (int i = 0; i < N; i++) {
                b[i] = cistern_realloc(b[i], m);
                ck_assert_ptr_nonnull(b[i]);
                ck_assert(su_inside(b[i], m, base, GROW_POOL_LEN));
                for (size_t k = 0; k < n; k += 4096)
                    ck_assert_msg(b[i][k] == 0x20 + i, "block %d lost its contents at %zu", i, k);
                memset(b[i], 0x20 + i, m);
            }
        }
        for (int i = 0; i < N; i++) {
            cistern_free(b[i]);
            cistern_free(blockers[i]);
        }
        cistern_release_free_memory();
        if (a) {
            cistern_thread_set_arena(NULL);
            ck_assert_int_eq(cistern_arena_destroy(a), 0);
        } else {
            ck_assert_int_eq(cistern_arena_remove_sysalloc(def, pool), 0);
        }
        ck_assert_int_eq(cistern_sysalloc_release(pool), 0);
        unsigned hits = watch_hits, rhits = remap_hits;
        unwatch();
        ck_assert_msg(hits == 0, "munmap was called %u times on the pool", hits);
        ck_assert_msg(rhits == 0, "mremap was called %u times on the pool", rhits);
        assert_range_intact(base, GROW_POOL_LEN);
        munmap(base, GROW_POOL_LEN);
    }
    ck_assert_int_eq(cistern_check_heap(), 0);
}
END_TEST

/* A pool over a fresh POOL_LEN mapping, with munmap of it watched. */
static cistern_sysalloc_t *watched_pool(void **base)
{
    *base = su_map(POOL_LEN, 2 * MiB);
    watch(*base, POOL_LEN);
    cistern_sysalloc_t *pool = cistern_sysalloc_pool(*base, POOL_LEN, 0);
    ck_assert_ptr_nonnull(pool);
    return pool;
}

/* The watch ends: who (cistern, or its teardown) never unmapped the pool,
   and every page of it is still there and whole. */
static void expect_pool_untouched(void *base, const char *who)
{
    unsigned hits = watch_hits;
    unwatch();
    ck_assert_msg(hits == 0, "%s called munmap %u times on the pool", who, hits);
    assert_range_intact(base, POOL_LEN);
}

START_TEST(default_chain_release_keeps_range)
{
    void *base;
    cistern_sysalloc_t *pool = watched_pool(&base);
    cistern_arena_t *def = cistern_arena_default();
    ck_assert_int_eq(cistern_arena_add_sysalloc(def, pool, 0), 0);
    enum { N = 600 };
    void *ptrs[N];
    churn(NULL, ptrs, N);
    for (unsigned i = 0; i < N; i++)
        ck_assert(su_inside(ptrs[i], 1, base, POOL_LEN));
    for (unsigned i = 0; i < N; i++)
        cistern_free(ptrs[i]);
    cistern_release_free_memory(); /* decommits the pool's pages: still no munmap */
    ck_assert_int_eq(cistern_arena_remove_sysalloc(def, pool), 0);
    ck_assert_int_eq(cistern_sysalloc_release(pool), 0);
    expect_pool_untouched(base, "cistern");
    ck_assert_int_eq(cistern_check_heap(), 0);
}
END_TEST

START_TEST(arena_destroy_keeps_range)
{
    void *base;
    cistern_sysalloc_t *pool = watched_pool(&base);
    cistern_arena_t *a = su_arena("over-pool", &pool, 1);
    enum { N = 400 };
    void *ptrs[N];
    churn(a, ptrs, N);
    for (unsigned i = 0; i < N; i++)
        ck_assert(su_inside(ptrs[i], 1, base, POOL_LEN));
    /* Some freed, some live: destroy takes both kinds back. */
    for (unsigned i = 0; i < N; i += 2)
        cistern_free(ptrs[i]);
    ck_assert_int_eq(cistern_arena_destroy(a), 0);
    ck_assert_uint_eq(su_stats(pool).reserved_bytes, 0);
    ck_assert_int_eq(cistern_sysalloc_release(pool), 0);
    expect_pool_untouched(base, "cistern");
}
END_TEST

START_TEST(reset_keeps_range)
{
    void *base;
    cistern_sysalloc_t *pool = watched_pool(&base);
    cistern_arena_t *a = su_arena("over-pool", &pool, 1);
    enum { N = 300 };
    void *ptrs[N];
    /* A reset decommits past reset_keep_bytes: decommit, not unmap. */
    ck_assert_int_eq(cistern_option_set("reset_keep_bytes", "0"), 0);
    for (int round = 0; round < 3; round++) {
        churn(a, ptrs, N);
        cistern_arena_reset(a);
    }
    ck_assert_int_eq(cistern_arena_destroy(a), 0);
    ck_assert_int_eq(cistern_sysalloc_release(pool), 0);
    expect_pool_untouched(base, "cistern");
}
END_TEST

START_TEST(teardown_keeps_range)
{
    void *base;
    cistern_sysalloc_t *pool = watched_pool(&base);
    cistern_arena_t *a = su_arena("over-pool", &pool, 1);
    enum { N = 200 };
    void *ptrs[N];
    churn(a, ptrs, N);
    cistern_teardown(); /* everything goes, live allocations included */
    expect_pool_untouched(base, "teardown");
    /* The range is the program's again: it can be injected afresh. */
    cistern_sysalloc_t *again = cistern_sysalloc_pool(base, POOL_LEN, 0);
    ck_assert_ptr_nonnull(again);
    ck_assert_int_eq(cistern_sysalloc_release(again), 0);
}
END_TEST

static Suite *make_suite(void)
{
    Suite *s = suite_create("pool_intact");
    TCase *tc = tcase_create("never_unmapped");
    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, interposer_sees_library_munmap);
    tcase_add_test(tc, interposer_sees_library_mremap);
    tcase_add_test(tc, realloc_growth_keeps_range);
    tcase_add_test(tc, default_chain_release_keeps_range);
    tcase_add_test(tc, arena_destroy_keeps_range);
    tcase_add_test(tc, reset_keeps_range);
    tcase_add_test(tc, teardown_keeps_range);
    suite_add_tcase(s, tc);
    return s;
}

CS_TEST_MAIN(make_suite)
