/*
 * arena.c - arenas: creation over a chain, reset, destroy, the registry,
 * and the public arena calls that are not allocation entry points.
 */
#include "arena.h"
#include "central.h"
#include "export.h"
#include "fatal.h"
#include "init.h"
#include "meta.h"
#include "options.h"
#include "pagemap.h"
#include "source.h"
#include "span.h"
#include "tcache.h"
#include "tool.h"
#include "sysalloc/sources.h"

#include <cistern/arena.h>
#include <string.h>

struct cistern_arena *cs_default_arena;
cs_atomic_t cs_epoch_gen;

static cs_atomic_t epoch_counter;
static cs_lock_t arenas_lock = CS_LOCK_INIT;
static struct cistern_arena *arenas;    /* live */
/* Destroyed records, oldest first, reused as arenas only once more than
   ARENA_QUARANTINE wait: a handle kept past its destroy still finds a dead
   record (EINVAL, fatal in debug builds) for the next destroys, instead of
   the next arena created. */
#define ARENA_QUARANTINE 16
static struct cistern_arena *graveyard, *graveyard_tail;
static unsigned ngraveyard;

/* Arenas lock held. */
static void bury(struct cistern_arena *a)
{
    a->next = NULL;
    if (graveyard_tail)
        graveyard_tail->next = a;
    else
        graveyard = a;
    graveyard_tail = a;
    ngraveyard++;
}

/* Arenas lock held: a record old enough to serve again, or NULL. */
static struct cistern_arena *unbury(void)
{
    struct cistern_arena *a = ngraveyard > ARENA_QUARANTINE ? graveyard : NULL;
    if (a) {
        graveyard = a->next;
        if (!graveyard)
            graveyard_tail = NULL;
        ngraveyard--;
    }
    return a;
}
static unsigned next_id;

static uintptr_t fresh_epoch(void)
{
    return cs_atomic_add(&epoch_counter, 1) + 1;
}

/* A new epoch for a, every cache of a emptied in place, and a new
   generation so their threads revalidate on their next slow path. */
static void bump_epoch(struct cistern_arena *a)
{
    cs_atomic_store_release(&a->epoch, fresh_epoch());
    cs_tcache_invalidate(a);
    cs_atomic_add(&cs_epoch_gen, 1);
}

struct cistern_arena *cs_arena_new(const char *name, struct cistern_sysalloc *const *sources,
                                   size_t nsources, unsigned flags, size_t limit_bytes)
{
    if (nsources > CS_MAX_CHAIN || (nsources && !sources) || (flags & ~CISTERN_ARENA_NO_TCACHE)) {
        errno = EINVAL;
        return NULL;
    }
    for (size_t i = 0; i < nsources; i++)
        for (size_t j = 0; j < i || (!sources[i] && j == 0); j++)
            if (!sources[i] || sources[j] == sources[i]) {
                errno = EINVAL;
                return NULL;
            }
    cs_lock(&arenas_lock);
    struct cistern_arena *a = unbury();
    cs_unlock(&arenas_lock);
    if (!a && !(a = cs_meta_alloc(sizeof *a))) {
        errno = ENOMEM;
        return NULL;
    }
    /* The epoch word stays readable through reuse: set it, never clear it. */
    uintptr_t epoch = fresh_epoch();
    memset((char *)a + sizeof a->epoch, 0, sizeof *a - sizeof a->epoch);
    cs_atomic_store_release(&a->epoch, epoch);
    a->flags = flags;
    strncpy(a->name, name ? name : "arena", CS_ARENA_NAME - 1);
    cs_heap_init(&a->heap, a);
    a->heap.limit_bytes = limit_bytes;
    for (unsigned c = 0; c < CS_NCLASSES; c++)
        cs_central_init(&a->central[c], c);
    struct cistern_sysalloc *os = NULL;
    if (nsources == 0) {
        os = cs_os_source();
        sources = &os;
        nsources = 1;
    }
    for (size_t i = 0; i < nsources; i++) {
        int err = cs_heap_chain_add(&a->heap, sources[i], CISTERN_CHAIN_LAST);
        if (err) {
            cs_heap_destroy(&a->heap);
            cs_lock(&arenas_lock);
            bury(a);
            cs_unlock(&arenas_lock);
            errno = err;
            return NULL;
        }
    }
    a->notouch = cs_heap_chain_notouch(&a->heap);
    cs_lock(&arenas_lock);
    a->id = next_id++;
    a->prev = NULL;
    a->next = arenas;
    if (arenas)
        arenas->prev = a;
    arenas = a;
    cs_unlock(&arenas_lock);
    a->magic = CS_ARENA_MAGIC;
    return a;
}

int cs_arena_check(const struct cistern_arena *a, const char *call)
{
    if (!a)
        return EINVAL;
    if (a->magic != CS_ARENA_MAGIC) {
        if (CISTERN_DEBUG >= 1)
            cs_fatal_pointer(call, a, "arena used after destroy");
        return EINVAL;
    }
    return 0;
}

void cs_arena_foreach(void (*fn)(struct cistern_arena *a, void *ctx), void *ctx)
{
    cs_lock(&arenas_lock);
    for (struct cistern_arena *a = arenas; a; a = a->next)
        fn(a, ctx);
    cs_unlock(&arenas_lock);
}

/* Frees from this thread's caches and the central lists, then the heap:
   everything of a becomes free at once. */
static void reset_contents(struct cistern_arena *a)
{
    bump_epoch(a);
    for (unsigned c = 1; c < CS_NCLASSES; c++)
        cs_central_reset(&a->central[c]);
    cs_atomic_store_relaxed(&a->nmalloc_direct, 0);
    cs_atomic_store_relaxed(&a->nmalloc_dead, 0);
    cs_atomic_store_relaxed(&a->heap.nlarge_malloc, 0);
    cs_atomic_store_relaxed(&a->heap.nlarge_free, 0);
}

struct release_ctx {
    uint64_t age;
    int drain;
};

static void release_one(struct cistern_arena *a, void *arg)
{
    struct release_ctx *r = arg;
    if (!cs_lock_try(&a->maint))
        return; /* reset, destroy or walk at work: next time */
    if (r->drain)
        for (unsigned c = 1; c < CS_NCLASSES; c++)
            if (cs_central_cached(&a->central[c]))
                cs_central_drain(a, c);
    if (cs_heap_has_dirty(&a->heap))
        cs_heap_release(&a->heap, r->age);
    cs_unlock(&a->maint);
}

void cs_arena_release_all(uint64_t age_ms, int drain)
{
    struct release_ctx r = { age_ms, drain };
    cs_arena_foreach(release_one, &r);
}

static void unlink_arena(struct cistern_arena *a)
{
    if (a->prev)
        a->prev->next = a->next;
    else
        arenas = a->next;
    if (a->next)
        a->next->prev = a->prev;
}

/* A memory checker forgets the arena's live objects at reset and destroy. */
static int tool_drop(struct cs_span *s, void *ctx)
{
    (void)ctx;
    cs_tool_drop_span(s);
    return 0;
}

static void destroy(struct cistern_arena *a)
{
    cs_lock(&a->maint);
    reset_contents(a);
    if (cs_unlikely(cs_tool_active))
        cs_heap_foreach_inuse(&a->heap, tool_drop, NULL);
    a->magic = CS_ARENA_DEAD;
    cs_heap_destroy(&a->heap);
    for (unsigned c = 0; c < CS_NCLASSES; c++)
        cs_central_fini(&a->central[c]);
    cs_unlock(&a->maint);
    cs_lock(&arenas_lock);
    unlink_arena(a);
    bury(a);
    cs_unlock(&arenas_lock);
}

void cs_arena_teardown(void)
{
    for (;;) {
        cs_lock(&arenas_lock);
        struct cistern_arena *a = arenas;
        while (a && a->is_default)
            a = a->next;
        cs_unlock(&arenas_lock);
        if (!a)
            break;
        destroy(a);
    }
    if (cs_default_arena) {
        struct cistern_arena *d = cs_default_arena;
        d->is_default = 0;
        destroy(d);
    }
    cs_lock(&arenas_lock);
    arenas = graveyard = graveyard_tail = NULL;
    ngraveyard = 0;
    cs_unlock(&arenas_lock);
    cs_default_arena = NULL;
}

static void fork_prepare_one(struct cistern_arena *a, void *ctx)
{
    cs_lock(&a->maint); /* taken first, as reset takes it before the others */
    for (unsigned c = 0; c < CS_NCLASSES; c++)
        cs_lock(&a->central[c].lock);
    cs_heap_fork_prepare(&a->heap);
}

void cs_arena_fork_prepare(void)
{
    cs_lock(&arenas_lock);
    for (struct cistern_arena *a = arenas; a; a = a->next)
        fork_prepare_one(a, NULL);
}

void cs_arena_fork_parent(void)
{
    for (struct cistern_arena *a = arenas; a; a = a->next) {
        cs_heap_fork_parent(&a->heap);
        for (unsigned c = 0; c < CS_NCLASSES; c++)
            cs_unlock(&a->central[c].lock);
        cs_unlock(&a->maint);
    }
    cs_unlock(&arenas_lock);
}

void cs_arena_fork_child(void)
{
    for (struct cistern_arena *a = arenas; a; a = a->next) {
        cs_heap_fork_child(&a->heap);
        for (unsigned c = 0; c < CS_NCLASSES; c++)
            cs_lock_init(&a->central[c].lock);
        cs_lock_init(&a->maint);
    }
    cs_lock_init(&arenas_lock);
}

/* ---- public calls ------------------------------------------------------------ */

CS_EXPORT cistern_arena_t *cistern_arena_create(const cistern_arena_config_t *cfg)
{
    cs_ensure_init();
    if (!cfg)
        return cs_arena_new(NULL, NULL, 0, 0, 0);
    return cs_arena_new(cfg->name, cfg->sources, cfg->nsources, cfg->flags, cfg->limit_bytes);
}

CS_EXPORT cistern_arena_t *cistern_arena_default(void)
{
    cs_ensure_init();
    return cs_default_arena;
}

CS_EXPORT int cistern_arena_add_sysalloc(cistern_arena_t *a, cistern_sysalloc_t *s, int position)
{
    cs_ensure_init();
    if (cs_arena_check(a, "cistern_arena_add_sysalloc") || !s || position < CISTERN_CHAIN_LAST)
        return EINVAL;
    /* Thread caches of a touchable arena write into freed objects: memory
       the CPU must not touch can only join an arena created for it. */
    if ((s->flags & CISTERN_SYSALLOC_NOTOUCH) && !a->notouch)
        return EINVAL;
    return cs_heap_chain_add(&a->heap, s, position);
}

CS_EXPORT int cistern_arena_remove_sysalloc(cistern_arena_t *a, cistern_sysalloc_t *s)
{
    if (cs_arena_check(a, "cistern_arena_remove_sysalloc") || !s)
        return EINVAL;
    int err = cs_heap_chain_remove(&a->heap, s);
    if (err)
        return err;
    /* No new memory from s: its spans leave the central lists and every
       cached object of the arena goes home (this thread's now, other
       threads' on their next slow path), so that once the program has freed
       what it holds, its regions go back and s can be released. */
    cs_central_retire(a);
    cs_tcache_flush_arena(a);
    return 0;
}

CS_EXPORT void cistern_arena_reset(cistern_arena_t *a)
{
    if (cs_arena_check(a, "cistern_arena_reset") || a->is_default) {
        errno = EINVAL;
        return;
    }
    cs_lock(&a->maint);
    reset_contents(a);
    if (cs_unlikely(cs_tool_active))
        cs_heap_foreach_inuse(&a->heap, tool_drop, NULL);
    cs_heap_reset(&a->heap, (size_t)cs_opt.reset_keep_bytes);
    cs_unlock(&a->maint);
}

CS_EXPORT int cistern_arena_destroy(cistern_arena_t *a)
{
    if (cs_arena_check(a, "cistern_arena_destroy") || a->is_default)
        return EINVAL;
    destroy(a);
    return 0;
}

CS_EXPORT cistern_arena_t *cistern_arena_of(const void *p)
{
    struct cs_span *s = p ? cs_pagemap_get(p) : NULL;
    if (!s || (s->state != CS_SPAN_SMALL && s->state != CS_SPAN_LARGE))
        return NULL;
    return s->arena;
}
