/*
 * meta.h - the internal metadata allocator (design invariant 5).
 *
 * Span records, pagemap nodes, the region table, thread caches, arenas and
 * source records all come from here, and this allocator draws only from the
 * OS (private anonymous mmap), never from an injected or device source.
 * Memory comes back zeroed.  Every mapping is recorded so that teardown
 * can return all of it.
 */
#ifndef CS_META_H
#define CS_META_H

#include <stddef.h>

/* Zeroed memory of at least size bytes, 16-byte aligned (64 for size >= 64).
   NULL when the OS refuses. Any thread. */
void *cs_meta_alloc(size_t size);
/* Give back a block of cs_meta_alloc(size) with the same size. */
void cs_meta_free(void *p, size_t size);
/* Bytes of OS memory the metadata allocator holds. */
size_t cs_meta_mapped_bytes(void);
/* The size of the block cs_meta_alloc(size) hands out (what it costs). */
size_t cs_meta_block_size(size_t size);

struct cs_meta_stats {
    size_t mapped;      /* bytes of OS mappings held */
    size_t in_use;      /* bytes of chunk blocks handed out and not freed
                           (block sizes; direct mappings count in mapped only) */
    size_t free_dirty;  /* bytes of free blocks that may still be resident
                           (freed big blocks gave their whole pages back) */
};
/* A snapshot of the counters (no lock: each figure is exact on its own). */
void cs_meta_get_stats(struct cs_meta_stats *out);
/* Unmap everything (teardown only: no metadata may be used afterwards). */
void cs_meta_release_all(void);

/* Lock and unlock around fork (the child reinitialises). */
void cs_meta_fork_prepare(void);
void cs_meta_fork_parent(void);
void cs_meta_fork_child(void);

#endif
