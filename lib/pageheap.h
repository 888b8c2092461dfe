/*
 * pageheap.h - the page heap of one arena: spans, free runs kept by source
 * rank and length, coalescing within a region, commit state, release policy.
 *
 * Free runs are kept per chain slot, and allocation searches the slots in
 * chain order, so the chain's order is a preference that holds for memory
 * already obtained.  Within a slot, runs of 1..CS_HEAP_LISTS pages sit on
 * exact-length lists, longer ones on one list searched best-fit.  All calls
 * take the heap lock unless named _locked.
 */
#ifndef CS_PAGEHEAP_H
#define CS_PAGEHEAP_H

#include "platform.h"
#include "span.h"

struct cistern_sysalloc;
struct cistern_arena;
struct cs_region;

#define CS_MAX_CHAIN 16
#define CS_HEAP_LISTS 128
/* What the os and hugepage sources are asked for at least: few regions, few
   system calls; untouched pages of a region cost no memory. */
#if CS_64BIT
#define CS_REGION_CHUNK ((size_t)32 << 20)
#else
#define CS_REGION_CHUNK ((size_t)8 << 20)
#endif

struct cs_freeset {
    struct cs_span *bylen[CS_HEAP_LISTS + 1]; /* index: length in pages */
    struct cs_span *big;                      /* longer runs */
    /* Bit len set: bylen[len] is not empty (bit 0 unused), so a search for
       a run finds the shortest list that fits without walking the others. */
    uint64_t nonempty[(CS_HEAP_LISTS + 64) / 64];
};

struct cs_heap_slot {
    struct cistern_sysalloc *src;  /* NULL: slot unused */
    struct cs_freeset *free;
    int in_chain;
    size_t nregions;
};

struct cs_heap {
    cs_lock_t lock;
    struct cistern_arena *arena;
    struct cs_heap_slot slot[CS_MAX_CHAIN];
    unsigned order[CS_MAX_CHAIN]; /* chain: slot indices, first asked first */
    unsigned norder;
    struct cs_region *regions;
    struct cs_span *inuse;        /* every small and large span in use */
    size_t limit_bytes;           /* most bytes of spans in use; 0: none */
    /* Counters: written under the lock, read by statistics without it. */
    cs_atomic_t pages_inuse, pages_free, pages_free_committed;
    cs_atomic_t large_pages;      /* pages of large spans in use */
    cs_atomic_t nlarge_malloc, nlarge_free;
    cs_atomic_t nretired;         /* regions whose source left the chain */
    size_t peak_pages;            /* recent peak of pages_inuse: bounds the footprint */
    /* Pages handed out for big blocks in the current and the previous
       window of the dirty trim's grace period, and when the current began. */
    size_t taken_cur, taken_prev;
    uint64_t taken_since_ms;
    uint64_t last_release_ms;
    /* The own region (cs_heap_alloc_own) freed last, kept whole and mapped
       for the next one: a program that grows buffer after buffer by realloc
       reuses its pages instead of faulting fresh ones in.  A free span off
       the lists and out of the page counters (nothing else may split it);
       NULL when none.  Given back when idle for the decay, or when the
       dirty trim runs. */
    struct cs_span *spare_own;
};

/* Set up an empty heap for arena a (no sources yet). */
void cs_heap_init(struct cs_heap *h, struct cistern_arena *a);
/* Chain edits: 0, EEXIST (already in the chain), ENOSPC (full), ENOENT (not in it). */
int cs_heap_chain_add(struct cs_heap *h, struct cistern_sysalloc *s, int position);
int cs_heap_chain_remove(struct cs_heap *h, struct cistern_sysalloc *s);
/* Whether the chain holds a NOTOUCH source. */
int cs_heap_chain_notouch(struct cs_heap *h);

/* A span of npages pages aligned to align bytes (0 or a power of two), in
   use as a small span of class cls or (cls 0) a large one.  NULL + ENOMEM
   when every source refuses or the arena's limit would be passed. */
struct cs_span *cs_heap_alloc(struct cs_heap *h, size_t npages, size_t align, unsigned cls);
/* Give a span in use back: it becomes free and coalesces within its region. */
void cs_heap_free(struct cs_heap *h, struct cs_span *s);
/* Resize a large span in place to npages: 0, or ENOMEM when it cannot grow.
   Pages a shrink frees are decommitted at once when there are many. */
int cs_heap_resize(struct cs_heap *h, struct cs_span *s, size_t npages);
/* Give back a large span whose contents moved elsewhere (realloc): like
   cs_heap_free, but a big one's pages are decommitted at once, since the
   block they held is still live and the footprint would hold it twice. */
void cs_heap_free_moved(struct cs_heap *h, struct cs_span *s);

/* Large blocks that realloc grows: a span in an os region of its own, mapped
   for it with room to grow into (room_pages more, untouched: address space
   only), so that it grows without a copy.  Freed, the region goes back to
   the system, but for the last one, kept as the spare (struct cs_heap): the
   next call takes it when its mapping holds npages, commits what it lacks
   and decommits its room past four times the block.  Only when the chain's first source is the os
   source (never for injected memory), and not under a memory checker.  NULL
   + errno: ENOTSUP when the heap cannot, ENOMEM. */
struct cs_span *cs_heap_alloc_own(struct cs_heap *h, size_t npages, size_t room_pages);
/* Resize a large span of an own region to npages: inside the mapping's room
   with no system call, else by moving the mapping (mremap: the pages move,
   nothing is copied; the span's start changes), leaving room_pages of room; a shrink
   decommits the tail, which stays mapped as room.  0, ENOTSUP (s is not the
   whole of an own region), or ENOMEM (s unchanged). */
int cs_heap_remap(struct cs_heap *h, struct cs_span *s, size_t npages, size_t room_pages);

/* Decommit free runs idle for at least age_ms (0: all): pages decommitted. */
size_t cs_heap_release(struct cs_heap *h, uint64_t age_ms);
/* Whether the heap holds committed free pages (a hint, no lock). */
int cs_heap_has_dirty(const struct cs_heap *h);
/* Every span becomes free; up to keep_bytes stay committed. Heap lock taken. */
void cs_heap_reset(struct cs_heap *h, size_t keep_bytes);
/* Reset, then hand every region back to its source and leave the chain. */
void cs_heap_destroy(struct cs_heap *h);
/* Visit each span in use (heap lock held during the walk); stops on non-zero. */
int cs_heap_foreach_inuse(struct cs_heap *h, int (*fn)(struct cs_span *s, void *ctx), void *ctx);
/* Consistency check of lists, pagemap and counters: 0 or EFAULT (message printed). */
int cs_heap_check(struct cs_heap *h);

void cs_heap_fork_prepare(struct cs_heap *h);
void cs_heap_fork_parent(struct cs_heap *h);
void cs_heap_fork_child(struct cs_heap *h);

#endif
