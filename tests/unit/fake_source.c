/*
 * fake_source.c - the unit tests' steerable memory source (see the header).
 */
#include "fake_source.h"

#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>

#define FAKE_BASE_ALIGN ((size_t)2 << 20)

static size_t align_up(size_t x, size_t a)
{
    return (x + a - 1) & ~(a - 1);
}

static void record(struct fake_range *log, unsigned *n, void *p, size_t len)
{
    if (*n < FAKE_MAX_CALLS) {
        log[*n].base = (uintptr_t)p;
        log[*n].len = len;
    }
    (*n)++;
}

/* A decommit must cover whole granules of memory the fake gave. */
static void vet_decommit(struct fake_source *f, void *p, size_t len)
{
    uintptr_t a = (uintptr_t)p;
    if (len == 0 || a % f->granule || len % f->granule || !fake_owns(f, a, len))
        f->bad_calls++;
}

/* An unmap gives back exactly one region, as the fake handed it out. */
static void vet_unmap(struct fake_source *f, void *p, size_t len)
{
    for (unsigned i = 0; i < f->nregions; i++)
        if (f->regions[i].base == (uintptr_t)p && f->regions[i].len == len)
            return;
    f->bad_calls++;
}

static void *fake_alloc(void *ctx, size_t size, size_t align, size_t *actual)
{
    struct fake_source *f = ctx;
    if (f->on_alloc)
        f->on_alloc(f);
    f->nalloc++;
    if (f->fail_every && f->nalloc % f->fail_every == 0) {
        f->nfail++;
        return NULL;
    }
    size_t give = size < f->chunk ? f->chunk : size;
    give = align_up(give, 4096);
    uintptr_t at = f->base + f->next;
    if (f->max_align && align > f->max_align)
        align = f->max_align;
    if (align > 1)
        at = align_up(at, align);
    if (give > f->len || at - f->base > f->len - give || f->nregions == FAKE_MAX_REGIONS)
        return NULL;
    f->regions[f->nregions].base = at;
    f->regions[f->nregions].len = give;
    f->nregions++;
    f->next = at + give + f->gap - f->base;
    *actual = give;
    return (void *)at;
}

static int fake_decommit(void *ctx, void *p, size_t len)
{
    struct fake_source *f = ctx;
    vet_decommit(f, p, len);
    record(f->decommits, &f->ndecommit, p, len);
    if (f->zero_on_decommit)
        madvise(p, len, MADV_DONTNEED);
    return 0;
}

static int fake_commit(void *ctx, void *p, size_t len)
{
    struct fake_source *f = ctx;
    (void)p;
    (void)len;
    f->ncommit++;
    return 0;
}

static int fake_unmap(void *ctx, void *p, size_t len)
{
    struct fake_source *f = ctx;
    vet_unmap(f, p, len);
    record(f->unmaps, &f->nunmap, p, len);
    return 0;
}

static void fake_destroy(void *ctx)
{
    struct fake_source *f = ctx;
    f->destroyed++;
}

struct fake_source *fake_new(const char *name, size_t reserve, size_t skew, size_t granule,
                             unsigned flags)
{
    struct fake_source *f = calloc(1, sizeof *f);
    if (!f)
        abort();
    size_t map_len = reserve + FAKE_BASE_ALIGN + skew;
    void *m = mmap(NULL, map_len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE,
                   -1, 0);
    if (m == MAP_FAILED) {
        perror("fake_new: mmap");
        abort();
    }
    f->base = align_up((uintptr_t)m, FAKE_BASE_ALIGN) + skew;
    f->len = reserve;
    f->granule = granule ? granule : 4096;
    static const cistern_sysalloc_ops_t ops = {
        .alloc = fake_alloc,
        .decommit = fake_decommit,
        .commit = fake_commit,
        .unmap = fake_unmap,
        .destroy = fake_destroy,
    };
    f->src = cistern_sysalloc_custom(name, &ops, f, granule, flags);
    if (!f->src) {
        perror("fake_new: cistern_sysalloc_custom");
        abort();
    }
    return f;
}

cistern_arena_t *fake_arena(struct fake_source *f, unsigned arena_flags, size_t limit_bytes)
{
    cistern_sysalloc_t *chain[1] = { f->src };
    cistern_arena_config_t cfg = {
        .name = "fake",
        .sources = chain,
        .nsources = 1,
        .flags = arena_flags,
        .limit_bytes = limit_bytes,
    };
    cistern_arena_t *a = cistern_arena_create(&cfg);
    if (!a) {
        perror("fake_arena: cistern_arena_create");
        abort();
    }
    return a;
}

int fake_owns(const struct fake_source *f, uintptr_t p, size_t len)
{
    for (unsigned i = 0; i < f->nregions; i++) {
        const struct fake_range *r = &f->regions[i];
        if (p >= r->base && len <= r->len && p - r->base <= r->len - len)
            return 1;
    }
    return 0;
}

void fake_clear_calls(struct fake_source *f)
{
    f->ndecommit = f->nunmap = f->ncommit = 0;
    f->bad_calls = 0;
}
