/*
 * test_threads.c - what threads cost in metadata: thread-cache records are
 * reused by the threads that follow, the records of a burst of threads go
 * back once it ends, and the background release thread is started only
 * once the process has committed enough memory to be worth it.
 */
#include "unit.h"
#include "meta.h"
#include "release.h"

#include <dirent.h>
#include <pthread.h>
#include <sys/mman.h>

/* Objects of every class a short-lived thread of a typical program uses. */
static void *short_life(void *arg)
{
    (void)arg;
    void *p[64];
    for (int round = 0; round < 4; round++) {
        for (int i = 0; i < 64; i++) {
            p[i] = cistern_malloc(16 + (size_t)i * 16);
            if (!p[i])
                return (void *)"malloc failed";
            memset(p[i], i, 16);
        }
        for (int i = 0; i < 64; i++)
            cistern_free(p[i]);
    }
    return NULL;
}

static pthread_barrier_t wave_bar;
static struct cs_tcache *wave_cache[128]; /* each thread's cache record */

/* short_life, then wait until the whole wave has its caches. */
static void *wave_life(void *arg)
{
    void *err = short_life(NULL);
    wave_cache[(intptr_t)arg] = cs_tls.cur;
    pthread_barrier_wait(&wave_bar);
    return err;
}

/* n threads, all live at once before any exits. */
static void run_threads(int n)
{
    pthread_t t[128];
    ck_assert_int_le(n, 128);
    ck_assert_int_eq(pthread_barrier_init(&wave_bar, NULL, (unsigned)n), 0);
    for (int i = 0; i < n; i++)
        ck_assert_int_eq(pthread_create(&t[i], NULL, wave_life, (void *)(intptr_t)i), 0);
    for (int i = 0; i < n; i++) {
        void *err = NULL;
        ck_assert_int_eq(pthread_join(t[i], &err), 0);
        ck_assert_msg(err == NULL, "%s", (const char *)err);
    }
    pthread_barrier_destroy(&wave_bar);
}

/* Bytes of metadata one thread-cache record takes (the main thread's). */
static size_t record_bytes(void)
{
    void *p = cistern_malloc(16);
    cistern_free(p);
    struct cs_tcache *tc = cs_tcache_get(cs_default_arena);
    ck_assert_ptr_nonnull(tc);
    return cs_meta_block_size(tc->storage);
}

static size_t meta_in_use(void)
{
    struct cs_meta_stats st;
    cs_meta_get_stats(&st);
    return st.in_use;
}

/* Waves of threads that come and go: after the first wave, the metadata in
   use stays where it was (every new thread takes a record an exited one
   left), however many threads follow; span records may come and go by a
   few, a record more per wave would be 100 of them. */
START_TEST(records_reused_over_thread_cycles)
{
    unit_init();
    size_t record = record_bytes();
    run_threads(4);
    size_t first = meta_in_use();
    for (int wave = 0; wave < 100; wave++)
        run_threads(4);
    ck_assert_msg(meta_in_use() <= first + record / 2,
                  "metadata in use: %zu bytes after the first wave, %zu after 100 more", first,
                  meta_in_use());
}
END_TEST

/* A burst of 64 threads live at once, then gone: all but a few of their
   records go back to the metadata allocator, whose free blocks keep no more
   than a page each resident. */
START_TEST(burst_records_go_back)
{
    enum { BURST = 64 };
    unit_init();
    size_t record = record_bytes();
    run_threads(1); /* spans and central lists exist: only records differ */
    size_t base = meta_in_use();
    struct cs_meta_stats s1;
    run_threads(BURST);
    cs_meta_get_stats(&s1);
    /* Eight records kept (the first thread's among them), plus span
       records of the burst's heap growth; keeping all would be 64. */
    ck_assert_msg(s1.in_use <= base + 8 * record + ((size_t)64 << 10),
                  "metadata in use %zu bytes before the burst, %zu after (records of %zu)", base,
                  s1.in_use, record);
    /* The records given back keep at most their partial end pages
       resident (the metadata allocator keeps the mapping). */
    size_t pg = (size_t)sysconf(_SC_PAGESIZE);
    if (record < 8 * pg)
        return; /* pages too big for a record to hold many whole ones */
    int purged = 0;
    for (int i = 0; i < BURST; i++) {
        ck_assert_ptr_nonnull(wave_cache[i]);
        uintptr_t lo = CS_ALIGN_DOWN((uintptr_t)wave_cache[i], pg);
        uintptr_t hi = CS_ALIGN_UP((uintptr_t)wave_cache[i] + record, pg);
        long resident = test_resident_pages((void *)lo, hi - lo);
        if (resident < 0) {
            printf("# mincore unavailable: residency not checked\n");
            return;
        }
        purged += resident <= 2;
    }
    ck_assert_msg(purged >= BURST - 8, "%d of %d records of exited threads gave their pages back",
                  purged, BURST);
}
END_TEST

static int thread_count(void)
{
    DIR *d = opendir("/proc/self/task");
    if (!d)
        return -1;
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)))
        n += e->d_name[0] != '.';
    closedir(d);
    return n;
}

/* With the release thread allowed: a process that has committed less than
   CS_RELEASE_START_BYTES runs without it; once a source has committed that
   much it is armed, and the next allocation starts it. */
START_TEST(release_thread_starts_once_worth_it)
{
    cs_opt.background_thread = 1;
    cs_opt.decay_ms = 1000;
    cs_ensure_init();
    int threads0 = thread_count();
    if (threads0 < 0)
        return; /* no /proc */
    void *small[100];
    for (int i = 0; i < 100; i++)
        small[i] = cistern_malloc(100 + (size_t)i * 9);
    void *mid = cistern_malloc(CS_RELEASE_START_BYTES / 4);
    cistern_free(mid);
    mid = cistern_malloc(CS_RELEASE_START_BYTES / 4);
    ck_assert_int_eq(cs_release_armed(), 0);
    ck_assert_int_eq(thread_count(), threads0);

    void *big = cistern_malloc(CS_RELEASE_START_BYTES);
    ck_assert_ptr_nonnull(big);
    ck_assert_int_eq(cs_release_armed(), 1);
    cistern_free(big);
    big = cistern_malloc(CS_RELEASE_START_BYTES); /* a slow path: starts it */
    ck_assert_int_eq(thread_count(), threads0 + 1);
    cistern_free(big);
    cistern_free(mid);
    for (int i = 0; i < 100; i++)
        cistern_free(small[i]);
}
END_TEST

/* Turned off, it never starts, however much is committed. */
START_TEST(release_thread_off_never_starts)
{
    cs_opt.background_thread = 0;
    cs_ensure_init();
    int threads0 = thread_count();
    if (threads0 < 0)
        return;
    for (int i = 0; i < 4; i++) {
        void *big = cistern_malloc(2 * CS_RELEASE_START_BYTES);
        ck_assert_ptr_nonnull(big);
        cistern_free(big);
    }
    ck_assert_int_eq(thread_count(), threads0);
}
END_TEST

static Suite *make_suite(void)
{
    Suite *s = suite_create("threads");
    TCase *tc = tcase_create("records");
    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, records_reused_over_thread_cycles);
    tcase_add_test(tc, burst_records_go_back);
    suite_add_tcase(s, tc);
    TCase *rel = tcase_create("release_thread");
    tcase_set_timeout(rel, 20);
    tcase_add_test(rel, release_thread_starts_once_worth_it);
    tcase_add_test(rel, release_thread_off_never_starts);
    suite_add_tcase(s, rel);
    return s;
}

CS_TEST_MAIN(make_suite)
