/*
 * api_suite.h - the test cases of the API conformance programs, one
 * builder per file, assembled by main.c.
 */
#ifndef CS_API_SUITE_H
#define CS_API_SUITE_H

#include "testutil.h"
#include "names.h"

#include <errno.h>

TCase *api_tcase_family(void); /* family.c: malloc, free, calloc, realloc, sizes */
TCase *api_tcase_huge(void);   /* family.c: impossible requests */
TCase *api_tcase_align(void);  /* align.c: aligned_alloc, posix_memalign, memalign, ... */
TCase *api_tcase_death(void);  /* death.c: foreign pointers and double frees abort */
#ifdef CS_TEST_DROPIN
TCase *api_tcase_glibc(void);  /* glibc.c: __libc_* names and libc running on cistern */
#endif

/* For a test that counts objects, or needs nothing to allocate between two
   calls: cistern starts its background release thread from the first free
   that leaves committed pages, and creating a thread allocates (see
   free_does_not_allocate in death.c).  Each test runs in a fresh child
   (fork mode) where that thread does not exist yet, so no thread reads the
   option while it changes. */
static inline void no_background_thread(void)
{
    ck_assert_int_eq(cistern_option_set("background_thread", "0"), 0);
}

/* A size the compiler cannot see through: impossible requests written as
   constants would otherwise draw -Walloc-size-larger-than warnings. */
static inline size_t opaque(size_t v)
{
    volatile size_t x = v;
    return x;
}

/* Index of the first non-zero byte of [p, p+n), or n.  Loops over data
   check a plain condition and assert once: check's assertions record a
   mark per call, far too slow for megabytes. */
static inline size_t first_nonzero(const void *p, size_t n)
{
    const unsigned char *c = p;
    size_t i = 0;
    while (i < n && c[i] == 0)
        i++;
    return i;
}

/* Assert that an allocation call failed with NULL and the given errno. */
#define ck_assert_fails(expr, err)                                              \
    do {                                                                        \
        errno = 0;                                                              \
        void *fails_p_ = (expr);                                                \
        int fails_e_ = errno;                                                   \
        ck_assert_msg(fails_p_ == NULL, "%s succeeded", #expr);                 \
        ck_assert_msg(fails_e_ == (err), "%s: errno %d, expected %d", #expr,   \
                      fails_e_, (err));                                         \
    } while (0)

#endif
