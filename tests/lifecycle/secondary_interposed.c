/*
 * secondary_interposed.c - the libc secondary allocator forwards to the
 * malloc the process uses, whoever provides it.  This program provides its
 * own malloc family (thin wrappers over glibc's, counting calls), as a
 * preloaded jemalloc or a sanitizer's runtime would: a foreign block that
 * cistern forwards must reach these functions, not glibc's underneath
 * them, which never saw the block being allocated.  The program is linked
 * with -export-dynamic: its definitions are then the ones every object in
 * the process binds to, exactly as with a preloaded library.
 */
#include "lcutil.h"

#include <cistern.h>

void *__libc_malloc(size_t n);
void *__libc_calloc(size_t n, size_t size);
void *__libc_realloc(void *p, size_t n);
void __libc_free(void *p);
size_t malloc_usable_size(void *p);

static volatile unsigned long n_free, n_realloc;

/* Default visibility: the build hides every symbol unless told. */
#define EXPORTED __attribute__((visibility("default")))

EXPORTED void *malloc(size_t n)
{
    return __libc_malloc(n);
}

EXPORTED void *calloc(size_t n, size_t size)
{
    return __libc_calloc(n, size);
}

EXPORTED void *realloc(void *p, size_t n)
{
    n_realloc++;
    return __libc_realloc(p, n);
}

EXPORTED void free(void *p)
{
    n_free++;
    __libc_free(p);
}

START_TEST(libc_secondary_reaches_the_process_malloc)
{
    ck_assert_int_eq(setenv("CISTERN_OPTIONS", "background_thread=0", 1), 0);
    cistern_free(cistern_malloc(1)); /* initialised: nothing more to set up */
    ck_assert_int_eq(cistern_secondary_set(cistern_secondary_libc(), NULL), 0);

    void *p = malloc(100);
    ck_assert_ptr_nonnull(p);
    unsigned long reallocs = n_realloc;
    void *q = cistern_realloc(p, 200);
    ck_assert_ptr_nonnull(q);
    ck_assert_msg(n_realloc == reallocs + 1,
                  "cistern_realloc of the program's block bypassed the program's realloc");

    unsigned long frees = n_free;
    cistern_free(q);
    ck_assert_msg(n_free == frees + 1,
                  "cistern_free of the program's block bypassed the program's free");
}
END_TEST

static Suite *make_suite(void)
{
    Suite *s = suite_create("secondary_interposed");
    TCase *tc = tcase_create("libc");
    tcase_add_test(tc, libc_secondary_reaches_the_process_malloc);
    suite_add_tcase(s, tc);
    return s;
}

CS_TEST_MAIN(make_suite)
