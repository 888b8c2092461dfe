/*
 * unit.h - what the unit-tier programs share beyond tests/testutil.h: the
 * internal headers, and a start-up that makes the heap deterministic.
 *
 * These programs link the core convenience library, so they reach the
 * internals (cs_*) next to the public cistern_* calls, while their own
 * malloc stays the C library's.
 */
#ifndef CS_TEST_UNIT_H
#define CS_TEST_UNIT_H

#include "platform.h"

#include <cistern.h>

#include "arena.h"
#include "central.h"
#include "init.h"
#include "options.h"
#include "pageheap.h"
#include "pagemap.h"
#include "region.h"
#include "sizeclass.h"
#include "source.h"
#include "span.h"
#include "tcache.h"

#include "testutil.h"

/* Initialise cistern with the time-driven release policy off: a test that
   counts decommits or committed pages must not race a decay timer or the
   background thread. */
static inline void unit_init(void)
{
    cs_opt.decay_ms = -1;
    cs_opt.background_thread = 0;
    cs_ensure_init();
}

/* Number of free spans on the heap's lists, and their pages. */
static inline size_t unit_free_spans(struct cs_heap *h, size_t *pages)
{
    size_t n = 0, p = 0;
    for (int i = 0; i < CS_MAX_CHAIN; i++) {
        struct cs_freeset *fs = h->slot[i].free;
        if (!fs)
            continue;
        for (int len = 0; len <= CS_HEAP_LISTS; len++)
            for (struct cs_span *s = len ? fs->bylen[len] : fs->big; s; s = s->next) {
                n++;
                p += s->npages;
            }
    }
    if (pages)
        *pages = p;
    return n;
}

/* Number of the heap's regions, and their pages. */
static inline size_t unit_regions(struct cs_heap *h, size_t *pages)
{
    size_t n = 0, p = 0;
    for (struct cs_region *r = h->regions; r; r = r->next) {
        n++;
        p += r->size / CS_PAGE;
    }
    if (pages)
        *pages = p;
    return n;
}

/* A small deterministic generator (xorshift), so a failing order repeats. */
static inline uint32_t unit_rand(uint64_t *state)
{
    uint64_t x = *state;
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    *state = x;
    return (uint32_t)(x >> 16);
}

#endif
