/*
 * fake_source.h - a memory source for the unit tests that serves ranges
 * from one large reservation and lets a test steer and observe it: refuse
 * every Nth request, hand out regions that touch (or a gap between them),
 * offset the first region from the granule, and record every decommit,
 * commit and unmap the heap asks for.
 *
 * The reservation is private anonymous memory mapped once with
 * MAP_NORESERVE, so asking for a few GiB costs address space only; the
 * fake never unmaps it (tests run in forked children that exit).
 */
#ifndef CS_TEST_FAKE_SOURCE_H
#define CS_TEST_FAKE_SOURCE_H

#include <stddef.h>
#include <stdint.h>

#include <cistern.h>

#define FAKE_MAX_CALLS 4096
#define FAKE_MAX_REGIONS 256

struct fake_range {
    uintptr_t base;
    size_t len;
};

struct fake_source {
    /* The reservation: [base, base + len). */
    uintptr_t base;
    size_t len;
    size_t next;         /* offset of the next free byte */

    /* Knobs (set before the first allocation). */
    size_t granule;      /* decommit unit the source is created with */
    size_t chunk;        /* least bytes per region (0: exactly what is asked) */
    size_t gap;          /* bytes left unused after each region (0: regions touch) */
    unsigned fail_every; /* refuse every Nth alloc call (0: never) */
    int zero_on_decommit; /* drop the pages for real (MADV_DONTNEED) */
    /* Most alignment the source honours (0: any asked): a source whose
       memory comes from a driver that aligns to less than the granule. */
    size_t max_align;
    /* Called at the start of every alloc call, as the heap asks for memory
       (with the heap lock held): lets a test act at that moment. */
    void (*on_alloc)(struct fake_source *f);

    /* What happened. */
    unsigned nalloc, nfail, ncommit, destroyed;
    struct fake_range regions[FAKE_MAX_REGIONS];
    unsigned nregions;
    struct fake_range decommits[FAKE_MAX_CALLS];
    unsigned ndecommit;
    struct fake_range unmaps[FAKE_MAX_CALLS];
    unsigned nunmap;
    unsigned bad_calls;  /* decommit/unmap off the granule or outside any region */

    cistern_sysalloc_t *src;
};

/* A fake over a reservation of `reserve` bytes whose first region starts
   `skew` bytes past a 2 MiB boundary.  The cistern source is made with
   cistern_sysalloc_custom(name, ..., granule, flags).  Aborts on failure
   (a test cannot go on without it). */
struct fake_source *fake_new(const char *name, size_t reserve, size_t skew, size_t granule,
                             unsigned flags);

/* An arena whose chain is this one source. */
cistern_arena_t *fake_arena(struct fake_source *f, unsigned arena_flags, size_t limit_bytes);

/* Whether [p, p+len) lies in one region the fake handed out. */
int fake_owns(const struct fake_source *f, uintptr_t p, size_t len);

/* Forget recorded calls (before the step a test wants to observe). */
void fake_clear_calls(struct fake_source *f);

#endif
