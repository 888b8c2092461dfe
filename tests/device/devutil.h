/*
 * devutil.h - helpers shared by the device tests: ranges the CPU must not
 * touch (PROT_NONE, so any read or write by cistern is a SIGSEGV, design
 * invariant 2), the list of size classes as the public API shows them, an
 * overlap check that needs no access to the memory, and a child runner
 * that captures stderr for the death tests.
 */
#ifndef CS_DEVUTIL_H
#define CS_DEVUTIL_H

#include "sources/srcutil.h"
#include "testutil.h"

#include <stdio.h>
#include <sys/wait.h>

#define DV_NCLASSES 97            /* the small classes: 8 bytes .. 256 KiB */
#define DV_SMALL_MAX (256 * KiB)

/* len bytes of PROT_NONE address space aligned to align: reserved, never
   backed, and fatal to touch. */
static inline void *dv_map_none(size_t len, size_t align)
{
    void *p = su_map(len, align);
    ck_assert_int_eq(mprotect(p, len, PROT_NONE), 0);
    return p;
}

/* A NOTOUCH pool over [base, base+len) and an arena whose chain is only it. */
static inline cistern_arena_t *dv_notouch_arena(const char *name, void *base, size_t len,
                                                cistern_sysalloc_t **pool)
{
    *pool = cistern_sysalloc_pool(base, len, CISTERN_SYSALLOC_NOTOUCH);
    ck_assert_msg(*pool != NULL, "NOTOUCH pool: %s", strerror(errno));
    ck_assert_uint_ne(su_stats(*pool).flags & CISTERN_SYSALLOC_NOTOUCH, 0);
    return su_arena(name, pool, 1);
}

/* The object size of every small class, found through usable_size in a
   (which reads metadata only): request n, the class gives usable bytes,
   the next class starts at usable + 1.  Returns the number of classes. */
static inline unsigned dv_class_sizes(cistern_arena_t *a, size_t *sizes, unsigned max)
{
    unsigned n = 0;
    for (size_t req = 1; req <= DV_SMALL_MAX && n < max;) {
        void *p = cistern_arena_malloc(a, req);
        ck_assert_msg(p != NULL, "malloc(%zu): %s", req, strerror(errno));
        size_t u = cistern_usable_size(p);
        ck_assert_uint_ge(u, req);
        sizes[n++] = u;
        cistern_free(p);
        req = u + 1;
    }
    return n;
}

/* Blocks as (address, usable) pairs: no two may overlap. */
struct dv_block {
    uintptr_t p;
    size_t len;
};

static int dv_block_cmp(const void *x, const void *y)
{
    const struct dv_block *a = x, *b = y;
    return a->p < b->p ? -1 : a->p > b->p;
}

/* Sorts blocks; 0 when disjoint, else the index of the first overlap + 1. */
static inline size_t dv_overlap(struct dv_block *b, size_t n)
{
    qsort(b, n, sizeof *b, dv_block_cmp);
    for (size_t i = 1; i < n; i++)
        if (b[i - 1].p + b[i - 1].len > b[i].p)
            return i + 1;
    return 0;
}

/* Run fn(arg) in a child whose stderr is captured into err (NUL-ended);
   returns the wait status.  A hung child is stopped by SIGALRM. */
static inline int dv_run_child(void (*fn)(void *), void *arg, char *err, size_t errlen)
{
    return test_run_child(fn, arg, err, errlen, 30);
}

#endif
