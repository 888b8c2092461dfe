/*
 * cistern.h - the public interface of the cistern allocator.
 *
 * cistern is a malloc replacement built as a page heap over an ordered chain
 * of memory sources (the OS, huge pages, pools the program injects, shared
 * memory, device memory), with per-thread caches above it and arenas that can
 * be reset or destroyed as a whole.
 *
 * Every function here is thread-safe unless its comment says otherwise.
 * Errors are reported as NULL + errno or as an errno-style int return.
 *
 * Link with -lcistern to replace malloc, or with -lcistern_api to get only
 * the cistern_* names (safe inside a plugin that is dlopen'd and dlclose'd).
 */
#ifndef CISTERN_H
#define CISTERN_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/types.h>

#ifdef __cplusplus
extern "C" {
#endif

#define CISTERN_VERSION_MAJOR 0
#define CISTERN_VERSION_MINOR 1
#define CISTERN_VERSION_PATCH 0

/* ---- malloc family ---------------------------------------------------- */

/* Allocate size bytes, 16-byte aligned when size >= 16. NULL + ENOMEM. */
void *cistern_malloc(size_t size);
/* Zeroed n*size bytes; n*size overflow gives NULL + ENOMEM. */
void *cistern_calloc(size_t n, size_t size);
/* Resize p (NULL: malloc; size 0: free and return NULL), in place when it can. */
void *cistern_realloc(void *p, size_t size);
/* realloc(p, n*size) with overflow checked (NULL + ENOMEM). */
void *cistern_reallocarray(void *p, size_t n, size_t size);
/* Free p (NULL is ignored). p may come from any arena and any thread. */
void cistern_free(void *p);
/* free(p) for callers that know the size they asked for. */
void cistern_free_sized(void *p, size_t size);
/* free(p) for callers that know the size and alignment they asked for. */
void cistern_free_aligned_sized(void *p, size_t alignment, size_t size);
/* alignment: a power of two (else NULL + EINVAL); any size. */
void *cistern_aligned_alloc(size_t alignment, size_t size);
/* 0, EINVAL (alignment not a power of two multiple of sizeof(void *)) or ENOMEM. */
int cistern_posix_memalign(void **out, size_t alignment, size_t size);
/* Bytes usable at p (at least what was asked); 0 for NULL. */
size_t cistern_usable_size(const void *p);

/* ---- control and introspection ---------------------------------------- */

/* Print statistics of every arena and source; json != 0 prints one JSON object. */
void cistern_stats_print(FILE *out, int json);
/* Decommit every free page of every arena now. */
void cistern_release_free_memory(void);
/* Release everything cistern obtained (static-link and plugin use). After it,
   no pointer cistern returned may be used; the next call starts afresh. */
void cistern_teardown(void);
/* Walk every arena's metadata and check its consistency: 0, or EFAULT after
   printing the first inconsistency found. No other thread may allocate meanwhile. */
int cistern_check_heap(void);
/* Set one option by name, as CISTERN_OPTIONS would ("decay_ms", "1000"):
   0, ENOENT (unknown key) or EINVAL (bad value).  CISTERN_OPTIONS is read
   first, so a value set before the first allocation is not overwritten by
   it; "secondary" set later installs the secondary allocator at once. */
int cistern_option_set(const char *key, const char *value);
/* Read one numeric option (CISTERN_OPTIONS applied, even before the first
   allocation): 0 or ENOENT. */
int cistern_option_get(const char *key, long long *out);

/* A program may define this function: cistern calls it once, during its own
   initialisation and before serving the first allocation, so that sources
   injected here (cistern_arena_add_sysalloc on the default arena) serve even
   start-up allocations. It must not call the malloc family. */
__attribute__((visibility("default"))) void cistern_init_hook(void);

#ifdef __cplusplus
}
#endif

#include <cistern/sysalloc.h>
#include <cistern/arena.h>
#include <cistern/secondary.h>

#endif /* CISTERN_H */
