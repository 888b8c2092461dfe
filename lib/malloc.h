/*
 * malloc.h - the allocation entry points' fast paths (inline, shared by the
 * cistern_* names and the malloc-family overrides) and the slow paths
 * behind them.
 *
 * Fast paths take no lock, make no system call, and touch only the
 * thread's cache, the pagemap and the span record (design invariant 8).
 * free() validates every pointer: it must map to a span in use and be the
 * start of an object; a touchable object's first word gets a marker (its
 * address XOR a secret) whose presence on a later free flags a double free,
 * and malloc clears it.  An arena's touchability is fixed when it is created
 * (a NOTOUCH source cannot join an arena created without one).
 */
#ifndef CS_MALLOC_H
#define CS_MALLOC_H

#include "platform.h"
#include "arena.h"
#include "pagemap.h"
#include "sizeclass.h"
#include "span.h"
#include "tcache.h"

void *cs_malloc_slow(size_t n);
/* A NOTOUCH object leaves a cache: clear its released bit. */
void cs_notouch_handed_out(void *p);
void cs_free_slow(void *p, struct cs_span *s);

/* Allocation in arena a (any size); NULL + errno. */
void *cs_alloc(struct cistern_arena *a, size_t n);
/* Zeroed n * size bytes in a; NULL + ENOMEM on overflow. */
void *cs_alloc_zeroed(struct cistern_arena *a, size_t n, size_t size);
/* alignment: a power of two; NULL + EINVAL / ENOMEM. */
void *cs_alloc_aligned(struct cistern_arena *a, size_t alignment, size_t n);
/* realloc of p (p NULL: allocate in a). */
void *cs_realloc(struct cistern_arena *a, void *p, size_t n);
/* Usable bytes at p; call names the public function for messages. */
size_t cs_usable_size(const void *p, const char *call);
/* The arena the calling thread allocates from. */
struct cistern_arena *cs_current_arena(void);

CS_INLINE void *cs_malloc_fast(size_t n)
{
    struct cs_thread *t = &cs_tls;
    struct cs_tcache *tc = t->cur;
    if (cs_likely(n <= CS_SMALL_MAX && t->gen == cs_atomic_load_relaxed(&cs_epoch_gen))) {
        struct cs_bin *b = &tc->bins[cs_size_class(n)];
        if (cs_likely(b->n != 0)) {
            void *p = b->slots[--b->n];
            /* A stale free marker would make the next free look like a
               double free: clear it (the line is about to be used anyway). */
            if (cs_likely(tc->marks))
                *(uintptr_t *)p = 0;
            else
                cs_span_reuse_object(cs_pagemap_get(p), p);
            tc->nmalloc++;
            return p;
        }
    }
    return cs_malloc_slow(n);
}

/* cistern_arena_malloc's fast path: the thread's cache for arena a, if it
   has one, by the same table slot cs_tcache_get uses. */
CS_INLINE void *cs_arena_malloc_fast(struct cistern_arena *a, size_t n)
{
    struct cs_thread *t = &cs_tls;
    if (cs_likely(n <= CS_SMALL_MAX && t->gen == cs_atomic_load_relaxed(&cs_epoch_gen))) {
        struct cs_tcache *tc = t->tc[a->id % CS_TC_SLOTS];
        if (cs_likely(tc != NULL && tc->arena == a)) {
            struct cs_bin *b = &tc->bins[cs_size_class(n)];
            if (cs_likely(b->n != 0)) {
                void *p = b->slots[--b->n];
                if (cs_likely(tc->marks))
                    *(uintptr_t *)p = 0;
                else
                    cs_span_reuse_object(cs_pagemap_get(p), p);
                tc->nmalloc++;
                return p;
            }
        }
    }
    return NULL;
}

CS_INLINE void cs_free_fast(void *p)
{
    struct cs_span *s = cs_pagemap_get(p);
    struct cs_thread *t = &cs_tls;
    struct cs_tcache *tc = t->cur;
    /* The generation first: after a teardown it has moved, and tc may point
       at memory that is gone. */
    if (cs_likely(s != NULL && t->gen == cs_atomic_load_relaxed(&cs_epoch_gen) &&
                  s->fast_arena == tc->arena)) {
        uintptr_t off = (uintptr_t)p - s->start;
        uintptr_t mark = (uintptr_t)p ^ cs_secret;
        /* Touchable objects carry the marker; NOTOUCH ones a released bit
           out of band.  Either already set: the slow path reports it. */
        if (cs_likely(cs_span_is_object_start(s, off) &&
                      (cs_likely(!s->notouch) ? *(uintptr_t *)p != mark
                                              : !cs_span_release_object(s, p)))) {
            struct cs_bin *b = &tc->bins[s->cls];
            if (cs_likely(!s->notouch))
                *(uintptr_t *)p = mark;
            tc->nfree++;
            if (cs_likely(b->n < b->max))
                b->slots[b->n++] = p;
            else
                cs_tcache_overflow(tc, s->cls, p);
            return;
        }
    }
    cs_free_slow(p, s);
}

#endif
