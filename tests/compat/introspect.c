/*
 * introspect.c - glibc's introspection calls answered by the drop-in
 * library: mallinfo2 and mallinfo follow allocations, malloc_info writes
 * balanced XML whose totals move, malloc_stats prints its summary, and
 * mallopt accepts exactly the parameters it documents.
 *
 * Compiled against the system <malloc.h> (not the library's include path),
 * so the structures and parameter values are glibc's own: a layout the
 * library got wrong shows up as nonsense figures here.
 */
#include "testutil.h"

#include <cistern.h>
#include <errno.h>
#include <limits.h>
#include <malloc.h>
#include <stdio.h>
#include <unistd.h>

#define HAVE_MALLINFO2 (__GLIBC__ > 2 || (__GLIBC__ == 2 && __GLIBC_MINOR__ >= 33))

/* Room for what the test harness itself allocates between two readings. */
#define SLACK ((size_t)256 << 10)

enum { NSMALL = 2000, SMALL = 1000 };

static void *small[NSMALL];

static void alloc_small(void)
{
    for (int i = 0; i < NSMALL; i++) {
        small[i] = malloc(SMALL);
        ck_assert_ptr_nonnull(small[i]);
        test_fill(small[i], SMALL, (uint32_t)i);
    }
}

static void free_small(void)
{
    for (int i = 0; i < NSMALL; i++) {
        ck_assert(test_check(small[i], SMALL, (uint32_t)i));
        free(small[i]);
    }
}

/* Bytes NSMALL objects may account for: rounding to a size class costs at
   most 12.5 %. */
static int about_small(size_t grew)
{
    size_t want = (size_t)NSMALL * SMALL;
    return grew >= want && grew <= want + want / 8 + SLACK;
}

/* ---- mallinfo2 / mallinfo ------------------------------------------------------- */

#if HAVE_MALLINFO2
START_TEST(mallinfo2_follows_small)
{
    struct mallinfo2 m0 = mallinfo2();
    alloc_small();
    struct mallinfo2 m1 = mallinfo2();
    ck_assert_msg(m1.uordblks > m0.uordblks && about_small(m1.uordblks - m0.uordblks),
                  "uordblks %zu -> %zu", m0.uordblks, m1.uordblks);
    free_small();
    struct mallinfo2 m2 = mallinfo2();
    ck_assert_msg(m2.uordblks <= m0.uordblks + SLACK, "uordblks %zu -> %zu -> %zu after free",
                  m0.uordblks, m1.uordblks, m2.uordblks);
    /* The freed bytes stay committed for a while: fordblks took them. */
    ck_assert_uint_ge(m2.fordblks + SLACK, (size_t)NSMALL * SMALL);
}
END_TEST

START_TEST(mallinfo2_follows_large)
{
    const size_t big = (size_t)8 << 20;
    struct mallinfo2 m0 = mallinfo2();
    char *p = malloc(big);
    ck_assert_ptr_nonnull(p);
    p[0] = p[big - 1] = 1;
    struct mallinfo2 m1 = mallinfo2();
    ck_assert_uint_eq(m1.hblks, m0.hblks + 1);
    ck_assert_uint_ge(m1.hblkhd, m0.hblkhd + big);
    ck_assert_uint_le(m1.hblkhd, m0.hblkhd + big + SLACK);
    /* uordblks + hblkhd is what the program holds, as with glibc. */
    ck_assert_uint_le(m1.uordblks, m0.uordblks + SLACK);
    ck_assert_uint_ge(m1.arena, m1.hblkhd);
    free(p);
    struct mallinfo2 m2 = mallinfo2();
    ck_assert_uint_eq(m2.hblks, m0.hblks);
    ck_assert_uint_eq(m2.hblkhd, m0.hblkhd);
}
END_TEST

START_TEST(mallinfo2_consistent)
{
    alloc_small();
    free(small[0]);
    free(small[1]);
    struct mallinfo2 m = mallinfo2();
    ck_assert_uint_gt(m.arena, 0);
    /* Committed memory (in use, or free but backed) fits in what was reserved. */
    ck_assert_uint_le(m.uordblks + m.hblkhd + m.fordblks, m.arena);
    ck_assert_uint_le(m.fsmblks, m.fordblks);
    ck_assert_uint_le(m.keepcost, m.fordblks);
    ck_assert_uint_eq(m.usmblks, 0);
    /* The two objects just freed sit in this thread's cache. */
    ck_assert_uint_ge(m.smblks, 2);
    ck_assert_uint_ge(m.fsmblks, 2 * SMALL);
}
END_TEST

START_TEST(mallinfo_matches_mallinfo2)
{
    alloc_small();
    struct mallinfo2 m2 = mallinfo2();
    struct mallinfo m = mallinfo();
    /* Nothing allocates between the two readings. */
    ck_assert_uint_eq((size_t)m.uordblks, m2.uordblks);
    ck_assert_uint_eq((size_t)m.hblkhd, m2.hblkhd);
    ck_assert_uint_eq((size_t)m.fordblks, m2.fordblks);
    ck_assert_uint_eq((size_t)m.smblks, m2.smblks);
    ck_assert_uint_eq((size_t)m.arena, m2.arena > INT_MAX ? (size_t)INT_MAX : m2.arena);
}
END_TEST

/* A figure past INT_MAX reads as INT_MAX, not as a wrapped number. */
START_TEST(mallinfo_saturates)
{
    if (sizeof(size_t) < 8)
        return; /* no 3 GiB block on a 32-bit target */
    const size_t huge = (size_t)3 << 30;
    char *p = malloc(huge); /* reserved, never touched: costs no memory */
    if (!p)
        return; /* address space limited (ulimit -v): nothing to check */
    struct mallinfo m = mallinfo();
    struct mallinfo2 m2 = mallinfo2();
    ck_assert_uint_ge(m2.hblkhd, huge);
    ck_assert_int_eq(m.hblkhd, INT_MAX);
    ck_assert_int_eq(m.arena, INT_MAX);
    ck_assert_int_ge(m.uordblks, 0);
    free(p);
}
END_TEST
#endif

/* ---- malloc_info ---------------------------------------------------------------- */

/* A minimal well-formedness check: every open tag is closed by its own
   name, attribute values are quoted, one root.  0 when it holds. */
static int xml_balanced(const char *s, char *why, size_t whylen)
{
    const char *stack[64];
    size_t stack_len[64];
    int depth = 0, roots = 0;
    while ((s = strchr(s, '<'))) {
        int closing = s[1] == '/';
        const char *name = s + 1 + closing;
        size_t n = strcspn(name, " />");
        const char *end = name + n;
        while (*end && *end != '>') {
            if (*end == '"' || *end == '\'') {
                const char *q = strchr(end + 1, *end);
                if (!q)
                    return snprintf(why, whylen, "unterminated attribute"), 1;
                end = q;
            } else if (*end == '<') {
                return snprintf(why, whylen, "'<' inside a tag"), 1;
            }
            end++;
        }
        if (!*end)
            return snprintf(why, whylen, "unterminated tag"), 1;
        if (closing) {
            if (depth == 0 || stack_len[depth - 1] != n || strncmp(stack[depth - 1], name, n))
                return snprintf(why, whylen, "</%.*s> closes nothing open", (int)n, name), 1;
            depth--;
        } else if (end[-1] != '/') {
            if (depth == 0)
                roots++;
            if (depth == 64)
                return snprintf(why, whylen, "nested too deep"), 1;
            stack[depth] = name;
            stack_len[depth++] = n;
        }
        s = end + 1;
    }
    if (depth)
        return snprintf(why, whylen, "<%.*s> never closed", (int)stack_len[depth - 1],
                        stack[depth - 1]), 1;
    if (roots != 1)
        return snprintf(why, whylen, "%d root elements", roots), 1;
    return 0;
}

static char *info_text(void)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    ck_assert_ptr_nonnull(f);
    ck_assert_int_eq(malloc_info(0, f), 0);
    ck_assert_int_eq(fclose(f), 0);
    return buf;
}

/* The process-wide <total type="inuse" size=...>: the last one, after the heaps. */
static size_t info_inuse(const char *xml)
{
    const char *key = "<total type=\"inuse\"", *last = NULL;
    for (const char *p = xml; (p = strstr(p, key)); p++)
        last = p;
    ck_assert_ptr_nonnull(last);
    ck_assert_ptr_null(strstr(last, "</heap>"));
    const char *size = strstr(last, "size=\"");
    ck_assert_ptr_nonnull(size);
    return (size_t)strtoull(size + 6, NULL, 10);
}

START_TEST(malloc_info_xml)
{
    char why[128];
    char *xml = info_text();
    ck_assert_msg(strncmp(xml, "<malloc version=\"1\">\n", 21) == 0, "starts: %.40s", xml);
    ck_assert_ptr_nonnull(strstr(xml, "<heap nr=\"0\""));
    ck_assert_ptr_nonnull(strstr(xml, "<source name=\"os\""));
    size_t len = strlen(xml);
    ck_assert_str_eq(xml + len - 10, "</malloc>\n");
    ck_assert_msg(xml_balanced(xml, why, sizeof why) == 0, "%s in:\n%s", why, xml);
    free(xml);
}
END_TEST

START_TEST(malloc_info_totals_move)
{
    char *before = info_text();
    alloc_small();
    char *during = info_text();
    free_small();
    char *after = info_text();
    size_t b = info_inuse(before), d = info_inuse(during), a = info_inuse(after);
    ck_assert_msg(d > b && about_small(d - b), "inuse %zu -> %zu", b, d);
    ck_assert_msg(a <= b + SLACK, "inuse %zu -> %zu -> %zu", b, d, a);
    free(before);
    free(during);
    free(after);
}
END_TEST

/* Arena names are the program's: markup in them is escaped. */
START_TEST(malloc_info_escapes_names)
{
    cistern_arena_config_t cfg = { .name = "a<b>&\"c'" };
    cistern_arena_t *arena = cistern_arena_create(&cfg);
    ck_assert_ptr_nonnull(arena);
    void *p = cistern_arena_malloc(arena, 100);
    ck_assert_ptr_nonnull(p);
    char why[128];
    char *xml = info_text();
    ck_assert_msg(strstr(xml, "name=\"a&lt;b&gt;&amp;&quot;c&apos;\""), "%s", xml);
    ck_assert_msg(xml_balanced(xml, why, sizeof why) == 0, "%s in:\n%s", why, xml);
    free(xml);
    free(p);
    ck_assert_int_eq(cistern_arena_destroy(arena), 0);
}
END_TEST

START_TEST(malloc_info_rejects)
{
    FILE *f = tmpfile();
    ck_assert_ptr_nonnull(f);
    ck_assert_int_eq(malloc_info(1, f), EINVAL);
    ck_assert_int_eq(ftell(f), 0); /* nothing written */
    fclose(f);
    ck_assert_int_eq(malloc_info(0, NULL), EINVAL);
}
END_TEST

/* ---- malloc_stats --------------------------------------------------------------- */

/* malloc_stats' text, captured from stderr. */
static char *stats_text(void)
{
    FILE *f = tmpfile();
    ck_assert_ptr_nonnull(f);
    int saved = dup(2);
    ck_assert_int_ge(saved, 0);
    ck_assert_int_ge(dup2(fileno(f), 2), 0);
    malloc_stats();
    dup2(saved, 2);
    close(saved);
    off_t len = lseek(fileno(f), 0, SEEK_END);
    ck_assert_int_gt(len, 0);
    char *buf = calloc(1, (size_t)len + 1);
    ck_assert_ptr_nonnull(buf);
    ck_assert_int_eq(pread(fileno(f), buf, (size_t)len, 0), (ssize_t)len);
    fclose(f);
    return buf;
}

/* The number after "label =" in the Total section. */
static size_t total_figure(const char *text, const char *label)
{
    const char *total = strstr(text, "Total");
    ck_assert_ptr_nonnull(total);
    const char *at = strstr(total, label);
    ck_assert_msg(at != NULL, "no '%s' in:\n%s", label, text);
    at = strchr(at, '=');
    ck_assert_ptr_nonnull(at);
    return (size_t)strtoull(at + 1, NULL, 10);
}

START_TEST(malloc_stats_summary)
{
    char *t0 = stats_text();
    alloc_small();
    char *t1 = stats_text();
    ck_assert_msg(strncmp(t1, "Arena ", 6) == 0, "%s", t1);
    ck_assert_ptr_nonnull(strstr(t1, "(default):\n"));
    ck_assert_ptr_nonnull(strstr(t1, "system bytes     = "));
    size_t in0 = total_figure(t0, "in use bytes"), in1 = total_figure(t1, "in use bytes");
    size_t sys = total_figure(t1, "system bytes");
    ck_assert_msg(in1 > in0 && about_small(in1 - in0), "in use %zu -> %zu", in0, in1);
    ck_assert_uint_ge(sys, in1);
    ck_assert_uint_le(total_figure(t1, "committed bytes"), sys);
    free(t0);
    free(t1);
    free_small();
}
END_TEST

/* ---- mallopt -------------------------------------------------------------------- */

static long long decay(void)
{
    long long v = -2;
    ck_assert_int_eq(cistern_option_get("decay_ms", &v), 0);
    return v;
}

START_TEST(mallopt_trim_threshold)
{
    long long start = decay();
    ck_assert_int_eq(mallopt(M_TRIM_THRESHOLD, 128 << 10), 1); /* nothing to undo */
    ck_assert_int_eq(decay(), start);
    ck_assert_int_eq(mallopt(M_TRIM_THRESHOLD, -1), 1);        /* never trim */
    ck_assert_int_eq(decay(), -1);
    ck_assert_int_eq(mallopt(M_TRIM_THRESHOLD, 0), 1);         /* trim at once */
    ck_assert_int_eq(decay(), 0);
    ck_assert_int_eq(mallopt(M_TRIM_THRESHOLD, 1 << 20), 1);   /* back to before */
    ck_assert_int_eq(decay(), start);
}
END_TEST

START_TEST(mallopt_accepts_what_holds)
{
    ck_assert_int_eq(mallopt(M_ARENA_MAX, 1), 1);
    ck_assert_int_eq(mallopt(M_ARENA_MAX, 8), 1);
    ck_assert_int_eq(mallopt(M_ARENA_MAX, 0), 0);
    ck_assert_int_eq(mallopt(M_ARENA_TEST, 2), 1);
    ck_assert_int_eq(mallopt(M_MMAP_MAX, 0), 1);
    ck_assert_int_eq(mallopt(M_MMAP_MAX, -1), 0);
    ck_assert_int_eq(mallopt(M_TOP_PAD, 128 << 10), 1);
    ck_assert_int_eq(mallopt(M_TOP_PAD, 1 << 30), 0);
    ck_assert_int_eq(mallopt(M_TOP_PAD, -1), 0);
    ck_assert_int_eq(mallopt(M_PERTURB, 0), 1);
    ck_assert_int_eq(mallopt(M_PERTURB, 0xa5), 0);
}
END_TEST

START_TEST(mallopt_rejects_the_rest)
{
    long long start = decay();
    ck_assert_int_eq(mallopt(M_MMAP_THRESHOLD, 1 << 20), 0);
    ck_assert_int_eq(mallopt(M_MXFAST, 64), 0);
    ck_assert_int_eq(mallopt(M_CHECK_ACTION, 3), 0);
    ck_assert_int_eq(mallopt(12345, 1), 0);
    ck_assert_int_eq(mallopt(-100, 1), 0);
    /* None of it changed the allocator. */
    ck_assert_int_eq(decay(), start);
    void *p = malloc(100);
    ck_assert_ptr_nonnull(p);
    free(p);
    ck_assert_int_eq(cistern_check_heap(), 0);
}
END_TEST

static Suite *make_suite(void)
{
    Suite *s = suite_create("compat_introspect");
    TCase *tc = tcase_create("introspect");
    tcase_set_timeout(tc, 60);
#if HAVE_MALLINFO2
    tcase_add_test(tc, mallinfo2_follows_small);
    tcase_add_test(tc, mallinfo2_follows_large);
    tcase_add_test(tc, mallinfo2_consistent);
    tcase_add_test(tc, mallinfo_matches_mallinfo2);
    tcase_add_test(tc, mallinfo_saturates);
#endif
    tcase_add_test(tc, malloc_info_xml);
    tcase_add_test(tc, malloc_info_totals_move);
    tcase_add_test(tc, malloc_info_escapes_names);
    tcase_add_test(tc, malloc_info_rejects);
    tcase_add_test(tc, malloc_stats_summary);
    tcase_add_test(tc, mallopt_trim_threshold);
    tcase_add_test(tc, mallopt_accepts_what_holds);
    tcase_add_test(tc, mallopt_rejects_the_rest);
    suite_add_tcase(s, tc);
    return s;
}

CS_TEST_MAIN(make_suite)
