/*
 * notouch_classes.c - an arena over a PROT_NONE range injected as a NOTOUCH
 * pool serves every size class, large blocks and aligned blocks, walks,
 * resets and is destroyed without the CPU ever reading or writing the range
 * (design invariant 2): any touch would be a SIGSEGV, and the range must
 * still have no page resident at the end.
 */
#include "devutil.h"

#define LEN (256 * MiB)
#define ROUNDS 16 /* each round allocates BATCH objects of a class and frees them */
#define BATCH 64
#define KEEP 3    /* objects per class left live for the walk */

static const size_t large_sizes[] = { DV_SMALL_MAX + 1, 300 * KiB, 1 * MiB, 3 * MiB + 5,
                                      16 * MiB };
#define NLARGE (sizeof large_sizes / sizeof large_sizes[0])

struct tally {
    size_t n, bytes, cap;
    struct dv_block *b;
};

static int count_block(void *p, size_t usable, void *ctx)
{
    struct tally *t = ctx;
    ck_assert_uint_lt(t->n, t->cap);
    t->b[t->n].p = (uintptr_t)p;
    t->b[t->n].len = usable;
    t->n++;
    t->bytes += usable;
    return 0;
}

static struct tally walk(cistern_arena_t *a, size_t cap)
{
    struct tally t = { 0, 0, cap, calloc(cap ? cap : 1, sizeof(struct dv_block)) };
    ck_assert_ptr_nonnull(t.b);
    ck_assert_int_eq(cistern_arena_walk(a, count_block, &t), 0);
    return t;
}

START_TEST(every_class_never_touched)
{
    char *base = dv_map_none(LEN, 2 * MiB);
    cistern_sysalloc_t *pool;
    cistern_arena_t *a = dv_notouch_arena("notouch", base, LEN, &pool);

    size_t sizes[DV_NCLASSES + 1];
    unsigned nc = dv_class_sizes(a, sizes, DV_NCLASSES + 1);
    ck_assert_uint_eq(nc, DV_NCLASSES);
    ck_assert_uint_eq(sizes[0], 8);
    ck_assert_uint_eq(sizes[nc - 1], DV_SMALL_MAX);

    void *live[DV_NCLASSES * KEEP + NLARGE];
    size_t nlive = 0, live_bytes = 0;
    for (unsigned c = 0; c < nc; c++) {
        void *ptrs[BATCH];
        for (int r = 0; r < ROUNDS; r++) {
            for (int i = 0; i < BATCH; i++) {
                /* Any request inside the class lands in it. */
                size_t req = i & 1 ? sizes[c] : (c ? sizes[c - 1] + 1 : 1);
                void *p = cistern_arena_malloc(a, req);
                ck_assert_msg(p != NULL, "class %u (%zu B), round %d: %s", c, sizes[c], r,
                              strerror(errno));
                ck_assert(su_inside(p, sizes[c], base, LEN));
                ck_assert_uint_eq(cistern_usable_size(p), sizes[c]);
                ck_assert_ptr_eq(cistern_arena_of(p), a);
                ptrs[i] = p;
            }
            /* Free in an order unlike the allocation order: odd slots first;
               the last round keeps the first KEEP even slots live. */
            for (int i = 1; i < BATCH; i += 2)
                cistern_free(ptrs[i]);
            for (int i = r == ROUNDS - 1 ? 2 * KEEP : 0; i < BATCH; i += 2)
                cistern_free(ptrs[i]);
        }
        for (int k = 0; k < KEEP; k++) {
            live[nlive++] = ptrs[2 * k];
            live_bytes += sizes[c];
        }
    }
    for (size_t i = 0; i < NLARGE; i++) {
        void *p = cistern_arena_malloc(a, large_sizes[i]);
        ck_assert_msg(p != NULL, "large %zu: %s", large_sizes[i], strerror(errno));
        ck_assert(su_inside(p, large_sizes[i], base, LEN));
        ck_assert_uint_ge(cistern_usable_size(p), large_sizes[i]);
        live[nlive++] = p;
        live_bytes += cistern_usable_size(p);
    }

    /* The walk sees exactly the live blocks, and none overlaps another. */
    struct tally t = walk(a, nlive + 16);
    ck_assert_uint_eq(t.n, nlive);
    ck_assert_uint_eq(t.bytes, live_bytes);
    ck_assert_uint_eq(dv_overlap(t.b, t.n), 0);
    free(t.b);
    ck_assert_int_eq(cistern_check_heap(), 0);

    /* Freeing the large ones and releasing decommits inside the range:
       MADV_DONTNEED on PROT_NONE pages reads nothing. */
    for (size_t i = 0; i < NLARGE; i++)
        cistern_free(live[--nlive]);
    cistern_release_free_memory();

    /* Reset drops the rest at once; the arena serves again afterwards. */
    cistern_arena_reset(a);
    t = walk(a, 4);
    ck_assert_uint_eq(t.n, 0);
    free(t.b);
    for (unsigned c = 0; c < nc; c++) {
        void *p = cistern_arena_malloc(a, sizes[c]);
        ck_assert_ptr_nonnull(p);
        ck_assert(su_inside(p, sizes[c], base, LEN));
    }
    ck_assert_int_eq(cistern_sysalloc_release(pool), EBUSY);
    ck_assert_int_eq(cistern_arena_destroy(a), 0);
    ck_assert_int_eq(cistern_sysalloc_release(pool), 0);
    ck_assert_uint_eq(su_resident(base, LEN), 0);
    ck_assert_int_eq(munmap(base, LEN), 0);
}
END_TEST

/* Every alignment up to 4 MiB, small and large, from the untouchable range. */
START_TEST(aligned_never_touched)
{
    char *base = dv_map_none(64 * MiB, 4 * MiB);
    cistern_sysalloc_t *pool;
    cistern_arena_t *a = dv_notouch_arena("aligned", base, 64 * MiB, &pool);
    static const size_t req[] = { 1, 24, 100, 5000, 40 * KiB, 300 * KiB };
    for (size_t align = 8; align <= 4 * MiB; align *= 2)
        for (size_t k = 0; k < sizeof req / sizeof req[0]; k++) {
            void *p = cistern_arena_aligned_alloc(a, align, req[k]);
            ck_assert_msg(p != NULL, "aligned_alloc(%zu, %zu): %s", align, req[k],
                          strerror(errno));
            ck_assert_msg(((uintptr_t)p & (align - 1)) == 0, "%p not aligned to %zu", p, align);
            ck_assert(su_inside(p, req[k], base, 64 * MiB));
            cistern_free(p);
        }
    ck_assert_int_eq(cistern_arena_destroy(a), 0);
    ck_assert_int_eq(cistern_sysalloc_release(pool), 0);
    ck_assert_uint_eq(su_resident(base, 64 * MiB), 0);
    munmap(base, 64 * MiB);
}
END_TEST

/* The thread's own arena: malloc and free take the inline fast paths,
   which must not write a free marker into NOTOUCH objects. */
START_TEST(thread_arena_fast_path)
{
    char *base = dv_map_none(64 * MiB, 2 * MiB);
    cistern_sysalloc_t *pool;
    cistern_arena_t *a = dv_notouch_arena("fast", base, 64 * MiB, &pool);
    cistern_arena_t *prev = cistern_thread_set_arena(a);
    for (int r = 0; r < 200; r++) {
        void *p[64];
        for (int i = 0; i < 64; i++) {
            p[i] = cistern_malloc((size_t)(i * 37 + r) % 2048 + 1);
            ck_assert(su_inside(p[i], 1, base, 64 * MiB));
        }
        for (int i = 0; i < 64; i++)
            cistern_free(p[i]);
    }
    void *q = cistern_realloc(NULL, 100); /* realloc(NULL) is malloc */
    ck_assert(su_inside(q, 100, base, 64 * MiB));
    cistern_free(q);
    cistern_thread_set_arena(prev);
    ck_assert_int_eq(cistern_arena_destroy(a), 0);
    ck_assert_int_eq(cistern_sysalloc_release(pool), 0);
    ck_assert_uint_eq(su_resident(base, 64 * MiB), 0);
    munmap(base, 64 * MiB);
}
END_TEST

/* Without thread caches every malloc and free goes to the central lists
   directly: a path of its own that must not touch either. */
START_TEST(no_tcache_never_touched)
{
    char *base = dv_map_none(256 * MiB, 2 * MiB);
    cistern_sysalloc_t *pool = cistern_sysalloc_pool(base, 256 * MiB, CISTERN_SYSALLOC_NOTOUCH);
    ck_assert_ptr_nonnull(pool);
    cistern_arena_config_t cfg = { "no-tcache", &pool, 1, CISTERN_ARENA_NO_TCACHE, 0 };
    cistern_arena_t *a = cistern_arena_create(&cfg);
    ck_assert_ptr_nonnull(a);
    size_t sizes[DV_NCLASSES];
    ck_assert_uint_eq(dv_class_sizes(a, sizes, DV_NCLASSES), DV_NCLASSES);
    for (unsigned c = 0; c < DV_NCLASSES; c++) {
        void *p[16];
        for (int r = 0; r < 8; r++) {
            for (int i = 0; i < 16; i++) {
                p[i] = cistern_arena_malloc(a, sizes[c]);
                ck_assert(su_inside(p[i], sizes[c], base, 256 * MiB));
            }
            for (int i = 0; i < 16; i++)
                cistern_free(p[(i * 7) % 16]);
        }
    }
    ck_assert_int_eq(cistern_arena_destroy(a), 0);
    ck_assert_int_eq(cistern_sysalloc_release(pool), 0);
    ck_assert_uint_eq(su_resident(base, 256 * MiB), 0);
    munmap(base, 256 * MiB);
}
END_TEST

/* A walk can stop early: fn's non-zero result comes back. */
static int stop_at_third(void *p, size_t usable, void *ctx)
{
    (void)p;
    (void)usable;
    return ++*(int *)ctx == 3 ? 42 : 0;
}

START_TEST(walk_stops_early)
{
    char *base = dv_map_none(16 * MiB, 2 * MiB);
    cistern_sysalloc_t *pool;
    cistern_arena_t *a = dv_notouch_arena("walk", base, 16 * MiB, &pool);
    for (int i = 0; i < 10; i++)
        ck_assert_ptr_nonnull(cistern_arena_malloc(a, 64));
    int seen = 0;
    ck_assert_int_eq(cistern_arena_walk(a, stop_at_third, &seen), 42);
    ck_assert_int_eq(seen, 3);
    ck_assert_int_eq(cistern_arena_destroy(a), 0);
    ck_assert_int_eq(cistern_sysalloc_release(pool), 0);
    munmap(base, 16 * MiB);
}
END_TEST

/* A NOTOUCH source cannot join an arena that writes markers into objects. */
START_TEST(notouch_refused_by_touchable_arena)
{
    char *base = dv_map_none(16 * MiB, 2 * MiB);
    cistern_sysalloc_t *pool = cistern_sysalloc_pool(base, 16 * MiB, CISTERN_SYSALLOC_NOTOUCH);
    ck_assert_ptr_nonnull(pool);
    cistern_arena_t *plain = su_arena("plain", NULL, 0);
    ck_assert_int_eq(cistern_arena_add_sysalloc(plain, pool, 0), EINVAL);
    ck_assert_int_eq(cistern_arena_destroy(plain), 0);
    ck_assert_int_eq(cistern_sysalloc_release(pool), 0);
    munmap(base, 16 * MiB);
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("notouch_classes");
    TCase *tc = tcase_create("notouch");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, every_class_never_touched);
    tcase_add_test(tc, aligned_never_touched);
    tcase_add_test(tc, thread_arena_fast_path);
    tcase_add_test(tc, no_tcache_never_touched);
    tcase_add_test(tc, walk_stops_early);
    tcase_add_test(tc, notouch_refused_by_touchable_arena);
    suite_add_tcase(s, tc);
    return s;
}

CS_TEST_MAIN(suite)
