/*
 * central.c - central free lists and transfer caches (see central.h).
 *
 * Lock order: a central lock is never held while the heap lock is taken;
 * spans are fetched from and returned to the heap with the central lock
 * dropped.
 */
#include "central.h"
#include "bitmap.h"
#include "arena.h"
#include "fatal.h"
#include "meta.h"
#include "pageheap.h"
#include "pagemap.h"
#include "region.h"
#include "span.h"
#include "tool.h"

#include <string.h>

/* Transfer cache: room for a few batches, so a burst of frees on one thread
   and mallocs on another meet here without touching spans, but no more than
   about XFER_BYTES per class: what it holds keeps whole spans alive. */
#define XFER_BATCHES 4
#define XFER_BYTES ((size_t)64 << 10)

static unsigned xfer_capacity(unsigned cls)
{
    const struct cs_class_info *ci = &cs_classes[cls];
    size_t fit = XFER_BYTES / ci->size;
    if (fit > (size_t)ci->batch * XFER_BATCHES)
        fit = (size_t)ci->batch * XFER_BATCHES;
    return fit < ci->batch ? ci->batch : (unsigned)fit;
}

void cs_central_init(struct cs_central *c, unsigned cls)
{
    memset(c, 0, sizeof *c);
    c->cls = cls;
}

/* s belongs to a region whose source left the chain: it hands out nothing
   more, and goes back to the heap once its objects are all free. */
static int span_retired(const struct cs_span *s)
{
    return cs_atomic_load_relaxed(&s->region->retired) != 0;
}

static void nonempty_push(struct cs_central *c, struct cs_span *s)
{
    s->prev = NULL;
    s->next = c->nonempty;
    if (c->nonempty)
        c->nonempty->prev = s;
    c->nonempty = s;
    s->in_central = 1;
}

static void nonempty_unlink(struct cs_central *c, struct cs_span *s)
{
    if (s->prev)
        s->prev->next = s->next;
    else
        c->nonempty = s->next;
    if (s->next)
        s->next->prev = s->prev;
    s->next = s->prev = NULL;
    s->in_central = 0;
}

/* Take up to want free objects from span s's bitmap.  Free objects mostly
   come in runs (a fresh or reset span is one run): each run is copied out
   as consecutive addresses, without a bit scan per object. */
static unsigned take_from_span(struct cs_span *s, void **out, unsigned want)
{
    unsigned got = 0;
    const size_t size = s->size;
    for (int w = 0; w < CS_SPAN_WORDS && got < want; w++) {
        uint64_t bits = s->freebits[w];
        if (!bits)
            continue;
        const uintptr_t word_base = cs_span_start(s) + (size_t)w * 64 * size;
        while (bits && got < want) {
            unsigned b = (unsigned)__builtin_ctzll(bits);
            uint64_t rest = ~(bits >> b);
            unsigned run = rest ? (unsigned)__builtin_ctzll(rest) : 64 - b;
            unsigned k = run < want - got ? run : want - got;
            uintptr_t p = word_base + (size_t)b * size;
            for (unsigned i = 0; i < k; i++, p += size)
                out[got + i] = (void *)p;
            got += k;
            bits &= ~cs_bits_mask(b, k);
        }
        s->freebits[w] = bits;
    }
    s->nfree -= got;
    return got;
}

/* Central lock held: the first span with free objects, fetching a new span
   from the heap (with the lock dropped) when there is none; NULL when the
   heap has no memory. */
static struct cs_span *first_nonempty(struct cistern_arena *a, struct cs_central *c, unsigned cls)
{
    if (!c->nonempty) {
        cs_unlock(&c->lock);
        const struct cs_class_info *ci = &cs_classes[cls];
        struct cs_span *s = cs_heap_alloc(&a->heap, ci->pages, 0, cls);
        cs_lock(&c->lock);
        if (!s)
            return NULL;
        c->nspans++;
        nonempty_push(c, s); /* at the head: the caller takes from it */
    }
    return c->nonempty;
}

unsigned cs_central_remove(struct cistern_arena *a, unsigned cls, void **out, unsigned want)
{
    struct cs_central *c = &a->central[cls];
    unsigned got = 0, cached = 0;
    cs_lock(&c->lock);
    if (c->xfer_n) {
        unsigned n = c->xfer_n < want ? c->xfer_n : want;
        cs_counter_add(&c->xfer_n, -(intptr_t)(n));
        memcpy(out, c->xfer + c->xfer_n, n * sizeof *out);
        got = cached = n;
    }
    while (got < want) {
        /* A new span only when nothing was found: a cache refill that took
           the last free objects of the class gets fewer than it asked for
           rather than a fresh span's worth parked in the cache, which would
           raise the class's span count above what the program uses. */
        struct cs_span *s = got ? c->nonempty : first_nonempty(a, c, cls);
        if (!s)
            break;
        got += take_from_span(s, out + got, want - got);
        if (s->nfree == 0 || span_retired(s)) /* retired: fetched as its source left */
            nonempty_unlink(c, s);
    }
    cs_counter_add(&c->out_objects, (intptr_t)(got - cached)); /* transfer-cache objects were out already */
    cs_unlock(&c->lock);
    if (!got)
        errno = ENOMEM;
    return got;
}

/* The first run of free objects in s: its first index, and its length (0
   when s has no free object). */
static unsigned first_run(const struct cs_span *s, unsigned *first)
{
    int w = 0;
    while (w < CS_SPAN_WORDS && !s->freebits[w])
        w++;
    if (w == CS_SPAN_WORDS)
        return 0;
    unsigned b = (unsigned)__builtin_ctzll(s->freebits[w]);
    *first = (unsigned)w * 64 + b;
    unsigned len = 0;
    for (uint64_t bits = s->freebits[w] >> b; w < CS_SPAN_WORDS; bits = s->freebits[++w]) {
        uint64_t zeros = ~bits; /* the b bits shifted in at the top count as taken */
        unsigned ones = zeros ? (unsigned)__builtin_ctzll(zeros) : 64;
        len += ones;
        if (ones < 64 - b || w + 1 == CS_SPAN_WORDS)
            break;
        b = 0;
    }
    return len;
}

unsigned cs_central_remove_run(struct cistern_arena *a, unsigned cls, unsigned want, uintptr_t *start)
{
    struct cs_central *c = &a->central[cls];
    unsigned got = 0;
    cs_lock(&c->lock);
    /* Objects parked by other threads go first (through cs_central_remove):
       they keep spans from filling up with stragglers. */
    struct cs_span *s = c->xfer_n ? NULL : first_nonempty(a, c, cls);
    unsigned first = 0, len = s ? first_run(s, &first) : 0;
    if (len >= CS_MIN_RUN || (s && len == s->nfree)) {
        got = len < want ? len : want;
        cs_bits_set(s->freebits, first, got, 0);
        s->nfree -= got;
        if (s->nfree == 0 || span_retired(s))
            nonempty_unlink(c, s);
        cs_counter_add(&c->out_objects, (intptr_t)got);
        *start = cs_span_start(s) + (uintptr_t)first * s->size;
    }
    cs_unlock(&c->lock);
    return got;
}

/* Central lock held: mark p free in its span; returns the span when the span
   is entirely free now (to go back to the heap), else NULL. */
static struct cs_span *return_object(struct cs_central *c, struct cs_span *s, void *p)
{
    uintptr_t off = (uintptr_t)p - cs_span_start(s);
    uint32_t idx = cs_span_index(s, off);
    uint64_t bit = (uint64_t)1 << (idx % 64);
    if (s->freebits[idx / 64] & bit) {
        cs_unlock(&c->lock);
        cs_fatal_pointer("free", p, "double free");
    }
    s->freebits[idx / 64] |= bit;
    s->nfree++;
    cs_counter_add(&c->out_objects, -1);
    if (s->nfree == 1 && !s->in_central && !span_retired(s))
        nonempty_push(c, s);
    if (s->nfree == s->nobj) {
        if (s->in_central)
            nonempty_unlink(c, s);
        c->nspans--;
        return s;
    }
    return NULL;
}

static struct cs_span *span_of(struct cistern_arena *a, void *p)
{
    struct cs_span *s = cs_pagemap_get(p);
    if (cs_unlikely(!s || s->arena != a || s->state != CS_SPAN_SMALL))
        cs_fatal_pointer("free", p, "object does not belong to its span (heap corrupted)");
    return s;
}

/* Central lock held: return objs to their spans; empty spans are collected on
   *empty (linked through next) for the caller to give to the heap. */
static void return_objects(struct cistern_arena *a, struct cs_central *c, void *const *objs,
                           unsigned n, struct cs_span **empty)
{
    for (unsigned i = 0; i < n; i++) {
        struct cs_span *s = return_object(c, span_of(a, objs[i]), objs[i]);
        if (s) {
            s->next = *empty;
            *empty = s;
        }
    }
}

static void free_spans(struct cistern_arena *a, struct cs_span *empty)
{
    while (empty) {
        struct cs_span *next = empty->next;
        cs_heap_free(&a->heap, empty);
        empty = next;
    }
}

static int xfer_ready(struct cs_central *c)
{
    if (c->xfer)
        return 1;
    unsigned cap = xfer_capacity(c->cls);
    c->xfer = cs_meta_alloc(cap * sizeof(void *));
    if (!c->xfer)
        return 0;
    c->xfer_cap = cap;
    return 1;
}

void cs_central_insert(struct cistern_arena *a, unsigned cls, void *const *objs, unsigned n)
{
    struct cs_central *c = &a->central[cls];
    struct cs_span *empty = NULL;
    cs_lock(&c->lock);
    /* Under a memory checker, freed objects go straight back to their spans,
       so "bit clear" means "live" for the tool's view of a reset. */
    /* While a retired region is left, objects go home: the transfer cache
       keeps no record of where they are from and would hand objects of a
       retired region out again. */
    if (!cs_tool_active && !cs_atomic_load_relaxed(&a->heap.nretired) &&
        (c->xfer_n + n <= c->xfer_cap ||
         (!c->xfer && n <= xfer_capacity(cls) && xfer_ready(c)))) {
        memcpy(c->xfer + c->xfer_n, objs, n * sizeof *objs);
        cs_counter_add(&c->xfer_n, (intptr_t)(n));
    } else {
        return_objects(a, c, objs, n, &empty);
    }
    cs_unlock(&c->lock);
    free_spans(a, empty);
}

void cs_central_return(struct cistern_arena *a, unsigned cls, void *const *objs, unsigned n)
{
    struct cs_central *c = &a->central[cls];
    struct cs_span *empty = NULL;
    cs_lock(&c->lock);
    return_objects(a, c, objs, n, &empty);
    cs_unlock(&c->lock);
    free_spans(a, empty);
}

void cs_central_insert_one(struct cistern_arena *a, struct cs_span *s, void *p)
{
    struct cs_central *c = &a->central[s->cls];
    cs_lock(&c->lock);
    struct cs_span *empty = return_object(c, s, p);
    cs_unlock(&c->lock);
    if (empty)
        cs_heap_free(&a->heap, empty);
}

void cs_central_retire(struct cistern_arena *a)
{
    for (unsigned cls = 1; cls < CS_NCLASSES; cls++) {
        struct cs_central *c = &a->central[cls];
        struct cs_span *empty = NULL;
        cs_lock(&c->lock);
        for (struct cs_span *s = c->nonempty, *next; s; s = next) {
            next = s->next;
            if (span_retired(s))
                nonempty_unlink(c, s);
        }
        return_objects(a, c, c->xfer, c->xfer_n, &empty);
        cs_atomic_store_relaxed(&c->xfer_n, 0);
        cs_unlock(&c->lock);
        free_spans(a, empty);
    }
}

size_t cs_central_cached(struct cs_central *c)
{
    return cs_atomic_load_relaxed(&c->xfer_n);
}

void cs_central_drain(struct cistern_arena *a, unsigned cls)
{
    struct cs_central *c = &a->central[cls];
    struct cs_span *empty = NULL;
    cs_lock(&c->lock);
    return_objects(a, c, c->xfer, c->xfer_n, &empty);
    cs_atomic_store_relaxed(&c->xfer_n, 0);
    cs_unlock(&c->lock);
    free_spans(a, empty);
}

void cs_central_reset(struct cs_central *c)
{
    cs_lock(&c->lock);
    cs_atomic_store_relaxed(&c->xfer_n, 0);
    c->nonempty = NULL;
    cs_atomic_store_relaxed(&c->out_objects, 0);
    c->nspans = 0;
    cs_unlock(&c->lock);
}

void cs_central_fini(struct cs_central *c)
{
    if (c->xfer)
        cs_meta_free(c->xfer, c->xfer_cap * sizeof(void *));
    c->xfer = NULL;
    c->xfer_cap = 0;
    cs_atomic_store_relaxed(&c->xfer_n, 0);
}

unsigned cs_central_mark_cached(struct cs_central *c, int set)
{
    for (unsigned i = 0; i < c->xfer_n; i++) {
        struct cs_span *s = cs_pagemap_get(c->xfer[i]);
        uint32_t idx = cs_span_index(s, (uintptr_t)c->xfer[i] - cs_span_start(s));
        uint64_t bit = (uint64_t)1 << (idx % 64);
        if (set)
            s->freebits[idx / 64] |= bit;
        else
            s->freebits[idx / 64] &= ~bit;
    }
    return c->xfer_n;
}
