/*
 * threads.c - one arena, several threads: frees from threads that did not
 * allocate go back to the owning arena; threads allocating together, a
 * reset while they wait, and allocating again must never produce two live
 * blocks that share memory.  Also arenas created and destroyed by several
 * threads at once, and resets racing the library's own release thread.
 */
#include "arutil.h"

#define NTHREADS 4
#define PER_THREAD 20000

struct job {
    cistern_arena_t *a;
    pthread_barrier_t *phase;   /* NULL: run once and return */
    int id;
    void **p;
    size_t *len;
    unsigned n;
    int failed;
};

static size_t job_size(uint64_t *rng)
{
    uint32_t r = ar_rand(rng);
    return r % 500 == 0 ? 256 * KiB + r % (512 * KiB) : 1 + r % 1500;
}

/* Allocate PER_THREAD blocks, tag each with who and which, free a third. */
static void job_alloc(struct job *j, uint64_t seed)
{
    uint64_t rng = seed;
    j->n = 0;
    for (unsigned i = 0; i < PER_THREAD; i++) {
        size_t n = job_size(&rng);
        void *p = cistern_arena_malloc(j->a, n);
        if (!p) {
            j->failed = 1;
            return;
        }
        test_fill(p, n < 256 ? n : 256, (uint32_t)(j->id * PER_THREAD + i));
        j->p[j->n] = p;
        j->len[j->n++] = n;
        if (i % 3 == 2) { /* a free that fills this thread's cache */
            j->n--;
            cistern_free(j->p[j->n]);
        }
    }
}

static void *job_thread(void *arg)
{
    struct job *j = arg;
    for (int round = 0;; round++) {
        job_alloc(j, (uint64_t)(j->id * 1000 + round));
        if (!j->phase)
            return NULL;
        pthread_barrier_wait(j->phase); /* allocated */
        pthread_barrier_wait(j->phase); /* main checked and reset (or said stop) */
        if (!j->a)
            return NULL;
    }
}

/* Every live block unique, disjoint, and still holding its tag. */
static void check_jobs(struct job *jobs, int n)
{
    size_t total = 0;
    for (int t = 0; t < n; t++) {
        ck_assert_msg(!jobs[t].failed, "thread %d: allocation failed", t);
        total += jobs[t].n;
    }
    struct ar_set set;
    ar_set_init(&set, total);
    struct ar_block *b = malloc(total * sizeof *b);
    size_t k = 0;
    for (int t = 0; t < n; t++)
        for (unsigned i = 0; i < jobs[t].n; i++) {
            void *p = jobs[t].p[i];
            AR_CHECK_MSG(ar_set_add(&set, p), "%p is live twice", p);
            AR_CHECK(cistern_arena_of(p) == jobs[t].a);
            b[k++] = (struct ar_block){ p, cistern_usable_size(p) };
        }
    ar_assert_disjoint(b, k);
    free(b);
    ar_set_free(&set);
    for (int t = 0; t < n; t++)
        for (unsigned i = 0; i < jobs[t].n; i++)
            AR_CHECK(cistern_usable_size(jobs[t].p[i]) >= jobs[t].len[i]);
}

/* Each block still holds the tag its thread wrote (sizes replayed from the
   thread's seed). */
static void check_tags(struct job *j, uint64_t seed)
{
    uint64_t rng = seed;
    unsigned live = 0;
    for (unsigned i = 0; i < PER_THREAD; i++) {
        size_t n = job_size(&rng);
        if (i % 3 == 2)
            continue;
        AR_CHECK(test_check(j->p[live], n < 256 ? n : 256, (uint32_t)(j->id * PER_THREAD + i)));
        live++;
    }
}

static void jobs_init(struct job *jobs, cistern_arena_t *a, pthread_barrier_t *phase)
{
    for (int t = 0; t < NTHREADS; t++) {
        jobs[t] = (struct job){ a, phase, t, malloc(PER_THREAD * sizeof(void *)),
                                malloc(PER_THREAD * sizeof(size_t)), 0, 0 };
        ck_assert_ptr_nonnull(jobs[t].p);
    }
}

static void jobs_fini(struct job *jobs)
{
    for (int t = 0; t < NTHREADS; t++) {
        free(jobs[t].p);
        free(jobs[t].len);
    }
}

/* Threads that stay alive (their caches full of the arena's objects) wait
   while the arena is reset, then allocate again. */
START_TEST(reset_between_rounds_of_live_threads)
{
    cistern_arena_t *a = ar_create("shared", NULL, 0, 0, 0);
    pthread_barrier_t phase;
    pthread_barrier_init(&phase, NULL, NTHREADS + 1);
    struct job jobs[NTHREADS];
    jobs_init(jobs, a, &phase);
    pthread_t t[NTHREADS];
    for (int i = 0; i < NTHREADS; i++)
        t[i] = ar_spawn(job_thread, &jobs[i]);
    for (int round = 0; round < 4; round++) {
        pthread_barrier_wait(&phase);
        check_jobs(jobs, NTHREADS);
        for (int i = 0; i < NTHREADS; i++)
            check_tags(&jobs[i], (uint64_t)(i * 1000 + round));
        cistern_arena_reset(a);
        ck_assert_uint_eq(ar_stats(a).allocated_bytes, 0);
        if (round == 3)
            for (int i = 0; i < NTHREADS; i++)
                jobs[i].a = NULL;
        pthread_barrier_wait(&phase);
    }
    for (int i = 0; i < NTHREADS; i++)
        ar_join(t[i]);
    pthread_barrier_destroy(&phase);
    jobs_fini(jobs);
    ck_assert_int_eq(cistern_check_heap(), 0);
    ck_assert_int_eq(cistern_arena_destroy(a), 0);
}
END_TEST

/* Threads allocate, are joined, the arena is reset, and new threads
   allocate from it again. */
START_TEST(reset_after_join)
{
    cistern_arena_t *a = ar_create("joined", NULL, 0, 0, 0);
    struct job jobs[NTHREADS];
    jobs_init(jobs, a, NULL);
    for (int round = 0; round < 3; round++) {
        pthread_t t[NTHREADS];
        for (int i = 0; i < NTHREADS; i++)
            t[i] = ar_spawn(job_thread, &jobs[i]);
        for (int i = 0; i < NTHREADS; i++)
            ar_join(t[i]);
        check_jobs(jobs, NTHREADS);
        for (int i = 0; i < NTHREADS; i++)
            check_tags(&jobs[i], (uint64_t)(i * 1000));
        cistern_arena_stats_t st = ar_stats(a);
        size_t live = 0;
        for (int i = 0; i < NTHREADS; i++)
            for (unsigned k = 0; k < jobs[i].n; k++)
                live += cistern_usable_size(jobs[i].p[k]);
        ck_assert_uint_eq(st.allocated_bytes, live);
        cistern_arena_reset(a);
        st = ar_stats(a);
        ck_assert_uint_eq(st.allocated_bytes, 0);
        ck_assert_uint_eq(st.active_bytes, 0);
    }
    jobs_fini(jobs);
    ck_assert_int_eq(cistern_arena_destroy(a), 0);
}
END_TEST

/* ---- frees from other threads ----------------------------------------------- */

struct freer {
    void **p;
    size_t from, to;
    pthread_barrier_t *hold; /* stay alive (cache full) until released */
};

static void *freer_thread(void *arg)
{
    struct freer *f = arg;
    for (size_t i = f->from; i < f->to; i++)
        cistern_free(f->p[i]);
    if (f->hold) {
        pthread_barrier_wait(f->hold);
        pthread_barrier_wait(f->hold);
    }
    return NULL;
}

START_TEST(cross_thread_frees_go_home)
{
    /* About 46 MB: below the heap's 64 MiB cap on dirty pages, which would
       otherwise (rightly) trim what the first round freed once it has sat
       for 50 ms, as it does on a loaded machine. */
    enum { N = 30000 };
    /* The check below compares committed bytes across two rounds: decay on
       the free path must not hand pages back in between, however slowly a
       loaded machine runs the freeing threads. */
    ck_assert_int_eq(cistern_option_set("decay_ms", "3600000"), 0);
    for (unsigned flags = 0; flags <= CISTERN_ARENA_NO_TCACHE; flags++) {
        cistern_arena_t *a = ar_create("remote", NULL, 0, flags, 0);
        void **p = malloc(N * sizeof *p);
        uint64_t rng = 3;
        for (size_t i = 0; i < N; i++) {
            p[i] = cistern_arena_malloc(a, job_size(&rng));
            AR_CHECK(p[i] != NULL);
        }
        pthread_barrier_t hold;
        pthread_barrier_init(&hold, NULL, NTHREADS + 1);
        struct freer f[NTHREADS];
        pthread_t t[NTHREADS];
        for (int i = 0; i < NTHREADS; i++) {
            f[i] = (struct freer){ p, (size_t)i * N / NTHREADS, (size_t)(i + 1) * N / NTHREADS, &hold };
            t[i] = ar_spawn(freer_thread, &f[i]);
        }
        pthread_barrier_wait(&hold);
        /* The freeing threads are alive, their caches hold objects of a. */
        ck_assert_uint_eq(ar_stats(a).allocated_bytes, 0);
        struct ar_seen w = ar_walk(a);
        ck_assert_uint_eq(w.n, 0);
        free(w.b);
        pthread_barrier_wait(&hold);
        for (int i = 0; i < NTHREADS; i++)
            ar_join(t[i]);
        pthread_barrier_destroy(&hold);
        cistern_arena_stats_t st = ar_stats(a);
        ck_assert_uint_eq(st.allocated_bytes, 0);
        ck_assert_uint_eq(st.nmalloc, N);
        ck_assert_uint_eq(st.nfree, N);
        ck_assert_int_eq(cistern_check_heap(), 0);
        /* What came back is served again: a second round needs no more pages. */
        size_t committed = st.committed_bytes;
        rng = 3;
        for (size_t i = 0; i < N; i++)
            p[i] = cistern_arena_malloc(a, job_size(&rng));
        ck_assert_uint_le(ar_stats(a).committed_bytes, committed + 8 * MiB);
        for (size_t i = 0; i < N; i++)
            cistern_free(p[i]);
        free(p);
        ck_assert_int_eq(cistern_arena_destroy(a), 0);
    }
    ck_assert_int_eq(cistern_option_set("decay_ms", "1000"), 0);
}
END_TEST

/* ---- arenas that come and go in several threads at once -------------------- */

struct churn {
    int id;
    int errors;
};

/* Each thread creates, uses and destroys arenas of its own, so records,
   ids and regions are reused across threads all the time. */
static void *arena_churn(void *arg)
{
    struct churn *c = arg;
    void *p[64];
    for (int it = 0; it < 2000; it++) {
        cistern_arena_t *a = cistern_arena_create(NULL);
        if (!a) {
            c->errors++;
            return NULL;
        }
        for (int i = 0; i < 64; i++) {
            size_t n = 16 + (size_t)(i * 37 + it) % 2000;
            p[i] = cistern_arena_malloc(a, n);
            if (!p[i] || cistern_arena_of(p[i]) != a) {
                c->errors++;
                return NULL;
            }
            memset(p[i], c->id, 16);
        }
        for (int i = 0; i < 64; i += 2)
            cistern_free(p[i]);
        if (it % 3 == 0) {
            cistern_arena_reset(a);
        } else {
            for (int i = 1; i < 64; i += 2)
                c->errors += *(unsigned char *)p[i] != (unsigned char)c->id;
        }
        if (it % 7 == 0) {
            cistern_thread_set_arena(a);
            void *q = cistern_malloc(100);
            c->errors += cistern_arena_of(q) != a;
            cistern_thread_set_arena(NULL);
        }
        c->errors += cistern_arena_destroy(a) != 0;
    }
    return NULL;
}

START_TEST(arenas_come_and_go_in_many_threads)
{
    struct churn c[NTHREADS];
    pthread_t t[NTHREADS];
    for (int i = 0; i < NTHREADS; i++) {
        c[i] = (struct churn){ i + 1, 0 };
        t[i] = ar_spawn(arena_churn, &c[i]);
    }
    for (int i = 0; i < NTHREADS; i++) {
        ar_join(t[i]);
        ck_assert_msg(c[i].errors == 0, "thread %d: %d errors", i, c[i].errors);
    }
    ck_assert_int_eq(cistern_check_heap(), 0);
}
END_TEST

/* The library's own release thread drains transfer caches on its schedule;
   the program's reset may come at any moment of that (the contract only
   keeps the program's threads out).  Transfer caches are kept full of
   objects whose spans a drain empties, and the arena is reset over and
   over while the thread wakes every 50 ms. */
START_TEST(reset_races_the_release_thread)
{
    ar_busy_release_thread();
    ck_assert_int_eq(cistern_option_set("reset_keep_bytes", "1G"), 0);
    cistern_arena_t *a = ar_create("raced", NULL, 0, 0, 0);
    static void *p[2048];
    double t0 = ar_now();
    long rounds = 0;
    while (ar_now() - t0 < 4.0) {
        unsigned n = 0;
        for (size_t size = 4 * KiB; size <= 256 * KiB; size += size / 8)
            for (int i = 0; i < 24; i++) {
                p[n] = cistern_arena_malloc(a, size);
                AR_CHECK(p[n] != NULL);
                n++;
            }
        /* A span handed back twice shows in the page counters at once. */
        size_t active = ar_stats(a).active_bytes;
        AR_CHECK_MSG(active >= (size_t)n * 4 * KiB && active < 1024 * MiB,
                     "round %ld: %zu bytes active", rounds, active);
        for (unsigned i = 0; i < n; i++)
            cistern_free(p[i]);
        cistern_arena_reset(a);
        if (++rounds % 64 == 0)
            AR_CHECK_MSG(cistern_check_heap() == 0, "heap inconsistent after %ld resets", rounds);
    }
    printf("# %ld fill/free/reset rounds against the release thread\n", rounds);
    ck_assert_int_eq(cistern_check_heap(), 0);
    ck_assert_uint_eq(ar_stats(a).active_bytes, 0);
    ck_assert_int_eq(cistern_arena_destroy(a), 0);
}
END_TEST

static Suite *make_suite(void)
{
    Suite *s = suite_create("arena_threads");
    TCase *tc = tcase_create("threads");
    tcase_add_checked_fixture(tc, ar_no_release_thread, NULL);
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, reset_between_rounds_of_live_threads);
    tcase_add_test(tc, reset_after_join);
    tcase_add_test(tc, cross_thread_frees_go_home);
    tcase_add_test(tc, arenas_come_and_go_in_many_threads);
    suite_add_tcase(s, tc);
    TCase *bg = tcase_create("release_thread");
    tcase_set_timeout(bg, 60);
    tcase_add_test(bg, reset_races_the_release_thread);
    suite_add_tcase(s, bg);
    return s;
}

CS_TEST_MAIN(make_suite)
