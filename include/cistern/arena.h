/*
 * cistern/arena.h - arenas: heaps of their own over their own chain of
 * sources, with region semantics (reset or destroy everything at once).
 */
#ifndef CISTERN_ARENA_H
#define CISTERN_ARENA_H

#include <stddef.h>
#include <stdint.h>
#include <cistern/sysalloc.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct cistern_arena cistern_arena_t;

#define CISTERN_ARENA_NO_TCACHE 0x1u /* no thread caching for this arena */

typedef struct cistern_arena_config {
    const char *name;                    /* for stats; may be NULL */
    cistern_sysalloc_t *const *sources;  /* the chain, tried in order */
    size_t nsources;
    unsigned flags;
    size_t limit_bytes;                  /* most bytes it may hold at once; 0 = no limit */
} cistern_arena_config_t;

/* A new arena. cfg NULL or nsources 0: a chain of the os source alone.
   NULL + EINVAL (bad config) or ENOMEM. */
cistern_arena_t *cistern_arena_create(const cistern_arena_config_t *cfg);
/* The arena plain malloc uses. */
cistern_arena_t *cistern_arena_default(void);
/* Put s into a's chain at position (0 = asked first; CISTERN_CHAIN_LAST = asked last).
   0, EINVAL, EEXIST (already in the chain) or ENOSPC (chain full). */
#define CISTERN_CHAIN_LAST (-1)
int cistern_arena_add_sysalloc(cistern_arena_t *a, cistern_sysalloc_t *s, int position);
/* No new memory from s; its free regions go back to it. 0, EINVAL or ENOENT. */
int cistern_arena_remove_sysalloc(cistern_arena_t *a, cistern_sysalloc_t *s);
void *cistern_arena_malloc(cistern_arena_t *a, size_t size);
void *cistern_arena_calloc(cistern_arena_t *a, size_t n, size_t size);
/* p NULL: allocate from a; else p's own arena keeps it (a may be NULL). */
void *cistern_arena_realloc(cistern_arena_t *a, void *p, size_t size);
void *cistern_arena_aligned_alloc(cistern_arena_t *a, size_t alignment, size_t size);
/* free(), cistern_free() and cistern_usable_size() accept a pointer from any arena. */
/* Free every allocation of a at once. errno = EINVAL for NULL or the default arena. */
void cistern_arena_reset(cistern_arena_t *a);
/* Reset, then return every region to its source: 0 or EINVAL (NULL, default arena). */
int cistern_arena_destroy(cistern_arena_t *a);
/* The arena p came from; NULL for a pointer cistern did not allocate. */
cistern_arena_t *cistern_arena_of(const void *p);
/* Call fn for every live allocation of a; stops when fn returns non-zero (returned).
   No other thread may allocate from or free into a meanwhile. Works for NOTOUCH arenas. */
int cistern_arena_walk(cistern_arena_t *a, int (*fn)(void *p, size_t usable, void *ctx), void *ctx);
/* Route this thread's malloc family to a (NULL: the default arena). Returns the previous one. */
cistern_arena_t *cistern_thread_set_arena(cistern_arena_t *a);

typedef struct cistern_arena_stats {
    size_t allocated_bytes; /* requested sizes of live allocations, rounded to their class */
    size_t active_bytes;    /* pages of spans in use */
    size_t committed_bytes; /* pages backed by memory, in use or cached */
    uint64_t nmalloc, nfree;
} cistern_arena_stats_t;
/* 0 or EINVAL. */
int cistern_arena_get_stats(const cistern_arena_t *a, cistern_arena_stats_t *out);

#ifdef __cplusplus
}
#endif
#endif /* CISTERN_ARENA_H */
