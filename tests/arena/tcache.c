/*
 * tcache.c - thread caches for every arena, and the epochs that keep them
 * honest: a cache filled before a reset or destroy must never hand out that
 * memory again, in the thread that reset or in any other.  Also
 * CISTERN_ARENA_NO_TCACHE, and cistern_thread_set_arena routing.
 */
#include "arutil.h"

#define OBJ 48
#define NOBJ 2000 /* more than any cache holds of one class */

/* A helper thread that runs one step at a time, on the main thread's word. */
struct worker {
    pthread_t t;
    pthread_barrier_t go, done;
    void (*step)(struct worker *w);
    cistern_arena_t *arena;
    int via_thread_arena;   /* allocate with set_arena + cistern_malloc */
    cistern_arena_t *routed; /* the worker thread's arena, as last set */
    void *p[NOBJ];
    unsigned n;
    int quit;
};

static void *worker_main(void *arg)
{
    struct worker *w = arg;
    for (;;) {
        pthread_barrier_wait(&w->go);
        if (w->quit)
            return NULL;
        w->step(w);
        pthread_barrier_wait(&w->done);
    }
}

/* Start worker w afresh on arena (which may change between steps). */
static void worker_start(struct worker *w, cistern_arena_t *arena, int via_thread_arena)
{
    memset(w, 0, sizeof *w);
    w->arena = arena;
    w->via_thread_arena = via_thread_arena;
    pthread_barrier_init(&w->go, NULL, 2);
    pthread_barrier_init(&w->done, NULL, 2);
    w->t = ar_spawn(worker_main, w);
}

static void worker_run(struct worker *w, void (*step)(struct worker *))
{
    w->step = step;
    pthread_barrier_wait(&w->go);
    pthread_barrier_wait(&w->done);
}

static void worker_stop(struct worker *w)
{
    w->quit = 1;
    pthread_barrier_wait(&w->go);
    ar_join(w->t);
    pthread_barrier_destroy(&w->go);
    pthread_barrier_destroy(&w->done);
}

/* Routed once per arena, not per call: a reset in between must be caught
   by the inline fast path itself, which keeps the thread's cache pointer. */
static void *worker_alloc_one(struct worker *w)
{
    if (!w->via_thread_arena)
        return cistern_arena_malloc(w->arena, OBJ);
    if (w->routed != w->arena) {
        cistern_thread_set_arena(w->arena);
        w->routed = w->arena;
    }
    return cistern_malloc(OBJ);
}

/* Allocate NOBJ and free them all: the thread's cache of the arena is full. */
static void step_fill_cache(struct worker *w)
{
    for (unsigned i = 0; i < NOBJ; i++)
        w->p[i] = worker_alloc_one(w);
    for (unsigned i = 0; i < NOBJ; i++)
        cistern_free(w->p[i]);
    w->n = 0;
}

static void step_alloc(struct worker *w)
{
    for (w->n = 0; w->n < NOBJ; w->n++) {
        w->p[w->n] = worker_alloc_one(w);
        if (!w->p[w->n])
            break;
        memset(w->p[w->n], 0xbb, OBJ);
    }
}

static void step_free(struct worker *w)
{
    for (unsigned i = 0; i < w->n; i++)
        cistern_free(w->p[i]);
    w->n = 0;
}

/* The main thread holds `mine` (each filled with 0xaa); the worker's
   objects must all be new, and leave mine untouched. */
static void assert_no_alias(struct worker *w, void **mine, unsigned nmine)
{
    ck_assert_uint_eq(w->n, NOBJ);
    struct ar_set set;
    ar_set_init(&set, nmine + w->n);
    struct ar_block *blocks = malloc((nmine + w->n) * sizeof *blocks);
    for (unsigned i = 0; i < nmine; i++) {
        AR_CHECK(ar_set_add(&set, mine[i]));
        blocks[i] = (struct ar_block){ mine[i], cistern_usable_size(mine[i]) };
    }
    for (unsigned i = 0; i < w->n; i++) {
        AR_CHECK_MSG(ar_set_add(&set, w->p[i]), "%p handed out twice (stale cache)", w->p[i]);
        AR_CHECK(cistern_arena_of(w->p[i]) == w->arena);
        blocks[nmine + i] = (struct ar_block){ w->p[i], cistern_usable_size(w->p[i]) };
    }
    ar_assert_disjoint(blocks, nmine + w->n);
    for (unsigned i = 0; i < nmine; i++)
        for (unsigned k = 0; k < OBJ; k++)
            AR_CHECK(((unsigned char *)mine[i])[k] == 0xaa);
    free(blocks);
    ar_set_free(&set);
}

static void alloc_mine(cistern_arena_t *a, void **mine, unsigned n)
{
    for (unsigned i = 0; i < n; i++) {
        mine[i] = cistern_arena_malloc(a, OBJ);
        AR_CHECK(mine[i] != NULL);
        memset(mine[i], 0xaa, OBJ);
    }
}

/* Another thread's cache was full of the arena's objects when it was reset;
   the memory is handed out afresh, and that thread must not hand it out
   again from its cache. */
static void stale_after_reset(int via_thread_arena)
{
    static struct worker w;
    worker_start(&w, ar_create("epoch", NULL, 0, 0, 0), via_thread_arena);
    static void *mine[NOBJ];
    for (int round = 0; round < 3; round++) {
        worker_run(&w, step_fill_cache);
        cistern_arena_reset(w.arena);
        alloc_mine(w.arena, mine, NOBJ);
        worker_run(&w, step_alloc);
        assert_no_alias(&w, mine, NOBJ);
        worker_run(&w, step_free);
    }
    worker_stop(&w);
    ck_assert_int_eq(cistern_arena_destroy(w.arena), 0);
}

START_TEST(stale_cache_after_reset)
{
    stale_after_reset(0);
}
END_TEST

START_TEST(stale_thread_arena_cache_after_reset)
{
    stale_after_reset(1);
}
END_TEST

/* The same after a destroy: the next arena may get the same record and the
   same addresses, and a cache of the old one must not leak into it. */
static void step_leave_arena(struct worker *w)
{
    cistern_thread_set_arena(NULL);
    w->routed = NULL;
}

static void stale_after_destroy(int via_thread_arena)
{
    static struct worker w;
    worker_start(&w, NULL, via_thread_arena);
    static void *mine[NOBJ];
    for (int round = 0; round < 5; round++) {
        w.arena = ar_create("epoch-d", NULL, 0, 0, 0);
        worker_run(&w, step_fill_cache);
        worker_run(&w, step_leave_arena);
        ck_assert_int_eq(cistern_arena_destroy(w.arena), 0);
        w.arena = ar_create("epoch-d", NULL, 0, 0, 0);
        alloc_mine(w.arena, mine, NOBJ);
        worker_run(&w, step_alloc);
        assert_no_alias(&w, mine, NOBJ);
        worker_run(&w, step_free);
        worker_run(&w, step_leave_arena);
        ck_assert_int_eq(cistern_arena_destroy(w.arena), 0);
    }
    worker_stop(&w);
}

START_TEST(stale_cache_after_destroy)
{
    stale_after_destroy(0);
}
END_TEST

START_TEST(stale_thread_arena_cache_after_destroy)
{
    stale_after_destroy(1);
}
END_TEST

/* The thread that resets may itself hold a cache of the arena (filled on the
   fast path of plain malloc): after the reset every pointer is new. */
START_TEST(own_cache_after_reset)
{
    cistern_arena_t *a = ar_create("own", NULL, 0, 0, 0);
    ck_assert_ptr_eq(cistern_thread_set_arena(a), cistern_arena_default());
    static void *p[NOBJ];
    for (int round = 0; round < 3; round++) {
        for (unsigned i = 0; i < NOBJ; i++)
            p[i] = cistern_malloc(OBJ);
        for (unsigned i = 0; i < NOBJ; i += 2)
            cistern_free(p[i]);
        cistern_arena_reset(a);
        struct ar_set set;
        ar_set_init(&set, 2 * NOBJ);
        for (unsigned i = 0; i < 2 * NOBJ; i++) {
            void *q = cistern_malloc(OBJ);
            AR_CHECK(cistern_arena_of(q) == a);
            AR_CHECK_MSG(ar_set_add(&set, q), "%p handed out twice after reset", q);
        }
        ar_set_free(&set);
        cistern_arena_reset(a);
    }
    ck_assert_ptr_eq(cistern_thread_set_arena(NULL), a);
    ck_assert_int_eq(cistern_arena_destroy(a), 0);
}
END_TEST

/* The worker's cache of the arena is emptied in place by a reset; objects
   allocated after the reset (by the main thread) and freed by the worker
   hit that closed cache on the fast path.  Each must land in the worker's
   fresh cache or the central list, not vanish: the arena ends with nothing
   allocated and frees equal to allocations, and the worker's next
   allocations are counted exactly. */
static void step_free_mine(struct worker *w)
{
    for (unsigned i = 0; i < w->n; i++)
        cistern_free(w->p[i]);
}

static void step_take_back(struct worker *w)
{
    for (unsigned i = 0; i < w->n; i++)
        w->p[i] = worker_alloc_one(w);
}

static void free_into_closed_cache(int via_thread_arena)
{
    static struct worker w;
    worker_start(&w, ar_create("closed", NULL, 0, 0, 0), via_thread_arena);
    worker_run(&w, step_fill_cache);
    cistern_arena_reset(w.arena);
    const unsigned n = 64;
    for (unsigned i = 0; i < n; i++)
        AR_CHECK((w.p[i] = cistern_arena_malloc(w.arena, OBJ)) != NULL);
    w.n = n;
    worker_run(&w, step_free_mine);
    cistern_arena_stats_t st;
    ck_assert_int_eq(cistern_arena_get_stats(w.arena, &st), 0);
    ck_assert_uint_eq(st.allocated_bytes, 0);
    ck_assert_uint_eq(st.nmalloc, n);
    ck_assert_uint_eq(st.nfree, n);
    /* The worker allocates again: distinct objects of the arena, and the
       heap still counts what is live exactly. */
    worker_run(&w, step_take_back);
    struct ar_set set;
    ar_set_init(&set, n);
    for (unsigned i = 0; i < n; i++) {
        AR_CHECK_MSG(ar_set_add(&set, w.p[i]), "%p handed out twice", w.p[i]);
        AR_CHECK(cistern_arena_of(w.p[i]) == w.arena);
    }
    ar_set_free(&set);
    ck_assert_int_eq(cistern_arena_get_stats(w.arena, &st), 0);
    ck_assert_uint_eq(st.allocated_bytes, (size_t)n * cistern_usable_size(w.p[0]));
    worker_run(&w, step_free_mine);
    worker_run(&w, step_leave_arena);
    worker_stop(&w);
    ck_assert_int_eq(cistern_arena_get_stats(w.arena, &st), 0);
    ck_assert_uint_eq(st.allocated_bytes, 0);
    ck_assert_int_eq(cistern_check_heap(), 0);
    ck_assert_int_eq(cistern_arena_destroy(w.arena), 0);
}

START_TEST(free_into_cache_closed_by_reset)
{
    free_into_closed_cache(0);
}
END_TEST

START_TEST(free_into_thread_arena_cache_closed_by_reset)
{
    free_into_closed_cache(1);
}
END_TEST

static void step_free_first(struct worker *w)
{
    cistern_free(w->p[0]);
}

/* Without caching a free from another thread goes straight back to its span,
   and the next allocation takes it; with caching it waits in that thread's
   cache. */
START_TEST(no_tcache_means_no_caching)
{
    for (unsigned flags = 0; flags <= CISTERN_ARENA_NO_TCACHE; flags++) {
        static struct worker w;
        worker_start(&w, NULL, 0);
        cistern_arena_t *a = ar_create("nocache", NULL, 0, flags, 0);
        void *keep[8];
        for (int i = 0; i < 8; i++)
            keep[i] = cistern_arena_malloc(a, 200);
        w.p[0] = keep[0];
        worker_run(&w, step_free_first);
        void *again = cistern_arena_malloc(a, 200);
        if (flags & CISTERN_ARENA_NO_TCACHE)
            ck_assert_ptr_eq(again, keep[0]);
        else if (!AR_ASAN) /* no caches at all under the sanitizer */
            ck_assert_ptr_ne(again, keep[0]);
        for (int i = 1; i < 8; i++)
            cistern_free(keep[i]);
        ck_assert_uint_eq(ar_stats(a).allocated_bytes, cistern_usable_size(again));
        worker_stop(&w);
        ck_assert_int_eq(cistern_arena_destroy(a), 0);
    }
}
END_TEST

/* ---- cistern_thread_set_arena --------------------------------------------- */

struct route {
    cistern_arena_t *a;
    pthread_barrier_t *both;
    void *got[6];
    cistern_arena_t *prev, *back;
};

static void *routed_thread(void *arg)
{
    struct route *r = arg;
    r->prev = cistern_thread_set_arena(r->a);
    pthread_barrier_wait(r->both); /* the other thread allocates meanwhile */
    r->got[0] = cistern_malloc(100);
    r->got[1] = cistern_calloc(10, 10);
    r->got[2] = cistern_realloc(NULL, 5000);
    r->got[3] = cistern_aligned_alloc(4096, 100);
    if (cistern_posix_memalign(&r->got[4], 64, 1 * MiB))
        r->got[4] = NULL;
    r->got[5] = cistern_malloc(3 * MiB);
    pthread_barrier_wait(r->both);
    r->back = cistern_thread_set_arena(NULL);
    return NULL;
}

static void *plain_thread(void *arg)
{
    struct route *r = arg;
    pthread_barrier_wait(r->both);
    for (int i = 0; i < 6; i++)
        r->got[i] = cistern_malloc(i % 2 ? 100 : 3 * MiB);
    pthread_barrier_wait(r->both);
    r->back = cistern_thread_set_arena(NULL);
    return NULL;
}

START_TEST(thread_arena_routes_one_thread)
{
    cistern_arena_t *a = ar_create("routed", NULL, 0, 0, 0);
    cistern_arena_t *def = cistern_arena_default();
    pthread_barrier_t both;
    pthread_barrier_init(&both, NULL, 2);
    struct route r = { a, &both, { 0 }, NULL, NULL }, o = { NULL, &both, { 0 }, NULL, NULL };
    pthread_t t1 = ar_spawn(routed_thread, &r), t2 = ar_spawn(plain_thread, &o);
    ar_join(t1);
    ar_join(t2);
    pthread_barrier_destroy(&both);
    ck_assert_ptr_eq(r.prev, def);
    ck_assert_ptr_eq(r.back, a);
    ck_assert_ptr_eq(o.back, def);
    for (int i = 0; i < 6; i++) {
        ck_assert_msg(r.got[i] != NULL, "call %d failed", i);
        ck_assert_msg(cistern_arena_of(r.got[i]) == a, "call %d of the routed thread", i);
        ck_assert_ptr_eq(cistern_arena_of(o.got[i]), def);
    }
    ck_assert_uint_eq((uintptr_t)r.got[3] % 4096, 0);
    ck_assert_uint_eq((uintptr_t)r.got[4] % 64, 0);
    /* This thread is unaffected too. */
    void *mine = cistern_malloc(100);
    ck_assert_ptr_eq(cistern_arena_of(mine), def);
    cistern_free(mine);
    /* Frees from here (another thread, another current arena) go home. */
    for (int i = 0; i < 6; i++) {
        cistern_free(r.got[i]);
        cistern_free(o.got[i]);
    }
    ck_assert_uint_eq(ar_stats(a).allocated_bytes, 0);
    ck_assert_int_eq(cistern_arena_destroy(a), 0);
}
END_TEST

START_TEST(thread_arena_switches)
{
    cistern_arena_t *def = cistern_arena_default();
    cistern_arena_t *a = ar_create("sw-a", NULL, 0, 0, 0);
    cistern_arena_t *b = ar_create("sw-b", NULL, 0, CISTERN_ARENA_NO_TCACHE, 0);
    ck_assert_ptr_eq(cistern_thread_set_arena(a), def);
    void *pa = cistern_malloc(64);
    ck_assert_ptr_eq(cistern_thread_set_arena(b), a);
    void *pb = cistern_malloc(64);
    ck_assert_ptr_eq(cistern_thread_set_arena(def), b); /* the default by name */
    void *pd = cistern_malloc(64);
    ck_assert_ptr_eq(cistern_thread_set_arena(NULL), def);
    ck_assert_ptr_eq(cistern_arena_of(pa), a);
    ck_assert_ptr_eq(cistern_arena_of(pb), b);
    ck_assert_ptr_eq(cistern_arena_of(pd), def);
    /* Realloc keeps the block's arena, not the thread's. */
    cistern_thread_set_arena(b);
    pa = cistern_realloc(pa, 5000);
    ck_assert_ptr_eq(cistern_arena_of(pa), a);
    cistern_thread_set_arena(NULL);
    cistern_free(pa);
    cistern_free(pb);
    cistern_free(pd);
    ck_assert_int_eq(cistern_arena_destroy(a), 0);
    ck_assert_int_eq(cistern_arena_destroy(b), 0);
}
END_TEST

static Suite *make_suite(void)
{
    Suite *s = suite_create("arena_tcache");
    TCase *tc = tcase_create("epochs");
    tcase_add_checked_fixture(tc, ar_no_release_thread, NULL);
    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, stale_cache_after_reset);
    tcase_add_test(tc, stale_thread_arena_cache_after_reset);
    tcase_add_test(tc, stale_cache_after_destroy);
    tcase_add_test(tc, stale_thread_arena_cache_after_destroy);
    tcase_add_test(tc, own_cache_after_reset);
    tcase_add_test(tc, free_into_cache_closed_by_reset);
    tcase_add_test(tc, free_into_thread_arena_cache_closed_by_reset);
    tcase_add_test(tc, no_tcache_means_no_caching);
    suite_add_tcase(s, tc);
    TCase *rt = tcase_create("routing");
    tcase_add_checked_fixture(rt, ar_no_release_thread, NULL);
    tcase_set_timeout(rt, 30);
    tcase_add_test(rt, thread_arena_routes_one_thread);
    tcase_add_test(rt, thread_arena_switches);
    suite_add_tcase(s, rt);
    return s;
}

CS_TEST_MAIN(make_suite)
