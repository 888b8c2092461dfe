/*
 * hugepage.c - the hugepage source.
 *
 * With huge pages reserved in the kernel (vm.nr_hugepages), regions are
 * MAP_HUGETLB mappings; without, they are 2 MiB-aligned anonymous mappings
 * advised with MADV_HUGEPAGE so transparent huge pages back them.  Either way
 * the decommit granule is the huge page.  Decommitting a hugetlb range maps
 * a fresh range over it (MAP_FIXED), which frees the huge pages on every
 * kernel, unlike MADV_DONTNEED before Linux 5.18.
 */
#include "platform.h"
#include "source.h"
#include "sources.h"

#include <sys/mman.h>

#define HUGE_PAGE ((size_t)2 << 20)

#ifndef MAP_HUGETLB
#define MAP_HUGETLB 0
#endif

static cs_atomic_t huge_mode = (cs_atomic_t)-1; /* -1 unknown, 1 hugetlb, 0 THP */

static void *map_hugetlb(size_t size)
{
#if MAP_HUGETLB
    void *p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_HUGETLB,
                   -1, 0);
    return p == MAP_FAILED ? NULL : p;
#else
    return NULL;
#endif
}

static void *huge_alloc(void *ctx, size_t size, size_t align, size_t *actual)
{
    size = CS_ALIGN_UP(size, HUGE_PAGE);
    if (align <= HUGE_PAGE) {
        void *p = map_hugetlb(size);
        if (p) {
            cs_atomic_store_relaxed(&huge_mode, 1);
            *actual = size;
            return p;
        }
    }
    void *p = cs_os_map(size, align > HUGE_PAGE ? align : HUGE_PAGE);
    if (!p)
        return NULL;
#ifdef MADV_HUGEPAGE
    madvise(p, size, MADV_HUGEPAGE);
#endif
    if ((intptr_t)cs_atomic_load_relaxed(&huge_mode) < 0)
        cs_atomic_store_relaxed(&huge_mode, 0);
    *actual = size;
    return p;
}

static int is_hugetlb(void *p)
{
    /* A hugetlb mapping refuses madvise(MADV_HUGEPAGE)-free probes poorly;
       the mode recorded at mapping time is enough: one mode per process. */
    return (intptr_t)cs_atomic_load_relaxed(&huge_mode) == 1;
}

static int huge_decommit(void *ctx, void *p, size_t len)
{
#if MAP_HUGETLB
    if (is_hugetlb(p)) {
        void *q = mmap(p, len, PROT_READ | PROT_WRITE,
                       MAP_PRIVATE | MAP_ANONYMOUS | MAP_HUGETLB | MAP_FIXED, -1, 0);
        return q == MAP_FAILED ? errno : 0;
    }
#endif
    return cs_os_decommit(p, len);
}

static int huge_unmap(void *ctx, void *p, size_t len)
{
    return munmap(p, len) == 0 ? 0 : errno;
}

static const cistern_sysalloc_ops_t huge_ops = {
    .alloc = huge_alloc,
    .decommit = huge_decommit,
    .unmap = huge_unmap,
};

static cs_atomic_t huge_source; /* struct cistern_sysalloc *, published with release */
static cs_lock_t huge_source_lock = CS_LOCK_INIT;

cistern_sysalloc_t *cs_hugepage_source(void)
{
    struct cistern_sysalloc *s = (struct cistern_sysalloc *)cs_atomic_load_acquire(&huge_source);
    if (s)
        return s;
    cs_lock(&huge_source_lock);
    if (!cs_atomic_load_relaxed(&huge_source)) {
        s = cs_source_new("hugepage", &huge_ops, NULL, HUGE_PAGE, CISTERN_SYSALLOC_HUGE,
                          CS_SRC_HUGEPAGE);
        if (s) {
            s->process_wide = 1;
            s->fresh_zero = 1;
            s->decommit_zero = 1;
            cs_source_register(s);
            cs_atomic_store_release(&huge_source, (uintptr_t)s);
        }
    }
    cs_unlock(&huge_source_lock);
    return (struct cistern_sysalloc *)cs_atomic_load_acquire(&huge_source);
}

int cs_hugepage_mode(void)
{
    return (int)(intptr_t)cs_atomic_load_relaxed(&huge_mode);
}

void cs_hugepage_source_forget(void)
{
    cs_atomic_store_release(&huge_source, 0);
}

#include "export.h"
#include "init.h"

CS_EXPORT cistern_sysalloc_t *cistern_sysalloc_hugepage(void)
{
    cs_ensure_init();
    return cs_hugepage_source();
}
