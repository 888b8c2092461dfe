/*
 * pool.c - the pool source: a pre-reserved range the program injects.
 *
 * The range stays the program's: cistern never unmaps any of it (the source
 * is tagged INJECTED, so regions handed back are decommitted and kept for
 * reuse by the core).  New regions are carved from the front; each is at most
 * POOL_CHUNK unless a request needs more, so one pool can feed several arenas.
 * Decommit is MADV_DONTNEED, which neither touches nor reads the memory, so a
 * PROT_NONE range can be a NOTOUCH pool.
 */
#include "platform.h"
#include "export.h"
#include "init.h"
#include "meta.h"
#include "region.h"
#include "source.h"
#include "sources.h"

#include <sys/mman.h>
#include <sys/stat.h>

/* A pool of huge pages (flag HUGE) decommits whole 2 MiB pages only. */
#define HUGE_GRANULE ((size_t)2 << 20)
/* Big enough that a pool feeding one arena is one or a few regions. */
#define POOL_CHUNK ((size_t)64 << 20)

void *cs_carve_take(struct cs_carve *c, size_t size, size_t align, size_t chunk, size_t *actual)
{
    void *p = NULL;
    cs_lock(&c->lock);
    uintptr_t start = CS_ALIGN_UP(c->cur, align);
    if (start >= c->cur && start <= c->end && c->end - start >= size) {
        size_t give = size > chunk ? size : chunk;
        if (give > c->end - start)
            give = c->end - start;
        c->cur = start + give;
        *actual = give;
        p = (void *)start;
    }
    cs_unlock(&c->lock);
    return p;
}

static void *pool_alloc(void *ctx, size_t size, size_t align, size_t *actual)
{
    return cs_carve_take(ctx, size, align, POOL_CHUNK, actual);
}

static int pool_decommit(void *ctx, void *p, size_t len)
{
    return madvise(p, len, MADV_DONTNEED) == 0 ? 0 : errno;
}

static void pool_destroy(void *ctx)
{
    cs_meta_free(ctx, sizeof(struct cs_carve));
}

static const cistern_sysalloc_ops_t pool_ops = {
    .alloc = pool_alloc,
    .decommit = pool_decommit,
    .destroy = pool_destroy,
};

CS_EXPORT cistern_sysalloc_t *cistern_sysalloc_pool(void *base, size_t len, unsigned flags)
{
    cs_ensure_init();
    size_t page = cs_os_page_size();
    uintptr_t b = (uintptr_t)base;
    if (!base || len == 0 || (b & (page - 1)) || (len & (page - 1)) || b + len < b ||
        (flags & ~(CISTERN_SYSALLOC_NOTOUCH | CISTERN_SYSALLOC_INJECTED | CISTERN_SYSALLOC_HUGE))) {
        errno = EINVAL;
        return NULL;
    }
    struct cs_carve *pl = cs_meta_alloc(sizeof *pl);
    if (!pl) {
        errno = ENOMEM;
        return NULL;
    }
    pl->base = pl->cur = b;
    pl->end = b + len;
    struct cistern_sysalloc *s =
        cs_source_new("pool", &pool_ops, pl, (flags & CISTERN_SYSALLOC_HUGE) ? HUGE_GRANULE : 0,
                      flags | CISTERN_SYSALLOC_INJECTED, CS_SRC_POOL);
    if (!s) {
        cs_meta_free(pl, sizeof *pl);
        return NULL;
    }
    s->range_base = b;
    s->range_len = len;
    /* The check and the registration must not interleave with another pool's. */
    static cs_lock_t inject_lock = CS_LOCK_INIT;
    cs_lock(&inject_lock);
    int err = cs_region_range_free(b, len);
    if (!err)
        cs_source_register(s);
    cs_unlock(&inject_lock);
    if (err) {
        cs_meta_free(s, sizeof *s);
        cs_meta_free(pl, sizeof *pl);
        errno = err;
        return NULL;
    }
    return s;
}

/* ---- the pool option: pre-reserve at start-up ----------------------------------- */

#include "arena.h"
#include "fatal.h"
#include "options.h"
#include <cistern/arena.h>
#include "sources.h"

#include <fcntl.h>
#include <string.h>
#include <unistd.h>

/* "anon:SIZE", "huge:SIZE" or "file:PATH:SIZE": reserve the memory and put a
   source over it first in the default arena's chain.  Called during init, so
   nothing here may call the malloc family. */
void cs_pool_option_apply(const char *spec)
{
    const char *colon = strchr(spec, ':');
    size_t size = 0;
    cistern_sysalloc_t *s = NULL;
    if (!colon) {
        cs_warn("CISTERN_OPTIONS: pool: expected anon:SIZE, huge:SIZE or file:PATH:SIZE: ", spec);
        return;
    }
    size_t page = cs_os_page_size();
    if (strncmp(spec, "file:", 5) == 0) {
        const char *last = strrchr(spec, ':');
        char path[200];
        size_t plen = (size_t)(last - (spec + 5));
        if (last == colon || plen == 0 || plen >= sizeof path ||
            cs_parse_size(last + 1, strlen(last + 1), &size) || size == 0) {
            cs_warn("CISTERN_OPTIONS: pool: bad file pool spec: ", spec);
            return;
        }
        memcpy(path, spec + 5, plen);
        path[plen] = 0;
        int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
        if (fd < 0) {
            cs_warn("CISTERN_OPTIONS: pool: cannot open ", path);
            return;
        }
        struct stat st;
        unsigned flags = 0;
        if (fstat(fd, &st) == 0 && (size_t)st.st_blksize > page)
            flags |= CISTERN_SYSALLOC_HUGE; /* hugetlbfs: huge-page blocks */
        size = CS_ALIGN_UP(size, flags ? (size_t)st.st_blksize : page);
        s = cistern_sysalloc_shm(fd, 0, size, flags);
    } else {
        int huge = strncmp(spec, "huge:", 5) == 0;
        if ((!huge && strncmp(spec, "anon:", 5) != 0) ||
            cs_parse_size(colon + 1, strlen(colon + 1), &size) || size == 0) {
            cs_warn("CISTERN_OPTIONS: pool: bad pool spec: ", spec);
            return;
        }
        size = CS_ALIGN_UP(size, huge ? (size_t)2 << 20 : page);
        void *base = NULL;
#ifdef MAP_HUGETLB
        if (huge) {
            base = mmap(NULL, size, PROT_READ | PROT_WRITE,
                        MAP_PRIVATE | MAP_ANONYMOUS | MAP_HUGETLB, -1, 0);
            if (base == MAP_FAILED)
                base = NULL;
        }
#endif
        if (!base) {
            base = cs_os_map(size, huge ? (size_t)2 << 20 : page);
#ifdef MADV_HUGEPAGE
            if (base && huge)
                madvise(base, size, MADV_HUGEPAGE);
#endif
        }
        if (base)
            s = cistern_sysalloc_pool(base, size, huge ? CISTERN_SYSALLOC_HUGE : 0);
    }
    if (!s || cistern_arena_add_sysalloc(cs_default_arena, s, 0) != 0)
        cs_warn("CISTERN_OPTIONS: pool: could not reserve the pool, default kept: ", spec);
}
