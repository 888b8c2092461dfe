/*
 * region.c - the global region table.
 */
#include "region.h"
#include "meta.h"
#include "pagemap.h"
#include "source.h"

#include <string.h>

static cs_lock_t region_lock = CS_LOCK_INIT;
static struct cs_region *regions;
static size_t region_count, region_bytes;

/* The last ranges regions gave back, for the message on a pointer no
   region holds any more: most likely a second free of a big block whose
   memory went back to the system. */
#define GONE_RANGES 64
static struct {
    uintptr_t base;
    size_t size;
} gone[GONE_RANGES];
static unsigned gone_next;

struct cs_region *cs_region_add(struct cistern_sysalloc *src, uintptr_t raw, size_t raw_size,
                                struct cs_heap *heap, unsigned slot)
{
    uintptr_t base = CS_ALIGN_UP(raw, CS_PAGE);
    uintptr_t end = CS_ALIGN_DOWN(raw + raw_size, CS_PAGE);
    if (end <= base) {
        errno = ENOMEM;
        return NULL;
    }
    int err = cs_pagemap_ensure(base, end - base);
    if (err) {
        errno = err;
        return NULL;
    }
    struct cs_region *r = cs_meta_alloc(sizeof *r);
    uint64_t *bits = r ? cs_region_bits_alloc(end - base) : NULL;
    if (!bits) {
        cs_meta_free(r, sizeof *r);
        errno = ENOMEM;
        return NULL;
    }
    r->committed = bits;
    r->neg_base = (uintptr_t)0 - base;
    r->size = r->cap = end - base;
    r->own = 0;
    r->neg_raw_base = (uintptr_t)0 - raw;
    r->raw_size = raw_size;
    r->src = src;
    r->heap = heap;
    r->slot = slot;
    r->flags = src->flags;
    cs_lock(&region_lock);
    r->gnext = regions;
    if (regions)
        regions->gprev = r;
    regions = r;
    region_count++;
    region_bytes += r->size;
    cs_unlock(&region_lock);
    return r;
}

void cs_region_remove(struct cs_region *r)
{
    cs_lock(&region_lock);
    if (r->gprev)
        r->gprev->gnext = r->gnext;
    else
        regions = r->gnext;
    if (r->gnext)
        r->gnext->gprev = r->gprev;
    region_count--;
    region_bytes -= r->size;
    gone[gone_next].base = cs_region_base(r);
    gone[gone_next].size = r->size;
    gone_next = (gone_next + 1) % GONE_RANGES;
    cs_unlock(&region_lock);
    cs_meta_free(r->committed, ((r->cap / CS_PAGE + 63) / 64) * sizeof(uint64_t));
    cs_meta_free(r, sizeof *r);
}

static size_t bits_bytes(size_t cap)
{
    return ((cap / CS_PAGE + 63) / 64) * sizeof(uint64_t);
}

uint64_t *cs_region_bits_alloc(size_t cap)
{
    /* Metadata comes zeroed (fresh mappings or cleared on reuse). */
    return cs_meta_alloc(bits_bytes(cap));
}

void cs_region_bits_free(uint64_t *bits, size_t cap)
{
    cs_meta_free(bits, bits_bytes(cap));
}

void cs_region_move(struct cs_region *r, uintptr_t base, size_t size, size_t cap, uint64_t *bits)
{
    uint64_t *old = r->committed;
    size_t old_cap = r->cap;
    if (bits) {
        size_t keep = bits_bytes(old_cap < cap ? old_cap : cap);
        for (size_t w = 0; w < keep / sizeof *bits; w++)
            bits[w] = old[w];
        /* Bits past cap in the last word kept from the old map: clear them. */
        if ((cap / CS_PAGE) % 64 && keep == bits_bytes(cap))
            bits[keep / sizeof *bits - 1] &= ((uint64_t)1 << ((cap / CS_PAGE) % 64)) - 1;
    }
    cs_lock(&region_lock);
    region_bytes += size - r->size;
    r->neg_base = r->neg_raw_base = (uintptr_t)0 - base;
    r->size = size;
    r->raw_size = r->cap = cap;
    if (bits)
        r->committed = bits;
    cs_unlock(&region_lock);
    if (bits)
        cs_meta_free(old, bits_bytes(old_cap));
}

struct overlap_probe {
    uintptr_t base;
    size_t len;
    int hit;
};

static void probe_source(struct cistern_sysalloc *s, void *ctx)
{
    struct overlap_probe *o = ctx;
    if (s->range_len && o->base < s->range_base + s->range_len && s->range_base < o->base + o->len)
        o->hit = 1;
}

int cs_region_range_free(uintptr_t base, size_t len)
{
    struct overlap_probe o = { base, len, 0 };
    cs_source_foreach(probe_source, &o);
    if (o.hit)
        return EEXIST;
    cs_lock(&region_lock);
    for (struct cs_region *r = regions; r; r = r->gnext)
        if (base < cs_region_raw_base(r) + r->raw_size && cs_region_raw_base(r) < base + len) {
            o.hit = 1;
            break;
        }
    cs_unlock(&region_lock);
    return o.hit ? EEXIST : 0;
}

struct cs_region *cs_region_find(uintptr_t a)
{
    struct cs_region *found = NULL;
    cs_lock(&region_lock);
    for (struct cs_region *r = regions; r; r = r->gnext)
        if (a >= cs_region_base(r) && a < cs_region_base(r) + r->size) {
            found = r;
            break;
        }
    cs_unlock(&region_lock);
    return found;
}

int cs_region_was_given_back(uintptr_t a)
{
    int found = 0;
    cs_lock(&region_lock);
    for (unsigned i = 0; i < GONE_RANGES && !found; i++)
        found = gone[i].size && a >= gone[i].base && a - gone[i].base < gone[i].size;
    cs_unlock(&region_lock);
    return found;
}

void cs_region_totals(size_t *count, size_t *bytes)
{
    cs_lock(&region_lock);
    *count = region_count;
    *bytes = region_bytes;
    cs_unlock(&region_lock);
}

void cs_region_teardown(void)
{
    cs_lock(&region_lock);
    regions = NULL;
    region_count = region_bytes = 0;
    memset(gone, 0, sizeof gone);
    cs_unlock(&region_lock);
}

void cs_region_fork_prepare(void)
{
    cs_lock(&region_lock);
}

void cs_region_fork_parent(void)
{
    cs_unlock(&region_lock);
}

void cs_region_fork_child(void)
{
    cs_lock_init(&region_lock);
}
