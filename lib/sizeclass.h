/*
 * sizeclass.h - size classes for small objects (8 B .. 256 KiB).
 *
 * Classes: 8, then every 16 bytes to 128 (the 16-byte quantum keeps objects
 * of 16 bytes and more 16-byte aligned), then eight classes per doubling, so
 * that above 128 B no class wastes more than 12.5 % of a request.  Below 128 B
 * the alignment quantum, not the spacing, bounds the waste.  Class 0 means
 * "not a small object".  Tables are filled once by cs_sizeclass_init().
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
extern uint8_t cs_class_small_tab[129] __attribute__((visibility("hidden")));   /* (n + 7) >> 3, n <= 1024 */
extern uint8_t cs_class_large_tab[2049] __attribute__((visibility("hidden")));  /* (n + 127) >> 7, n <= 256 KiB */
/* Bytes of one thread-cache bin (tcache.h checks it), and the class of
   (n + 7) >> 3 times that: where malloc's fast path finds the bin of a
   request of n <= 1024 bytes, without scaling the class. */
#define CS_BIN_BYTES 32
extern uint16_t cs_bin_offset_tiny[129] __attribute__((visibility("hidden")));

/* Fill the tables; idempotent. Called from init before any allocation. */
void cs_sizeclass_init(void);

/* The class of a request of n bytes, n <= CS_SMALL_MAX. */
#define CS_TINY_MAX ((size_t)1024)

/* The class of n <= CS_TINY_MAX bytes. */
static inline unsigned cs_size_class_tiny(size_t n)
{
    return cs_class_small_tab[(n + 7) >> 3];
}

/* The class of CS_TINY_MAX < n <= CS_SMALL_MAX bytes. */
static inline unsigned cs_size_class_medium(size_t n)
{
    return cs_class_large_tab[(n + 127) >> 7];
}

static inline unsigned cs_size_class(size_t n)
{
    return n <= CS_TINY_MAX ? cs_size_class_tiny(n) : cs_size_class_medium(n);
}

/* The smallest class holding n bytes whose objects are aligned to align
   (a power of two up to the heap page); 0 when none. */
unsigned cs_size_class_aligned(size_t n, size_t align);

#endif
