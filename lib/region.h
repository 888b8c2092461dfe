/*
 * region.h - the region table: every range cistern obtained from a source.
 *
 * A region belongs to exactly one source and one arena's page heap; spans
 * never cross region boundaries (design invariant 3), and teardown walks this
 * table to hand every region back (invariant 6).
 */
#ifndef CS_REGION_H
#define CS_REGION_H

#include "platform.h"
#include "atomic.h"

struct cistern_sysalloc;
struct cs_heap;

struct cs_region {
    /* The heap-page aligned start and what the source returned, negated
       like a span's start (span.h): read them through cs_region_base and
       cs_region_raw_base. */
    uintptr_t neg_base;
    size_t size;                    /* heap-page multiple */
    uintptr_t neg_raw_base;
    size_t raw_size;
    size_t cap;                     /* bytes the commit bitmap covers from base
                                       (>= size; more for an own region) */
    int own;                        /* mapped for one large block (see
                                       cs_heap_alloc_own): unmapped once free,
                                       or kept as the heap's spare */
    struct cistern_sysalloc *src;
    struct cs_heap *heap;
    unsigned slot;                  /* the source's slot in the heap's chain */
    unsigned flags;                 /* the source's tags */
    /* Its source left the heap's chain: its spans hand out no more objects
       (central lists drop them) and it goes back once wholly free.  Written
       under the heap's lock, read under a central list's. */
    cs_atomic_t retired;
    uint64_t *committed;            /* one bit per heap page: backed by memory */
    struct cs_region *next, *prev;  /* the heap's regions */
    struct cs_region *gnext, *gprev; /* the global table */
};

static inline uintptr_t cs_region_base(const struct cs_region *r)
{
    return (uintptr_t)0 - r->neg_base;
}

static inline uintptr_t cs_region_raw_base(const struct cs_region *r)
{
    return (uintptr_t)0 - r->neg_raw_base;
}

/* Record a range the source gave (aligning it to heap pages); creates the
   pagemap nodes.  NULL + errno: ENOMEM, or EFAULT when it lies beyond the
   addresses the pagemap covers (the caller gives the range back). */
struct cs_region *cs_region_add(struct cistern_sysalloc *src, uintptr_t raw, size_t raw_size,
                                struct cs_heap *heap, unsigned slot);
/* A commit bitmap for cap bytes of heap pages, all clear: NULL when out of
   metadata. */
uint64_t *cs_region_bits_alloc(size_t cap);
/* Give back a bitmap of cs_region_bits_alloc(cap) that was not used. */
void cs_region_bits_free(uint64_t *bits, size_t cap);
/* Move or resize a region that is one mapping of its own (raw_base == base,
   no alignment slack): it now covers [base, base+size) of a mapping of cap
   bytes at base.  bits: a bitmap for cap from cs_region_bits_alloc, which
   takes the old bits (the rest stay clear), or NULL to keep the old bitmap
   (which must cover cap).  Called under the owning heap's lock. */
void cs_region_move(struct cs_region *r, uintptr_t base, size_t size, size_t cap, uint64_t *bits);
/* Forget a region (its range must be given back by the caller). */
void cs_region_remove(struct cs_region *r);
/* Whether [base, base+len) is clear of every region and every registered
   injected range: 0, or EEXIST. */
int cs_region_range_free(uintptr_t base, size_t len);
/* The region containing address a (slow: a walk of the table), or NULL. */
struct cs_region *cs_region_find(uintptr_t a);
/* Whether a lies in one of the last ranges regions gave back (a hint for
   messages only: the system may have mapped something else there since). */
int cs_region_was_given_back(uintptr_t a);
/* Number of regions and their bytes. */
void cs_region_totals(size_t *count, size_t *bytes);
/* Forget every region record (teardown; ranges handed back by the heaps). */
void cs_region_teardown(void);
void cs_region_fork_prepare(void);
void cs_region_fork_parent(void);
void cs_region_fork_child(void);

#endif
