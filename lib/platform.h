/*
 * platform.h - every platform detail the allocator core needs: page sizes,
 * branch hints, the lock, a coarse clock, randomness.  Nothing above this
 * header calls the OS directly except through sysalloc/ and meta.c.
 */
#ifndef CS_PLATFORM_H
#define CS_PLATFORM_H

#include <config.h>
#include <errno.h>
#include <sched.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "atomic.h"
#include "cpu_relax.h"

#define cs_likely(x) __builtin_expect(!!(x), 1)
#define cs_unlikely(x) __builtin_expect(!!(x), 0)
#define CS_NOINLINE __attribute__((noinline))
#define CS_INLINE static inline __attribute__((always_inline))
#define CS_HIDDEN __attribute__((visibility("hidden")))

#ifndef CISTERN_DEBUG
#define CISTERN_DEBUG 0
#endif

/* The heap's page: the unit of spans and of the pagemap.  8 KiB halves the
   pagemap and span count of 4 KiB pages; a span's objects stay on few pages. */
#define CS_PAGE_SHIFT 13
#define CS_PAGE ((size_t)1 << CS_PAGE_SHIFT)

/* Address bits the pagemap covers: the user half of a 48-bit address space on
   64-bit machines, everything on 32-bit ones.  Regions above are refused. */
#if UINTPTR_MAX > 0xffffffffu
#define CS_VA_BITS 48
#define CS_64BIT 1
#else
#define CS_VA_BITS 32
#define CS_64BIT 0
#endif

#define CS_ALIGN_UP(x, a) (((x) + ((a) - 1)) & ~((uintptr_t)(a) - 1))
#define CS_ALIGN_DOWN(x, a) ((x) & ~((uintptr_t)(a) - 1))
#define CS_IS_POW2(x) ((x) != 0 && ((x) & ((x) - 1)) == 0)

/* The OS page size (4 KiB on x86-64; up to 64 KiB on some ARM kernels). */
size_t cs_os_page_size(void);
/* Whether nothing at all is mapped at address a (mincore says so); 0 when
   something is, or when the system cannot tell (qemu-user refuses mincore). */
int cs_os_surely_unmapped(const void *a);

/* A test-and-set lock: critical sections are short (a few list operations),
   so spinning with the cpu-relax hint, then yielding the core, beats a futex
   round trip.  Zero-initialised means unlocked. */
typedef struct cs_lock {
    cs_atomic_t word;
} cs_lock_t;

#define CS_LOCK_INIT { 0 }

static inline void cs_lock_init(cs_lock_t *l)
{
    cs_atomic_store_relaxed(&l->word, 0);
}

static inline int cs_lock_try(cs_lock_t *l)
{
    return cs_atomic_load_relaxed(&l->word) == 0 && cs_atomic_cas(&l->word, 0, 1);
}

void cs_lock_slow(cs_lock_t *l);

static inline void cs_lock(cs_lock_t *l)
{
    if (cs_likely(cs_atomic_cas(&l->word, 0, 1)))
        return;
    cs_lock_slow(l);
}

/* Release store: pairs with the acquire in the CAS of cs_lock. */
static inline void cs_unlock(cs_lock_t *l)
{
    cs_atomic_store_release(&l->word, 0);
}

/* Milliseconds of a monotonic clock; coarse (a few ms) and cheap (vDSO). */
static inline uint64_t cs_clock_ms(void)
{
    struct timespec ts;
#ifdef CLOCK_MONOTONIC_COARSE
    clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
#else
    clock_gettime(CLOCK_MONOTONIC, &ts);
#endif
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

/* 64 random bits from the kernel (or a clock-and-address mix when none). */
uint64_t cs_random64(void);

static inline unsigned cs_log2_floor(size_t x)
{
    return (unsigned)(sizeof(size_t) * 8 - 1 - (unsigned)__builtin_clzl(x));
}

#endif /* CS_PLATFORM_H */
