/*
 * notouch_hooks.c - what the allocator cannot do itself on NOTOUCH memory:
 * calloc goes through the source's memset hook and a moving realloc
 * through its copy hook; without them both fail with ENOTSUP and leave the
 * old block as it was.  Double frees are still caught, from metadata alone.
 *
 * The "device" here is a PROT_NONE range behind user callbacks
 * (cistern_sysalloc_device); its hooks record their calls instead of
 * touching anything.
 */
#include "devutil.h"

#include <pthread.h>
#include <signal.h>

#define DEV_LEN (64 * MiB)

/* ---- a fake device: bump allocation in PROT_NONE, hooks that only record ---- */

struct fake_dev {
    uintptr_t base, end, cur;
    int memset_calls, copy_calls, fail_with;
    void *m_p;
    int m_c;
    size_t m_len;
    void *c_dst;
    const void *c_src;
    size_t c_len;
    int destroyed;
};

static void *dev_alloc(void *ctx, size_t size, size_t align, size_t *actual)
{
    struct fake_dev *d = ctx;
    uintptr_t start = (d->cur + align - 1) & ~(uintptr_t)(align - 1);
    if (start > d->end || d->end - start < size)
        return NULL;
    d->cur = start + size;
    *actual = size;
    return (void *)start;
}

static int dev_memset(void *ctx, void *p, int c, size_t len)
{
    struct fake_dev *d = ctx;
    d->memset_calls++;
    d->m_p = p;
    d->m_c = c;
    d->m_len = len;
    return d->fail_with;
}

static int dev_copy(void *ctx, void *dst, const void *src, size_t len)
{
    struct fake_dev *d = ctx;
    d->copy_calls++;
    d->c_dst = dst;
    d->c_src = src;
    d->c_len = len;
    return d->fail_with;
}

static void dev_destroy(void *ctx)
{
    ((struct fake_dev *)ctx)->destroyed++;
}

static cistern_sysalloc_t *dev_source(struct fake_dev *d, int hooks)
{
    memset(d, 0, sizeof *d);
    d->base = d->cur = (uintptr_t)dv_map_none(DEV_LEN, 2 * MiB);
    d->end = d->base + DEV_LEN;
    cistern_sysalloc_ops_t ops = { 0 };
    ops.alloc = dev_alloc;
    ops.destroy = dev_destroy;
    if (hooks) {
        ops.memset = dev_memset;
        ops.copy = dev_copy;
    }
    cistern_sysalloc_t *s = cistern_sysalloc_device("fake-dev", &ops, d, 0);
    ck_assert_msg(s != NULL, "cistern_sysalloc_device: %s", strerror(errno));
    return s;
}

static void dev_done(cistern_arena_t *a, cistern_sysalloc_t *s, struct fake_dev *d)
{
    ck_assert_int_eq(cistern_arena_destroy(a), 0);
    ck_assert_int_eq(cistern_sysalloc_release(s), 0);
    ck_assert_int_eq(d->destroyed, 1);
    ck_assert_uint_eq(su_resident((void *)d->base, DEV_LEN), 0);
    munmap((void *)d->base, DEV_LEN);
}

static int count_live(cistern_arena_t *a);

START_TEST(device_source_tags)
{
    struct fake_dev d;
    cistern_sysalloc_t *s = dev_source(&d, 1);
    cistern_sysalloc_stats_t st = su_stats(s);
    ck_assert_uint_eq(st.flags & (CISTERN_SYSALLOC_INJECTED | CISTERN_SYSALLOC_NOTOUCH),
                      CISTERN_SYSALLOC_INJECTED | CISTERN_SYSALLOC_NOTOUCH);
    ck_assert_str_eq(st.name, "fake-dev");
    cistern_arena_t *a = su_arena("dev", &s, 1);
    void *p = cistern_arena_malloc(a, 100);
    ck_assert(su_inside(p, 100, (void *)d.base, DEV_LEN));
    cistern_free(p);
    ck_assert_int_eq(d.memset_calls + d.copy_calls, 0); /* malloc and free need neither */
    dev_done(a, s, &d);
}
END_TEST

START_TEST(calloc_uses_memset_hook)
{
    struct fake_dev d;
    cistern_sysalloc_t *s = dev_source(&d, 1);
    cistern_arena_t *a = su_arena("dev", &s, 1);
    static const size_t n[] = { 1, 3, 100, 7000 };
    for (size_t k = 0; k < sizeof n / sizeof n[0]; k++) {
        int before = d.memset_calls;
        void *p = cistern_arena_calloc(a, n[k], 24);
        ck_assert_ptr_nonnull(p);
        ck_assert(su_inside(p, n[k] * 24, (void *)d.base, DEV_LEN));
        ck_assert_int_eq(d.memset_calls, before + 1);
        ck_assert_ptr_eq(d.m_p, p);
        ck_assert_int_eq(d.m_c, 0);
        ck_assert_uint_ge(d.m_len, n[k] * 24);
        ck_assert_uint_le(d.m_len, cistern_usable_size(p));
        cistern_free(p);
    }
    /* Large: the span is fresh device memory, not known to be zero. */
    void *big = cistern_arena_calloc(a, 3, MiB);
    ck_assert_ptr_nonnull(big);
    ck_assert_ptr_eq(d.m_p, big);
    ck_assert_uint_ge(d.m_len, 3 * MiB);
    cistern_free(big);
    /* A failing hook: NULL with its errno, and nothing left allocated. */
    d.fail_with = EIO;
    errno = 0;
    ck_assert_ptr_null(cistern_arena_calloc(a, 10, 10));
    ck_assert_int_eq(errno, EIO);
    errno = 0;
    ck_assert_ptr_null(cistern_arena_calloc(a, 1, MiB));
    ck_assert_int_eq(errno, EIO);
    ck_assert_int_eq(count_live(a), 0);
    /* n * size overflowing is ENOMEM before any hook. */
    d.fail_with = 0;
    int before = d.memset_calls;
    errno = 0;
    ck_assert_ptr_null(cistern_arena_calloc(a, SIZE_MAX / 2, 3));
    ck_assert_int_eq(errno, ENOMEM);
    ck_assert_int_eq(d.memset_calls, before);
    dev_done(a, s, &d);
}
END_TEST

START_TEST(realloc_uses_copy_hook)
{
    struct fake_dev d;
    cistern_sysalloc_t *s = dev_source(&d, 1);
    cistern_arena_t *a = su_arena("dev", &s, 1);
    void *p = cistern_arena_malloc(a, 64);
    ck_assert_ptr_nonnull(p);
    /* Growing out of the class moves: the hook copies the old contents. */
    void *q = cistern_arena_realloc(a, p, 1000);
    ck_assert_ptr_nonnull(q);
    ck_assert_ptr_ne(q, p);
    ck_assert_int_eq(d.copy_calls, 1);
    ck_assert_ptr_eq(d.c_dst, q);
    ck_assert_ptr_eq(d.c_src, p);
    ck_assert_uint_eq(d.c_len, 64);
    ck_assert_int_eq(count_live(a), 1);
    /* Large to small: only what fits is copied. */
    void *big = cistern_arena_malloc(a, 2 * MiB);
    void *small = cistern_arena_realloc(a, big, 5000);
    ck_assert_ptr_nonnull(small);
    ck_assert_int_eq(d.copy_calls, 2);
    ck_assert_ptr_eq(d.c_src, big);
    ck_assert_ptr_eq(d.c_dst, small);
    ck_assert_uint_eq(d.c_len, 5000);
    /* Shrinking a little stays in place: no copy. */
    ck_assert_ptr_eq(cistern_arena_realloc(a, q, 900), q);
    ck_assert_int_eq(d.copy_calls, 2);
    /* A failing copy: NULL with its errno, the old block still live. */
    size_t uq = cistern_usable_size(q);
    d.fail_with = EIO;
    errno = 0;
    ck_assert_ptr_null(cistern_arena_realloc(a, q, 100000));
    ck_assert_int_eq(errno, EIO);
    ck_assert_int_eq(count_live(a), 2);
    ck_assert_uint_eq(cistern_usable_size(q), uq);
    cistern_free(q);
    cistern_free(small);
    ck_assert_int_eq(count_live(a), 0);
    dev_done(a, s, &d);
}
END_TEST

/* ---- a NOTOUCH pool: no hooks at all ---------------------------------------- */

static int count_one(void *p, size_t usable, void *ctx)
{
    (void)p;
    (void)usable;
    ++*(int *)ctx;
    return 0;
}

static int count_live(cistern_arena_t *a)
{
    int n = 0;
    ck_assert_int_eq(cistern_arena_walk(a, count_one, &n), 0);
    return n;
}

START_TEST(no_hooks_enotsup)
{
    char *base = dv_map_none(32 * MiB, 2 * MiB);
    cistern_sysalloc_t *pool;
    cistern_arena_t *a = dv_notouch_arena("nohooks", base, 32 * MiB, &pool);
    static const size_t n[] = { 1, 64, 5000, 200 * KiB, 2 * MiB };
    for (size_t k = 0; k < sizeof n / sizeof n[0]; k++) {
        errno = 0;
        ck_assert_ptr_null(cistern_arena_calloc(a, 1, n[k]));
        ck_assert_int_eq(errno, ENOTSUP);
    }
    ck_assert_int_eq(count_live(a), 0); /* nothing leaked by the failures */

    void *p = cistern_arena_malloc(a, 64);
    void *big = cistern_arena_malloc(a, 1 * MiB);
    ck_assert_ptr_nonnull(p);
    ck_assert_ptr_nonnull(big);
    errno = 0;
    ck_assert_ptr_null(cistern_arena_realloc(a, p, 1000));
    ck_assert_int_eq(errno, ENOTSUP);
    errno = 0;
    ck_assert_ptr_null(cistern_arena_realloc(a, big, 1000));
    ck_assert_int_eq(errno, ENOTSUP);
    /* The old blocks are intact: same size, still live, freed once cleanly. */
    ck_assert_uint_eq(cistern_usable_size(p), 64);
    ck_assert_uint_ge(cistern_usable_size(big), 1 * MiB);
    ck_assert_ptr_eq(cistern_arena_of(p), a);
    ck_assert_int_eq(count_live(a), 2);
    /* What needs no copy still works: shrinking a little, growing in place. */
    ck_assert_ptr_eq(cistern_arena_realloc(a, p, 40), p);
    ck_assert_ptr_eq(cistern_arena_realloc(a, big, 1 * MiB - 100), big);
    cistern_free(p);
    cistern_free(big);
    ck_assert_int_eq(count_live(a), 0);
    ck_assert_int_eq(cistern_arena_destroy(a), 0);
    ck_assert_int_eq(cistern_sysalloc_release(pool), 0);
    ck_assert_uint_eq(su_resident(base, 32 * MiB), 0);
    munmap(base, 32 * MiB);
}
END_TEST

/* ---- double frees ------------------------------------------------------------ */

static cistern_arena_t *death_arena(void)
{
    char *base = dv_map_none(32 * MiB, 2 * MiB);
    cistern_sysalloc_t *pool;
    return dv_notouch_arena("death", base, 32 * MiB, &pool);
}

static void twice_small(void *arg)
{
    (void)arg;
    cistern_arena_t *a = death_arena();
    void *p = cistern_arena_malloc(a, 64);
    cistern_free(p);
    cistern_free(p);
}

static void twice_large(void *arg)
{
    (void)arg;
    cistern_arena_t *a = death_arena();
    void *p = cistern_arena_malloc(a, 1 * MiB);
    cistern_free(p);
    cistern_free(p);
}

/* The first free pushed out of the cache to the central lists by others. */
static void twice_after_flush(void *arg)
{
    (void)arg;
    cistern_arena_t *a = death_arena();
    void *p = cistern_arena_malloc(a, 48);
    void *more[4096];
    for (int i = 0; i < 4096; i++)
        more[i] = cistern_arena_malloc(a, 48);
    cistern_free(p);
    for (int i = 0; i < 4096; i++)
        cistern_free(more[i]);
    cistern_release_free_memory();
    cistern_free(p);
}

static void *free_it(void *p)
{
    cistern_free(p);
    return NULL;
}

static void twice_other_thread(void *arg)
{
    (void)arg;
    cistern_arena_t *a = death_arena();
    void *p = cistern_arena_malloc(a, 2000);
    pthread_t t;
    pthread_create(&t, NULL, free_it, p);
    pthread_join(t, NULL);
    cistern_free(p);
}

/* Through the thread arena's inline fast paths. */
static void twice_fast_path(void *arg)
{
    (void)arg;
    cistern_thread_set_arena(death_arena());
    void *p = cistern_malloc(24);
    cistern_free(p);
    cistern_free(p);
}

static void expect_double_free(void (*fn)(void *), const char *what)
{
    char err[4096];
    int st = dv_run_child(fn, NULL, err, sizeof err);
    ck_assert_msg(WIFSIGNALED(st) && WTERMSIG(st) == SIGABRT,
                  "%s: no abort (status %#x); stderr: \"%s\"", what, st, err);
    ck_assert_msg(strstr(err, "double free") != NULL, "%s: stderr \"%s\"", what, err);
}

START_TEST(double_free_small)
{
    expect_double_free(twice_small, "small");
}
END_TEST

START_TEST(double_free_large)
{
    expect_double_free(twice_large, "large");
}
END_TEST

START_TEST(double_free_after_flush)
{
    expect_double_free(twice_after_flush, "after flush");
}
END_TEST

START_TEST(double_free_other_thread)
{
    expect_double_free(twice_other_thread, "other thread");
}
END_TEST

START_TEST(double_free_fast_path)
{
    expect_double_free(twice_fast_path, "fast path");
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("notouch_hooks");
    TCase *tc = tcase_create("hooks");
    tcase_add_test(tc, device_source_tags);
    tcase_add_test(tc, calloc_uses_memset_hook);
    tcase_add_test(tc, realloc_uses_copy_hook);
    tcase_add_test(tc, no_hooks_enotsup);
    suite_add_tcase(s, tc);
    TCase *df = tcase_create("double_free");
    tcase_set_timeout(df, 60);
    tcase_add_test(df, double_free_small);
    tcase_add_test(df, double_free_large);
    tcase_add_test(df, double_free_after_flush);
    tcase_add_test(df, double_free_other_thread);
    tcase_add_test(df, double_free_fast_path);
    suite_add_tcase(s, df);
    return s;
}

CS_TEST_MAIN(suite)
