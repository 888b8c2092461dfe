/*
 * guarded.c - the guarded secondary allocator (placeholder policy hooks are
 * filled in by the hardening work): sampled allocations on pages of their
 * own between guard pages.
 */
#include "platform.h"
#include "export.h"
#include "secondary.h"

static const cistern_secondary_ops_t guarded_ops_none = { 0 };

CS_EXPORT const cistern_secondary_ops_t *cistern_secondary_guarded(void)
{
    return &guarded_ops_none;
}
