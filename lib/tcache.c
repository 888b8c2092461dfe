/*
 * tcache.c - thread caches (see tcache.h).
 */
#include "tcache.h"
#include "arena.h"
#include "bitmap.h"
#include "central.h"
#include "fatal.h"
#include "init.h"
#include "meta.h"
#include "options.h"
#include "pagemap.h"
#include "tool.h"
#include "span.h"

#include <cistern/arena.h>

#include <pthread.h>
#include <string.h>

/* The cache a thread has before it has one: every bin empty and full at
   once (all pointers NULL), and an arena no span names, so both fast paths
   fall through without testing for NULL. */
struct cs_tcache cs_tcache_none = { .arena = (struct cistern_arena *)&cs_tcache_none };
#define NONE &cs_tcache_none
/* Empty table slots hold cs_tcache_none too, so the arena fast path reads a
   slot without testing it for NULL. */
__thread struct cs_thread cs_tls CS_TLS_MODEL = {
    .cur = NONE, .tc = { NONE, NONE, NONE, NONE, NONE, NONE, NONE, NONE }
};
#undef NONE
uintptr_t cs_secret;
cs_atomic_t cs_life;

/* A thread's share of the global cap never drops below this: a cache too
   small to hold a batch per busy class only adds lock round trips. */
#define TC_MIN_BUDGET ((size_t)256 << 10)
/* Overflows past a batch before a bin gives a batch of its limit back. */
#define TC_MAX_OVERAGES 3

/* Records of exited threads kept ready for new ones: at least this many,
   and no more than there are live caches, so threads that come and go reuse
   a few warm records while the records of a burst of threads that has
   ended go back to the metadata allocator, which returns their pages. */
#define TC_RECYCLE_MIN 8

static cs_lock_t reg_lock = CS_LOCK_INIT;
static struct cs_tcache *registry;  /* live caches */
static struct cs_tcache *recycled;  /* records kept for new caches (linked by rnext) */
static struct cs_thread *threads;   /* threads that may hold caches (cs_thread.listed) */

/* The cache in table slot i, or NULL for an empty slot. */
static struct cs_tcache *slot_get(const struct cs_thread *t, int i)
{
    return t->tc[i] == &cs_tcache_none ? NULL : t->tc[i];
}

static void slots_clear(struct cs_thread *t)
{
    for (int i = 0; i < CS_TC_SLOTS; i++)
        t->tc[i] = &cs_tcache_none;
}
static size_t nrecycled;
static cs_atomic_t nlive;

/* A record's bin storage comes in two parts.  Every bin starts in the near
   part, CS_TC_NEAR_SLOTS slots per class side by side, which is all most bins
   ever use; a bin that grows past it moves to its own full-size array in
   the far part, and back when it shrinks again.  So a thread that uses many
   classes a little touches a few pages of its record instead of a page or
   so per class, and a record reused by thread after thread stays small. */
static void **near_slots(struct cs_tcache *tc, unsigned cls)
{
    return (void **)(tc + 1) + (size_t)cls * CS_TC_NEAR_SLOTS;
}

/* Slots before class cls's array in the far part (cls == CS_NCLASSES: all
   the slots of a record). */
static size_t far_index(unsigned cls)
{
    size_t i = (size_t)CS_NCLASSES * CS_TC_NEAR_SLOTS;
    for (unsigned c = 1; c < cls; c++)
        i += cs_classes[c].cap;
    return i;
}

static void **far_slots(struct cs_tcache *tc, unsigned cls)
{
    return (void **)(tc + 1) + far_index(cls);
}

static size_t record_size(void)
{
    return sizeof(struct cs_tcache) + far_index(CS_NCLASSES) * sizeof(void *);
}

/* Move bin b's objects and limits to the storage at to. */
static void bin_move(struct cs_bin *b, void **to)
{
    size_t n = (size_t)(b->top - b->base), max = cs_bin_max(b);
    memcpy(to, b->base, n * sizeof *to);
    b->base = to;
    b->top = to + n;
    b->limit = to + max;
}

static size_t budget(void)
{
    size_t n = cs_atomic_load_relaxed(&nlive);
    size_t b = (size_t)cs_opt.tcache_max_bytes / (n ? n : 1);
    return b < TC_MIN_BUDGET ? TC_MIN_BUDGET : b;
}

static int epoch_valid(const struct cs_tcache *tc)
{
    return tc->epoch == cs_atomic_load_acquire(&tc->arena->epoch);
}

static struct cs_tcache *tc_new(struct cistern_arena *a)
{
    size_t size = record_size();
    cs_lock(&reg_lock);
    struct cs_tcache *tc = recycled;
    if (tc) {
        recycled = tc->rnext;
        nrecycled--;
    }
    cs_unlock(&reg_lock);
    if (!tc && !(tc = cs_meta_alloc(size)))
        return NULL;
    tc->potential = 0;
    for (unsigned c = 1; c < CS_NCLASSES; c++) {
        const struct cs_class_info *ci = &cs_classes[c];
        struct cs_bin *b = &tc->bins[c];
        b->base = b->top = near_slots(tc, c);
        tc->runs[c].next = tc->runs[c].end = NULL;
        b->size = ci->size;
        b->cap = (uint16_t)ci->cap;
        b->batch = (uint16_t)(ci->batch < ci->cap ? ci->batch : ci->cap);
        /* Slow start: a bin holds one object until misses show the class
           is in use (grow_on_miss); a thread that only frees a class
           never builds a big bin of it. */
        b->limit = b->base + 1;
        tc->potential += ci->size;
        tc->overages[c] = 0;
    }
    /* Under a small cap (or many threads) every class gets an equal share of
       this thread's budget; a class whose objects exceed its share is not
       cached at all (max 0: frees go straight to the central list). */
    size_t limit = budget();
    if (tc->potential > limit) {
        size_t share = limit / (CS_NCLASSES - 1);
        tc->potential = 0;
        for (unsigned c = 1; c < CS_NCLASSES; c++) {
            struct cs_bin *b = &tc->bins[c];
            size_t fit = share / cs_classes[c].size;
            if (fit < cs_bin_max(b))
                b->limit = b->base + fit;
            tc->potential += (size_t)cs_bin_max(b) * cs_classes[c].size;
        }
    }
    tc->storage = size;
    tc->arena = a;
    tc->epoch = cs_atomic_load_acquire(&a->epoch);
    tc->flush_gen = cs_atomic_load_acquire(&a->flush_gen);
    tc->touch_arena = a->notouch ? NULL : a;
    tc->nmalloc = 0;
    tc->free_ticks = 0;
    tc->scavenge_at = CS_TC_SCAVENGE_INTERVAL;
    memset(tc->missed, 0, sizeof tc->missed);
    cs_lock(&reg_lock);
    tc->rprev = NULL;
    tc->rnext = registry;
    if (registry)
        registry->rprev = tc;
    registry = tc;
    cs_counter_add(&nlive, 1);
    cs_unlock(&reg_lock);
    return tc;
}

/* The objects of run r go back to their span, a chunk at a time; the run
   is left empty. */
static void return_run(struct cistern_arena *a, unsigned cls, struct cs_run *r, size_t size)
{
    void *chunk[64];
    unsigned n = 0;
    for (char *p = r->next; p != r->end; p += size) {
        chunk[n++] = p;
        if (n == 64) {
            cs_central_return(a, cls, chunk, n);
            n = 0;
        }
    }
    if (n)
        cs_central_return(a, cls, chunk, n);
    r->next = r->end = NULL;
}

/* Hand the cached objects back to their spans (only while the arena's epoch
   holds): the cache is going away or being emptied on purpose. */
static void tc_flush(struct cs_tcache *tc)
{
    int valid = epoch_valid(tc);
    for (unsigned c = 1; c < CS_NCLASSES; c++) {
        struct cs_bin *b = &tc->bins[c];
        if (valid)
            return_run(tc->arena, c, &tc->runs[c], b->size);
        else
            tc->runs[c].next = tc->runs[c].end = NULL;
        if (b->top != b->base && valid)
            cs_central_return(tc->arena, c, b->base, (unsigned)(b->top - b->base));
        b->top = b->base;
    }
}

/* Every bin empty and closed: pops and pushes both miss. */
static void tc_close(struct cs_tcache *tc)
{
    for (unsigned c = 1; c < CS_NCLASSES; c++) {
        struct cs_bin *b = &tc->bins[c];
        b->top = b->limit = b->base;
        tc->runs[c].next = tc->runs[c].end = NULL;
    }
}

void cs_tcache_invalidate(struct cistern_arena *a)
{
    cs_lock(&reg_lock);
    for (struct cs_tcache *tc = registry; tc; tc = tc->rnext)
        if (tc->arena == a)
            tc_close(tc);
    cs_unlock(&reg_lock);
}

/* Reg lock held. */
static void thread_list(struct cs_thread *t)
{
    t->tprev = NULL;
    t->tnext = threads;
    if (threads)
        threads->tprev = t;
    threads = t;
    t->listed = 1;
}

/* Reg lock held. */
static void thread_unlist(struct cs_thread *t)
{
    if (!t->listed)
        return;
    if (t->tprev)
        t->tprev->tnext = t->tnext;
    else
        threads = t->tnext;
    if (t->tnext)
        t->tnext->tprev = t->tprev;
    t->listed = 0;
}

static void tc_release(struct cs_tcache *tc)
{
    if (epoch_valid(tc)) {
        cs_atomic_add(&tc->arena->nmalloc_dead, (uintptr_t)tc->nmalloc);
    }
    cs_lock(&reg_lock);
    if (tc->rprev)
        tc->rprev->rnext = tc->rnext;
    else
        registry = tc->rnext;
    if (tc->rnext)
        tc->rnext->rprev = tc->rprev;
    cs_counter_add(&nlive, -1);
    tc->rnext = recycled;
    recycled = tc;
    nrecycled++;
    /* Keep no more records than caches live (at least TC_RECYCLE_MIN). */
    size_t keep = (size_t)cs_atomic_load_relaxed(&nlive);
    if (keep < TC_RECYCLE_MIN)
        keep = TC_RECYCLE_MIN;
    struct cs_tcache *excess = NULL;
    while (nrecycled > keep) {
        struct cs_tcache *x = recycled;
        recycled = x->rnext;
        nrecycled--;
        x->rnext = excess;
        excess = x;
    }
    cs_unlock(&reg_lock);
    while (excess) {
        struct cs_tcache *next = excess->rnext;
        cs_meta_free(excess, excess->storage);
        excess = next;
    }
}

/* The epoch generation moved: empty every cache whose arena was reset or
   destroyed, without touching its objects. */
/* Hand the objects of a valid cache back when its arena asked for it. */
static void flush_if_asked(struct cs_tcache *tc)
{
    uintptr_t gen = cs_atomic_load_acquire(&tc->arena->flush_gen);
    if (tc->flush_gen != gen) {
        tc_flush(tc);
        tc->flush_gen = gen;
    }
}

static void revalidate(struct cs_thread *t)
{
    for (int i = 0; i < CS_TC_SLOTS; i++) {
        struct cs_tcache *tc = slot_get(t, i);
        if (!tc)
            continue;
        if (epoch_valid(tc)) {
            flush_if_asked(tc);
            continue;
        }
        tc_close(tc);
        if (t->cur == tc)
            t->cur = &cs_tcache_none;
        tc_release(tc);
        t->tc[i] = &cs_tcache_none;
    }
}

static void thread_start(struct cs_thread *t)
{
    t->state = CS_THREAD_LIVE;
    cs_thread_register_exit(t);
}

struct cs_tcache *cs_tcache_get(struct cistern_arena *a)
{
    struct cs_thread *t = &cs_tls;
    if (t->state == CS_THREAD_EXITING || (a->flags & CISTERN_ARENA_NO_TCACHE) ||
        cs_opt.tcache_max_bytes == 0 || cs_tool_active)
        return NULL;
    uintptr_t life = cs_atomic_load_acquire(&cs_life);
    if (t->life != life) {
        /* Teardown freed every cache: forget the table without touching it. */
        slots_clear(t);
        t->cur = &cs_tcache_none;
        t->life = life;
    }
    if (t->state == CS_THREAD_NEW)
        thread_start(t);
    if (!t->listed) {
        cs_lock(&reg_lock);
        thread_list(t);
        cs_unlock(&reg_lock);
    }
    uintptr_t gen = cs_atomic_load_acquire(&cs_epoch_gen);
    if (t->gen != gen) {
        revalidate(t);
        t->gen = gen;
    }
    unsigned i = a->id % CS_TC_SLOTS;
    struct cs_tcache *tc = slot_get(t, (int)i);
    if (tc && tc->arena != a) {
        tc_flush(tc);
        if (t->cur == tc)
            t->cur = &cs_tcache_none;
        tc_release(tc);
        tc = NULL;
        t->tc[i] = &cs_tcache_none;
    }
    if (!tc && (tc = tc_new(a)) != NULL)
        t->tc[i] = tc;
    return tc;
}

CS_NOINLINE void *cs_notouch_handed_out(void *p)
{
    cs_span_reuse_object(cs_pagemap_get(p), p);
    return p;
}

CS_NOINLINE void *cs_notouch_take(struct cs_tcache *tc, unsigned cls)
{
    void *p;
    if (!cs_tcache_take(tc, cls, 0, &p))
        return NULL;
    tc->nmalloc++;
    return cs_notouch_handed_out(p);
}

int cs_tcache_any_holds(struct cistern_arena *a, unsigned cls, const void *p)
{
    int found = 0;
    cs_lock(&reg_lock);
    for (struct cs_tcache *tc = registry; tc && !found; tc = tc->rnext) {
        if (tc->arena != a || !epoch_valid(tc))
            continue;
        const struct cs_bin *b = &tc->bins[cls];
        for (void **q = b->base; q < b->top && !found; q++)
            found = *q == p;
        const struct cs_run *r = &tc->runs[cls];
        found = found || ((const char *)p >= r->next && (const char *)p < r->end &&
                          (size_t)((const char *)p - r->next) % b->size == 0);
    }
    cs_unlock(&reg_lock);
    return found;
}

struct cistern_arena *cs_thread_arena(void)
{
    struct cs_thread *t = &cs_tls;
    struct cistern_arena *a = t->arena;
    if (cs_likely(!a))
        return cs_default_arena;
    /* Life first: after a teardown the record itself is gone. */
    if (t->arena_life != cs_atomic_load_acquire(&cs_life) || a->magic != CS_ARENA_MAGIC ||
        a->id != t->arena_id) {
        t->arena = NULL; /* destroyed under us: back to the default arena */
        return cs_default_arena;
    }
    return a;
}

struct cs_tcache *cs_tcache_current(void)
{
    struct cs_thread *t = &cs_tls;
    struct cistern_arena *a = cs_thread_arena();
    struct cs_tcache *tc = cs_tcache_get(a);
    /* A NOTOUCH arena's objects take no marker: its cache stays off the
       plain fast paths, which write one. */
    t->cur = tc && cs_tcache_touchable(tc) ? tc : &cs_tcache_none;
    return tc;
}

/* Raise bin cls's limit by up to `by` objects, within its storage and the
   thread's budget. */
static void bin_grow(struct cs_tcache *tc, unsigned cls, unsigned by)
{
    struct cs_bin *b = &tc->bins[cls];
    unsigned max = cs_bin_max(b);
    unsigned grow = b->cap - max < by ? b->cap - max : by;
    size_t bytes = (size_t)grow * b->size;
    if (grow && tc->potential + bytes <= budget()) {
        if (max + grow > CS_TC_NEAR_SLOTS && b->base == near_slots(tc, cls))
            bin_move(b, far_slots(tc, cls));
        b->limit += grow;
        tc->potential += bytes;
    }
}

/* A refill reached the central list: the class is in use, so the bin may
   hold more (one more object at a time up to a batch, then a batch). */
static void grow_on_miss(struct cs_tcache *tc, unsigned cls)
{
    struct cs_bin *b = &tc->bins[cls];
    bin_grow(tc, cls, cs_bin_max(b) < b->batch ? 1 : b->batch);
}

/* Hand the k oldest objects of bin cls to the central list (the newest,
   likelier in cache, stay). */
static void bin_give_back(struct cs_tcache *tc, unsigned cls, unsigned k)
{
    struct cs_bin *b = &tc->bins[cls];
    cs_central_insert(tc->arena, cls, b->base, k);
    memmove(b->base, b->base + k, (size_t)(b->top - b->base - k) * sizeof *b->base);
    b->top -= k;
}

/* Shrink bin cls's limit by up to `by` objects (never below one), handing
   what it then holds beyond the limit to the central list, oldest first. */
static void bin_shrink(struct cs_tcache *tc, unsigned cls, unsigned by)
{
    struct cs_bin *b = &tc->bins[cls];
    unsigned max = cs_bin_max(b);
    unsigned cut = max - 1 < by ? max - 1 : by;
    b->limit -= cut;
    tc->potential -= (size_t)cut * b->size;
    if (b->top > b->limit)
        bin_give_back(tc, cls, (unsigned)(b->top - b->limit));
    if (cs_bin_max(b) <= CS_TC_NEAR_SLOTS && b->base != near_slots(tc, cls))
        bin_move(b, near_slots(tc, cls));
}

/* Every CS_TC_SCAVENGE_INTERVAL operations (checked on the slow paths): a bin
   that has not missed since the last scavenge never ran dry, so part of
   what it holds went unused all that time.  It gives a quarter of it back
   and its limit shrinks by as much, which also makes its next refills
   smaller (a half made busy classes refill measurably more often);
   a bin in steady use misses again and regrows (grow_on_miss).  Without
   this, a class used now and then keeps up to a full bin of free objects
   (and the spans under them) for as long as the thread lives. */
static void tc_scavenge(struct cs_tcache *tc)
{
    for (unsigned c = 1; c < CS_NCLASSES; c++) {
        if (cs_bits_count(tc->missed, c, 1))
            continue;
        struct cs_bin *b = &tc->bins[c];
        return_run(tc->arena, c, &tc->runs[c], b->size);
        unsigned quarter = (unsigned)(b->top - b->base + 3) / 4;
        if (quarter) {
            bin_give_back(tc, c, quarter);
            bin_shrink(tc, c, quarter);
        }
    }
    memset(tc->missed, 0, sizeof tc->missed);
    tc->scavenge_at = tc->nmalloc + tc->free_ticks + CS_TC_SCAVENGE_INTERVAL;
}

/* A scavenge is due after CS_TC_SCAVENGE_INTERVAL operations.  Frees are not
   counted on the fast path; an overflow stands for the bin's worth of frees
   that filled it, so a thread that only frees is scavenged too. */
static void scavenge_if_due(struct cs_tcache *tc)
{
    if (cs_unlikely(tc->nmalloc + tc->free_ticks >= tc->scavenge_at))
        tc_scavenge(tc);
}

void *cs_tcache_refill(struct cs_tcache *tc, unsigned cls)
{
    cs_bits_set(tc->missed, cls, 1, 1);
    scavenge_if_due(tc);
    struct cs_bin *b = &tc->bins[cls];
    unsigned max = cs_bin_max(b);
    unsigned want = b->batch < max ? b->batch : max;
    void *p;
    uintptr_t first;
    unsigned got;
    if (cs_tcache_take(tc, cls, 0, &p)) {
        /* (the fast path missed for another reason) */
    } else if (want && (got = cs_central_remove_run(tc->arena, cls, want, &first)) != 0) {
        /* A run of up to a batch, handed out from its first object: what
           the bin would take anyway, without a copy per object. */
        p = (void *)first;
        tc->runs[cls].next = (char *)first + b->size;
        tc->runs[cls].end = (char *)first + (size_t)got * b->size;
        grow_on_miss(tc, cls);
    } else {
        got = cs_central_remove(tc->arena, cls, b->base, want ? want : 1);
        if (!got)
            return NULL;
        b->top = b->base + got - 1;
        p = *b->top;
        grow_on_miss(tc, cls);
    }
    if (cs_tcache_touchable(tc))
        *(uintptr_t *)p = 0;
    else
        cs_notouch_handed_out(p);
    return p;
}

void cs_tcache_overflow(struct cs_tcache *tc, unsigned cls, void *p)
{
    if (cs_unlikely(!epoch_valid(tc))) {
        /* Closed by a reset or destroy of its arena; p (already marked free)
           belongs to the arena's new life: the thread's fresh cache takes it,
           or the central list. */
        struct cistern_arena *a = tc->arena;
        struct cs_tcache *now = cs_tcache_get(a);
        if (now)
            cs_tcache_push(now, cls, p);
        else
            cs_central_insert_one(a, cs_pagemap_get(p), p);
        return;
    }
    struct cs_bin *b = &tc->bins[cls];
    /* Overflows grow a bin by one up to CS_TC_OVERFLOW_GROWTH objects, so a
       thread that frees what others allocate moves them in small batches
       but pins few spans with them; beyond, only misses make a bin grow
       (grow_on_miss). */
    if (cs_bin_max(b) < (b->batch < CS_TC_OVERFLOW_GROWTH ? b->batch : CS_TC_OVERFLOW_GROWTH)) {
        bin_grow(tc, cls, 1);
        if (b->top < b->limit) {
            *b->top++ = p;
            return;
        }
    }
    /* Hand the oldest batch to the central list (the newest stay warm). */
    unsigned n = (unsigned)(b->top - b->base);
    if (n)
        bin_give_back(tc, cls, n < b->batch ? n : b->batch);
    /* A bin that keeps overflowing past a batch holds more than the thread
       allocates back: shrink it (and at once when over the budget). */
    if (cs_bin_max(b) > b->batch &&
        (++tc->overages[cls] > TC_MAX_OVERAGES || tc->potential > budget())) {
        bin_shrink(tc, cls, b->batch);
        tc->overages[cls] = 0;
    }
    tc->free_ticks += cs_bin_max(b);
    scavenge_if_due(tc);
    if (b->top < b->limit) {
        *b->top++ = p;
    } else {
        void *one = p;
        cs_central_insert(tc->arena, cls, &one, 1);
    }
}

void cs_tcache_push(struct cs_tcache *tc, unsigned cls, void *p)
{
    struct cs_bin *b = &tc->bins[cls];
    if (b->top < b->limit)
        *b->top++ = p;
    else
        cs_tcache_overflow(tc, cls, p);
}

void cs_tcache_flush_thread(void)
{
    struct cs_thread *t = &cs_tls;
    if (t->life != cs_atomic_load_acquire(&cs_life))
        return;
    for (int i = 0; i < CS_TC_SLOTS; i++)
        if (slot_get(t, i))
            tc_flush(t->tc[i]);
}

void cs_tcache_flush_arena(struct cistern_arena *a)
{
    cs_atomic_add(&a->flush_gen, 1);
    cs_atomic_add(&cs_epoch_gen, 1); /* other threads revalidate on their next slow path */
    struct cs_thread *t = &cs_tls;
    if (t->life != cs_atomic_load_acquire(&cs_life))
        return;
    struct cs_tcache *tc = slot_get(t, (int)(a->id % CS_TC_SLOTS));
    if (tc && tc->arena == a && epoch_valid(tc))
        flush_if_asked(tc);
}

void cs_thread_exit(void *arg)
{
    struct cs_thread *t = &cs_tls;
    (void)arg;
    if (t->life == cs_atomic_load_acquire(&cs_life)) {
        for (int i = 0; i < CS_TC_SLOTS; i++) {
            struct cs_tcache *tc = slot_get(t, i);
            if (!tc)
                continue;
            tc_flush(tc);
            tc_release(tc);
            t->tc[i] = &cs_tcache_none;
        }
        cs_lock(&reg_lock);
        thread_unlist(t);
        cs_unlock(&reg_lock);
    }
    t->cur = &cs_tcache_none;
    t->state = CS_THREAD_EXITING;
}

void cs_tcache_foreach(void (*fn)(struct cs_tcache *tc, void *ctx), void *ctx)
{
    cs_lock(&reg_lock);
    for (struct cs_tcache *tc = registry; tc; tc = tc->rnext)
        fn(tc, ctx);
    cs_unlock(&reg_lock);
}

void cs_tcache_fork_prepare(void)
{
    cs_lock(&reg_lock);
}

void cs_tcache_fork_parent(void)
{
    cs_unlock(&reg_lock);
}

/* Only the forking thread lives on in the child: the other threads' caches
   may be mid-update, so their objects are abandoned, not reused. */
void cs_tcache_fork_child(void)
{
    struct cs_thread *t = &cs_tls;
    cs_lock_init(&reg_lock);
    int listed = t->listed;
    threads = NULL;
    t->listed = 0;
    if (listed)
        thread_list(t);
    struct cs_tcache *tc = registry;
    registry = NULL;
    cs_atomic_store_relaxed(&nlive, 0);
    while (tc) {
        struct cs_tcache *next = tc->rnext;
        int mine = 0;
        for (int i = 0; i < CS_TC_SLOTS; i++)
            mine |= t->tc[i] == tc;
        if (mine) {
            tc->rprev = NULL;
            tc->rnext = registry;
            if (registry)
                registry->rprev = tc;
            registry = tc;
            cs_counter_add(&nlive, 1);
        } else {
            tc->rnext = recycled;
            recycled = tc;
            nrecycled++;
        }
        tc = next;
    }
}

void cs_tcache_teardown(void)
{
    cs_lock(&reg_lock);
    registry = recycled = NULL;
    nrecycled = 0;
    cs_atomic_store_relaxed(&nlive, 0);
    /* The caches are about to go with the metadata: no thread's fast path
       may find one again, nor its slow path through the table. */
    for (struct cs_thread *t = threads; t; t = t->tnext) {
        t->cur = &cs_tcache_none;
        slots_clear(t);
        t->listed = 0;
    }
    threads = NULL;
    cs_unlock(&reg_lock);
    cs_atomic_add(&cs_life, 1);
    cs_atomic_add(&cs_epoch_gen, 1);
}
