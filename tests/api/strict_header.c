/*
 * strict_header.c - <cistern.h> as a strict program meets it: built with
 * -Wall -Wextra -Werror -pedantic, it uses the contract's forms that such
 * flags check, among them an ops table initialised by position (five
 * operations, no field left out) and the byte access set apart.  Building
 * is the test; running checks the calls answer as documented.
 */
#include <cistern.h>

#include <errno.h>
#include <stdio.h>

static void *no_alloc(void *ctx, size_t size, size_t align, size_t *actual)
{
    (void)ctx, (void)size, (void)align, (void)actual;
    return NULL;
}

static int no_op(void *ctx, void *p, size_t len)
{
    (void)ctx, (void)p, (void)len;
    return 0;
}

static int fill(void *ctx, void *p, int c, size_t len)
{
    (void)ctx, (void)p, (void)c, (void)len;
    return 0;
}

static int copy(void *ctx, void *dst, const void *src, size_t len)
{
    (void)ctx, (void)dst, (void)src, (void)len;
    return 0;
}

static const cistern_sysalloc_ops_t ops = { no_alloc, no_op, no_op, NULL, NULL };
static const cistern_sysalloc_access_t access_ops = { fill, copy };

int main(void)
{
    int failed = 0;
    cistern_sysalloc_t *s = cistern_sysalloc_custom("strict", &ops, NULL, 0, 0);
    if (!s) {
        printf("1..1\nnot ok 1 - cistern_sysalloc_custom failed\n");
        return 1;
    }
    if (cistern_sysalloc_set_access(s, &access_ops) != 0)
        failed |= 2;
    if (cistern_sysalloc_set_access(NULL, &access_ops) != EINVAL)
        failed |= 4;
    if (cistern_sysalloc_set_access(cistern_sysalloc_os(), &access_ops) != EINVAL)
        failed |= 8;
    cistern_arena_config_t cfg = { "strict", &s, 1, 0, 0 };
    cistern_arena_t *a = cistern_arena_create(&cfg);
    if (!a || cistern_sysalloc_set_access(s, NULL) != EBUSY) /* an arena uses it now */
        failed |= 16;
    if (!a || cistern_arena_destroy(a) != 0 || cistern_sysalloc_release(s) != 0)
        failed |= 32;
    printf("1..1\n%s 1 - positional ops table and cistern_sysalloc_set_access (mask %d)\n",
           failed ? "not ok" : "ok", failed);
    return failed ? 1 : 0;
}
