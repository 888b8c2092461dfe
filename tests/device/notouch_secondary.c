/*
 * notouch_secondary.c - an arena over NOTOUCH memory takes every block from
 * its own chain, even when a secondary allocator with an alloc operation is
 * installed: a block of host memory handed out for device memory would be
 * passed to the device as if it were its own, and calloc would memset it.
 */
#include "devutil.h"

static int secondary_calls;

/* A secondary that would serve every request from the C library. */
static void *host_alloc(void *ctx, size_t size, size_t alignment)
{
    (void)ctx;
    secondary_calls++;
    void *p = NULL;
    return posix_memalign(&p, alignment < sizeof(void *) ? sizeof(void *) : alignment, size)
               ? NULL : p;
}

static void host_free(void *ctx, void *p)
{
    (void)ctx;
    free(p);
}

START_TEST(secondary_never_serves_notouch_arena)
{
    char *base = dv_map_none(32 * MiB, 2 * MiB);
    cistern_sysalloc_t *pool;
    cistern_arena_t *a = dv_notouch_arena("notouch-2nd", base, 32 * MiB, &pool);
    cistern_secondary_ops_t ops = { 0 };
    ops.alloc = host_alloc;
    ops.free = host_free;
    ck_assert_int_eq(cistern_secondary_set(&ops, NULL), 0);

    void *p = cistern_arena_malloc(a, 64);
    void *big = cistern_arena_malloc(a, 1 * MiB);
    void *al = cistern_arena_aligned_alloc(a, 4096, 100);
    errno = 0;
    void *z = cistern_arena_calloc(a, 1, 64); /* no memset hook: must fail, not memset host memory */
    int zerr = errno;
    cistern_secondary_set(NULL, NULL);

    ck_assert_msg(su_inside(p, 64, base, 32 * MiB), "malloc(64) gave %p, outside the NOTOUCH pool", p);
    ck_assert_msg(su_inside(big, MiB, base, 32 * MiB), "malloc(1 MiB) gave %p, outside the pool", big);
    ck_assert_msg(su_inside(al, 100, base, 32 * MiB), "aligned_alloc gave %p, outside the pool", al);
    ck_assert_msg(z == NULL && zerr == ENOTSUP, "calloc gave %p (errno %d), not NULL + ENOTSUP", z,
                  zerr);
    ck_assert_int_eq(secondary_calls, 0);
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("notouch_secondary");
    TCase *tc = tcase_create("secondary");
    tcase_add_test(tc, secondary_never_serves_notouch_arena);
    suite_add_tcase(s, tc);
    return s;
}

CS_TEST_MAIN(suite)
