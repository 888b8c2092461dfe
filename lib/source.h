/*
 * source.h - the core's record of a memory source (cistern_sysalloc_t).
 *
 * Every source, built-in or custom, is driven through its ops table; the
 * core adds accounting, the tags, the decommit granule and a list of ranges
 * handed back by arenas (so an INJECTED source, which is never unmapped, can
 * serve them again).  Sources are kept in a registry for stats and for the
 * overlap check of injected ranges.
 */
#ifndef CS_SOURCE_H
#define CS_SOURCE_H

#include "platform.h"
#include <cistern/sysalloc.h>

#define CS_SOURCE_NAME 32

/* Kinds, for stats and for the few places that care. */
enum cs_source_kind { CS_SRC_OS, CS_SRC_HUGEPAGE, CS_SRC_POOL, CS_SRC_SHM, CS_SRC_CUSTOM };

struct cs_range {
    uintptr_t base;
    size_t len;
    struct cs_range *next;
};

struct cistern_sysalloc {
    char name[CS_SOURCE_NAME];
    cistern_sysalloc_ops_t ops;
    void *ctx;
    size_t granule;         /* decommit unit, a power of two >= the OS page */
    unsigned flags;         /* CISTERN_SYSALLOC_* tags */
    enum cs_source_kind kind;
    int process_wide;       /* os and hugepage: never released */
    int fresh_zero;         /* new memory reads as zero */
    int decommit_zero;      /* decommitted memory reads as zero afterwards */
    uintptr_t range_base;   /* the injected range (pool, shm), for overlap checks */
    size_t range_len;
    cs_atomic_t nchains;    /* arena chains holding it */
    cs_atomic_t reserved, committed, in_use, failures;
    cs_lock_t lock;         /* guards returned */
    struct cs_range *returned; /* ranges given back, to serve again */
    struct cistern_sysalloc *next, *prev; /* registry */
};

/* A new source record (not yet registered): NULL + errno. */
struct cistern_sysalloc *cs_source_new(const char *name, const cistern_sysalloc_ops_t *ops,
                                       void *ctx, size_t granule, unsigned flags,
                                       enum cs_source_kind kind);
/* Register s (after an overlap check of its range when it has one): 0 or EEXIST. */
int cs_source_register(struct cistern_sysalloc *s);

/* Obtain at least size bytes aligned to align: a returned range first, else
   ops.alloc.  Counts refusals.  NULL when the source has nothing. */
void *cs_source_alloc(struct cistern_sysalloc *s, size_t size, size_t align, size_t *actual);
/* Hand a range back: INJECTED sources (and those without unmap) decommit it
   and keep it for reuse; others unmap it.  still_committed: the bytes of it
   the committed figure still counts. */
void cs_source_give_back(struct cistern_sysalloc *s, uintptr_t base, size_t len,
                         size_t still_committed);
/* Decommit the granules wholly inside [base, base+len): bytes decommitted.
   The caller adjusts the committed figure (it knows what was committed). */
size_t cs_source_decommit(struct cistern_sysalloc *s, uintptr_t base, size_t len);
/* Make [base, base+len) usable: 0 or an errno; newly is the part of it the
   heap knew to be decommitted (for the committed figure). */
int cs_source_commit(struct cistern_sysalloc *s, uintptr_t base, size_t len, size_t newly);

/* Accounting, in bytes (atomic). */
static inline void cs_source_count(cs_atomic_t *ctr, intptr_t delta)
{
    cs_atomic_add(ctr, (uintptr_t)delta);
}

/* Call fn for every registered source (registry lock held: fn must not
   register or release sources). */
void cs_source_foreach(void (*fn)(struct cistern_sysalloc *s, void *ctx), void *ctx);
/* Release all records (teardown). */
void cs_source_teardown(void);
void cs_source_fork_prepare(void);
void cs_source_fork_parent(void);
void cs_source_fork_child(void);

#endif
