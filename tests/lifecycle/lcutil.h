/*
 * lcutil.h - what the lifecycle tests share: the process's mappings and
 * resident set as the kernel reports them, a check that a range the test
 * owns is still mapped and writable, and death tests with stderr captured.
 *
 * /proc is read with read(2) into static buffers: stdio would allocate,
 * and the figures being measured must not move because of the measuring.
 */
#ifndef CS_LCUTIL_H
#define CS_LCUTIL_H

#include "testutil.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#define KiB ((size_t)1 << 10)
#define MiB ((size_t)1 << 20)

/* qemu-user (cross runs) shows the guest a /proc of its own making, and
   its own resident set: figures there say little about the library. */
static inline int lc_under_qemu(void)
{
    return getenv("CS_UNDER_QEMU") != NULL;
}

/* Under AddressSanitizer or ThreadSanitizer the runtime's own allocator
   keeps freed memory in quarantine and maps shadow for every range it
   sees: the process's mappings and resident set grow whatever the library
   does, so the figures are printed but not judged there. */
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#define LC_SANITIZED 1
#else
#define LC_SANITIZED 0
#endif

/* Whether growth of mappings and RSS means anything here. */
static inline int lc_figures_judged(void)
{
    return !LC_SANITIZED && !lc_under_qemu();
}

/* /proc/self/maps as one string in a static buffer (a process with a few
   thousand mappings fits). */
static inline const char *lc_maps(void)
{
    static char buf[1 << 20];
    int fd = open("/proc/self/maps", O_RDONLY | O_CLOEXEC);
    ck_assert_int_ge(fd, 0);
    size_t len = 0;
    ssize_t n;
    while (len + 1 < sizeof buf && (n = read(fd, buf + len, sizeof buf - 1 - len)) != 0) {
        if (n < 0 && errno == EINTR)
            continue;
        ck_assert_int_gt(n, 0);
        len += (size_t)n;
    }
    close(fd);
    ck_assert_msg(len + 1 < sizeof buf, "/proc/self/maps larger than %zu bytes", sizeof buf);
    buf[len] = 0;
    return buf;
}

static inline int lc_maps_count(void)
{
    int n = 0;
    for (const char *s = lc_maps(); *s; s++)
        n += *s == '\n';
    return n;
}

/* The first line of /proc/self/maps that names needle, copied to out
   (empty when none). */
static inline int lc_maps_find(const char *needle, char *out, size_t cap)
{
    const char *maps = lc_maps(), *hit = strstr(maps, needle);
    out[0] = 0;
    if (!hit)
        return 0;
    const char *start = hit;
    while (start > maps && start[-1] != '\n')
        start--;
    const char *end = strchr(hit, '\n');
    size_t len = end ? (size_t)(end - start) : strlen(start);
    if (len >= cap)
        len = cap - 1;
    memcpy(out, start, len);
    out[len] = 0;
    return 1;
}

/* Resident set in KiB, from /proc/self/statm (its second field, in pages). */
static inline size_t lc_rss_kib(void)
{
    char buf[256];
    int fd = open("/proc/self/statm", O_RDONLY | O_CLOEXEC);
    ck_assert_int_ge(fd, 0);
    ssize_t n = read(fd, buf, sizeof buf - 1);
    close(fd);
    ck_assert_int_gt(n, 0);
    buf[n] = 0;
    unsigned long size = 0, resident = 0;
    ck_assert_int_eq(sscanf(buf, "%lu %lu", &size, &resident), 2);
    return resident * ((size_t)sysconf(_SC_PAGESIZE) / 1024);
}

/* Every byte of [base, base+len) lies in mappings that are readable and
   writable, as /proc/self/maps lists them. */
static inline int lc_range_mapped_rw(const void *base, size_t len)
{
    uintptr_t want = (uintptr_t)base, end = want + len;
    const char *s = lc_maps();
    while (*s && want < end) {
        uintptr_t lo, hi;
        char perms[8];
        if (sscanf(s, "%" SCNxPTR "-%" SCNxPTR " %7s", &lo, &hi, perms) == 3 && lo <= want &&
            want < hi) {
            if (perms[0] != 'r' || perms[1] != 'w')
                return 0;
            want = hi;
        }
        const char *nl = strchr(s, '\n');
        if (!nl)
            break;
        s = nl + 1;
    }
    return want >= end;
}

/* ---- death tests ------------------------------------------------------------------ */

struct lc_outcome {
    int status;     /* from waitpid */
    char err[8192]; /* everything the child wrote to stderr */
};

/* Run fn(arg) in a child whose stderr is a pipe; a child that returns
   exits 0, one that hangs is stopped by SIGALRM. */
static inline void lc_run_child(void (*fn)(void *), void *arg, struct lc_outcome *o)
{
    o->status = test_run_child(fn, arg, o->err, sizeof o->err, 30);
}

static inline int lc_aborted(const struct lc_outcome *o)
{
    return WIFSIGNALED(o->status) && WTERMSIG(o->status) == SIGABRT;
}

/* How the child ended, in words, for a failure message. */
static inline const char *lc_ending(const struct lc_outcome *o, char *buf, size_t cap)
{
    if (WIFSIGNALED(o->status))
        snprintf(buf, cap, "killed by signal %d", WTERMSIG(o->status));
    else
        snprintf(buf, cap, "exit status %d", WEXITSTATUS(o->status));
    return buf;
}

static inline int lc_count_lines(const char *s)
{
    int n = 0;
    for (; *s; s++)
        n += *s == '\n';
    return n;
}

#endif
