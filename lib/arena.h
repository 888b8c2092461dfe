/*
 * arena.h - an arena: a page heap over its own chain of sources, the central
 * lists above it, and an epoch that invalidates thread caches on reset.
 *
 * Arena records come from the metadata allocator and, once destroyed, are
 * kept on a free list for reuse as arenas only: a thread cache may still
 * compare its epoch with a destroyed arena's record, which must stay
 * readable (a fresh epoch is drawn for every reuse, so the compare fails).
 */
#ifndef CS_ARENA_H
#define CS_ARENA_H

#include "platform.h"
#include "central.h"
#include "pageheap.h"
#include "sizeclass.h"

#define CS_ARENA_MAGIC 0x63697374u  /* live */
#define CS_ARENA_DEAD 0x64656164u   /* destroyed */
#define CS_ARENA_NAME 32

struct cistern_arena {
    cs_atomic_t epoch;       /* changes at reset and destroy */
    unsigned id;             /* unique while alive; picks the thread-cache slot */
    unsigned flags;          /* CISTERN_ARENA_* */
    uint32_t magic;
    int is_default;
    int notouch;             /* a NOTOUCH source is in the chain */
    /* Held by reset, destroy and walk; the release thread only tries it and
       passes the arena by when busy (it must not drain caches into spans
       that a reset is dropping). */
    cs_lock_t maint;
    char name[CS_ARENA_NAME];
    struct cistern_arena *next, *prev; /* registry */
    /* Allocations not through a thread cache, and those of caches that went
       away (frees are counted as allocations less live objects). */
    cs_atomic_t nmalloc_direct, nmalloc_dead;
    /* Bumped when a source leaves the chain: every thread hands its cached
       objects of the arena back on its next slow path (cs_tcache_flush_arena). */
    cs_atomic_t flush_gen;
    struct cs_heap heap;
    struct cs_central central[CS_NCLASSES];
};

/* The default arena (created by init). */
extern struct cistern_arena *cs_default_arena __attribute__((visibility("hidden")));
/* Bumped whenever any arena's epoch changes: a thread compares it on its
   slow path (cs_tcache_get) and drops its stale caches when it moved (the
   fast paths need not: the caches were emptied in place). */
extern cs_atomic_t cs_epoch_gen __attribute__((visibility("hidden")));

/* Create an arena over the given chain (nsources 0: os). NULL + errno. */
struct cistern_arena *cs_arena_new(const char *name, struct cistern_sysalloc *const *sources,
                                   size_t nsources, unsigned flags, size_t limit_bytes);
/* Validate a public arena handle: 0, or EINVAL (NULL or destroyed: in debug
   builds a destroyed arena is fatal). */
int cs_arena_check(const struct cistern_arena *a, const char *call);
/* Call fn for every live arena (registry lock held). */
void cs_arena_foreach(void (*fn)(struct cistern_arena *a, void *ctx), void *ctx);
/* Drain transfer caches and decommit idle free pages of every arena not
   being reset, destroyed or walked at the moment. */
void cs_arena_release_all(uint64_t age_ms, int drain);
/* Destroy every arena but the default one and forget the registry (teardown). */
void cs_arena_teardown(void);
void cs_arena_fork_prepare(void);
void cs_arena_fork_parent(void);
void cs_arena_fork_child(void);

#endif
