/*
 * override.c - the malloc family exported by libcistern (the drop-in
 * library), including glibc's __libc_* aliases, so that LD_PRELOAD and
 * link-time replacement both route every allocation of the process here.
 * libcistern_api does not contain this file.
 */
#include "entry.h"
#include "export.h"
#include "init.h"

#include <cistern.h>
#include <string.h>
#include <unistd.h>

#ifndef CS_SANITIZER_OWNS_MALLOC

CS_EXPORT void *malloc(size_t size)
{
    return cs_malloc_fast(size);
}

CS_EXPORT void free(void *p)
{
    cs_free_fast(p);
}

CS_EXPORT void *calloc(size_t n, size_t size)
{
    return cistern_calloc(n, size);
}

CS_EXPORT void *realloc(void *p, size_t size)
{
    return cistern_realloc(p, size);
}

CS_EXPORT void *reallocarray(void *p, size_t n, size_t size)
{
    return cistern_reallocarray(p, n, size);
}

CS_EXPORT void *aligned_alloc(size_t alignment, size_t size)
{
    return cistern_aligned_alloc(alignment, size);
}

CS_EXPORT int posix_memalign(void **out, size_t alignment, size_t size)
{
    return cistern_posix_memalign(out, alignment, size);
}

/* glibc's memalign rounds a non-power-of-two alignment up instead of failing. */
CS_EXPORT void *memalign(size_t alignment, size_t size)
{
    if (alignment > ((size_t)1 << (sizeof(size_t) * 8 - 1))) {
        errno = EINVAL;
        return NULL;
    }
    if (alignment && !CS_IS_POW2(alignment))
        alignment = (size_t)1 << (cs_log2_floor(alignment) + 1);
    return cistern_aligned_alloc(alignment ? alignment : 1, size);
}

CS_EXPORT void *valloc(size_t size)
{
    return cistern_aligned_alloc(cs_os_page_size(), size);
}

CS_EXPORT void *pvalloc(size_t size)
{
    size_t page = cs_os_page_size();
    size_t rounded = CS_ALIGN_UP(size, page);
    if (rounded < size) {
        errno = ENOMEM;
        return NULL;
    }
    return cistern_aligned_alloc(page, rounded ? rounded : page);
}

CS_EXPORT size_t malloc_usable_size(void *p)
{
    return cs_usable_size(p, "malloc_usable_size");
}

CS_EXPORT void free_sized(void *p, size_t size)
{
    (void)size;
    cs_free_fast(p);
}

CS_EXPORT void free_aligned_sized(void *p, size_t alignment, size_t size)
{
    (void)alignment;
    (void)size;
    cs_free_fast(p);
}

CS_EXPORT void cfree(void *p)
{
    cs_free_fast(p);
}

CS_EXPORT int malloc_trim(size_t pad)
{
    (void)pad;
    cistern_release_free_memory();
    return 1;
}

/* glibc's internal names: some programs and libraries call these directly.
   (The aliases need not repeat glibc's attributes on the prototypes.) */
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wmissing-attributes"
#endif
CS_EXPORT void *__libc_malloc(size_t size) __attribute__((alias("malloc")));
CS_EXPORT void __libc_free(void *p) __attribute__((alias("free")));
CS_EXPORT void *__libc_calloc(size_t n, size_t size) __attribute__((alias("calloc")));
CS_EXPORT void *__libc_realloc(void *p, size_t size) __attribute__((alias("realloc")));
CS_EXPORT void *__libc_memalign(size_t alignment, size_t size) __attribute__((alias("memalign")));
CS_EXPORT void *__libc_valloc(size_t size) __attribute__((alias("valloc")));
CS_EXPORT void *__libc_pvalloc(size_t size) __attribute__((alias("pvalloc")));
CS_EXPORT int __posix_memalign(void **out, size_t alignment, size_t size)
    __attribute__((alias("posix_memalign")));

#endif /* CS_SANITIZER_OWNS_MALLOC */
