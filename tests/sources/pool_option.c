/*
 * pool_option.c - CISTERN_OPTIONS=pool=anon:SIZE puts a pool first in the
 * default arena's chain of a program that knows nothing about cistern.
 *
 * preload_probe runs with the drop-in library preloaded and prints
 * cistern's JSON report while its blocks are live; this test reads the
 * default arena's chain and the sources' figures from it.
 */
#include "srcutil.h"
#include "testutil.h"

#include <stdio.h>
#include <sys/wait.h>

#ifndef CS_DROPIN_LIB
#error "CS_DROPIN_LIB: the drop-in library of the build tree"
#endif
#ifndef CS_PROBE
#error "CS_PROBE: the preload_probe program"
#endif

/* Run the probe with the drop-in preloaded and options set; its stdout. */
static char *run_probe(const char *options)
{
    const char *lib = getenv("CISTERN_LIB");
    if (!lib || !*lib)
        lib = CS_DROPIN_LIB;
    ck_assert_msg(access(lib, R_OK) == 0, "no drop-in library at %s", lib);
    int fd[2];
    ck_assert_int_eq(pipe(fd), 0);
    pid_t pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        dup2(fd[1], 1);
        close(fd[0]);
        close(fd[1]);
        setenv("LD_PRELOAD", lib, 1);
        if (options)
            setenv("CISTERN_OPTIONS", options, 1);
        else
            unsetenv("CISTERN_OPTIONS");
        execl(CS_PROBE, CS_PROBE, (char *)NULL);
        _exit(127);
    }
    close(fd[1]);
    size_t cap = 1 << 16, len = 0;
    char *out = malloc(cap);
    ssize_t n;
    while ((n = read(fd[0], out + len, cap - len - 1)) > 0) {
        len += (size_t)n;
        if (cap - len < 4096)
            out = realloc(out, cap *= 2);
    }
    out[len] = 0;
    close(fd[0]);
    int status;
    ck_assert_int_eq(waitpid(pid, &status, 0), pid);
    ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0, "probe failed (status %#x):\n%s",
                  status, out);
    return out;
}

/* The value of "key": N inside the JSON object that begins at obj. */
static unsigned long long field(const char *obj, const char *key)
{
    char pat[64];
    snprintf(pat, sizeof pat, "\"%s\": ", key);
    const char *end = strchr(obj, '}');
    const char *f = strstr(obj, pat);
    ck_assert_msg(f && (!end || f < end), "no %s in %.200s", key, obj);
    return strtoull(f + strlen(pat), NULL, 10);
}

static const char *source_obj(const char *report, const char *name)
{
    char pat[64];
    snprintf(pat, sizeof pat, "{\"name\": \"%s\"", name);
    const char *s = strstr(report, pat);
    ck_assert_msg(s != NULL, "no %s source in the report:\n%s", name, report);
    return s;
}

/* The default arena's chain, as the report lists it: "pool", "os"... */
static const char *default_chain(const char *report)
{
    const char *a = strstr(report, "{\"name\": \"default\"");
    ck_assert_msg(a != NULL, "no default arena in the report:\n%s", report);
    const char *c = strstr(a, "\"sources\": [");
    ck_assert_ptr_nonnull(c);
    return c + strlen("\"sources\": [");
}

START_TEST(pool_option_goes_first)
{
    char *out = run_probe("pool=anon:64M");
    const char *chain = default_chain(out);
    ck_assert_msg(strncmp(chain, "\"pool\"", 6) == 0, "default chain does not start with the pool: %.80s",
                  chain);
    const char *pool = source_obj(out, "pool");
    ck_assert_uint_eq(field(pool, "reserved_bytes"), 64 * MiB);
    ck_assert_uint_ge(field(pool, "in_use_bytes"), 6 * 600 * KiB);
    ck_assert_uint_eq(field(pool, "flags") & CISTERN_SYSALLOC_INJECTED, CISTERN_SYSALLOC_INJECTED);
    /* Everything the probe allocated fit the pool: the os source served nothing. */
    ck_assert_uint_eq(field(source_obj(out, "os"), "in_use_bytes"), 0);
    free(out);
}
END_TEST

/* pool=huge:SIZE reserves huge pages (MAP_HUGETLB, else THP-advised 2 MiB
   aligned memory).  Such a pool must carry the HUGE tag so that it decommits
   in huge-page units: MADV_DONTNEED on a hugetlb range that does not start on
   a huge page fails with EINVAL, and one that does frees only whole huge
   pages, so a page-sized granule loses or miscounts every partial run. */
START_TEST(huge_pool_decommits_in_huge_pages)
{
    char *out = run_probe("pool=huge:64M");
    const char *chain = default_chain(out);
    ck_assert(strncmp(chain, "\"pool\"", 6) == 0);
    const char *pool = source_obj(out, "pool");
    ck_assert_uint_eq(field(pool, "reserved_bytes"), 64 * MiB);
    ck_assert_msg(field(pool, "flags") & CISTERN_SYSALLOC_HUGE,
                  "the huge pool is not tagged HUGE (flags %llu): it decommits in OS pages",
                  field(pool, "flags"));
    free(out);
}
END_TEST

/* Without the option the chain is the usual one and holds no pool. */
START_TEST(no_option_no_pool)
{
    char *out = run_probe(NULL);
    const char *chain = default_chain(out);
    ck_assert_msg(strncmp(chain, "\"pool\"", 6) != 0, "a pool without the option");
    ck_assert_ptr_null(strstr(out, "{\"name\": \"pool\""));
    ck_assert_uint_gt(field(source_obj(out, "os"), "in_use_bytes"), 0);
    free(out);
}
END_TEST

/* A bad spec warns and keeps the default chain; the program still runs. */
START_TEST(bad_spec_keeps_default)
{
    char *out = run_probe("pool=anon:lots");
    ck_assert_ptr_null(strstr(out, "{\"name\": \"pool\""));
    free(out);
}
END_TEST

static Suite *make_suite(void)
{
    Suite *s = suite_create("pool_option");
    TCase *tc = tcase_create("preloaded");
    tcase_set_timeout(tc, 20);
    tcase_add_test(tc, pool_option_goes_first);
    tcase_add_test(tc, huge_pool_decommits_in_huge_pages);
    tcase_add_test(tc, no_option_no_pool);
    tcase_add_test(tc, bad_spec_keeps_default);
    suite_add_tcase(s, tc);
    return s;
}

CS_TEST_MAIN(make_suite)
