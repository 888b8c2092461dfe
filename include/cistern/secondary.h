/*
 * cistern/secondary.h - the secondary allocator: where pointers cistern did
 * not allocate go, and an optional allocator consulted on slow paths.
 */
#ifndef CISTERN_SECONDARY_H
#define CISTERN_SECONDARY_H

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct cistern_secondary_ops {
    /* Consulted on allocation slow paths; NULL: cistern allocates. Returning NULL
       lets cistern allocate. */
    void *(*alloc)(void *ctx, size_t size, size_t alignment);
    /* Pointers cistern did not allocate are passed here. */
    void (*free)(void *ctx, void *p);
    void *(*realloc)(void *ctx, void *p, size_t size);
    size_t (*usable_size)(void *ctx, const void *p);
} cistern_secondary_ops_t;

/* Install ops (NULL: none, foreign pointers abort). ops is copied. 0 or EINVAL. */
int cistern_secondary_set(const cistern_secondary_ops_t *ops, void *ctx);
/* Forward foreign pointers to the malloc that was there before (RTLD_NEXT). */
const cistern_secondary_ops_t *cistern_secondary_libc(void);
/* Sampled guard-page allocations: one allocation in `rate` (CISTERN_OPTIONS
   secondary=guarded:<rate>) sits on pages of its own between guard pages. */
const cistern_secondary_ops_t *cistern_secondary_guarded(void);

#ifdef __cplusplus
}
#endif
#endif /* CISTERN_SECONDARY_H */
