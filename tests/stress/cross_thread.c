/*
 * cross_thread.c - threads allocate random sizes, fill each block with a
 * pattern tied to its address, and hand a share of the blocks to other
 * threads through locked queues; whoever frees a block checks its pattern
 * first.  A block handed out twice, damaged by the allocator's own
 * bookkeeping or freed into the wrong place shows up as a bad pattern, a
 * heap check failure, or counters that no longer balance.
 *
 * The work is a fixed number of operations per thread, not a duration, so
 * every run does the same amount of it.
 */
#include "stress.h"

#include <pthread.h>
#include <stdio.h>

#define NTHREADS 6
#define OPS (200000 / STRESS_SCALE)
#define SLOTS 256
#define QCAP 1024

struct block {
    void *p;
    size_t n;
    uint64_t seed;
};

struct inbox {
    pthread_mutex_t mu;
    struct block q[QCAP];
    unsigned head, len;
};

struct worker {
    int id;
    pthread_t tid;
    uint64_t rng;
    struct block live[SLOTS];
    /* Results, read by the main thread after join. */
    long long nalloc, nfree, nsent, nreceived;
    char error[200];
};

static struct inbox inboxes[NTHREADS];
static struct worker workers[NTHREADS];
static pthread_barrier_t all_sent;

static void note_error(struct worker *w, const char *what, const struct block *b)
{
    if (!w->error[0])
        snprintf(w->error, sizeof w->error, "thread %d: %s (block %p, %zu bytes)", w->id, what, b->p,
                 b->n);
}

static int allocate(struct worker *w, struct block *b)
{
    b->n = stress_size(&w->rng);
    b->seed = stress_rand(&w->rng);
    unsigned how = (unsigned)(stress_rand(&w->rng) % 16);
    if (how == 0) {
        b->p = T_CALLOC(1, b->n);
        if (b->p) {
            const unsigned char *c = b->p;
            for (size_t i = 0; i < b->n; i++)
                if (c[i]) {
                    note_error(w, "calloc block not zeroed", b);
                    break;
                }
        }
    } else if (how == 1) {
        b->p = T_ALIGNED_ALLOC(64, (b->n + 63) & ~(size_t)63);
        if (b->p && ((uintptr_t)b->p & 63))
            note_error(w, "aligned_alloc(64) misaligned", b);
    } else {
        b->p = T_MALLOC(b->n);
    }
    if (!b->p) {
        note_error(w, "allocation failed", b);
        return 0;
    }
    stress_fill(b->p, b->n, b->seed);
    w->nalloc++;
    return 1;
}

static void release(struct worker *w, struct block *b)
{
    if (!stress_check(b->p, b->n, b->p, b->seed))
        note_error(w, "pattern damaged before free", b);
    T_FREE(b->p);
    w->nfree++;
    b->p = NULL;
}

static void grow_or_shrink(struct worker *w, struct block *b)
{
    size_t n = stress_size(&w->rng);
    void *q = T_REALLOC(b->p, n);
    if (!q) {
        note_error(w, "realloc failed", b);
        return;
    }
    if (!stress_check(q, b->n < n ? b->n : n, b->p, b->seed))
        note_error(w, "realloc lost contents", b);
    b->p = q;
    b->n = n;
    stress_fill(q, n, b->seed);
}

/* Hand b to thread `to`; a full queue means we free it ourselves. */
static void hand_over(struct worker *w, int to, struct block *b)
{
    struct inbox *in = &inboxes[to];
    pthread_mutex_lock(&in->mu);
    int queued = in->len < QCAP;
    if (queued) {
        in->q[(in->head + in->len++) % QCAP] = *b;
        w->nsent++;
    }
    pthread_mutex_unlock(&in->mu);
    if (queued)
        b->p = NULL;
    else
        release(w, b);
}

static void drain(struct worker *w)
{
    struct inbox *in = &inboxes[w->id];
    struct block got[64];
    for (;;) {
        unsigned k = 0;
        pthread_mutex_lock(&in->mu);
        while (in->len && k < 64) {
            got[k++] = in->q[in->head];
            in->head = (in->head + 1) % QCAP;
            in->len--;
        }
        pthread_mutex_unlock(&in->mu);
        if (!k)
            return;
        for (unsigned i = 0; i < k; i++) {
            w->nreceived++;
            release(w, &got[i]); /* freed by a thread that did not allocate it */
        }
    }
}

static void *run(void *arg)
{
    struct worker *w = arg;
    for (int op = 0; op < OPS; op++) {
        struct block *b = &w->live[stress_rand(&w->rng) % SLOTS];
        unsigned r = (unsigned)(stress_rand(&w->rng) % 100);
        if (!b->p)
            allocate(w, b);
        else if (r < 35)
            release(w, b);
        else if (r < 70)
            hand_over(w, (w->id + 1 + (int)(stress_rand(&w->rng) % (NTHREADS - 1))) % NTHREADS, b);
        else if (r < 80)
            grow_or_shrink(w, b);
        else if (!stress_check(b->p, b->n, b->p, b->seed))
            note_error(w, "pattern damaged while live", b);
        if (op % 32 == 0)
            drain(w);
    }
    for (int i = 0; i < SLOTS; i++)
        if (w->live[i].p)
            release(w, &w->live[i]);
    /* Nothing is sent after this point: what is queued now is all there is. */
    pthread_barrier_wait(&all_sent);
    drain(w);
    return NULL;
}

START_TEST(cross_thread_frees)
{
    cistern_arena_stats_t before, after;
    stress_settle();
    ck_assert_int_eq(stress_stats(&before), 0);

    ck_assert_int_eq(pthread_barrier_init(&all_sent, NULL, NTHREADS), 0);
    for (int i = 0; i < NTHREADS; i++) {
        pthread_mutex_init(&inboxes[i].mu, NULL);
        workers[i].id = i;
        workers[i].rng = stress_mix(0x5eed0000u + (unsigned)i) | 1;
    }
    for (int i = 0; i < NTHREADS; i++)
        ck_assert_int_eq(pthread_create(&workers[i].tid, NULL, run, &workers[i]), 0);
    long long nalloc = 0, nfree = 0, nsent = 0, nreceived = 0;
    for (int i = 0; i < NTHREADS; i++) {
        ck_assert_int_eq(pthread_join(workers[i].tid, NULL), 0);
        ck_assert_msg(workers[i].error[0] == 0, "%s", workers[i].error);
        nalloc += workers[i].nalloc;
        nfree += workers[i].nfree;
        nsent += workers[i].nsent;
        nreceived += workers[i].nreceived;
    }
    pthread_barrier_destroy(&all_sent);
    for (int i = 0; i < NTHREADS; i++)
        ck_assert_uint_eq(inboxes[i].len, 0);
    ck_assert_int_eq(nalloc, nfree);
    ck_assert_int_eq(nsent, nreceived);
    ck_assert_msg(nsent > nalloc / 10, "only %lld of %lld blocks crossed threads", nsent, nalloc);

    ck_assert_int_eq(cistern_check_heap(), 0);
    ck_assert_int_eq(stress_stats(&after), 0);
    /* Every block went back.  With the drop-in, glibc's own thread set-up
       allocates a little through the same heap (kept for reuse), hence the
       slack. */
    long long live = stress_live_delta(&before, &after);
    ck_assert_msg(live >= 0 && live <= 8 * NTHREADS,
                  "%lld objects still counted live after %lld allocations and frees", live, nalloc);
    ck_assert_msg(after.allocated_bytes <= before.allocated_bytes + ((size_t)256 << 10),
                  "allocated_bytes %zu -> %zu after everything was freed", before.allocated_bytes,
                  after.allocated_bytes);
}
END_TEST

static Suite *stress_suite(void)
{
    Suite *s = suite_create("stress: cross-thread frees, " T_LIBNAME);
    TCase *tc = tcase_create("cross_thread");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, cross_thread_frees);
    suite_add_tcase(s, tc);
    return s;
}

CS_TEST_MAIN(stress_suite)
