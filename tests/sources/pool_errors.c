/*
 * pool_errors.c - what cistern_sysalloc_pool and cistern_sysalloc_release
 * refuse, and with which errno.
 */
#include "srcutil.h"
#include "testutil.h"

#include <pthread.h>
#include <string.h>

#define LEN (8 * MiB)

START_TEST(bad_arguments_einval)
{
    size_t page = su_page();
    char *base = su_map(LEN, 2 * MiB);
    errno = 0;
    ck_assert_ptr_null(cistern_sysalloc_pool(base + 1, LEN - page, 0));
    ck_assert_int_eq(errno, EINVAL);
    errno = 0;
    ck_assert_ptr_null(cistern_sysalloc_pool(base + page / 2, LEN - page, 0));
    ck_assert_int_eq(errno, EINVAL);
    errno = 0;
    ck_assert_ptr_null(cistern_sysalloc_pool(base, 0, 0));
    ck_assert_int_eq(errno, EINVAL);
    errno = 0;
    ck_assert_ptr_null(cistern_sysalloc_pool(base, LEN - 1, 0));
    ck_assert_int_eq(errno, EINVAL);
    errno = 0;
    ck_assert_ptr_null(cistern_sysalloc_pool(base, page + 100, 0));
    ck_assert_int_eq(errno, EINVAL);
    errno = 0;
    ck_assert_ptr_null(cistern_sysalloc_pool(NULL, LEN, 0));
    ck_assert_int_eq(errno, EINVAL);
    /* A range that wraps around the address space. */
    errno = 0;
    ck_assert_ptr_null(cistern_sysalloc_pool((void *)(UINTPTR_MAX & ~(uintptr_t)(page - 1)),
                                             2 * page, 0));
    ck_assert_int_eq(errno, EINVAL);
    /* None of the refusals left a record behind: the range is still free. */
    cistern_sysalloc_t *ok = cistern_sysalloc_pool(base, LEN, 0);
    ck_assert_ptr_nonnull(ok);
    ck_assert_int_eq(cistern_sysalloc_release(ok), 0);
}
END_TEST

START_TEST(overlapping_pools_eexist)
{
    char *base = su_map(4 * LEN, 2 * MiB);
    cistern_sysalloc_t *a = cistern_sysalloc_pool(base + LEN, LEN, 0);
    ck_assert_ptr_nonnull(a);
    struct {
        size_t off, len;
    } clash[] = {
        { LEN, LEN },                 /* the same range */
        { LEN / 2, LEN },             /* overlaps its head */
        { LEN + LEN / 2, LEN },       /* overlaps its tail */
        { LEN + LEN / 4, LEN / 4 },   /* inside it */
        { 0, 3 * LEN },               /* around it */
        { 2 * LEN - su_page(), 2 * su_page() }, /* its last page */
    };
    for (size_t i = 0; i < sizeof clash / sizeof clash[0]; i++) {
        errno = 0;
        ck_assert_ptr_null(cistern_sysalloc_pool(base + clash[i].off, clash[i].len, 0));
        ck_assert_msg(errno == EEXIST, "case %zu: errno %d, not EEXIST", i, errno);
    }
    /* Neighbours on either side are fine: overlap is what is refused. */
    cistern_sysalloc_t *before = cistern_sysalloc_pool(base, LEN, 0);
    cistern_sysalloc_t *after = cistern_sysalloc_pool(base + 2 * LEN, LEN, 0);
    ck_assert_ptr_nonnull(before);
    ck_assert_ptr_nonnull(after);
    ck_assert_int_eq(cistern_sysalloc_release(before), 0);
    ck_assert_int_eq(cistern_sysalloc_release(after), 0);
    /* Once released, its range may be injected again. */
    ck_assert_int_eq(cistern_sysalloc_release(a), 0);
    a = cistern_sysalloc_pool(base + LEN / 2, LEN, 0);
    ck_assert_ptr_nonnull(a);
    ck_assert_int_eq(cistern_sysalloc_release(a), 0);
}
END_TEST

START_TEST(overlapping_cistern_memory_eexist)
{
    size_t page = su_page();
    /* A large allocation sits in a region cistern mapped from the os. */
    char *p = cistern_malloc(1 * MiB);
    ck_assert_ptr_nonnull(p);
    errno = 0;
    ck_assert_ptr_null(cistern_sysalloc_pool(p, page, 0));
    ck_assert_int_eq(errno, EEXIST);
    errno = 0;
    ck_assert_ptr_null(cistern_sysalloc_pool(p + 64 * KiB, 2 * page, 0));
    ck_assert_int_eq(errno, EEXIST);
    /* A small one too: its page belongs to the same kind of region. */
    char *q = cistern_malloc(40);
    ck_assert_ptr_nonnull(q);
    errno = 0;
    ck_assert_ptr_null(cistern_sysalloc_pool((void *)((uintptr_t)q & ~(uintptr_t)(page - 1)),
                                             page, 0));
    ck_assert_int_eq(errno, EEXIST);
    /* And memory of a pool already injected and in use, through another arena. */
    char *base = su_map(LEN, 2 * MiB);
    cistern_sysalloc_t *pool = cistern_sysalloc_pool(base, LEN, 0);
    ck_assert_ptr_nonnull(pool);
    cistern_arena_t *a = su_arena("pool", &pool, 1);
    char *r = cistern_arena_malloc(a, 2 * MiB);
    ck_assert(su_inside(r, 2 * MiB, base, LEN));
    errno = 0;
    ck_assert_ptr_null(cistern_sysalloc_pool(r, 2 * MiB, 0));
    ck_assert_int_eq(errno, EEXIST);
    cistern_free(r);
    ck_assert_int_eq(cistern_arena_destroy(a), 0);
    ck_assert_int_eq(cistern_sysalloc_release(pool), 0);
    cistern_free(p);
    cistern_free(q);
}
END_TEST

START_TEST(release_in_chain_ebusy)
{
    char *base = su_map(LEN, 2 * MiB);
    cistern_sysalloc_t *pool = cistern_sysalloc_pool(base, LEN, 0);
    ck_assert_ptr_nonnull(pool);
    cistern_arena_t *def = cistern_arena_default();
    ck_assert_int_eq(cistern_arena_add_sysalloc(def, pool, CISTERN_CHAIN_LAST), 0);
    ck_assert_int_eq(cistern_sysalloc_release(pool), EBUSY); /* nothing allocated, but chained */
    cistern_arena_t *a = su_arena("pool", &pool, 1);
    ck_assert_int_eq(cistern_arena_remove_sysalloc(def, pool), 0);
    ck_assert_int_eq(cistern_sysalloc_release(pool), EBUSY); /* still in a's chain */
    ck_assert_int_eq(cistern_arena_remove_sysalloc(a, pool), 0);
    ck_assert_int_eq(cistern_arena_remove_sysalloc(a, pool), ENOENT);
    ck_assert_int_eq(cistern_sysalloc_release(pool), 0);
    ck_assert_int_eq(cistern_arena_destroy(a), 0);
}
END_TEST

START_TEST(release_in_use_ebusy)
{
    char *base = su_map(LEN, 2 * MiB);
    cistern_sysalloc_t *pool = cistern_sysalloc_pool(base, LEN, 0);
    ck_assert_ptr_nonnull(pool);
    cistern_arena_t *a = su_arena("pool", &pool, 1);
    char *big = cistern_arena_malloc(a, 1 * MiB);
    char *small = cistern_arena_malloc(a, 100);
    ck_assert(su_inside(big, 1 * MiB, base, LEN) && su_inside(small, 100, base, LEN));
    ck_assert_int_eq(cistern_arena_remove_sysalloc(a, pool), 0);
    ck_assert_int_eq(cistern_sysalloc_release(pool), EBUSY);
    cistern_free(big);
    ck_assert_int_eq(cistern_sysalloc_release(pool), EBUSY); /* the small one is live */
    memset(small, 1, 100);                                    /* and still usable */
    cistern_free(small);
    cistern_release_free_memory(); /* cached objects go back to their span */
    ck_assert_uint_eq(su_stats(pool).in_use_bytes, 0);
    ck_assert_uint_eq(su_stats(pool).reserved_bytes, 0);
    ck_assert_int_eq(cistern_sysalloc_release(pool), 0);
    ck_assert_int_eq(cistern_arena_destroy(a), 0);
}
END_TEST

/* "No new memory from s": once the pool has left the chain, nothing the
   arena hands out lies in it, not from the holes of its partly used span,
   nor from the thread's cache, nor from the transfer cache; what the
   program still holds stays usable, and once it is freed the pool can be
   released at once (no call in between). */
START_TEST(remove_hands_out_nothing_more)
{
    char *base = su_map(LEN, 2 * MiB);
    cistern_sysalloc_t *pool = cistern_sysalloc_pool(base, LEN, 0);
    ck_assert_ptr_nonnull(pool);
    cistern_sysalloc_t *chain[2] = { pool, cistern_sysalloc_os() };
    cistern_arena_t *a = su_arena("pool+os", chain, 2);
    enum { N = 600 };
    static char *held[N];
    for (int i = 0; i < N; i++) {
        held[i] = cistern_arena_malloc(a, 16 + (size_t)(i % 40) * 24);
        ck_assert(su_inside(held[i], 16, base, LEN));
    }
    for (int i = 0; i < N; i += 2) { /* holes in the spans, objects in the caches */
        cistern_free(held[i]);
        held[i] = NULL;
    }
    ck_assert_int_eq(cistern_arena_remove_sysalloc(a, pool), 0);
    static char *fresh[4 * N];
    for (int i = 0; i < 4 * N; i++) {
        size_t n = 16 + (size_t)(i % 40) * 24;
        fresh[i] = cistern_arena_malloc(a, n);
        ck_assert_ptr_nonnull(fresh[i]);
        ck_assert_msg(!su_inside(fresh[i], 1, base, LEN), "allocation %d (%zu B) came from the removed pool", i, n);
    }
    for (int i = 1; i < N; i += 2) { /* still the program's */
        memset(held[i], 0x5a, 16);
        cistern_free(held[i]);
    }
    ck_assert_uint_eq(su_stats(pool).in_use_bytes, 0);
    ck_assert_uint_eq(su_stats(pool).reserved_bytes, 0);
    ck_assert_int_eq(cistern_sysalloc_release(pool), 0);
    for (int i = 0; i < 4 * N; i++)
        cistern_free(fresh[i]);
    ck_assert_int_eq(cistern_check_heap(), 0);
    ck_assert_int_eq(cistern_arena_destroy(a), 0);
}
END_TEST

/* An object freed into the thread's cache is not "still allocated": after
   the remove, the release succeeds with no other call. */
START_TEST(release_right_after_free_and_remove)
{
    char *base = su_map(LEN, 2 * MiB);
    cistern_sysalloc_t *pool = cistern_sysalloc_pool(base, LEN, 0);
    ck_assert_ptr_nonnull(pool);
    cistern_arena_t *a = su_arena("pool", &pool, 1);
    void *p = cistern_arena_malloc(a, 100);
    ck_assert(su_inside(p, 100, base, LEN));
    cistern_free(p);
    ck_assert_int_eq(cistern_arena_remove_sysalloc(a, pool), 0);
    ck_assert_int_eq(cistern_sysalloc_release(pool), 0);
    ck_assert_int_eq(cistern_arena_destroy(a), 0);
}
END_TEST

/* Another thread's cached objects of the pool cannot be taken from outside
   it: they come home on that thread's next slow path (here, the first
   allocation of a class it never used), and the release succeeds then. */
struct cached_elsewhere {
    cistern_arena_t *a;
    pthread_barrier_t removed, done;
};

static void *cache_one_then_wait(void *arg)
{
    struct cached_elsewhere *c = arg;
    cistern_free(cistern_arena_malloc(c->a, 100));
    pthread_barrier_wait(&c->removed); /* main removes the pool */
    pthread_barrier_wait(&c->removed); /* main found it busy */
    cistern_free(cistern_arena_malloc(c->a, 3000)); /* a miss: the slow path */
    pthread_barrier_wait(&c->done);
    pthread_barrier_wait(&c->done); /* alive (cache and all) until main has released */
    return NULL;
}

START_TEST(other_thread_cache_comes_home_on_its_slow_path)
{
    char *base = su_map(LEN, 2 * MiB);
    cistern_sysalloc_t *pool = cistern_sysalloc_pool(base, LEN, 0);
    ck_assert_ptr_nonnull(pool);
    cistern_sysalloc_t *chain[2] = { pool, cistern_sysalloc_os() };
    struct cached_elsewhere c = { .a = su_arena("pool+os", chain, 2) };
    pthread_barrier_init(&c.removed, NULL, 2);
    pthread_barrier_init(&c.done, NULL, 2);
    pthread_t t;
    ck_assert_int_eq(pthread_create(&t, NULL, cache_one_then_wait, &c), 0);
    pthread_barrier_wait(&c.removed);
    ck_assert_int_eq(cistern_arena_remove_sysalloc(c.a, pool), 0);
    int busy = cistern_sysalloc_release(pool);
    pthread_barrier_wait(&c.removed);
    pthread_barrier_wait(&c.done);
    if (busy == 0) /* tcache off (options): nothing was cached */
        pool = NULL;
    else
        ck_assert_int_eq(busy, EBUSY);
    if (pool)
        ck_assert_int_eq(cistern_sysalloc_release(pool), 0);
    pthread_barrier_wait(&c.done);
    pthread_join(t, NULL);
    pthread_barrier_destroy(&c.removed);
    pthread_barrier_destroy(&c.done);
    ck_assert_int_eq(cistern_arena_destroy(c.a), 0);
}
END_TEST

/* A reset arena holds its regions as free spans.  When the pool has left
   the arena's chain, releasing it must either wait (EBUSY) or find every
   region handed back; it must never free the source while an arena still
   holds regions of it. */
START_TEST(release_after_reset_of_unchained_pool)
{
    char *base = su_map(LEN, 2 * MiB);
    cistern_sysalloc_t *pool = cistern_sysalloc_pool(base, LEN, 0);
    ck_assert_ptr_nonnull(pool);
    cistern_arena_t *a = su_arena("pool", &pool, 1);
    void *p = cistern_arena_malloc(a, 1 * MiB);
    ck_assert_ptr_nonnull(p);
    ck_assert_int_eq(cistern_arena_remove_sysalloc(a, pool), 0);
    cistern_arena_reset(a);
    int rc = cistern_sysalloc_release(pool);
    if (rc == EBUSY) {
        ck_assert_int_eq(cistern_arena_destroy(a), 0);
        a = NULL;
        rc = cistern_sysalloc_release(pool);
    }
    ck_assert_int_eq(rc, 0);
    /* Released means handed back: the range is the program's again. */
    errno = 0;
    cistern_sysalloc_t *again = cistern_sysalloc_pool(base, LEN, 0);
    ck_assert_msg(again != NULL,
                  "release returned 0 but the range is still held (errno %d): an arena keeps "
                  "regions of a released source", errno);
    ck_assert_int_eq(cistern_sysalloc_release(again), 0);
    if (a)
        ck_assert_int_eq(cistern_arena_destroy(a), 0);
}
END_TEST

START_TEST(release_process_wide_einval)
{
    ck_assert_int_eq(cistern_sysalloc_release(cistern_sysalloc_os()), EINVAL);
    ck_assert_int_eq(cistern_sysalloc_release(cistern_sysalloc_hugepage()), EINVAL);
    ck_assert_int_eq(cistern_sysalloc_release(NULL), EINVAL);
    /* They still work afterwards. */
    void *p = cistern_malloc(1 * MiB);
    ck_assert_ptr_nonnull(p);
    cistern_free(p);
    cistern_sysalloc_stats_t st;
    ck_assert_int_eq(cistern_sysalloc_get_stats(NULL, &st), EINVAL);
    ck_assert_int_eq(cistern_sysalloc_get_stats(cistern_sysalloc_os(), NULL), EINVAL);
}
END_TEST

static Suite *make_suite(void)
{
    Suite *s = suite_create("pool_errors");
    TCase *tc = tcase_create("errors");
    tcase_set_timeout(tc, 20);
    tcase_add_test(tc, bad_arguments_einval);
    tcase_add_test(tc, overlapping_pools_eexist);
    tcase_add_test(tc, overlapping_cistern_memory_eexist);
    tcase_add_test(tc, release_in_chain_ebusy);
    tcase_add_test(tc, release_in_use_ebusy);
    tcase_add_test(tc, release_after_reset_of_unchained_pool);
    tcase_add_test(tc, remove_hands_out_nothing_more);
    tcase_add_test(tc, release_right_after_free_and_remove);
    tcase_add_test(tc, other_thread_cache_comes_home_on_its_slow_path);
    tcase_add_test(tc, release_process_wide_einval);
    suite_add_tcase(s, tc);
    return s;
}

CS_TEST_MAIN(make_suite)
