/*
 * testutil.h - what every check-based test program shares: a main that runs
 * one suite with TAP output in fork mode (death tests need fork), and small
 * helpers for patterns and timeouts.
 */
#ifndef CS_TESTUTIL_H
#define CS_TESTUTIL_H

#include <check.h>
#include <errno.h>
#include <stdio.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* Fill buf with a pattern derived from seed; check it back. */
static inline void test_fill(void *buf, size_t len, uint32_t seed)
{
    unsigned char *p = buf;
    for (size_t i = 0; i < len; i++)
        p[i] = (unsigned char)(seed * 31u + i * 7u);
}

static inline int test_check(const void *buf, size_t len, uint32_t seed)
{
    const unsigned char *p = buf;
    for (size_t i = 0; i < len; i++)
        if (p[i] != (unsigned char)(seed * 31u + i * 7u))
            return 0;
    return 1;
}

/* Patterns at both ends of a block only: enough to catch an overlap, and
   cheap on a block of megabytes.  Each end gets test_end_len(n) bytes. */
static inline size_t test_end_len(size_t n)
{
    return n / 2 < 64 ? n / 2 : 64;
}

static inline void test_fill_ends(void *p, size_t n, uint32_t seed)
{
    test_fill(p, test_end_len(n), seed);
    test_fill((unsigned char *)p + n - test_end_len(n), test_end_len(n), seed + 1);
}

static inline int test_check_ends(const void *p, size_t n, uint32_t seed)
{
    return test_check(p, test_end_len(n), seed) &&
           test_check((const unsigned char *)p + n - test_end_len(n), test_end_len(n), seed + 1);
}

/* A request size for the fault mixes, from two random numbers (kind, then
   value): a tenth large (256 KiB and up), a fifth in the biggest classes,
   the rest up to 2 KiB. */
static inline size_t test_mixed_size(uint32_t kind, uint32_t value)
{
    switch (kind % 10) {
    case 0:
        return ((size_t)256 << 10) + value % ((size_t)2 << 20);
    case 1:
    case 2:
        return ((size_t)4 << 10) + value % ((size_t)252 << 10);
    default:
        return 1 + value % 2048;
    }
}

/* A private anonymous read-write range of len bytes aligned to align (a
   power of two), with extra mmap flags (MAP_NORESERVE, say): over-map and
   trim both ends.  NULL when the system refuses. */
static inline void *test_map_aligned(size_t len, size_t align, int flags)
{
    size_t span = len + align;
    char *p = mmap(NULL, span, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | flags, -1, 0);
    if (p == MAP_FAILED)
        return NULL;
    uintptr_t a = (uintptr_t)p, start = (a + align - 1) & ~(uintptr_t)(align - 1);
    if (start > a)
        munmap(p, start - a);
    if (a + span > start + len)
        munmap((void *)(start + len), a + span - (start + len));
    return (void *)start;
}

/* A region for a test's custom source: at least min_bytes (else size
   rounded up to pages), aligned to align (at least a page).  NULL when the
   system refuses; *actual gets the length. */
static inline void *test_map_region(size_t size, size_t align, size_t min_bytes, size_t *actual)
{
    size_t page = (size_t)sysconf(_SC_PAGESIZE);
    size_t give = size < min_bytes ? min_bytes : (size + page - 1) & ~(page - 1);
    void *p = test_map_aligned(give, align < page ? page : align, 0);
    if (p)
        *actual = give;
    return p;
}

/* Pages of [p, p + len) the kernel holds in memory now, or -1 where the
   system cannot say (qemu-user refuses mincore): callers skip the
   residency checks then, and keep the rest of the test. */
static inline long test_resident_pages(const void *p, size_t len)
{
    size_t page = (size_t)sysconf(_SC_PAGESIZE);
    uintptr_t lo = (uintptr_t)p & ~(uintptr_t)(page - 1);
    uintptr_t hi = ((uintptr_t)p + len + page - 1) & ~(uintptr_t)(page - 1);
    size_t n = (hi - lo) / page;
    unsigned char *vec = calloc(n ? n : 1, 1);
    if (!vec)
        return -1;
    long count = 0;
    if (mincore((void *)lo, hi - lo, vec) != 0) {
        count = -1;
    } else {
        for (size_t i = 0; i < n; i++)
            count += vec[i] & 1;
    }
    free(vec);
    return count;
}

/* Remove the lines an emulator adds to a dying program's stderr (qemu-user
   prints "qemu: uncaught target signal 6 ..."), so cross runs check the
   same text as native ones. */
static inline void test_drop_emulator_lines(char *s)
{
    char *out = s;
    while (*s) {
        char *nl = strchr(s, '\n');
        size_t len = nl ? (size_t)(nl - s) + 1 : strlen(s);
        if (strncmp(s, "qemu: ", 6) != 0) {
            memmove(out, s, len);
            out += len;
        }
        s += len;
    }
    *out = 0;
}

/* Run fn(arg) in a child whose stderr is captured into err (NUL-ended, the
   emulator's own lines dropped); returns the wait status.  A child that
   returns exits 0; one that hangs is stopped by SIGALRM after timeout_s. */
static inline int test_run_child(void (*fn)(void *), void *arg, char *err, size_t errlen,
                                 unsigned timeout_s)
{
    int fds[2];
    ck_assert_int_eq(pipe(fds), 0);
    fflush(NULL);
    pid_t pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        close(fds[0]);
        dup2(fds[1], 2);
        close(fds[1]);
        alarm(timeout_s);
        fn(arg);
        _exit(0);
    }
    close(fds[1]);
    size_t len = 0;
    for (;;) {
        ssize_t n = read(fds[0], err + len, errlen - 1 - len);
        if (n > 0 && (len += (size_t)n) < errlen - 1)
            continue;
        if (n < 0 && errno == EINTR)
            continue;
        break;
    }
    err[len] = 0;
    test_drop_emulator_lines(err);
    close(fds[0]);
    int status;
    ck_assert_int_eq(waitpid(pid, &status, 0), pid);
    return status;
}

/* main() for a test program: runs the suite made by make_suite, prints TAP,
   and exits non-zero when a test failed. */
#define CS_TEST_MAIN(make_suite)                                                  \
    int main(void)                                                                \
    {                                                                             \
        SRunner *sr = srunner_create(make_suite());                               \
        srunner_set_fork_status(sr, CK_FORK);                                     \
        srunner_set_tap(sr, "-");                                                 \
        srunner_run_all(sr, CK_SILENT);                                           \
        int failed = srunner_ntests_failed(sr);                                   \
        srunner_free(sr);                                                         \
        return failed ? EXIT_FAILURE : EXIT_SUCCESS;                              \
    }

#endif
