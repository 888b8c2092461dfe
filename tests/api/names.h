/*
 * names.h - the allocation functions a test exercises, by one name that
 * resolves either to the standard malloc family (CS_TEST_DROPIN: the program
 * is linked with the drop-in libcistern, whose malloc is cistern's) or to
 * the cistern_* names (linked with libcistern_api, as in sanitizer builds,
 * where the sanitizer owns malloc and the drop-in cannot take it over).
 *
 * The same test source then checks both libraries.
 */
#ifndef CS_TEST_NAMES_H
#define CS_TEST_NAMES_H

#include <cistern.h>
#include <stdlib.h>

#ifdef CS_TEST_DROPIN
/* glibc's extensions and C23's sized frees, declared here rather than
   through <malloc.h>, which has no sized frees and marks some of these
   deprecated. */
size_t malloc_usable_size(void *p);
void *memalign(size_t alignment, size_t size);
void *valloc(size_t size);
void *pvalloc(size_t size);
void free_sized(void *p, size_t size);
void free_aligned_sized(void *p, size_t alignment, size_t size);

#define T_MALLOC malloc
#define T_FREE free
#define T_CALLOC calloc
#define T_REALLOC realloc
#define T_REALLOCARRAY reallocarray
#define T_ALIGNED_ALLOC aligned_alloc
#define T_POSIX_MEMALIGN posix_memalign
#define T_USABLE_SIZE malloc_usable_size
#define T_FREE_SIZED free_sized
#define T_FREE_ALIGNED_SIZED free_aligned_sized
#define T_LIBNAME "libcistern (drop-in)"
#else
#define T_MALLOC cistern_malloc
#define T_FREE cistern_free
#define T_CALLOC cistern_calloc
#define T_REALLOC cistern_realloc
#define T_REALLOCARRAY cistern_reallocarray
#define T_ALIGNED_ALLOC cistern_aligned_alloc
#define T_POSIX_MEMALIGN cistern_posix_memalign
/* cistern_usable_size takes a const pointer; the cast keeps one call shape. */
#define T_USABLE_SIZE(p) cistern_usable_size((const void *)(p))
#define T_FREE_SIZED cistern_free_sized
#define T_FREE_ALIGNED_SIZED cistern_free_aligned_sized
#define T_LIBNAME "libcistern_api"
#endif

#endif
