/*
 * family.c - malloc, free, calloc, realloc, reallocarray, usable size and
 * the sized frees, checked against the semantics programs written for
 * glibc rely on; and requests no machine can honour, which must fail with
 * NULL + ENOMEM rather than wrap around or crash.
 */
#include "api_suite.h"

#include <stdint.h>

/* Sizes around every boundary that matters: tiny classes, class edges,
   pages (4 KiB OS, 8 KiB heap), the small/large limit (256 KiB), MiBs. */
static const size_t sizes[] = {
    1,      7,      8,      15,     16,     17,     24,     31,      32,      48,
    64,     100,    127,    128,    129,    255,    256,    257,     500,     1000,
    1024,   2000,   4095,   4096,   4097,   8191,   8192,   8193,    16384,   65535,
    65536,  100000, 262143, 262144, 262145, 300000, 1 << 20, (1 << 20) + 1, 4 << 20,
    (16 << 20) + 5,
};
#define NSIZES (sizeof sizes / sizeof sizes[0])

/* Counters of the default arena; callers compare two readings taken with
   no_background_thread() in force. */
static void default_stats(cistern_arena_stats_t *st)
{
    ck_assert_int_eq(cistern_arena_get_stats(cistern_arena_default(), st), 0);
}

/* The alignment a request of n bytes must get: 16 once it is that big
   (the documented guarantee), else the largest power of two <= n. */
static size_t min_align(size_t n)
{
    size_t a = 1;
    while (a * 2 <= n && a < 16)
        a *= 2;
    return a;
}

START_TEST(malloc_sizes)
{
    void *p[NSIZES];
    for (size_t i = 0; i < NSIZES; i++) {
        p[i] = T_MALLOC(sizes[i]);
        ck_assert_msg(p[i] != NULL, "malloc(%zu) failed", sizes[i]);
        ck_assert_msg((uintptr_t)p[i] % min_align(sizes[i]) == 0, "malloc(%zu) = %p misaligned",
                      sizes[i], p[i]);
        ck_assert_ptr_eq(cistern_arena_of(p[i]), cistern_arena_default());
        test_fill(p[i], sizes[i], (uint32_t)i);
    }
    /* All live at once: no two of them overlap. */
    for (size_t i = 0; i < NSIZES; i++) {
        ck_assert_msg(test_check(p[i], sizes[i], (uint32_t)i), "malloc(%zu) overwritten", sizes[i]);
        T_FREE(p[i]);
    }
    ck_assert_int_eq(cistern_check_heap(), 0);
}
END_TEST

START_TEST(malloc_zero)
{
    /* glibc returns a unique, freeable pointer for malloc(0). */
    void *p[16];
    for (int i = 0; i < 16; i++) {
        p[i] = T_MALLOC(0);
        ck_assert_ptr_nonnull(p[i]);
        for (int j = 0; j < i; j++)
            ck_assert_ptr_ne(p[i], p[j]);
    }
    for (int i = 0; i < 16; i++)
        T_FREE(p[i]);
}
END_TEST

START_TEST(free_null)
{
    T_FREE(NULL);
    T_FREE_SIZED(NULL, 0);
    T_FREE_ALIGNED_SIZED(NULL, 64, 0);
    ck_assert_uint_eq(T_USABLE_SIZE(NULL), 0);
}
END_TEST

START_TEST(is_cistern)
{
    void *p = T_MALLOC(100);
    ck_assert_ptr_nonnull(p);
    ck_assert_ptr_nonnull(cistern_arena_of(p));
    int local;
    ck_assert_ptr_null(cistern_arena_of(&local));
    T_FREE(p);
}
END_TEST

START_TEST(calloc_zeroes)
{
    for (size_t i = 0; i < NSIZES; i++) {
        size_t n = sizes[i];
        /* Dirty a block of this size first, so that calloc may get it back. */
        unsigned char *d = T_MALLOC(n);
        ck_assert_ptr_nonnull(d);
        memset(d, 0xa5, n);
        T_FREE(d);
        unsigned char *z = T_CALLOC(n, 1);
        ck_assert_msg(z != NULL, "calloc(%zu, 1) failed", n);
        size_t k = first_nonzero(z, n);
        ck_assert_msg(k == n, "calloc(%zu, 1)[%zu] = %u", n, k, k < n ? z[k] : 0);
        T_FREE(z);
    }
    unsigned *v = T_CALLOC(1000, sizeof(unsigned));
    ck_assert_ptr_nonnull(v);
    ck_assert_uint_eq(first_nonzero(v, 1000 * sizeof *v), 1000 * sizeof *v);
    T_FREE(v);
    void *e1 = T_CALLOC(0, 0), *e2 = T_CALLOC(0, 8);
    ck_assert_ptr_nonnull(e1);
    ck_assert_ptr_nonnull(e2);
    ck_assert_ptr_ne(e1, e2);
    T_FREE(e1);
    T_FREE(e2);
}
END_TEST

START_TEST(calloc_overflow)
{
    ck_assert_fails(T_CALLOC(opaque(SIZE_MAX / 2 + 1), 2), ENOMEM);
    ck_assert_fails(T_CALLOC(2, opaque(SIZE_MAX / 2 + 1)), ENOMEM);
    ck_assert_fails(T_CALLOC(opaque(SIZE_MAX), opaque(SIZE_MAX)), ENOMEM);
    ck_assert_fails(T_CALLOC(opaque(SIZE_MAX / 4 + 1), 5), ENOMEM);
    ck_assert_fails(T_CALLOC(opaque(SIZE_MAX / 3 + 1), 3), ENOMEM);
}
END_TEST

START_TEST(realloc_null_and_zero)
{
    void *p = T_REALLOC(NULL, 100);
    ck_assert_ptr_nonnull(p);
    ck_assert_ptr_nonnull(cistern_arena_of(p));
    ck_assert_uint_ge(T_USABLE_SIZE(p), 100);
    T_FREE(p);

    void *z = T_REALLOC(NULL, 0);
    ck_assert_ptr_nonnull(z);
    T_FREE(z);

    /* realloc(p, 0) frees p and returns NULL (glibc's behaviour): the
       arena's counters show the object gone. */
    cistern_arena_stats_t before, after;
    no_background_thread();
    for (size_t i = 0; i < NSIZES; i++) {
        default_stats(&before);
        p = T_MALLOC(sizes[i]);
        ck_assert_ptr_nonnull(p);
        ck_assert_ptr_null(T_REALLOC(p, 0));
        default_stats(&after);
        ck_assert_msg(after.nmalloc - before.nmalloc == after.nfree - before.nfree,
                      "realloc(malloc(%zu), 0) did not free", sizes[i]);
    }
    ck_assert_int_eq(cistern_check_heap(), 0);
}
END_TEST

/* Walk p through every size up, then down, checking the kept prefix. */
START_TEST(realloc_keeps_contents)
{
    size_t old = sizes[0];
    unsigned char *p = T_MALLOC(old);
    ck_assert_ptr_nonnull(p);
    test_fill(p, old, 0);
    uint32_t seed = 1;
    for (int pass = 0; pass < 2; pass++) {
        for (size_t k = 1; k < NSIZES; k++) {
            size_t n = pass == 0 ? sizes[k] : sizes[NSIZES - 1 - k];
            unsigned char *q = T_REALLOC(p, n);
            ck_assert_msg(q != NULL, "realloc(%zu -> %zu) failed", old, n);
            ck_assert_uint_ge(T_USABLE_SIZE(q), n);
            ck_assert_msg(test_check(q, old < n ? old : n, seed - 1),
                          "realloc(%zu -> %zu) lost contents", old, n);
            test_fill(q, n, seed++);
            p = q;
            old = n;
        }
    }
    T_FREE(p);
    ck_assert_int_eq(cistern_check_heap(), 0);
}
END_TEST

START_TEST(realloc_failure_keeps_block)
{
    static const size_t olds[] = { 100, 5000, 300000, 2 << 20 };
    for (size_t i = 0; i < sizeof olds / sizeof olds[0]; i++) {
        void *p = T_MALLOC(olds[i]);
        ck_assert_ptr_nonnull(p);
        test_fill(p, olds[i], 7);
        ck_assert_fails(T_REALLOC(p, opaque(SIZE_MAX)), ENOMEM);
        ck_assert_fails(T_REALLOC(p, opaque((size_t)PTRDIFF_MAX + 1)), ENOMEM);
        ck_assert_fails(T_REALLOC(p, opaque(SIZE_MAX - SIZE_MAX / 16)), ENOMEM);
        ck_assert_msg(test_check(p, olds[i], 7), "failed realloc damaged a %zu-byte block", olds[i]);
        T_FREE(p);
    }
}
END_TEST

START_TEST(reallocarray_checks)
{
    int *v = T_REALLOCARRAY(NULL, 10, sizeof(int));
    ck_assert_ptr_nonnull(v);
    for (int i = 0; i < 10; i++)
        v[i] = i * 3;
    int *w = T_REALLOCARRAY(v, 100000, sizeof(int));
    ck_assert_ptr_nonnull(w);
    for (int i = 0; i < 10; i++)
        ck_assert_int_eq(w[i], i * 3);
    ck_assert_fails(T_REALLOCARRAY(w, opaque(SIZE_MAX / 2 + 1), 2), ENOMEM);
    ck_assert_fails(T_REALLOCARRAY(w, opaque(SIZE_MAX / 8 + 1), 9), ENOMEM);
    for (int i = 0; i < 10; i++)
        ck_assert_int_eq(w[i], i * 3); /* still ours, untouched */
    T_FREE(w);
}
END_TEST

/* usable_size is a promise: every byte up to it may be written without
   touching a neighbour. */
START_TEST(usable_size_is_writable)
{
    enum { K = 6 };
    for (size_t i = 0; i < NSIZES; i++) {
        unsigned char *p[K];
        size_t u[K];
        for (int k = 0; k < K; k++) {
            p[k] = T_MALLOC(sizes[i]);
            ck_assert_ptr_nonnull(p[k]);
            u[k] = T_USABLE_SIZE(p[k]);
            ck_assert_msg(u[k] >= sizes[i], "usable_size %zu < %zu", u[k], sizes[i]);
            test_fill(p[k], u[k], (uint32_t)(i * K + k));
        }
        for (int k = 0; k < K; k++) {
            ck_assert_msg(test_check(p[k], u[k], (uint32_t)(i * K + k)),
                          "%zu-byte block (usable %zu) overlapped", sizes[i], u[k]);
            T_FREE(p[k]);
        }
    }
    ck_assert_int_eq(cistern_check_heap(), 0);
}
END_TEST

START_TEST(sized_frees)
{
    cistern_arena_stats_t before, after;
    no_background_thread();
    default_stats(&before);
    for (size_t i = 0; i < NSIZES; i++) {
        void *p = T_MALLOC(sizes[i]);
        ck_assert_ptr_nonnull(p);
        T_FREE_SIZED(p, sizes[i]);
        for (size_t a = 16; a <= 8192; a *= 8) {
            size_t n = (sizes[i] + a - 1) / a * a; /* aligned_alloc wants a multiple */
            void *q = T_ALIGNED_ALLOC(a, n);
            ck_assert_ptr_nonnull(q);
            T_FREE_ALIGNED_SIZED(q, a, n);
        }
    }
    default_stats(&after);
    ck_assert_msg(after.nmalloc - before.nmalloc == after.nfree - before.nfree,
                  "sized frees left %lld objects live",
                  (long long)((after.nmalloc - before.nmalloc) - (after.nfree - before.nfree)));
    ck_assert_int_eq(cistern_check_heap(), 0);
}
END_TEST

TCase *api_tcase_family(void)
{
    TCase *tc = tcase_create("family");
    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, malloc_sizes);
    tcase_add_test(tc, malloc_zero);
    tcase_add_test(tc, free_null);
    tcase_add_test(tc, is_cistern);
    tcase_add_test(tc, calloc_zeroes);
    tcase_add_test(tc, calloc_overflow);
    tcase_add_test(tc, realloc_null_and_zero);
    tcase_add_test(tc, realloc_keeps_contents);
    tcase_add_test(tc, realloc_failure_keeps_block);
    tcase_add_test(tc, reallocarray_checks);
    tcase_add_test(tc, usable_size_is_writable);
    tcase_add_test(tc, sized_frees);
    return tc;
}

/* ---- impossible requests -------------------------------------------------------- */

static const size_t huge[] = {
    SIZE_MAX,
    SIZE_MAX - 1,
    SIZE_MAX - 4096,
    (size_t)PTRDIFF_MAX + 1,
    SIZE_MAX / 2, /* == PTRDIFF_MAX */
#if SIZE_MAX > 0xffffffffu
    /* On 32-bit systems 2 GiB may well be there to take, and these shifts
       would not be huge at all. */
    (size_t)PTRDIFF_MAX - 8192,
    (size_t)1 << 60,
    (size_t)1 << 48, /* beyond any user address space of 47 or 48 bits */
#endif
};
#define NHUGE (sizeof huge / sizeof huge[0])

START_TEST(huge_requests)
{
    size_t n = opaque(huge[_i]);
    ck_assert_fails(T_MALLOC(n), ENOMEM);
    ck_assert_fails(T_CALLOC(1, n), ENOMEM);
    ck_assert_fails(T_CALLOC(n, 1), ENOMEM);
    ck_assert_fails(T_REALLOC(NULL, n), ENOMEM);
    ck_assert_fails(T_REALLOCARRAY(NULL, 1, n), ENOMEM);
    /* Rounded down to the alignment, PTRDIFF_MAX is still huge on 64-bit
       systems; on 32-bit ones it is 2 GiB less a little, which may be there. */
    if (SIZE_MAX > 0xffffffffu || n > (size_t)PTRDIFF_MAX) {
        ck_assert_fails(T_ALIGNED_ALLOC(16, n & ~(size_t)15), ENOMEM);
        ck_assert_fails(T_ALIGNED_ALLOC(4096, n & ~(size_t)4095), ENOMEM);
        ck_assert_fails(T_ALIGNED_ALLOC((size_t)1 << 21, n & ~(((size_t)1 << 21) - 1)), ENOMEM);
    }

    void *out = (void *)&out;
    ck_assert_int_eq(T_POSIX_MEMALIGN(&out, 64, n), ENOMEM);
    ck_assert_ptr_eq(out, (void *)&out); /* untouched on failure */
#ifdef CS_TEST_DROPIN
    ck_assert_fails(memalign(64, n), ENOMEM);
    ck_assert_fails(valloc(n), ENOMEM);
    ck_assert_fails(pvalloc(n), ENOMEM);
#endif
    /* The heap is still sound and serving. */
    void *p = T_MALLOC(1000);
    ck_assert_ptr_nonnull(p);
    T_FREE(p);
    ck_assert_int_eq(cistern_check_heap(), 0);
}
END_TEST

TCase *api_tcase_huge(void)
{
    TCase *tc = tcase_create("huge");
    tcase_add_loop_test(tc, huge_requests, 0, (int)NHUGE);
    return tc;
}
