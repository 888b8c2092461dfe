/*
 * meta.c - metadata allocator: blocks carved from 1 MiB OS chunks, free
 * lists per block size, and direct mappings for big blocks.
 *
 * Block sizes are the powers of two from 16 B to 128 B, then two per
 * doubling (2^k and 3 * 2^(k-1)) up to 64 KiB, so a record never wastes
 * more than a third of its block: a span record (a little under 384 B) no
 * longer takes 512.  Every size from 192 up is a multiple of 64, which keeps
 * the 64-byte alignment of blocks of 64 bytes and more.
 *
 * A freed block of META_PURGE_MIN bytes or more gives its whole pages back
 * to the OS (they read as zero afterwards), so metadata that a burst of
 * threads needed once does not stay resident; a reused block is cleared
 * only where it may hold old bytes.
 *
 * Every mapping starts with a header linking it into one list, so teardown
 * can unmap them all.  Blocks never share a page with user memory, which is
 * what keeps metadata out of reach of a heap overflow.
 */
#include "platform.h"
#include "meta.h"
#include "fatal.h"
#include "sysalloc/sources.h"

#include <string.h>

/* Blocks of 16 B .. 64 KiB; larger ones get their own mapping. */
#define META_MIN_SHIFT 4
#define META_MAX_SHIFT 16
/* 16, 32, 64, 128, then 192, 256, 384, 512, ... 49152, 65536. */
#define META_POW2_CLASSES 4
#define META_NCLASSES (META_POW2_CLASSES + 2 * (META_MAX_SHIFT - 7))
/* Chunk size: big enough that chunk headers and syscalls are rare. */
#define META_CHUNK ((size_t)1 << 20)
/* Header at the start of every mapping; 64 keeps blocks cache-line aligned. */
#define META_HDR 64
/* Freed blocks this big (thread-cache records) give their pages back; below
   it a block spans too few whole pages for the system call to pay. */
#define META_PURGE_MIN ((size_t)16 << 10)

struct meta_map {
    struct meta_map *next, *prev;
    size_t size;
};

/* A free block: the link, and the bytes [clean_lo, clean_hi) that were
   purged and read as zero (empty when clean_lo == clean_hi); the rest may
   hold old bytes. */
struct meta_free {
    struct meta_free *next;
    uint32_t clean_lo, clean_hi;
};

static cs_lock_t meta_lock = CS_LOCK_INIT;
static struct meta_map *maps;
static struct meta_free *freelist[META_NCLASSES];
/* The current chunk's next free byte (NULL when none is left) and the bytes
   after it: a length, not an end pointer, and never a pointer one past the
   chunk, since the next mapping may start there and a leak checker would
   take the word for a pointer to the block it holds. */
static char *bump;
static size_t bump_left;
static cs_atomic_t mapped;
static cs_atomic_t in_use;      /* bytes of blocks handed out (block sizes) */
static cs_atomic_t free_dirty;  /* bytes of free blocks that may be resident */

/* The class of a request of size bytes (1 <= size <= 64 KiB). */
static unsigned meta_class(size_t size)
{
    if (size <= ((size_t)1 << META_MIN_SHIFT))
        return 0;
    unsigned k = cs_log2_floor(size - 1); /* 2^k < size <= 2^(k+1) */
    if (k < 7)
        return k + 1 - META_MIN_SHIFT;
    size_t half = ((size_t)3) << (k - 1);
    return META_POW2_CLASSES + 2 * (k - 7) + (size > half);
}

static size_t class_size(unsigned c)
{
    if (c < META_POW2_CLASSES)
        return (size_t)1 << (c + META_MIN_SHIFT);
    unsigned k = 7 + (c - META_POW2_CLASSES) / 2;
    return (c - META_POW2_CLASSES) % 2 ? (size_t)2 << k : (size_t)3 << (k - 1);
}

size_t cs_meta_block_size(size_t size)
{
    if (size == 0)
        size = 1;
    if (size > ((size_t)1 << META_MAX_SHIFT))
        return CS_ALIGN_UP(size + META_HDR, cs_os_page_size()) - META_HDR;
    return class_size(meta_class(size));
}

static void *map_new(size_t size)
{
    struct meta_map *m = cs_os_map(size, CS_PAGE);
    if (!m)
        return NULL;
    m->size = size;
    m->prev = NULL;
    m->next = maps;
    if (maps)
        maps->prev = m;
    maps = m;
    cs_counter_add(&mapped, (intptr_t)size);
    return (char *)m + META_HDR;
}

static void map_drop(struct meta_map *m)
{
    if (m->prev)
        m->prev->next = m->next;
    else
        maps = m->next;
    if (m->next)
        m->next->prev = m->prev;
    cs_counter_add(&mapped, -(intptr_t)m->size);
    cs_os_unmap(m, m->size);
}

void *cs_meta_alloc(size_t size)
{
    void *p = NULL;
    if (size == 0)
        size = 1;
    cs_lock(&meta_lock);
    if (size > ((size_t)1 << META_MAX_SHIFT)) {
        p = map_new(CS_ALIGN_UP(size + META_HDR, cs_os_page_size()));
        cs_unlock(&meta_lock);
        return p; /* fresh mapping: already zero */
    }
    unsigned c = meta_class(size);
    size_t bsize = class_size(c), lo = 0, hi = 0;
    if (freelist[c]) {
        struct meta_free *f = freelist[c];
        freelist[c] = f->next;
        lo = f->clean_lo;
        hi = f->clean_hi;
        cs_counter_add(&free_dirty, -(intptr_t)(bsize - (hi - lo)));
        p = f;
    } else {
        /* Blocks are naturally aligned up to 64 bytes within a chunk. */
        char *at = bump ? (char *)CS_ALIGN_UP((uintptr_t)bump, bsize < 64 ? bsize : 64) : NULL;
        if (!at || (size_t)(at - bump) + bsize > bump_left) {
            char *chunk = map_new(META_CHUNK);
            if (!chunk) {
                cs_unlock(&meta_lock);
                return NULL;
            }
            bump = chunk;
            bump_left = META_CHUNK - META_HDR;
            at = bump;
        }
        bump_left -= (size_t)(at - bump) + bsize;
        bump = bump_left ? at + bsize : NULL;
        cs_counter_add(&in_use, (intptr_t)bsize);
        cs_unlock(&meta_lock);
        return at; /* never handed out before: zero */
    }
    cs_counter_add(&in_use, (intptr_t)bsize);
    cs_unlock(&meta_lock);
    memset(p, 0, lo);
    memset((char *)p + hi, 0, bsize - hi);
    return p;
}

void cs_meta_free(void *p, size_t size)
{
    if (!p)
        return;
    if (size == 0)
        size = 1;
    if (size > ((size_t)1 << META_MAX_SHIFT)) {
        cs_lock(&meta_lock);
        map_drop((struct meta_map *)((char *)p - META_HDR));
        cs_unlock(&meta_lock);
        return;
    }
    unsigned c = meta_class(size);
    size_t bsize = class_size(c);
    uint32_t clean_lo = 0, clean_hi = 0;
    if (bsize >= META_PURGE_MIN) {
        /* Keep the page holding the link; the whole pages after it go back
           (the block is still ours alone: no lock needed for this). */
        size_t page = cs_os_page_size();
        uintptr_t lo = CS_ALIGN_UP((uintptr_t)p + sizeof(struct meta_free), page);
        uintptr_t hi = CS_ALIGN_DOWN((uintptr_t)p + bsize, page);
        if (hi > lo && cs_os_decommit((void *)lo, hi - lo) == 0) {
            clean_lo = (uint32_t)(lo - (uintptr_t)p);
            clean_hi = (uint32_t)(hi - (uintptr_t)p);
        }
    }
    struct meta_free *f = p;
    cs_lock(&meta_lock);
    f->next = freelist[c];
    f->clean_lo = clean_lo;
    f->clean_hi = clean_hi;
    freelist[c] = f;
    cs_counter_add(&in_use, -(intptr_t)bsize);
    cs_counter_add(&free_dirty, (intptr_t)(bsize - (clean_hi - clean_lo)));
    cs_unlock(&meta_lock);
}

size_t cs_meta_mapped_bytes(void)
{
    return (size_t)cs_atomic_load_relaxed(&mapped);
}

void cs_meta_get_stats(struct cs_meta_stats *out)
{
    out->mapped = (size_t)cs_atomic_load_relaxed(&mapped);
    out->in_use = (size_t)cs_atomic_load_relaxed(&in_use);
    out->free_dirty = (size_t)cs_atomic_load_relaxed(&free_dirty);
}

void cs_meta_release_all(void)
{
    cs_lock(&meta_lock);
    while (maps)
        map_drop(maps);
    memset(freelist, 0, sizeof freelist);
    bump = NULL;
    bump_left = 0;
    cs_atomic_store_relaxed(&in_use, 0);
    cs_atomic_store_relaxed(&free_dirty, 0);
    cs_unlock(&meta_lock);
}

void cs_meta_fork_prepare(void)
{
    cs_lock(&meta_lock);
}

void cs_meta_fork_parent(void)
{
    cs_unlock(&meta_lock);
}

void cs_meta_fork_child(void)
{
    cs_lock_init(&meta_lock);
}
