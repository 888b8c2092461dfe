/*
 * hardening.c - double frees and frees of interior pointers stop the
 * program in every size class, not only the few sizes the api and unit
 * tiers try (design invariant 7).  The classes are found through the
 * public API: the usable sizes cistern_usable_size reports, from 1 byte up
 * to the small limit.  Large sizes close the list.
 *
 * Each case runs in a child with stderr captured; one test walks every
 * class and reports all the classes that failed, not just the first.
 */
#include "lcutil.h"

#include <cistern.h>

#define SMALL_MAX ((size_t)256 * 1024)
#define EXPECTED_CLASSES 97
#define MAX_SIZES 160

static const size_t large_sizes[] = { SMALL_MAX + 1, 300000, 1 << 20, (4 << 20) + 123,
                                      64 << 20 };
#define NLARGE (sizeof large_sizes / sizeof large_sizes[0])

/* The size of every small class (its usable size), ascending. */
static size_t find_classes(size_t *out, size_t cap)
{
    size_t n = 0;
    for (size_t want = 1; want <= SMALL_MAX && n < cap;) {
        void *p = cistern_malloc(want);
        ck_assert_ptr_nonnull(p);
        size_t u = cistern_usable_size(p);
        cistern_free(p);
        ck_assert_uint_ge(u, want);
        out[n++] = u;
        want = u + 1;
    }
    return n;
}

enum misuse { TWICE, TWICE_FLUSHED, INTERIOR };

struct misuse_case {
    enum misuse how;
    size_t size;
};

static void misuse(void *arg)
{
    const struct misuse_case *c = arg;
    /* No background thread: its start (from an allocation) must not be
       what a test sees. */
    if (cistern_option_set("background_thread", "0") != 0)
        _exit(3);
    unsigned char *p = cistern_malloc(c->size);
    unsigned char *keep = cistern_malloc(c->size); /* its span stays in use */
    if (!p || !keep)
        _exit(4);
    memset(p, 0x77, c->size < 4096 ? c->size : 4096);
    switch (c->how) {
    case TWICE:
        cistern_free(p);
        cistern_free(p);
        break;
    case TWICE_FLUSHED:
        cistern_free(p);
        /* Out of this thread's cache, into the arena's lists and span. */
        cistern_release_free_memory();
        cistern_free(p);
        break;
    case INTERIOR:
        cistern_free(p + c->size / 2);
        break;
    }
}

/* NULL when the child stopped with the one expected line, else why not
   (in buf). */
static const char *judge(const struct misuse_case *c, char *buf, size_t cap)
{
    struct lc_outcome o;
    lc_run_child(misuse, (void *)c, &o);
    const char *word = c->how == INTERIOR ? "invalid pointer" : "double free";
    /* A large block's pages may have gone back to the system with the
       flush: cistern no longer knows the address, and can only call it
       foreign.  The program still stops, with the same one line. */
    if (c->how == TWICE_FLUSHED && c->size > SMALL_MAX && !strstr(o.err, word))
        word = "pointer not allocated by cistern";
    char how[64];
    if (!lc_aborted(&o))
        snprintf(buf, cap, "%zu: %s, stderr \"%.200s\"", c->size, lc_ending(&o, how, sizeof how),
                 o.err);
    else if (!strstr(o.err, word) || lc_count_lines(o.err) != 1 ||
             strncmp(o.err, "cistern: free(0x", 16) != 0)
        snprintf(buf, cap, "%zu: message \"%.200s\"", c->size, o.err);
    else
        return NULL;
    return buf;
}

static void every_size(enum misuse how, const char *what)
{
    size_t sizes[MAX_SIZES + NLARGE];
    ck_assert_int_eq(cistern_option_set("background_thread", "0"), 0);
    size_t n = find_classes(sizes, MAX_SIZES);
    ck_assert_msg(n == EXPECTED_CLASSES, "%zu small classes found, expected %d", n,
                  EXPECTED_CLASSES);
    for (size_t i = 0; i < NLARGE; i++)
        sizes[n++] = large_sizes[i];

    char failures[2048] = "", one[320];
    int nfail = 0;
    for (size_t i = 0; i < n; i++) {
        struct misuse_case c = { how, sizes[i] };
        if (judge(&c, one, sizeof one)) {
            if (nfail++ < 4) {
                strncat(failures, one, sizeof failures - strlen(failures) - 3);
                strcat(failures, "; ");
            }
        }
    }
    printf("# %s: %zu sizes (%zu classes, %zu .. %zu bytes, and %zu large), %d not stopped\n",
           what, n, n - NLARGE, sizes[0], sizes[n - NLARGE - 1], NLARGE, nfail);
    fflush(stdout);
    ck_assert_msg(nfail == 0, "%s not stopped for %d sizes: %s", what, nfail, failures);
}

START_TEST(double_free_every_class)
{
    every_size(TWICE, "double free");
}
END_TEST

START_TEST(double_free_after_flush_every_class)
{
    every_size(TWICE_FLUSHED, "double free after a cache flush");
}
END_TEST

START_TEST(interior_free_every_class)
{
    every_size(INTERIOR, "free of an interior pointer");
}
END_TEST

static Suite *make_suite(void)
{
    Suite *s = suite_create("hardening");
    TCase *tc = tcase_create("every_class");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, double_free_every_class);
    tcase_add_test(tc, double_free_after_flush_every_class);
    tcase_add_test(tc, interior_free_every_class);
    suite_add_tcase(s, tc);
    return s;
}

CS_TEST_MAIN(make_suite)
