/*
 * central.h - per-arena, per-class central free lists with a transfer cache.
 *
 * The transfer cache is an array of object pointers: a thread cache that
 * overflows parks a batch there and another thread's refill takes it without
 * touching any span.  Behind it, spans with free objects sit on a list; their
 * free objects are bits in the span's bitmap, so no pointer is ever written
 * into managed memory (the same code serves NOTOUCH arenas).  Returning an
 * object whose bit is already set is a double free, reported and fatal.
 */
#ifndef CS_CENTRAL_H
#define CS_CENTRAL_H

#include "platform.h"

struct cistern_arena;
struct cs_span;

struct cs_central {
    cs_lock_t lock;
    unsigned cls;
    cs_atomic_t xfer_n;          /* objects in the transfer cache */
    unsigned xfer_cap;
    void **xfer;                 /* transfer cache, allocated on first use */
    struct cs_span *nonempty;    /* spans with free objects */
    cs_atomic_t out_objects;     /* objects out of their spans: live or cached */
    uint64_t nspans;             /* small spans of this class held */
};

/* Set up the central list of class cls (no memory until first use). */
void cs_central_init(struct cs_central *c, unsigned cls);
/* Take up to want objects of the class: the count taken (0: out of memory,
   errno ENOMEM).  A new span is fetched only when no free object is found,
   so the count may be short of want. */
unsigned cs_central_remove(struct cistern_arena *a, unsigned cls, void **out, unsigned want);
/* Shortest run cs_central_remove_run hands out (unless it is all a span has). */
#define CS_MIN_RUN 8
/* Take up to want consecutive free objects of the class (the first run of
   the first span with free objects, a fresh span if need be): the count
   taken, the first at *start; 0 when the transfer cache holds objects or
   the first run is short (use cs_central_remove), or on ENOMEM. */
unsigned cs_central_remove_run(struct cistern_arena *a, unsigned cls, unsigned want, uintptr_t *start);
/* Give back n objects of the class (each from this arena). */
void cs_central_insert(struct cistern_arena *a, unsigned cls, void *const *objs, unsigned n);
/* Give back n objects straight to their spans (a thread going away: no one
   is about to take them, so the spans may as well be freed). */
void cs_central_return(struct cistern_arena *a, unsigned cls, void *const *objs, unsigned n);
/* Return one object straight to its span (no transfer cache). */
void cs_central_insert_one(struct cistern_arena *a, struct cs_span *s, void *p);
/* Objects parked in the transfer cache, and bytes of them. */
size_t cs_central_cached(struct cs_central *c);
/* A source left a's chain (its regions are marked retired): unlist the
   spans of retired regions, and empty every transfer cache into the spans
   (objects of every region: the cache holds no record of where they are
   from).  While retired regions are left, inserts skip the transfer cache
   (cs_heap.nretired). */
void cs_central_retire(struct cistern_arena *a);
/* Empty the transfer cache into the spans. */
void cs_central_drain(struct cistern_arena *a, unsigned cls);
/* Forget everything (arena reset): the spans are dropped by the heap. */
void cs_central_reset(struct cs_central *c);
/* Release the transfer cache array (arena destroy). */
void cs_central_fini(struct cs_central *c);
/* Mark the objects of the transfer cache free in their spans for a walk, or
   clear them again: returns how many. */
unsigned cs_central_mark_cached(struct cs_central *c, int set);

#endif
