/*
 * init_hook.c - a program that defines cistern_init_hook, declared in
 * <cistern.h>, gets it called once during initialisation, before the first
 * allocation is served, so a pool injected there serves even that one.
 *
 * The definition below carries no attribute of its own: it relies on the
 * header's declaration, as a program built with the project's flags
 * (-fvisibility=hidden) would.
 */
#include "srcutil.h"
#include "testutil.h"

#define POOL_LEN (8 * MiB)

static void *pool_base;
static int hook_calls;

void cistern_init_hook(void)
{
    hook_calls++;
    void *p = mmap(NULL, POOL_LEN, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED)
        return;
    cistern_sysalloc_t *s = cistern_sysalloc_pool(p, POOL_LEN, 0);
    if (s && cistern_arena_add_sysalloc(cistern_arena_default(), s, 0) == 0)
        pool_base = p;
}

START_TEST(hook_serves_first_allocation)
{
    ck_assert_int_eq(hook_calls, 0); /* nothing has initialised cistern yet */
    void *first = cistern_malloc(32);
    ck_assert_msg(hook_calls == 1, "cistern_init_hook was called %d times: is it exported?",
                  hook_calls);
    ck_assert_ptr_nonnull(pool_base);
    ck_assert_msg(su_inside(first, 32, pool_base, POOL_LEN),
                  "the first allocation did not come from the pool the hook injected");
    void *big = cistern_malloc(1 * MiB);
    ck_assert(su_inside(big, 1 * MiB, pool_base, POOL_LEN));
    cistern_free(big);
    cistern_free(first);
    cistern_arena_t *a = cistern_arena_create(NULL);
    ck_assert_ptr_nonnull(a);
    ck_assert_int_eq(cistern_arena_destroy(a), 0);
    ck_assert_int_eq(hook_calls, 1); /* once per initialisation */
}
END_TEST

static Suite *make_suite(void)
{
    Suite *s = suite_create("init_hook");
    TCase *tc = tcase_create("hook");
    tcase_add_test(tc, hook_serves_first_allocation);
    suite_add_tcase(s, tc);
    return s;
}

CS_TEST_MAIN(make_suite)
