/*
 * interp.c - the API interpreter (see interp.h).
 *
 * The model: arena 0 is the default arena; arenas 1..3 are created by the
 * input over the os source (maybe with a byte limit or no thread cache),
 * over a custom source whose refusals the input schedules, or over one of
 * two pools this file owns (mapped once, with guard pages whose contents
 * must never change).  Up to 64 blocks are live at a time; each carries a
 * pattern at both ends, checked whenever the block is used again.
 *
 * An input is read byte by byte; running out of bytes ends it.  Every
 * result is checked against what the API promises: a block is aligned,
 * usable, in the arena asked for (or in the block's own arena for realloc),
 * a failure is NULL + ENOMEM (EINVAL for a bad alignment) and only where a
 * failure is possible, release says EBUSY exactly when it must, and
 * cistern_check_heap() is clean at the end.
 */
#include "interp.h"

#include <cistern.h>
#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

/* Under AddressSanitizer the library poisons the memory it holds free: a
   pool handed back must come back unpoisoned, or the program's own use of
   it is reported. */
#if defined(__SANITIZE_ADDRESS__)
#define FZ_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define FZ_ASAN 1
#endif
#endif
#ifdef FZ_ASAN
#include <sanitizer/asan_interface.h>
#define fz_poisoned(p, n) __asan_region_is_poisoned((void *)(p), (n))
#else
#define fz_poisoned(p, n) ((void)(p), (void)(n), (void *)0)
#endif

#define KiB ((size_t)1 << 10)
#define MiB ((size_t)1 << 20)
#define NARENAS 4
#define NPOOLS 2
#define NSLOTS 64
#define POOL_LEN (8 * MiB)
/* Pools start on a 2 MiB boundary: no partial heap page to trim, so the
   whole range is usable and the arithmetic below holds. */
#define POOL_ALIGN (2 * MiB)
#define EDGE 32
/* The most the live blocks may hold at once: inputs stay well inside the
   fuzzer's memory limit. */
#define LIVE_CAP (256 * MiB)
#define GUARD_BYTE 0xa5

struct flaky {
    unsigned pattern;  /* bit k set: refuse call k (mod 8) */
    unsigned calls, regions, unmaps, destroyed;
    size_t live;
};

struct arena_rec {
    cistern_arena_t *a;
    cistern_sysalloc_t *own; /* its custom source, released with it */
    struct flaky fl;
    int reliable;            /* an os source in the chain and no limit: never fails */
};

struct pool_rec {
    unsigned char *map;      /* guard page | pool | guard page */
    unsigned char *base;
    cistern_sysalloc_t *src; /* NULL: not injected */
    int arena;               /* whose chain holds it; -1: none */
};

struct slot {
    unsigned char *p;
    size_t n;
    uint32_t seed;
    int arena;
};

static struct arena_rec arenas[NARENAS];
static struct pool_rec pools[NPOOLS];
static struct slot slots[NSLOTS];
static size_t live_bytes;
static int routed; /* the arena this thread's plain calls go to */
static unsigned long calls;
static size_t page;

struct reader {
    const uint8_t *p, *end;
};

static unsigned byte(struct reader *r)
{
    return r->p < r->end ? *r->p++ : 0;
}

static unsigned u16(struct reader *r)
{
    unsigned lo = byte(r);
    return lo | byte(r) << 8;
}

__attribute__((noreturn, format(printf, 2, 3))) static void fail(int line, const char *fmt, ...)
{
    va_list ap;
    fprintf(stderr, "fuzz: interp.c:%d: ", line);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    abort();
}

#define EXPECT(cond, ...)                                                                  \
    do {                                                                                   \
        if (!(cond))                                                                       \
            fail(__LINE__, __VA_ARGS__);                                                   \
    } while (0)

/* ---- blocks ---------------------------------------------------------------------- */

static size_t edge(size_t n)
{
    return n / 2 < EDGE ? n / 2 : EDGE;
}

static void fill(unsigned char *p, size_t n, uint32_t seed)
{
    for (size_t i = 0; i < n; i++)
        p[i] = (unsigned char)(seed * 31u + i * 7u);
}

static int same(const unsigned char *p, size_t n, uint32_t seed)
{
    for (size_t i = 0; i < n; i++)
        if (p[i] != (unsigned char)(seed * 31u + i * 7u))
            return 0;
    return 1;
}

static void stamp(struct slot *s)
{
    fill(s->p, edge(s->n), s->seed);
    fill(s->p + s->n - edge(s->n), edge(s->n), s->seed ^ 0x5555u);
}

static void expect_stamped(const struct slot *s, int line)
{
    if (!same(s->p, edge(s->n), s->seed) ||
        !same(s->p + s->n - edge(s->n), edge(s->n), s->seed ^ 0x5555u))
        fail(line, "block %p of %zu bytes (arena %d) changed", (void *)s->p, s->n, s->arena);
}

static cistern_arena_t *arena_ptr(int i)
{
    return i == 0 ? cistern_arena_default() : arenas[i].a;
}

/* A new block in slot s: where it must lie, what it must offer. */
static void keep(struct slot *s, void *p, size_t n, int arena, size_t align, uint32_t seed)
{
    EXPECT(cistern_arena_of(p) == arena_ptr(arena), "%p (%zu bytes) is not in arena %d",
           p, n, arena);
    EXPECT((uintptr_t)p % align == 0, "%p is not %zu-aligned", p, align);
    EXPECT(cistern_usable_size(p) >= n, "usable size %zu < %zu", cistern_usable_size(p), n);
    s->p = p;
    s->n = n;
    s->arena = arena;
    s->seed = seed;
    live_bytes += n;
    if (n)
        stamp(s);
}

static void drop(struct slot *s, int sized)
{
    if (!s->p)
        return;
    expect_stamped(s, __LINE__);
    calls++;
    if (sized)
        cistern_free_sized(s->p, s->n);
    else
        cistern_free(s->p);
    live_bytes -= s->n;
    s->p = NULL;
}

/* Forget the blocks of arena i (reset or destroyed: they are gone). */
static void forget_arena(int i)
{
    for (int k = 0; k < NSLOTS; k++)
        if (slots[k].p && slots[k].arena == i) {
            live_bytes -= slots[k].n;
            slots[k].p = NULL;
        }
}

/* A failure the API allows: NULL with this errno, where failing is possible. */
static void expect_failure(void *p, int err, int may_fail, int line, const char *what, size_t n)
{
    if (p)
        fail(line, "%s(%zu) succeeded where it must fail", what, n);
    if (errno != err)
        fail(line, "%s(%zu): errno %d, expected %d", what, n, errno, err);
    if (err == ENOMEM && !may_fail)
        fail(line, "%s(%zu) failed in an arena that cannot run out", what, n);
}

/* Requests no machine can serve: NULL + ENOMEM always. */
static int impossible(size_t n)
{
    return n >= (size_t)PTRDIFF_MAX - 64 * KiB;
}

static size_t take_size(struct reader *r)
{
    static const size_t special[] = { 0, 1, 8, 16, 256 * KiB, 256 * KiB + 1, POOL_LEN - 64 * KiB,
                                      POOL_LEN + 1, SIZE_MAX, SIZE_MAX / 2, PTRDIFF_MAX };
    unsigned sel = byte(r) % 8, v = u16(r);
    switch (sel) {
    case 4:
    case 5:
        return (size_t)v * 4 % (256 * KiB + 64);  /* the small classes' whole range */
    case 6:
        return 256 * KiB + (size_t)v * 32;        /* large, up to about 2 MiB */
    case 7:
        return special[v % (sizeof special / sizeof special[0])];
    default:
        return v % 1025;                          /* what programs allocate most */
    }
}

static int may_fail(int arena)
{
    return !arenas[arena].reliable && arena != 0;
}

/* ---- sources ------------------------------------------------------------------------ */

static void *flaky_alloc(void *ctx, size_t size, size_t align, size_t *actual)
{
    struct flaky *f = ctx;
    if (f->pattern >> (f->calls++ % 8) & 1)
        return NULL;
    size_t give = (size + page - 1) & ~(page - 1);
    if (give < MiB)
        give = MiB;
    if (align < page)
        align = page;
    unsigned char *m = mmap(NULL, give + align, PROT_READ | PROT_WRITE,
                            MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (m == MAP_FAILED)
        return NULL;
    uintptr_t a = (uintptr_t)m, start = (a + align - 1) & ~(uintptr_t)(align - 1);
    if (start > a)
        munmap(m, start - a);
    munmap((void *)(start + give), a + give + align - (start + give));
    f->regions++;
    f->live += give;
    *actual = give;
    return (void *)start;
}

static int flaky_decommit(void *ctx, void *p, size_t len)
{
    return madvise(p, len, MADV_DONTNEED) == 0 ? 0 : errno;
}

static int flaky_unmap(void *ctx, void *p, size_t len)
{
    struct flaky *f = ctx;
    EXPECT(len <= f->live, "unmap of %zu bytes, only %zu handed out", len, f->live);
    f->unmaps++;
    f->live -= len;
    return munmap(p, len) == 0 ? 0 : errno;
}

static void flaky_destroy(void *ctx)
{
    ((struct flaky *)ctx)->destroyed++;
}

static const cistern_sysalloc_ops_t flaky_ops = {
    .alloc = flaky_alloc,
    .decommit = flaky_decommit,
    .unmap = flaky_unmap,
    .destroy = flaky_destroy,
};

/* Every region the custom source handed out came back; it was destroyed once. */
static void expect_flaky_settled(const struct flaky *f, int line)
{
    if (f->regions != f->unmaps || f->live || f->destroyed != 1)
        fail(line, "custom source: %u regions out, %u back, %zu bytes kept, destroyed %u times",
             f->regions, f->unmaps, f->live, f->destroyed);
}

static void pools_map_once(void)
{
    if (pools[0].map)
        return;
    page = (size_t)sysconf(_SC_PAGESIZE);
    for (int k = 0; k < NPOOLS; k++) {
        size_t len = POOL_LEN + POOL_ALIGN + 2 * page;
        unsigned char *m = mmap(NULL, len, PROT_READ | PROT_WRITE,
                                MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
        EXPECT(m != MAP_FAILED, "cannot map a pool");
        uintptr_t b = ((uintptr_t)m + page + POOL_ALIGN - 1) & ~(uintptr_t)(POOL_ALIGN - 1);
        pools[k].map = m;
        pools[k].base = (unsigned char *)b;
        pools[k].arena = -1;
        memset(pools[k].base - page, GUARD_BYTE, page);
        memset(pools[k].base + POOL_LEN, GUARD_BYTE, page);
    }
}

/* The pool is the program's again: mapped, writable, its neighbours untouched. */
static void expect_pool_intact(struct pool_rec *pl, int line)
{
    void *poisoned = fz_poisoned(pl->base, POOL_LEN);
    if (poisoned)
        fail(line, "pool %p handed back with %p still poisoned", (void *)pl->base, poisoned);
    for (size_t off = 0; off < POOL_LEN; off += 64 * KiB)
        pl->base[off] = 1; /* faults if cistern unmapped or protected it */
    for (size_t i = 0; i < page; i++)
        if (pl->base[-1 - (ptrdiff_t)i] != GUARD_BYTE || pl->base[POOL_LEN + i] != GUARD_BYTE)
            fail(line, "a byte next to pool %p changed", (void *)pl->base);
    madvise(pl->base, POOL_LEN, MADV_DONTNEED); /* its pages cost nothing between inputs */
}

static int pool_has_blocks(const struct pool_rec *pl)
{
    for (int k = 0; k < NSLOTS; k++)
        if (slots[k].p && slots[k].p >= pl->base && slots[k].p < pl->base + POOL_LEN)
            return 1;
    return 0;
}

/* ---- operations -------------------------------------------------------------------------- */

static void op_alloc(struct reader *r, int kind)
{
    struct slot *s = &slots[byte(r) % NSLOTS];
    int ai = (int)(byte(r) % NARENAS);
    if (!arena_ptr(ai))
        return;
    size_t n = take_size(r), align = 16;
    uint32_t seed = byte(r);
    drop(s, 0);
    if (!impossible(n) && live_bytes + n > LIVE_CAP)
        return;
    void *p;
    errno = 0;
    calls++;
    if (kind == 0) {
        p = ai == routed && byte(r) % 2 ? cistern_malloc(n) : cistern_arena_malloc(arena_ptr(ai), n);
    } else if (kind == 1) {
        size_t count = 1 + byte(r) % 16, total;
        int over = __builtin_mul_overflow(count, n, &total);
        if (!over && !impossible(total) && live_bytes + total > LIVE_CAP)
            return;
        p = cistern_arena_calloc(arena_ptr(ai), count, n);
        if (over || impossible(total)) {
            expect_failure(p, ENOMEM, 1, __LINE__, "calloc", n);
            return;
        }
        n = total;
        if (p)
            for (size_t i = 0; i < n; i += (n / 64) + 1)
                EXPECT(((unsigned char *)p)[i] == 0, "calloc'd byte %zu of %zu not zero", i, n);
    } else {
        unsigned a = byte(r);
        align = a % 8 == 7 ? 24 + (a & 0x70) : (size_t)1 << (a % 22);
        p = cistern_arena_aligned_alloc(arena_ptr(ai), align, n);
        if (a % 8 == 7) {
            expect_failure(p, EINVAL, 1, __LINE__, "aligned_alloc", n);
            return;
        }
    }
    if (!p) {
        const char *what = kind == 0 ? "malloc" : kind == 1 ? "calloc" : "aligned_alloc";
        expect_failure(p, ENOMEM, impossible(n) || may_fail(ai), __LINE__, what, n);
        return;
    }
    EXPECT(!impossible(n), "a request of %zu bytes succeeded", n);
    /* malloc promises 16 bytes from 16 bytes up; aligned_alloc what it was asked. */
    keep(s, p, n, ai, kind == 2 ? align : n >= 16 ? 16 : 1, seed);
}

static void op_realloc(struct reader *r)
{
    struct slot *s = &slots[byte(r) % NSLOTS];
    int ai = (int)(byte(r) % NARENAS);
    size_t n = take_size(r);
    uint32_t seed = byte(r);
    int form = (int)(byte(r) % 3);
    if (!s->p && !arena_ptr(ai))
        return;
    if (!impossible(n) && live_bytes + n > LIVE_CAP)
        return;
    int arena = s->p ? s->arena : ai;
    if (s->p)
        expect_stamped(s, __LINE__);
    errno = 0;
    calls++;
    void *q = form == 0 && (s->p || ai == routed) ? cistern_realloc(s->p, n)
              : form == 1 && s->p                  ? cistern_arena_realloc(NULL, s->p, n)
                                                   : cistern_arena_realloc(arena_ptr(ai), s->p, n);
    if (s->p && n == 0) {
        EXPECT(q == NULL, "realloc(p, 0) returned %p, not NULL", q);
        live_bytes -= s->n;
        s->p = NULL;
        return;
    }
    if (!q) {
        expect_failure(q, ENOMEM, impossible(n) || may_fail(arena), __LINE__, "realloc", n);
        if (s->p)
            expect_stamped(s, __LINE__); /* the old block is untouched */
        return;
    }
    EXPECT(!impossible(n), "realloc to %zu bytes succeeded", n);
    if (s->p) {
        size_t kept = edge(s->n) < n ? edge(s->n) : n;
        EXPECT(same(q, kept, s->seed), "realloc lost the block's first bytes");
        live_bytes -= s->n;
    }
    keep(s, q, n, arena, n >= 16 ? 16 : 1, seed);
}

static void op_free(struct reader *r)
{
    unsigned b = byte(r);
    drop(&slots[b % NSLOTS], b & 0x80);
}

static void op_usable(struct reader *r)
{
    struct slot *s = &slots[byte(r) % NSLOTS];
    if (!s->p)
        return;
    calls++;
    expect_stamped(s, __LINE__);
    EXPECT(cistern_usable_size(s->p) >= s->n, "usable size shrank below %zu", s->n);
    EXPECT(cistern_arena_of(s->p) == arena_ptr(s->arena), "block left its arena");
}

static int free_arena_index(void)
{
    for (int i = 1; i < NARENAS; i++)
        if (!arenas[i].a)
            return i;
    return -1;
}

static void op_arena_create(struct reader *r)
{
    int i = free_arena_index();
    unsigned kind = byte(r) % 3, flags = byte(r) % 2 ? CISTERN_ARENA_NO_TCACHE : 0;
    unsigned lim = byte(r) % 4, pattern = byte(r);
    if (i < 0)
        return;
    struct arena_rec *ar = &arenas[i];
    memset(ar, 0, sizeof *ar);
    cistern_sysalloc_t *chain[2];
    size_t n = 0;
    if (kind == 1) {
        ar->fl.pattern = pattern;
        ar->own = cistern_sysalloc_custom("fz-flaky", &flaky_ops, &ar->fl, 0, 0);
        EXPECT(ar->own != NULL, "cistern_sysalloc_custom: errno %d", errno);
        chain[n++] = ar->own;
    } else {
        if (kind == 2)
            chain[n++] = cistern_sysalloc_hugepage();
        chain[n++] = cistern_sysalloc_os();
    }
    cistern_arena_config_t cfg = { "fz", chain, n, flags, lim ? lim * 4 * MiB : 0 };
    calls++;
    ar->a = cistern_arena_create(&cfg);
    EXPECT(ar->a != NULL, "cistern_arena_create: errno %d", errno);
    ar->reliable = kind != 1 && lim == 0;
}

static void release_own_source(struct arena_rec *ar)
{
    if (!ar->own)
        return;
    calls++;
    int rc = cistern_sysalloc_release(ar->own);
    EXPECT(rc == 0, "release of a custom source no arena uses: %d", rc);
    expect_flaky_settled(&ar->fl, __LINE__);
    ar->own = NULL;
}

static void op_arena_reset(struct reader *r)
{
    int i = (int)(byte(r) % NARENAS);
    calls++;
    if (i == 0) {
        errno = 0;
        cistern_arena_reset(cistern_arena_default());
        EXPECT(errno == EINVAL, "reset of the default arena: errno %d", errno);
        return;
    }
    if (!arenas[i].a)
        return;
    cistern_arena_reset(arenas[i].a);
    forget_arena(i);
}

static void op_arena_destroy(struct reader *r)
{
    int i = (int)(byte(r) % NARENAS);
    calls++;
    if (i == 0) {
        EXPECT(cistern_arena_destroy(cistern_arena_default()) == EINVAL,
               "destroy of the default arena did not say EINVAL");
        return;
    }
    struct arena_rec *ar = &arenas[i];
    if (!ar->a)
        return;
    if (routed == i)
        routed = 0; /* the thread falls back to the default arena by itself */
    int rc = cistern_arena_destroy(ar->a);
    EXPECT(rc == 0, "cistern_arena_destroy: %d", rc);
    forget_arena(i);
    ar->a = NULL;
    for (int k = 0; k < NPOOLS; k++)
        if (pools[k].arena == i)
            pools[k].arena = -1;
    release_own_source(ar);
}

static void op_pool_inject(struct reader *r)
{
    struct pool_rec *pl = &pools[byte(r) % NPOOLS];
    unsigned how = byte(r);
    calls++;
    if (pl->src) {
        /* The range is taken: a second injection of it is refused. */
        errno = 0;
        cistern_sysalloc_t *again = cistern_sysalloc_pool(pl->base + (how % 4) * page * 2,
                                                          POOL_LEN / 2, 0);
        EXPECT(again == NULL && errno == EEXIST, "overlapping pool accepted (errno %d)", errno);
        return;
    }
    pl->src = cistern_sysalloc_pool(pl->base, POOL_LEN, 0);
    EXPECT(pl->src != NULL, "cistern_sysalloc_pool: errno %d", errno);
    int i = free_arena_index();
    if (how % 2 == 0 && i > 0) { /* an arena over the pool alone */
        cistern_arena_config_t cfg = { "fz-pool", &pl->src, 1, 0, 0 };
        arenas[i] = (struct arena_rec){ 0 };
        arenas[i].a = cistern_arena_create(&cfg);
        EXPECT(arenas[i].a != NULL, "arena over a pool: errno %d", errno);
        pl->arena = i;
        return;
    }
    for (int k = 1; k < NARENAS; k++) { /* else into an arena's chain */
        int j = (int)((how / 2 + (unsigned)k) % (NARENAS - 1)) + 1;
        if (!arenas[j].a)
            continue;
        int rc = cistern_arena_add_sysalloc(arenas[j].a, pl->src, how & 4 ? 0 : CISTERN_CHAIN_LAST);
        EXPECT(rc == 0 || rc == ENOSPC, "cistern_arena_add_sysalloc: %d", rc);
        if (rc == 0)
            pl->arena = j;
        return;
    }
}

static void op_pool_remove(struct reader *r)
{
    struct pool_rec *pl = &pools[byte(r) % NPOOLS];
    if (!pl->src || pl->arena < 0)
        return;
    calls++;
    int rc = cistern_arena_remove_sysalloc(arenas[pl->arena].a, pl->src);
    EXPECT(rc == 0, "cistern_arena_remove_sysalloc: %d", rc);
    pl->arena = -1;
}

static void op_pool_release(struct reader *r)
{
    struct pool_rec *pl = &pools[byte(r) % NPOOLS];
    if (!pl->src)
        return;
    calls++;
    int rc = cistern_sysalloc_release(pl->src);
    if (pl->arena >= 0 || pool_has_blocks(pl))
        EXPECT(rc == EBUSY, "release of a pool in use: %d, expected EBUSY", rc);
    else
        EXPECT(rc == 0 || rc == EBUSY, "release of an idle pool: %d", rc);
    if (rc == 0) {
        pl->src = NULL;
        expect_pool_intact(pl, __LINE__);
    }
}

/* Another thread frees a block of this one and allocates one in its place. */
struct visit {
    struct slot *s;
    cistern_arena_t *a;
    size_t n;
    void *got;
};

static void *visitor(void *arg)
{
    struct visit *v = arg;
    if (v->s->p)
        cistern_free(v->s->p);
    v->got = v->a ? cistern_arena_malloc(v->a, v->n) : NULL;
    return NULL;
}

static void op_thread(struct reader *r)
{
    struct slot *s = &slots[byte(r) % NSLOTS];
    int ai = (int)(byte(r) % NARENAS);
    size_t n = 1 + u16(r) % 4096;
    uint32_t seed = byte(r);
    if (s->p)
        expect_stamped(s, __LINE__);
    struct visit v = { s, arena_ptr(ai), n, NULL };
    pthread_t t;
    calls++;
    EXPECT(pthread_create(&t, NULL, visitor, &v) == 0, "pthread_create failed");
    pthread_join(t, NULL);
    if (s->p) {
        live_bytes -= s->n;
        s->p = NULL;
    }
    if (v.got)
        keep(s, v.got, n, ai, n >= 16 ? 16 : 1, seed);
    else
        EXPECT(!v.a || may_fail(ai), "malloc(%zu) failed in another thread", n);
}

/* Everything back to nothing: blocks freed, arenas destroyed, pools released. */
static void settle(void)
{
    for (int k = 0; k < NSLOTS; k++)
        drop(&slots[k], 0);
    cistern_thread_set_arena(NULL);
    routed = 0;
    for (int i = 1; i < NARENAS; i++)
        if (arenas[i].a) {
            EXPECT(cistern_arena_destroy(arenas[i].a) == 0, "cistern_arena_destroy failed");
            arenas[i].a = NULL;
            release_own_source(&arenas[i]);
        }
    for (int k = 0; k < NPOOLS; k++) {
        pools[k].arena = -1;
        if (pools[k].src) {
            int rc = cistern_sysalloc_release(pools[k].src);
            EXPECT(rc == 0, "release of a pool no arena holds: %d", rc);
            pools[k].src = NULL;
            expect_pool_intact(&pools[k], __LINE__);
        }
    }
    EXPECT(live_bytes == 0, "%zu bytes unaccounted for", live_bytes);
}

/* cistern_teardown with blocks, arenas and pools still in use: all of it
   is given back, pools intact, custom sources paid back. */
static void teardown_now(void)
{
    calls++;
    cistern_teardown(); /* a routed thread falls back to the default arena */
    memset(slots, 0, sizeof slots);
    live_bytes = 0;
    routed = 0;
    for (int i = 1; i < NARENAS; i++) {
        if (arenas[i].own)
            expect_flaky_settled(&arenas[i].fl, __LINE__);
        arenas[i] = (struct arena_rec){ 0 };
    }
    for (int k = 0; k < NPOOLS; k++)
        if (pools[k].src) {
            pools[k].src = NULL;
            pools[k].arena = -1;
            expect_pool_intact(&pools[k], __LINE__);
        }
}

static void op_misc(struct reader *r)
{
    unsigned what = byte(r), arg = byte(r);
    calls++;
    switch (what % 5) {
    case 0:
        cistern_release_free_memory();
        break;
    case 1:
        if (arena_ptr((int)(arg % NARENAS))) {
            routed = (int)(arg % NARENAS);
            cistern_thread_set_arena(routed ? arenas[routed].a : NULL);
        }
        break;
    case 2:
        EXPECT(cistern_check_heap() == 0, "cistern_check_heap failed mid-input");
        break;
    case 3:
        if (arg % 16 == 0)
            teardown_now();
        break;
    default: {
        cistern_arena_stats_t st;
        int i = (int)(arg % NARENAS);
        if (arena_ptr(i))
            EXPECT(cistern_arena_get_stats(arena_ptr(i), &st) == 0, "arena stats failed");
    }
    }
}

void fz_run(const uint8_t *data, size_t len)
{
    struct reader r = { data, data + len };
    pools_map_once();
    while (r.p < r.end) {
        switch (byte(&r) % 16) {
        case 0:
        case 1:
            op_alloc(&r, 0);
            break;
        case 2:
            op_alloc(&r, 1);
            break;
        case 3:
            op_alloc(&r, 2);
            break;
        case 4:
        case 5:
            op_realloc(&r);
            break;
        case 6:
        case 7:
            op_free(&r);
            break;
        case 8:
            op_usable(&r);
            break;
        case 9:
            op_arena_create(&r);
            break;
        case 10:
            op_arena_reset(&r);
            break;
        case 11:
            op_arena_destroy(&r);
            break;
        case 12:
            op_pool_inject(&r);
            break;
        case 13:
            if (byte(&r) % 2)
                op_pool_remove(&r);
            else
                op_pool_release(&r);
            break;
        case 14:
            op_thread(&r);
            break;
        default:
            op_misc(&r);
        }
    }
    EXPECT(cistern_check_heap() == 0, "cistern_check_heap failed at the end of the input");
    settle();
    EXPECT(cistern_check_heap() == 0, "cistern_check_heap failed after clean-up");
}

unsigned long fz_calls(void)
{
    return calls;
}
