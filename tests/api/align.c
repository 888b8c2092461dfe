/*
 * align.c - aligned allocation: aligned_alloc, posix_memalign and, in the
 * drop-in library, glibc's memalign, valloc and pvalloc.
 */
#include "api_suite.h"

#include <stdint.h>
#include <unistd.h>

#define GiB ((size_t)1 << 30)

static int is_aligned(const void *p, size_t a)
{
    return ((uintptr_t)p & (a - 1)) == 0;
}

/* Use the block to its last byte, so that a block too short for its
   alignment padding shows up as a fault or a heap check failure. */
static void touch(void *p, size_t n)
{
    unsigned char *c = p;
    if (n) {
        c[0] = 1;
        c[n - 1] = 2;
    }
    if (n > 2)
        memset(c + 1, 3, n < 65536 ? n - 2 : 65534);
}

START_TEST(aligned_alloc_powers)
{
    /* Several at once: consecutive blocks of one class land on different
       offsets, so luck cannot hide a class coarser than asked. */
    enum { K = 4 };
    for (size_t a = 1; a <= ((size_t)16 << 20); a *= 2) {
        const size_t ns[] = { 1, 100, a, 3 * a };
        for (int k = 0; k < 4; k++) {
            void *p[K];
            for (int j = 0; j < K; j++) {
                p[j] = T_ALIGNED_ALLOC(a, ns[k]);
                ck_assert_msg(p[j] != NULL, "aligned_alloc(%zu, %zu) failed", a, ns[k]);
                ck_assert_msg(is_aligned(p[j], a), "aligned_alloc(%zu, %zu) = %p", a, ns[k], p[j]);
                ck_assert_uint_ge(T_USABLE_SIZE(p[j]), ns[k]);
                ck_assert_ptr_nonnull(cistern_arena_of(p[j]));
                touch(p[j], ns[k]);
            }
            for (int j = 0; j < K; j++)
                T_FREE(p[j]);
        }
    }
    ck_assert_int_eq(cistern_check_heap(), 0);
}
END_TEST

START_TEST(aligned_alloc_rejects)
{
    /* Not a power of two: EINVAL (the C standard's wording, and glibc >= 2.38). */
    static const size_t bad[] = { 0, 3, 24, 48, 100, 4097, SIZE_MAX };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        ck_assert_fails(T_ALIGNED_ALLOC(opaque(bad[i]), 64), EINVAL);
    /* A power of two no block can honour. */
    ck_assert_fails(T_ALIGNED_ALLOC(opaque(((size_t)1 << (sizeof(size_t) * 8 - 1))), 1), ENOMEM);
}
END_TEST

/* posix_memalign leaves *out alone on failure (POSIX also allows NULL). */
static void expect_memalign_error(size_t a, size_t n, int err)
{
    void *out = (void *)&out;
    int rc = T_POSIX_MEMALIGN(&out, a, n);
    ck_assert_msg(rc == err, "posix_memalign(%zu, %zu) = %d, expected %d", a, n, rc, err);
    ck_assert_msg(out == (void *)&out || out == NULL, "posix_memalign(%zu) wrote %p on failure",
                  a, out);
}

START_TEST(posix_memalign_rejects)
{
    /* 0, non-powers of two, and powers of two below sizeof(void *). */
    static const size_t bad[] = { 0, 1, 2, 3, 4, 12, 24, 48, 100, 3 * sizeof(void *), SIZE_MAX };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        if (bad[i] < sizeof(void *) || (bad[i] & (bad[i] - 1)) != 0)
            expect_memalign_error(bad[i], 64, EINVAL);
    expect_memalign_error(64, SIZE_MAX, ENOMEM);
    expect_memalign_error(((size_t)1 << (sizeof(size_t) * 8 - 1)), 1, ENOMEM);
}
END_TEST

START_TEST(posix_memalign_up_to_1g)
{
    /* 1 GiB on 64-bit systems; a 32-bit address space cannot be expected to
       hold a run of twice the alignment past 64 MiB. */
    const size_t max_align = sizeof(void *) >= 8 ? GiB : (size_t)64 << 20;
    for (size_t a = sizeof(void *); a <= max_align; a *= 2) {
        const size_t ns[] = { 1, 100, a };
        /* Beyond 64 MiB one small request each: the point is the alignment. */
        int big = a > ((size_t)64 << 20), nk = big ? 1 : 3, kk = big ? 1 : 4;
        for (int k = 0; k < nk; k++) {
            void *p[4];
            for (int j = 0; j < kk; j++) {
                p[j] = NULL;
                int rc = T_POSIX_MEMALIGN(&p[j], a, ns[k]);
                ck_assert_msg(rc == 0, "posix_memalign(%zu, %zu) = %d", a, ns[k], rc);
                ck_assert_msg(is_aligned(p[j], a), "posix_memalign(%zu, %zu) = %p", a, ns[k], p[j]);
                ck_assert_uint_ge(T_USABLE_SIZE(p[j]), ns[k]);
                touch(p[j], ns[k]);
            }
            for (int j = 0; j < kk; j++)
                T_FREE(p[j]);
        }
    }
    ck_assert_int_eq(cistern_check_heap(), 0);
}
END_TEST

#ifdef CS_TEST_DROPIN
START_TEST(memalign_glibc)
{
    for (size_t a = 1; a <= ((size_t)1 << 20); a *= 2) {
        void *p = memalign(a, 200);
        ck_assert_ptr_nonnull(p);
        ck_assert(is_aligned(p, a));
        touch(p, 200);
        free(p);
    }
    /* glibc rounds an alignment that is not a power of two up to one. */
    static const size_t odd[][2] = { { 24, 32 }, { 3, 4 }, { 100, 128 }, { 5000, 8192 } };
    for (int i = 0; i < 4; i++) {
        void *p = memalign(odd[i][0], 10);
        ck_assert_msg(p != NULL, "memalign(%zu) failed", odd[i][0]);
        ck_assert_msg(is_aligned(p, odd[i][1]), "memalign(%zu) = %p", odd[i][0], p);
        free(p);
    }
    void *z = memalign(0, 10);
    ck_assert_ptr_nonnull(z);
    free(z);
}
END_TEST

START_TEST(valloc_pvalloc)
{
    size_t page = (size_t)sysconf(_SC_PAGESIZE);
    const size_t ns[] = { 0, 1, 100, page - 1, page, page + 1, 3 * page + 7, (size_t)1 << 20 };
    for (int i = 0; i < 8; i++) {
        void *v = valloc(ns[i]);
        ck_assert_ptr_nonnull(v);
        ck_assert(is_aligned(v, page));
        ck_assert_uint_ge(malloc_usable_size(v), ns[i]);
        touch(v, ns[i]);
        free(v);

        /* pvalloc rounds the size up to whole pages (at least one). */
        size_t rounded = ns[i] ? (ns[i] + page - 1) / page * page : page;
        void *pv = pvalloc(ns[i]);
        ck_assert_ptr_nonnull(pv);
        ck_assert(is_aligned(pv, page));
        ck_assert_msg(malloc_usable_size(pv) >= rounded, "pvalloc(%zu): usable %zu < %zu", ns[i],
                      malloc_usable_size(pv), rounded);
        memset(pv, 0x5a, rounded);
        free(pv);
    }
    ck_assert_int_eq(cistern_check_heap(), 0);
}
END_TEST
#endif

TCase *api_tcase_align(void)
{
    TCase *tc = tcase_create("align");
    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, aligned_alloc_powers);
    tcase_add_test(tc, aligned_alloc_rejects);
    tcase_add_test(tc, posix_memalign_rejects);
    tcase_add_test(tc, posix_memalign_up_to_1g);
#ifdef CS_TEST_DROPIN
    tcase_add_test(tc, memalign_glibc);
    tcase_add_test(tc, valloc_pvalloc);
#endif
    return tc;
}
