/*
 * test_sizeclass.c - the size-class tables: alignment, spacing, lookup,
 * span geometry and the reciprocal that turns an offset into an index.
 */
#include "unit.h"

static void setup(void)
{
    cs_sizeclass_init();
}

/* Objects of 16 bytes and more are promised 16-byte alignment, and span
   starts are page aligned, so every such class size must be a multiple of 16. */
START_TEST(classes_16_aligned)
{
    for (unsigned c = 1; c < CS_NCLASSES; c++) {
        uint32_t size = cs_classes[c].size;
        ck_assert_uint_gt(size, 0);
        if (size >= 16)
            ck_assert_msg(size % 16 == 0, "class %u: size %u not a multiple of 16", c, size);
    }
}
END_TEST

START_TEST(classes_increasing)
{
    for (unsigned c = 2; c < CS_NCLASSES; c++)
        ck_assert_msg(cs_classes[c].size > cs_classes[c - 1].size, "class %u not above class %u", c,
                      c - 1);
    ck_assert_uint_eq(cs_classes[CS_NCLASSES - 1].size, CS_SMALL_MAX);
}
END_TEST

/* Above 128 B a request rounds up by at most 12.5 %: the gap to the
   previous class, relative to the class, bounds that waste. */
START_TEST(spacing_within_eighth)
{
    for (unsigned c = 2; c < CS_NCLASSES; c++) {
        uint32_t size = cs_classes[c].size, prev = cs_classes[c - 1].size;
        if (size < 128)
            continue;
        ck_assert_msg((uint64_t)(size - prev) * 8 <= size, "class %u (%u after %u): gap over 12.5%%",
                      c, size, prev);
    }
}
END_TEST

/* Exhaustive: for every request up to the small limit, the class chosen is
   the smallest one that holds it. */
START_TEST(lookup_smallest_class)
{
    unsigned want = 1;
    for (size_t n = 0; n <= CS_SMALL_MAX; n++) {
        while (cs_classes[want].size < n)
            want++;
        unsigned got = cs_size_class(n);
        if (got != want)
            ck_abort_msg("cs_size_class(%zu) = %u (size %u), want %u (size %u)", n, got,
                         cs_classes[got].size, want, cs_classes[want].size);
        /* malloc's fast path finds the bin through the scaled table. */
        if (n <= CS_TINY_MAX && (char *)&cs_tcache_none.bins[want] !=
                                    (char *)cs_tcache_none.bins + cs_bin_offset_tiny[(n + 7) >> 3])
            ck_abort_msg("cs_bin_offset_tiny for %zu bytes is not the bin of class %u", n, want);
    }
}
END_TEST

/* A span is pages * CS_PAGE bytes: its objects fit, the tail left over is at
   most 1/8 of it, and the free bitmap has a bit for every object. */
START_TEST(span_geometry)
{
    for (unsigned c = 1; c < CS_NCLASSES; c++) {
        const struct cs_class_info *ci = &cs_classes[c];
        uint64_t bytes = (uint64_t)ci->pages * CS_PAGE;
        uint64_t used = (uint64_t)ci->nobj * ci->size;
        ck_assert_msg(ci->pages >= 1 && ci->nobj >= 1, "class %u: empty span", c);
        ck_assert_msg(used <= bytes, "class %u: %u objects of %u overflow %u pages", c, ci->nobj,
                      ci->size, ci->pages);
        ck_assert_msg((bytes - used) * 8 <= bytes, "class %u (size %u, %u pages, %u objects): "
                      "tail waste %llu over 1/8", c, ci->size, ci->pages, ci->nobj,
                      (unsigned long long)(bytes - used));
        ck_assert_msg(ci->nobj <= CS_SPAN_MAX_OBJS, "class %u: %u objects", c, ci->nobj);
        ck_assert_msg(ci->batch >= 1 && ci->batch <= ci->cap, "class %u: batch %u cap %u", c,
                      ci->batch, ci->cap);
    }
}
END_TEST

/* What spans take per byte asked, for requests of 16 B to 4 KiB drawn
   log-uniformly (weight 1/n): class rounding plus span tails.  Choosing,
   for each class, the span of up to twice the shortest length that leaves
   the least over at its end keeps this under 1.06 (1.093 with the shortest
   spans). */
START_TEST(span_bytes_per_byte_asked)
{
    double asked = 0, taken = 0;
    for (size_t n = 16; n <= 4096; n++) {
        const struct cs_class_info *ci = &cs_classes[cs_size_class(n)];
        double weight = 1.0 / (double)n;
        asked += weight * (double)n;
        taken += weight * (double)ci->pages * CS_PAGE / ci->nobj;
    }
    ck_assert_msg(taken / asked < 1.06, "spans take %.4f bytes per byte asked", taken / asked);
}
END_TEST

/* Every offset of every span maps to the object that contains it, and only
   object starts count as starts: free() relies on both to find the bit of
   an object and to refuse interior pointers. */
START_TEST(span_index_exact)
{
    struct cs_span s;
    for (unsigned c = 1; c < CS_NCLASSES; c++) {
        const struct cs_class_info *ci = &cs_classes[c];
        memset(&s, 0, sizeof s);
        s.size = ci->size;
        s.inv = ci->inv;
        s.shift = ci->shift;
        s.nobj = ci->nobj;
        s.npages = ci->pages;
        uintptr_t end = (uintptr_t)ci->pages * CS_PAGE;
        for (uintptr_t off = 0; off < end; off++) {
            uint32_t want = (uint32_t)(off / ci->size);
            uint32_t idx = off % ci->size ? want : cs_span_index(&s, off); /* starts only */
            if (off < (uintptr_t)ci->nobj * ci->size && idx != want)
                ck_abort_msg("class %u (size %u): offset %lu gives index %u, want %u", c, ci->size,
                             (unsigned long)off, idx, want);
            int start = off % ci->size == 0 && want < ci->nobj;
            if (cs_span_is_object_start(&s, off) != start)
                ck_abort_msg("class %u (size %u): offset %lu start=%d, want %d", c, ci->size,
                             (unsigned long)off, !start, start);
        }
        /* A pointer below the span's start wraps to a huge offset: never a start. */
        for (uintptr_t back = 1; back <= 4 * (uintptr_t)ci->size; back++)
            if (cs_span_is_object_start(&s, (uintptr_t)0 - back))
                ck_abort_msg("class %u (size %u): offset -%lu taken for a start", c, ci->size,
                             (unsigned long)back);
        /* And so is one far beyond it (masked pagemap lookups can land here). */
        for (unsigned k = 1; k < 64; k++)
            if (cs_span_is_object_start(&s, (uintptr_t)1 << k) && ((uintptr_t)1 << k) >= end)
                ck_abort_msg("class %u: offset 2^%u taken for a start", c, k);
    }
}
END_TEST

/* aligned_alloc on small sizes picks a class whose objects sit at multiples
   of the alignment: the size must be a multiple of it, hold the request,
   and be the smallest such class. */
START_TEST(aligned_class)
{
    for (size_t align = 1; align <= CS_PAGE; align *= 2) {
        for (size_t n = 0; n <= CS_SMALL_MAX; n += (n < 4096 ? 1 : 61)) {
            unsigned c = cs_size_class_aligned(n, align);
            ck_assert_msg(c != 0, "no class for %zu bytes aligned to %zu", n, align);
            uint32_t size = cs_classes[c].size;
            ck_assert_msg(size >= n && size % align == 0,
                          "cs_size_class_aligned(%zu, %zu) = class of %u", n, align, size);
            for (unsigned k = 1; k < c; k++)
                if (cs_classes[k].size >= n && cs_classes[k].size % align == 0)
                    ck_abort_msg("cs_size_class_aligned(%zu, %zu): size %u, but %u fits", n, align,
                                 size, cs_classes[k].size);
        }
    }
    /* Beyond the page or beyond small objects, the large path takes over. */
    ck_assert_uint_eq(cs_size_class_aligned(16, CS_PAGE * 2), 0);
    ck_assert_uint_eq(cs_size_class_aligned(CS_SMALL_MAX + 1, 16), 0);
}
END_TEST

static Suite *make_suite(void)
{
    Suite *s = suite_create("sizeclass");
    TCase *tc = tcase_create("tables");
    tcase_add_checked_fixture(tc, setup, NULL);
    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, classes_16_aligned);
    tcase_add_test(tc, classes_increasing);
    tcase_add_test(tc, spacing_within_eighth);
    tcase_add_test(tc, lookup_smallest_class);
    tcase_add_test(tc, span_geometry);
    tcase_add_test(tc, span_bytes_per_byte_asked);
    tcase_add_test(tc, span_index_exact);
    tcase_add_test(tc, aligned_class);
    suite_add_tcase(s, tc);
    return s;
}

CS_TEST_MAIN(make_suite)
