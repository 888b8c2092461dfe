/*
 * cistern/sysalloc.h - memory sources ("sysallocators").
 *
 * A source hands the page heap large ranges ("regions"). Each arena asks the
 * sources of its chain in order. Sources tagged INJECTED (pools, shared
 * memory, device memory) are never unmapped by cistern: their regions are
 * only decommitted, and cistern_sysalloc_release hands them back mapped.
 */
#ifndef CISTERN_SYSALLOC_H
#define CISTERN_SYSALLOC_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct cistern_sysalloc cistern_sysalloc_t;

/* Tags. */
#define CISTERN_SYSALLOC_INJECTED 0x1u /* never unmapped: decommitted only, handed back intact */
#define CISTERN_SYSALLOC_NOTOUCH  0x2u /* CPU never reads or writes it: out-of-band metadata only */
#define CISTERN_SYSALLOC_SHARED   0x4u /* MAP_SHARED memory: decommit punches holes */
#define CISTERN_SYSALLOC_HUGE     0x8u /* backed by huge pages: decommit granule is the huge page */

typedef struct cistern_sysalloc_ops {
    /* Reserve at least size bytes aligned to align; *actual = bytes given. NULL when exhausted. */
    void *(*alloc)(void *ctx, size_t size, size_t align, size_t *actual);
    /* Drop the physical backing of [p, p+len); the range stays reserved. 0 or an errno. */
    int (*decommit)(void *ctx, void *p, size_t len);
    /* Make [p, p+len) usable again; NULL when decommitted memory is usable as it is. */
    int (*commit)(void *ctx, void *p, size_t len);
    /* Give [p, p+len) back for good. Never called for INJECTED sources; NULL: never given back. */
    int (*unmap)(void *ctx, void *p, size_t len);
    /* The source is released: last call. May be NULL. */
    void (*destroy)(void *ctx);
    /* Added for NOTOUCH memory; leave NULL (zero-initialise the struct) when unused. */
    /* Fill [p, p+len) with byte c (calloc on NOTOUCH memory): 0 or an errno. */
    int (*memset)(void *ctx, void *p, int c, size_t len);
    /* Copy len bytes from src to dst, both in this source (realloc on NOTOUCH memory). */
    int (*copy)(void *ctx, void *dst, const void *src, size_t len);
} cistern_sysalloc_ops_t;

/* The process-wide mmap source. Never fails to return. */
cistern_sysalloc_t *cistern_sysalloc_os(void);
/* The process-wide huge-page source: MAP_HUGETLB when the kernel has huge pages
   reserved, else 2 MiB-aligned mmap advised with MADV_HUGEPAGE. */
cistern_sysalloc_t *cistern_sysalloc_hugepage(void);
/* Inject a pre-reserved range. base and len must be page-aligned (EINVAL); a range
   overlapping another source's is refused (EEXIST). flags may add NOTOUCH.
   NULL + errno on failure. The range stays the caller's: cistern never unmaps it. */
cistern_sysalloc_t *cistern_sysalloc_pool(void *base, size_t len, unsigned flags);
/* Manage [offset, offset+len) of a shared-memory fd (memfd, shm_open, hugetlbfs file).
   offset and len must be page-aligned and the fd open read-write (EINVAL); bytes of
   the file another live shm source manages are refused (EEXIST). */
cistern_sysalloc_t *cistern_sysalloc_shm(int fd, off_t offset, size_t len, unsigned flags);
/* For an shm source: the file offset of p within the fd, and back. -1 / NULL with
   EINVAL outside the segment. */
off_t cistern_sysalloc_shm_offset(const cistern_sysalloc_t *s, const void *p);
void *cistern_sysalloc_shm_pointer(const cistern_sysalloc_t *s, off_t offset);
/* Any other memory (device memory, a custom reservation): ops decide.
   granule = decommit unit (a power of two; 0 means the page size). ops is copied. */
cistern_sysalloc_t *cistern_sysalloc_custom(const char *name, const cistern_sysalloc_ops_t *ops,
                                            void *ctx, size_t granule, unsigned flags);
/* Device memory through user callbacks: a custom source tagged INJECTED|NOTOUCH. */
cistern_sysalloc_t *cistern_sysalloc_device(const char *name, const cistern_sysalloc_ops_t *ops,
                                            void *ctx, size_t granule);
/* A CUDA device source over cudaMalloc'd reservations of chunk bytes (0: 64 MiB).
   NULL + ENOTSUP when built without CUDA, ENODEV when no GPU is present. */
cistern_sysalloc_t *cistern_sysalloc_cuda(int device, size_t chunk);
/* Hand the source's memory back to its owner: 0, or EBUSY while any of it is still
   allocated or the source is still in an arena's chain; EINVAL for the process-wide
   os and hugepage sources. INJECTED ranges come back mapped. */
int cistern_sysalloc_release(cistern_sysalloc_t *s);

typedef struct cistern_sysalloc_stats {
    const char *name;
    unsigned flags;
    size_t reserved_bytes;  /* obtained from the source */
    size_t committed_bytes; /* backed by physical memory as far as cistern knows */
    size_t in_use_bytes;    /* handed out to the program (spans in use) */
    uint64_t failures;      /* alloc calls that the source refused */
} cistern_sysalloc_stats_t;
/* 0, or EINVAL for a NULL argument. */
int cistern_sysalloc_get_stats(const cistern_sysalloc_t *s, cistern_sysalloc_stats_t *out);

#ifdef __cplusplus
}
#endif
#endif /* CISTERN_SYSALLOC_H */
