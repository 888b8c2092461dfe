/*
 * fault_inject.c - an arena over a custom source that refuses every Nth
 * request.  Allocation must fail cleanly (NULL + ENOMEM), nothing may leak,
 * and the heap must stay consistent throughout.
 */
#include "srcutil.h"
#include "testutil.h"

/* The source: its own mmap'd regions, counted so the test can tell what
   cistern still holds and what it gave back. */
struct faulty {
    unsigned every;          /* refuse call k when k % every == 0 */
    unsigned long calls, refused, nalloc, nunmap, bad_unmaps;
    size_t live_bytes;
    int destroyed;
};

/* Regions are at least this big, like a real source's chunk, so a refusal
   hits small and large requests alike. */
#define CHUNK (512 * KiB)

static void *faulty_alloc(void *ctx, size_t size, size_t align, size_t *actual)
{
    struct faulty *f = ctx;
    if (++f->calls % f->every == 0) {
        f->refused++;
        return NULL;
    }
    size_t give;
    void *start = test_map_region(size, align, CHUNK, &give);
    if (!start)
        return NULL;
    f->nalloc++;
    f->live_bytes += give;
    *actual = give;
    return start;
}

static int faulty_decommit(void *ctx, void *p, size_t len)
{
    return madvise(p, len, MADV_DONTNEED) == 0 ? 0 : errno;
}

static int faulty_unmap(void *ctx, void *p, size_t len)
{
    struct faulty *f = ctx;
    if (len > f->live_bytes) {
        f->bad_unmaps++;
        return EINVAL;
    }
    f->nunmap++;
    f->live_bytes -= len;
    return munmap(p, len) == 0 ? 0 : errno;
}

/* An injected variant must never see unmap: count it as a fault. */
static int injected_unmap(void *ctx, void *p, size_t len)
{
    ((struct faulty *)ctx)->bad_unmaps++;
    return 0;
}

static void faulty_destroy(void *ctx)
{
    ((struct faulty *)ctx)->destroyed++;
}

/* The custom source over f (unmap counted, not refused). */
static cistern_sysalloc_t *faulty_source(struct faulty *f)
{
    cistern_sysalloc_ops_t ops = { 0 };
    ops.alloc = faulty_alloc;
    ops.decommit = faulty_decommit;
    ops.unmap = faulty_unmap;
    ops.destroy = faulty_destroy;
    cistern_sysalloc_t *src = cistern_sysalloc_custom("faulty", &ops, f, 0, 0);
    ck_assert_ptr_nonnull(src);
    return src;
}

static const unsigned every_n[] = { 2, 3, 7 };

#define SLOTS 256
#define OPS 15000

struct slot {
    char *p;
    size_t n;
    uint32_t seed;
};

static size_t pick_size(uint64_t *rng)
{
    uint32_t kind = su_rand(rng);
    return test_mixed_size(kind, su_rand(rng));
}

static void expect_enomem(void *p, const char *what, size_t n)
{
    if (!p)
        ck_assert_msg(errno == ENOMEM, "%s(%zu) failed with errno %d, not ENOMEM", what, n, errno);
}

static void run_mix(struct faulty *f, cistern_sysalloc_t *src, cistern_arena_t *a, uint64_t seed)
{
    struct slot slots[SLOTS] = { { 0 } };
    uint64_t rng = seed;
    unsigned failed = 0, served = 0;
    for (unsigned op = 0; op < OPS; op++) {
        struct slot *s = &slots[su_rand(&rng) % SLOTS];
        uint32_t kind = su_rand(&rng) % 8;
        if (s->p && kind < 3) {
            ck_assert_msg(test_check_ends(s->p, s->n, s->seed), "op %u: contents of %p changed", op, (void *)s->p);
            cistern_free(s->p);
            s->p = NULL;
            continue;
        }
        size_t n = pick_size(&rng);
        void *p;
        errno = 0;
        if (s->p && kind < 5) { /* resize */
            ck_assert(test_check_ends(s->p, s->n, s->seed));
            p = cistern_arena_realloc(a, s->p, n);
            expect_enomem(p, "realloc", n);
            if (!p) { /* the old block must be intact */
                ck_assert(test_check_ends(s->p, s->n, s->seed));
                failed++;
                continue;
            }
            size_t kept = test_end_len(s->n) < n ? test_end_len(s->n) : n;
            ck_assert_msg(test_check(p, kept, s->seed), "realloc lost the contents");
        } else {
            if (s->p)
                cistern_free(s->p);
            s->p = NULL;
            if (kind == 5)
                p = cistern_arena_calloc(a, 1, n);
            else if (kind == 6)
                p = cistern_arena_aligned_alloc(a, (size_t)1 << (4 + su_rand(&rng) % 13), n);
            else
                p = cistern_arena_malloc(a, n);
            expect_enomem(p, "alloc", n);
            if (!p) {
                failed++;
                continue;
            }
            if (kind == 5)
                for (size_t i = 0; i < n; i += n / 7 + 1)
                    ck_assert_msg(((char *)p)[i] == 0, "calloc memory not zero");
        }
        served++;
        s->p = p;
        s->n = n;
        s->seed = su_rand(&rng);
        test_fill_ends(s->p, s->n, s->seed);
        ck_assert_ptr_eq(cistern_arena_of(p), a);
        if (op % 500 == 0) {
            ck_assert_int_eq(cistern_check_heap(), 0);
            /* What the source counts as reserved is exactly what it handed
               out and did not get back. */
            ck_assert_uint_eq(su_stats(src).reserved_bytes, f->live_bytes);
        }
    }
    ck_assert_msg(failed > 0, "no allocation failed: the injection never bit");
    ck_assert_uint_gt(served, failed);
    ck_assert_uint_eq(su_stats(src).failures, f->refused);
    ck_assert_int_eq(cistern_check_heap(), 0);
    for (unsigned i = 0; i < SLOTS; i++)
        if (slots[i].p) {
            ck_assert(test_check_ends(slots[i].p, slots[i].n, slots[i].seed));
            cistern_free(slots[i].p);
        }
    ck_assert_int_eq(cistern_check_heap(), 0);
}

START_TEST(every_nth_refused)
{
    struct faulty f = { .every = every_n[_i] };
    cistern_sysalloc_t *src = faulty_source(&f);
    cistern_arena_t *a = su_arena("faulty", &src, 1);
    run_mix(&f, src, a, 0x9e3779b97f4a7c15ull * (_i + 1));
    ck_assert_int_eq(cistern_arena_destroy(a), 0);
    /* Every region the source handed out came back through unmap. */
    ck_assert_uint_eq(f.bad_unmaps, 0);
    ck_assert_msg(f.nunmap == f.nalloc, "%lu regions handed out, %lu given back", f.nalloc,
                  f.nunmap);
    ck_assert_uint_eq(f.live_bytes, 0);
    cistern_sysalloc_stats_t st = su_stats(src);
    ck_assert_uint_eq(st.reserved_bytes, 0);
    ck_assert_uint_eq(st.in_use_bytes, 0);
    ck_assert_uint_eq(st.committed_bytes, 0);
    ck_assert_int_eq(cistern_sysalloc_release(src), 0);
    ck_assert_int_eq(f.destroyed, 1);
    ck_assert_int_eq(cistern_check_heap(), 0);
}
END_TEST

/* The same under the default release policy acting on the way (decay 0):
   idle regions go back to the source while the mix runs. */
START_TEST(every_nth_refused_with_release)
{
    ck_assert_int_eq(cistern_option_set("decay_ms", "0"), 0);
    struct faulty f = { .every = every_n[_i] };
    cistern_sysalloc_t *src = faulty_source(&f);
    cistern_arena_t *a = su_arena("faulty", &src, 1);
    run_mix(&f, src, a, 0x2545f4914f6cdd1dull * (_i + 3));
    cistern_release_free_memory();
    ck_assert_uint_eq(su_stats(src).reserved_bytes, f.live_bytes);
    ck_assert_int_eq(cistern_arena_destroy(a), 0);
    ck_assert_uint_eq(f.bad_unmaps, 0);
    ck_assert_uint_eq(f.nunmap, f.nalloc);
    ck_assert_uint_eq(f.live_bytes, 0);
    ck_assert_int_eq(cistern_sysalloc_release(src), 0);
    ck_assert_int_eq(f.destroyed, 1);
}
END_TEST

/* INJECTED: regions are decommitted and kept, never unmapped; after the
   arena is gone the source holds nothing, and release hands it all back. */
START_TEST(every_nth_refused_injected)
{
    struct faulty f = { .every = every_n[_i] };
    cistern_sysalloc_ops_t ops = { 0 };
    ops.alloc = faulty_alloc;
    ops.decommit = faulty_decommit;
    ops.unmap = injected_unmap;
    ops.destroy = faulty_destroy;
    cistern_sysalloc_t *src =
        cistern_sysalloc_custom("faulty-inj", &ops, &f, 0, CISTERN_SYSALLOC_INJECTED);
    ck_assert_ptr_nonnull(src);
    cistern_arena_t *a = su_arena("faulty-inj", &src, 1);
    run_mix(&f, src, a, 0x5851f42d4c957f2dull * (_i + 5));
    ck_assert_int_eq(cistern_arena_destroy(a), 0);
    ck_assert_uint_eq(f.bad_unmaps, 0);
    ck_assert_uint_eq(f.nunmap, 0);
    cistern_sysalloc_stats_t st = su_stats(src);
    ck_assert_uint_eq(st.reserved_bytes, 0);
    ck_assert_uint_eq(st.in_use_bytes, 0);
    ck_assert_int_eq(cistern_sysalloc_release(src), 0);
    ck_assert_int_eq(f.destroyed, 1);
}
END_TEST

static Suite *make_suite(void)
{
    Suite *s = suite_create("fault_inject");
    TCase *tc = tcase_create("every_nth");
    tcase_set_timeout(tc, 30);
    int n = (int)(sizeof every_n / sizeof every_n[0]);
    tcase_add_loop_test(tc, every_nth_refused, 0, n);
    tcase_add_loop_test(tc, every_nth_refused_with_release, 0, n);
    tcase_add_loop_test(tc, every_nth_refused_injected, 0, n);
    suite_add_tcase(s, tc);
    return s;
}

CS_TEST_MAIN(make_suite)
