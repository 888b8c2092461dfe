/*
 * pool_errors.c - what cistern_sysalloc_pool and cistern_sysalloc_release
 * refuse, and with which errno.
 */
#include "srcutil.h"
#include "testutil.h"

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
    tcase_add_test(tc, release_process_wide_einval);
    suite_add_tcase(s, tc);
    return s;
}

CS_TEST_MAIN(make_suite)
