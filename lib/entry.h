/*
 * entry.h - the allocation entry points' fast paths (inline, shared by the
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
#ifndef CS_ENTRY_H
#define CS_ENTRY_H

#include "platform.h"
#include "arena.h"
#include "pagemap.h"
#include "sizeclass.h"
#include "span.h"
#include "tcache.h"

void *cs_malloc_slow(size_t n);
/* A NOTOUCH object leaves a cache: clear its released bit. */
void *cs_notouch_handed_out(void *p);
/* A hit in NOTOUCH cache tc (class cls), or NULL. */
void *cs_notouch_take(struct cs_tcache *tc, unsigned cls);
void cs_free_slow(void *p);

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
    size_t off; /* of the class's bin; the most common sizes are tested first */
    if (cs_likely(n <= CS_TINY_MAX))
        off = cs_bin_offset_of_tiny(n);
    else if (n <= CS_SMALL_MAX)
        off = cs_bin_offset_of_medium(n);
    else
        return cs_malloc_slow(n);
    /* cur is never a NOTOUCH arena's cache (cs_tcache_current), so the
       object may take the store that clears a stale free marker. */
    struct cs_tcache *tc = cs_tls.cur;
    void *p;
    if (cs_likely(cs_tcache_take_at(tc, off, 0, &p))) {
        *(uintptr_t *)p = 0;
        tc->nmalloc++;
        return p;
    }
    return cs_malloc_slow(n);
}

/* cistern_arena_malloc's fast path: the thread's cache for arena a, if it
   has one, by the same table slot cs_tcache_get uses. */
CS_INLINE void *cs_arena_malloc_fast(struct cistern_arena *a, size_t n)
{
    if (cs_likely(n <= CS_SMALL_MAX)) {
        /* Never NULL: an empty slot holds cs_tcache_none, whose touch_arena
           is NULL.  A NOTOUCH arena's cache fails the compare too: its
           objects take no marker store, and the caller's slow path serves
           them (cs_notouch_take), so this path makes no call. */
        struct cs_tcache *tc = cs_tcache_slot(a->id);
        void *p;
        if (cs_likely(tc->touch_arena == a) &&
            cs_likely(cs_tcache_take_at(tc, cs_size_bin_offset(n), 1, &p))) {
            tc->nmalloc++;
            *(uintptr_t *)p = 0;
            return p;
        }
    }
    return NULL;
}

CS_INLINE void cs_free_fast(void *p)
{
    struct cs_span *s = cs_pagemap_get_fast(p);
    struct cs_tcache *tc = cs_tls.cur;
    /* fast_arena is NULL unless s is a touchable small span; tc->arena
       never is. */
    if (cs_likely(s != NULL && cs_atomic_load_relaxed(&s->fast_arena) == (uintptr_t)tc->arena)) {
        uintptr_t mark = (uintptr_t)p ^ cs_secret;
        /* Free is validated here too: p must start an object, and a free
           object already carries the marker (the slow path confirms and
           reports a double free). */
        if (cs_likely(cs_span_is_object_start(s, (uintptr_t)p - cs_span_start(s)) &&
                      *(uintptr_t *)p != mark)) {
            struct cs_bin *b = (struct cs_bin *)((char *)tc + s->bin_offset);
            *(uintptr_t *)p = mark;
            if (cs_likely(b->top < b->limit))
                *b->top++ = p;
            else
                cs_tcache_overflow(tc, s->cls, p);
            return;
        }
    }
    cs_free_slow(p);
}

#endif
