/*
 * malloc.c - slow paths of the malloc family and the cistern_* entry points.
 */
#include "entry.h"
#include "central.h"
#include "export.h"
#include "fatal.h"
#include "init.h"
#include "pageheap.h"
#include "region.h"
#include "release.h"
#include "secondary.h"
#include "source.h"
#include "tool.h"

#include <cistern.h>
#include <string.h>

/* Requests beyond this cannot be honoured on any machine (and pointer
   differences inside them would overflow): NULL + ENOMEM at once. */
#define CS_MAX_REQUEST ((size_t)PTRDIFF_MAX - CS_PAGE)

struct cistern_arena *cs_current_arena(void)
{
    return cs_thread_arena();
}

/* ---- small and large allocation --------------------------------------------- */

static void *alloc_class(struct cistern_arena *a, unsigned cls)
{
    struct cs_tcache *tc = a == cs_current_arena() ? cs_tcache_current() : cs_tcache_get(a);
    if (tc) {
        void *p = cs_tcache_refill(tc, cls);
        if (p)
            tc->nmalloc++;
        return p;
    }
    void *p;
    if (!cs_central_remove(a, cls, &p, 1))
        return NULL;
    if (cs_unlikely(cs_tool_active))
        cs_tool_alloc(p, cs_classes[cls].size);
    if (!a->notouch)
        *(uintptr_t *)p = 0; /* no stale free marker */
    else
        cs_notouch_handed_out(p);
    cs_atomic_add(&a->nmalloc_direct, 1);
    return p;
}

static struct cs_span *alloc_large(struct cistern_arena *a, size_t n, size_t align)
{
    if (n > CS_MAX_REQUEST) {
        errno = ENOMEM;
        return NULL;
    }
    struct cs_span *s = cs_heap_alloc(&a->heap, (n + CS_PAGE - 1) / CS_PAGE, align, 0);
    if (s && cs_unlikely(cs_tool_active))
        cs_tool_alloc((void *)cs_span_start(s), s->npages * CS_PAGE);
    return s;
}

void *cs_alloc(struct cistern_arena *a, size_t n)
{
    if (cs_unlikely(cs_atomic_load_relaxed(&cs_release_wanted)))
        cs_release_start();
    /* Only the default arena (the process's malloc) consults the secondary:
       an arena bound to its own sources takes everything from them. */
    if (cs_secondary_active && a->is_default) {
        void *p = cs_secondary_alloc(n, 16);
        if (p)
            return p;
    }
    if (n <= CS_SMALL_MAX)
        return alloc_class(a, cs_size_class(n));
    struct cs_span *s = alloc_large(a, n, 0);
    return s ? (void *)cs_span_start(s) : NULL;
}

void *cs_secondary_fallback_alloc(size_t n)
{
    return cistern_malloc(n);
}

/* A hit in the thread's cache of NOTOUCH arena a (id: a's id), or NULL.
   The inline paths leave NOTOUCH caches to the slow paths, which try this
   first.  A destroyed arena's caches are closed, so a stale record cannot
   produce a hit. */
static void *notouch_hit(struct cistern_arena *a, unsigned id, size_t n)
{
    if (n > CS_SMALL_MAX)
        return NULL;
    struct cs_tcache *tc = cs_tcache_slot(id);
    if (tc->arena != a || cs_tcache_touchable(tc))
        return NULL;
    return cs_notouch_take(tc, cs_size_class(n));
}

CS_NOINLINE void *cs_malloc_slow(size_t n)
{
    /* The arena the thread routes to, by the id noted when it was chosen:
       after a teardown the record is gone (and the table cleared). */
    struct cs_thread *t = &cs_tls;
    void *p = t->arena && t->arena_life == cs_atomic_load_relaxed(&cs_life)
                  ? notouch_hit(t->arena, t->arena_id, n)
                  : NULL;
    if (p)
        return p;
    cs_ensure_init();
    return cs_alloc(cs_current_arena(), n);
}

void *cs_alloc_aligned(struct cistern_arena *a, size_t alignment, size_t n)
{
    if (!CS_IS_POW2(alignment)) {
        errno = EINVAL;
        return NULL;
    }
    if (alignment <= 16)
        return cs_alloc(a, n < alignment ? alignment : n); /* 8-byte class is 8-aligned */
    if (cs_secondary_active && a->is_default) {
        void *p = cs_secondary_alloc(n, alignment);
        if (p)
            return p;
    }
    unsigned cls = cs_size_class_aligned(n, alignment);
    if (cls)
        return alloc_class(a, cls);
    struct cs_span *s = alloc_large(a, n < alignment ? alignment : n, alignment);
    return s ? (void *)cs_span_start(s) : NULL;
}

/* Fill [p, p+len) with zeros, through the source's hook for NOTOUCH memory. */
static int zero_fill(struct cs_span *s, void *p, size_t len)
{
    if (!s->notouch) {
        memset(p, 0, len);
        return 0;
    }
    const cistern_sysalloc_ops_t *ops = &s->region->src->ops;
    if (!ops->memset)
        return ENOTSUP;
    return ops->memset(s->region->src->ctx, p, 0, len);
}

void *cs_alloc_zeroed(struct cistern_arena *a, size_t n, size_t size)
{
    size_t total;
    if (__builtin_mul_overflow(n, size, &total)) {
        errno = ENOMEM;
        return NULL;
    }
    if (total > CS_SMALL_MAX && (!cs_secondary_active || !a->is_default)) {
        struct cs_span *s = alloc_large(a, total, 0);
        if (!s)
            return NULL;
        if (!s->zeroed) {
            int err = zero_fill(s, (void *)cs_span_start(s), total);
            if (err) {
                cs_heap_free(&a->heap, s);
                errno = err;
                return NULL;
            }
        }
        return (void *)cs_span_start(s);
    }
    void *p = cs_alloc(a, total);
    if (!p)
        return NULL;
    struct cs_span *s = cs_pagemap_get(p);
    if (!s) { /* from the secondary allocator */
        memset(p, 0, total);
        return p;
    }
    int err = zero_fill(s, p, total);
    if (err) {
        cistern_free(p);
        errno = err;
        return NULL;
    }
    return p;
}

/* ---- free ---------------------------------------------------------------------- */

/* The marker matched: a double free, unless the program stored exactly the
   marker's value in the object's first word.  Confirm against the places a
   free object can be: its span, every thread's cache, the transfer cache. */
static int is_free_somewhere(struct cs_span *s, void *p)
{
    uint32_t idx = cs_span_index(s, (uintptr_t)p - cs_span_start(s));
    if (s->freebits[idx / 64] & ((uint64_t)1 << (idx % 64)))
        return 1;
    if (cs_tcache_any_holds(s->arena, s->cls, p))
        return 1;
    struct cs_central *c = &s->arena->central[s->cls];
    int found = 0;
    cs_lock(&c->lock);
    for (unsigned k = 0; k < c->xfer_n && !found; k++)
        found = c->xfer[k] == p;
    cs_unlock(&c->lock);
    return found;
}

static void free_small(struct cs_span *s, void *p, const char *call)
{
    if (!cs_span_is_object_start(s, (uintptr_t)p - cs_span_start(s)))
        cs_fatal_pointer(call, p, "invalid pointer (not the start of an allocation)");
    if (cs_unlikely(cs_tool_active) && cs_tool_is_freed(p))
        cs_fatal_pointer(call, p, "double free");
    if (!s->notouch) {
        uintptr_t mark = (uintptr_t)p ^ cs_secret;
        if (*(uintptr_t *)p == mark && is_free_somewhere(s, p))
            cs_fatal_pointer(call, p, "double free");
        *(uintptr_t *)p = mark;
    } else if (cs_span_release_object(s, p)) {
        cs_fatal_pointer(call, p, "double free");
    }
    /* The thread's cache of the arena by its table slot (every entry is
       this thread's own live record; one closed by a reset sends the push
       to cs_tcache_overflow, which sorts it out), else the full lookup.
       An object whose source left the chain goes home instead, so that it
       is never handed out again. */
    struct cs_tcache *tc = NULL;
    if (!cs_atomic_load_relaxed(&s->region->retired)) {
        tc = cs_tcache_slot(s->arena->id);
        if (tc->arena != s->arena)
            tc = cs_tcache_get(s->arena);
    }
    if (tc) {
        /* A thread that frees before it ever allocates has no current cache
           yet: take this one, so its next frees stay on the fast path. */
        if (cs_tls.cur == &cs_tcache_none && cs_tcache_touchable(tc) &&
            s->arena == cs_current_arena())
            cs_tls.cur = tc;
        cs_tcache_push(tc, s->cls, p);
        return;
    }
    if (cs_unlikely(cs_tool_active))
        cs_tool_free(p, s->size);
    cs_central_insert_one(s->arena, s, p);
}

static void free_any(void *p, struct cs_span *s, const char *call)
{
    if (!p)
        return;
    if (!s) {
        cs_foreign_free(p, call);
        return;
    }
    switch (s->state) {
    case CS_SPAN_SMALL:
        free_small(s, p, call);
        return;
    case CS_SPAN_LARGE:
        if ((uintptr_t)p != cs_span_start(s))
            cs_fatal_pointer(call, p, "invalid pointer (not the start of an allocation)");
        if (cs_unlikely(cs_tool_active))
            cs_tool_free(p, s->npages * CS_PAGE);
        cs_heap_free(&s->arena->heap, s);
        return;
    default:
        cs_fatal_pointer(call, p, "double free (the pointer lies in free memory)");
    }
}

CS_NOINLINE void cs_free_slow(void *p)
{
    free_any(p, cs_pagemap_get(p), "free");
}

/* ---- realloc and usable size ---------------------------------------------------- */

/* The span of p (which cistern owns), validated as the start of an allocation. */
static struct cs_span *owned_span(const void *p, const char *call)
{
    struct cs_span *s = cs_pagemap_get(p);
    if (s->state == CS_SPAN_SMALL) {
        if (!cs_span_is_object_start(s, (uintptr_t)p - cs_span_start(s)))
            cs_fatal_pointer(call, p, "invalid pointer (not the start of an allocation)");
        /* A freed object still lies in a span in use: realloc must not hand
           it back, nor usable_size vouch for it. */
        int freed = s->notouch ? cs_span_object_released(s, p)
                               : *(const uintptr_t *)p == ((uintptr_t)p ^ cs_secret) &&
                                     is_free_somewhere(s, (void *)p);
        if (freed)
            cs_fatal_pointer(call, p, "pointer to freed memory (a use after free or double free)");
    } else if (s->state != CS_SPAN_LARGE || (uintptr_t)p != cs_span_start(s)) {
        cs_fatal_pointer(call, p, s->state == CS_SPAN_LARGE
                                      ? "invalid pointer (not the start of an allocation)"
                                      : "pointer to freed memory");
    }
    return s;
}

size_t cs_usable_size(const void *p, const char *call)
{
    if (!p)
        return 0;
    struct cs_span *s = cs_pagemap_get(p);
    if (!s)
        return cs_foreign_usable_size(p, call);
    s = owned_span(p, call);
    return s->state == CS_SPAN_SMALL ? s->size : cs_span_end(s) - (uintptr_t)p;
}

static int copy_bytes(struct cs_span *to, void *dst, const void *src, size_t len)
{
    if (!to->notouch) {
        memcpy(dst, src, len);
        return 0;
    }
    const cistern_sysalloc_ops_t *ops = &to->region->src->ops;
    if (!ops->copy)
        return ENOTSUP;
    return ops->copy(to->region->src->ctx, dst, src, len);
}

/* The block p of span s moved: the old one goes.  A large one's pages are
   decommitted at once when it is big (the program holds the copy). */
static void free_moved(struct cs_span *s, void *p)
{
    if (s->state != CS_SPAN_LARGE) {
        free_any(p, s, "realloc");
        return;
    }
    if (cs_unlikely(cs_tool_active))
        cs_tool_free(p, s->npages * CS_PAGE);
    cs_heap_free_moved(&s->arena->heap, s);
}

/* Move p to a new allocation of n bytes in its arena. */
static void *realloc_move(struct cs_span *s, void *p, size_t old, size_t n)
{
    if (s->notouch && !s->region->src->ops.copy) {
        errno = ENOTSUP;
        return NULL;
    }
    void *q = cs_alloc(s->arena, n);
    if (!q)
        return NULL;
    struct cs_span *qs = cs_pagemap_get(q);
    int err = qs ? copy_bytes(qs, q, p, old < n ? old : n) : (memcpy(q, p, old < n ? old : n), 0);
    if (err) {
        cistern_free(q);
        errno = err;
        return NULL;
    }
    free_moved(s, p);
    return q;
}

/* A large block that realloc grows to this size or more, and cannot grow in
   place, moves to an os region of its own (cs_heap_alloc_own), mapped with
   room for half as much again: it then grows without copying, by mremap
   past the room, and once freed its mapping either goes back or serves the
   next such block (the heap's spare own region).  Below it, the copies are
   cheap and a mapping each would cost more. */
#define OWN_MIN_BYTES ((size_t)256 << 10)

static size_t own_room(size_t pages)
{
    return pages / 2;
}

/* Grow or shrink large block p (span s) to n bytes: in place, in its own
   region, or moved.  NULL + errno when it cannot. */
static void *realloc_large(struct cs_span *s, void *p, size_t n)
{
    size_t old = cs_span_end(s) - (uintptr_t)p;
    size_t pages = (n + CS_PAGE - 1) / CS_PAGE, old_pages = s->npages;
    struct cs_heap *h = &s->arena->heap;
    if (pages == old_pages)
        return p;
    /* The region of a span never changes while it is in use: no lock. */
    if (s->region->own && cs_heap_remap(h, s, pages, own_room(pages)) == 0)
        return (void *)cs_span_start(s);
    if (cs_heap_resize(h, s, pages) == 0) {
        if (cs_unlikely(cs_tool_active))
            cs_tool_resize(p, old_pages * CS_PAGE, pages * CS_PAGE);
        return p;
    }
    if (pages > old_pages && n >= OWN_MIN_BYTES && !s->notouch) {
        struct cs_span *q = cs_heap_alloc_own(h, pages, own_room(pages));
        if (q) {
            /* Copied once; from here on it grows by mremap, without copies.
               (Moving the pages instead, with MREMAP_DONTUNMAP, leaves the
               old place in a state qemu-user does not follow.) */
            memcpy((void *)cs_span_start(q), p, old);
            free_moved(s, p);
            return (void *)cs_span_start(q);
        }
    }
    return realloc_move(s, p, old, n);
}

void *cs_realloc(struct cistern_arena *a, void *p, size_t n)
{
    if (!p)
        return cs_alloc(a, n);
    struct cs_span *s = cs_pagemap_get(p);
    if (!s)
        return cs_foreign_realloc(p, n);
    if (n == 0) {
        free_any(p, s, "realloc");
        return NULL;
    }
    s = owned_span(p, "realloc");
    if (s->state == CS_SPAN_SMALL) {
        size_t old = s->size;
        if (n <= old && n >= old / 2)
            return p; /* shrinking by less than half: not worth a copy */
        return realloc_move(s, p, old, n);
    }
    if (n > CS_MAX_REQUEST) {
        errno = ENOMEM;
        return NULL;
    }
    if (n <= CS_SMALL_MAX / 2)
        return realloc_move(s, p, cs_span_end(s) - (uintptr_t)p, n);
    return realloc_large(s, p, n);
}

/* ---- cistern_* entry points ----------------------------------------------------- */

CS_EXPORT void *cistern_malloc(size_t size)
{
    return cs_malloc_fast(size);
}

CS_EXPORT void cistern_free(void *p)
{
    cs_free_fast(p);
}

CS_EXPORT void *cistern_calloc(size_t n, size_t size)
{
    cs_ensure_init();
    return cs_alloc_zeroed(cs_current_arena(), n, size);
}

CS_EXPORT void *cistern_realloc(void *p, size_t size)
{
    cs_ensure_init();
    return cs_realloc(cs_current_arena(), p, size);
}

CS_EXPORT void *cistern_reallocarray(void *p, size_t n, size_t size)
{
    size_t total;
    if (__builtin_mul_overflow(n, size, &total)) {
        errno = ENOMEM;
        return NULL;
    }
    return cistern_realloc(p, total);
}

CS_EXPORT void cistern_free_sized(void *p, size_t size)
{
    (void)size;
    cs_free_fast(p);
}

CS_EXPORT void cistern_free_aligned_sized(void *p, size_t alignment, size_t size)
{
    (void)alignment;
    (void)size;
    cs_free_fast(p);
}

CS_EXPORT void *cistern_aligned_alloc(size_t alignment, size_t size)
{
    cs_ensure_init();
    return cs_alloc_aligned(cs_current_arena(), alignment, size);
}

CS_EXPORT int cistern_posix_memalign(void **out, size_t alignment, size_t size)
{
    if (!out || !CS_IS_POW2(alignment) || alignment % sizeof(void *))
        return EINVAL;
    cs_ensure_init();
    int saved = errno;
    void *p = cs_alloc_aligned(cs_current_arena(), alignment, size);
    if (!p) {
        int err = errno;
        errno = saved;
        return err ? err : ENOMEM;
    }
    *out = p;
    return 0;
}

CS_EXPORT size_t cistern_usable_size(const void *p)
{
    return cs_usable_size(p, "cistern_usable_size");
}

static CS_NOINLINE void *arena_malloc_slow(cistern_arena_t *a, size_t size)
{
    void *p = a ? notouch_hit(a, a->id, size) : NULL;
    if (p)
        return p;
    if (cs_arena_check(a, "cistern_arena_malloc")) {
        errno = EINVAL;
        return NULL;
    }
    return cs_alloc(a, size);
}

CS_EXPORT void *cistern_arena_malloc(cistern_arena_t *a, size_t size)
{
    /* A cache exists only for a live arena's current epoch (a reset or
       destroy empties it in place), so a hit needs no further check. */
    if (cs_likely(a != NULL)) {
        void *p = cs_arena_malloc_fast(a, size);
        if (cs_likely(p != NULL))
            return p;
    }
    return arena_malloc_slow(a, size);
}

CS_EXPORT void *cistern_arena_calloc(cistern_arena_t *a, size_t n, size_t size)
{
    if (cs_arena_check(a, "cistern_arena_calloc")) {
        errno = EINVAL;
        return NULL;
    }
    return cs_alloc_zeroed(a, n, size);
}

CS_EXPORT void *cistern_arena_realloc(cistern_arena_t *a, void *p, size_t size)
{
    if (!p && cs_arena_check(a, "cistern_arena_realloc")) {
        errno = EINVAL;
        return NULL;
    }
    cs_ensure_init();
    return cs_realloc(p ? cs_current_arena() : a, p, size);
}

CS_EXPORT void *cistern_arena_aligned_alloc(cistern_arena_t *a, size_t alignment, size_t size)
{
    if (cs_arena_check(a, "cistern_arena_aligned_alloc")) {
        errno = EINVAL;
        return NULL;
    }
    return cs_alloc_aligned(a, alignment, size);
}

CS_EXPORT cistern_arena_t *cistern_thread_set_arena(cistern_arena_t *a)
{
    cs_ensure_init();
    struct cistern_arena *prev = cs_current_arena();
    if (a && cs_arena_check(a, "cistern_thread_set_arena")) {
        errno = EINVAL;
        return prev;
    }
    cs_tls.arena = a == cs_default_arena ? NULL : a;
    cs_tls.arena_id = a ? a->id : 0;
    cs_tls.arena_life = cs_atomic_load_acquire(&cs_life);
    cs_tls.cur = &cs_tcache_none; /* the next malloc binds the cache of the new arena */
    return prev;
}
