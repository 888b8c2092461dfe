/*
 * unload.c - a plugin that uses cistern (libcistern_api) is dlopen'd, used
 * and dlclose'd thousands of times (design invariant 6).  The library must
 * really go away each time (its destructor giving back every mapping it
 * made, pagemap and metadata included), so the number of mappings and the
 * resident set stay flat, and the pool the program lends the plugin comes
 * back mapped, writable and untouched outside its bounds.
 *
 * This program does not link cistern: only the plugin does, so nothing
 * but the plugin keeps the library loaded.
 */
#include "lcutil.h"
#include "plugin.h"

#include <dlfcn.h>
#include <sys/mman.h>
#include <time.h>

#ifndef LC_PLUGIN
#error "LC_PLUGIN: the path of the built plugin"
#endif

/* Enough cycles that a leak of one page per load shows as megabytes. */
#define CYCLES 2000
/* qemu-user translates every load's code afresh, and a sanitizer's figures
   are not judged (see lcutil.h): fewer cycles there. */
#define CYCLES_FEW 200
/* Mappings and memory first settle (glibc's thread-stack cache, dynamic
   TLS blocks, the loader's own bookkeeping): measure from here. */
#define WARMUP 50
/* What may still move after the warm-up without meaning a leak: a stack
   more or less in glibc's cache, the loader's structures. */
#define MAPS_SLACK 8
#define RSS_SLACK_KIB 4096

/* Room for the blocks the plugin and its threads keep in it at once. */
#define POOL_LEN (32 * MiB)
#define GUARD_BYTE 0x5a

struct pool {
    unsigned char *map; /* guard page, pool, guard page */
    size_t page;
    unsigned char *base;
};

static void pool_map(struct pool *p)
{
    p->page = (size_t)sysconf(_SC_PAGESIZE);
    size_t len = POOL_LEN + 2 * p->page;
    p->map = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    ck_assert_ptr_ne(p->map, MAP_FAILED);
    p->base = p->map + p->page;
    memset(p->map, GUARD_BYTE, p->page);
    memset(p->base + POOL_LEN, GUARD_BYTE, p->page);
}

/* The pool is still mapped read-write, its pages can be written (one in
   eight is tried: writing them all would page the whole pool in on every
   cycle), and the pages on either side were never touched. */
static void pool_check(const struct pool *p, unsigned cycle)
{
    ck_assert_msg(lc_range_mapped_rw(p->base, POOL_LEN),
                  "cycle %u: the pool is no longer mapped read-write", cycle);
    for (size_t off = 0; off < POOL_LEN; off += 8 * p->page)
        p->base[off] = (unsigned char)cycle;
    for (size_t i = 0; i < p->page; i++)
        ck_assert_msg(p->map[i] == GUARD_BYTE && p->base[POOL_LEN + i] == GUARD_BYTE,
                      "cycle %u: a byte next to the pool changed", cycle);
}

static void cycle_once(struct pool *p, unsigned cycle)
{
    void *h = dlopen(LC_PLUGIN, RTLD_NOW | RTLD_LOCAL);
    ck_assert_msg(h != NULL, "dlopen: %s", dlerror());
    lc_plugin_work_fn work = (lc_plugin_work_fn)dlsym(h, "lc_plugin_work");
    ck_assert_msg(work != NULL, "dlsym: %s", dlerror());
    struct lc_plugin_args args = { p->base, POOL_LEN, 4, cycle, 0 };
    int line = work(&args);
    ck_assert_msg(line == 0, "cycle %u: the plugin's check at plugin.c:%d failed (errno %d)",
                  cycle, line, args.errno_seen);
    ck_assert_msg(dlclose(h) == 0, "dlclose: %s", dlerror());

    char line_buf[512];
    ck_assert_msg(!lc_maps_find("libcistern_api", line_buf, sizeof line_buf),
                  "cycle %u: libcistern_api still mapped after dlclose: %s", cycle, line_buf);
    pool_check(p, cycle);
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

START_TEST(dlopen_dlclose_flat)
{
    char line_buf[512];
    ck_assert_msg(!lc_maps_find("libcistern_api", line_buf, sizeof line_buf),
                  "libcistern_api is mapped before the first dlopen: %s", line_buf);
    struct pool p;
    pool_map(&p);
    unsigned cycles = lc_figures_judged() ? CYCLES : CYCLES_FEW;
    int maps_start = lc_maps_count();
    size_t rss_start = lc_rss_kib();
    double t0 = now_s();

    for (unsigned c = 0; c < WARMUP; c++)
        cycle_once(&p, c);
    int maps_warm = lc_maps_count();
    size_t rss_warm = lc_rss_kib();
    int maps_max = maps_warm;
    for (unsigned c = WARMUP; c < cycles; c++) {
        cycle_once(&p, c);
        if (c % 100 == 0) {
            int m = lc_maps_count();
            maps_max = m > maps_max ? m : maps_max;
        }
    }
    int maps_end = lc_maps_count();
    size_t rss_end = lc_rss_kib();
    double secs = now_s() - t0;

    printf("# %u dlopen/dlclose cycles in %.1f s (%.2f ms each)\n", cycles, secs,
           1000 * secs / cycles);
    printf("# /proc/self/maps lines: %d before, %d after %d cycles, %d after %u (max %d)\n",
           maps_start, maps_warm, WARMUP, maps_end, cycles, maps_max);
    printf("# RSS: %zu KiB before, %zu KiB after %d cycles, %zu KiB after %u\n", rss_start,
           rss_warm, WARMUP, rss_end, cycles);
    fflush(stdout);

    if (!LC_SANITIZED)
        ck_assert_msg(maps_end <= maps_warm + MAPS_SLACK,
                      "mappings grew from %d to %d over %u cycles", maps_warm, maps_end,
                      cycles - WARMUP);
    if (lc_figures_judged())
        ck_assert_msg(rss_end <= rss_warm + RSS_SLACK_KIB,
                      "RSS grew from %zu KiB to %zu KiB over %u cycles", rss_warm, rss_end,
                      cycles - WARMUP);
    ck_assert(!lc_maps_find("libcistern_api", line_buf, sizeof line_buf));
    munmap(p.map, POOL_LEN + 2 * p.page);
}
END_TEST

static Suite *make_suite(void)
{
    Suite *s = suite_create("unload");
    TCase *tc = tcase_create("dlclose");
    tcase_set_timeout(tc, 600);
    tcase_add_test(tc, dlopen_dlclose_flat);
    suite_add_tcase(s, tc);
    return s;
}

CS_TEST_MAIN(make_suite)
