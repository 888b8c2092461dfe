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
/* Unmap everything (teardown only: no metadata may be used afterwards). */
void cs_meta_release_all(void);

/* Lock and unlock around fork (the child reinitialises). */
void cs_meta_fork_prepare(void);
void cs_meta_fork_parent(void);
void cs_meta_fork_child(void);

#endif
