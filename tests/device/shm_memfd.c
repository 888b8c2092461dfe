/*
 * shm_memfd.c - the shm source over a memfd: another process that maps the
 * same file finds the data by offset; decommit punches holes, so the file's
 * blocks really go; bad arguments are EINVAL; release unmaps cistern's view
 * and leaves the file to its owner.
 */
#define _GNU_SOURCE 1
#include "devutil.h"

#include <fcntl.h>
#include <stdio.h>
#include <sys/stat.h>

static int new_memfd(void)
{
    int fd = memfd_create("cistern-shm-test", MFD_CLOEXEC);
    ck_assert_msg(fd >= 0, "memfd_create: %s", strerror(errno));
    return fd;
}

static struct stat fd_stat(int fd)
{
    struct stat st;
    ck_assert_int_eq(fstat(fd, &st), 0);
    return st;
}

/* Bytes the file occupies (st_blocks is in 512-byte units). */
static size_t file_bytes(int fd)
{
    return (size_t)fd_stat(fd).st_blocks * 512;
}

static int is_mapped(const void *p)
{
    unsigned char v;
    return mincore((void *)((uintptr_t)p & ~(su_page() - 1)), 1, &v) == 0;
}

/* ---- another process reads by offset ------------------------------------------ */

struct record {
    off_t off;
    size_t len;
    uint32_t seed;
};

#define NREC 200

/* The child maps the file afresh, wherever the kernel likes, and checks
   every record the parent sends: exit 0 when all match. */
static int child_check(int fd, int rd, size_t len, const void *parent_view)
{
    unsigned char *view = mmap(NULL, len, PROT_READ, MAP_SHARED, fd, 0);
    if (view == MAP_FAILED || (const void *)view == parent_view)
        return 2;
    struct record r;
    int n = 0;
    while (read(rd, &r, sizeof r) == (ssize_t)sizeof r) {
        if (r.off < 0 || (size_t)r.off + r.len > len || !test_check(view + r.off, r.len, r.seed))
            return 3;
        n++;
    }
    return n == NREC ? 0 : 4;
}

START_TEST(child_reads_by_offset)
{
    const size_t len = 64 * MiB;
    int fd = new_memfd();
    cistern_sysalloc_t *s = cistern_sysalloc_shm(fd, 0, len, 0);
    ck_assert_msg(s != NULL, "cistern_sysalloc_shm: %s", strerror(errno));
    ck_assert_uint_eq(su_stats(s).flags & (CISTERN_SYSALLOC_SHARED | CISTERN_SYSALLOC_INJECTED),
                      CISTERN_SYSALLOC_SHARED | CISTERN_SYSALLOC_INJECTED);
    const void *view = cistern_sysalloc_shm_pointer(s, 0);
    ck_assert_ptr_nonnull(view);
    cistern_arena_t *a = su_arena("shm", &s, 1);

    /* The child starts before anything is allocated: all it learns comes
       through the pipe (offsets) and the file (bytes). */
    int pfd[2];
    ck_assert_int_eq(pipe(pfd), 0);
    fflush(NULL);
    pid_t pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        close(pfd[1]);
        _exit(child_check(fd, pfd[0], len, view));
    }
    close(pfd[0]);
    uint64_t rng = 7;
    for (uint32_t i = 0; i < NREC; i++) {
        size_t n = i % 20 == 0 ? 300 * KiB + su_rand(&rng) % (2 * MiB) : 1 + su_rand(&rng) % 5000;
        char *p = cistern_arena_malloc(a, n);
        ck_assert_ptr_nonnull(p);
        test_fill(p, n, i);
        struct record r = { cistern_sysalloc_shm_offset(s, p), n, i };
        ck_assert_int_ge(r.off, 0);
        ck_assert_ptr_eq(cistern_sysalloc_shm_pointer(s, r.off), p);
        ck_assert_int_eq(write(pfd[1], &r, sizeof r), (ssize_t)sizeof r);
    }
    close(pfd[1]);
    int st;
    ck_assert_int_eq(waitpid(pid, &st, 0), pid);
    ck_assert_msg(WIFEXITED(st) && WEXITSTATUS(st) == 0, "child status %#x", st);
    ck_assert_int_eq(cistern_arena_destroy(a), 0);
    ck_assert_int_eq(cistern_sysalloc_release(s), 0);
    close(fd);
}
END_TEST

/* ---- decommit gives the file's blocks back ------------------------------------ */

START_TEST(decommit_punches_holes)
{
    const size_t len = 64 * MiB, big = 16, small = 4000;
    int fd = new_memfd();
    cistern_sysalloc_t *s = cistern_sysalloc_shm(fd, 0, len, 0);
    ck_assert_ptr_nonnull(s);
    cistern_arena_t *a = su_arena("shm-decommit", &s, 1);
    size_t before = file_bytes(fd);

    void *bp[16], *sp[4000];
    for (size_t i = 0; i < big; i++) {
        bp[i] = cistern_arena_malloc(a, 1 * MiB);
        ck_assert_ptr_nonnull(bp[i]);
        memset(bp[i], 0xab, 1 * MiB);
    }
    for (size_t i = 0; i < small; i++) {
        sp[i] = cistern_arena_malloc(a, 1000);
        ck_assert_ptr_nonnull(sp[i]);
        memset(sp[i], 0xcd, 1000);
    }
    size_t written = big * MiB + small * 1000;
    size_t full = file_bytes(fd);
    ck_assert_uint_ge(full - before, written);

    for (size_t i = 0; i < big; i++)
        cistern_free(bp[i]);
    for (size_t i = 0; i < small; i++)
        cistern_free(sp[i]);
    cistern_release_free_memory();
    size_t after = file_bytes(fd);
    ck_assert_msg(full - after >= written - written / 10,
                  "file held %zu bytes, %zu after freeing %zu bytes and decommitting", full,
                  after, written);
    ck_assert_uint_eq(su_stats(s).committed_bytes, 0);

    /* Holes read as zero and take writes again. */
    unsigned char *z = cistern_arena_calloc(a, 1, 1 * MiB);
    ck_assert_ptr_nonnull(z);
    for (size_t i = 0; i < MiB; i += 4096)
        ck_assert_uint_eq(z[i], 0);
    memset(z, 0x5a, 1 * MiB);
    ck_assert_uint_ge(file_bytes(fd), after + MiB);
    cistern_free(z);
    ck_assert_int_eq(cistern_arena_destroy(a), 0);
    ck_assert_int_eq(cistern_sysalloc_release(s), 0);
    close(fd);
}
END_TEST

/* ---- bad arguments -------------------------------------------------------------- */

static void expect_einval(int fd, off_t off, size_t len, unsigned flags, const char *what)
{
    errno = 0;
    cistern_sysalloc_t *s = cistern_sysalloc_shm(fd, off, len, flags);
    ck_assert_msg(s == NULL && errno == EINVAL, "%s: %p, errno %d", what, (void *)s, errno);
}

START_TEST(bad_arguments_einval)
{
    size_t page = su_page();
    int fd = new_memfd();
    expect_einval(-1, 0, MiB, 0, "fd -1");
    int closed = new_memfd();
    close(closed);
    expect_einval(closed, 0, MiB, 0, "closed fd");
    char path[64];
    snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
    int ro = open(path, O_RDONLY | O_CLOEXEC);
    ck_assert_int_ge(ro, 0);
    expect_einval(ro, 0, MiB, 0, "read-only fd");
    close(ro);
    int pfd[2];
    ck_assert_int_eq(pipe(pfd), 0);
    expect_einval(pfd[0], 0, MiB, 0, "pipe, read end");
    close(pfd[0]);
    close(pfd[1]);
    expect_einval(fd, 100, MiB, 0, "unaligned offset");
    expect_einval(fd, (off_t)page / 2, MiB, 0, "half-page offset");
    expect_einval(fd, 0, MiB + 1, 0, "unaligned length");
    expect_einval(fd, 0, 0, 0, "zero length");
    expect_einval(fd, -(off_t)page, MiB, 0, "negative offset");
    expect_einval(fd, 0, SIZE_MAX & ~(page - 1), 0, "length past any offset");
    expect_einval(fd, 0, MiB, CISTERN_SYSALLOC_NOTOUCH, "NOTOUCH on CPU-mapped memory");
    expect_einval(fd, 0, MiB, 0x100, "unknown flag");
    /* None of it grew the file. */
    ck_assert_int_eq(fd_stat(fd).st_size, 0);
    close(fd);
}
END_TEST

START_TEST(offset_and_pointer_outside)
{
    const off_t at = 2 * MiB;
    const size_t len = 4 * MiB;
    int fd = new_memfd();
    cistern_sysalloc_t *s = cistern_sysalloc_shm(fd, at, len, 0);
    ck_assert_ptr_nonnull(s);
    ck_assert_int_eq(fd_stat(fd).st_size, at + (off_t)len); /* grown to hold the segment */
    char *base = cistern_sysalloc_shm_pointer(s, at);
    ck_assert_ptr_nonnull(base);
    ck_assert_int_eq(cistern_sysalloc_shm_offset(s, base), at);
    ck_assert_int_eq(cistern_sysalloc_shm_offset(s, base + 12345), at + 12345);
    ck_assert_ptr_eq(cistern_sysalloc_shm_pointer(s, at + (off_t)len - 1), base + len - 1);

    int local;
    const void *outside[] = { &local, base - 1, base + len, NULL };
    for (size_t i = 0; i < sizeof outside / sizeof outside[0]; i++) {
        errno = 0;
        ck_assert_int_eq(cistern_sysalloc_shm_offset(s, outside[i]), -1);
        ck_assert_int_eq(errno, EINVAL);
    }
    const off_t bad_off[] = { 0, at - 1, at + (off_t)len, -1 };
    for (size_t i = 0; i < sizeof bad_off / sizeof bad_off[0]; i++) {
        errno = 0;
        ck_assert_ptr_null(cistern_sysalloc_shm_pointer(s, bad_off[i]));
        ck_assert_int_eq(errno, EINVAL);
    }
    /* A source that is not shm, or none. */
    char *pbase = su_map(4 * MiB, 2 * MiB);
    cistern_sysalloc_t *pool = cistern_sysalloc_pool(pbase, 4 * MiB, 0);
    ck_assert_ptr_nonnull(pool);
    errno = 0;
    ck_assert_int_eq(cistern_sysalloc_shm_offset(pool, pbase), -1);
    ck_assert_int_eq(errno, EINVAL);
    errno = 0;
    ck_assert_ptr_null(cistern_sysalloc_shm_pointer(pool, 0));
    ck_assert_int_eq(errno, EINVAL);
    errno = 0;
    ck_assert_int_eq(cistern_sysalloc_shm_offset(NULL, base), -1);
    ck_assert_int_eq(errno, EINVAL);
    errno = 0;
    ck_assert_ptr_null(cistern_sysalloc_shm_pointer(NULL, at));
    ck_assert_int_eq(errno, EINVAL);
    ck_assert_int_eq(cistern_sysalloc_release(pool), 0);
    munmap(pbase, 4 * MiB);

    /* Blocks of an arena over s lie inside the segment's offsets. */
    cistern_arena_t *a = su_arena("shm-off", &s, 1);
    for (int i = 0; i < 100; i++) {
        void *p = cistern_arena_malloc(a, 100 + (size_t)i * 300);
        ck_assert_ptr_nonnull(p);
        off_t o = cistern_sysalloc_shm_offset(s, p);
        ck_assert(o >= at && o + 100 + i * 300 <= at + (off_t)len);
    }
    ck_assert_int_eq(cistern_arena_destroy(a), 0);
    ck_assert_int_eq(cistern_sysalloc_release(s), 0);
    close(fd);
}
END_TEST

/* Two sources over the same bytes of one file would hand them out twice:
   the second is refused, through any fd of that file; disjoint parts and
   other files are fine, and so is the same range once the first is gone. */
START_TEST(overlapping_segments_eexist)
{
    int fd = new_memfd(), other = new_memfd();
    cistern_sysalloc_t *s = cistern_sysalloc_shm(fd, 2 * MiB, 4 * MiB, 0);
    ck_assert_ptr_nonnull(s);
    char path[64];
    snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
    int again = open(path, O_RDWR | O_CLOEXEC);
    ck_assert_int_ge(again, 0);
    const struct {
        int fd;
        off_t off;
        size_t len;
    } clash[] = { { fd, 2 * MiB, 4 * MiB }, { fd, 0, 3 * MiB }, { fd, 5 * MiB, 2 * MiB },
                  { fd, 3 * MiB, MiB }, { again, 0, 8 * MiB } };
    for (size_t i = 0; i < sizeof clash / sizeof clash[0]; i++) {
        errno = 0;
        ck_assert_ptr_null(cistern_sysalloc_shm(clash[i].fd, clash[i].off, clash[i].len, 0));
        ck_assert_int_eq(errno, EEXIST);
    }
    cistern_sysalloc_t *below = cistern_sysalloc_shm(fd, 0, 2 * MiB, 0);
    cistern_sysalloc_t *above = cistern_sysalloc_shm(again, 6 * MiB, 2 * MiB, 0);
    cistern_sysalloc_t *elsewhere = cistern_sysalloc_shm(other, 2 * MiB, 4 * MiB, 0);
    ck_assert_ptr_nonnull(below);
    ck_assert_ptr_nonnull(above);
    ck_assert_ptr_nonnull(elsewhere);
    ck_assert_int_eq(cistern_sysalloc_release(s), 0);
    s = cistern_sysalloc_shm(fd, 2 * MiB, 4 * MiB, 0);
    ck_assert_ptr_nonnull(s);
    ck_assert_int_eq(cistern_sysalloc_release(s), 0);
    ck_assert_int_eq(cistern_sysalloc_release(below), 0);
    ck_assert_int_eq(cistern_sysalloc_release(above), 0);
    ck_assert_int_eq(cistern_sysalloc_release(elsewhere), 0);
    close(again);
    close(other);
    close(fd);
}
END_TEST

/* ---- release -------------------------------------------------------------------- */

/* Release unmaps cistern's own view of the segment, and only that: the fd
   stays open, the file keeps its size and whatever the program keeps in it.
   (Blocks' contents go earlier, at arena destroy: the regions handed back
   are decommitted, i.e. punched.)  Until release the view stays mapped,
   destroy included (design invariant 1). */
START_TEST(release_unmaps_view_keeps_file)
{
    const off_t at = 1 * MiB;
    const size_t len = 8 * MiB;
    int fd = new_memfd();
    static const char header[] = "owned by the program";
    ck_assert_int_eq(pwrite(fd, header, sizeof header, 0), (ssize_t)sizeof header);
    cistern_sysalloc_t *s = cistern_sysalloc_shm(fd, at, len, 0);
    ck_assert_ptr_nonnull(s);
    char *view = cistern_sysalloc_shm_pointer(s, at);
    cistern_arena_t *a = su_arena("shm-release", &s, 1);
    char *p = cistern_arena_malloc(a, 3000);
    ck_assert_ptr_nonnull(p);
    test_fill(p, 3000, 11);
    off_t off = cistern_sysalloc_shm_offset(s, p);

    /* Another mapping of the file, as a second process would have. */
    unsigned char *other = mmap(NULL, at + len, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    ck_assert_ptr_ne(other, MAP_FAILED);
    ck_assert(test_check(other + off, 3000, 11));

    ck_assert_int_eq(cistern_sysalloc_release(s), EBUSY);
    ck_assert_int_eq(cistern_arena_destroy(a), 0);
    ck_assert(is_mapped(view)); /* destroy decommits, never unmaps */
    ck_assert(is_mapped(view + len - 1));
    /* The program writes into the segment itself, between destroy and release. */
    test_fill(other + at, 5000, 12);
    ck_assert_int_eq(cistern_sysalloc_release(s), 0);
    ck_assert(!is_mapped(view));
    ck_assert(!is_mapped(view + len - 1));

    ck_assert_int_ne(fcntl(fd, F_GETFD), -1);
    ck_assert_int_eq(fd_stat(fd).st_size, at + (off_t)len);
    char back[sizeof header];
    ck_assert_int_eq(pread(fd, back, sizeof back, 0), (ssize_t)sizeof back);
    ck_assert_str_eq(back, header);
    ck_assert(test_check(other + at, 5000, 12));
    munmap(other, at + len);

    /* The file can carry a new source, with the data still there. */
    cistern_sysalloc_t *again = cistern_sysalloc_shm(fd, at, len, 0);
    ck_assert_ptr_nonnull(again);
    ck_assert(test_check(cistern_sysalloc_shm_pointer(again, at), 5000, 12));
    ck_assert_int_eq(cistern_sysalloc_release(again), 0);
    close(fd);
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("shm_memfd");
    TCase *tc = tcase_create("shm");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, child_reads_by_offset);
    tcase_add_test(tc, decommit_punches_holes);
    tcase_add_test(tc, bad_arguments_einval);
    tcase_add_test(tc, offset_and_pointer_outside);
    tcase_add_test(tc, overlapping_segments_eexist);
    tcase_add_test(tc, release_unmaps_view_keeps_file);
    suite_add_tcase(s, tc);
    return s;
}

CS_TEST_MAIN(suite)
