/*
 * sizeclass.h - size classes for small objects (8 B .. 256 KiB).
 *
 * Classes: 8, then every 16 bytes to 128 (the 16-byte quantum keeps objects
 * of 16 bytes and more 16-byte aligned), then eight classes per doubling, so
 * that above 128 B no class wastes more than 12.5 % of a request.  Below 128 B
 * the alignment quantum, not the spacing, bounds the waste.  Class 0 means
 * "not a small object".  The class descriptions are filled once by
 * cs_sizeclass_init(); the lookup from a size is constant (a table up to
 * 1 KiB, a formula above).
 */
#ifndef CS_SIZECLASS_H
#define CS_SIZECLASS_H

#include <stddef.h>
#include <stdint.h>

#define CS_SMALL_MAX ((size_t)256 * 1024)
#define CS_NCLASSES 98 /* 97 classes + class 0 */
/* Most objects in one small span: the span's free bitmap holds this many bits. */
#define CS_SPAN_MAX_OBJS 1024

struct cs_class_info {
    uint32_t size;   /* object size */
    uint32_t pages;  /* span length in heap pages */
    uint32_t nobj;   /* objects per span */
    uint32_t batch;  /* objects moved between a thread cache and the central list */
    uint32_t cap;    /* most objects a thread cache keeps */
    /* size = odd << shift; inv * odd == 1 (mod 2^64).  Rotating off * inv
       right by shift gives off / size when size divides off, and a number
       of at least 2^64 / size otherwise: one test for "object start". */
    uint64_t inv;
    uint32_t shift;
};

extern struct cs_class_info cs_classes[CS_NCLASSES] __attribute__((visibility("hidden")));

/* Requests up to this size find their class in a table. */
#define CS_TINY_MAX ((size_t)1024)

/* The class of n > 128 bytes: the classes run eight to a doubling, so the
   doubling is the position lg of n - 1's top bit and the eighth the three
   bits below it (class 10 is the first above 128 = 2^7).  A constant
   expression for constant n, so it also builds the table. */
#define CS_TOP_BIT(m) (63 ^ __builtin_clzll((unsigned long long)(m)))
#define CS_CLASS_ABOVE_128(n)                                                  \
    ((unsigned)CS_TOP_BIT((n) - 1) * 8u - 46u +                               \
     (unsigned)(((unsigned long long)(n) - 1) >> (CS_TOP_BIT((n) - 1) - 3) & 7))
/* The class of any n <= CS_SMALL_MAX, as a constant expression.  The
   branch above 128 sees at least 129 even where it is not taken, so that
   no compiler finds a negative shift in it. */
#define CS_CLASS_OF(n)                                                         \
    ((n) <= 8 ? 1u : (n) <= 128 ? ((unsigned)(n) + 15) / 16 + 1 : CS_CLASS_ABOVE_128((n) > 128 ? (n) : 129))

/* Bytes of one thread-cache bin on every platform (tcache.h pads and
   checks it). */
#define CS_BIN_BYTES 32

/* Indexed by (n + 7) >> 3 for n <= CS_TINY_MAX: the class times
   CS_BIN_BYTES, which is where a thread cache keeps the class's bin, so the
   fast paths find it without scaling the class.  Constant data: a thread
   may read it before the allocator is initialised (and it costs no
   writable page). */
extern const uint16_t cs_bin_offset_tiny[129] __attribute__((visibility("hidden")));

/* Fill the class descriptions; idempotent. Called from init before any allocation. */
void cs_sizeclass_init(void);

/* The class times CS_BIN_BYTES of a request of n bytes: n <= CS_TINY_MAX
   for the first, CS_TINY_MAX < n <= CS_SMALL_MAX for the second, any
   n <= CS_SMALL_MAX for the third. */
static inline size_t cs_bin_offset_of_tiny(size_t n)
{
    return cs_bin_offset_tiny[(n + 7) >> 3];
}

static inline size_t cs_bin_offset_of_medium(size_t n)
{
    return (size_t)CS_CLASS_ABOVE_128(n) * CS_BIN_BYTES;
}

static inline size_t cs_size_bin_offset(size_t n)
{
    return n <= CS_TINY_MAX ? cs_bin_offset_of_tiny(n) : cs_bin_offset_of_medium(n);
}

/* The class of a request of n bytes, n <= CS_SMALL_MAX. */
static inline unsigned cs_size_class(size_t n)
{
    return (unsigned)(cs_size_bin_offset(n) / CS_BIN_BYTES);
}

/* The smallest class holding n bytes whose objects are aligned to align
   (a power of two up to the heap page); 0 when none. */
unsigned cs_size_class_aligned(size_t n, size_t align);

#endif
