/*
 * pool_arena.c - an arena bound to a pool takes every size and alignment
 * from it, or fails with ENOMEM: nothing escapes to another source.
 */
#include "srcutil.h"
#include "testutil.h"

#define LEN (16 * MiB)

START_TEST(every_alignment_from_the_pool)
{
    char *base = su_map(LEN, 2 * MiB);
    cistern_sysalloc_t *pool = cistern_sysalloc_pool(base, LEN, 0);
    ck_assert_ptr_nonnull(pool);
    cistern_arena_t *a = su_arena("aligned", &pool, 1);
    static const size_t sizes[] = { 1, 100, 5000, 300 * KiB };
    void *ptrs[64];
    unsigned n = 0;
    for (size_t align = 64; align <= 2 * MiB; align *= 4)
        for (unsigned k = 0; k < 4; k++) {
            void *p = cistern_arena_aligned_alloc(a, align, sizes[k]);
            ck_assert_msg(p != NULL, "aligned_alloc(%zu, %zu): %s", align, sizes[k],
                          strerror(errno));
            ck_assert_msg(((uintptr_t)p & (align - 1)) == 0, "%p not aligned to %zu", p, align);
            ck_assert(su_inside(p, sizes[k], base, LEN));
            memset(p, 0x3c, sizes[k]);
            ptrs[n++] = p;
        }
    ck_assert_int_eq(cistern_check_heap(), 0);
    for (unsigned i = 0; i < n; i++)
        cistern_free(ptrs[i]);
    ck_assert_int_eq(cistern_arena_destroy(a), 0);
    ck_assert_int_eq(cistern_sysalloc_release(pool), 0);
}
END_TEST

/* Alignment 16 with a request under 16 bytes: the smallest class is 8
   bytes, so taking the plain path for alignments <= 16 hands out 8-aligned
   blocks. */
START_TEST(tiny_sizes_keep_alignment_16)
{
    char *base = su_map(LEN, 2 * MiB);
    cistern_sysalloc_t *pool = cistern_sysalloc_pool(base, LEN, 0);
    ck_assert_ptr_nonnull(pool);
    cistern_arena_t *a = su_arena("aligned16", &pool, 1);
    for (size_t n = 1; n < 16; n++)
        for (int k = 0; k < 4; k++) {
            void *p = cistern_arena_aligned_alloc(a, 16, n);
            ck_assert_ptr_nonnull(p);
            ck_assert_msg(((uintptr_t)p & 15) == 0, "aligned_alloc(16, %zu) gave %p", n, p);
        }
    ck_assert_int_eq(cistern_arena_destroy(a), 0);
    ck_assert_int_eq(cistern_sysalloc_release(pool), 0);
}
END_TEST

START_TEST(exhausted_pool_enomem)
{
    char *base = su_map(LEN, 2 * MiB);
    cistern_sysalloc_t *pool = cistern_sysalloc_pool(base, LEN, 0);
    ck_assert_ptr_nonnull(pool);
    cistern_arena_t *a = su_arena("bounded", &pool, 1);
    void *ptrs[32];
    unsigned n = 0;
    for (;;) {
        errno = 0;
        void *p = cistern_arena_malloc(a, 1 * MiB);
        if (!p) {
            ck_assert_int_eq(errno, ENOMEM);
            break;
        }
        ck_assert(su_inside(p, 1 * MiB, base, LEN));
        ck_assert_uint_lt(n, 32);
        ptrs[n++] = p;
    }
    ck_assert_uint_eq(n, LEN / MiB); /* every byte of the pool served */
    ck_assert_uint_ge(su_stats(pool).failures, 1);
    /* Small requests and big alignments fail the same way. */
    errno = 0;
    ck_assert_ptr_null(cistern_arena_aligned_alloc(a, 4 * MiB, 4096));
    ck_assert_int_eq(errno, ENOMEM);
    errno = 0;
    void *s = NULL;
    for (unsigned i = 0; i < 100000 && (s = cistern_arena_malloc(a, 2000)); i++)
        ck_assert(su_inside(s, 2000, base, LEN)); /* whatever fits comes from the pool */
    ck_assert_ptr_null(s);
    ck_assert_int_eq(errno, ENOMEM);
    /* Room made is room served again. */
    cistern_free(ptrs[5]);
    void *again = cistern_arena_malloc(a, 1 * MiB);
    ck_assert_ptr_eq(again, ptrs[5]);
    ck_assert_int_eq(cistern_check_heap(), 0);
    ck_assert_int_eq(cistern_arena_destroy(a), 0);
    ck_assert_int_eq(cistern_sysalloc_release(pool), 0);
}
END_TEST

/* A pool starting on an odd OS page (the heap's pages are bigger) loses at
   most one heap page at each end, and serves the rest. */
START_TEST(odd_page_base)
{
    size_t page = su_page();
    char *map = su_map(LEN + 2 * MiB, 2 * MiB);
    char *base = map + page;
    cistern_sysalloc_t *pool = cistern_sysalloc_pool(base, LEN, 0);
    ck_assert_ptr_nonnull(pool);
    cistern_arena_t *a = su_arena("odd", &pool, 1);
    size_t served = 0;
    void *p;
    while ((p = cistern_arena_malloc(a, 256 * KiB + 1))) {
        ck_assert(su_inside(p, 256 * KiB + 1, base, LEN));
        memset(p, 1, 256 * KiB + 1);
        served += 256 * KiB + 1;
    }
    ck_assert_int_eq(errno, ENOMEM);
    ck_assert_uint_ge(served, LEN - 1 * MiB);
    ck_assert_int_eq(cistern_check_heap(), 0);
    ck_assert_int_eq(cistern_arena_destroy(a), 0);
    ck_assert_int_eq(cistern_sysalloc_release(pool), 0);
}
END_TEST

static Suite *make_suite(void)
{
    Suite *s = suite_create("pool_arena");
    TCase *tc = tcase_create("bounded");
    tcase_set_timeout(tc, 20);
    tcase_add_test(tc, every_alignment_from_the_pool);
    tcase_add_test(tc, tiny_sizes_keep_alignment_16);
    tcase_add_test(tc, exhausted_pool_enomem);
    tcase_add_test(tc, odd_page_base);
    suite_add_tcase(s, tc);
    return s;
}

CS_TEST_MAIN(make_suite)
