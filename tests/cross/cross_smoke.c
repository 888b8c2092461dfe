/*
 * cross_smoke.c - the public API worked hard, with every result checked;
 * prints TAP.  It needs nothing but the library and pthreads, so that every
 * cross build (where the target's libcheck may be missing) runs it under
 * qemu-user, and it is word-size and endianness neutral: sizes scale with
 * the address space, so armhf gets its 32-bit pagemap, size classes and
 * alignment paths checked near the edge of what 32 bits can hold.
 *
 * CS_SMOKE_SCALE (an integer, default 1) multiplies the work of the
 * multithreaded part.
 */
#include <cistern.h>

#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#define KiB ((size_t)1 << 10)
#define MiB ((size_t)1 << 20)
#define IS_32BIT (sizeof(void *) == 4)

/* ---- TAP ------------------------------------------------------------------ */

static int test_no, phase_failures, total_failures;

static void fail_at(int line, const char *fmt, ...)
{
    if (++phase_failures <= 10) { /* the first few say enough */
        va_list ap;
        va_start(ap, fmt);
        printf("# line %d: ", line);
        vprintf(fmt, ap);
        printf("\n");
        va_end(ap);
    }
}

#define CHECK(cond, ...)                                                                           \
    do {                                                                                           \
        if (!(cond))                                                                               \
            fail_at(__LINE__, __VA_ARGS__);                                                        \
    } while (0)

static void phase(const char *name, void (*fn)(void))
{
    phase_failures = 0;
    fn();
    CHECK(cistern_check_heap() == 0, "cistern_check_heap after %s", name);
    total_failures += phase_failures != 0;
    printf("%s %d - %s\n", phase_failures ? "not ok" : "ok", ++test_no, name);
    fflush(stdout);
}

/* ---- helpers ------------------------------------------------------------------ */

static uint32_t rnd(uint64_t *s)
{
    *s ^= *s << 13;
    *s ^= *s >> 7;
    *s ^= *s << 17;
    return (uint32_t)(*s >> 16);
}

static unsigned char pat(uintptr_t seed, size_t i)
{
    return (unsigned char)(seed * 131u + i * 7u + (i >> 8));
}

static void fill(void *p, size_t n, uintptr_t seed)
{
    unsigned char *c = p;
    for (size_t i = 0; i < n; i++)
        c[i] = pat(seed, i);
}

static int intact(const void *p, size_t n, uintptr_t seed)
{
    const unsigned char *c = p;
    for (size_t i = 0; i < n; i++)
        if (c[i] != pat(seed, i))
            return 0;
    return 1;
}

/* Large blocks are touched sparsely: first and last bytes and one byte per
   64 KiB, so a 32-bit gigabyte costs little memory yet every part of it is
   shown to be mapped and private. */
static void touch(void *p, size_t n, uintptr_t seed)
{
    unsigned char *c = p;
    for (size_t i = 0; i < n; i += 64 * KiB)
        c[i] = pat(seed, i);
    c[n - 1] = pat(seed, n - 1);
}

static int touched_ok(const void *p, size_t n, uintptr_t seed)
{
    const unsigned char *c = p;
    for (size_t i = 0; i < n; i += 64 * KiB)
        if (c[i] != pat(seed, i))
            return 0;
    return c[n - 1] == pat(seed, n - 1);
}

static int zeroed(const void *p, size_t n)
{
    const unsigned char *c = p;
    for (size_t i = 0; i < n; i++)
        if (c[i])
            return 0;
    return 1;
}

static size_t min_align(size_t n)
{
    return n >= 16 ? 16 : 8;
}

/* ---- phases ------------------------------------------------------------------ */

/* Walk every size class (the next request past an object's usable size lands
   in the next class); fill more objects of each than a span holds. */
static void size_classes(void)
{
    enum { MAXOBJ = 1100 };
    static void *objs[MAXOBJ];
    size_t n = 1, classes = 0;
    while (n <= 256 * KiB) {
        void *p = cistern_malloc(n);
        CHECK(p != NULL, "malloc(%zu) failed", n);
        if (!p)
            return;
        size_t cls = cistern_usable_size(p);
        cistern_free(p);
        CHECK(cls >= n && cls <= n + n / 8 + 16, "malloc(%zu): usable size %zu", n, cls);
        size_t count = 512 * KiB / cls;
        count = count < 3 ? 3 : count > MAXOBJ ? MAXOBJ : count;
        for (size_t i = 0; i < count; i++) {
            objs[i] = cistern_malloc(cls);
            CHECK(objs[i] != NULL, "malloc(%zu) #%zu failed", cls, i);
            if (!objs[i]) {
                count = i;
                break;
            }
            CHECK((uintptr_t)objs[i] % min_align(cls) == 0, "malloc(%zu) = %p misaligned", cls, objs[i]);
            CHECK(cistern_usable_size(objs[i]) == cls, "usable size of a %zu-byte object", cls);
            fill(objs[i], cls, (uintptr_t)objs[i]);
        }
        /* Every object intact once all are written: no two overlap. */
        for (size_t i = 0; i < count; i++)
            CHECK(intact(objs[i], cls, (uintptr_t)objs[i]), "%zu-byte object %p overwritten", cls, objs[i]);
        /* Free every other one, take them again, then free all. */
        for (size_t i = 0; i < count; i += 2)
            cistern_free(objs[i]);
        for (size_t i = 0; i < count; i += 2) {
            objs[i] = cistern_malloc(cls);
            CHECK(objs[i] != NULL, "malloc(%zu) again failed", cls);
            if (objs[i])
                fill(objs[i], cls, (uintptr_t)objs[i] + 1);
        }
        for (size_t i = 0; i < count; i++) {
            if (!objs[i])
                continue;
            CHECK(intact(objs[i], cls, (uintptr_t)objs[i] + (i % 2 == 0)), "%zu-byte object %p overwritten",
                  cls, objs[i]);
            cistern_free(objs[i]);
        }
        classes++;
        n = cls + 1;
    }
    printf("# %zu size classes\n", classes);
    CHECK(classes >= 32, "only %zu size classes", classes);
    /* Every small size, one at a time, and the edge cases. */
    for (size_t k = 0; k <= 4096; k++) {
        void *p = cistern_malloc(k);
        CHECK(p != NULL && cistern_usable_size(p) >= k, "malloc(%zu)", k);
        if (p) {
            memset(p, 0x5a, k);
            cistern_free(p);
        }
    }
    cistern_free(NULL);
    CHECK(cistern_usable_size(NULL) == 0, "usable_size(NULL)");
    errno = 0;
    CHECK(cistern_malloc(SIZE_MAX) == NULL && errno == ENOMEM, "malloc(SIZE_MAX)");
    errno = 0;
    CHECK(cistern_malloc(SIZE_MAX / 2 + 1) == NULL && errno == ENOMEM, "malloc(SIZE_MAX / 2 + 1)");
    void *p = cistern_malloc(100);
    cistern_free_sized(p, 100);
    p = cistern_aligned_alloc(64, 100);
    cistern_free_aligned_sized(p, 64, 100);
}

/* calloc returns zeros, also from memory that was written and freed. */
static void calloc_zero(void)
{
    static const size_t sizes[] = { 1, 8, 24, 100, 1000, 4096, 5000, 40000, 200000, 256 * 1024,
                                    256 * 1024 + 1, 1000000, 3 * 1024 * 1024 + 7 };
    for (int round = 0; round < 3; round++) {
        for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
            size_t n = sizes[i];
            void *dirty[4];
            for (int k = 0; k < 4; k++) {
                dirty[k] = cistern_malloc(n);
                CHECK(dirty[k] != NULL, "malloc(%zu)", n);
                if (dirty[k])
                    memset(dirty[k], 0xa5, n);
            }
            for (int k = 0; k < 4; k++)
                cistern_free(dirty[k]);
            for (int k = 0; k < 4; k++) {
                unsigned char *z = cistern_calloc(1, n);
                CHECK(z != NULL && zeroed(z, n), "calloc(1, %zu) not zero (round %d)", n, round);
                dirty[k] = z;
            }
            for (int k = 0; k < 4; k++)
                cistern_free(dirty[k]);
        }
    }
    unsigned char *z = cistern_calloc(1000, 16);
    CHECK(z != NULL && zeroed(z, 16000), "calloc(1000, 16)");
    cistern_free(z);
    errno = 0;
    CHECK(cistern_calloc(SIZE_MAX / 8 + 2, 8) == NULL && errno == ENOMEM, "calloc overflow");
    errno = 0;
    CHECK(cistern_reallocarray(NULL, SIZE_MAX / 4 + 2, 4) == NULL && errno == ENOMEM,
          "reallocarray overflow");
}

/* Growing and shrinking keep the contents, through small, large and back. */
static void realloc_chain(void)
{
    size_t top = IS_32BIT ? 48 * MiB : 96 * MiB;
    size_t n = 1;
    unsigned char *p = cistern_realloc(NULL, n);
    CHECK(p != NULL, "realloc(NULL, 1)");
    if (!p)
        return;
    fill(p, n, 7);
    while (n < top) {
        size_t m = n + n / 2 + 1;
        unsigned char *q = cistern_realloc(p, m);
        CHECK(q != NULL, "realloc(%zu -> %zu)", n, m);
        if (!q)
            break;
        CHECK(intact(q, n, 7), "realloc(%zu -> %zu) lost the contents", n, m);
        fill(q + n, m - n, 0);
        fill(q, m, 7);
        p = q;
        n = m;
    }
    while (n > 1) {
        size_t m = n / 3;
        unsigned char *q = cistern_realloc(p, m ? m : 1);
        CHECK(q != NULL, "realloc(%zu -> %zu)", n, m);
        if (!q)
            break;
        m = m ? m : 1;
        CHECK(intact(q, m, 7), "shrinking realloc(%zu -> %zu) lost the contents", n, m);
        p = q;
        n = m;
    }
    CHECK(cistern_realloc(p, 0) == NULL, "realloc(p, 0) frees");
    /* A large block grown in small steps, as a growing buffer would be. */
    n = 300 * KiB;
    p = cistern_malloc(n);
    CHECK(p != NULL, "malloc(%zu)", n);
    if (!p)
        return;
    fill(p, n, 3);
    for (int i = 0; i < 40; i++) {
        size_t m = n + 40 * KiB + (size_t)i;
        unsigned char *q = cistern_realloc(p, m);
        CHECK(q != NULL && intact(q, n, 3), "realloc(%zu -> %zu)", n, m);
        if (!q)
            break;
        fill(q, m, 3);
        p = q;
        n = m;
    }
    cistern_free(p);
}

/* Every power-of-two alignment up to 64 MiB, for sizes around it. */
static void alignment(void)
{
    enum { KEEP = 64 };
    void *keep[KEEP];
    int nkeep = 0;
    for (size_t align = 1; align <= 64 * MiB; align *= 2) {
        size_t sizes[] = { 1, align / 2 + 1, align, align + 1, 3 * align };
        for (size_t k = 0; k < sizeof sizes / sizeof sizes[0]; k++) {
            size_t n = sizes[k];
            if (align >= 16 * MiB && n > align + 1)
                continue; /* 32-bit address space: one such block is plenty */
            void *p = cistern_aligned_alloc(align, n);
            CHECK(p != NULL, "aligned_alloc(%zu, %zu) failed", align, n);
            if (!p)
                continue;
            CHECK((uintptr_t)p % align == 0, "aligned_alloc(%zu, %zu) = %p", align, n, p);
            CHECK(cistern_usable_size(p) >= n, "aligned_alloc(%zu, %zu): usable %zu", align, n,
                  cistern_usable_size(p));
            touch(p, n, (uintptr_t)p);
            if (n <= 64 * KiB && nkeep < KEEP)
                keep[nkeep++] = p; /* held: later ones must not overlap it */
            else {
                CHECK(touched_ok(p, n, (uintptr_t)p), "aligned block %p overwritten", p);
                cistern_free(p);
            }
        }
        void *q = NULL;
        if (align >= sizeof(void *)) {
            int rc = cistern_posix_memalign(&q, align, 100);
            CHECK(rc == 0 && q && (uintptr_t)q % align == 0, "posix_memalign(%zu, 100): %d", align, rc);
            cistern_free(q);
        }
    }
    for (int i = 0; i < nkeep; i++) {
        CHECK(touched_ok(keep[i], 1, (uintptr_t)keep[i]), "aligned block %p overwritten", keep[i]);
        cistern_free(keep[i]);
    }
    void *q = NULL;
    CHECK(cistern_posix_memalign(&q, 3 * sizeof(void *), 10) == EINVAL, "posix_memalign, align 3 words");
    CHECK(cistern_posix_memalign(&q, sizeof(void *) / 2, 10) == EINVAL, "posix_memalign, half a word");
    errno = 0;
    CHECK(cistern_aligned_alloc(48, 10) == NULL && errno == EINVAL, "aligned_alloc(48, 10)");
}

/* Large blocks: near a gigabyte at once on 32-bit (two on 64-bit), then a
   churn of odd sizes. */
static void large(void)
{
    enum { NBIG = 32 };
    size_t big = 64 * MiB, nbig = IS_32BIT ? 16 : 32;
    void *blocks[NBIG];
    for (size_t i = 0; i < nbig; i++) {
        blocks[i] = cistern_malloc(big - i * 4 * KiB);
        CHECK(blocks[i] != NULL, "block %zu of %zu MiB failed (%zu MiB held)", i, big / MiB, i * big / MiB);
        if (blocks[i])
            touch(blocks[i], big - i * 4 * KiB, i);
    }
    for (size_t i = 0; i < nbig; i++)
        if (blocks[i]) {
            CHECK(touched_ok(blocks[i], big - i * 4 * KiB, i), "block %zu overwritten", i);
            CHECK(cistern_usable_size(blocks[i]) >= big - i * 4 * KiB, "block %zu usable size", i);
            CHECK(cistern_arena_of(blocks[i]) == cistern_arena_default(), "block %zu arena", i);
            cistern_free(blocks[i]);
        }
    printf("# %zu MiB held at once\n", nbig * big / MiB);

    enum { N = 48 };
    void *p[N] = { 0 };
    size_t len[N] = { 0 };
    uint64_t s = 88172645463325252ull;
    for (int round = 0; round < 400; round++) {
        int i = (int)(rnd(&s) % N);
        if (p[i]) {
            CHECK(touched_ok(p[i], len[i], (uintptr_t)i + len[i]), "large block %p overwritten", p[i]);
            cistern_free(p[i]);
        }
        len[i] = 256 * KiB + 1 + rnd(&s) % (IS_32BIT ? 6 * MiB : 12 * MiB);
        p[i] = cistern_malloc(len[i]);
        CHECK(p[i] != NULL, "malloc(%zu)", len[i]);
        if (p[i])
            touch(p[i], len[i], (uintptr_t)i + len[i]);
    }
    for (int i = 0; i < N; i++)
        if (p[i]) {
            CHECK(touched_ok(p[i], len[i], (uintptr_t)i + len[i]), "large block %p overwritten", p[i]);
            cistern_free(p[i]);
        }
}

/* A free large span split for a smaller request keeps its committed pages
   counted: with release off, a 400 MiB block taken from a freed 800 MiB one
   leaves the arena's committed bytes at 800 MiB. */
static void large_split_accounting(void)
{
    cistern_arena_t *def = cistern_arena_default();
    cistern_arena_stats_t st0, st1;
    long long decay;
    CHECK(cistern_option_get("decay_ms", &decay) == 0, "option_get(decay_ms)");
    CHECK(cistern_option_set("decay_ms", "-1") == 0, "option_set(decay_ms, -1)");
    cistern_release_free_memory();
    CHECK(cistern_arena_get_stats(def, &st0) == 0, "arena stats");
    void *p = cistern_malloc(800 * MiB);
    CHECK(p != NULL, "malloc(800 MiB)");
    if (p) {
        touch(p, 800 * MiB, 1);
        cistern_free(p);
        p = cistern_malloc(400 * MiB);
        CHECK(p != NULL, "malloc(400 MiB)");
        CHECK(cistern_arena_get_stats(def, &st1) == 0, "arena stats");
        size_t grew = st1.committed_bytes - st0.committed_bytes;
        CHECK(grew >= 800 * MiB, "committed bytes grew by %zu MiB, not 800", grew / MiB);
        cistern_free(p);
    }
    char buf[32];
    snprintf(buf, sizeof buf, "%lld", decay);
    CHECK(cistern_option_set("decay_ms", buf) == 0, "option_set(decay_ms)");
    cistern_release_free_memory();
}

/* Options whose limits lie beyond 32 bits still take small values. */
static void options(void)
{
    static const char *const keys[] = { "tcache_max_bytes", "reset_keep_bytes" };
    for (size_t i = 0; i < 2; i++) {
        long long old, now;
        CHECK(cistern_option_get(keys[i], &old) == 0, "option_get(%s)", keys[i]);
        int rc = cistern_option_set(keys[i], "1m");
        CHECK(rc == 0, "option_set(%s, 1m) = %d", keys[i], rc);
        CHECK(cistern_option_get(keys[i], &now) == 0 && (rc || now == (long long)MiB), "%s = %lld", keys[i], now);
        char buf[32];
        snprintf(buf, sizeof buf, "%lld", old);
        CHECK(cistern_option_set(keys[i], buf) == 0, "option_set(%s, %s)", keys[i], buf);
    }
    CHECK(cistern_option_set("no_such_option", "1") == ENOENT, "unknown option");
    CHECK(cistern_option_set("decay_ms", "soon") == EINVAL, "bad value");
}

/* ---- threads: every object is freed by another thread than its own ------------ */

enum { NTHREADS = 4, BOX = 4096 };

struct mailbox {
    pthread_mutex_t lock;
    void *slot[BOX];
    size_t len[BOX];
    unsigned n;
};

static struct mailbox boxes[NTHREADS];
static int thread_failures[NTHREADS];
static unsigned smoke_scale = 1;

/* An object's first word holds its size; the rest is a pattern seeded by it. */
static void *make_obj(size_t n)
{
    unsigned char *p = cistern_malloc(n);
    if (p) {
        memcpy(p, &n, sizeof n);
        fill(p + sizeof n, n - sizeof n > 512 ? 512 : n - sizeof n, (uintptr_t)p);
    }
    return p;
}

static int obj_ok(const unsigned char *p, size_t n)
{
    size_t stored;
    memcpy(&stored, p, sizeof stored);
    return stored == n && intact(p + sizeof n, n - sizeof n > 512 ? 512 : n - sizeof n, (uintptr_t)p);
}

static void *worker(void *arg)
{
    int me = (int)(intptr_t)arg, next = (me + 1) % NTHREADS;
    uint64_t s = 0x9e3779b97f4a7c15ull * (uint64_t)(me + 1);
    int bad = 0;
    void *got[BOX];
    size_t gotlen[BOX];
    for (unsigned round = 0; round < 300 * smoke_scale; round++) {
        /* Hand a batch to the next thread. */
        for (int k = 0; k < 48; k++) {
            size_t n = (rnd(&s) % 64 == 0) ? 256 * KiB + rnd(&s) % (2 * MiB) : 16 + rnd(&s) % 3000;
            void *p = make_obj(n);
            if (!p) {
                bad++;
                continue;
            }
            struct mailbox *b = &boxes[next];
            pthread_mutex_lock(&b->lock);
            if (b->n < BOX) {
                b->slot[b->n] = p;
                b->len[b->n++] = n;
                p = NULL;
            }
            pthread_mutex_unlock(&b->lock);
            if (p)
                cistern_free(p);
        }
        /* Check and free what the previous thread sent; grow some first. */
        struct mailbox *mine = &boxes[me];
        pthread_mutex_lock(&mine->lock);
        unsigned n = mine->n;
        memcpy(got, mine->slot, n * sizeof got[0]);
        memcpy(gotlen, mine->len, n * sizeof gotlen[0]);
        mine->n = 0;
        pthread_mutex_unlock(&mine->lock);
        for (unsigned i = 0; i < n; i++) {
            if (!obj_ok(got[i], gotlen[i]))
                bad++;
            if (i % 8 == 0) {
                unsigned char *q = cistern_realloc(got[i], gotlen[i] * 2);
                size_t stored;
                if (!q) {
                    bad++;
                    continue;
                }
                memcpy(&stored, q, sizeof stored);
                bad += stored != gotlen[i];
                got[i] = q;
            }
            cistern_free(got[i]);
        }
    }
    thread_failures[me] = bad;
    return NULL;
}

static void threads(void)
{
    pthread_t t[NTHREADS];
    for (int i = 0; i < NTHREADS; i++) {
        pthread_mutex_init(&boxes[i].lock, NULL);
        boxes[i].n = 0;
    }
    for (int i = 0; i < NTHREADS; i++)
        CHECK(pthread_create(&t[i], NULL, worker, (void *)(intptr_t)i) == 0, "pthread_create");
    for (int i = 0; i < NTHREADS; i++) {
        pthread_join(t[i], NULL);
        CHECK(thread_failures[i] == 0, "thread %d: %d bad objects", i, thread_failures[i]);
    }
    for (int i = 0; i < NTHREADS; i++) {
        for (unsigned k = 0; k < boxes[i].n; k++) {
            CHECK(obj_ok(boxes[i].slot[k], boxes[i].len[k]), "object left in mailbox %d bad", i);
            cistern_free(boxes[i].slot[k]);
        }
        boxes[i].n = 0;
    }
}

/* ---- arenas --------------------------------------------------------------- */

struct arena_job {
    cistern_arena_t *a;
    void *p[64];
};

static void *arena_alloc_in_thread(void *arg)
{
    struct arena_job *j = arg;
    for (int i = 0; i < 64; i++)
        j->p[i] = cistern_arena_malloc(j->a, 48);
    for (int i = 0; i < 32; i++)
        cistern_free(j->p[i]); /* into this thread's cache of the arena */
    return NULL;
}

static void arenas(void)
{
    cistern_arena_config_t cfg = { .name = "smoke", .flags = 0 };
    cistern_arena_config_t cfg_nc = { .name = "smoke-notcache", .flags = CISTERN_ARENA_NO_TCACHE };
    cistern_arena_t *as[2] = { cistern_arena_create(&cfg), cistern_arena_create(&cfg_nc) };
    CHECK(as[0] && as[1], "arena_create");
    if (!as[0] || !as[1])
        return;
    enum { N = 600 };
    static void *p[N];
    static size_t len[N];
    for (int round = 0; round < 3; round++) {
        for (int ai = 0; ai < 2; ai++) {
            cistern_arena_t *a = as[ai];
            for (int i = 0; i < N; i++) {
                len[i] = i % 50 == 0 ? 300 * KiB + (size_t)i : 1 + (size_t)(i * 37) % 5000;
                switch (i % 4) {
                case 0: p[i] = cistern_arena_malloc(a, len[i]); break;
                case 1: p[i] = cistern_arena_calloc(a, 1, len[i]); break;
                case 2: p[i] = cistern_arena_aligned_alloc(a, 256, len[i]); break;
                default: p[i] = cistern_arena_realloc(a, NULL, len[i]); break;
                }
                CHECK(p[i] != NULL, "arena allocation %d", i);
                if (!p[i])
                    continue;
                CHECK(i % 4 != 1 || zeroed(p[i], len[i]), "arena calloc not zero");
                CHECK(i % 4 != 2 || (uintptr_t)p[i] % 256 == 0, "arena aligned_alloc misaligned");
                CHECK(cistern_arena_of(p[i]) == a, "arena_of");
                fill(p[i], len[i], (uintptr_t)p[i]);
            }
            for (int i = 0; i < N; i++) {
                if (!p[i])
                    continue;
                CHECK(intact(p[i], len[i], (uintptr_t)p[i]), "arena object overwritten");
                if (i % 3 == 0) {
                    void *q = cistern_realloc(p[i], len[i] + 1000);
                    CHECK(q && cistern_arena_of(q) == a && intact(q, len[i], (uintptr_t)p[i]),
                          "realloc keeps the arena and the contents");
                    p[i] = q;
                }
                if (i % 2 == 0)
                    cistern_free(p[i]); /* free() takes any arena's pointer */
            }
            cistern_arena_stats_t st;
            CHECK(cistern_arena_get_stats(a, &st) == 0 && st.active_bytes > 0, "arena stats");
            cistern_arena_reset(a); /* the odd ones go with the reset */
            CHECK(cistern_arena_get_stats(a, &st) == 0 && st.active_bytes == 0, "arena active after reset");
        }
    }
    /* A thread with cached objects of the arena; after a reset it must not
       hand them out again while the main thread uses the same memory. */
    struct arena_job job = { .a = as[0] };
    pthread_t t;
    pthread_create(&t, NULL, arena_alloc_in_thread, &job);
    pthread_join(t, NULL);
    cistern_arena_reset(as[0]);
    void *mine[64];
    for (int i = 0; i < 64; i++) {
        mine[i] = cistern_arena_malloc(as[0], 48);
        if (mine[i])
            memset(mine[i], 0x11, 48);
    }
    pthread_create(&t, NULL, arena_alloc_in_thread, &job);
    pthread_join(t, NULL);
    for (int i = 0; i < 64; i++)
        for (int k = 32; k < 64; k++)
            CHECK(mine[i] != job.p[k], "a reset arena's object handed out twice");
    /* Routing the thread's malloc to an arena. */
    cistern_arena_t *prev = cistern_thread_set_arena(as[1]);
    void *r = cistern_malloc(1000);
    CHECK(r && cistern_arena_of(r) == as[1], "thread_set_arena routes malloc");
    cistern_free(r);
    cistern_thread_set_arena(prev);
    r = cistern_malloc(1000);
    CHECK(r && cistern_arena_of(r) == cistern_arena_default(), "back to the default arena");
    cistern_free(r);
    CHECK(cistern_arena_destroy(as[0]) == 0 && cistern_arena_destroy(as[1]) == 0, "arena_destroy");
    CHECK(cistern_arena_destroy(cistern_arena_default()) == EINVAL, "destroying the default arena");
}

/* ---- a pool source -------------------------------------------------------- */

static void pool(void)
{
    size_t len = 64 * MiB, slack = 1 * MiB;
    unsigned char *raw = mmap(NULL, len + slack, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    CHECK(raw != MAP_FAILED, "mmap");
    if (raw == MAP_FAILED)
        return;
    unsigned char *base = (unsigned char *)(((uintptr_t)raw + slack - 1) & ~(uintptr_t)(slack - 1));
    cistern_sysalloc_t *src = cistern_sysalloc_pool(base, len, 0);
    CHECK(src != NULL, "sysalloc_pool: errno %d", errno);
    if (!src)
        return;
    cistern_sysalloc_t *chain[] = { src };
    cistern_arena_config_t cfg = { .name = "smoke-pool", .sources = chain, .nsources = 1 };
    cistern_arena_t *a = cistern_arena_create(&cfg);
    CHECK(a != NULL, "arena over the pool");
    if (!a)
        return;
    for (int round = 0; round < 2; round++) {
        size_t got = 0;
        unsigned count = 0;
        uint64_t s = 12345 + (uint64_t)round;
        for (;;) {
            size_t n = count % 16 == 0 ? 512 * KiB + rnd(&s) % (3 * MiB) : 1 + rnd(&s) % 20000;
            unsigned char *p = count % 7 == 0 ? cistern_arena_aligned_alloc(a, 4096, n)
                                              : cistern_arena_malloc(a, n);
            count++;
            if (!p) {
                if (n <= 20000)
                    break; /* a small request refused: the pool is full */
                continue;  /* a large one may not fit where a small one does */
            }
            CHECK(p >= base && p + n <= base + len, "pool allocation %p outside the pool", (void *)p);
            CHECK((count - 1) % 7 || (uintptr_t)p % 4096 == 0, "pool aligned allocation");
            p[0] = p[n - 1] = 0x77;
            got += n;
        }
        printf("# pool round %d: %u allocations, %zu MiB\n", round, count, got / MiB);
        CHECK(got >= len / 2, "only %zu of %zu MiB of the pool served", got / MiB, len / MiB);
        cistern_arena_reset(a);
        /* No cap, no escape: a pool-sized alignment is served from the pool. */
        unsigned char *q = cistern_arena_aligned_alloc(a, 16 * MiB, 16 * MiB);
        CHECK(q && (uintptr_t)q % (16 * MiB) == 0 && q >= base && q + 16 * MiB <= base + len,
              "16 MiB-aligned block from the pool");
        if (q)
            touch(q, 16 * MiB, 9);
        cistern_arena_reset(a);
    }
    CHECK(cistern_arena_destroy(a) == 0, "destroy the pool arena");
    CHECK(cistern_sysalloc_release(src) == 0, "release the pool");
    /* Handed back mapped and writable. */
    for (size_t i = 0; i < len; i += 4096)
        base[i] = 1;
    munmap(raw, len + slack);
}

/* Teardown gives everything back; the next call starts afresh. */
static void teardown(void)
{
    cistern_teardown();
    void *p = cistern_malloc(100);
    CHECK(p != NULL, "malloc after teardown");
    memset(p, 1, 100);
    cistern_free(p);
    p = cistern_malloc(5 * MiB);
    CHECK(p != NULL, "large malloc after teardown");
    cistern_free(p);
}

int main(void)
{
    const char *sc = getenv("CS_SMOKE_SCALE");
    if (sc && atoi(sc) > 0)
        smoke_scale = (unsigned)atoi(sc);
    setvbuf(stdout, NULL, _IOLBF, 0);
    printf("1..11\n");
    printf("# %zu-bit, %s-endian\n", sizeof(void *) * 8,
           *(const unsigned char *)&(const uint16_t){ 1 } ? "little" : "big");
    phase("size classes", size_classes);
    phase("calloc zeroes reused memory", calloc_zero);
    phase("realloc chain", realloc_chain);
    phase("alignments up to 64 MiB", alignment);
    phase("large blocks", large);
    phase("large split accounting", large_split_accounting);
    phase("options", options);
    phase("4 threads, cross-thread frees", threads);
    phase("arenas: create, reset, destroy", arenas);
    phase("pool source", pool);
    phase("teardown and restart", teardown);
    return total_failures ? EXIT_FAILURE : EXIT_SUCCESS;
}
