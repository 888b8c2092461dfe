/*
 * pageheap.c - the page heap (see pageheap.h).
 *
 * Pagemap rules kept here: an in-use small span maps every page; an in-use
 * large span and a free span map their first and last pages; all other
 * entries are NULL.  Coalescing looks at the entry before a span's first
 * page and after its last, and merges only within the same region.
 */
#include "pageheap.h"
#include "bitmap.h"
#include "fatal.h"
#include "meta.h"
#include "options.h"
#include "pagemap.h"
#include "region.h"
#include "release.h"
#include "source.h"
#include "tcache.h"
#include "tool.h"
#include "sysalloc/os_remap.h"
#include "sysalloc/sources.h"

#include <string.h>

/* A large block of at least this many pages (256 KiB) is placed where the
   most of its pages are still committed, and when it moves or shrinks, the
   pages it leaves are decommitted at once: below it, the page-heap's usual
   best fit and the release policy are cheaper and good enough. */
#define BIG_PAGES ((size_t)(256 << 10) / CS_PAGE)

/* ---- span records and free lists ------------------------------------------ */

static struct cs_span *span_new(void)
{
    return cs_meta_alloc(sizeof(struct cs_span));
}

/* A NOTOUCH span leaves the small state: its released bits go. */
static void drop_released(struct cs_span *s)
{
    if (s->released) {
        cs_meta_free((void *)s->released, CS_RELEASED_BYTES);
        s->released = NULL;
    }
}

static void span_delete(struct cs_span *s)
{
    drop_released(s);
    s->state = CS_SPAN_DEAD;
    s->cls = 0;
    cs_atomic_store_relaxed(&s->fast_arena, 0);
    cs_meta_free(s, sizeof *s);
}

static struct cs_span **list_of(struct cs_heap *h, struct cs_span *s)
{
    struct cs_freeset *fs = h->slot[s->region->slot].free;
    return s->npages <= CS_HEAP_LISTS ? &fs->bylen[s->npages] : &fs->big;
}

static struct cs_freeset *set_of(struct cs_heap *h, struct cs_span *s)
{
    return h->slot[s->region->slot].free;
}

/* Keep fs->nonempty in step with the list s just joined or left. */
static void note_list(struct cs_freeset *fs, const struct cs_span *s)
{
    size_t len = s->npages;
    if (len > CS_HEAP_LISTS)
        return;
    uint64_t bit = (uint64_t)1 << (len % 64);
    if (fs->bylen[len])
        fs->nonempty[len / 64] |= bit;
    else
        fs->nonempty[len / 64] &= ~bit;
}

static void list_push(struct cs_span **head, struct cs_span *s)
{
    s->prev = NULL;
    s->next = *head;
    if (*head)
        (*head)->prev = s;
    *head = s;
}

static void list_unlink(struct cs_span **head, struct cs_span *s)
{
    if (s->prev)
        s->prev->next = s->next;
    else
        *head = s->next;
    if (s->next)
        s->next->prev = s->prev;
    s->next = s->prev = NULL;
}

/* ---- commit state: one bit per page in the region ----------------------- */

static size_t page_of(const struct cs_region *r, uintptr_t a)
{
    return (a - cs_region_base(r)) >> CS_PAGE_SHIFT;
}

static size_t bits_count(const struct cs_region *r, size_t first, size_t n)
{
    return cs_bits_count(r->committed, first, n);
}

static void bits_set(struct cs_region *r, size_t first, size_t n, int on)
{
    cs_bits_set(r->committed, first, n, on);
}

static size_t span_committed(const struct cs_span *s)
{
    return bits_count(s->region, page_of(s->region, cs_span_start(s)), s->npages);
}

/* Free lists: s->ncommitted is already exact. */
static void free_insert_counted(struct cs_heap *h, struct cs_span *s)
{
    list_push(list_of(h, s), s);
    note_list(set_of(h, s), s);
    cs_counter_add(&h->pages_free, (intptr_t)(s->npages));
    cs_counter_add(&h->pages_free_committed, (intptr_t)(s->ncommitted));
}

/* Free lists: a span's committed count is read off the bitmap on insert. */
static void free_insert(struct cs_heap *h, struct cs_span *s)
{
    s->ncommitted = span_committed(s);
    free_insert_counted(h, s);
}

static void free_remove(struct cs_heap *h, struct cs_span *s)
{
    list_unlink(list_of(h, s), s);
    note_list(set_of(h, s), s);
    cs_counter_add(&h->pages_free, -(intptr_t)(s->npages));
    cs_counter_add(&h->pages_free_committed, -(intptr_t)(s->ncommitted));
}

static void inuse_insert(struct cs_heap *h, struct cs_span *s)
{
    s->aprev = NULL;
    s->anext = h->inuse;
    if (h->inuse)
        h->inuse->aprev = s;
    h->inuse = s;
}

static void inuse_remove(struct cs_heap *h, struct cs_span *s)
{
    if (s->aprev)
        s->aprev->anext = s->anext;
    else
        h->inuse = s->anext;
    if (s->anext)
        s->anext->aprev = s->aprev;
    s->anext = s->aprev = NULL;
}

static void map_ends(struct cs_span *s, struct cs_span *to)
{
    cs_pagemap_set(cs_span_start(s), to);
    cs_pagemap_set(cs_span_end(s) - CS_PAGE, to);
}

/* ---- set-up and the chain ------------------------------------------------- */

void cs_heap_init(struct cs_heap *h, struct cistern_arena *a)
{
    memset(h, 0, sizeof *h);
    h->arena = a;
    h->last_release_ms = cs_clock_ms();
}

static int slot_of(struct cs_heap *h, struct cistern_sysalloc *s)
{
    for (int i = 0; i < CS_MAX_CHAIN; i++)
        if (h->slot[i].src == s)
            return i;
    return -1;
}

int cs_heap_chain_add(struct cs_heap *h, struct cistern_sysalloc *s, int position)
{
    int err = 0;
    cs_lock(&h->lock);
    int i = slot_of(h, s);
    if (i >= 0 && h->slot[i].in_chain) {
        err = EEXIST;
    } else if (h->norder == CS_MAX_CHAIN) {
        err = ENOSPC;
    } else {
        if (i < 0)
            i = slot_of(h, NULL);
        if (i < 0) {
            err = ENOSPC;
        } else if (!h->slot[i].free && !(h->slot[i].free = cs_meta_alloc(sizeof(struct cs_freeset)))) {
            err = ENOMEM;
        } else {
            h->slot[i].src = s;
            h->slot[i].in_chain = 1;
            /* Back in the chain: regions it still has serve again (a span
               of theirs unlisted meanwhile is listed when an object comes
               back to it after it filled up). */
            for (struct cs_region *r = h->regions; r; r = r->next)
                if (r->slot == (unsigned)i && r->retired) {
                    cs_atomic_store_relaxed(&r->retired, 0);
                    cs_counter_add(&h->nretired, -1);
                }
            for (struct cs_span *sp = h->inuse; sp; sp = sp->anext)
                if (sp->region->slot == (unsigned)i && sp->state == CS_SPAN_SMALL && !sp->notouch)
                    cs_atomic_store_relaxed(&sp->fast_arena, (uintptr_t)h->arena);
            unsigned pos = position < 0 || (unsigned)position > h->norder ? h->norder
                                                                            : (unsigned)position;
            memmove(&h->order[pos + 1], &h->order[pos], (h->norder - pos) * sizeof h->order[0]);
            h->order[pos] = (unsigned)i;
            h->norder++;
            cs_atomic_add(&s->nchains, 1);
        }
    }
    cs_unlock(&h->lock);
    return err;
}

int cs_heap_chain_notouch(struct cs_heap *h)
{
    for (unsigned k = 0; k < h->norder; k++)
        if (h->slot[h->order[k]].src->flags & CISTERN_SYSALLOC_NOTOUCH)
            return 1;
    return 0;
}

static void region_give_back(struct cs_heap *h, struct cs_region *r, size_t committed_pages)
{
    struct cs_heap_slot *sl = &h->slot[r->slot];
    if (r->prev)
        r->prev->next = r->next;
    else
        h->regions = r->next;
    if (r->next)
        r->next->prev = r->prev;
    sl->nregions--;
    if (r->retired)
        cs_counter_add(&h->nretired, -1);
    cs_source_give_back(r->src, cs_region_raw_base(r), r->raw_size, committed_pages * CS_PAGE);
    cs_region_remove(r);
    if (sl->nregions == 0 && !sl->in_chain) {
        cs_meta_free(sl->free, sizeof *sl->free);
        memset(sl, 0, sizeof *sl);
    }
}

static int covers_region(const struct cs_span *s)
{
    return cs_span_start(s) == cs_region_base(s->region) && s->npages * CS_PAGE == s->region->size;
}

/* A free span off the lists that is its whole region goes back to the
   source with the region. */
static void give_back_whole(struct cs_heap *h, struct cs_span *s)
{
    struct cs_region *r = s->region;
    /* An own region's room may hold committed pages too. */
    size_t committed = s->ncommitted +
                       bits_count(r, r->size / CS_PAGE, (r->cap - r->size) / CS_PAGE);
    map_ends(s, NULL);
    span_delete(s);
    region_give_back(h, r, committed);
}

/* A free span on the lists that is its whole region goes back. */
static void drop_free_region(struct cs_heap *h, struct cs_span *s)
{
    free_remove(h, s);
    give_back_whole(h, s);
}

static void drop_spare_own(struct cs_heap *h)
{
    struct cs_span *s = h->spare_own;
    h->spare_own = NULL;
    give_back_whole(h, s);
}

static void drop_whole_free_regions(struct cs_heap *h, unsigned slot)
{
    struct cs_freeset *fs = h->slot[slot].free;
    for (int len = 0; len <= CS_HEAP_LISTS; len++) {
        struct cs_span **head = len ? &fs->bylen[len] : &fs->big;
        struct cs_span *s = *head;
        while (s) {
            struct cs_span *next = s->next;
            if (covers_region(s))
                drop_free_region(h, s);
            s = next;
            if (!h->slot[slot].src)
                return; /* the slot went away with its last region */
        }
    }
}

int cs_heap_chain_remove(struct cs_heap *h, struct cistern_sysalloc *s)
{
    cs_lock(&h->lock);
    int i = slot_of(h, s);
    if (i < 0 || !h->slot[i].in_chain) {
        cs_unlock(&h->lock);
        return ENOENT;
    }
    unsigned k = 0;
    while (h->order[k] != (unsigned)i)
        k++;
    memmove(&h->order[k], &h->order[k + 1], (h->norder - k - 1) * sizeof h->order[0]);
    h->norder--;
    h->slot[i].in_chain = 0;
    /* Its regions serve no more: the central lists drop their spans, and
       free()'s fast path no longer caches their objects (fast_arena). */
    for (struct cs_region *r = h->regions; r; r = r->next)
        if (r->slot == (unsigned)i && !r->retired) {
            cs_atomic_store_relaxed(&r->retired, 1);
            cs_counter_add(&h->nretired, 1);
        }
    for (struct cs_span *sp = h->inuse; sp; sp = sp->anext)
        if (sp->region->slot == (unsigned)i)
            cs_atomic_store_relaxed(&sp->fast_arena, 0);
    if (h->slot[i].nregions)
        drop_whole_free_regions(h, (unsigned)i);
    else {
        cs_meta_free(h->slot[i].free, sizeof(struct cs_freeset));
        memset(&h->slot[i], 0, sizeof h->slot[i]);
    }
    cs_unlock(&h->lock);
    /* Release: the heap no longer uses s once nchains drops. */
    cs_atomic_sub(&s->nchains, 1);
    return 0;
}

/* ---- allocation ------------------------------------------------------------ */

static struct cs_span *find_in_set(struct cs_freeset *fs, size_t n)
{
    for (size_t len = n; len <= CS_HEAP_LISTS; len = (len | 63) + 1) {
        uint64_t bits = fs->nonempty[len / 64] & (~(uint64_t)0 << (len % 64));
        if (bits)
            return fs->bylen[(len & ~(size_t)63) + (size_t)__builtin_ctzll(bits)];
    }
    /* A request that no length list could serve carves from a long run:
       small spans take the run with the most committed pages (a run the
       program just freed, rather than a region's untouched tail, so a
       structure rebuilt after a full free faults nothing in); longer
       requests take the shortest run that fits. */
    int small = n <= CS_HEAP_LISTS;
    struct cs_span *best = NULL;
    for (struct cs_span *s = fs->big; s; s = s->next) {
        if (s->npages < n)
            continue;
        int better = !best ||
                     (small ? s->ncommitted > best->ncommitted ||
                                  (s->ncommitted == best->ncommitted && s->npages < best->npages)
                            : s->npages < best->npages ||
                                  (s->npages == best->npages && s->ncommitted > best->ncommitted));
        if (better)
            best = s;
    }
    return best;
}

/* First page in [i, end) of region r whose commit bit is v, or end. */
static size_t next_bit(const struct cs_region *r, size_t i, size_t end, int v)
{
    while (i < end) {
        uint64_t w = r->committed[i / 64];
        if (!v)
            w = ~w;
        w &= ~(uint64_t)0 << (i % 64);
        if (w) {
            size_t k = i - i % 64 + (size_t)__builtin_ctzll(w);
            return k < end ? k : end;
        }
        i = i - i % 64 + 64;
    }
    return end;
}

/* The window of n pages inside free span s holding the most committed pages:
   its offset in pages goes to *off, the count is returned.  The best window
   starts where a committed run starts or ends where one ends, so only those
   are tried. */
static size_t warm_window(const struct cs_span *s, size_t n, size_t *off)
{
    const struct cs_region *r = s->region;
    size_t first = page_of(r, cs_span_start(s)), len = s->npages;
    size_t best = bits_count(r, first, n), at = 0;
    for (size_t i = 0; best < n && i < len;) {
        i = next_bit(r, first + i, first + len, 1) - first;
        if (i >= len)
            break;
        size_t j = next_bit(r, first + i, first + len, 0) - first;
        size_t tries[2] = { i + n <= len ? i : len - n, j >= n ? j - n : 0 };
        for (int t = 0; t < 2; t++) {
            size_t c = bits_count(r, first + tries[t], n);
            if (c > best) {
                best = c;
                at = tries[t];
            }
        }
        i = j;
    }
    *off = at;
    return best;
}

/* Free runs looked at per large allocation, at most: enough for the heaps
   of real programs, a bound on the time for pathological ones. */
#define WARM_SCAN 256

/* For a big large block: the free run of this set where it would need the
   fewest pages committed afresh (each one a page fault and new memory),
   the shorter run on a tie.  Best fit alone leaves committed pages idle
   while new ones are faulted in next to them.  *off: where in the run. */
static struct cs_span *find_warm_in_set(struct cs_freeset *fs, size_t n, size_t *off)
{
    struct cs_span *best = NULL;
    size_t best_fresh = SIZE_MAX, o = 0;
    unsigned looked = 0;
    for (size_t len = n <= CS_HEAP_LISTS ? n : CS_HEAP_LISTS + 1; len <= CS_HEAP_LISTS + 1; len++) {
        for (struct cs_span *s = len <= CS_HEAP_LISTS ? fs->bylen[len] : fs->big; s; s = s->next) {
            if (s->npages < n)
                continue;
            size_t fresh = n;
            if (s->ncommitted)
                fresh = n - warm_window(s, n, &o);
            else
                o = 0;
            if (fresh < best_fresh || (fresh == best_fresh && s->npages < best->npages)) {
                best = s;
                best_fresh = fresh;
                *off = o;
                if (fresh == 0 && s->npages == n)
                    return best;
            }
            if (++looked >= WARM_SCAN && best)
                return best;
        }
    }
    return best;
}

static void link_region(struct cs_heap *h, struct cs_region *r)
{
    r->next = h->regions;
    r->prev = NULL;
    if (h->regions)
        h->regions->prev = r;
    h->regions = r;
    h->slot[r->slot].nregions++;
}

/* Obtain a region holding at least n pages from the source in this slot;
   the new free run goes on the slot's lists.  0 or ENOMEM. */
static int grow(struct cs_heap *h, unsigned slot, size_t n)
{
    if (n > (SIZE_MAX >> CS_PAGE_SHIFT) - 1)
        return ENOMEM;
    size_t need = n * CS_PAGE;
    struct cistern_sysalloc *src = h->slot[slot].src;
    size_t ask = need, align = CS_PAGE;
    if ((src->kind == CS_SRC_OS || src->kind == CS_SRC_HUGEPAGE) && ask < CS_REGION_CHUNK)
        ask = CS_REGION_CHUNK;
    /* A custom source decommits whole granules only: a region of whole,
       aligned granules lets its free runs go back (the first try; a source
       that cannot give as much is asked for what is needed). */
    if (src->kind == CS_SRC_CUSTOM && src->granule > CS_PAGE && ask <= SIZE_MAX - src->granule) {
        ask = CS_ALIGN_UP(ask, src->granule);
        align = src->granule;
    }
    size_t got = 0;
    void *raw = cs_source_alloc(src, ask, align, &got);
    if (!raw && ask > need)
        raw = cs_source_alloc(src, need, CS_PAGE, &got);
    if (!raw)
        return ENOMEM;
    struct cs_region *r = cs_region_add(src, (uintptr_t)raw, got, h, slot);
    struct cs_span *s = r ? span_new() : NULL;
    if (!s || r->size < need) {
        if (r)
            cs_region_remove(r);
        if (s)
            span_delete(s);
        cs_source_give_back(src, (uintptr_t)raw, got, 0);
        return ENOMEM;
    }
    link_region(h, r);
    cs_span_set_start(s, cs_region_base(r));
    s->npages = r->size / CS_PAGE;
    s->region = r;
    s->arena = h->arena;
    s->state = CS_SPAN_FREE;
    s->zeroed = (uint8_t)src->fresh_zero;
    s->notouch = (src->flags & CISTERN_SYSALLOC_NOTOUCH) != 0;
    s->free_since = cs_clock_ms();
    map_ends(s, s);
    free_insert(h, s); /* fresh: no page is backed until it is used */
    return 0;
}

/* The chain in order: each source's free runs, else new memory from it,
   before the next source is considered.  warm: place n pages where the
   fewest need committing (*off: their offset in the run), else best fit. */
static struct cs_span *find_free(struct cs_heap *h, size_t n, int warm, size_t *off)
{
    *off = 0;
    for (unsigned k = 0; k < h->norder; k++) {
        unsigned slot = h->order[k];
        struct cs_freeset *fs = h->slot[slot].free;
        struct cs_span *s = warm ? find_warm_in_set(fs, n, off) : find_in_set(fs, n);
        if (!s && grow(h, slot, n) == 0)
            s = warm ? find_warm_in_set(fs, n, off) : find_in_set(fs, n);
        if (s)
            return s;
    }
    return NULL;
}

/* Split the first `pages` pages off free span s (already off its list) into
   a new free span put back on the lists; s keeps the rest. */
static int split_front(struct cs_heap *h, struct cs_span *s, size_t pages)
{
    struct cs_span *f = span_new();
    if (!f)
        return ENOMEM;
    *f = *s;
    f->npages = pages;
    cs_span_set_start(s, cs_span_start(s) + pages * CS_PAGE);
    s->npages -= pages;
    /* Count the smaller part only: a span carved off a big free run must
       not cost a walk over the whole run's bitmap. */
    f->ncommitted = span_committed(f);
    s->ncommitted -= f->ncommitted;
    map_ends(f, f);
    cs_pagemap_set(cs_span_start(s), s);
    free_insert_counted(h, f);
    return 0;
}

static int split_back(struct cs_heap *h, struct cs_span *s, size_t keep)
{
    struct cs_span *b = span_new();
    if (!b)
        return ENOMEM;
    *b = *s;
    cs_span_set_start(b, cs_span_start(s) + keep * CS_PAGE);
    b->npages = s->npages - keep;
    s->npages = keep;
    /* As in split_front: count the kept part, derive the rest. */
    size_t kept = span_committed(s);
    b->ncommitted = s->ncommitted - kept;
    s->ncommitted = kept;
    map_ends(b, b);
    cs_pagemap_set(cs_span_end(s) - CS_PAGE, s);
    free_insert_counted(h, b);
    return 0;
}

/* Turn free span s into an in-use span (small of class cls, or large). */
static size_t make_inuse(struct cs_heap *h, struct cs_span *s, unsigned cls)
{
    struct cistern_sysalloc *src = s->region->src;
    size_t backed = span_committed(s);
    if (backed < s->npages) {
        cs_source_commit(src, cs_span_start(s), s->npages * CS_PAGE, (s->npages - backed) * CS_PAGE);
        bits_set(s->region, page_of(s->region, cs_span_start(s)), s->npages, 1);
    }
    s->ncommitted = s->npages;
    s->state = cls ? CS_SPAN_SMALL : CS_SPAN_LARGE;
    s->next = s->prev = NULL;
    s->in_central = 0;
    if (cls) {
        const struct cs_class_info *ci = &cs_classes[cls];
        s->size = ci->size;
        s->inv = ci->inv;
        s->shift = ci->shift;
        s->bin_offset = (uint32_t)cs_bin_offset(cls);
        s->nobj = ci->nobj;
        s->nfree = ci->nobj;
        memset(s->freebits, 0, sizeof s->freebits);
        if (s->released)
            memset((void *)s->released, 0, CS_RELEASED_BYTES);
        for (uint32_t i = 0; i < ci->nobj / 64; i++)
            s->freebits[i] = ~(uint64_t)0;
        if (ci->nobj % 64)
            s->freebits[ci->nobj / 64] = ((uint64_t)1 << (ci->nobj % 64)) - 1;
        cs_pagemap_set_range(cs_span_start(s), s->npages, s);
    } else {
        s->size = 0;
        s->nobj = s->nfree = 0;
        cs_counter_add(&h->large_pages, (intptr_t)(s->npages));
        cs_counter_add(&h->nlarge_malloc, 1);
        map_ends(s, s);
    }
    inuse_insert(h, s);
    cs_counter_add(&h->pages_inuse, (intptr_t)(s->npages));
    cs_source_count(&src->in_use, (intptr_t)(s->npages * CS_PAGE));
    if (h->pages_inuse > h->peak_pages)
        h->peak_pages = h->pages_inuse;
    if (!cls && s->npages >= BIG_PAGES)
        h->taken_cur += s->npages; /* for the dirty trim */
    /* Publish the class last: a racing lookup sees a complete span or cls 0. */
    s->cls = cls;
    cs_atomic_store_relaxed(&s->fast_arena, cls && !s->notouch ? (uintptr_t)h->arena : 0);
    return s->npages - backed;
}

static void release_span(struct cs_heap *h, struct cs_span *s, uint64_t now, uint64_t age_ms);

/* The footprint bound.  Committed pages (in use or free) may exceed the
   recent peak of pages in use by a slack: a quarter of that peak, at least
   FOOTPRINT_SLACK_MIN.  When committing new pages passes it, free runs are
   decommitted at once until the footprint is a little under it again.  A
   program whose use swings keeps the memory of its peak warm, while the
   footprint never runs far past that peak; the decay releases the rest
   when the program stays below it (the recent peak follows it down). */
#define FOOTPRINT_SLACK_MIN (((size_t)16 << 20) / CS_PAGE)

static size_t footprint_limit(const struct cs_heap *h)
{
    size_t slack = h->peak_pages / 4;
    return h->peak_pages + (slack > FOOTPRINT_SLACK_MIN ? slack : FOOTPRINT_SLACK_MIN);
}

static void bound_footprint(struct cs_heap *h)
{
    size_t limit = footprint_limit(h);
    if (h->pages_inuse + h->pages_free_committed <= limit)
        return;
    /* Down to an eighth of the slack below the limit: not one call per page. */
    size_t target = limit - (limit - h->peak_pages) / 8;
    uint64_t now = cs_clock_ms();
    for (int i = 0; i < CS_MAX_CHAIN; i++) {
        /* The big list first, then lengths from the longest down. */
        for (int len = 0; h->slot[i].free; len = len ? len - 1 : CS_HEAP_LISTS) {
            struct cs_freeset *fs = h->slot[i].free;
            struct cs_span *s = len ? fs->bylen[len] : fs->big;
            while (s && h->pages_inuse + h->pages_free_committed > target) {
                struct cs_span *next = s->next;
                if (s->ncommitted)
                    release_span(h, s, now, UINT64_MAX / 8);
                s = next;
            }
            if (len == 1 || h->pages_inuse + h->pages_free_committed <= target)
                return;
        }
    }
}

struct cs_span *cs_heap_alloc(struct cs_heap *h, size_t npages, size_t align, unsigned cls)
{
    size_t extra = align > CS_PAGE ? align / CS_PAGE - 1 : 0;
    size_t want = npages + extra;
    if (npages == 0 || want < npages) {
        errno = ENOMEM;
        return NULL;
    }
    cs_lock(&h->lock);
    if (h->limit_bytes && (h->pages_inuse + npages) * CS_PAGE > h->limit_bytes) {
        cs_unlock(&h->lock);
        errno = ENOMEM;
        return NULL;
    }
    size_t off;
    struct cs_span *s = find_free(h, want, !cls && !extra && npages >= BIG_PAGES, &off);
    if (!s) {
        cs_unlock(&h->lock);
        errno = ENOMEM;
        return NULL;
    }
    free_remove(h, s);
    if (extra)
        off = (CS_ALIGN_UP(cs_span_start(s), align) - cs_span_start(s)) / CS_PAGE;
    if (off && split_front(h, s, off))
        goto fail;
    if (s->npages > npages && split_back(h, s, npages))
        goto fail;
    /* The one allocation a small NOTOUCH span needs, made while failing is
       still simple. */
    if (cls && s->notouch && !(s->released = cs_meta_alloc(CS_RELEASED_BYTES)))
        goto fail;
    if (make_inuse(h, s, cls))
        bound_footprint(h);
    cs_unlock(&h->lock);
    return s;
fail:
    free_insert(h, s);
    cs_unlock(&h->lock);
    errno = ENOMEM;
    return NULL;
}

/* ---- freeing ---------------------------------------------------------------- */

/* Merge free span s with free neighbours of its region; returns the result. */
static struct cs_span *coalesce(struct cs_heap *h, struct cs_span *s)
{
    struct cs_region *r = s->region;
    if (cs_span_start(s) > cs_region_base(r)) {
        struct cs_span *l = cs_pagemap_get((void *)(cs_span_start(s) - 1));
        if (l && l->state == CS_SPAN_FREE && l->region == r) {
            free_remove(h, l);
            cs_pagemap_set(cs_span_end(l) - CS_PAGE, NULL);
            cs_pagemap_set(cs_span_start(s), NULL);
            l->npages += s->npages;
            l->ncommitted += s->ncommitted;
            l->zeroed = l->zeroed && s->zeroed;
            if (s->free_since < l->free_since)
                l->free_since = s->free_since;
            span_delete(s);
            s = l;
        }
    }
    uintptr_t end = cs_span_end(s);
    if (end < cs_region_base(r) + r->size) {
        struct cs_span *n = cs_pagemap_get((void *)end);
        if (n && n->state == CS_SPAN_FREE && n->region == r) {
            free_remove(h, n);
            cs_pagemap_set(end - CS_PAGE, NULL);
            cs_pagemap_set(end, NULL);
            s->npages += n->npages;
            s->ncommitted += n->ncommitted;
            s->zeroed = s->zeroed && n->zeroed;
            if (n->free_since < s->free_since)
                s->free_since = n->free_since;
            span_delete(n);
        }
    }
    map_ends(s, s);
    return s;
}

/* Heap lock held: s (in use) becomes free. */
static size_t release_locked(struct cs_heap *h, uint64_t now, uint64_t age_ms);
static void release_span(struct cs_heap *h, struct cs_span *s, uint64_t now, uint64_t age_ms);

/* Returns the free run s became part of, or NULL when its region went back. */
static struct cs_span *free_locked(struct cs_heap *h, struct cs_span *s, uint64_t now)
{
    struct cistern_sysalloc *src = s->region->src;
    inuse_remove(h, s);
    cs_counter_add(&h->pages_inuse, -(intptr_t)(s->npages));
    cs_source_count(&src->in_use, -(intptr_t)(s->npages * CS_PAGE));
    if (s->state == CS_SPAN_SMALL) {
        if (s->npages > 2)
            cs_pagemap_set_range(cs_span_start(s) + CS_PAGE, s->npages - 2, NULL);
    } else {
        cs_counter_add(&h->large_pages, -(intptr_t)(s->npages));
        cs_counter_add(&h->nlarge_free, 1);
    }
    s->cls = 0;
    cs_atomic_store_relaxed(&s->fast_arena, 0);
    drop_released(s);
    s->state = CS_SPAN_FREE;
    s->ncommitted = span_committed(s); /* big blocks may have given pages back */
    s->zeroed = 0;
    s->free_since = now;
    s = coalesce(h, s);
    /* A region whose source left the chain goes back as soon as it is
       free; so does an own region, but for the last one freed, kept off the
       lists as the spare (the one it displaces goes back). */
    if (covers_region(s) && (!h->slot[s->region->slot].in_chain || s->region->own)) {
        if (s->region->own && h->slot[s->region->slot].in_chain) {
            if (h->spare_own)
                drop_spare_own(h);
            h->spare_own = s;
        } else {
            give_back_whole(h, s);
        }
        return NULL;
    }
    /* The span's own count and coalesce's exact sums for its neighbours:
       no recount over what may be a long free run. */
    free_insert_counted(h, s);
    return s;
}

/* Free pages kept committed beyond a limit do not wait for the decay: free
   runs idle for more than a short grace period are decommitted at once,
   longest first.  The footprint then stays within about a quarter of what
   the program uses (or a few MiB) above its live memory, while a run freed
   and taken again soon (the common case) stays warm.  As many dirty pages
   as the program took for big blocks over the last grace period or two are
   kept too: a program that frees and allocates big blocks in turn reuses
   them at once, and decommitting them would only fault them back in (the
   footprint bound above keeps such a program near its peak); one that
   only frees, as when a large structure is dropped, takes nothing and is
   trimmed as before. */
#define DIRTY_FLOOR_PAGES (((size_t)64 << 20) / CS_PAGE)
#define DIRTY_GRACE_MS 50

static size_t dirty_limit(const struct cs_heap *h)
{
    size_t quarter = (size_t)cs_atomic_load_relaxed(&h->pages_inuse) / 4;
    return quarter > DIRTY_FLOOR_PAGES ? quarter : DIRTY_FLOOR_PAGES;
}

/* The pages taken from the heap recently (see above). */
static size_t recently_taken(struct cs_heap *h, uint64_t now)
{
    if (now - h->taken_since_ms >= DIRTY_GRACE_MS) {
        h->taken_prev = now - h->taken_since_ms >= 2 * DIRTY_GRACE_MS ? 0 : h->taken_cur;
        h->taken_cur = 0;
        h->taken_since_ms = now;
    }
    return h->taken_cur + h->taken_prev;
}

static void trim_dirty(struct cs_heap *h, uint64_t now)
{
    if (h->spare_own && now - h->spare_own->free_since >= DIRTY_GRACE_MS)
        drop_spare_own(h);
    size_t target = dirty_limit(h) / 2, taken = recently_taken(h, now);
    if (target < taken)
        target = taken;
    for (int i = 0; i < CS_MAX_CHAIN; i++) {
        /* The big list first, then lengths from the longest down. */
        for (int len = 0; h->slot[i].free; len = len ? len - 1 : CS_HEAP_LISTS) {
            struct cs_freeset *fs = h->slot[i].free;
            struct cs_span *s = len ? fs->bylen[len] : fs->big;
            while (s && (size_t)cs_atomic_load_relaxed(&h->pages_free_committed) > target) {
                struct cs_span *next = s->next;
                if (now - s->free_since >= DIRTY_GRACE_MS)
                    release_span(h, s, now, UINT64_MAX / 8);
                s = next;
            }
            if (len == 1 || (size_t)cs_atomic_load_relaxed(&h->pages_free_committed) <= target)
                break;
        }
    }
}

void cs_heap_free(struct cs_heap *h, struct cs_span *s)
{
    uint64_t now = cs_clock_ms();
    cs_lock(&h->lock);
    free_locked(h, s, now);
    size_t dirty = (size_t)cs_atomic_load_relaxed(&h->pages_free_committed);
    if (dirty > dirty_limit(h) && dirty > recently_taken(h, now))
        trim_dirty(h, now);
    int due = cs_opt.decay_ms >= 0 && now - h->last_release_ms >= (uint64_t)cs_opt.decay_ms / 2 + 1;
    if (due) {
        h->last_release_ms = now;
        release_locked(h, now, (uint64_t)cs_opt.decay_ms);
    }
    cs_unlock(&h->lock);
    if (cs_atomic_load_relaxed(&h->pages_free_committed))
        cs_release_notify();
}

/* Decommit the pages of [lo, hi) inside free run f (granules wholly
   inside): the pages of the aligned range when they were decommitted, else
   0 (nothing committed there, or the source refused). */
static size_t decommit_part(struct cs_heap *h, struct cs_span *f, uintptr_t lo, uintptr_t hi)
{
    struct cs_region *r = f->region;
    struct cistern_sysalloc *src = r->src;
    lo = CS_ALIGN_UP(lo, src->granule);
    hi = CS_ALIGN_DOWN(hi, src->granule);
    if (hi <= lo)
        return 0;
    size_t first = page_of(r, lo), n = (hi - lo) / CS_PAGE;
    size_t dropped = bits_count(r, first, n);
    if (!dropped || cs_source_decommit(src, lo, hi - lo) != hi - lo)
        return 0;
    bits_set(r, first, n, 0);
    cs_source_count(&src->committed, -(intptr_t)(dropped * CS_PAGE));
    cs_counter_add(&h->pages_free_committed, -(intptr_t)(dropped));
    f->ncommitted -= dropped;
    return n;
}

void cs_heap_free_moved(struct cs_heap *h, struct cs_span *s)
{
    if (s->state != CS_SPAN_LARGE || s->npages < BIG_PAGES) {
        cs_heap_free(h, s);
        return;
    }
    uintptr_t lo = cs_span_start(s), hi = cs_span_end(s);
    cs_lock(&h->lock);
    struct cs_span *f = free_locked(h, s, cs_clock_ms());
    if (f)
        decommit_part(h, f, lo, hi);
    cs_unlock(&h->lock);
}

int cs_heap_resize(struct cs_heap *h, struct cs_span *s, size_t npages)
{
    int err = 0;
    uint64_t now = cs_clock_ms();
    cs_lock(&h->lock);
    if (npages < s->npages) {
        /* Shrink: the tail becomes a free span of its own, then coalesces. */
        struct cs_span *t = span_new();
        if (!t) {
            cs_unlock(&h->lock);
            return 0; /* keeping the larger span is still correct */
        }
        *t = *s;
        cs_span_set_start(t, cs_span_start(s) + npages * CS_PAGE);
        t->npages = s->npages - npages;
        t->anext = t->aprev = NULL;
        s->npages = npages;
        s->ncommitted = npages;
        map_ends(s, s);
        map_ends(t, t);
        inuse_insert(h, t);
        uintptr_t lo = cs_span_start(t), hi = cs_span_end(t);
        int big = t->npages >= BIG_PAGES;
        t = free_locked(h, t, now);
        if (t && big)
            decommit_part(h, t, lo, hi);
        cs_counter_add(&h->nlarge_free, -1);   /* a trim is not a free */
    } else if (npages > s->npages) {
        uintptr_t end = cs_span_end(s);
        size_t more = npages - s->npages;
        struct cs_span *n = end < cs_region_base(s->region) + s->region->size ? cs_pagemap_get((void *)end)
                                                                     : NULL;
        if (!n || n->state != CS_SPAN_FREE || n->region != s->region || n->npages < more ||
            (h->limit_bytes && (h->pages_inuse + more) * CS_PAGE > h->limit_bytes)) {
            err = ENOMEM;
        } else {
            free_remove(h, n);
            if (n->npages > more && split_back(h, n, more)) {
                free_insert(h, n);
                err = ENOMEM;
            } else {
                /* n is now exactly the pages s grows into. */
                cs_pagemap_set(cs_span_end(s) - CS_PAGE, NULL);
                size_t backed = span_committed(n);
                if (backed < n->npages) {
                    cs_source_commit(s->region->src, cs_span_start(n), n->npages * CS_PAGE,
                                     (n->npages - backed) * CS_PAGE);
                    bits_set(s->region, page_of(s->region, cs_span_start(n)), n->npages, 1);
                }
                map_ends(n, NULL);
                s->npages += more;
                s->ncommitted = s->npages;
                cs_counter_add(&h->pages_inuse, (intptr_t)(more));
                cs_counter_add(&h->large_pages, (intptr_t)(more));
                cs_source_count(&s->region->src->in_use, (intptr_t)(more * CS_PAGE));
                map_ends(s, s);
                span_delete(n);
                if (h->pages_inuse > h->peak_pages)
                    h->peak_pages = h->pages_inuse;
                if (backed < more)
                    bound_footprint(h);
            }
        }
    }
    cs_unlock(&h->lock);
    return err;
}

/* ---- large blocks in os regions of their own -------------------------------- */

/* The chain slot own regions come from: the first, when it holds the os
   source (its regions are mappings of cs_os_map, which cs_os_remap may move;
   no other source's memory ever is: injected memory is never unmapped). */
static int own_slot(struct cs_heap *h)
{
    if (cs_tool_active || !cs_os_can_remap() || h->norder == 0)
        return -1;
    unsigned slot = h->order[0];
    struct cistern_sysalloc *src = h->slot[slot].src;
    if (src->kind != CS_SRC_OS || !src->ops.unmap ||
        (src->flags & (CISTERN_SYSALLOC_INJECTED | CISTERN_SYSALLOC_NOTOUCH)))
        return -1;
    return (int)slot;
}

static int too_many_pages(size_t a, size_t b)
{
    size_t most = (SIZE_MAX >> CS_PAGE_SHIFT) / 2;
    return a > most || b > most - a;
}

/* Heap lock held: the spare own region made the block of npages pages, or
   NULL when there is none or its mapping is too small.  Committed pages of
   its room past SPARE_KEEP times the block go back: a block that grows
   into them takes no page fault, one that does not holds little. */
#define SPARE_KEEP 4
static struct cs_span *take_spare_own(struct cs_heap *h, size_t npages)
{
    struct cs_span *s = h->spare_own;
    if (!s || s->region->cap / CS_PAGE < npages)
        return NULL;
    struct cs_region *r = s->region;
    struct cistern_sysalloc *src = r->src;
    h->spare_own = NULL;
    map_ends(s, NULL);
    s->npages = npages;
    cs_region_move(r, cs_region_base(r), npages * CS_PAGE, r->cap, NULL);
    size_t capp = r->cap / CS_PAGE, keep = npages < capp / SPARE_KEEP ? npages * SPARE_KEEP : capp;
    size_t dropped = bits_count(r, keep, capp - keep);
    if (dropped && cs_source_decommit(src, cs_region_base(r) + keep * CS_PAGE, (capp - keep) * CS_PAGE) ==
                       (capp - keep) * CS_PAGE) {
        bits_set(r, keep, capp - keep, 0);
        cs_source_count(&src->committed, -(intptr_t)(dropped * CS_PAGE));
    }
    s->zeroed = 0;
    make_inuse(h, s, 0);
    bound_footprint(h);
    return s;
}

struct cs_span *cs_heap_alloc_own(struct cs_heap *h, size_t npages, size_t room)
{
    cs_lock(&h->lock);
    int slot = own_slot(h);
    int err = slot < 0 ? ENOTSUP : 0;
    if (!err && (npages == 0 || too_many_pages(npages, room) ||
                 (h->limit_bytes && (h->pages_inuse + npages) * CS_PAGE > h->limit_bytes)))
        err = ENOMEM;
    struct cs_span *spare = err ? NULL : take_spare_own(h, npages);
    if (spare) {
        cs_unlock(&h->lock);
        return spare;
    }
    struct cistern_sysalloc *src = err ? NULL : h->slot[slot].src;
    size_t cap = (npages + room) * CS_PAGE, got = 0;
    void *raw = err ? NULL : cs_source_alloc(src, cap, CS_PAGE, &got);
    struct cs_region *r = raw ? cs_region_add(src, (uintptr_t)raw, got, h, (unsigned)slot) : NULL;
    struct cs_span *s = r ? span_new() : NULL;
    if (!s || cs_region_base(r) != (uintptr_t)raw || r->size != got) {
        if (r)
            cs_region_remove(r);
        if (s)
            span_delete(s);
        if (raw)
            cs_source_give_back(src, (uintptr_t)raw, got, 0);
        cs_unlock(&h->lock);
        errno = err ? err : ENOMEM;
        return NULL;
    }
    r->own = 1;
    cs_region_move(r, cs_region_base(r), npages * CS_PAGE, got, NULL);
    link_region(h, r);
    cs_span_set_start(s, cs_region_base(r));
    s->npages = npages;
    s->region = r;
    s->arena = h->arena;
    s->state = CS_SPAN_FREE;
    s->zeroed = (uint8_t)src->fresh_zero;
    s->free_since = cs_clock_ms();
    map_ends(s, s);
    make_inuse(h, s, 0);
    bound_footprint(h);
    cs_unlock(&h->lock);
    return s;
}

/* Shrink s, the whole of own region r: the tail is decommitted and stays
   mapped as room to grow into. */
static void own_shrink(struct cs_heap *h, struct cs_span *s, size_t npages)
{
    struct cs_region *r = s->region;
    struct cistern_sysalloc *src = r->src;
    size_t less = s->npages - npages;
    uintptr_t tail = cs_span_start(s) + npages * CS_PAGE;
    if (cs_source_decommit(src, tail, less * CS_PAGE) == less * CS_PAGE) {
        bits_set(r, page_of(r, tail), less, 0);
        cs_source_count(&src->committed, -(intptr_t)(less * CS_PAGE));
    }
    map_ends(s, NULL);
    s->npages = npages;
    s->ncommitted = npages;
    cs_region_move(r, cs_region_base(r), npages * CS_PAGE, r->cap, NULL);
    map_ends(s, s);
    cs_counter_add(&h->pages_inuse, -(intptr_t)less);
    cs_counter_add(&h->large_pages, -(intptr_t)less);
    cs_source_count(&src->in_use, -(intptr_t)(less * CS_PAGE));
}

/* Give own region r a mapping of cap bytes: in place when the addresses
   after it are free, else moved (the pages go with it).  0 or ENOMEM. */
static int own_move(struct cs_span *s, size_t cap)
{
    struct cs_region *r = s->region;
    uint64_t *bits = cs_region_bits_alloc(cap);
    if (!bits)
        return ENOMEM;
    uintptr_t to = 0;
    if (cs_pagemap_ensure(cs_region_base(r), cap) == 0 &&
        cs_os_remap((void *)cs_region_base(r), r->cap, cap, NULL) == 0) {
        to = cs_region_base(r);
    } else {
        void *q = cs_os_map(cap, CS_PAGE);
        if (q && cs_pagemap_ensure((uintptr_t)q, cap) == 0 &&
            cs_os_remap((void *)cs_region_base(r), r->cap, cap, q) == 0)
            to = (uintptr_t)q;
        else if (q)
            cs_os_unmap(q, cap);
    }
    if (!to) {
        cs_region_bits_free(bits, cap);
        return ENOMEM;
    }
    cs_source_count(&r->src->reserved, (intptr_t)(cap - r->cap));
    map_ends(s, NULL);
    cs_region_move(r, to, r->size, cap, bits);
    cs_span_set_start(s, to);
    map_ends(s, s);
    return 0;
}

int cs_heap_remap(struct cs_heap *h, struct cs_span *s, size_t npages, size_t room)
{
    cs_lock(&h->lock);
    struct cs_region *r = s->region;
    if (!r->own || s->state != CS_SPAN_LARGE || !covers_region(s) || cs_tool_active) {
        cs_unlock(&h->lock);
        return ENOTSUP;
    }
    int err = 0;
    if (npages < s->npages) {
        own_shrink(h, s, npages);
    } else if (npages > s->npages) {
        size_t more = npages - s->npages;
        if (too_many_pages(npages, room) ||
            (h->limit_bytes && (h->pages_inuse + more) * CS_PAGE > h->limit_bytes))
            err = ENOMEM;
        else if (npages * CS_PAGE > r->cap)
            err = own_move(s, (npages + room) * CS_PAGE);
        if (!err) {
            struct cistern_sysalloc *src = r->src;
            size_t first = page_of(r, cs_span_end(s));
            size_t fresh = more - bits_count(r, first, more);
            cs_source_commit(src, cs_span_end(s), more * CS_PAGE, fresh * CS_PAGE);
            bits_set(r, first, more, 1);
            cs_pagemap_set(cs_span_end(s) - CS_PAGE, NULL);
            s->npages = npages;
            s->ncommitted = npages;
            cs_region_move(r, cs_region_base(r), npages * CS_PAGE, r->cap, NULL);
            map_ends(s, s);
            cs_counter_add(&h->pages_inuse, (intptr_t)more);
            cs_counter_add(&h->large_pages, (intptr_t)more);
            cs_source_count(&src->in_use, (intptr_t)(more * CS_PAGE));
            if (h->pages_inuse > h->peak_pages)
                h->peak_pages = h->pages_inuse;
            if (fresh)
                bound_footprint(h);
        }
    }
    cs_unlock(&h->lock);
    return err;
}

/* ---- release policy --------------------------------------------------------- */

/* Decommit the granules wholly inside one free span (edge pages sharing a
   granule with a neighbour stay); idle whole regions of sources that may
   unmap go back. */
static void release_span(struct cs_heap *h, struct cs_span *s, uint64_t now, uint64_t age_ms)
{
    struct cistern_sysalloc *src = s->region->src;
    if (s->ncommitted) {
        size_t n = decommit_part(h, s, cs_span_start(s), cs_span_end(s));
        if (n && s->ncommitted == 0 && n == s->npages)
            s->zeroed = (uint8_t)src->decommit_zero;
    }
    /* An os region idle for several decay periods is unmapped altogether. */
    if (s->ncommitted == 0 && covers_region(s) && src->ops.unmap &&
        !(src->flags & CISTERN_SYSALLOC_INJECTED) && now - s->free_since >= 4 * age_ms)
        drop_free_region(h, s);
}

static size_t release_locked(struct cs_heap *h, uint64_t now, uint64_t age_ms)
{
    size_t before = h->pages_free_committed;
    if (h->spare_own && now - h->spare_own->free_since >= age_ms)
        drop_spare_own(h);
    /* The recent peak follows the use down, halfway each period. */
    size_t inuse = h->pages_inuse;
    h->peak_pages = h->peak_pages > inuse ? inuse + (h->peak_pages - inuse) / 2 : inuse;
    for (int i = 0; i < CS_MAX_CHAIN; i++) {
        struct cs_freeset *fs = h->slot[i].free;
        if (!fs)
            continue;
        for (int len = 0; len <= CS_HEAP_LISTS && h->slot[i].free; len++) {
            struct cs_span *s = len ? fs->bylen[len] : fs->big;
            while (s) {
                struct cs_span *next = s->next;
                if (now - s->free_since >= age_ms)
                    release_span(h, s, now, age_ms);
                s = next;
            }
        }
    }
    return before - h->pages_free_committed;
}

size_t cs_heap_release(struct cs_heap *h, uint64_t age_ms)
{
    uint64_t now = cs_clock_ms();
    cs_lock(&h->lock);
    size_t n = release_locked(h, now, age_ms);
    h->last_release_ms = now;
    cs_unlock(&h->lock);
    return n;
}

int cs_heap_has_dirty(const struct cs_heap *h)
{
    return cs_atomic_load_relaxed(&h->pages_free_committed) != 0;
}

/* ---- reset and destroy -------------------------------------------------------- */

/* Forget every span record (the regions' commit bitmaps stay as they are). */
static void drop_all_spans(struct cs_heap *h)
{
    /* The sources' in-use counts drop once per source, not once per span. */
    size_t dropped[CS_MAX_CHAIN] = { 0 };
    struct cistern_sysalloc *src[CS_MAX_CHAIN] = { 0 };
    for (struct cs_span *s = h->inuse, *next; s; s = next) {
        next = s->anext;
        unsigned slot = s->region->slot;
        src[slot] = s->region->src;
        dropped[slot] += s->npages * CS_PAGE;
        if (s->state == CS_SPAN_SMALL)
            cs_pagemap_set_range(cs_span_start(s), s->npages, NULL);
        else
            map_ends(s, NULL);
        span_delete(s);
    }
    h->inuse = NULL;
    if (h->spare_own) {
        map_ends(h->spare_own, NULL);
        span_delete(h->spare_own);
        h->spare_own = NULL;
    }
    for (int i = 0; i < CS_MAX_CHAIN; i++)
        if (dropped[i])
            cs_source_count(&src[i]->in_use, -(intptr_t)dropped[i]);
    for (int i = 0; i < CS_MAX_CHAIN; i++) {
        struct cs_freeset *fs = h->slot[i].free;
        if (!fs)
            continue;
        for (int len = 0; len <= CS_HEAP_LISTS; len++) {
            struct cs_span **head = len ? &fs->bylen[len] : &fs->big;
            for (struct cs_span *s = *head, *next; s; s = next) {
                next = s->next;
                map_ends(s, NULL);
                span_delete(s);
            }
            *head = NULL;
        }
        memset(fs->nonempty, 0, sizeof fs->nonempty);
    }
    cs_atomic_store_relaxed(&h->pages_inuse, 0);
    cs_atomic_store_relaxed(&h->pages_free, 0);
    cs_atomic_store_relaxed(&h->pages_free_committed, 0);
    cs_atomic_store_relaxed(&h->large_pages, 0);
}

void cs_heap_reset(struct cs_heap *h, size_t keep_bytes)
{
    uint64_t now = cs_clock_ms();
    cs_lock(&h->lock);
    drop_all_spans(h);
    /* Each region becomes one free span; past keep_bytes of committed pages
       the rest is decommitted at once. */
    size_t kept = 0;
    for (struct cs_region *r = h->regions, *rnext; r; r = rnext) {
        rnext = r->next;
        struct cs_span *s = span_new();
        if (!s)
            cs_fatal("out of metadata memory during arena reset");
        cs_span_set_start(s, cs_region_base(r));
        s->npages = r->size / CS_PAGE;
        s->region = r;
        s->arena = h->arena;
        s->state = CS_SPAN_FREE;
        s->notouch = (r->flags & CISTERN_SYSALLOC_NOTOUCH) != 0;
        s->free_since = now;
        map_ends(s, s);
        free_insert(h, s);
        if (!h->slot[r->slot].in_chain || r->own) {
            drop_free_region(h, s); /* its source left the chain, or own: back it goes */
            continue;
        }
        if (kept + s->ncommitted * CS_PAGE <= keep_bytes)
            kept += s->ncommitted * CS_PAGE;
        else
            release_span(h, s, now, UINT64_MAX / 8);
    }
    cs_unlock(&h->lock);
}

void cs_heap_destroy(struct cs_heap *h)
{
    cs_lock(&h->lock);
    drop_all_spans(h);
    while (h->regions)
        region_give_back(h, h->regions, bits_count(h->regions, 0, h->regions->size / CS_PAGE));
    for (int i = 0; i < CS_MAX_CHAIN; i++) {
        struct cs_heap_slot *sl = &h->slot[i];
        if (!sl->src)
            continue;
        if (sl->in_chain)
            cs_atomic_sub(&sl->src->nchains, 1);
        cs_meta_free(sl->free, sizeof *sl->free);
        memset(sl, 0, sizeof *sl);
    }
    h->norder = 0;
    cs_unlock(&h->lock);
}

int cs_heap_foreach_inuse(struct cs_heap *h, int (*fn)(struct cs_span *s, void *ctx), void *ctx)
{
    int rc = 0;
    cs_lock(&h->lock);
    for (struct cs_span *s = h->inuse; s && !rc; s = s->anext)
        rc = fn(s, ctx);
    cs_unlock(&h->lock);
    return rc;
}

/* ---- consistency check -------------------------------------------------------- */

static int check_fail(const char *what, const struct cs_span *s)
{
    cs_warn("heap check failed: ", what);
    (void)s;
    return EFAULT;
}

static int check_span_map(const struct cs_span *s)
{
    if (cs_pagemap_get((void *)cs_span_start(s)) != s || cs_pagemap_get((void *)(cs_span_end(s) - 1)) != s)
        return check_fail("span ends not in the pagemap", s);
    if (cs_span_start(s) < cs_region_base(s->region) || cs_span_end(s) > cs_region_base(s->region) + s->region->size)
        return check_fail("span crosses its region", s);
    return 0;
}

int cs_heap_check(struct cs_heap *h)
{
    int err = 0;
    size_t inuse = 0, free_pages = 0, committed = 0;
    cs_lock(&h->lock);
    for (struct cs_span *s = h->inuse; s && !err; s = s->anext) {
        inuse += s->npages;
        if (s->state != CS_SPAN_SMALL && s->state != CS_SPAN_LARGE)
            err = check_fail("in-use list holds a span not in use", s);
        else if (s->arena != h->arena)
            err = check_fail("span of another arena", s);
        else
            err = check_span_map(s);
        if (!err && s->state == CS_SPAN_SMALL) {
            size_t nfree = cs_bits_count(s->freebits, 0, CS_SPAN_MAX_OBJS);
            if (nfree != s->nfree || s->nfree > s->nobj)
                err = check_fail("free count disagrees with the bitmap", s);
            for (size_t p = 0; p < s->npages && !err; p++)
                if (cs_pagemap_get((void *)(cs_span_start(s) + p * CS_PAGE)) != s)
                    err = check_fail("small span page not mapped", s);
        }
    }
    for (int i = 0; i < CS_MAX_CHAIN && !err; i++) {
        struct cs_freeset *fs = h->slot[i].free;
        if (!fs)
            continue;
        for (int len = 1; len <= CS_HEAP_LISTS && !err; len++)
            if (!(fs->nonempty[len / 64] >> (len % 64) & 1) != !fs->bylen[len])
                err = check_fail("list marks disagree with the lists", fs->bylen[len]);
        for (int len = 0; len <= CS_HEAP_LISTS && !err; len++) {
            for (struct cs_span *s = len ? fs->bylen[len] : fs->big; s && !err; s = s->next) {
                free_pages += s->npages;
                committed += s->ncommitted;
                if (s->state != CS_SPAN_FREE)
                    err = check_fail("free list holds a span in use", s);
                else if ((len && s->npages != (size_t)len) || (!len && s->npages <= CS_HEAP_LISTS))
                    err = check_fail("span on the list of another length", s);
                else if (s->region->slot != (unsigned)i)
                    err = check_fail("span on another source's lists", s);
                else if (s->ncommitted != span_committed(s))
                    err = check_fail("committed count disagrees with the region's bitmap", s);
                else
                    err = check_span_map(s);
                if (!err && cs_span_start(s) > cs_region_base(s->region)) {
                    struct cs_span *l = cs_pagemap_get((void *)(cs_span_start(s) - 1));
                    if (l && l->state == CS_SPAN_FREE)
                        err = check_fail("two free neighbours not coalesced", s);
                }
            }
        }
    }
    struct cs_span *spare = h->spare_own;
    if (!err && spare &&
        (spare->state != CS_SPAN_FREE || !spare->region->own || !covers_region(spare) ||
         spare->ncommitted != span_committed(spare)))
        err = check_fail("spare own region is not a whole free own region", spare);
    if (!err && spare)
        err = check_span_map(spare);
    if (!err && (inuse != h->pages_inuse || free_pages != h->pages_free ||
                 committed != h->pages_free_committed))
        err = check_fail("page counters disagree with the spans", NULL);
    cs_unlock(&h->lock);
    return err;
}

void cs_heap_fork_prepare(struct cs_heap *h)
{
    cs_lock(&h->lock);
}

void cs_heap_fork_parent(struct cs_heap *h)
{
    cs_unlock(&h->lock);
}

void cs_heap_fork_child(struct cs_heap *h)
{
    cs_lock_init(&h->lock);
}
