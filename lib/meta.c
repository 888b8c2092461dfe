/*
 * meta.c - metadata allocator: power-of-two blocks carved from 1 MiB OS
 * chunks, free lists per block size, and direct mappings for big blocks.
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
#define META_NCLASSES (META_MAX_SHIFT - META_MIN_SHIFT + 1)
/* Chunk size: big enough that chunk headers and syscalls are rare. */
#define META_CHUNK ((size_t)1 << 20)
/* Header at the start of every mapping; 64 keeps blocks cache-line aligned. */
#define META_HDR 64

struct meta_map {
    struct meta_map *next, *prev;
    size_t size;
};

struct meta_free {
    struct meta_free *next;
};

static cs_lock_t meta_lock = CS_LOCK_INIT;
static struct meta_map *maps;
static struct meta_free *freelist[META_NCLASSES];
static char *bump, *bump_end;
static cs_atomic_t mapped;

static unsigned meta_class(size_t size)
{
    if (size <= ((size_t)1 << META_MIN_SHIFT))
        return 0;
    return cs_log2_floor(size - 1) + 1 - META_MIN_SHIFT;
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
    size_t bsize = (size_t)1 << (c + META_MIN_SHIFT);
    if (freelist[c]) {
        struct meta_free *f = freelist[c];
        freelist[c] = f->next;
        p = f;
    } else {
        /* Blocks are naturally aligned up to 64 bytes within a chunk. */
        char *at = (char *)CS_ALIGN_UP((uintptr_t)bump, bsize < 64 ? bsize : 64);
        if (!bump || at + bsize > bump_end) {
            char *chunk = map_new(META_CHUNK);
            if (!chunk) {
                cs_unlock(&meta_lock);
                return NULL;
            }
            bump = chunk;
            bump_end = chunk + META_CHUNK - META_HDR;
            at = bump;
        }
        bump = at + bsize;
        cs_unlock(&meta_lock);
        return at; /* never handed out before: zero */
    }
    cs_unlock(&meta_lock);
    memset(p, 0, bsize);
    return p;
}

void cs_meta_free(void *p, size_t size)
{
    if (!p)
        return;
    if (size == 0)
        size = 1;
    cs_lock(&meta_lock);
    if (size > ((size_t)1 << META_MAX_SHIFT)) {
        map_drop((struct meta_map *)((char *)p - META_HDR));
    } else {
        unsigned c = meta_class(size);
        struct meta_free *f = p;
        f->next = freelist[c];
        freelist[c] = f;
    }
    cs_unlock(&meta_lock);
}

size_t cs_meta_mapped_bytes(void)
{
    return (size_t)cs_atomic_load_relaxed(&mapped);
}

void cs_meta_release_all(void)
{
    cs_lock(&meta_lock);
    while (maps)
        map_drop(maps);
    memset(freelist, 0, sizeof freelist);
    bump = bump_end = NULL;
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
