/*
 * test_central.c - central free lists and the transfer cache, driven
 * through cs_central_* on an arena of its own (no thread cache in between).
 */
#include "unit.h"
#include "fake_source.h"

#include <signal.h>
#include <stdlib.h>

#define MiB ((size_t)1 << 20)

static struct fake_source *f;
static cistern_arena_t *a;

static void setup(void)
{
    unit_init();
    f = fake_new("fake", 1024 * MiB, 0, 0, 0);
    f->chunk = 4 * MiB;
    a = fake_arena(f, CISTERN_ARENA_NO_TCACHE, 0);
}

static int by_addr(const void *x, const void *y)
{
    uintptr_t p = (uintptr_t)*(void *const *)x, q = (uintptr_t)*(void *const *)y;
    return p < q ? -1 : p > q;
}

/* p is an object of class cls of arena a, out of its span (bit clear). */
static void assert_live_object(void *p, unsigned cls)
{
    struct cs_span *s = cs_pagemap_get(p);
    ck_assert_msg(s != NULL, "%p maps to no span", p);
    ck_assert_int_eq(s->state, CS_SPAN_SMALL);
    ck_assert_uint_eq(s->cls, cls);
    ck_assert_ptr_eq(s->arena, a);
    uintptr_t off = (uintptr_t)p - cs_span_start(s);
    ck_assert_msg(cs_span_is_object_start(s, off), "%p is not an object start", p);
    uint32_t idx = cs_span_index(s, off);
    ck_assert_msg(!(s->freebits[idx / 64] & ((uint64_t)1 << (idx % 64))),
                  "%p handed out but still free in its span", p);
    ck_assert_msg(fake_owns(f, cs_span_start(s), s->npages * CS_PAGE), "span outside the source");
}

/* Classes from the smallest to the largest, with spans of one and of many
   pages. */
static const size_t sizes[] = { 8, 48, 64, 1024, 4000, 20000, 100000, 256 * 1024 };

START_TEST(remove_insert_round_trip)
{
    size_t size = sizes[_i];
    unsigned cls = cs_size_class(size);
    const struct cs_class_info *ci = &cs_classes[cls];
    struct cs_central *c = &a->central[cls];
    unsigned total = 3 * ci->nobj + 5;
    void **objs = calloc(total, sizeof *objs);
    ck_assert_ptr_nonnull(objs);

    for (unsigned got = 0; got < total;) {
        unsigned want = total - got < ci->batch ? total - got : ci->batch;
        unsigned n = cs_central_remove(a, cls, objs + got, want);
        /* Short only where a span ran out: the next call fetches one. */
        ck_assert_uint_ge(n, 1);
        ck_assert_uint_le(n, want);
        got += n;
    }
    for (unsigned i = 0; i < total; i++)
        assert_live_object(objs[i], cls);
    ck_assert_uint_eq(c->out_objects, total);
    ck_assert_uint_eq(c->nspans, (total + ci->nobj - 1) / ci->nobj);
    ck_assert_uint_eq(a->heap.pages_inuse, c->nspans * ci->pages);

    void **sorted = calloc(total, sizeof *sorted);
    memcpy(sorted, objs, total * sizeof *objs);
    qsort(sorted, total, sizeof *sorted, by_addr);
    for (unsigned i = 1; i < total; i++)
        ck_assert_msg(sorted[i - 1] != sorted[i], "object %p handed out twice", sorted[i]);
    free(sorted);

    /* Back in batches: the first ones park in the transfer cache, the rest
       go to their spans; nothing is lost either way. */
    for (unsigned i = 0; i < total; i += ci->batch) {
        unsigned n = total - i < ci->batch ? total - i : ci->batch;
        cs_central_insert(a, cls, objs + i, n);
    }
    ck_assert_uint_gt(c->xfer_n, 0);
    ck_assert_uint_eq(c->out_objects, c->xfer_n);
    ck_assert_uint_eq(cs_central_cached(c), c->xfer_n);
    ck_assert_int_eq(cs_heap_check(&a->heap), 0);

    cs_central_drain(a, cls);
    ck_assert_uint_eq(c->xfer_n, 0);
    ck_assert_uint_eq(c->out_objects, 0);
    ck_assert_uint_eq(c->nspans, 0);
    ck_assert_ptr_null(c->nonempty);
    ck_assert_uint_eq(a->heap.pages_inuse, 0);
    ck_assert_int_eq(cs_heap_check(&a->heap), 0);
    free(objs);
}
END_TEST

/* A batch parked in the transfer cache is what the next remove gets,
   without touching a span or asking the heap for one. */
START_TEST(transfer_cache_serves_first)
{
    unsigned cls = cs_size_class(64);
    struct cs_central *c = &a->central[cls];
    unsigned batch = cs_classes[cls].batch;
    void *out[64], *back[64];
    ck_assert_uint_le(batch, 64);
    ck_assert_uint_eq(cs_central_remove(a, cls, out, batch), batch);
    size_t pages = a->heap.pages_inuse;
    uint64_t spans = c->nspans;
    cs_central_insert(a, cls, out, batch);
    ck_assert_uint_eq(c->xfer_n, batch);
    ck_assert_uint_eq(cs_central_remove(a, cls, back, batch), batch);
    ck_assert_uint_eq(c->xfer_n, 0);
    ck_assert_uint_eq(c->out_objects, batch);
    ck_assert_uint_eq(c->nspans, spans);
    ck_assert_uint_eq(a->heap.pages_inuse, pages);
    qsort(out, batch, sizeof out[0], by_addr);
    qsort(back, batch, sizeof back[0], by_addr);
    ck_assert_mem_eq(out, back, batch * sizeof out[0]);
}
END_TEST

/* A span whose objects all come back one by one returns to the heap. */
START_TEST(insert_one_frees_span)
{
    unsigned cls = cs_size_class(2048);
    unsigned nobj = cs_classes[cls].nobj;
    void *out[CS_SPAN_MAX_OBJS];
    ck_assert_uint_eq(cs_central_remove(a, cls, out, nobj), nobj);
    ck_assert_uint_eq(a->central[cls].nspans, 1);
    for (unsigned i = 0; i < nobj; i++)
        cs_central_insert_one(a, cs_pagemap_get(out[i]), out[i]);
    ck_assert_uint_eq(a->central[cls].nspans, 0);
    ck_assert_uint_eq(a->central[cls].out_objects, 0);
    ck_assert_uint_eq(a->heap.pages_inuse, 0);
    ck_assert_int_eq(cs_heap_check(&a->heap), 0);
}
END_TEST

/* A span fetched for a remove is used by that remove, even when another
   thread lists a span while the central lock is dropped for the fetch:
   left on the list wholly free, it would keep its pages from the heap
   after every object came back.  The fake source's hook plays the other
   thread, returning an object of a full span during the fetch. */
static void *returned_meanwhile;
static void return_one_meanwhile(struct fake_source *src)
{
    if (returned_meanwhile)
        cs_central_insert_one(a, cs_pagemap_get(returned_meanwhile), returned_meanwhile);
    returned_meanwhile = NULL;
    src->on_alloc = NULL;
}

START_TEST(fresh_span_used_at_once)
{
    unsigned cls = cs_size_class(4096);
    unsigned nobj = cs_classes[cls].nobj;
    void *full[CS_SPAN_MAX_OBJS];
    f->chunk = 0; /* one region per span: every span fetch asks the source */
    ck_assert_uint_eq(cs_central_remove(a, cls, full, nobj), nobj);
    returned_meanwhile = full[0];
    f->on_alloc = return_one_meanwhile;
    void *p;
    ck_assert_uint_eq(cs_central_remove(a, cls, &p, 1), 1);
    ck_assert_ptr_null(returned_meanwhile); /* the hook ran */
    ck_assert_ptr_ne(cs_pagemap_get(p), cs_pagemap_get(full[0]));
    ck_assert_uint_eq(a->central[cls].nspans, 2);
    /* Everything back: both spans go to the heap. */
    cs_central_insert_one(a, cs_pagemap_get(p), p);
    for (unsigned i = 1; i < nobj; i++)
        cs_central_insert_one(a, cs_pagemap_get(full[i]), full[i]);
    ck_assert_uint_eq(a->central[cls].nspans, 0);
    ck_assert_uint_eq(a->heap.pages_inuse, 0);
    ck_assert_int_eq(cs_heap_check(&a->heap), 0);
}
END_TEST

/* A remove that finds some free objects does not fetch a span for the
   rest: a cache refill gets fewer objects instead of a span's worth that
   the program has not asked for. */
START_TEST(remove_short_before_new_span)
{
    unsigned cls = cs_size_class(2048);
    unsigned nobj = cs_classes[cls].nobj;
    void *out[CS_SPAN_MAX_OBJS];
    ck_assert_uint_ge(nobj, 4);
    ck_assert_uint_eq(cs_central_remove(a, cls, out, nobj), nobj);
    for (unsigned i = 0; i < 3; i++)
        cs_central_insert_one(a, cs_pagemap_get(out[i]), out[i]);
    void *got[8];
    ck_assert_uint_eq(cs_central_remove(a, cls, got, 8), 3);
    ck_assert_uint_eq(a->central[cls].nspans, 1);
    /* Nothing free now: the next remove fetches a span and fills up. */
    ck_assert_uint_eq(cs_central_remove(a, cls, got, 2), 2);
    ck_assert_uint_eq(a->central[cls].nspans, 2);
}
END_TEST

/* ---- double insert: fatal ---------------------------------------------------- */

/* Each case keeps a second object of the span out, so the span stays in
   use and the repeated insert meets a live span record. */

START_TEST(double_insert_one_aborts)
{
    unsigned cls = cs_size_class(64);
    void *o[2];
    ck_assert_uint_eq(cs_central_remove(a, cls, o, 2), 2);
    struct cs_span *s = cs_pagemap_get(o[0]);
    cs_central_insert_one(a, s, o[0]);
    cs_central_insert_one(a, s, o[0]);
}
END_TEST

START_TEST(double_insert_batch_aborts)
{
    unsigned cls = cs_size_class(64);
    unsigned big = cs_classes[cls].batch * 8 + 2; /* more than the transfer cache takes */
    void **o = calloc(big + 1, sizeof *o);
    for (unsigned got = 0, n; got < big; got += n)
        ck_assert_uint_ge(n = cs_central_remove(a, cls, o + got, big - got), 1);
    o[big - 1] = o[0]; /* the batch holds o[0] twice */
    cs_central_insert(a, cls, o, big);
}
END_TEST

START_TEST(double_insert_drain_aborts)
{
    unsigned cls = cs_size_class(64);
    void *o[2];
    ck_assert_uint_eq(cs_central_remove(a, cls, o, 2), 2);
    cs_central_insert(a, cls, &o[0], 1);
    cs_central_insert(a, cls, &o[0], 1);
    cs_central_drain(a, cls);
}
END_TEST

static Suite *make_suite(void)
{
    Suite *s = suite_create("central");
    TCase *tc = tcase_create("lists");
    tcase_add_checked_fixture(tc, setup, NULL);
    tcase_add_loop_test(tc, remove_insert_round_trip, 0, (int)(sizeof sizes / sizeof sizes[0]));
    tcase_add_test(tc, transfer_cache_serves_first);
    tcase_add_test(tc, insert_one_frees_span);
    tcase_add_test(tc, fresh_span_used_at_once);
    tcase_add_test(tc, remove_short_before_new_span);
    suite_add_tcase(s, tc);

    tc = tcase_create("double_insert");
    tcase_add_checked_fixture(tc, setup, NULL);
    tcase_add_test_raise_signal(tc, double_insert_one_aborts, SIGABRT);
    tcase_add_test_raise_signal(tc, double_insert_batch_aborts, SIGABRT);
    tcase_add_test_raise_signal(tc, double_insert_drain_aborts, SIGABRT);
    suite_add_tcase(s, tc);
    return s;
}

CS_TEST_MAIN(make_suite)
