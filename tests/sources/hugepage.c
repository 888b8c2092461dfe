/*
 * hugepage.c - the hugepage source with and without huge pages reserved.
 *
 * Built twice: WANT_HUGETLB=1 reserves huge pages (vm.nr_hugepages, root
 * only) and expects MAP_HUGETLB regions; WANT_HUGETLB=0 makes sure none can
 * be had and expects THP-advised regions.  A program whose condition cannot
 * be set up prints a TAP skip plan.  The sysctl is changed and put back by
 * the parent (check forks each test), under a lock file, so that the two
 * programs never run with each other's setting.
 */
#include "srcutil.h"
#include "testutil.h"

#include <fcntl.h>
#include <stdio.h>
#include <sys/file.h>

#ifndef WANT_HUGETLB
#error "build with -DWANT_HUGETLB=0 or 1"
#endif

#define HUGE (2 * MiB)
#define NR_PATH "/proc/sys/vm/nr_hugepages"
#define OVERCOMMIT_PATH "/proc/sys/vm/nr_overcommit_hugepages"
#define LOCK_PATH "/tmp/cistern-test-nr_hugepages.lock"

static long read_long(const char *path)
{
    FILE *f = fopen(path, "r");
    long v = -1;
    if (f) {
        if (fscanf(f, "%ld", &v) != 1)
            v = -1;
        fclose(f);
    }
    return v;
}

static int write_long(const char *path, long v)
{
    FILE *f = fopen(path, "w");
    if (!f)
        return -1;
    int ok = fprintf(f, "%ld\n", v) > 0;
    return fclose(f) == 0 && ok ? 0 : -1;
}

static long meminfo(const char *key)
{
    FILE *f = fopen("/proc/meminfo", "r");
    char line[256];
    long v = -1;
    size_t klen = strlen(key);
    while (f && fgets(line, sizeof line, f))
        if (strncmp(line, key, klen) == 0 && line[klen] == ':')
            v = strtol(line + klen + 1, NULL, 10);
    if (f)
        fclose(f);
    return v;
}

/* The "mode" the JSON report gives the hugepage source. */
static void hugepage_mode(char *out, size_t cap)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    ck_assert_ptr_nonnull(f);
    cistern_stats_print(f, 1);
    fclose(f);
    const char *s = strstr(buf, "\"name\": \"hugepage\"");
    ck_assert_msg(s != NULL, "no hugepage source in the report:\n%s", buf);
    const char *m = strstr(s, "\"mode\": \"");
    ck_assert_ptr_nonnull(m);
    m += strlen("\"mode\": \"");
    size_t n = strcspn(m, "\"");
    ck_assert_uint_lt(n, cap);
    memcpy(out, m, n);
    out[n] = 0;
    free(buf);
}

static cistern_arena_t *huge_arena(void)
{
    cistern_sysalloc_t *h = cistern_sysalloc_hugepage();
    ck_assert_ptr_nonnull(h);
    ck_assert(su_stats(h).flags & CISTERN_SYSALLOC_HUGE);
    return su_arena("huge", &h, 1);
}

START_TEST(allocations_and_mode)
{
    cistern_arena_t *a = huge_arena();
    char mode[32];
    hugepage_mode(mode, sizeof mode);
    ck_assert_str_eq(mode, "unused"); /* nothing mapped yet */
    long free_before = meminfo("HugePages_Free");
    enum { N = 64 };
    char *p[N];
    for (int i = 0; i < N; i++) {
        size_t n = i % 4 == 0 ? 1 * MiB + (size_t)i * KiB : 24 + (size_t)i * 100;
        p[i] = cistern_arena_malloc(a, n);
        ck_assert_ptr_nonnull(p[i]);
        memset(p[i], i, n);
    }
    hugepage_mode(mode, sizeof mode);
    ck_assert_str_eq(mode, WANT_HUGETLB ? "hugetlb" : "thp");
    if (WANT_HUGETLB) /* the pages touched are real huge pages */
        ck_assert_int_lt(meminfo("HugePages_Free"), free_before);
    for (int i = 0; i < N; i++) {
        ck_assert_int_eq(p[i][0], (char)i);
        cistern_free(p[i]);
    }
    ck_assert_int_eq(cistern_check_heap(), 0);
    ck_assert_int_eq(cistern_arena_destroy(a), 0);
}
END_TEST

/* Decommit happens in whole huge pages: a free run holding no aligned
   2 MiB granule keeps its backing; one holding a granule loses exactly the
   granules it holds. */
START_TEST(decommit_in_huge_page_units)
{
    ck_assert_int_eq(cistern_option_set("decay_ms", "-1"), 0);
    cistern_arena_t *a = huge_arena();
    cistern_sysalloc_t *h = cistern_sysalloc_hugepage();
    /* A fresh region is carved front to back: the layout below is known. */
    char *x0 = cistern_arena_malloc(a, 1536 * KiB);
    char *x1 = cistern_arena_malloc(a, 1 * MiB);
    char *x2 = cistern_arena_malloc(a, 1 * MiB);
    char *x3 = cistern_arena_malloc(a, 3 * MiB);
    char *x4 = cistern_arena_malloc(a, 1 * MiB);
    ck_assert_msg(((uintptr_t)x0 & (HUGE - 1)) == 0, "region start %p not huge-page aligned",
                  (void *)x0);
    ck_assert(x1 == x0 + 1536 * KiB && x2 == x1 + 1 * MiB && x3 == x2 + 1 * MiB &&
              x4 == x3 + 3 * MiB);
    memset(x0, 1, 1536 * KiB);
    memset(x1, 2, 1 * MiB);
    memset(x2, 3, 1 * MiB);
    memset(x3, 4, 3 * MiB);
    memset(x4, 5, 1 * MiB);
    size_t committed = su_stats(h).committed_bytes;

    /* x1 spans [1.5 MiB, 2.5 MiB): it straddles a huge page, holds none. */
    cistern_free(x1);
    cistern_release_free_memory();
    ck_assert_msg(su_stats(h).committed_bytes == committed,
                  "a 1 MiB run with no whole huge page in it was decommitted (%zu -> %zu)",
                  committed, su_stats(h).committed_bytes);
    ck_assert_uint_eq(su_resident(x1, 1 * MiB), 1 * MiB / su_page());

    /* x3 spans [3.5 MiB, 6.5 MiB): the huge page [4 MiB, 6 MiB) goes. */
    cistern_free(x3);
    cistern_release_free_memory();
    ck_assert_uint_eq(su_stats(h).committed_bytes, committed - HUGE);
    char *g = x0 + 4 * MiB;
    ck_assert_uint_eq(su_resident(g, HUGE), 0);
    ck_assert_uint_eq(su_resident(x4, 1 * MiB), 1 * MiB / su_page());
    /* The run's edges outside the granule are still backed, so a second
       pass must neither decommit again nor count them as decommitted. */
    cistern_release_free_memory();
    ck_assert_uint_eq(su_resident(x3, 512 * KiB), 512 * KiB / su_page());
    ck_assert_uint_eq(su_resident(x0 + 6 * MiB, 512 * KiB), 512 * KiB / su_page());
    ck_assert_msg(su_stats(h).committed_bytes == committed - HUGE,
                  "a second release counted %zu more bytes decommitted, none were",
                  committed - HUGE - su_stats(h).committed_bytes);
    /* The neighbours kept their contents. */
    ck_assert(x0[0] == 1 && x0[1536 * KiB - 1] == 1 && x2[0] == 3 && x2[MiB - 1] == 3 &&
              x4[0] == 5 && x4[MiB - 1] == 5);
    cistern_free(x0);
    cistern_free(x2);
    cistern_free(x4);
    ck_assert_int_eq(cistern_check_heap(), 0);
    ck_assert_int_eq(cistern_arena_destroy(a), 0);
}
END_TEST

static Suite *make_suite(void)
{
    Suite *s = suite_create(WANT_HUGETLB ? "hugepage_hugetlb" : "hugepage_thp");
    TCase *tc = tcase_create("hugepage");
    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, allocations_and_mode);
    tcase_add_test(tc, decommit_in_huge_page_units);
    suite_add_tcase(s, tc);
    return s;
}

static int skip(const char *why)
{
    printf("1..0 # SKIP %s\n", why);
    return EXIT_SUCCESS;
}

/* Set vm.nr_hugepages (and the overcommit pool) for this program's run:
   0 when the huge pages wanted could be had, else a reason to skip. */
static const char *set_up(long *old_nr, long *old_over)
{
    *old_nr = read_long(NR_PATH);
    *old_over = read_long(OVERCOMMIT_PATH);
    int can_write = geteuid() == 0 && access(NR_PATH, W_OK) == 0 &&
                    (*old_over <= 0 || access(OVERCOMMIT_PATH, W_OK) == 0);
    if (WANT_HUGETLB) {
        if (!can_write)
            return "needs root and a writable " NR_PATH;
        /* 32 MiB regions: sixteen huge pages each, and some to spare. */
        if (write_long(NR_PATH, *old_nr + 24) != 0)
            return "could not raise vm.nr_hugepages";
        if (meminfo("HugePages_Free") < 20)
            return "the kernel could not reserve 20 huge pages";
        return NULL;
    }
    if (meminfo("HugePages_Free") <= 0 && *old_over <= 0)
        return NULL; /* nothing to take away */
    if (!can_write)
        return "huge pages are reserved and cannot be taken away (not root)";
    if (write_long(OVERCOMMIT_PATH, 0) != 0 || write_long(NR_PATH, 0) != 0 ||
        meminfo("HugePages_Free") > 0)
        return "reserved huge pages are in use elsewhere";
    return NULL;
}

static void put_back(long old_nr, long old_over)
{
    if (read_long(NR_PATH) != old_nr)
        write_long(NR_PATH, old_nr);
    if (old_over >= 0 && read_long(OVERCOMMIT_PATH) != old_over)
        write_long(OVERCOMMIT_PATH, old_over);
}

int main(void)
{
    int lock = open(LOCK_PATH, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (lock >= 0)
        flock(lock, LOCK_EX);
    long old_nr, old_over;
    const char *why = set_up(&old_nr, &old_over);
    int rc;
    if (why) {
        put_back(old_nr, old_over);
        rc = skip(why);
    } else {
        SRunner *sr = srunner_create(make_suite());
        srunner_set_fork_status(sr, CK_FORK);
        srunner_set_tap(sr, "-");
        srunner_run_all(sr, CK_SILENT);
        int failed = srunner_ntests_failed(sr);
        srunner_free(sr);
        put_back(old_nr, old_over);
        rc = failed ? EXIT_FAILURE : EXIT_SUCCESS;
    }
    if (lock >= 0)
        close(lock);
    return rc;
}
