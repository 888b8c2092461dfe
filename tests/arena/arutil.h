/*
 * arutil.h - helpers shared by the arena tests: ranges to inject, a pointer
 * set for aliasing checks, a walk that collects what it visits, and the
 * memory figures (RSS, cistern's metadata) the scale tests watch.
 *
 * The tests link libcistern_api, so malloc here is the C library's: the
 * bookkeeping below never lands in the arenas under test.
 */
#ifndef CS_ARUTIL_H
#define CS_ARUTIL_H

#include <cistern.h>
#include <check.h>
#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include "testutil.h"

/* check's assertions record every pass (a write to its log), which would
   dominate loops over a million blocks: inside loops, only a failure calls
   into check. */
#define AR_CHECK(cond)                                                              \
    do {                                                                            \
        if (!(cond))                                                                \
            ck_abort_msg("%s:%d: %s", __FILE__, __LINE__, #cond);                   \
    } while (0)
#define AR_CHECK_MSG(cond, ...)                                                     \
    do {                                                                            \
        if (!(cond))                                                                \
            ck_abort_msg(__VA_ARGS__);                                              \
    } while (0)

/* In AddressSanitizer builds cistern bypasses its thread and transfer
   caches and reports every block to the sanitizer, so what caching does,
   and how long things take, cannot be observed there. */
#if defined(__SANITIZE_ADDRESS__)
#define AR_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define AR_ASAN 1
#endif
#endif
#ifndef AR_ASAN
#define AR_ASAN 0
#endif

#define KiB ((size_t)1 << 10)
#define MiB ((size_t)1 << 20)

/* An anonymous read-write range of len bytes aligned to align (a power of
   two): what a program would reserve and inject as a pool. */
static inline void *ar_map(size_t len, size_t align)
{
    void *p = test_map_aligned(len, align, MAP_NORESERVE);
    ck_assert_msg(p != NULL, "mmap of %zu bytes: %s", len + align, strerror(errno));
    return p;
}

static inline int ar_inside(const void *p, size_t n, const void *base, size_t len)
{
    uintptr_t a = (uintptr_t)p, b = (uintptr_t)base;
    return a >= b && a + n <= b + len;
}

/* Pages of [base, base+len) resident now. */
static inline size_t ar_resident(const void *base, size_t len)
{
    size_t page = (size_t)sysconf(_SC_PAGESIZE), n = (len + page - 1) / page, count = 0;
    unsigned char *vec = malloc(n);
    ck_assert_ptr_nonnull(vec);
    ck_assert_int_eq(mincore((void *)base, len, vec), 0);
    for (size_t i = 0; i < n; i++)
        count += vec[i] & 1;
    free(vec);
    return count * page;
}

static inline cistern_arena_t *ar_create(const char *name, cistern_sysalloc_t *const *src,
                                         size_t n, unsigned flags, size_t limit)
{
    cistern_arena_config_t cfg = { name, src, n, flags, limit };
    cistern_arena_t *a = cistern_arena_create(&cfg);
    ck_assert_msg(a != NULL, "cistern_arena_create(%s): %s", name ? name : "-", strerror(errno));
    return a;
}

static inline cistern_arena_stats_t ar_stats(const cistern_arena_t *a)
{
    cistern_arena_stats_t st;
    ck_assert_int_eq(cistern_arena_get_stats(a, &st), 0);
    return st;
}

static inline cistern_sysalloc_stats_t ar_source(const cistern_sysalloc_t *s)
{
    cistern_sysalloc_stats_t st;
    ck_assert_int_eq(cistern_sysalloc_get_stats(s, &st), 0);
    return st;
}

static inline double ar_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static inline uint32_t ar_rand(uint64_t *state)
{
    *state = *state * 6364136223846793005ull + 1442695040888963407ull;
    return (uint32_t)(*state >> 33);
}

/* ---- a set of pointers (open addressing; 0 is the empty slot) ------------- */

struct ar_set {
    uintptr_t *slot;
    size_t mask, n;
};

static inline void ar_set_init(struct ar_set *s, size_t expect)
{
    size_t cap = 64;
    while (cap < expect * 2)
        cap *= 2;
    s->slot = calloc(cap, sizeof *s->slot);
    ck_assert_ptr_nonnull(s->slot);
    s->mask = cap - 1;
    s->n = 0;
}

static inline size_t ar_set_hash(uintptr_t p)
{
    return (size_t)((p >> 3) * 0x9e3779b97f4a7c15ull >> 17);
}

/* 1 when p was added, 0 when it was there already. */
static inline int ar_set_add(struct ar_set *s, const void *p)
{
    if (2 * (s->n + 1) > s->mask + 1) {
        struct ar_set big;
        ar_set_init(&big, s->n * 2 + 2);
        for (size_t i = 0; i <= s->mask; i++)
            if (s->slot[i])
                ar_set_add(&big, (void *)s->slot[i]);
        free(s->slot);
        *s = big;
    }
    uintptr_t v = (uintptr_t)p;
    for (size_t i = ar_set_hash(v) & s->mask;; i = (i + 1) & s->mask) {
        if (s->slot[i] == v)
            return 0;
        if (!s->slot[i]) {
            s->slot[i] = v;
            s->n++;
            return 1;
        }
    }
}

static inline int ar_set_has(const struct ar_set *s, const void *p)
{
    uintptr_t v = (uintptr_t)p;
    for (size_t i = ar_set_hash(v) & s->mask; s->slot[i]; i = (i + 1) & s->mask)
        if (s->slot[i] == v)
            return 1;
    return 0;
}

static inline void ar_set_free(struct ar_set *s)
{
    free(s->slot);
    s->slot = NULL;
}

/* ---- blocks: pointer and usable size, checked for overlap ------------------ */

struct ar_block {
    void *p;
    size_t usable;
};

static inline int ar_block_cmp(const void *x, const void *y)
{
    uintptr_t a = (uintptr_t)((const struct ar_block *)x)->p;
    uintptr_t b = (uintptr_t)((const struct ar_block *)y)->p;
    return a < b ? -1 : a > b;
}

/* Sorts b; fails the test when two blocks share a byte. */
static inline void ar_assert_disjoint(struct ar_block *b, size_t n)
{
    qsort(b, n, sizeof *b, ar_block_cmp);
    for (size_t i = 1; i < n; i++)
        AR_CHECK_MSG((uintptr_t)b[i - 1].p + b[i - 1].usable <= (uintptr_t)b[i].p,
                     "blocks %p (+%zu) and %p overlap", b[i - 1].p, b[i - 1].usable, b[i].p);
}

/* ---- a walk that records what it sees -------------------------------------- */

struct ar_seen {
    struct ar_block *b;
    size_t n, cap;
    size_t bytes;
};

static inline int ar_collect(void *p, size_t usable, void *ctx)
{
    struct ar_seen *w = ctx;
    if (w->n == w->cap) {
        w->cap = w->cap ? w->cap * 2 : 1024;
        w->b = realloc(w->b, w->cap * sizeof *w->b);
        if (!w->b)
            abort();
    }
    w->b[w->n].p = p;
    w->b[w->n].usable = usable;
    w->n++;
    w->bytes += usable;
    return 0;
}

static inline struct ar_seen ar_walk(cistern_arena_t *a)
{
    struct ar_seen w = { NULL, 0, 0, 0 };
    ck_assert_int_eq(cistern_arena_walk(a, ar_collect, &w), 0);
    return w;
}

/* ---- process figures ---------------------------------------------------------- */

/* Resident bytes of the whole process (/proc/self/statm, second field). */
static inline size_t ar_rss(void)
{
    FILE *f = fopen("/proc/self/statm", "r");
    ck_assert_ptr_nonnull(f);
    unsigned long size = 0, resident = 0;
    ck_assert_int_eq(fscanf(f, "%lu %lu", &size, &resident), 2);
    fclose(f);
    return (size_t)resident * (size_t)sysconf(_SC_PAGESIZE);
}

/* The whole statistics report as a string (free() it). */
static inline char *ar_report(int json)
{
    FILE *f = tmpfile();
    ck_assert_ptr_nonnull(f);
    cistern_stats_print(f, json);
    long len = ftell(f);
    ck_assert_int_ge(len, 0);
    char *buf = malloc((size_t)len + 1);
    ck_assert_ptr_nonnull(buf);
    rewind(f);
    ck_assert_uint_eq(fread(buf, 1, (size_t)len, f), (size_t)len);
    buf[len] = 0;
    fclose(f);
    return buf;
}

/* A number from the JSON report: the first "key": N after the start. */
static inline size_t ar_json_number(const char *json, const char *key)
{
    char pat[64];
    snprintf(pat, sizeof pat, "\"%s\": ", key);
    const char *at = strstr(json, pat);
    ck_assert_msg(at != NULL, "no %s in the report", key);
    return (size_t)strtoull(at + strlen(pat), NULL, 10);
}

/* cistern's own metadata, as its report states it. */
static inline size_t ar_metadata_bytes(void)
{
    char *r = ar_report(1);
    size_t v = ar_json_number(r, "metadata_bytes");
    free(r);
    return v;
}

/* ---- the release thread ----------------------------------------------------- */

/* cistern's background thread drains transfer caches and decommits free
   pages whenever it wakes.  Tests of exact outcomes run without it (a
   checked fixture: each test is a fresh process), so that what they check
   does not depend on when it wakes; the tests that race it turn it on. */
static inline void ar_no_release_thread(void)
{
    ck_assert_int_eq(cistern_option_set("background_thread", "0"), 0);
}

/* The release thread on, waking as often as it can (every 50 ms). */
static inline void ar_busy_release_thread(void)
{
    ck_assert_int_eq(cistern_option_set("background_thread", "1"), 0);
    ck_assert_int_eq(cistern_option_set("decay_ms", "10"), 0);
}

/* ---- threads ------------------------------------------------------------------ */

static inline pthread_t ar_spawn(void *(*fn)(void *), void *arg)
{
    pthread_t t;
    ck_assert_int_eq(pthread_create(&t, NULL, fn, arg), 0);
    return t;
}

static inline void ar_join(pthread_t t)
{
    ck_assert_int_eq(pthread_join(t, NULL), 0);
}

#endif
