/*
 * source.c - source records: accounting, granule-aware decommit, reuse of
 * ranges handed back, the registry, and the public calls that act on any
 * source (custom constructor, release, stats).
 */
#include "source.h"
#include "export.h"
#include "meta.h"
#include "release.h"
#include "tool.h"

#include <string.h>

static cs_lock_t registry_lock = CS_LOCK_INIT;
static struct cistern_sysalloc *registry;

struct cistern_sysalloc *cs_source_new(const char *name, const cistern_sysalloc_ops_t *ops,
                                       void *ctx, size_t granule, unsigned flags,
                                       enum cs_source_kind kind)
{
    size_t page = cs_os_page_size();
    if (!ops || !ops->alloc || (granule && !CS_IS_POW2(granule))) {
        errno = EINVAL;
        return NULL;
    }
    struct cistern_sysalloc *s = cs_meta_alloc(sizeof *s);
    if (!s) {
        errno = ENOMEM;
        return NULL;
    }
    strncpy(s->name, name ? name : "custom", CS_SOURCE_NAME - 1);
    s->ops = *ops;
    s->ctx = ctx;
    s->granule = granule < page ? page : granule;
    s->flags = flags;
    s->kind = kind;
    return s;
}

int cs_source_register(struct cistern_sysalloc *s)
{
    cs_lock(&registry_lock);
    s->prev = NULL;
    s->next = registry;
    if (registry)
        registry->prev = s;
    registry = s;
    cs_unlock(&registry_lock);
    return 0;
}

static void unregister(struct cistern_sysalloc *s)
{
    cs_lock(&registry_lock);
    if (s->prev)
        s->prev->next = s->next;
    else
        registry = s->next;
    if (s->next)
        s->next->prev = s->prev;
    cs_unlock(&registry_lock);
}

void cs_source_foreach(void (*fn)(struct cistern_sysalloc *s, void *ctx), void *ctx)
{
    cs_lock(&registry_lock);
    for (struct cistern_sysalloc *s = registry; s; s = s->next)
        fn(s, ctx);
    cs_unlock(&registry_lock);
}

/* First fit among the ranges handed back; the unused head and tail stay. */
static void *take_returned(struct cistern_sysalloc *s, size_t size, size_t align, size_t *actual)
{
    void *p = NULL;
    cs_lock(&s->lock);
    for (struct cs_range **pp = &s->returned; *pp; pp = &(*pp)->next) {
        struct cs_range *r = *pp;
        uintptr_t start = CS_ALIGN_UP(r->base, align);
        if (start < r->base || start + size > r->base + r->len || start + size < start)
            continue;
        p = (void *)start;
        *actual = r->base + r->len - start;
        if (start > r->base) {
            r->len = start - r->base; /* keep the head */
        } else {
            *pp = r->next;
            cs_meta_free(r, sizeof *r);
        }
        break;
    }
    cs_unlock(&s->lock);
    return p;
}

/* Keep [base, base+len) sorted by address, merged with its neighbours. */
static int keep_returned(struct cistern_sysalloc *s, uintptr_t base, size_t len)
{
    int err = 0;
    cs_lock(&s->lock);
    struct cs_range **pp = &s->returned;
    while (*pp && (*pp)->base + (*pp)->len < base)
        pp = &(*pp)->next;
    struct cs_range *r = *pp;
    if (r && r->base + r->len == base) {
        r->len += len;
        struct cs_range *n = r->next;
        if (n && r->base + r->len == n->base) {
            r->len += n->len;
            r->next = n->next;
            cs_meta_free(n, sizeof *n);
        }
    } else if (r && base + len == r->base) {
        r->base = base;
        r->len += len;
    } else {
        struct cs_range *n = cs_meta_alloc(sizeof *n);
        if (n) {
            n->base = base;
            n->len = len;
            n->next = r;
            *pp = n;
        } else {
            err = ENOMEM;
        }
    }
    cs_unlock(&s->lock);
    return err;
}

void *cs_source_alloc(struct cistern_sysalloc *s, size_t size, size_t align, size_t *actual)
{
    *actual = 0;
    void *p = s->returned ? take_returned(s, size, align, actual) : NULL;
    if (!p) {
        p = s->ops.alloc(s->ctx, size, align, actual);
        if (!p || *actual < size || ((uintptr_t)p & (align - 1))) {
            if (p && s->ops.unmap && !(s->flags & CISTERN_SYSALLOC_INJECTED))
                s->ops.unmap(s->ctx, p, *actual);
            cs_source_count(&s->failures, 1);
            return NULL;
        }
    }
    /* Reserved only: pages count as committed once the heap hands them out. */
    cs_source_count(&s->reserved, (intptr_t)*actual);
    return p;
}

void cs_source_give_back(struct cistern_sysalloc *s, uintptr_t base, size_t len,
                         size_t still_committed)
{
    cs_source_count(&s->reserved, -(intptr_t)len);
    cs_source_count(&s->committed, -(intptr_t)still_committed);
    /* Whatever maps these addresses next (cistern's metadata, the program)
       must not inherit a checker's poison. */
    if (cs_tool_active && !(s->flags & CISTERN_SYSALLOC_NOTOUCH))
        cs_tool_hand_back((void *)base, len);
    if (!(s->flags & CISTERN_SYSALLOC_INJECTED) && s->ops.unmap) {
        s->ops.unmap(s->ctx, (void *)base, len);
        return;
    }
    /* Injected memory is decommitted, never unmapped, and served again. */
    if (still_committed)
        cs_source_decommit(s, base, len);
    keep_returned(s, base, len);
}

size_t cs_source_decommit(struct cistern_sysalloc *s, uintptr_t base, size_t len)
{
    uintptr_t a = CS_ALIGN_UP(base, s->granule);
    uintptr_t b = CS_ALIGN_DOWN(base + len, s->granule);
    if (b <= a || !s->ops.decommit)
        return 0;
    if (s->ops.decommit(s->ctx, (void *)a, b - a) != 0)
        return 0;
    return b - a;
}

int cs_source_commit(struct cistern_sysalloc *s, uintptr_t base, size_t len, size_t newly)
{
    int err = s->ops.commit ? s->ops.commit(s->ctx, (void *)base, len) : 0;
    if (err == 0) {
        cs_source_count(&s->committed, (intptr_t)newly);
        cs_release_committed((size_t)cs_atomic_load_relaxed(&s->committed));
    }
    return err;
}

void cs_source_teardown(void)
{
    cs_lock(&registry_lock);
    struct cistern_sysalloc *s = registry;
    registry = NULL;
    cs_unlock(&registry_lock);
    while (s) {
        struct cistern_sysalloc *next = s->next;
        if (s->ops.destroy && !s->process_wide)
            s->ops.destroy(s->ctx);
        s = next;
    }
}

void cs_source_fork_prepare(void)
{
    cs_lock(&registry_lock);
}

void cs_source_fork_parent(void)
{
    cs_unlock(&registry_lock);
}

void cs_source_fork_child(void)
{
    cs_lock_init(&registry_lock);
}

/* ---- public calls --------------------------------------------------------- */

CS_EXPORT cistern_sysalloc_t *cistern_sysalloc_custom(const char *name,
                                                      const cistern_sysalloc_ops_t *ops,
                                                      void *ctx, size_t granule, unsigned flags)
{
    if (flags & ~(CISTERN_SYSALLOC_INJECTED | CISTERN_SYSALLOC_NOTOUCH |
                  CISTERN_SYSALLOC_SHARED | CISTERN_SYSALLOC_HUGE)) {
        errno = EINVAL;
        return NULL;
    }
    struct cistern_sysalloc *s = cs_source_new(name, ops, ctx, granule, flags, CS_SRC_CUSTOM);
    if (!s)
        return NULL;
    cs_source_register(s);
    return s;
}

CS_EXPORT int cistern_sysalloc_release(cistern_sysalloc_t *s)
{
    if (!s)
        return EINVAL;
    if (s->process_wide)
        return EINVAL;
    /* reserved counts what arenas still hold (ranges handed back are not in it). */
    if (cs_atomic_load_acquire(&s->nchains) || cs_atomic_load_acquire(&s->in_use) ||
        cs_atomic_load_acquire(&s->reserved))
        return EBUSY;
    /* Not in a chain and nothing in use: every region came back already, so
       reserved bytes can only be ranges kept for reuse. */
    unregister(s);
    while (s->returned) {
        struct cs_range *r = s->returned;
        s->returned = r->next;
        cs_meta_free(r, sizeof *r);
    }
    if (s->ops.destroy)
        s->ops.destroy(s->ctx);
    cs_meta_free(s, sizeof *s);
    return 0;
}

CS_EXPORT int cistern_sysalloc_get_stats(const cistern_sysalloc_t *s, cistern_sysalloc_stats_t *out)
{
    if (!s || !out)
        return EINVAL;
    out->name = s->name;
    out->flags = s->flags;
    out->reserved_bytes = cs_atomic_load_relaxed(&s->reserved);
    out->committed_bytes = cs_atomic_load_relaxed(&s->committed);
    out->in_use_bytes = cs_atomic_load_relaxed(&s->in_use);
    out->failures = cs_atomic_load_relaxed(&s->failures);
    return 0;
}
