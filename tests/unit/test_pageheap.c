/*
 * test_pageheap.c - the page heap of one arena, driven directly through
 * cs_heap_* over a fake source whose regions and calls the test controls.
 */
#include "unit.h"
#include "fake_source.h"

#include <stdlib.h>

#define KiB ((size_t)1 << 10)
#define MiB ((size_t)1 << 20)
#define GiB ((size_t)1 << 30)

static struct fake_source *f;
static cistern_arena_t *a;
static struct cs_heap *h;

/* A heap over one fresh fake source; the knobs are set before any region
   is requested. */
static void make_heap(size_t reserve, size_t skew, size_t granule, size_t chunk, size_t gap,
                      unsigned src_flags, size_t limit)
{
    unit_init();
    f = fake_new("fake", reserve, skew, granule, src_flags);
    f->chunk = chunk;
    f->gap = gap;
    a = fake_arena(f, CISTERN_ARENA_NO_TCACHE, limit);
    h = &a->heap;
}

static int by_start(const void *x, const void *y)
{
    uintptr_t p = cs_span_start(*(struct cs_span *const *)x), q = cs_span_start(*(struct cs_span *const *)y);
    return p < q ? -1 : p > q;
}

/* ---- allocation and coalescing ------------------------------------------------ */

#define NSPANS 400

/* Spans of many lengths (small-class spans among them), freed in a random
   order: at every step the heap checks out, spans never overlap, and at the
   end every region is one free span again. */
START_TEST(alloc_free_random_coalesces)
{
    make_heap(512 * MiB, 0, 0, 4 * MiB, CS_PAGE, 0, 0);
    static struct cs_span *spans[NSPANS];
    static size_t lens[NSPANS];
    uint64_t rng = 0x9e3779b97f4a7c15ull;
    size_t inuse = 0;
    for (int i = 0; i < NSPANS; i++) {
        unsigned cls = 0;
        size_t n;
        if (i % 4 == 0) {
            cls = 1 + unit_rand(&rng) % (CS_NCLASSES - 1);
            n = cs_classes[cls].pages;
        } else {
            n = 1 + unit_rand(&rng) % (i % 3 ? 24 : 300);
        }
        struct cs_span *s = cs_heap_alloc(h, n, 0, cls);
        ck_assert_msg(s != NULL, "span %d of %zu pages refused", i, n);
        ck_assert_uint_eq(s->npages, n);
        ck_assert_uint_eq(s->cls, cls);
        ck_assert_int_eq(s->state, cls ? CS_SPAN_SMALL : CS_SPAN_LARGE);
        ck_assert_uint_eq(cs_span_start(s) % CS_PAGE, 0);
        ck_assert_msg(fake_owns(f, cs_span_start(s), n * CS_PAGE), "span %d outside every region", i);
        ck_assert_msg(cs_span_start(s) >= cs_region_base(s->region) &&
                          cs_span_end(s) <= cs_region_base(s->region) + s->region->size,
                      "span %d crosses its region", i);
        ck_assert_ptr_eq(cs_pagemap_get((void *)cs_span_start(s)), s);
        ck_assert_ptr_eq(cs_pagemap_get((void *)(cs_span_end(s) - 1)), s);
        spans[i] = s;
        lens[i] = n;
        inuse += n;
        if (i % 50 == 0)
            ck_assert_int_eq(cs_heap_check(h), 0);
    }
    ck_assert_uint_eq(h->pages_inuse, inuse);
    ck_assert_int_eq(cs_heap_check(h), 0);

    struct cs_span *sorted[NSPANS];
    memcpy(sorted, spans, sizeof sorted);
    qsort(sorted, NSPANS, sizeof sorted[0], by_start);
    for (int i = 1; i < NSPANS; i++)
        ck_assert_msg(cs_span_end(sorted[i - 1]) <= cs_span_start(sorted[i]), "spans overlap");

    for (int i = NSPANS - 1; i > 0; i--) {
        int j = (int)(unit_rand(&rng) % (uint32_t)(i + 1));
        struct cs_span *t = spans[i];
        spans[i] = spans[j];
        spans[j] = t;
    }
    for (int i = 0; i < NSPANS; i++) {
        cs_heap_free(h, spans[i]);
        if (i % 37 == 0)
            ck_assert_int_eq(cs_heap_check(h), 0);
    }
    (void)lens;
    ck_assert_int_eq(cs_heap_check(h), 0);
    ck_assert_uint_eq(h->pages_inuse, 0);
    ck_assert_uint_eq(h->large_pages, 0);
    size_t region_pages, free_pages;
    size_t nregions = unit_regions(h, &region_pages);
    size_t nfree = unit_free_spans(h, &free_pages);
    ck_assert_uint_gt(nregions, 1);
    ck_assert_uint_eq(h->pages_free, region_pages);
    ck_assert_uint_eq(free_pages, region_pages);
    ck_assert_msg(nfree == nregions, "%zu free spans over %zu regions: not coalesced", nfree,
                  nregions);
}
END_TEST

/* Invariant 3: two regions that touch stay two free spans when all is
   free, in whichever order their spans come back, and a request larger
   than either is not served across the seam. */
START_TEST(adjacent_regions_never_merge)
{
    make_heap(64 * MiB, 0, 0, 0, 0, 0, 0);
    for (int order = 0; order < 2; order++) {
        struct cs_span *x = cs_heap_alloc(h, 16, 0, 0);
        struct cs_span *y = cs_heap_alloc(h, 16, 0, 0);
        ck_assert_ptr_nonnull(x);
        ck_assert_ptr_nonnull(y);
        if (order == 0) {
            ck_assert_uint_eq(f->nregions, 2);
            ck_assert_msg(f->regions[0].base + f->regions[0].len == f->regions[1].base,
                          "the fake did not hand out touching regions");
            ck_assert_uint_eq(cs_span_end(x), cs_span_start(y));
        }
        ck_assert_ptr_ne(x->region, y->region);
        if (order == 0) {
            cs_heap_free(h, x);
            cs_heap_free(h, y);
        } else {
            cs_heap_free(h, y);
            cs_heap_free(h, x);
        }
        ck_assert_int_eq(cs_heap_check(h), 0);
        size_t free_pages;
        ck_assert_uint_eq(unit_free_spans(h, &free_pages), 2);
        ck_assert_uint_eq(free_pages, 32);
    }
    struct cs_span *big = cs_heap_alloc(h, 32, 0, 0);
    ck_assert_ptr_nonnull(big);
    ck_assert_uint_eq(f->nregions, 3);
    ck_assert_msg(cs_span_start(big) >= f->regions[2].base, "32 pages served across two regions");
    cs_heap_free(h, big);
    ck_assert_int_eq(cs_heap_check(h), 0);
    ck_assert_uint_eq(unit_free_spans(h, NULL), 3);
}
END_TEST

/* Every power-of-two alignment from a page to 1 GiB is honoured, the span
   has the length asked for, and the pages split off in front go back to the
   free lists. */
START_TEST(aligned_spans_up_to_1g)
{
#if UINTPTR_MAX > 0xffffffffu
    const size_t reserve = 5 * GiB, top = GiB;
#else
    /* A 32-bit address space holds neither 5 GiB nor a 1 GiB-aligned run. */
    const size_t reserve = 768 * MiB, top = 256 * MiB;
#endif
    make_heap(reserve, 0, 0, 0, CS_PAGE, 0, 0);
    for (size_t align = CS_PAGE / 2; align <= top; align *= 2) {
        struct cs_span *s = cs_heap_alloc(h, 3, align, 0);
        ck_assert_msg(s != NULL, "alignment %zu refused", align);
        ck_assert_msg(cs_span_start(s) % align == 0, "span %#lx not aligned to %zu", (unsigned long)cs_span_start(s),
                      align);
        ck_assert_uint_eq(s->npages, 3);
        ck_assert_uint_eq(h->pages_inuse, 3);
        ck_assert_int_eq(cs_heap_check(h), 0);
        cs_heap_free(h, s);
    }
    ck_assert_int_eq(cs_heap_check(h), 0);
    ck_assert_uint_eq(unit_free_spans(h, NULL), unit_regions(h, NULL));
}
END_TEST

/* ---- limits and failures -------------------------------------------------------- */

START_TEST(limit_enforced)
{
    /* 40 pages (320 KiB): above the small-object limit, so the public call
       below takes the large path and meets the same limit. */
    make_heap(64 * MiB, 0, 0, 64 * CS_PAGE, 0, 0, 40 * CS_PAGE);
    ck_assert_uint_eq(h->limit_bytes, 40 * CS_PAGE);
    struct cs_span *s1 = cs_heap_alloc(h, 24, 0, 0);
    ck_assert_ptr_nonnull(s1);
    errno = 0;
    ck_assert_ptr_null(cs_heap_alloc(h, 17, 0, 0));
    ck_assert_int_eq(errno, ENOMEM);
    struct cs_span *s2 = cs_heap_alloc(h, 16, 0, 0);
    ck_assert_ptr_nonnull(s2);
    ck_assert_uint_eq(h->pages_inuse, 40);
    errno = 0;
    ck_assert_ptr_null(cs_heap_alloc(h, 1, 0, 0));
    ck_assert_int_eq(errno, ENOMEM);
    /* Growing in place counts against the limit too. */
    cs_heap_free(h, s2);
    ck_assert_int_eq(cs_heap_resize(h, s1, 41), ENOMEM);
    ck_assert_uint_eq(s1->npages, 24);
    ck_assert_int_eq(cs_heap_resize(h, s1, 40), 0);
    cs_heap_free(h, s1);
    /* The public face of the same limit. */
    errno = 0;
    ck_assert_ptr_null(cistern_arena_malloc(a, 41 * CS_PAGE));
    ck_assert_int_eq(errno, ENOMEM);
    void *p = cistern_arena_malloc(a, 40 * CS_PAGE);
    ck_assert_ptr_nonnull(p);
    cistern_free(p);
    ck_assert_int_eq(cs_heap_check(h), 0);
}
END_TEST

/* A source that refuses a request makes that allocation fail with ENOMEM,
   leaves the heap consistent, counts the refusal, and the next request that
   the source grants works. */
START_TEST(source_refusal_is_enomem)
{
    make_heap(64 * MiB, 0, 0, 0, CS_PAGE, 0, 0);
    f->fail_every = 2;
    struct cs_span *s1 = cs_heap_alloc(h, 4, 0, 0);
    ck_assert_ptr_nonnull(s1);
    errno = 0;
    ck_assert_ptr_null(cs_heap_alloc(h, 4, 0, 0));
    ck_assert_int_eq(errno, ENOMEM);
    ck_assert_int_eq(cs_heap_check(h), 0);
    struct cs_span *s3 = cs_heap_alloc(h, 4, 0, 0);
    ck_assert_ptr_nonnull(s3);
    cistern_sysalloc_stats_t st;
    ck_assert_int_eq(cistern_sysalloc_get_stats(f->src, &st), 0);
    ck_assert_uint_eq(st.failures, 1);
    ck_assert_uint_eq(f->nalloc, 3);
    ck_assert_uint_eq(st.reserved_bytes, 8 * CS_PAGE);
    cs_heap_free(h, s1);
    cs_heap_free(h, s3);
    ck_assert_int_eq(cs_heap_check(h), 0);
}
END_TEST

/* ---- release (decommit) ----------------------------------------------------------- */

/* A structure freed in full and built again at once takes its pages from
   the runs it just freed: one-page spans that no length list can serve
   carve the long run with the most committed pages, not the shortest one,
   which here is a second, smaller region whose tail was never touched.
   Carving that tail would commit new pages while the freed ones sit idle,
   and the footprint bound would then decommit the freed ones, only for the
   next round to fault them back in. */
#define REBUILD_SPANS 384
START_TEST(rebuild_after_full_free_commits_nothing)
{
    make_heap(64 * MiB, 0, 0, 2 * MiB, CS_PAGE, 0, 0);
    static struct cs_span *sp[REBUILD_SPANS];
    /* 256 one-page spans fill the first 2 MiB region; the rest go to a
       second region, a little shorter, whose tail stays untouched. */
    for (int i = 0; i < REBUILD_SPANS; i++) {
        if (i == 256)
            f->chunk = 2 * MiB - 16 * CS_PAGE;
        sp[i] = cs_heap_alloc(h, 1, 0, 0);
        ck_assert_ptr_nonnull(sp[i]);
    }
    for (int round = 0; round < 3; round++) {
        for (int i = 0; i < REBUILD_SPANS; i++)
            cs_heap_free(h, sp[i]);
        ck_assert_int_eq(cs_heap_check(h), 0);
        fake_clear_calls(f);
        for (int i = 0; i < REBUILD_SPANS; i++) {
            sp[i] = cs_heap_alloc(h, 1, 0, 0);
            ck_assert_ptr_nonnull(sp[i]);
        }
        ck_assert_msg(f->ncommit == 0 && f->ndecommit == 0,
                      "round %d: the rebuild committed %u ranges and decommitted %u", round,
                      f->ncommit, f->ndecommit);
    }
    for (int i = 0; i < REBUILD_SPANS; i++)
        cs_heap_free(h, sp[i]);
    ck_assert_int_eq(cs_heap_check(h), 0);
}
END_TEST

/* With a 64 KiB granule and a region that starts 8 KiB past a granule
   boundary (the heap asks for granule alignment; this source gives only
   heap-page alignment), freeing a run in the middle of in-use spans
   decommits exactly the granules wholly inside it, and nothing of the
   spans around it. */
START_TEST(release_respects_granule)
{
    const size_t G = 64 * KiB;
    make_heap(64 * MiB, CS_PAGE, G, 2 * MiB, 0, 0, 0);
    f->max_align = CS_PAGE;
    struct cs_span *x = cs_heap_alloc(h, 3, 0, 0);
    struct cs_span *y = cs_heap_alloc(h, 21, 0, 0);
    struct cs_span *z = cs_heap_alloc(h, 5, 0, 0);
    ck_assert_ptr_nonnull(x);
    ck_assert_ptr_nonnull(y);
    ck_assert_ptr_nonnull(z);
    ck_assert_msg(cs_span_start(x) % G != 0, "the region should start off the granule");
    uintptr_t lo = CS_ALIGN_UP(cs_span_start(y), G), hi = CS_ALIGN_DOWN(cs_span_end(y), G);
    ck_assert_uint_gt(hi, lo);
    cs_heap_free(h, y);
    size_t committed_before = h->pages_free_committed;
    ck_assert_uint_eq(committed_before, 21);

    fake_clear_calls(f);
    size_t got = cs_heap_release(h, 0);
    ck_assert_uint_eq(f->bad_calls, 0);
    ck_assert_uint_eq(f->ndecommit, 1);
    ck_assert_uint_eq(f->decommits[0].base, lo);
    ck_assert_uint_eq(f->decommits[0].len, hi - lo);
    ck_assert_uint_eq(got, (hi - lo) / CS_PAGE);
    ck_assert_uint_eq(h->pages_free_committed, 21 - (hi - lo) / CS_PAGE);
    ck_assert_int_eq(cs_heap_check(h), 0);

    /* The same pages handed out again are committed again, and the
       source's committed figure matches the pages in use. */
    uintptr_t y_start = cs_span_start(x) + 3 * CS_PAGE; /* where y was */
    fake_clear_calls(f);
    struct cs_span *y2 = cs_heap_alloc(h, 21, 0, 0);
    ck_assert_ptr_nonnull(y2);
    ck_assert_uint_eq(cs_span_start(y2), y_start);
    ck_assert_uint_eq(f->ncommit, 1);
    cistern_sysalloc_stats_t st;
    ck_assert_int_eq(cistern_sysalloc_get_stats(f->src, &st), 0);
    ck_assert_uint_eq(st.committed_bytes, (3 + 21 + 5) * CS_PAGE);
    ck_assert_uint_eq(st.in_use_bytes, (3 + 21 + 5) * CS_PAGE);
    cs_heap_free(h, y2);
    cs_heap_free(h, z);
    cs_heap_free(h, x);
    ck_assert_int_eq(cs_heap_check(h), 0);
}
END_TEST

/* Releasing twice with nothing freed in between has nothing new to drop:
   the pages at the unaligned edges of the run are still backed, so the
   heap's committed count must not fall below them, and no second decommit
   of granules already dropped should be issued. */
START_TEST(release_twice_keeps_edge_pages_counted)
{
    const size_t G = 64 * KiB;
    make_heap(64 * MiB, CS_PAGE, G, 2 * MiB, 0, 0, 0);
    struct cs_span *x = cs_heap_alloc(h, 3, 0, 0);
    struct cs_span *y = cs_heap_alloc(h, 21, 0, 0);
    struct cs_span *z = cs_heap_alloc(h, 5, 0, 0);
    ck_assert_ptr_nonnull(z);
    uintptr_t lo = CS_ALIGN_UP(cs_span_start(y), G), hi = CS_ALIGN_DOWN(cs_span_end(y), G);
    size_t edges = 21 - (hi - lo) / CS_PAGE;
    cs_heap_free(h, y);
    cs_heap_release(h, 0);
    ck_assert_uint_eq(h->pages_free_committed, edges);
    fake_clear_calls(f);
    cs_heap_release(h, 0);
    ck_assert_msg(h->pages_free_committed == edges,
                  "second release: %zu pages counted committed, but the %zu edge pages "
                  "outside whole granules are still backed",
                  h->pages_free_committed, edges);
    ck_assert_msg(f->ndecommit == 0, "second release decommitted %u ranges again", f->ndecommit);
    (void)x;
}
END_TEST

/* One block allocated and freed again and again in a fresh region only
   ever backs its own pages: the committed figures (the source's, and the
   arena's in-use plus committed free pages) must stay at those pages, not
   creep towards the whole region. */
START_TEST(committed_count_stable_under_churn)
{
    make_heap(64 * MiB, 0, 0, 128 * CS_PAGE, CS_PAGE, 0, 0);
    for (int i = 0; i < 20; i++) {
        struct cs_span *s = cs_heap_alloc(h, 21, 0, 0);
        ck_assert_ptr_nonnull(s);
        ck_assert_uint_eq(cs_span_start(s), f->regions[0].base); /* the same pages each time */
        cs_heap_free(h, s);
    }
    ck_assert_uint_eq(f->nregions, 1);
    cistern_sysalloc_stats_t st;
    ck_assert_int_eq(cistern_sysalloc_get_stats(f->src, &st), 0);
    ck_assert_msg(st.committed_bytes <= 21 * CS_PAGE,
                  "source counts %zu pages committed; only 21 were ever used",
                  st.committed_bytes / CS_PAGE);
    ck_assert_msg(h->pages_free_committed <= 21,
                  "heap counts %zu free pages committed; only 21 were ever used",
                  h->pages_free_committed);
}
END_TEST

/* ---- resize in place ---------------------------------------------------------------- */

START_TEST(resize_grow_shrink_in_place)
{
    make_heap(64 * MiB, 0, 0, 128 * CS_PAGE, CS_PAGE, 0, 0);
    struct cs_span *s = cs_heap_alloc(h, 10, 0, 0);
    ck_assert_ptr_nonnull(s);
    uintptr_t start = cs_span_start(s);
    ck_assert_uint_eq(start, cs_region_base(s->region));

    ck_assert_int_eq(cs_heap_resize(h, s, 30), 0);
    ck_assert_uint_eq(cs_span_start(s), start);
    ck_assert_uint_eq(s->npages, 30);
    ck_assert_uint_eq(h->pages_inuse, 30);
    ck_assert_uint_eq(h->large_pages, 30);
    ck_assert_ptr_eq(cs_pagemap_get((void *)(start + 30 * CS_PAGE - 1)), s);
    ck_assert_int_eq(cs_heap_check(h), 0);

    ck_assert_int_eq(cs_heap_resize(h, s, 5), 0);
    ck_assert_uint_eq(cs_span_start(s), start);
    ck_assert_uint_eq(s->npages, 5);
    ck_assert_uint_eq(h->pages_inuse, 5);
    ck_assert_uint_eq(h->large_pages, 5);
    ck_assert_int_eq(cs_heap_check(h), 0);
    size_t free_pages;
    ck_assert_uint_eq(unit_free_spans(h, &free_pages), 1); /* the tail coalesced */
    ck_assert_uint_eq(free_pages, 123);

    /* A neighbour in use blocks growth and leaves the span as it was. */
    struct cs_span *t = cs_heap_alloc(h, 10, 0, 0);
    ck_assert_ptr_nonnull(t);
    ck_assert_uint_eq(cs_span_start(t), start + 5 * CS_PAGE);
    ck_assert_int_eq(cs_heap_resize(h, s, 6), ENOMEM);
    ck_assert_uint_eq(s->npages, 5);
    cs_heap_free(h, t);

    /* Growth stops at the region's end. */
    ck_assert_int_eq(cs_heap_resize(h, s, 129), ENOMEM);
    ck_assert_int_eq(cs_heap_resize(h, s, 128), 0);
    ck_assert_uint_eq(s->npages, 128);
    ck_assert_uint_eq(h->pages_free, 0);
    ck_assert_int_eq(cs_heap_check(h), 0);
    cs_heap_free(h, s);
    ck_assert_int_eq(cs_heap_check(h), 0);
    ck_assert_uint_eq(h->pages_free, 128);
}
END_TEST

/* ---- placement of big blocks, pages a block leaves, the footprint bound ------------- */

/* A big block goes where free pages are still committed rather than to the
   best fit: a 200-page run freed dirty between spans in use, and a 112-page
   tail never touched.  Best fit would take the tail and fault in 100 new
   pages while 200 committed ones sit idle. */
START_TEST(big_block_placed_on_committed_pages)
{
    make_heap(64 * MiB, 0, 0, 512 * CS_PAGE, CS_PAGE, 0, 0);
    struct cs_span *x = cs_heap_alloc(h, 100, 0, 0);
    struct cs_span *y = cs_heap_alloc(h, 200, 0, 0);
    struct cs_span *z = cs_heap_alloc(h, 100, 0, 0);
    ck_assert_ptr_nonnull(x);
    ck_assert_ptr_nonnull(y);
    ck_assert_ptr_nonnull(z);
    ck_assert_ptr_eq(x->region, z->region);
    uintptr_t lo = cs_span_start(y), hi = cs_span_end(y);
    cs_heap_free(h, y);
    ck_assert_uint_eq(h->pages_free_committed, 200);
    fake_clear_calls(f);
    struct cs_span *w = cs_heap_alloc(h, 100, 0, 0);
    ck_assert_ptr_nonnull(w);
    ck_assert_msg(cs_span_start(w) >= lo && cs_span_end(w) <= hi,
                  "the block went to fresh pages, not the committed run");
    ck_assert_uint_eq(f->ncommit, 0);
    ck_assert_uint_eq(h->pages_free_committed, 100);
    ck_assert_int_eq(cs_heap_check(h), 0);
}
END_TEST

/* Committed pages in the middle of a free run: the block is placed over
   them exactly, not at the run's start. */
START_TEST(big_block_placed_over_committed_middle)
{
    make_heap(64 * MiB, 0, 0, 512 * CS_PAGE, CS_PAGE, 0, 0);
    struct cs_span *x = cs_heap_alloc(h, 50, 0, 0);
    struct cs_span *y = cs_heap_alloc(h, 100, 0, 0);
    ck_assert_ptr_nonnull(x);
    ck_assert_ptr_nonnull(y);
    uintptr_t y_start = cs_span_start(y);
    cs_heap_free(h, x);
    cs_heap_release(h, 0); /* x's pages decommitted */
    cs_heap_free(h, y);    /* one free run: 50 fresh, 100 committed, 362 fresh */
    ck_assert_uint_eq(unit_free_spans(h, NULL), 1);
    ck_assert_uint_eq(h->pages_free_committed, 100);
    fake_clear_calls(f);
    struct cs_span *w = cs_heap_alloc(h, 100, 0, 0);
    ck_assert_ptr_nonnull(w);
    ck_assert_uint_eq(cs_span_start(w), y_start);
    ck_assert_uint_eq(f->ncommit, 0);
    ck_assert_uint_eq(h->pages_free_committed, 0);
    ck_assert_int_eq(cs_heap_check(h), 0);
}
END_TEST

/* A big block that moved (realloc) leaves its pages decommitted at once;
   a small one leaves them for reuse, as a plain free does. */
START_TEST(moved_block_pages_decommitted)
{
    make_heap(64 * MiB, 0, 0, 512 * CS_PAGE, CS_PAGE, 0, 0);
    struct cs_span *x = cs_heap_alloc(h, 64, 0, 0);
    struct cs_span *y = cs_heap_alloc(h, 64, 0, 0);
    ck_assert_ptr_nonnull(x);
    ck_assert_ptr_nonnull(y);
    uintptr_t lo = cs_span_start(x);
    fake_clear_calls(f);
    cs_heap_free_moved(h, x);
    ck_assert_uint_eq(f->bad_calls, 0);
    ck_assert_uint_eq(f->ndecommit, 1);
    ck_assert_uint_eq(f->decommits[0].base, lo);
    ck_assert_uint_eq(f->decommits[0].len, 64 * CS_PAGE);
    ck_assert_uint_eq(h->pages_free_committed, 0);
    ck_assert_int_eq(cs_heap_check(h), 0);

    struct cs_span *z = cs_heap_alloc(h, 8, 0, 0);
    ck_assert_ptr_nonnull(z);
    fake_clear_calls(f);
    cs_heap_free_moved(h, z);
    ck_assert_uint_eq(f->ndecommit, 0);
    ck_assert_uint_eq(h->pages_free_committed, 8);
    ck_assert_int_eq(cs_heap_check(h), 0);
}
END_TEST

/* Shrinking a large span by many pages decommits them; by a few keeps them. */
START_TEST(shrink_decommits_big_tail)
{
    make_heap(64 * MiB, 0, 0, 512 * CS_PAGE, CS_PAGE, 0, 0);
    struct cs_span *x = cs_heap_alloc(h, 100, 0, 0);
    ck_assert_ptr_nonnull(x);
    fake_clear_calls(f);
    ck_assert_int_eq(cs_heap_resize(h, x, 90), 0);
    ck_assert_uint_eq(f->ndecommit, 0);
    ck_assert_uint_eq(h->pages_free_committed, 10);
    ck_assert_int_eq(cs_heap_resize(h, x, 20), 0);
    ck_assert_uint_eq(f->ndecommit, 1);
    ck_assert_uint_eq(f->decommits[0].base, cs_span_start(x) + 20 * CS_PAGE);
    ck_assert_uint_eq(f->decommits[0].len, 70 * CS_PAGE);
    ck_assert_uint_eq(h->pages_free_committed, 10);
    ck_assert_uint_eq(f->bad_calls, 0);
    ck_assert_int_eq(cs_heap_check(h), 0);
}
END_TEST

static size_t footprint(void)
{
    return h->pages_inuse + h->pages_free_committed;
}

static size_t footprint_bound(void)
{
    size_t slack = h->peak_pages / 4, least = 16 * MiB / CS_PAGE;
    return h->peak_pages + (slack > least ? slack : least);
}

/* Committed pages never run more than the slack past the recent peak of
   pages in use: six 8 MiB regions used then five freed (dirty, too few for
   the dirty trim), then blocks that fit none of the freed runs.  Without
   the bound every one of them adds committed memory; with it, dirty runs
   are decommitted to make room.  A release lets the peak follow the use
   down. */
START_TEST(footprint_bounded_by_recent_peak)
{
    const size_t R = 8 * MiB / CS_PAGE;
    make_heap(1 * GiB, 0, 0, 8 * MiB, 0, 0, 0);
    struct cs_span *s[6];
    for (int i = 0; i < 6; i++) {
        s[i] = cs_heap_alloc(h, R, 0, 0);
        ck_assert_ptr_nonnull(s[i]);
    }
    ck_assert_uint_eq(h->peak_pages, 6 * R);
    for (int i = 1; i < 6; i++)
        cs_heap_free(h, s[i]);
    ck_assert_uint_eq(h->pages_free_committed, 5 * R);
    fake_clear_calls(f);
    for (int i = 0; i < 6; i++) {
        ck_assert_ptr_nonnull(cs_heap_alloc(h, R + 1, 0, 0));
        ck_assert_msg(footprint() <= footprint_bound(),
                      "step %d: %zu pages committed, bound %zu", i, footprint(), footprint_bound());
    }
    ck_assert_uint_gt(f->ndecommit, 0);
    ck_assert_uint_lt(h->pages_free_committed, 5 * R);
    ck_assert_uint_eq(f->bad_calls, 0);
    ck_assert_int_eq(cs_heap_check(h), 0);

    size_t peak = h->peak_pages, inuse = h->pages_inuse;
    cs_heap_free(h, s[0]);
    cs_heap_release(h, UINT64_MAX / 8);
    ck_assert_uint_lt(h->peak_pages, peak);
    ck_assert_uint_ge(h->peak_pages, inuse - R);
}
END_TEST

/* The dirty trim leaves alone as many dirty pages as the program took from
   the heap lately (it frees and allocates in turn: they come back into
   use at once), and trims a heap that only frees.  The clock is not
   waited for: the runs' free times are set back past the grace period and
   the recent takings are set by hand. */
static void age_free_runs(void)
{
    for (int i = 0; i < CS_MAX_CHAIN; i++) {
        struct cs_freeset *fs = h->slot[i].free;
        if (!fs)
            continue;
        for (int len = 0; len <= CS_HEAP_LISTS; len++)
            for (struct cs_span *s = len ? fs->bylen[len] : fs->big; s; s = s->next)
                s->free_since -= 10000;
    }
}

START_TEST(dirty_trim_spares_pages_taken_again)
{
    const size_t R = 8 * MiB / CS_PAGE;
    enum { N = 13 };
    make_heap(1 * GiB, 0, 0, 8 * MiB, 0, 0, 0);
    struct cs_span *s[N];
    for (int i = 0; i < N; i++) {
        s[i] = cs_heap_alloc(h, R, 0, 0);
        ck_assert_ptr_nonnull(s[i]);
    }
    for (int i = 0; i < N - 2; i++)
        cs_heap_free(h, s[i]);
    age_free_runs();
    fake_clear_calls(f);
    /* Taken lately: more than will be dirty. */
    h->taken_since_ms = cs_clock_ms();
    h->taken_cur = N * R;
    h->taken_prev = 0;
    cs_heap_free(h, s[N - 2]);
    ck_assert_uint_eq(f->ndecommit, 0);
    ck_assert_uint_eq(h->pages_free_committed, (N - 1) * R);

    /* Nothing taken lately: past 64 MiB of dirty pages, the aged runs go. */
    h->taken_since_ms = cs_clock_ms();
    h->taken_cur = h->taken_prev = 0;
    cs_heap_free(h, s[N - 1]);
    ck_assert_uint_gt(f->ndecommit, 0);
    ck_assert_uint_le(h->pages_free_committed, 64 * MiB / CS_PAGE);
    ck_assert_uint_eq(f->bad_calls, 0);
    ck_assert_int_eq(cs_heap_check(h), 0);
}
END_TEST

/* Own regions (mremap-able blocks) come only from the os source: a heap
   whose chain starts with any other source, injected above all, refuses. */
START_TEST(own_region_refused_off_os)
{
    make_heap(64 * MiB, 0, 0, 0, 0, CISTERN_SYSALLOC_INJECTED, 0);
    errno = 0;
    ck_assert_ptr_null(cs_heap_alloc_own(h, 64, 32));
    ck_assert_int_eq(errno, ENOTSUP);
    struct cs_span *x = cs_heap_alloc(h, 64, 0, 0);
    ck_assert_ptr_nonnull(x);
    ck_assert_int_eq(cs_heap_remap(h, x, 128, 0), ENOTSUP);
    ck_assert_uint_eq(x->npages, 64);
    ck_assert_uint_eq(f->nunmap, 0);
    ck_assert_int_eq(cs_heap_check(h), 0);
}
END_TEST

/* ---- giving regions back ------------------------------------------------------------- */

/* Destroying an arena hands each region of a plain source back through
   unmap, once and exactly as it was given. */
START_TEST(destroy_unmaps_each_region)
{
    make_heap(64 * MiB, 0, 0, 32 * CS_PAGE, CS_PAGE, 0, 0);
    for (int i = 0; i < 5; i++)
        ck_assert_ptr_nonnull(cs_heap_alloc(h, 20, 0, 0));
    unsigned nregions = f->nregions;
    ck_assert_uint_eq(nregions, 5);
    ck_assert_int_eq(cistern_arena_destroy(a), 0);
    ck_assert_uint_eq(f->nunmap, nregions);
    ck_assert_uint_eq(f->bad_calls, 0);
}
END_TEST

/* Invariant 1: an injected source is never unmapped; its regions are
   decommitted (whole granules) and kept for reuse. */
START_TEST(destroy_never_unmaps_injected)
{
    make_heap(64 * MiB, 0, 0, 32 * CS_PAGE, CS_PAGE, CISTERN_SYSALLOC_INJECTED, 0);
    for (int i = 0; i < 5; i++)
        ck_assert_ptr_nonnull(cs_heap_alloc(h, 20, 0, 0));
    ck_assert_int_eq(cistern_arena_destroy(a), 0);
    ck_assert_uint_eq(f->nunmap, 0);
    ck_assert_uint_gt(f->ndecommit, 0);
    ck_assert_uint_eq(f->bad_calls, 0);
    ck_assert_int_eq(cistern_sysalloc_release(f->src), 0);
    ck_assert_uint_eq(f->nunmap, 0);
    ck_assert_uint_eq(f->destroyed, 1);
}
END_TEST

static Suite *make_suite(void)
{
    Suite *s = suite_create("pageheap");
    TCase *tc = tcase_create("spans");
    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, alloc_free_random_coalesces);
    tcase_add_test(tc, adjacent_regions_never_merge);
    tcase_add_test(tc, aligned_spans_up_to_1g);
    suite_add_tcase(s, tc);

    tc = tcase_create("limits");
    tcase_add_test(tc, limit_enforced);
    tcase_add_test(tc, source_refusal_is_enomem);
    suite_add_tcase(s, tc);

    tc = tcase_create("release");
    tcase_add_test(tc, release_respects_granule);
    tcase_add_test(tc, rebuild_after_full_free_commits_nothing);
    tcase_add_test(tc, release_twice_keeps_edge_pages_counted);
    tcase_add_test(tc, committed_count_stable_under_churn);
    suite_add_tcase(s, tc);

    tc = tcase_create("resize");
    tcase_add_test(tc, resize_grow_shrink_in_place);
    suite_add_tcase(s, tc);

    tc = tcase_create("footprint");
    tcase_add_test(tc, big_block_placed_on_committed_pages);
    tcase_add_test(tc, big_block_placed_over_committed_middle);
    tcase_add_test(tc, moved_block_pages_decommitted);
    tcase_add_test(tc, shrink_decommits_big_tail);
    tcase_add_test(tc, footprint_bounded_by_recent_peak);
    tcase_add_test(tc, dirty_trim_spares_pages_taken_again);
    tcase_add_test(tc, own_region_refused_off_os);
    suite_add_tcase(s, tc);

    tc = tcase_create("regions");
    tcase_add_test(tc, destroy_unmaps_each_region);
    tcase_add_test(tc, destroy_never_unmaps_injected);
    suite_add_tcase(s, tc);
    return s;
}

CS_TEST_MAIN(make_suite)
