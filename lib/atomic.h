/*
 * atomic.h - the one place that includes <atomic_ops.h>.
 *
 * Only the AO_* subset cistern uses is exposed, under cs_ names, so that the
 * memory-ordering intent is visible at every call site.  AO_t is a word
 * (pointer-sized) on every architecture libatomic_ops supports.
 */
#ifndef CS_ATOMIC_H
#define CS_ATOMIC_H

#include <atomic_ops.h>
#include <stdint.h>

typedef volatile AO_t cs_atomic_t;

/* Plain atomic read: statistics, hints, anything that needs no ordering. */
static inline uintptr_t cs_atomic_load_relaxed(const cs_atomic_t *p)
{
    return (uintptr_t)AO_load((const volatile AO_t *)p);
}
/* Acquire load: pairs with cs_atomic_store_release on the same word. */
static inline uintptr_t cs_atomic_load_acquire(const cs_atomic_t *p)
{
    return (uintptr_t)AO_load_acquire((const volatile AO_t *)p);
}
static inline void cs_atomic_store_relaxed(cs_atomic_t *p, uintptr_t v)
{
    AO_store(p, (AO_t)v);
}
/* Release store: everything written before is visible to an acquire load of p. */
static inline void cs_atomic_store_release(cs_atomic_t *p, uintptr_t v)
{
    AO_store_release(p, (AO_t)v);
}
/* Counter update; returns the old value. Full barrier (statistics, refcounts). */
static inline uintptr_t cs_atomic_add(cs_atomic_t *p, uintptr_t v)
{
    return (uintptr_t)AO_fetch_and_add_full(p, (AO_t)v);
}
static inline uintptr_t cs_atomic_sub(cs_atomic_t *p, uintptr_t v)
{
    return (uintptr_t)AO_fetch_and_add_full(p, (AO_t)(0 - v));
}
/* Compare-and-swap with acquire+release semantics; true when it swapped. */
static inline int cs_atomic_cas(cs_atomic_t *p, uintptr_t expect, uintptr_t desired)
{
    return AO_compare_and_swap_full(p, (AO_t)expect, (AO_t)desired);
}

/* Set bits v; returns the word before.  A CAS loop: AO has no fetch-or. */
static inline uintptr_t cs_atomic_fetch_or(cs_atomic_t *p, uintptr_t v)
{
    uintptr_t old;
    do
        old = cs_atomic_load_relaxed(p);
    while (!cs_atomic_cas(p, old, old | v));
    return old;
}

/* Clear bits v. */
static inline void cs_atomic_clear_bits(cs_atomic_t *p, uintptr_t v)
{
    uintptr_t old;
    do
        old = cs_atomic_load_relaxed(p);
    while (!cs_atomic_cas(p, old, old & ~v));
}

/* A counter written by one thread at a time (under a lock) and read by
   others without it: the store is atomic so the readers see whole values. */
static inline void cs_counter_add(cs_atomic_t *p, intptr_t d)
{
    cs_atomic_store_relaxed(p, cs_atomic_load_relaxed(p) + (uintptr_t)d);
}

#endif /* CS_ATOMIC_H */
