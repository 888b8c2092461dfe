/*
 * plugin.c - a shared object that uses cistern the way a plugin would: it
 * links libcistern_api, and the program that dlopens it knows nothing of
 * cistern.  lc_plugin_work() exercises the default arena, arenas of its
 * own, a pool the program lends it and threads, and leaves some of that
 * behind on purpose: at dlclose the library's destructor must give back
 * everything (design invariant 6) and hand the pool back intact.
 */
#include "plugin.h"

#include <cistern.h>
#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <string.h>

/* Sizes across small classes, the biggest classes and large spans. */
static const size_t sizes[] = { 8, 24, 100, 640, 4000, 20000, 200000, 300000, 1 << 20 };
#define NSIZES (sizeof sizes / sizeof sizes[0])

/* errno when the first check failed, for the caller's message. */
static int failed_errno;

/* The first failed check, as a line number: the caller reports it. */
#define EXPECT(cond)                                                                      \
    do {                                                                                  \
        if (!(cond)) {                                                                    \
            failed_errno = errno;                                                         \
            return __LINE__;                                                              \
        }                                                                                 \
    } while (0)

/* Both ends of the block written and read back: the block is usable, and
   pages in the middle stay untouched (writing whole megabytes on every
   load would make the test measure page faults). */
static int fill_and_check(unsigned char *p, size_t n, unsigned char v)
{
    size_t k = n < 256 ? n : 256;
    memset(p, v, k);
    memset(p + n - k, v, k);
    return p[0] == v && p[n - 1] == v;
}

/* Allocate every size from a (NULL: the default arena), free every other
   block and keep the rest in keep[]. */
static int churn(cistern_arena_t *a, void **keep, size_t *nkeep)
{
    for (unsigned i = 0; i < NSIZES; i++) {
        unsigned char *p = a ? cistern_arena_malloc(a, sizes[i]) : cistern_malloc(sizes[i]);
        EXPECT(p != NULL);
        EXPECT(fill_and_check(p, sizes[i], (unsigned char)i));
        p = cistern_realloc(p, sizes[i] + 1000);
        EXPECT(p != NULL && p[0] == (unsigned char)i);
        if (i % 2)
            cistern_free(p);
        else
            keep[(*nkeep)++] = p;
    }
    void *z = a ? cistern_arena_calloc(a, 100, 100) : cistern_calloc(100, 100);
    EXPECT(z != NULL && ((char *)z)[9999] == 0);
    cistern_free(z);
    return 0;
}

struct worker {
    cistern_arena_t *pool_arena;
    void *handoff; /* a block of the main thread, freed here */
    int err;
};

static void *worker_main(void *arg)
{
    struct worker *w = arg;
    void *keep[32];
    size_t nkeep = 0;
    w->err = churn(NULL, keep, &nkeep);
    if (!w->err)
        w->err = churn(w->pool_arena, keep, &nkeep);
    cistern_free(w->handoff); /* a free from another thread */
    /* Half of what is kept dies with the thread's cache, the rest stays
       allocated for the destructor to find. */
    for (size_t i = 0; i < nkeep; i += 2)
        cistern_free(keep[i]);
    return NULL;
}

static int work(struct lc_plugin_args *args);

int lc_plugin_work(struct lc_plugin_args *args)
{
    failed_errno = 0;
    int line = work(args);
    args->errno_seen = failed_errno;
    return line;
}

static int work(struct lc_plugin_args *args)
{
    void *keep[64];
    size_t nkeep = 0;
    int err;

    /* The default arena. */
    if ((err = churn(NULL, keep, &nkeep)))
        return err;

    /* An arena over the os source: reset once, then used again. */
    cistern_arena_t *own = cistern_arena_create(NULL);
    EXPECT(own != NULL);
    void *own_keep[32];
    size_t own_n = 0;
    if ((err = churn(own, own_keep, &own_n)))
        return err;
    cistern_arena_reset(own);
    own_n = 0;
    if ((err = churn(own, own_keep, &own_n)))
        return err;
    if (args->cycle % 2)
        EXPECT(cistern_arena_destroy(own) == 0); /* else the destructor does it */

    /* The pool the program lends: a source and an arena over it. */
    cistern_sysalloc_t *pool = cistern_sysalloc_pool(args->pool, args->pool_len, 0);
    EXPECT(pool != NULL);
    cistern_arena_config_t cfg = { "lc-pool", &pool, 1, 0, 0 };
    cistern_arena_t *pa = cistern_arena_create(&cfg);
    EXPECT(pa != NULL);
    void *pool_keep[32];
    size_t pool_n = 0;
    if ((err = churn(pa, pool_keep, &pool_n)))
        return err;
    for (size_t i = 0; i < pool_n; i++) {
        uintptr_t p = (uintptr_t)pool_keep[i], b = (uintptr_t)args->pool;
        EXPECT(p >= b && p < b + args->pool_len);
    }

    /* Threads: each allocates in both arenas, frees a block of this thread
       and exits; their caches must go with them. */
    struct worker w[LC_PLUGIN_MAX_THREADS];
    pthread_t tid[LC_PLUGIN_MAX_THREADS];
    int n = args->threads < LC_PLUGIN_MAX_THREADS ? args->threads : LC_PLUGIN_MAX_THREADS;
    for (int i = 0; i < n; i++) {
        w[i].pool_arena = pa;
        w[i].handoff = cistern_malloc(48);
        w[i].err = 0;
        EXPECT(w[i].handoff != NULL);
        EXPECT(pthread_create(&tid[i], NULL, worker_main, &w[i]) == 0);
    }
    for (int i = 0; i < n; i++) {
        pthread_join(tid[i], NULL);
        if (w[i].err)
            return w[i].err;
    }
    EXPECT(cistern_check_heap() == 0);

    /* Every fourth cycle gives the pool back by hand; the others leave the
       arena and the source to the destructor, with blocks still in them. */
    if (args->cycle % 4 == 0) {
        EXPECT(cistern_sysalloc_release(pool) == EBUSY); /* still in a chain */
        EXPECT(cistern_arena_destroy(pa) == 0);
        EXPECT(cistern_sysalloc_release(pool) == 0);
    }
    /* Some cycles end with an explicit teardown before dlclose; the
       destructor then has nothing left to do, and must cope with that. */
    if (args->cycle % 8 == 5)
        cistern_teardown();
    return 0;
}
