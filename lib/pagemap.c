/*
 * pagemap.c - node allocation for the radix tree (lookups are in the header).
 */
#include "pagemap.h"
#include "meta.h"

#include <string.h>

cs_atomic_t cs_pm_root[1u << CS_PM_ROOT_BITS];
/* Serialises node creation; lookups never take it. */
static cs_lock_t pm_grow_lock = CS_LOCK_INIT;

static int ensure_page(uintptr_t a)
{
    cs_atomic_t *slot = &cs_pm_root[a >> (CS_PAGE_SHIFT + CS_PM_LEAF_BITS)];
    if (!cs_atomic_load_acquire(slot)) {
        struct cs_pm_leaf *leaf = cs_meta_alloc(sizeof *leaf);
        if (!leaf)
            return ENOMEM;
        /* Release: the zeroed node is visible before its pointer. */
        cs_atomic_store_release(slot, (uintptr_t)leaf);
    }
    return 0;
}

int cs_pagemap_ensure(uintptr_t start, size_t len)
{
    if (len == 0)
        return 0;
#if CS_64BIT
    if ((start >> CS_VA_BITS) || ((start + len - 1) >> CS_VA_BITS) || start + len < start)
        return EFAULT;
#endif
    int err = 0;
    const uintptr_t leaf_span = (uintptr_t)CS_PAGE << CS_PM_LEAF_BITS;
    cs_lock(&pm_grow_lock);
    for (uintptr_t a = CS_ALIGN_DOWN(start, leaf_span); a < start + len && !err; a += leaf_span) {
        err = ensure_page(a);
        if (a + leaf_span < a)
            break;
    }
    cs_unlock(&pm_grow_lock);
    return err;
}

void cs_pagemap_set(uintptr_t a, struct cs_span *s)
{
    struct cs_pm_leaf *leaf = cs_pm_leaf_of(a);
    leaf->span[(a >> CS_PAGE_SHIFT) & ((1u << CS_PM_LEAF_BITS) - 1)] = s;
}

void cs_pagemap_set_range(uintptr_t a, size_t npages, struct cs_span *s)
{
    while (npages) {
        struct cs_pm_leaf *leaf = cs_pm_leaf_of(a);
        size_t i = (a >> CS_PAGE_SHIFT) & ((1u << CS_PM_LEAF_BITS) - 1);
        size_t n = ((size_t)1 << CS_PM_LEAF_BITS) - i;
        if (n > npages)
            n = npages;
        for (size_t k = 0; k < n; k++)
            leaf->span[i + k] = s;
        npages -= n;
        a += n * CS_PAGE;
    }
}

void cs_pagemap_reset(void)
{
    memset((void *)cs_pm_root, 0, sizeof cs_pm_root);
}
