/*
 * stats.c - statistics, the report, and the arena walk.
 *
 * Figures are gathered from the counters each layer keeps for itself: the
 * page heap (pages in use, free, committed), the central lists (objects out
 * of their spans), the thread caches (objects held, malloc and free counts),
 * the sources (reserved, committed, in use, failures).  Nothing on a fast
 * path updates a shared counter.
 */
#include "arena.h"
#include "export.h"
#include "init.h"
#include "meta.h"
#include "pagemap.h"
#include "region.h"
#include "source.h"
#include "span.h"
#include "stats.h"
#include "tcache.h"
#include "sysalloc/sources.h"

#include <cistern.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

struct tc_sum {
    const struct cistern_arena *a;
    uint64_t nmalloc;
    size_t cached_objects, cached_bytes;
};

static void sum_tcache(struct cs_tcache *tc, void *ctx)
{
    struct tc_sum *t = ctx;
    if (tc->arena != t->a || tc->epoch != cs_atomic_load_relaxed(&t->a->epoch))
        return;
    /* Another thread's counters, read without stopping it: a snapshot that
       may be a few operations old, which is all statistics promise. */
    const volatile struct cs_tcache *v = tc;
    t->nmalloc += v->nmalloc;
    for (unsigned c = 1; c < CS_NCLASSES; c++) {
        size_t n = cs_tcache_count(v, c);
        t->cached_objects += n;
        t->cached_bytes += n * cs_classes[c].size;
    }
}

static void arena_stats(const struct cistern_arena *a, cistern_arena_stats_t *out)
{
    struct tc_sum t = { a, 0, 0, 0 };
    cs_tcache_foreach(sum_tcache, &t);
    size_t out_bytes = 0, out_objects = 0;
    for (unsigned c = 1; c < CS_NCLASSES; c++) {
        const struct cs_central *ce = &a->central[c];
        size_t objs = cs_atomic_load_relaxed(&ce->out_objects);
        size_t xfer = cs_atomic_load_relaxed(&ce->xfer_n);
        size_t out = objs - (xfer < objs ? xfer : objs);
        out_objects += out;
        out_bytes += out * cs_classes[c].size;
    }
    const struct cs_heap *h = &a->heap;
    size_t live_bytes = out_bytes > t.cached_bytes ? out_bytes - t.cached_bytes : 0;
    out->allocated_bytes = live_bytes + cs_atomic_load_relaxed(&h->large_pages) * CS_PAGE;
    out->active_bytes = cs_atomic_load_relaxed(&h->pages_inuse) * CS_PAGE;
    out->committed_bytes = out->active_bytes +
                           cs_atomic_load_relaxed(&h->pages_free_committed) * CS_PAGE;
    out->nmalloc = t.nmalloc + cs_atomic_load_relaxed(&a->nmalloc_direct) +
                   cs_atomic_load_relaxed(&a->nmalloc_dead) +
                   cs_atomic_load_relaxed(&h->nlarge_malloc);
    /* Frees are not counted on the fast path: every allocation either
       lives or was freed. */
    size_t live_small = out_objects > t.cached_objects ? out_objects - t.cached_objects : 0;
    uint64_t live = live_small + cs_atomic_load_relaxed(&h->nlarge_malloc) -
                    cs_atomic_load_relaxed(&h->nlarge_free);
    out->nfree = out->nmalloc > live ? out->nmalloc - live : 0;
}

CS_EXPORT int cistern_arena_get_stats(const cistern_arena_t *a, cistern_arena_stats_t *out)
{
    if (cs_arena_check(a, "cistern_arena_get_stats") || !out)
        return EINVAL;
    arena_stats(a, out);
    return 0;
}

/* ---- the report ------------------------------------------------------------------ */

struct report {
    FILE *out;
    int json;
    int first;
};

/* A name as a JSON string body: quotes, backslashes and control bytes
   escaped (names come from the program and may hold anything). */
static const char *json_escape(const char *in, char *out, size_t cap)
{
    size_t o = 0;
    for (; *in && o + 7 < cap; in++) {
        unsigned char c = (unsigned char)*in;
        if (c == '"' || c == '\\') {
            out[o++] = '\\';
            out[o++] = (char)c;
        } else if (c < 0x20) {
            o += (size_t)snprintf(out + o, cap - o, "\\u%04x", c);
        } else {
            out[o++] = (char)c;
        }
    }
    out[o] = 0;
    return out;
}

static const char *source_mode(const struct cistern_sysalloc *s)
{
    if (s->kind != CS_SRC_HUGEPAGE)
        return "";
    int m = cs_hugepage_mode();
    return m == 1 ? "hugetlb" : m == 0 ? "thp" : "unused";
}

static void print_source(struct cistern_sysalloc *s, void *ctx)
{
    struct report *r = ctx;
    cistern_sysalloc_stats_t st;
    char esc[6 * CS_SOURCE_NAME + 1];
    cistern_sysalloc_get_stats(s, &st);
    if (r->json) {
        fprintf(r->out,
                "%s\n    {\"name\": \"%s\", \"flags\": %u, \"mode\": \"%s\", \"reserved_bytes\": %zu, "
                "\"committed_bytes\": %zu, \"in_use_bytes\": %zu, \"failures\": %llu}",
                r->first ? "" : ",", json_escape(st.name, esc, sizeof esc), st.flags, source_mode(s),
                st.reserved_bytes,
                st.committed_bytes, st.in_use_bytes, (unsigned long long)st.failures);
    } else {
        fprintf(r->out, "  source %-10s flags %c%c%c%c %-8s reserved %12zu committed %12zu in use %12zu "
                        "failures %llu\n",
                st.name, st.flags & CISTERN_SYSALLOC_INJECTED ? 'I' : '-',
                st.flags & CISTERN_SYSALLOC_NOTOUCH ? 'N' : '-',
                st.flags & CISTERN_SYSALLOC_SHARED ? 'S' : '-',
                st.flags & CISTERN_SYSALLOC_HUGE ? 'H' : '-', source_mode(s), st.reserved_bytes,
                st.committed_bytes, st.in_use_bytes, (unsigned long long)st.failures);
    }
    r->first = 0;
}

static void print_arena(struct cistern_arena *a, void *ctx)
{
    struct report *r = ctx;
    cistern_arena_stats_t st;
    char esc[6 * CS_ARENA_NAME + 1];
    arena_stats(a, &st);
    if (r->json) {
        fprintf(r->out,
                "%s\n    {\"name\": \"%s\", \"id\": %u, \"allocated_bytes\": %zu, \"active_bytes\": %zu, "
                "\"committed_bytes\": %zu, \"nmalloc\": %llu, \"nfree\": %llu, \"limit_bytes\": %zu, "
                "\"sources\": [",
                r->first ? "" : ",", json_escape(a->name, esc, sizeof esc), a->id,
                st.allocated_bytes, st.active_bytes,
                st.committed_bytes, (unsigned long long)st.nmalloc, (unsigned long long)st.nfree,
                a->heap.limit_bytes);
        for (unsigned k = 0; k < a->heap.norder; k++)
            fprintf(r->out, "%s\"%s\"", k ? ", " : "",
                    json_escape(a->heap.slot[a->heap.order[k]].src->name, esc, sizeof esc));
        fprintf(r->out, "]}");
    } else {
        fprintf(r->out, "  arena %-10s id %-4u allocated %12zu active %12zu committed %12zu "
                        "nmalloc %llu nfree %llu chain",
                a->name, a->id, st.allocated_bytes, st.active_bytes, st.committed_bytes,
                (unsigned long long)st.nmalloc, (unsigned long long)st.nfree);
        for (unsigned k = 0; k < a->heap.norder; k++)
            fprintf(r->out, " %s", a->heap.slot[a->heap.order[k]].src->name);
        fprintf(r->out, "\n");
    }
    r->first = 0;
}

CS_EXPORT void cistern_stats_print(FILE *out, int json)
{
    if (!out)
        out = stderr;
    cs_ensure_init();
    size_t nregions, region_bytes;
    cs_region_totals(&nregions, &region_bytes);
    struct report r = { out, json, 1 };
    if (json) {
        fprintf(out, "{\"cistern\": {\"version\": \"%d.%d.%d\", \"metadata_bytes\": %zu, "
                     "\"regions\": %zu, \"region_bytes\": %zu,\n  \"sources\": [",
                CISTERN_VERSION_MAJOR, CISTERN_VERSION_MINOR, CISTERN_VERSION_PATCH,
                cs_meta_mapped_bytes(), nregions, region_bytes);
        cs_source_foreach(print_source, &r);
        fprintf(out, "],\n  \"arenas\": [");
        r.first = 1;
        cs_arena_foreach(print_arena, &r);
        fprintf(out, "]}}\n");
    } else {
        fprintf(out, "___ cistern stats ___\n  metadata %zu bytes, %zu regions of %zu bytes\n",
                cs_meta_mapped_bytes(), nregions, region_bytes);
        cs_source_foreach(print_source, &r);
        cs_arena_foreach(print_arena, &r);
        fprintf(out, "___ end of cistern stats ___\n");
    }
    fflush(out);
}

void cs_stats_print_fd(int fd, int json)
{
    /* A stream of its own over a copy of fd: programs that closed or
       redirected stderr before exit still get the report. */
    int copy = fd >= 0 ? dup(fd) : -1;
    FILE *f = copy >= 0 ? fdopen(copy, "w") : NULL;
    if (!f) {
        if (copy >= 0)
            close(copy);
        return;
    }
    cistern_stats_print(f, json);
    fclose(f);
}

/* ---- walk ------------------------------------------------------------------------ */

struct walk {
    struct cistern_arena *a;
    int set;
    int (*fn)(void *p, size_t usable, void *ctx);
    void *ctx;
    int rc;
};

static void mark_object(void *p, int set)
{
    struct cs_span *s = cs_pagemap_get(p);
    uint32_t idx = cs_span_index(s, (uintptr_t)p - cs_span_start(s));
    uint64_t bit = (uint64_t)1 << (idx % 64);
    if (set)
        s->freebits[idx / 64] |= bit;
    else
        s->freebits[idx / 64] &= ~bit;
}

static void mark_tcache(struct cs_tcache *tc, void *ctx)
{
    struct walk *w = ctx;
    if (tc->arena != w->a || tc->epoch != cs_atomic_load_relaxed(&w->a->epoch))
        return;
    for (unsigned c = 1; c < CS_NCLASSES; c++) {
        const struct cs_bin *b = &tc->bins[c];
        for (void **q = b->base; q < b->top; q++)
            mark_object(*q, w->set);
        for (char *p = tc->runs[c].next; p != tc->runs[c].end; p += b->size)
            mark_object(p, w->set);
    }
}

/* Cached objects look free in their spans while the walk runs. */
static void mark_cached(struct walk *w, int set)
{
    w->set = set;
    cs_tcache_foreach(mark_tcache, w);
    for (unsigned c = 1; c < CS_NCLASSES; c++) {
        cs_lock(&w->a->central[c].lock);
        cs_central_mark_cached(&w->a->central[c], set);
        cs_unlock(&w->a->central[c].lock);
    }
}

static int walk_span(struct cs_span *s, void *ctx)
{
    struct walk *w = ctx;
    if (s->state == CS_SPAN_LARGE)
        return w->fn((void *)cs_span_start(s), s->npages * CS_PAGE, w->ctx);
    for (uint32_t i = 0; i < s->nobj; i++)
        if (!(s->freebits[i / 64] & ((uint64_t)1 << (i % 64)))) {
            int rc = w->fn((void *)(cs_span_start(s) + (size_t)i * s->size), s->size, w->ctx);
            if (rc)
                return rc;
        }
    return 0;
}

CS_EXPORT int cistern_arena_walk(cistern_arena_t *a, int (*fn)(void *p, size_t usable, void *ctx),
                                 void *ctx)
{
    if (cs_arena_check(a, "cistern_arena_walk") || !fn)
        return EINVAL;
    struct walk w = { a, 1, fn, ctx, 0 };
    cs_lock(&a->maint);
    mark_cached(&w, 1);
    int rc = cs_heap_foreach_inuse(&a->heap, walk_span, &w);
    mark_cached(&w, 0);
    cs_unlock(&a->maint);
    return rc;
}

/* ---- heap check ------------------------------------------------------------------- */

static void check_one(struct cistern_arena *a, void *ctx)
{
    int *err = ctx;
    if (!*err)
        *err = cs_heap_check(&a->heap);
}

CS_EXPORT int cistern_check_heap(void)
{
    cs_ensure_init();
    int err = 0;
    cs_arena_foreach(check_one, &err);
    return err;
}
