/*
 * span.h - the span record: a run of heap pages inside one region.
 *
 * A span is free (in its heap's free lists), small (carved into objects of
 * one size class) or large (one allocation).  Records live in metadata, so
 * nothing about a span is ever stored in the memory it describes: a small
 * span tracks its free objects in the bitmap below, which is also what
 * catches a double free when an object comes back (design invariants 2, 5).
 */
#ifndef CS_SPAN_H
#define CS_SPAN_H

#include "platform.h"
#include "sizeclass.h"

struct cs_region;
struct cistern_arena;

enum cs_span_state { CS_SPAN_DEAD = 0, CS_SPAN_FREE, CS_SPAN_SMALL, CS_SPAN_LARGE };

#define CS_SPAN_WORDS (CS_SPAN_MAX_OBJS / 64)

struct cs_span {
    /* First line: what free()'s fast path reads. */
    /* The first byte (heap-page aligned), negated: read it through
       cs_span_start.  A memory checker scanning for leaks would take the
       plain address for a pointer to the block that starts the span and
       call a leaked block there reachable. */
    uintptr_t neg_start;
    /* The arena when small and touchable (free's fast path may cache its
       objects), else NULL: one compare instead of three. */
    cs_atomic_t fast_arena; /* written while free()s may read it (a source leaving the chain) */
    uint64_t inv;                 /* small: the class's odd inverse (sizeclass.h) */
    uint64_t nobj;                /* small: objects in the span */
    uint32_t shift;               /* small: the class's shift */
    uint32_t bin_offset;          /* small: where the class's bin sits in a cache */
    uint32_t cls;                 /* size class, 0 unless small and in use */
    uint32_t size;                /* object size (small) */
    struct cistern_arena *arena;
    uint8_t state;                /* enum cs_span_state */
    uint8_t notouch;              /* the memory must not be read or written */
    uint8_t zeroed;               /* every byte reads as zero (fresh or decommitted) */
    uint8_t in_central;           /* on its central list's nonempty list */
    uint32_t nfree;               /* small: objects free in the span */
    uint32_t npages;              /* 2^32 heap pages: 32 TiB, far past any region */
    uint32_t ncommitted;          /* free: pages still committed (exact) */
    struct cs_region *region;
    struct cs_span *next, *prev;  /* free list, or central nonempty list */
    struct cs_span *anext, *aprev; /* the heap's in-use list */
    uint64_t free_since;          /* free: when it became free (cs_clock_ms) */
    uint64_t freebits[CS_SPAN_WORDS]; /* small: bit set = object free in the span */
    /* NOTOUCH small spans only (else NULL), CS_RELEASED_BYTES of metadata:
       bit set = freed by the program and not handed out since, wherever it
       sits (the double-free check that cannot use a marker).  Kept out of
       the record, which every span of every arena pays for. */
    cs_atomic_t *released;
};

static inline uintptr_t cs_span_start(const struct cs_span *s)
{
    return (uintptr_t)0 - s->neg_start;
}

static inline void cs_span_set_start(struct cs_span *s, uintptr_t start)
{
    s->neg_start = (uintptr_t)0 - start;
}

static inline uintptr_t cs_span_end(const struct cs_span *s)
{
    return cs_span_start(s) + s->npages * CS_PAGE;
}

/* The index of the object starting at offset off (off must be an object
   start: validated pointers only). */
static inline uint32_t cs_span_index(const struct cs_span *s, uintptr_t off);

#define CS_RELEASED_BITS (8 * sizeof(cs_atomic_t))
#define CS_RELEASED_BYTES (CS_SPAN_MAX_OBJS / 8)

/* NOTOUCH objects: mark p freed; returns non-zero when it already was. */
static inline int cs_span_release_object(struct cs_span *s, const void *p)
{
    uint32_t i = cs_span_index(s, (uintptr_t)p - cs_span_start(s));
    uintptr_t bit = (uintptr_t)1 << (i % CS_RELEASED_BITS);
    return (cs_atomic_fetch_or(&s->released[i / CS_RELEASED_BITS], bit) & bit) != 0;
}

/* NOTOUCH objects: whether p is marked freed. */
static inline int cs_span_object_released(const struct cs_span *s, const void *p)
{
    uint32_t i = cs_span_index(s, (uintptr_t)p - cs_span_start(s));
    return (cs_atomic_load_relaxed(&s->released[i / CS_RELEASED_BITS]) >>
            (i % CS_RELEASED_BITS)) & 1;
}

/* NOTOUCH objects: p is handed out again. */
static inline void cs_span_reuse_object(struct cs_span *s, const void *p)
{
    uint32_t i = cs_span_index(s, (uintptr_t)p - cs_span_start(s));
    cs_atomic_clear_bits(&s->released[i / CS_RELEASED_BITS],
                         (uintptr_t)1 << (i % CS_RELEASED_BITS));
}

/* The index of the object starting at offset off, or a number >= nobj when
   no object starts there (any off, even one "below" the span). */
static inline uint64_t cs_span_start_index(const struct cs_span *s, uintptr_t off)
{
    uint64_t x = (uint64_t)off * s->inv;
    return (x >> s->shift) | (x << (-s->shift & 63));
}

static inline int cs_span_is_object_start(const struct cs_span *s, uintptr_t off)
{
    return cs_span_start_index(s, off) < s->nobj;
}

static inline uint32_t cs_span_index(const struct cs_span *s, uintptr_t off)
{
    return (uint32_t)cs_span_start_index(s, off);
}

#endif
