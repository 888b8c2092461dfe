/*
 * sizeclass.c - builds the size-class tables (see sizeclass.h for the plan).
 */
#include "platform.h"
#include "sizeclass.h"

struct cs_class_info cs_classes[CS_NCLASSES];

/* Entry i of the tiny table is for requests of 8 * i - 7 .. 8 * i bytes. */
#define TINY1(i) (CS_CLASS_OF(8 * (i)) * CS_BIN_BYTES)
#define TINY8(i)                                                                       \
    TINY1(i), TINY1(i + 1), TINY1(i + 2), TINY1(i + 3), TINY1(i + 4), TINY1(i + 5),    \
        TINY1(i + 6), TINY1(i + 7)
#define TINY64(i)                                                                      \
    TINY8(i), TINY8(i + 8), TINY8(i + 16), TINY8(i + 24), TINY8(i + 32), TINY8(i + 40), \
        TINY8(i + 48), TINY8(i + 56)

const uint16_t cs_bin_offset_tiny[129] = { TINY64(0), TINY64(64), TINY1(128) };

/* Objects a span should hold at least: fewer for big objects, so that a
   program allocating one 200 KiB object does not reserve ten of them. */
static uint32_t min_objects(size_t size)
{
    if (size <= 4096)
        return 8;
    if (size <= 32768)
        return 4;
    return 2;
}

/* The shortest span holding min_objects() objects with at most 1/8 of it
   left over at the end. */
static uint32_t shortest_span(size_t size)
{
    for (uint32_t pages = 1;; pages++) {
        size_t bytes = pages * CS_PAGE;
        size_t nobj = bytes / size;
        if (nobj > CS_SPAN_MAX_OBJS)
            return pages - 1 ? pages - 1 : 1;
        if (nobj >= min_objects(size) && bytes - nobj * size <= bytes / 8)
            return pages;
    }
}

/* Of the spans from the shortest to twice its length, the one that leaves
   the smallest share over at its end: with objects of 16 B to 4 KiB drawn
   log-uniformly, the bytes spans take per byte asked drop from 1.093 to
   1.056, at the cost of spans at most twice as long. */
static uint32_t span_pages(size_t size)
{
    uint32_t first = shortest_span(size), best = first;
    size_t best_left = first * CS_PAGE % size; /* compared as left / bytes */
    for (uint32_t pages = first + 1; pages <= 2 * first; pages++) {
        size_t bytes = pages * CS_PAGE, left = bytes % size;
        if (bytes / size > CS_SPAN_MAX_OBJS)
            break;
        if (left * (best * CS_PAGE) < best_left * bytes) {
            best = pages;
            best_left = left;
        }
    }
    return best;
}

static uint32_t clamp(size_t v, uint32_t lo, uint32_t hi)
{
    return v < lo ? lo : v > hi ? hi : (uint32_t)v;
}

/* The inverse of odd d modulo 2^64: Newton's iteration doubles the correct
   low bits each step, from 3 (d * d == 1 mod 8 for every odd d). */
static uint64_t odd_inverse(uint64_t d)
{
    uint64_t x = d;
    for (int i = 0; i < 5; i++)
        x *= 2 - d * x;
    return x;
}

static void add_class(unsigned c, size_t size)
{
    struct cs_class_info *ci = &cs_classes[c];
    ci->size = (uint32_t)size;
    ci->pages = span_pages(size);
    ci->nobj = (uint32_t)(ci->pages * CS_PAGE / size);
    if (ci->nobj > CS_SPAN_MAX_OBJS)
        ci->nobj = CS_SPAN_MAX_OBJS;
    /* Move about 32 KiB per batch: one lock round trip buys many objects. */
    ci->batch = clamp(32768 / size, 2, 64);
    /* A thread keeps up to ~64 KiB per class, and at least two batches. */
    ci->cap = clamp(65536 / size, 2 * ci->batch < 128 ? 2 * ci->batch : 128, 128);
    ci->shift = (uint32_t)__builtin_ctzll(size);
    ci->inv = odd_inverse(size >> ci->shift);
}

void cs_sizeclass_init(void)
{
    if (cs_classes[1].size)
        return;
    unsigned c = 1;
    add_class(c++, 8);
    for (size_t s = 16; s <= 128; s += 16)
        add_class(c++, s);
    for (size_t base = 128; base < CS_SMALL_MAX; base *= 2)
        for (size_t s = base + base / 8; s <= base * 2; s += base / 8)
            add_class(c++, s);
    /* c == CS_NCLASSES here: 1 + 8 + 11 * 8 = 97 classes; the lookups
       (CS_CLASS_OF, the tiny table) follow the same plan. */
}

unsigned cs_size_class_aligned(size_t n, size_t align)
{
    if (n > CS_SMALL_MAX || align > CS_PAGE)
        return 0;
    if (n < align)
        n = align;
    for (unsigned c = cs_size_class(n); c < CS_NCLASSES; c++)
        if ((cs_classes[c].size & (align - 1)) == 0)
            return c;
    return 0;
}
