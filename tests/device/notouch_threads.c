/*
 * notouch_threads.c - several threads allocate every size class (and large
 * blocks) from one NOTOUCH arena over a PROT_NONE range and free each
 * other's blocks; the arena is then reset while the threads' caches still
 * hold its objects, and must never hand one of those out again.  Nothing
 * may touch the range (a SIGSEGV otherwise), and the walk must agree with
 * what the threads hold.
 */
#include "devutil.h"

#include <pthread.h>

#define NT 4
/* Rounds x blocks per round: over a thousand allocations of every class.
   A 32-bit address space (cross runs under qemu) gets a smaller range. */
#if UINTPTR_MAX > 0xffffffffu
#define LEN (1024 * MiB)
#define ROUNDS 60
#define PER 512
#else
#define LEN (320 * MiB)
#define ROUNDS 240
#define PER 128
#endif

static struct {
    cistern_arena_t *a;
    char *base;
    size_t sizes[DV_NCLASSES];
    unsigned nc;
    pthread_barrier_t bar;
    void *slots[NT][PER];
    uint64_t allocs_per_class[NT][DV_NCLASSES];
} g;

static void sync_all(void)
{
    int rc = pthread_barrier_wait(&g.bar);
    ck_assert(rc == 0 || rc == PTHREAD_BARRIER_SERIAL_THREAD);
}

/* Odd threads make the arena their own and use malloc's fast path; even
   threads name the arena on every call. */
static void *alloc_one(int id, uint64_t *rng)
{
    uint32_t r = su_rand(rng);
    size_t n;
    if (r % 32 == 0) {
        n = DV_SMALL_MAX + 1 + su_rand(rng) % (2 * MiB);
    } else {
        unsigned c = su_rand(rng) % g.nc;
        n = g.sizes[c] - (c && r % 2 ? su_rand(rng) % (g.sizes[c] - g.sizes[c - 1]) : 0);
        g.allocs_per_class[id][c]++;
    }
    void *p = id & 1 ? cistern_malloc(n) : cistern_arena_malloc(g.a, n);
    ck_assert_msg(p != NULL, "thread %d: malloc(%zu): %s", id, n, strerror(errno));
    ck_assert(su_inside(p, n, g.base, LEN));
    return p;
}

static void *worker(void *arg)
{
    int id = (int)(intptr_t)arg;
    uint64_t rng = 0x9e3779b97f4a7c15ull * (uint64_t)(id + 1);
    if (id & 1)
        cistern_thread_set_arena(g.a);
    for (int r = 0; r < ROUNDS; r++) {
        for (int k = 0; k < PER; k++)
            g.slots[id][k] = alloc_one(id, &rng);
        sync_all();
        /* Every block is freed by the next thread, not the one that made it. */
        for (int k = 0; k < PER; k++)
            cistern_free(g.slots[(id + 1) % NT][k]);
        sync_all();
    }
    /* The caches now hold objects of the arena: main resets it under them. */
    for (int k = 0; k < PER; k++)
        g.slots[id][k] = alloc_one(id, &rng);
    sync_all(); /* main walks, then resets */
    sync_all();
    for (int k = 0; k < PER; k++)
        g.slots[id][k] = alloc_one(id, &rng);
    sync_all(); /* main walks: only these blocks are live, none handed out twice */
    sync_all();
    for (int k = 0; k < PER; k++)
        cistern_free(g.slots[(id + 1) % NT][k]);
    return NULL;
}

struct tally {
    size_t n, cap;
    struct dv_block *b;
};

static int collect(void *p, size_t usable, void *ctx)
{
    struct tally *t = ctx;
    ck_assert_uint_lt(t->n, t->cap);
    t->b[t->n].p = (uintptr_t)p;
    t->b[t->n++].len = usable;
    return 0;
}

/* The walk reports exactly the blocks the threads hold, all disjoint. */
static void expect_live_exactly_slots(void)
{
    struct tally t = { 0, NT * PER + 1, calloc(NT * PER + 1, sizeof(struct dv_block)) };
    ck_assert_ptr_nonnull(t.b);
    ck_assert_int_eq(cistern_arena_walk(g.a, collect, &t), 0);
    ck_assert_uint_eq(t.n, NT * PER);
    ck_assert_uint_eq(dv_overlap(t.b, t.n), 0);
    for (int i = 0; i < NT; i++)
        for (int k = 0; k < PER; k++) {
            struct dv_block key = { (uintptr_t)g.slots[i][k], 0 };
            struct dv_block *hit = bsearch(&key, t.b, t.n, sizeof key, dv_block_cmp);
            ck_assert_msg(hit != NULL, "block %p of thread %d not in the walk", g.slots[i][k], i);
            ck_assert_uint_eq(hit->len, cistern_usable_size(g.slots[i][k]));
        }
    free(t.b);
}

START_TEST(threads_cross_free_reset)
{
    g.base = dv_map_none(LEN, 2 * MiB);
    cistern_sysalloc_t *pool;
    g.a = dv_notouch_arena("notouch-mt", g.base, LEN, &pool);
    g.nc = dv_class_sizes(g.a, g.sizes, DV_NCLASSES);
    ck_assert_uint_eq(g.nc, DV_NCLASSES);
    ck_assert_int_eq(pthread_barrier_init(&g.bar, NULL, NT + 1), 0);

    pthread_t th[NT];
    for (int i = 0; i < NT; i++)
        ck_assert_int_eq(pthread_create(&th[i], NULL, worker, (void *)(intptr_t)i), 0);
    for (int r = 0; r < ROUNDS; r++) {
        sync_all();
        sync_all();
    }
    sync_all();
    expect_live_exactly_slots();
    cistern_arena_reset(g.a);
    struct tally none = { 0, 1, calloc(1, sizeof(struct dv_block)) };
    ck_assert_int_eq(cistern_arena_walk(g.a, collect, &none), 0);
    ck_assert_uint_eq(none.n, 0);
    free(none.b);
    sync_all();
    sync_all();
    expect_live_exactly_slots();
    sync_all();
    for (int i = 0; i < NT; i++)
        ck_assert_int_eq(pthread_join(th[i], NULL), 0);

    /* Every class was used well over a thousand times. */
    for (unsigned c = 0; c < g.nc; c++) {
        uint64_t n = 0;
        for (int i = 0; i < NT; i++)
            n += g.allocs_per_class[i][c];
        ck_assert_msg(n >= 1000, "class %u (%zu B) allocated %llu times", c, g.sizes[c],
                      (unsigned long long)n);
    }
    struct tally t = { 0, 1, calloc(1, sizeof(struct dv_block)) };
    ck_assert_int_eq(cistern_arena_walk(g.a, collect, &t), 0);
    ck_assert_uint_eq(t.n, 0);
    free(t.b);
    ck_assert_int_eq(cistern_check_heap(), 0);
    cistern_release_free_memory();
    ck_assert_int_eq(cistern_arena_destroy(g.a), 0);
    ck_assert_int_eq(cistern_sysalloc_release(pool), 0);
    ck_assert_uint_eq(su_resident(g.base, LEN), 0);
    pthread_barrier_destroy(&g.bar);
    munmap(g.base, LEN);
}
END_TEST

/* Threads that exit with blocks of the arena in their caches: the caches
   go back at thread exit, then destroy and release succeed. */
static void *alloc_free_exit(void *arg)
{
    cistern_arena_t *a = arg;
    void *p[256];
    for (int k = 0; k < 256; k++) {
        p[k] = cistern_arena_malloc(a, (size_t)(k % 97) * 16 + 8);
        ck_assert_ptr_nonnull(p[k]);
    }
    for (int k = 0; k < 256; k++)
        cistern_free(p[k]);
    return NULL;
}

START_TEST(threads_exit_with_cached_blocks)
{
    char *base = dv_map_none(64 * MiB, 2 * MiB);
    cistern_sysalloc_t *pool;
    cistern_arena_t *a = dv_notouch_arena("exit", base, 64 * MiB, &pool);
    for (int r = 0; r < 8; r++) {
        pthread_t th[NT];
        for (int i = 0; i < NT; i++)
            ck_assert_int_eq(pthread_create(&th[i], NULL, alloc_free_exit, a), 0);
        for (int i = 0; i < NT; i++)
            ck_assert_int_eq(pthread_join(th[i], NULL), 0);
    }
    ck_assert_int_eq(cistern_arena_destroy(a), 0);
    ck_assert_int_eq(cistern_sysalloc_release(pool), 0);
    ck_assert_uint_eq(su_resident(base, 64 * MiB), 0);
    munmap(base, 64 * MiB);
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("notouch_threads");
    TCase *tc = tcase_create("threads");
    tcase_set_timeout(tc, 240);
    tcase_add_test(tc, threads_cross_free_reset);
    tcase_add_test(tc, threads_exit_with_cached_blocks);
    suite_add_tcase(s, tc);
    return s;
}

CS_TEST_MAIN(suite)
