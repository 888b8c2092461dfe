/*
 * test_tcache.c - thread caches: refill and overflow against the central
 * lists, bins growing to their cap, caches returned at thread exit, and the
 * epoch that keeps a reset arena's memory out of other threads' caches.
 */
#include "unit.h"

#include <pthread.h>
#include <stdlib.h>

#define N 1000

static int by_addr(const void *x, const void *y)
{
    uintptr_t p = (uintptr_t)*(void *const *)x, q = (uintptr_t)*(void *const *)y;
    return p < q ? -1 : p > q;
}

static void assert_distinct(void **v, size_t n)
{
    void **s = malloc(n * sizeof *s);
    ck_assert_ptr_nonnull(s);
    memcpy(s, v, n * sizeof *s);
    qsort(s, n, sizeof *s, by_addr);
    for (size_t i = 1; i < n; i++)
        ck_assert_msg(s[i - 1] != s[i], "%p handed out twice", s[i]);
    free(s);
}

/* p is out of its span: not free in the bitmap, in a small span in use. */
static void assert_out_of_span(void *p, struct cistern_arena *ar, unsigned cls)
{
    struct cs_span *s = cs_pagemap_get(p);
    ck_assert_msg(s && s->state == CS_SPAN_SMALL && s->cls == cls && s->arena == ar,
                  "%p is not an object of a live span of its class", p);
    uint32_t idx = cs_span_index(s, (uintptr_t)p - cs_span_start(s));
    ck_assert_msg(!(s->freebits[idx / 64] & ((uint64_t)1 << (idx % 64))),
                  "%p handed out while free in its span", p);
}

/* One class in a loop: the first miss takes a run from a fresh span, misses
   grow the bin's limit (one object at a time up to a batch, then a batch at
   a time up to its cap), frees past the limit hand batches back without
   growing it past a batch, and the central list's count of objects out
   always equals what the program and the caches hold. */
START_TEST(refill_overflow_one_class)
{
    unit_init();
    static void *p[N];
    unsigned cls = cs_size_class(64);
    const struct cs_class_info *ci = &cs_classes[cls];
    struct cs_central *c = &cs_default_arena->central[cls];

    p[0] = cistern_malloc(64);
    struct cs_tcache *tc = cs_tls.cur;
    ck_assert_ptr_nonnull(tc);
    ck_assert_ptr_eq(tc->arena, cs_default_arena);
    struct cs_bin *b = &tc->bins[cls];
    ck_assert_uint_eq(b->cap, ci->cap);
    ck_assert_uint_eq(cs_bin_max(b), 2); /* one to start, one for the miss */
    /* The first refill finds a fresh span and takes a run of the bin's
       limit, one object, which is handed out at once. */
    ck_assert_uint_eq(cs_tcache_count(tc, cls), 0);
    ck_assert_uint_eq(c->out_objects, 1);
    /* The next miss takes a run of two, in one piece (no per-object copy). */
    p[1] = cistern_malloc(64);
    ck_assert_uint_eq(cs_tcache_count(tc, cls), 1);
    ck_assert_uint_eq(tc->runs[cls].end - tc->runs[cls].next, (ptrdiff_t)ci->size);
    ck_assert_ptr_eq(tc->runs[cls].next, (char *)p[1] + ci->size);
    ck_assert_uint_eq(c->out_objects, 3);
    ck_assert_uint_eq(cs_bin_max(b), 3);

    unsigned last_max = cs_bin_max(b);
    for (int i = 2; i < N; i++) {
        p[i] = cistern_malloc(64);
        ck_assert_ptr_nonnull(p[i]);
        ck_assert_uint_ge(cs_bin_max(b), last_max); /* misses only grow it */
        ck_assert_uint_le(cs_bin_max(b), b->cap);
        last_max = cs_bin_max(b);
        ck_assert_uint_eq(c->out_objects, (size_t)i + 1 + cs_tcache_count(tc, cls) + c->xfer_n);
    }
    assert_distinct(p, N);
    for (int i = 0; i < N; i++)
        assert_out_of_span(p[i], cs_default_arena, cls);

    ck_assert_uint_gt(last_max, 3); /* every miss grew it */
    unsigned grown = last_max;
    for (int i = 0; i < N; i++) {
        cistern_free(p[i]);
        /* Frees never grow a bin past a batch; overflowing ones shrink it. */
        ck_assert_uint_le(cs_bin_max(b), last_max > ci->batch ? last_max : ci->batch);
        ck_assert_uint_le(b->top - b->base, cs_bin_max(b));
        ck_assert_uint_le(cs_run_count(&tc->runs[cls], b), ci->batch);
        last_max = cs_bin_max(b);
        ck_assert_uint_eq(c->out_objects, (size_t)(N - 1 - i) + cs_tcache_count(tc, cls) + c->xfer_n);
    }
    ck_assert_uint_eq(cs_bin_max(b), grown); /* frees neither grew nor shrank it */
    ck_assert_uint_ge(cs_tcache_count(tc, cls), grown / 2);
    ck_assert_uint_eq(tc->nmalloc, N);
    /* Frees are derived from what lives: all N of them show. */
    cistern_arena_stats_t st;
    ck_assert_int_eq(cistern_arena_get_stats(cs_default_arena, &st), 0);
    ck_assert_uint_ge(st.nfree, N);
    ck_assert_uint_le(st.nfree, st.nmalloc);

    /* Flushing the thread and draining the transfer cache empties the class. */
    cs_tcache_flush_thread();
    ck_assert_uint_eq(cs_tcache_count(tc, cls), 0);
    cs_central_drain(cs_default_arena, cls);
    ck_assert_uint_eq(c->out_objects, 0);
    ck_assert_uint_eq(c->nspans, 0);
    ck_assert_int_eq(cs_heap_check(&cs_default_arena->heap), 0);
}
END_TEST

/* The option caps what all thread caches hold together; with one thread
   its share is the whole cap (never below the floor a cache keeps).  Freeing
   a couple of blocks of each big class must not park more than that. */
/* A thread that only frees a class (objects another thread allocated) keeps
   at most CS_TC_OVERFLOW_GROWTH of it: overflows grow a bin only that far
   and then hand batches back, so such a thread cannot pin the spans of
   thousands of objects. */
#define FREED_ELSEWHERE 4000
static void *freed_elsewhere[FREED_ELSEWHERE];
static unsigned freer_max, freer_cached;

static void *freer_main(void *arg)
{
    unsigned cls = *(unsigned *)arg;
    for (int i = 0; i < FREED_ELSEWHERE; i++) {
        cistern_free(freed_elsewhere[i]);
        struct cs_tcache *tc = cs_tls.cur;
        unsigned max = cs_bin_max(&tc->bins[cls]), held = cs_tcache_count(tc, cls);
        if (max > freer_max)
            freer_max = max;
        if (held > freer_cached)
            freer_cached = held;
    }
    return NULL;
}

START_TEST(free_only_thread_holds_a_batch)
{
    unit_init();
    unsigned cls = cs_size_class(96);
    for (int i = 0; i < FREED_ELSEWHERE; i++)
        ck_assert_ptr_nonnull(freed_elsewhere[i] = cistern_malloc(96));
    pthread_t t;
    ck_assert_int_eq(pthread_create(&t, NULL, freer_main, &cls), 0);
    ck_assert_int_eq(pthread_join(t, NULL), 0);
    ck_assert_uint_eq(freer_max, CS_TC_OVERFLOW_GROWTH);
    ck_assert_uint_le(freer_cached, CS_TC_OVERFLOW_GROWTH);
    ck_assert_uint_lt(CS_TC_OVERFLOW_GROWTH, cs_classes[cls].cap); /* the bound means something */
}
END_TEST

START_TEST(cache_bytes_within_cap)
{
    unit_init();
    const long cap = 1L << 20;
    cs_opt.tcache_max_bytes = cap;
    size_t floor_bytes = (size_t)256 << 10;
    size_t limit = (size_t)cap > floor_bytes ? (size_t)cap : floor_bytes;
    for (unsigned c = CS_NCLASSES - 24; c < CS_NCLASSES; c++) {
        void *x = cistern_malloc(cs_classes[c].size), *y = cistern_malloc(cs_classes[c].size);
        cistern_free(x);
        cistern_free(y);
    }
    size_t cached = 0;
    for (int i = 0; i < CS_TC_SLOTS; i++) {
        struct cs_tcache *tc = cs_tls.tc[i];
        if (tc == &cs_tcache_none)
            continue;
        for (unsigned c = 1; c < CS_NCLASSES; c++)
            cached += (size_t)cs_tcache_count(tc, c) * cs_classes[c].size;
    }
    ck_assert_msg(cached <= limit, "one thread caches %zu bytes with tcache_max_bytes=%ld", cached,
                  cap);
}
END_TEST

/* ---- thread exit ------------------------------------------------------------------- */

static cistern_arena_t *arena_x;

static void *churn(void *arg)
{
    (void)arg;
    static __thread void *v[N];
    cistern_thread_set_arena(arena_x);
    for (int round = 0; round < 3; round++) {
        for (int i = 0; i < N; i++)
            v[i] = cistern_malloc(i % 5 ? 64 : 4000);
        for (int i = 0; i < N; i++)
            cistern_free(v[i]);
    }
    return NULL;
}

struct count_ctx {
    struct cistern_arena *a;
    int n;
};

static void count_caches(struct cs_tcache *tc, void *ctx)
{
    struct count_ctx *c = ctx;
    c->n += tc->arena == c->a;
}

/* A thread that allocates and frees, then exits, leaves nothing in a
   cache: every object is back with the central lists, the arena's counts
   include the thread's, and once the transfer caches drain no span is left
   in use. */
START_TEST(thread_exit_returns_cache)
{
    unit_init();
    arena_x = cistern_arena_create(NULL);
    ck_assert_ptr_nonnull(arena_x);
    pthread_t t;
    ck_assert_int_eq(pthread_create(&t, NULL, churn, NULL), 0);
    ck_assert_int_eq(pthread_join(t, NULL), 0);

    struct count_ctx cc = { arena_x, 0 };
    cs_tcache_foreach(count_caches, &cc);
    ck_assert_int_eq(cc.n, 0);

    for (unsigned c = 1; c < CS_NCLASSES; c++)
        ck_assert_msg(arena_x->central[c].out_objects == arena_x->central[c].xfer_n,
                      "class %u: %zu objects out, %zu in the transfer cache", c,
                      (size_t)arena_x->central[c].out_objects, (size_t)arena_x->central[c].xfer_n);
    cistern_arena_stats_t st;
    ck_assert_int_eq(cistern_arena_get_stats(arena_x, &st), 0);
    ck_assert_uint_eq(st.allocated_bytes, 0);
    ck_assert_uint_eq(st.nmalloc, 3 * N);
    ck_assert_uint_eq(st.nfree, 3 * N);

    for (unsigned c = 1; c < CS_NCLASSES; c++)
        cs_central_drain(arena_x, c);
    ck_assert_uint_eq(arena_x->heap.pages_inuse, 0);
    ck_assert_int_eq(cs_heap_check(&arena_x->heap), 0);
}
END_TEST

/* ---- epoch ---------------------------------------------------------------------------- */

#define OLD 100
#define NEW 400

static pthread_barrier_t bar;
static void *old_ptrs[OLD], *new_ptrs[NEW];
static size_t out_after, bin_after, bin_before;
static cistern_arena_stats_t stats_after;

static void *epoch_thread(void *arg)
{
    (void)arg;
    unsigned cls = cs_size_class(64);
    cistern_thread_set_arena(arena_x);
    for (int i = 0; i < OLD; i++)
        old_ptrs[i] = cistern_malloc(64);
    for (int i = 0; i < OLD; i++)
        cistern_free(old_ptrs[i]); /* most stay in this thread's cache */
    bin_before = cs_tls.cur ? cs_tcache_count(cs_tls.cur, cls) : 0;
    pthread_barrier_wait(&bar);    /* main resets the arena now */
    pthread_barrier_wait(&bar);
    for (int i = 0; i < NEW; i++)
        new_ptrs[i] = cistern_malloc(64);
    out_after = arena_x->central[cls].out_objects;
    bin_after = cs_tls.cur ? cs_tcache_count(cs_tls.cur, cls) : 0;
    cistern_arena_get_stats(arena_x, &stats_after);
    pthread_barrier_wait(&bar);    /* main checks while this thread lives */
    pthread_barrier_wait(&bar);
    return NULL;
}

/* After a reset from another thread, a thread whose cache held objects of
   the arena gets only objects the central lists handed out after the reset:
   the count of objects out equals what it took, none of them aliases
   another, and the arena reports exactly their bytes as allocated. */
START_TEST(reset_invalidates_other_caches)
{
    unit_init();
    arena_x = cistern_arena_create(NULL);
    ck_assert_ptr_nonnull(arena_x);
    unsigned cls = cs_size_class(64);
    pthread_barrier_init(&bar, NULL, 2);
    pthread_t t;
    ck_assert_int_eq(pthread_create(&t, NULL, epoch_thread, NULL), 0);
    pthread_barrier_wait(&bar);
    ck_assert_msg(bin_before > 0, "the thread cached nothing before the reset");
    cistern_arena_reset(arena_x);
    ck_assert_uint_eq(arena_x->central[cls].out_objects, 0);
    pthread_barrier_wait(&bar);
    pthread_barrier_wait(&bar);

    assert_distinct(new_ptrs, NEW);
    for (int i = 0; i < NEW; i++)
        assert_out_of_span(new_ptrs[i], arena_x, cls);
    ck_assert_msg(out_after == NEW + bin_after,
                  "%zu objects out of spans, but the thread took %d and caches %zu: some came "
                  "from before the reset",
                  out_after, NEW, bin_after);
    ck_assert_uint_eq(stats_after.allocated_bytes, (size_t)NEW * cs_classes[cls].size);
    ck_assert_int_eq(cs_heap_check(&arena_x->heap), 0);

    pthread_barrier_wait(&bar);
    ck_assert_int_eq(pthread_join(t, NULL), 0);
    pthread_barrier_destroy(&bar);
}
END_TEST

/* Caches are per arena: switching the thread's arena never hands out an
   object of the arena it left. */
START_TEST(caches_are_per_arena)
{
    unit_init();
    cistern_arena_t *x = cistern_arena_create(NULL);
    ck_assert_ptr_nonnull(x);
    void *v[64];
    cistern_thread_set_arena(x);
    for (int i = 0; i < 64; i++)
        v[i] = cistern_malloc(96);
    for (int i = 0; i < 64; i++)
        cistern_free(v[i]);
    cistern_thread_set_arena(NULL);
    for (int i = 0; i < 64; i++) {
        v[i] = cistern_malloc(96);
        ck_assert_ptr_eq(cistern_arena_of(v[i]), cistern_arena_default());
    }
    cistern_thread_set_arena(x);
    for (int i = 0; i < 32; i++)
        ck_assert_ptr_eq(cistern_arena_of(cistern_malloc(96)), x);
}
END_TEST

/* A bin that does not run dry for a scavenge interval gives a quarter of
   what it holds back to the central list and shrinks as much; bins in use (they
   miss) keep theirs.  Nothing is lost: what left the cache is counted out
   of it and comes back through the central list. */
#define IDLE_OBJS 200
START_TEST(scavenge_returns_unused_objects)
{
    unit_init();
    unsigned idle = cs_size_class(64), busy = cs_size_class(1000);
    void *p[IDLE_OBJS];
    for (int i = 0; i < IDLE_OBJS; i++)
        ck_assert_ptr_nonnull(p[i] = cistern_malloc(64));
    for (int i = 0; i < IDLE_OBJS; i++)
        cistern_free(p[i]);
    struct cs_tcache *tc = cs_tls.cur;
    struct cs_central *c = &cs_default_arena->central[idle];
    unsigned held = cs_tcache_count(tc, idle), max = cs_bin_max(&tc->bins[idle]);
    ck_assert_uint_gt(held, 8);
    ck_assert_uint_eq(c->out_objects, held + c->xfer_n);

    /* Slow paths of another class, for a bit more than two intervals: the
       first scavenge spares the idle bin (it missed while it filled), the
       second finds it has not run dry since. */
    uint64_t start = tc->nmalloc;
    size_t n = 2 * CS_TC_SCAVENGE_INTERVAL + CS_TC_SCAVENGE_INTERVAL / 4, k = 0;
    void **keep = malloc(n * sizeof *keep);
    ck_assert_ptr_nonnull(keep);
    while (tc->nmalloc - start < n)
        ck_assert_ptr_nonnull(keep[k++] = cistern_malloc(1000));
    unsigned now = cs_tcache_count(tc, idle);
    ck_assert_uint_le(now, held - (held + 3) / 4);
    ck_assert_uint_lt(cs_bin_max(&tc->bins[idle]), max);
    ck_assert_uint_eq(c->out_objects, now + c->xfer_n);
    ck_assert_uint_gt(cs_bin_max(&tc->bins[busy]), 1); /* in use: not shrunk to nothing */

    /* The idle class still serves correctly. */
    for (int i = 0; i < IDLE_OBJS; i++)
        ck_assert_ptr_nonnull(p[i] = cistern_malloc(64));
    assert_distinct(p, IDLE_OBJS);
    for (int i = 0; i < IDLE_OBJS; i++)
        assert_out_of_span(p[i], cs_default_arena, idle);
    for (int i = 0; i < IDLE_OBJS; i++)
        cistern_free(p[i]);
    while (k)
        cistern_free(keep[--k]);
    free(keep);
    cs_tcache_flush_thread();
    for (unsigned cls = 1; cls < CS_NCLASSES; cls++)
        cs_central_drain(cs_default_arena, cls);
    ck_assert_uint_eq(c->out_objects, 0);
    ck_assert_int_eq(cs_heap_check(&cs_default_arena->heap), 0);
}
END_TEST

/* A bin starts in the record's near part, moves to its own array when it
   grows past CS_TC_NEAR_SLOTS and back when a scavenge shrinks it, and keeps
   its objects through both moves. */
START_TEST(bin_storage_moves_keep_objects)
{
    unit_init();
    unsigned cls = cs_size_class(48);
    void *p[IDLE_OBJS];
    p[0] = cistern_malloc(48);
    struct cs_tcache *tc = cs_tls.cur;
    struct cs_bin *b = &tc->bins[cls];
    void **near = b->base;
    ck_assert_msg(near >= (void **)(tc + 1) &&
                      near < (void **)(tc + 1) + (size_t)CS_NCLASSES * CS_TC_NEAR_SLOTS,
                  "a new bin is not in the record's near part");
    for (int i = 1; i < IDLE_OBJS; i++)
        ck_assert_ptr_nonnull(p[i] = cistern_malloc(48));
    ck_assert_uint_gt(cs_bin_max(b), CS_TC_NEAR_SLOTS);
    ck_assert_ptr_ne(b->base, near);
    ck_assert_msg(b->base >= (void **)(tc + 1) + (size_t)CS_NCLASSES * CS_TC_NEAR_SLOTS,
                  "a grown bin is not in the record's far part");
    for (int i = 0; i < IDLE_OBJS; i++)
        cistern_free(p[i]);
    unsigned held = cs_tcache_count(tc, cls);
    ck_assert_uint_gt(held, CS_TC_NEAR_SLOTS);

    /* Scavenges (driven by another class's misses) shrink it back: run
       them until it moves, within a bound. */
    uint64_t start = tc->nmalloc;
    size_t n = 16 * (size_t)CS_TC_SCAVENGE_INTERVAL, k = 0;
    void **keep = malloc(n * sizeof *keep);
    ck_assert_ptr_nonnull(keep);
    while (b->base != near && tc->nmalloc - start < n)
        ck_assert_ptr_nonnull(keep[k++] = cistern_malloc(3000));
    ck_assert_uint_le(cs_bin_max(b), CS_TC_NEAR_SLOTS);
    ck_assert_ptr_eq(b->base, near);
    unsigned left = cs_tcache_count(tc, cls);
    ck_assert_uint_gt(left, 0);
    ck_assert_uint_lt(left, held);
    /* What stayed is still good: the next mallocs get it, distinct and live. */
    for (unsigned i = 0; i < left; i++) {
        ck_assert_ptr_nonnull(p[i] = cistern_malloc(48));
        assert_out_of_span(p[i], cs_default_arena, cls);
    }
    assert_distinct(p, left);
    while (k)
        cistern_free(keep[--k]);
    free(keep);
    ck_assert_int_eq(cs_heap_check(&cs_default_arena->heap), 0);
}
END_TEST

/* Churn over many classes for dozens of scavenge intervals (bins growing,
   moving to their far storage and back, giving objects back), then free
   everything: no object may be lost on the way, every span goes back to
   the heap. */
#define CHURN_WINDOW 3000
START_TEST(churn_loses_nothing)
{
    unit_init();
    static void *w[CHURN_WINDOW];
    uint64_t rng = 42;
    for (long i = 0; i < 40L * CS_TC_SCAVENGE_INTERVAL; i++) {
        rng = rng * 6364136223846793005ull + 1442695040888963407ull;
        unsigned k = (unsigned)(rng >> 33) % CHURN_WINDOW;
        cistern_free(w[k]);
        /* Phases favour different classes, so bins fill, idle and drain. */
        size_t top = ((i / (3 * CS_TC_SCAVENGE_INTERVAL)) % 2) ? 4096 : 300;
        size_t n = 1 + (size_t)(rng >> 45) % top;
        ck_assert_ptr_nonnull(w[k] = cistern_malloc(n));
    }
    for (unsigned k = 0; k < CHURN_WINDOW; k++)
        cistern_free(w[k]);
    cs_tcache_flush_thread();
    for (unsigned cls = 1; cls < CS_NCLASSES; cls++) {
        cs_central_drain(cs_default_arena, cls);
        ck_assert_msg(cs_default_arena->central[cls].out_objects == 0,
                      "class %u: %ld objects out after every free", cls,
                      (long)cs_default_arena->central[cls].out_objects);
    }
    ck_assert_int_eq(cs_heap_check(&cs_default_arena->heap), 0);
}
END_TEST

static Suite *make_suite(void)
{
    Suite *s = suite_create("tcache");
    TCase *tc = tcase_create("tcache");
    tcase_set_timeout(tc, 20);
    tcase_add_test(tc, refill_overflow_one_class);
    tcase_add_test(tc, free_only_thread_holds_a_batch);
    tcase_add_test(tc, cache_bytes_within_cap);
    tcase_add_test(tc, thread_exit_returns_cache);
    tcase_add_test(tc, reset_invalidates_other_caches);
    tcase_add_test(tc, caches_are_per_arena);
    tcase_add_test(tc, scavenge_returns_unused_objects);
    tcase_add_test(tc, bin_storage_moves_keep_objects);
    tcase_add_test(tc, churn_loses_nothing);
    suite_add_tcase(s, tc);
    return s;
}

CS_TEST_MAIN(make_suite)
