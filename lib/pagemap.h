/*
 * pagemap.h - address -> span, a two-level radix tree over heap pages.
 *
 * Nodes come from the metadata allocator, never from managed memory.  The
 * root lives in the library's data.  Invariants kept by the page heap:
 * every page of an in-use small span maps to it; an in-use large span and a
 * free span map their first and last pages; every other entry is NULL.  So
 * a lookup of any address either finds the span that owns it or NULL.
 *
 * Readers take no lock: nodes are published with a release store and never
 * freed before teardown; entries are written by the heap under its lock.
 */
#ifndef CS_PAGEMAP_H
#define CS_PAGEMAP_H

#include "platform.h"

struct cs_span;

/* Two levels keep a lookup to two dependent loads.  On 64-bit machines a
   leaf covers 2 GiB (2^18 pages; 2 MiB of entries, of which only the pages
   that map live memory are ever touched) and the root (1 MiB of entries,
   in the library's zero-filled data) covers 256 TiB. */
#define CS_PM_PN_BITS (CS_VA_BITS - CS_PAGE_SHIFT)
#if CS_64BIT
#define CS_PM_LEAF_BITS 18
#else
#define CS_PM_LEAF_BITS 10
#endif
#define CS_PM_ROOT_BITS (CS_PM_PN_BITS - CS_PM_LEAF_BITS)

struct cs_pm_leaf {
    struct cs_span *span[1u << CS_PM_LEAF_BITS];
};

extern cs_atomic_t cs_pm_root[1u << CS_PM_ROOT_BITS] CS_HIDDEN;

static inline struct cs_pm_leaf *cs_pm_leaf_of(uintptr_t a)
{
#if CS_64BIT
    if (cs_unlikely(a >> CS_VA_BITS))
        return NULL;
#endif
    return (struct cs_pm_leaf *)cs_atomic_load_relaxed(&cs_pm_root[a >> (CS_PAGE_SHIFT +
                                                                         CS_PM_LEAF_BITS)]);
}

/* The span owning address p, or NULL (not cistern's, or a free page's middle). */
static inline struct cs_span *cs_pagemap_get(const void *p)
{
    struct cs_pm_leaf *leaf = cs_pm_leaf_of((uintptr_t)p);
    if (cs_unlikely(!leaf))
        return NULL;
    return leaf->span[((uintptr_t)p >> CS_PAGE_SHIFT) & ((1u << CS_PM_LEAF_BITS) - 1)];
}

/* free()'s lookup: the root index is masked instead of range-checked, so an
   address beyond CS_VA_BITS may find some other span, or NULL; the caller
   must check that p lies inside what it finds (an object-start test does)
   and take cs_pagemap_get's answer on its slow path. */
static inline struct cs_span *cs_pagemap_get_fast(const void *p)
{
    uintptr_t a = (uintptr_t)p;
    struct cs_pm_leaf *leaf = (struct cs_pm_leaf *)cs_atomic_load_relaxed(
        &cs_pm_root[(a >> (CS_PAGE_SHIFT + CS_PM_LEAF_BITS)) & ((1u << CS_PM_ROOT_BITS) - 1)]);
    if (cs_unlikely(!leaf))
        return NULL;
    return leaf->span[(a >> CS_PAGE_SHIFT) & ((1u << CS_PM_LEAF_BITS) - 1)];
}

/* Make sure nodes exist for [start, start+len): 0 or ENOMEM (or EFAULT for
   addresses beyond CS_VA_BITS).  Caller need not hold any lock. */
int cs_pagemap_ensure(uintptr_t start, size_t len);
/* Point the entry of page address a at s (nodes must exist). Heap lock held. */
void cs_pagemap_set(uintptr_t a, struct cs_span *s);
/* Point npages entries from a at s. */
void cs_pagemap_set_range(uintptr_t a, size_t npages, struct cs_span *s);
/* Forget every node (teardown: their memory goes with the metadata). */
void cs_pagemap_reset(void);

#endif
