/*
 * bitmap.h - ranges of bits in arrays of 64-bit words: the page heap's
 * commit bitmaps (one bit per heap page of a region) and the spans' free
 * bitmaps (one bit per object) share these.
 */
#ifndef CS_BITMAP_H
#define CS_BITMAP_H

#include <stddef.h>
#include <stdint.h>

/* k bits (1..64) from bit b (b + k <= 64). */
static inline uint64_t cs_bits_mask(size_t b, size_t k)
{
    return (k == 64 ? ~(uint64_t)0 : (((uint64_t)1 << k) - 1)) << b;
}

/* Bits set among [first, first + n). */
static inline size_t cs_bits_count(const uint64_t *words, size_t first, size_t n)
{
    size_t c = 0;
    while (n) {
        size_t b = first % 64, k = 64 - b < n ? 64 - b : n;
        c += (size_t)__builtin_popcountll(words[first / 64] & cs_bits_mask(b, k));
        first += k;
        n -= k;
    }
    return c;
}

/* Set (on) or clear the bits [first, first + n). */
static inline void cs_bits_set(uint64_t *words, size_t first, size_t n, int on)
{
    while (n) {
        size_t b = first % 64, k = 64 - b < n ? 64 - b : n;
        if (on)
            words[first / 64] |= cs_bits_mask(b, k);
        else
            words[first / 64] &= ~cs_bits_mask(b, k);
        first += k;
        n -= k;
    }
}

#endif
