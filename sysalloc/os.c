/*
 * os.c - the os source: private anonymous mmap.
 *
 * Decommit is MADV_DONTNEED: the pages are freed at once (RSS drops when the
 * release policy acts, not when the kernel feels memory pressure) and read
 * back as zero, which lets calloc skip clearing them.
 */
#include "platform.h"
#include "source.h"
#include "sources.h"
#include "os_remap.h"

#include <sys/mman.h>

#ifndef MAP_NORESERVE
#define MAP_NORESERVE 0
#endif

void *cs_os_map(size_t size, size_t align)
{
    size_t page = cs_os_page_size();
    if (align < page)
        align = page;
    size = CS_ALIGN_UP(size, page);
    if (size == 0)
        return NULL;
    size_t span = size + align - page;
    if (span < size)
        return NULL;
    void *p = mmap(NULL, span, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE,
                   -1, 0);
    if (p == MAP_FAILED)
        return NULL;
    uintptr_t a = (uintptr_t)p, start = CS_ALIGN_UP(a, align);
    if (start > a)
        munmap(p, start - a);
    if (a + span > start + size)
        munmap((void *)(start + size), a + span - (start + size));
    return (void *)start;
}

void cs_os_unmap(void *p, size_t size)
{
    munmap(p, CS_ALIGN_UP(size, cs_os_page_size()));
}

int cs_os_decommit(void *p, size_t len)
{
    return madvise(p, len, MADV_DONTNEED) == 0 ? 0 : errno;
}

int cs_os_can_remap(void)
{
#if defined(__linux__) && defined(MREMAP_MAYMOVE) && defined(MREMAP_FIXED)
    return 1;
#else
    return 0;
#endif
}

int cs_os_remap(void *old, size_t old_size, size_t new_size, void *to)
{
#if defined(__linux__) && defined(MREMAP_MAYMOVE) && defined(MREMAP_FIXED)
    void *p = to ? mremap(old, old_size, new_size, MREMAP_MAYMOVE | MREMAP_FIXED, to)
                 : mremap(old, old_size, new_size, 0);
    if (p == MAP_FAILED)
        return errno;
    return p == (to ? to : old) ? 0 : EFAULT;
#else
    (void)old, (void)old_size, (void)new_size, (void)to;
    return ENOTSUP;
#endif
}

static void *os_alloc(void *ctx, size_t size, size_t align, size_t *actual)
{
    void *p = cs_os_map(size, align);
    *actual = p ? CS_ALIGN_UP(size, cs_os_page_size()) : 0;
    return p;
}

static int os_decommit(void *ctx, void *p, size_t len)
{
    return cs_os_decommit(p, len);
}

static int os_unmap(void *ctx, void *p, size_t len)
{
    return munmap(p, len) == 0 ? 0 : errno;
}

static const cistern_sysalloc_ops_t os_ops = {
    .alloc = os_alloc,
    .decommit = os_decommit,
    .unmap = os_unmap,
};

static cs_atomic_t os_source; /* struct cistern_sysalloc *, published with release */
static cs_lock_t os_source_lock = CS_LOCK_INIT;

cistern_sysalloc_t *cs_os_source(void)
{
    struct cistern_sysalloc *s = (struct cistern_sysalloc *)cs_atomic_load_acquire(&os_source);
    if (s)
        return s;
    cs_lock(&os_source_lock);
    if (!cs_atomic_load_relaxed(&os_source)) {
        s = cs_source_new("os", &os_ops, NULL, 0, 0, CS_SRC_OS);
        if (s) {
            s->process_wide = 1;
            s->fresh_zero = 1;
            s->decommit_zero = 1;
            cs_source_register(s);
            cs_atomic_store_release(&os_source, (uintptr_t)s);
        }
    }
    cs_unlock(&os_source_lock);
    return (struct cistern_sysalloc *)cs_atomic_load_acquire(&os_source);
}

/* Teardown frees the record with the rest of the metadata: forget it. */
void cs_os_source_forget(void)
{
    cs_atomic_store_release(&os_source, 0);
}

#include "export.h"
#include "init.h"

CS_EXPORT cistern_sysalloc_t *cistern_sysalloc_os(void)
{
    cs_ensure_init();
    return cs_os_source();
}
