/*
 * secondary.c - the secondary allocator (design invariant 7): where the
 * pointers cistern did not allocate go, and an allocator consulted on the
 * allocation slow paths.
 *
 *   none     a foreign pointer stops the program with one line
 *   libc     glibc's blocks freed, resized and measured through cistern_*
 *            reach glibc
 *   custom   consulted on small and large slow paths; what it serves comes
 *            back to it, what it declines cistern serves
 *   guarded  an overflow, a use after free and a double free of a sampled
 *            allocation each stop with a report naming the allocation
 *
 * The program links libcistern_api, so its own malloc is glibc's.  Every
 * test runs in a fresh child (check's fork mode) where cistern is not yet
 * initialised, so CISTERN_OPTIONS set by the test is read at its first call.
 */
#include "lcutil.h"

#include <cistern.h>
#include <malloc.h>
#include <regex.h>
#include <sys/mman.h>

/* ---- none --------------------------------------------------------------------------- */

enum { VIA_FREE, VIA_REALLOC, VIA_USABLE, NVIA };
static const char *const via_name[NVIA] = { "free", "realloc", "cistern_usable_size" };

struct foreign_case {
    int via;
    int unset; /* install the libc secondary first, then remove it */
    void *p;   /* a block of glibc's */
};

static void foreign_call(void *arg)
{
    struct foreign_case *c = arg;
    if (c->unset) {
        if (cistern_secondary_set(cistern_secondary_libc(), NULL) != 0 ||
            cistern_secondary_set(NULL, NULL) != 0)
            _exit(3);
    }
    if (c->via == VIA_FREE)
        cistern_free(c->p);
    else if (c->via == VIA_REALLOC)
        (void)cistern_realloc(c->p, 200);
    else
        (void)cistern_usable_size(c->p);
}

/* Never set, and set then removed: stderr is exactly the one line. */
START_TEST(none_foreign_pointer_stops)
{
    struct foreign_case c = { _i % NVIA, _i / NVIA, malloc(100) };
    ck_assert_ptr_nonnull(c.p);
    struct lc_outcome o;
    lc_run_child(foreign_call, &c, &o);
    char want[160], how[64];
    snprintf(want, sizeof want, "cistern: %s(%p): pointer not allocated by cistern\n",
             via_name[c.via], c.p);
    ck_assert_msg(lc_aborted(&o), "%s of a glibc block: %s, stderr \"%s\"", via_name[c.via],
                  lc_ending(&o, how, sizeof how), o.err);
    ck_assert_str_eq(o.err, want);
    free(c.p);
}
END_TEST

/* ---- libc ----------------------------------------------------------------------------- */

/* Bytes glibc counts as allocated: what cistern hands back must change it.
   Under a sanitizer the process's malloc is the runtime's, whose mallinfo2
   says nothing; there, handing a block to the wrong free is reported by
   the runtime itself, so the count is not needed. */
static size_t glibc_in_use(void)
{
    return mallinfo2().uordblks;
}

#define expect_glibc_released(before, bytes)                                               \
    do {                                                                                   \
        size_t after_ = glibc_in_use();                                                    \
        if (!LC_SANITIZED)                                                                 \
            ck_assert_msg(after_ + (bytes) <= (before),                                    \
                          "glibc's bytes in use went from %zu to %zu", (before), after_);  \
    } while (0)

static void libc_roundtrip(void)
{
    unsigned char *p = malloc(1000);
    ck_assert_ptr_nonnull(p);
    memset(p, 0x3c, 1000);
    ck_assert_ptr_null(cistern_arena_of(p));
    ck_assert_uint_eq(cistern_usable_size(p), malloc_usable_size(p));

    unsigned char *q = cistern_realloc(p, 100000);
    ck_assert_ptr_nonnull(q);
    ck_assert_ptr_null(cistern_arena_of(q)); /* glibc resized it: still glibc's */
    ck_assert_uint_ge(malloc_usable_size(q), 100000);
    for (int i = 0; i < 1000; i++)
        ck_assert_int_eq(q[i], 0x3c);

    size_t before = glibc_in_use();
    cistern_free(q);
    expect_glibc_released(before, 100000);

    /* cistern's own blocks stay cistern's. */
    void *c = cistern_malloc(1000);
    ck_assert_ptr_eq(cistern_arena_of(c), cistern_arena_default());
    cistern_free(c);
}

START_TEST(libc_secondary_set)
{
    ck_assert_int_eq(cistern_secondary_set(cistern_secondary_libc(), NULL), 0);
    libc_roundtrip();
}
END_TEST

START_TEST(libc_secondary_option)
{
    ck_assert_int_eq(setenv("CISTERN_OPTIONS", "secondary=libc", 1), 0);
    cistern_free(cistern_malloc(10));
    libc_roundtrip();
}
END_TEST

/* The option holds from the very first call, even when that call is a
   foreign pointer's (a plugin whose first act is freeing what glibc gave). */
START_TEST(libc_secondary_option_first_call)
{
    ck_assert_int_eq(setenv("CISTERN_OPTIONS", "secondary=libc", 1), 0);
    /* Bigger than glibc's per-thread cache holds (whose blocks still count
       as in use) and smaller than its mmap threshold. */
    void *p = malloc(4000);
    ck_assert_ptr_nonnull(p);
    size_t before = glibc_in_use();
    cistern_free(p); /* the first call into cistern */
    expect_glibc_released(before, 4000);
}
END_TEST

/* ---- custom ----------------------------------------------------------------------------- */

/* A small allocator of its own: a bump region with a header per block.  It
   serves requests whose size is a multiple of 1000 and declines the rest. */
#define MINE_LEN (16 * MiB)
#define MINE_HDR 64
#define MINE_MAX 256

struct mine {
    unsigned char *base;
    size_t used;
    void *live[MINE_MAX];
    unsigned alloc_calls, served, frees, reallocs, usables, strangers;
};

static struct mine mine;

static int mine_owns(const void *p)
{
    return (const unsigned char *)p >= mine.base && (const unsigned char *)p < mine.base + MINE_LEN;
}

static int mine_slot(const void *p)
{
    for (int i = 0; i < MINE_MAX; i++)
        if (mine.live[i] == p)
            return i;
    return -1;
}

static void *mine_alloc(void *ctx, size_t size, size_t alignment)
{
    mine.alloc_calls++;
    if (ctx != &mine || size == 0 || size % 1000 != 0)
        return NULL;
    size_t align = alignment > MINE_HDR ? alignment : MINE_HDR;
    size_t at = (mine.used + MINE_HDR + align - 1) & ~(align - 1);
    int slot = mine_slot(NULL);
    if (at + size > MINE_LEN || slot < 0)
        return NULL;
    mine.used = at + size;
    unsigned char *p = mine.base + at;
    memcpy(p - MINE_HDR, &size, sizeof size);
    mine.live[slot] = p;
    mine.served++;
    return p;
}

static size_t mine_size(const void *p)
{
    size_t n;
    memcpy(&n, (const unsigned char *)p - MINE_HDR, sizeof n);
    return n;
}

static void mine_free(void *ctx, void *p)
{
    int slot = mine_slot(p);
    if (slot < 0) {
        mine.strangers++;
        return;
    }
    mine.live[slot] = NULL;
    mine.frees++;
}

static void *mine_realloc(void *ctx, void *p, size_t size)
{
    mine.reallocs++;
    if (mine_slot(p) < 0) {
        mine.strangers++;
        return NULL;
    }
    void *q = mine_alloc(ctx, (size + 999) / 1000 * 1000, 16);
    if (q) {
        size_t old = mine_size(p);
        memcpy(q, p, old < size ? old : size);
        mine_free(ctx, p);
    }
    return q;
}

static size_t mine_usable(void *ctx, const void *p)
{
    mine.usables++;
    if (mine_slot(p) < 0) {
        mine.strangers++;
        return 0;
    }
    return mine_size(p);
}

static const cistern_secondary_ops_t mine_ops = {
    .alloc = mine_alloc,
    .free = mine_free,
    .realloc = mine_realloc,
    .usable_size = mine_usable,
};

static void mine_install(void)
{
    memset(&mine, 0, sizeof mine);
    mine.base = mmap(NULL, MINE_LEN, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    ck_assert_ptr_ne(mine.base, MAP_FAILED);
    ck_assert_int_eq(cistern_secondary_set(&mine_ops, &mine), 0);
}

START_TEST(custom_consulted_and_paid_back)
{
    mine_install();

    /* Small: the first request of a class reaches the slow path. */
    unsigned calls = mine.alloc_calls;
    unsigned char *s = cistern_malloc(3000);
    ck_assert_uint_gt(mine.alloc_calls, calls);
    ck_assert_msg(mine_owns(s), "a small request the secondary serves came from cistern");
    memset(s, 7, 3000);
    ck_assert_uint_eq(cistern_usable_size(s), 3000);
    ck_assert_uint_eq(mine.usables, 1);
    unsigned char *s2 = cistern_realloc(s, 5000);
    ck_assert_uint_eq(mine.reallocs, 1);
    ck_assert(mine_owns(s2) && s2[2999] == 7);
    cistern_free(s2);
    ck_assert_uint_eq(mine.frees, 2); /* the realloc's old block, then this one */

    /* Declined: cistern serves it. */
    calls = mine.alloc_calls;
    void *d = cistern_malloc(3001);
    ck_assert_uint_gt(mine.alloc_calls, calls);
    ck_assert_ptr_eq(cistern_arena_of(d), cistern_arena_default());
    cistern_free(d);

    /* Large: every request is a slow path, so every one is asked. */
    calls = mine.alloc_calls;
    void *big[10];
    for (int i = 0; i < 10; i++) {
        big[i] = cistern_malloc(i % 2 ? 2000000 : 2000001);
        ck_assert_ptr_nonnull(big[i]);
        ck_assert_msg(!!mine_owns(big[i]) == i % 2, "large block %d from the wrong allocator", i);
    }
    ck_assert_uint_eq(mine.alloc_calls - calls, 10);

    /* Aligned and zeroed requests go through it too. */
    void *al = cistern_aligned_alloc(4096, 8000);
    ck_assert(mine_owns(al) && (uintptr_t)al % 4096 == 0);
    unsigned char *z = cistern_calloc(4, 1000);
    ck_assert(mine_owns(z));
    for (int i = 0; i < 4000; i++)
        ck_assert_int_eq(z[i], 0);

    /* Everything it served comes back to it, once. */
    unsigned frees = mine.frees;
    for (int i = 0; i < 10; i++)
        cistern_free(big[i]);
    cistern_free(al);
    cistern_free(z);
    ck_assert_uint_eq(mine.frees - frees, 5 + 2);
    for (int i = 0; i < MINE_MAX; i++)
        ck_assert_ptr_null(mine.live[i]);
    ck_assert_uint_eq(mine.strangers, 0);
    ck_assert_int_eq(cistern_check_heap(), 0);
}
END_TEST

/* An arena bound to a pool takes every size from the pool (design: "no
   caps, no escape"): the secondary serves the default arena only. */
START_TEST(custom_never_serves_a_pool_arena)
{
    mine_install();
    size_t len = 16 * MiB;
    unsigned char *pool =
        mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    ck_assert_ptr_ne(pool, MAP_FAILED);
    cistern_sysalloc_t *src = cistern_sysalloc_pool(pool, len, 0);
    ck_assert_ptr_nonnull(src);
    cistern_arena_config_t cfg = { "pool", &src, 1, 0, 0 };
    cistern_arena_t *a = cistern_arena_create(&cfg);
    ck_assert_ptr_nonnull(a);
    static const size_t sizes[] = { 1000, 3000, 64000, 2000000 };
    for (unsigned i = 0; i < 4; i++) {
        unsigned char *p = cistern_arena_malloc(a, sizes[i]);
        ck_assert_ptr_nonnull(p);
        ck_assert_msg(p >= pool && p < pool + len && cistern_arena_of(p) == a,
                      "cistern_arena_malloc(pool arena, %zu) = %p, outside the pool [%p, %p)%s",
                      sizes[i], (void *)p, (void *)pool, (void *)(pool + len),
                      mine_owns(p) ? ": served by the secondary allocator" : "");
        cistern_free(p);
    }
    ck_assert_int_eq(cistern_arena_destroy(a), 0);
    ck_assert_int_eq(cistern_sysalloc_release(src), 0);
}
END_TEST

/* ---- guarded ---------------------------------------------------------------------------- */

enum { BUG_OVERFLOW, BUG_USE_AFTER_FREE, BUG_DOUBLE_FREE };
static const char *const bug_words[] = { "heap buffer overflow", "use after free", "double free" };

/* Set after start-up, the option installs the secondary at once. */
START_TEST(libc_secondary_option_set_later)
{
    cistern_free(cistern_malloc(10)); /* cistern is up, with no secondary */
    ck_assert_int_eq(cistern_option_set("secondary", "libc"), 0);
    libc_roundtrip();
}
END_TEST

/* Before the first allocation, cistern_option_get answers what
   CISTERN_OPTIONS says, and a value set then is the one that serves (the
   environment, read first, does not overwrite it). */
START_TEST(options_before_start_follow_environment)
{
    ck_assert_int_eq(setenv("CISTERN_OPTIONS", "decay_ms=4321,tcache_max_bytes=1m", 1), 0);
    long long v = 0;
    ck_assert_int_eq(cistern_option_get("decay_ms", &v), 0);
    ck_assert_int_eq(v, 4321);
    ck_assert_int_eq(cistern_option_set("tcache_max_bytes", "2m"), 0);
    cistern_free(cistern_malloc(10));
    ck_assert_int_eq(cistern_option_get("decay_ms", &v), 0);
    ck_assert_int_eq(v, 4321);
    ck_assert_int_eq(cistern_option_get("tcache_max_bytes", &v), 0);
    ck_assert_int_eq(v, 2 << 20);
}
END_TEST

/* The release policy answers to decay_ms, decay and release_rate (the
   rate r meaning pages idle for 10000 / r ms; 0: never). */
START_TEST(release_rate_and_decay_names)
{
    ck_assert_int_eq(setenv("CISTERN_OPTIONS", "release_rate=20", 1), 0);
    long long v = 0;
    ck_assert_int_eq(cistern_option_get("decay_ms", &v), 0);
    ck_assert_int_eq(v, 500);
    ck_assert_int_eq(cistern_option_get("release_rate", &v), 0);
    ck_assert_int_eq(v, 20);
    ck_assert_int_eq(cistern_option_set("decay", "250"), 0);
    ck_assert_int_eq(cistern_option_get("decay_ms", &v), 0);
    ck_assert_int_eq(v, 250);
    ck_assert_int_eq(cistern_option_set("release_rate", "0"), 0);
    ck_assert_int_eq(cistern_option_get("decay_ms", &v), 0);
    ck_assert_int_eq(v, -1);
    ck_assert_int_eq(cistern_option_get("release_rate", &v), 0);
    ck_assert_int_eq(v, 0);
    ck_assert_int_eq(cistern_option_set("release_rate", "-3"), EINVAL);
    cistern_free(cistern_malloc(10));
}
END_TEST

struct guarded_case {
    int bug;
    size_t size;
    int via_api; /* 0: CISTERN_OPTIONS; 1: cistern_option_set + cistern_secondary_set */
};

/* In the child: a sampled allocation (rate 1: the first slow-path one),
   announced on stderr, then the bug. */
static void guarded_bug(void *arg)
{
    const struct guarded_case *c = arg;
    if (c->via_api) {
        if (cistern_option_set("secondary", "guarded:1") != 0 ||
            cistern_secondary_set(cistern_secondary_guarded(), NULL) != 0)
            _exit(3);
    } else if (setenv("CISTERN_OPTIONS", "secondary=guarded:1", 1) != 0) {
        _exit(3);
    }
    volatile unsigned char *p = cistern_malloc(c->size);
    if (!p || cistern_arena_of((void *)p) != NULL)
        _exit(4); /* not sampled */
    fprintf(stderr, "allocated %p\n", (void *)p);
    p[0] = 1;
    p[c->size - 1] = 1;
    switch (c->bug) {
    case BUG_OVERFLOW:
        p[c->size] = 1;
        break;
    case BUG_USE_AFTER_FREE:
        cistern_free((void *)p);
        (void)p[c->size / 2];
        break;
    default:
        cistern_free((void *)p);
        cistern_free((void *)p);
    }
}

static void expect_guarded_report(const struct guarded_case *c)
{
    struct lc_outcome o;
    lc_run_child(guarded_bug, (void *)c, &o);
    char how[64];
    ck_assert_msg(!WIFEXITED(o.status) || WEXITSTATUS(o.status) != 4,
                  "%zu bytes: the allocation was not sampled", c->size);
    ck_assert_msg(lc_aborted(&o), "%s of %zu bytes: %s; stderr \"%s\"", bug_words[c->bug], c->size,
                  lc_ending(&o, how, sizeof how), o.err);
    void *p = NULL;
    ck_assert_msg(sscanf(o.err, "allocated %p", &p) == 1, "no address announced: \"%s\"", o.err);
    char want[160];
    snprintf(want, sizeof want, "cistern: guarded allocation %p of %zu bytes: %s", p, c->size,
             bug_words[c->bug]);
    ck_assert_msg(strstr(o.err, want) != NULL, "no \"%s\" in stderr \"%s\"", want, o.err);
    ck_assert_msg(strstr(o.err, "allocated at:") != NULL, "no allocation trace: \"%s\"", o.err);
}

/* Sizes are multiples of 16: the block is flush against the upper guard
   only up to the 16-byte alignment every block keeps. */
static const size_t guarded_sizes[] = { 16, 64, 1008, 4096, 12288, 100000 };
#define NGUARDED (int)(sizeof guarded_sizes / sizeof guarded_sizes[0])

START_TEST(guarded_overflow_stops)
{
    struct guarded_case c = { BUG_OVERFLOW, guarded_sizes[_i % NGUARDED], _i / NGUARDED };
    expect_guarded_report(&c);
}
END_TEST

START_TEST(guarded_use_after_free_stops)
{
    struct guarded_case c = { BUG_USE_AFTER_FREE, guarded_sizes[_i % NGUARDED], _i / NGUARDED };
    expect_guarded_report(&c);
}
END_TEST

START_TEST(guarded_double_free_stops)
{
    struct guarded_case c = { BUG_DOUBLE_FREE, guarded_sizes[_i % NGUARDED], _i / NGUARDED };
    expect_guarded_report(&c);
}
END_TEST

static Suite *make_suite(void)
{
    Suite *s = suite_create("secondary");
    TCase *tc = tcase_create("none_libc_custom");
    tcase_set_timeout(tc, 60);
    tcase_add_loop_test(tc, none_foreign_pointer_stops, 0, 2 * NVIA);
    tcase_add_test(tc, libc_secondary_set);
    tcase_add_test(tc, libc_secondary_option);
    tcase_add_test(tc, libc_secondary_option_first_call);
    tcase_add_test(tc, libc_secondary_option_set_later);
    tcase_add_test(tc, options_before_start_follow_environment);
    tcase_add_test(tc, release_rate_and_decay_names);
    tcase_add_test(tc, custom_consulted_and_paid_back);
    tcase_add_test(tc, custom_never_serves_a_pool_arena);
    suite_add_tcase(s, tc);

    tc = tcase_create("guarded");
    tcase_set_timeout(tc, 60);
    tcase_add_loop_test(tc, guarded_overflow_stops, 0, 2 * NGUARDED);
    tcase_add_loop_test(tc, guarded_use_after_free_stops, 0, 2 * NGUARDED);
    tcase_add_loop_test(tc, guarded_double_free_stops, 0, 2 * NGUARDED);
    suite_add_tcase(s, tc);
    return s;
}

CS_TEST_MAIN(make_suite)
