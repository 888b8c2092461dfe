/*
 * secondary.h - the secondary allocator: consulted on allocation slow paths,
 * and the destination of every pointer cistern does not own (invariant 7).
 * With none set, a foreign pointer stops the program with one line naming
 * the call and the pointer.
 */
#ifndef CS_SECONDARY_H
#define CS_SECONDARY_H

#include <stddef.h>
#include <cistern/secondary.h>

/* Non-NULL when a secondary allocator with an alloc op is installed. */
extern const cistern_secondary_ops_t *cs_secondary_active __attribute__((visibility("hidden")));

/* Install the policy chosen by CISTERN_OPTIONS (after the heap is up). */
void cs_secondary_init(void);
/* The secondary's allocation for this slow path, or NULL to let cistern allocate. */
void *cs_secondary_alloc(size_t size, size_t alignment);
/* An allocation by cistern itself in the calling thread's arena (for a
   secondary allocator's realloc). */
void *cs_secondary_fallback_alloc(size_t size);
/* A pointer cistern does not own: forward it, or stop the program. */
void cs_foreign_free(void *p, const char *call);
void *cs_foreign_realloc(void *p, size_t size);
size_t cs_foreign_usable_size(const void *p, const char *call);

#endif
