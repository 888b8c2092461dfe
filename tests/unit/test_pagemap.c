/*
 * test_pagemap.c - the address -> span radix tree: lookups of addresses it
 * was never told about, and set/get round trips across node boundaries.
 *
 * The spans stored here are dummies: the pagemap only keeps pointers.  The
 * addresses lie far from anything the process maps, so no real span is
 * overwritten (and each test runs in its own child).
 */
#include "unit.h"

/* One leaf node covers this many bytes. */
#define LEAF_BYTES ((uintptr_t)CS_PAGE << CS_PM_LEAF_BITS)
#define LEAF_PAGES ((size_t)1 << CS_PM_LEAF_BITS)

#if CS_64BIT
/* 96 TiB: inside the 48-bit range the pagemap covers, far above the heap,
   libraries and stacks of a usual process. */
#define FAR_BASE ((uintptr_t)96 << 40)
#else
#define FAR_BASE ((uintptr_t)0xa0000000u)
#endif

static struct cs_span dummy_a, dummy_b;

START_TEST(unmapped_lookups_are_null)
{
    /* Give the tree real nodes first, so the lookups below walk a populated
       root rather than an empty one. */
    unit_init();
    cistern_free(cistern_malloc(64));
    cistern_free(cistern_malloc((size_t)1 << 20));
    ck_assert_ptr_null(cs_pagemap_get(NULL));
    ck_assert_ptr_null(cs_pagemap_get((void *)(uintptr_t)1));
    ck_assert_ptr_null(cs_pagemap_get((void *)FAR_BASE));
    ck_assert_ptr_null(cs_pagemap_get((void *)(FAR_BASE + 12345 * CS_PAGE + 17)));
    int local;
    ck_assert_ptr_null(cs_pagemap_get(&local));
#if CS_64BIT
    /* Beyond 48 bits: refused before any table is indexed. */
    ck_assert_ptr_null(cs_pagemap_get((void *)((uintptr_t)1 << CS_VA_BITS)));
    ck_assert_ptr_null(cs_pagemap_get((void *)(((uintptr_t)1 << CS_VA_BITS) + FAR_BASE)));
    ck_assert_ptr_null(cs_pagemap_get((void *)(uintptr_t)0xffff800000000000ull));
    ck_assert_ptr_null(cs_pagemap_get((void *)UINTPTR_MAX));
#endif
}
END_TEST

/* With nodes created but nothing set, every entry reads NULL; entries set
   for one page do not leak into its neighbours. */
START_TEST(ensured_but_unset_is_null)
{
    uintptr_t a = FAR_BASE + LEAF_BYTES - 3 * CS_PAGE;
    ck_assert_int_eq(cs_pagemap_ensure(a, 6 * CS_PAGE), 0);
    for (int i = 0; i < 6; i++)
        ck_assert_ptr_null(cs_pagemap_get((void *)(a + i * CS_PAGE)));
    cs_pagemap_set(a + 2 * CS_PAGE, &dummy_a);
    ck_assert_ptr_eq(cs_pagemap_get((void *)(a + 2 * CS_PAGE)), &dummy_a);
    ck_assert_ptr_eq(cs_pagemap_get((void *)(a + 3 * CS_PAGE - 1)), &dummy_a);
    ck_assert_ptr_null(cs_pagemap_get((void *)(a + 2 * CS_PAGE - 1)));
    ck_assert_ptr_null(cs_pagemap_get((void *)(a + 3 * CS_PAGE)));
}
END_TEST

/* A range over three leaves: every page of it round-trips, every page
   around it stays NULL, and a later set or clear of part of it touches
   only that part. */
START_TEST(set_range_across_leaves)
{
    uintptr_t start = FAR_BASE + LEAF_BYTES - 5 * CS_PAGE;
    size_t npages = LEAF_PAGES + 11 + 5 + LEAF_PAGES / 2; /* ends in the third leaf */
    uintptr_t end = start + npages * CS_PAGE;
    ck_assert_int_eq(cs_pagemap_ensure(start - CS_PAGE, (npages + 2) * CS_PAGE), 0);

    cs_pagemap_set_range(start, npages, &dummy_a);
    for (uintptr_t p = start; p < end; p += CS_PAGE) {
        if (cs_pagemap_get((void *)p) != &dummy_a || cs_pagemap_get((void *)(p + CS_PAGE - 1)) != &dummy_a)
            ck_abort_msg("page %#lx lost its span", (unsigned long)p);
    }
    ck_assert_ptr_null(cs_pagemap_get((void *)(start - 1)));
    ck_assert_ptr_null(cs_pagemap_get((void *)end));

    /* Overwrite a window that straddles a leaf boundary. */
    uintptr_t leaf_edge = CS_ALIGN_UP(start, LEAF_BYTES) + LEAF_BYTES;
    uintptr_t w = leaf_edge - 3 * CS_PAGE;
    cs_pagemap_set_range(w, 6, &dummy_b);
    for (uintptr_t p = start; p < end; p += CS_PAGE) {
        struct cs_span *want = p >= w && p < w + 6 * CS_PAGE ? &dummy_b : &dummy_a;
        if (cs_pagemap_get((void *)p) != want)
            ck_abort_msg("page %#lx: wrong span after a partial overwrite", (unsigned long)p);
    }

    /* Single-page sets at both ends of a leaf. */
    cs_pagemap_set(leaf_edge - CS_PAGE, NULL);
    cs_pagemap_set(leaf_edge, NULL);
    ck_assert_ptr_null(cs_pagemap_get((void *)(leaf_edge - 1)));
    ck_assert_ptr_null(cs_pagemap_get((void *)leaf_edge));
    ck_assert_ptr_eq(cs_pagemap_get((void *)(leaf_edge + CS_PAGE)), &dummy_b);

    cs_pagemap_set_range(start, npages, NULL);
    for (uintptr_t p = start; p < end; p += CS_PAGE)
        if (cs_pagemap_get((void *)p) != NULL)
            ck_abort_msg("page %#lx not cleared", (unsigned long)p);
}
END_TEST

/* ensure creates every leaf a range needs, whatever its alignment: a
   lookup right after (no set) must reach a leaf, not a missing node. */
START_TEST(ensure_spanning_leaves)
{
    uintptr_t start = FAR_BASE + 3 * LEAF_BYTES + 7 * CS_PAGE;
    size_t len = 4 * LEAF_BYTES + 5 * CS_PAGE; /* five leaves */
    ck_assert_int_eq(cs_pagemap_ensure(start, len), 0);
    for (uintptr_t p = CS_ALIGN_DOWN(start, LEAF_BYTES); p < start + len; p += LEAF_BYTES)
        ck_assert_msg(cs_pm_leaf_of(p) != NULL, "no leaf for %#lx", (unsigned long)p);
    ck_assert_msg(cs_pm_leaf_of(start + len - 1) != NULL, "no leaf for the last byte");
    /* ensure is idempotent: entries already set survive a second call. */
    cs_pagemap_set(start, &dummy_a);
    ck_assert_int_eq(cs_pagemap_ensure(start, len), 0);
    ck_assert_ptr_eq(cs_pagemap_get((void *)start), &dummy_a);
    ck_assert_int_eq(cs_pagemap_ensure(start, 0), 0);
}
END_TEST

#if CS_64BIT
/* Ranges the pagemap cannot describe are refused, not truncated. */
START_TEST(ensure_refuses_beyond_va)
{
    uintptr_t top = (uintptr_t)1 << CS_VA_BITS;
    ck_assert_int_eq(cs_pagemap_ensure(top, CS_PAGE), EFAULT);
    ck_assert_int_eq(cs_pagemap_ensure(top - CS_PAGE, 2 * CS_PAGE), EFAULT);
    ck_assert_int_eq(cs_pagemap_ensure(UINTPTR_MAX - CS_PAGE, 4 * CS_PAGE), EFAULT);
    ck_assert_int_eq(cs_pagemap_ensure(top - CS_PAGE, CS_PAGE), 0);
    ck_assert_ptr_null(cs_pagemap_get((void *)(top - 1)));
}
END_TEST
#endif

static Suite *make_suite(void)
{
    Suite *s = suite_create("pagemap");
    TCase *tc = tcase_create("pagemap");
    tcase_add_test(tc, unmapped_lookups_are_null);
    tcase_add_test(tc, ensured_but_unset_is_null);
    tcase_add_test(tc, set_range_across_leaves);
    tcase_add_test(tc, ensure_spanning_leaves);
#if CS_64BIT
    tcase_add_test(tc, ensure_refuses_beyond_va);
#endif
    suite_add_tcase(s, tc);
    return s;
}

CS_TEST_MAIN(make_suite)
