/*
 * sources.h - what the built-in sources share with the core: the raw OS
 * mapping calls (also used by the metadata allocator, which draws only from
 * the OS) and the constructors the core calls at initialisation.
 */
#ifndef CS_SOURCES_H
#define CS_SOURCES_H

#include <stddef.h>
#include <cistern/sysalloc.h>

/* Private anonymous read-write memory of size bytes aligned to align (a power
   of two); NULL on failure.  Over-maps and trims when align exceeds a page. */
void *cs_os_map(size_t size, size_t align);
void cs_os_unmap(void *p, size_t size);
/* Drop the backing of private anonymous pages: 0 or an errno. */
int cs_os_decommit(void *p, size_t len);

/* The process-wide os and hugepage source records (created on first use). */
cistern_sysalloc_t *cs_os_source(void);
cistern_sysalloc_t *cs_hugepage_source(void);
/* Whether the hugepage source got MAP_HUGETLB pages (1), THP advice (0), or has not mapped yet (-1). */
int cs_hugepage_mode(void);



/* Teardown frees the process-wide records with the metadata: forget them. */
void cs_os_source_forget(void);
void cs_hugepage_source_forget(void);
#endif
#ifndef CS_SOURCES_CARVE
#define CS_SOURCES_CARVE
#include "platform.h"
/* A range handed out front to back (pool and shm sources). */
struct cs_carve {
    uintptr_t base, end, cur;
    cs_lock_t lock;
};
/* Take at least size bytes aligned to align from the front of c, at least
   chunk bytes when that much is left: NULL when the rest cannot hold size. */
void *cs_carve_take(struct cs_carve *c, size_t size, size_t align, size_t chunk, size_t *actual);
#endif

#ifndef CS_SOURCES_POOL_OPTION
#define CS_SOURCES_POOL_OPTION
/* Apply the pool option ("anon:SIZE", "huge:SIZE", "file:PATH:SIZE") to the default arena. */
void cs_pool_option_apply(const char *spec);
#endif
