/*
 * teardown_again.c - cistern_teardown() in a program linked with
 * libcistern_api gives back every mapping the library made, and the next
 * call starts afresh.  The workload is the unload test's plugin, compiled
 * in; a thread that lives across every teardown allocates in each round,
 * so a thread cache of a former life must be forgotten, never reused.
 */
#include "lcutil.h"
#include "plugin.h"

#include <cistern.h>
#include <pthread.h>
#include <sys/mman.h>

#define ROUNDS 100
#define WARMUP 10
#define MAPS_SLACK 4
#define RSS_SLACK_KIB 2048
#define POOL_LEN (32 * MiB)

/* The thread that outlives every teardown: it runs one round of
   allocations each time the main thread asks, and says when it is done. */
struct lodger {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    unsigned asked, done;
    int quit, failures;
};

static void *lodger_main(void *arg)
{
    struct lodger *l = arg;
    pthread_mutex_lock(&l->mu);
    for (;;) {
        while (l->done == l->asked && !l->quit)
            pthread_cond_wait(&l->cv, &l->mu);
        if (l->quit)
            break;
        pthread_mutex_unlock(&l->mu);
        void *v[64];
        int bad = 0;
        for (int i = 0; i < 64; i++) {
            v[i] = cistern_malloc((size_t)(i + 1) * 24);
            bad |= v[i] == NULL;
            if (v[i])
                memset(v[i], i, (size_t)(i + 1) * 24);
        }
        for (int i = 0; i < 64; i += 2)
            cistern_free(v[i]); /* the odd ones stay in the heap until teardown */
        pthread_mutex_lock(&l->mu);
        l->failures += bad;
        l->done++;
        pthread_cond_broadcast(&l->cv);
    }
    pthread_mutex_unlock(&l->mu);
    return NULL;
}

static void lodger_round(struct lodger *l)
{
    pthread_mutex_lock(&l->mu);
    l->asked++;
    pthread_cond_broadcast(&l->cv);
    while (l->done != l->asked)
        pthread_cond_wait(&l->cv, &l->mu);
    pthread_mutex_unlock(&l->mu);
}

START_TEST(teardown_then_work_again)
{
    size_t page = (size_t)sysconf(_SC_PAGESIZE);
    unsigned char *pool = mmap(NULL, POOL_LEN, PROT_READ | PROT_WRITE,
                               MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    ck_assert_ptr_ne(pool, MAP_FAILED);

    /* Nothing to give back yet: a no-op, twice. */
    cistern_teardown();
    cistern_teardown();

    struct lodger l = { PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, 0, 0, 0, 0 };
    pthread_t tid;
    ck_assert_int_eq(pthread_create(&tid, NULL, lodger_main, &l), 0);

    int maps_start = lc_maps_count(), maps_warm = 0;
    size_t rss_warm = 0;
    for (unsigned r = 0; r < ROUNDS; r++) {
        if (r == WARMUP) {
            maps_warm = lc_maps_count();
            rss_warm = lc_rss_kib();
        }
        struct lc_plugin_args args = { pool, POOL_LEN, 2, r, 0 };
        int line = lc_plugin_work(&args);
        ck_assert_msg(line == 0, "round %u: the check at plugin.c:%d failed (errno %d)", r, line,
                      args.errno_seen);
        lodger_round(&l);
        ck_assert_int_eq(cistern_check_heap(), 0);
        cistern_teardown();
        ck_assert_msg(lc_range_mapped_rw(pool, POOL_LEN), "round %u: the pool was unmapped", r);
        for (size_t off = 0; off < POOL_LEN; off += 8 * page)
            pool[off] = (unsigned char)r;
    }
    int maps_end = lc_maps_count();
    size_t rss_end = lc_rss_kib();

    /* Afresh: the first calls initialise a new heap. */
    void *p = cistern_malloc(100);
    ck_assert_ptr_nonnull(p);
    ck_assert_ptr_eq(cistern_arena_of(p), cistern_arena_default());
    cistern_arena_stats_t st;
    ck_assert_int_eq(cistern_arena_get_stats(cistern_arena_default(), &st), 0);
    ck_assert_msg(st.nmalloc - st.nfree <= 1, "the new heap counts %llu live blocks",
                  (unsigned long long)(st.nmalloc - st.nfree));
    cistern_free(p);
    ck_assert_int_eq(cistern_check_heap(), 0);

    pthread_mutex_lock(&l.mu);
    l.quit = 1;
    pthread_cond_broadcast(&l.cv);
    pthread_mutex_unlock(&l.mu);
    pthread_join(tid, NULL);
    ck_assert_int_eq(l.failures, 0);

    printf("# %d teardowns: /proc/self/maps lines %d at start, %d after %d rounds, %d after %d\n",
           ROUNDS, maps_start, maps_warm, WARMUP, maps_end, ROUNDS);
    printf("# RSS: %zu KiB after %d rounds, %zu KiB after %d\n", rss_warm, WARMUP, rss_end,
           ROUNDS);
    fflush(stdout);
    if (!LC_SANITIZED)
        ck_assert_msg(maps_end <= maps_warm + MAPS_SLACK, "mappings grew from %d to %d",
                      maps_warm, maps_end);
    if (lc_figures_judged())
        ck_assert_msg(rss_end <= rss_warm + RSS_SLACK_KIB, "RSS grew from %zu to %zu KiB",
                      rss_warm, rss_end);
    munmap(pool, POOL_LEN);
}
END_TEST

static Suite *make_suite(void)
{
    Suite *s = suite_create("teardown_again");
    TCase *tc = tcase_create("teardown");
    tcase_set_timeout(tc, 300);
    tcase_add_test(tc, teardown_then_work_again);
    suite_add_tcase(s, tc);
    return s;
}

CS_TEST_MAIN(make_suite)
