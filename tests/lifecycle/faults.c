/*
 * faults.c - sources that fail at random, under several arenas and several
 * threads at once.  Each source refuses a seeded 30 % of its calls.  Every
 * failed allocation must be NULL + ENOMEM with the old block intact (for
 * realloc); no block may be lost or handed out twice (contents are checked
 * at both ends); the heap must check clean after every phase; and at the
 * end every region a source handed out has come back to it.
 *
 * Phases: threads run mixes over all arenas (some through the thread's
 * routed arena and plain cistern_malloc); between phases, blocks change
 * hands, so the next phase frees other threads' blocks; one arena is reset
 * midway.
 */
#include "lcutil.h"

#include <cistern.h>
#include <pthread.h>
#include <sys/mman.h>

#define NARENAS 4
#define NSOURCES (NARENAS + 1) /* the last arena chains two sources */
#define NTHREADS 4
#define PHASES 4
#define OPS 3000
#define SLOTS 128
#define FAIL_PERCENT 30
/* Regions at least this big, like a real source's chunk: a refusal then
   hits small and large requests alike. */
#define CHUNK (512 * KiB)

struct flaky {
    pthread_mutex_t mu;
    uint64_t rng;
    unsigned long calls, refused, regions, unmaps, bad_unmaps;
    size_t live_bytes;
    int destroyed;
};

static uint64_t next_rand(uint64_t *s)
{
    *s = *s * 6364136223846793005ull + 1442695040888963407ull;
    return *s >> 33;
}

static void *flaky_alloc(void *ctx, size_t size, size_t align, size_t *actual)
{
    struct flaky *f = ctx;
    pthread_mutex_lock(&f->mu);
    f->calls++;
    int refuse = next_rand(&f->rng) % 100 < FAIL_PERCENT;
    f->refused += refuse;
    pthread_mutex_unlock(&f->mu);
    if (refuse)
        return NULL;
    size_t give;
    void *start = test_map_region(size, align, CHUNK, &give);
    if (!start)
        return NULL;
    pthread_mutex_lock(&f->mu);
    f->regions++;
    f->live_bytes += give;
    pthread_mutex_unlock(&f->mu);
    *actual = give;
    return start;
}

static int flaky_decommit(void *ctx, void *p, size_t len)
{
    return madvise(p, len, MADV_DONTNEED) == 0 ? 0 : errno;
}

static int flaky_unmap(void *ctx, void *p, size_t len)
{
    struct flaky *f = ctx;
    pthread_mutex_lock(&f->mu);
    int bad = len > f->live_bytes;
    if (bad) {
        f->bad_unmaps++;
    } else {
        f->unmaps++;
        f->live_bytes -= len;
    }
    pthread_mutex_unlock(&f->mu);
    if (bad)
        return EINVAL;
    return munmap(p, len) == 0 ? 0 : errno;
}

static void flaky_destroy(void *ctx)
{
    ((struct flaky *)ctx)->destroyed++;
}

/* ---- the mix ------------------------------------------------------------------------ */

struct slot {
    unsigned char *p;
    size_t n;
    uint32_t seed;
    int arena; /* index into arenas[] */
};

static struct flaky flaky[NSOURCES];
static cistern_sysalloc_t *sources[NSOURCES];
static cistern_arena_t *arenas[NARENAS];
/* slots[t] belongs to thread t during a phase; between phases the rows
   rotate, so blocks are freed by threads that did not allocate them. */
static struct slot slots[NTHREADS][SLOTS];

struct tally {
    unsigned long attempts, failures, wrong_errno, corrupt, wrong_arena;
};

static size_t pick_size(uint64_t *rng)
{
    uint32_t kind = next_rand(rng);
    return test_mixed_size(kind, next_rand(rng));
}

static void stamp(struct slot *s)
{
    test_fill_ends(s->p, s->n, s->seed);
}

static int stamped(const struct slot *s)
{
    return test_check_ends(s->p, s->n, s->seed);
}

static void drop(struct slot *s, struct tally *t)
{
    if (!s->p)
        return;
    t->corrupt += !stamped(s);
    cistern_free(s->p);
    s->p = NULL;
}

struct worker {
    int row;
    uint64_t seed;
    struct tally t;
};

static void *worker_main(void *arg)
{
    struct worker *w = arg;
    struct slot *row = slots[w->row];
    uint64_t rng = w->seed;
    int routed = (int)(next_rand(&rng) % NARENAS);
    cistern_thread_set_arena(arenas[routed]);
    for (unsigned op = 0; op < OPS; op++) {
        struct slot *s = &row[next_rand(&rng) % SLOTS];
        unsigned kind = (unsigned)(next_rand(&rng) % 10);
        if (s->p && kind < 3) {
            drop(s, &w->t);
            continue;
        }
        size_t n = pick_size(&rng);
        int ai = (int)(next_rand(&rng) % NARENAS);
        void *p;
        errno = 0;
        w->t.attempts++;
        if (s->p && kind < 5) {
            w->t.corrupt += !stamped(s);
            p = cistern_realloc(s->p, n);
            if (!p) {
                w->t.failures++;
                w->t.wrong_errno += errno != ENOMEM;
                w->t.corrupt += !stamped(s); /* the old block is untouched */
                continue;
            }
            size_t kept = test_end_len(s->n) < n ? test_end_len(s->n) : n;
            w->t.corrupt += !test_check(p, kept, s->seed);
            ai = s->arena; /* realloc keeps the block's arena */
        } else {
            drop(s, &w->t);
            if (kind == 5)
                p = cistern_arena_calloc(arenas[ai], 1, n);
            else if (kind == 6)
                p = cistern_arena_aligned_alloc(arenas[ai], (size_t)1 << (4 + next_rand(&rng) % 13),
                                                n);
            else if (kind == 7)
                p = cistern_malloc(n), ai = routed;
            else
                p = cistern_arena_malloc(arenas[ai], n);
            if (!p) {
                w->t.failures++;
                w->t.wrong_errno += errno != ENOMEM;
                continue;
            }
        }
        w->t.wrong_arena += cistern_arena_of(p) != arenas[ai];
        s->p = p;
        s->n = n;
        s->arena = ai;
        s->seed = (uint32_t)next_rand(&rng);
        stamp(s);
    }
    cistern_thread_set_arena(NULL);
    return NULL;
}

/* Between phases, with no thread running: the heap checks clean, every
   kept block still holds its contents, and each source counts as reserved
   exactly what it handed out and did not get back. */
static void check_quiet(unsigned phase)
{
    ck_assert_msg(cistern_check_heap() == 0, "phase %u: the heap check failed", phase);
    for (int t = 0; t < NTHREADS; t++)
        for (int i = 0; i < SLOTS; i++)
            if (slots[t][i].p)
                ck_assert_msg(stamped(&slots[t][i]), "phase %u: a kept block changed", phase);
    for (int k = 0; k < NSOURCES; k++) {
        cistern_sysalloc_stats_t st;
        ck_assert_int_eq(cistern_sysalloc_get_stats(sources[k], &st), 0);
        ck_assert_uint_eq(st.reserved_bytes, flaky[k].live_bytes);
        ck_assert_uint_eq(st.failures, flaky[k].refused);
    }
}

START_TEST(random_faults_many_arenas_threads)
{
    /* Free regions go back to their sources as soon as they are idle, so
       the sources are asked again and again (and refuse often). */
    ck_assert_int_eq(cistern_option_set("decay_ms", "0"), 0);
    /* The quiet checks compare what the sources hold with what cistern
       says it reserved: no release thread may unmap in between (the free
       path releases what the decay allows by itself). */
    ck_assert_int_eq(cistern_option_set("background_thread", "0"), 0);
    cistern_sysalloc_ops_t ops = { 0 };
    ops.alloc = flaky_alloc;
    ops.decommit = flaky_decommit;
    ops.unmap = flaky_unmap;
    ops.destroy = flaky_destroy;
    for (int k = 0; k < NSOURCES; k++) {
        pthread_mutex_init(&flaky[k].mu, NULL);
        flaky[k].rng = 0x9e3779b97f4a7c15ull * (uint64_t)(k + 1);
        sources[k] = cistern_sysalloc_custom("flaky", &ops, &flaky[k], 0, 0);
        ck_assert_ptr_nonnull(sources[k]);
    }
    for (int a = 0; a < NARENAS; a++) {
        size_t n = a == NARENAS - 1 ? 2 : 1; /* the last one: two sources, in turn */
        cistern_arena_config_t cfg = { "flaky", &sources[a], n, 0, 0 };
        arenas[a] = cistern_arena_create(&cfg);
        ck_assert_ptr_nonnull(arenas[a]);
    }

    struct tally total = { 0 };
    for (unsigned phase = 0; phase < PHASES; phase++) {
        pthread_t tid[NTHREADS];
        struct worker w[NTHREADS];
        for (int t = 0; t < NTHREADS; t++) {
            w[t] = (struct worker){ (t + (int)phase) % NTHREADS, 0x2545f4914f6cdd1dull * (phase * 16 + t + 1),
                                    { 0 } };
            ck_assert_int_eq(pthread_create(&tid[t], NULL, worker_main, &w[t]), 0);
        }
        for (int t = 0; t < NTHREADS; t++) {
            pthread_join(tid[t], NULL);
            total.attempts += w[t].t.attempts;
            total.failures += w[t].t.failures;
            total.wrong_errno += w[t].t.wrong_errno;
            total.corrupt += w[t].t.corrupt;
            total.wrong_arena += w[t].t.wrong_arena;
        }
        ck_assert_msg(total.wrong_errno == 0, "%lu failures with an errno other than ENOMEM",
                      total.wrong_errno);
        ck_assert_msg(total.corrupt == 0, "%lu blocks lost their contents", total.corrupt);
        ck_assert_msg(total.wrong_arena == 0, "%lu blocks from the wrong arena",
                      total.wrong_arena);
        check_quiet(phase);
        cistern_release_free_memory();
        check_quiet(phase);
        if (phase == PHASES / 2) {
            /* Reset one arena: its blocks are gone at once. */
            cistern_arena_reset(arenas[1]);
            for (int t = 0; t < NTHREADS; t++)
                for (int i = 0; i < SLOTS; i++)
                    if (slots[t][i].p && slots[t][i].arena == 1)
                        slots[t][i].p = NULL;
            check_quiet(phase);
        }
    }

    struct tally end = { 0 };
    for (int t = 0; t < NTHREADS; t++)
        for (int i = 0; i < SLOTS; i++)
            drop(&slots[t][i], &end);
    ck_assert_uint_eq(end.corrupt, 0);
    ck_assert_int_eq(cistern_check_heap(), 0);
    for (int a = 0; a < NARENAS; a++)
        ck_assert_int_eq(cistern_arena_destroy(arenas[a]), 0);

    unsigned long calls = 0, refused = 0;
    for (int k = 0; k < NSOURCES; k++) {
        struct flaky *f = &flaky[k];
        calls += f->calls;
        refused += f->refused;
        ck_assert_uint_eq(f->bad_unmaps, 0);
        ck_assert_msg(f->unmaps == f->regions && f->live_bytes == 0,
                      "source %d: %lu regions handed out, %lu given back, %zu bytes kept", k,
                      f->regions, f->unmaps, f->live_bytes);
        ck_assert_int_eq(cistern_sysalloc_release(sources[k]), 0);
        ck_assert_int_eq(f->destroyed, 1);
    }
    ck_assert_int_eq(cistern_check_heap(), 0);

    printf("# faults injected: %lu of %lu source calls (%.0f %%); %lu of %lu allocations "
           "failed, all with ENOMEM\n",
           refused, calls, calls ? 100.0 * (double)refused / (double)calls : 0.0, total.failures,
           total.attempts);
    fflush(stdout);
    ck_assert_msg(refused > 0 && total.failures > 0, "no fault bit");
    ck_assert_uint_gt(total.attempts, total.failures);
}
END_TEST

static Suite *make_suite(void)
{
    Suite *s = suite_create("faults");
    TCase *tc = tcase_create("random");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, random_faults_many_arenas_threads);
    suite_add_tcase(s, tc);
    return s;
}

CS_TEST_MAIN(make_suite)
