/*
 * test_malloc.c - the cistern_* entry points: sizes, zeroing, realloc,
 * alignment, error returns, and the stops on pointers cistern must not take.
 */
#include "unit.h"
#include "fake_source.h"
#include "tool.h"

#include <malloc.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#define KiB ((size_t)1 << 10)
#define MiB ((size_t)1 << 20)
#define GiB ((size_t)1 << 30)

static void setup(void)
{
    unit_init();
}

static int by_addr(const void *x, const void *y)
{
    uintptr_t p = (uintptr_t)*(void *const *)x, q = (uintptr_t)*(void *const *)y;
    return p < q ? -1 : p > q;
}

/* Requests across small classes, their edges, and large spans. */
static const size_t sizes[] = {
    0, 1, 7, 8, 9, 15, 16, 17, 100, 128, 129, 1000, 1024, 1025, 4095, 4096, 8191, 8193,
    60000, 131072, 200000, 256 * 1024 - 1, 256 * 1024, 256 * 1024 + 1, 300000, 1 << 20,
    3 * (1 << 20) + 1,
};
#define NSIZES (sizeof sizes / sizeof sizes[0])

/* ---- sizes ------------------------------------------------------------------- */

START_TEST(malloc_zero_unique)
{
    void *v[200];
    for (int i = 0; i < 200; i++) {
        v[i] = cistern_malloc(0);
        ck_assert_ptr_nonnull(v[i]);
    }
    qsort(v, 200, sizeof v[0], by_addr);
    for (int i = 1; i < 200; i++)
        ck_assert_msg(v[i - 1] != v[i], "malloc(0) returned %p twice", v[i]);
    for (int i = 0; i < 200; i++)
        cistern_free(v[i]);
}
END_TEST

/* usable_size covers the request, and every byte it reports belongs to the
   block alone: blocks allocated side by side are filled to their usable
   size with distinct patterns, and each pattern must survive the others. */
static void fill_side_by_side(size_t n, int k)
{
    void *v[8];
    size_t u[8];
    for (int i = 0; i < k; i++) {
        v[i] = cistern_malloc(n);
        ck_assert_ptr_nonnull(v[i]);
        u[i] = cistern_usable_size(v[i]);
        ck_assert_msg(u[i] >= n, "usable_size %zu < %zu", u[i], n);
        if (n >= 16)
            ck_assert_uint_eq((uintptr_t)v[i] % 16, 0);
    }
    for (int i = 0; i < k; i++)
        test_fill(v[i], u[i], (uint32_t)(n * 8 + i));
    for (int i = 0; i < k; i++)
        ck_assert_msg(test_check(v[i], u[i], (uint32_t)(n * 8 + i)),
                      "size %zu: block %d overwritten by a neighbour's usable bytes", n, i);
    for (int i = 0; i < k; i++)
        cistern_free(v[i]);
}

START_TEST(usable_size_fully_writable)
{
    for (size_t n = 0; n <= 3000; n++)
        fill_side_by_side(n, 4);
    for (size_t i = 0; i < NSIZES; i++)
        fill_side_by_side(sizes[i], sizes[i] > 256 * 1024 ? 2 : 8);
    ck_assert_uint_eq(cistern_usable_size(NULL), 0);
}
END_TEST

/* ---- realloc ------------------------------------------------------------------ */

START_TEST(realloc_keeps_content)
{
    size_t n = 1;
    unsigned char *p = cistern_malloc(n);
    test_fill(p, n, 7);
    /* Grow through small classes into large spans, then shrink back. */
    while (n < 4 * MiB) {
        size_t m = n * 2 + 3;
        p = cistern_realloc(p, m);
        ck_assert_ptr_nonnull(p);
        ck_assert_msg(test_check(p, n, 7), "content lost growing %zu -> %zu", n, m);
        test_fill(p, m, 7);
        n = m;
    }
    while (n > 1) {
        size_t m = n / 3;
        p = cistern_realloc(p, m);
        ck_assert_ptr_nonnull(p);
        ck_assert_msg(test_check(p, m, 7), "content lost shrinking %zu -> %zu", n, m);
        n = m;
    }
    ck_assert_ptr_null(cistern_realloc(p, 0)); /* frees */
    p = cistern_realloc(NULL, 100);             /* allocates */
    ck_assert_ptr_nonnull(p);
    cistern_free(p);
}
END_TEST

/* A large block followed by free pages of its region grows and shrinks
   where it is. A fresh arena puts free pages right behind it. */
START_TEST(realloc_large_in_place)
{
    cistern_arena_t *x = cistern_arena_create(NULL);
    ck_assert_ptr_nonnull(x);
    cistern_thread_set_arena(x);
    unsigned char *p = cistern_malloc(1 * MiB);
    ck_assert_ptr_nonnull(p);
    test_fill(p, 1 * MiB, 3);
    unsigned char *q = cistern_realloc(p, 2 * MiB);
    ck_assert_ptr_eq(q, p);
    ck_assert(test_check(q, 1 * MiB, 3));
    ck_assert_uint_ge(cistern_usable_size(q), 2 * MiB);
    test_fill(q, 2 * MiB, 4);
    q = cistern_realloc(q, 5 * MiB + 123);
    ck_assert_ptr_eq(q, p);
    ck_assert(test_check(q, 2 * MiB, 4));
    q = cistern_realloc(q, 600 * KiB);
    ck_assert_ptr_eq(q, p);
    ck_assert(test_check(q, 600 * KiB, 4));
    ck_assert_uint_lt(cistern_usable_size(q), 1 * MiB);
    cistern_free(q);
    ck_assert_int_eq(cs_heap_check(&x->heap), 0);
}
END_TEST


/* A word naming each 4 KiB page of a block, so that a page moved to the
   wrong place (not only a lost byte) is caught. */
static void stamp_pages(void *p, size_t len, uint64_t seed)
{
    for (size_t off = 0; off + 8 <= len; off += 4096) {
        uint64_t v = (off / 4096) * 0x9e3779b97f4a7c15ull ^ seed;
        memcpy((char *)p + off, &v, 8);
    }
}

static int stamps_ok(const void *p, size_t len, uint64_t seed)
{
    for (size_t off = 0; off + 8 <= len; off += 4096) {
        uint64_t v;
        memcpy(&v, (const char *)p + off, 8);
        if (v != ((off / 4096) * 0x9e3779b97f4a7c15ull ^ seed))
            return 0;
    }
    return 1;
}

/* A big block that realloc grows and cannot extend where it is moves to an
   os region of its own; the pages it left go back to the system at once.
   There it grows inside its mapping's room at the same address, past the
   room by mremap (the pages move, nothing is copied), and every page keeps
   its contents; the region table and pagemap follow it.  A shrink keeps
   the address and hands the tail back; a free unmaps the region. */
START_TEST(realloc_big_block_grows_in_own_region)
{
    cistern_arena_t *x = cistern_arena_create(NULL);
    ck_assert_ptr_nonnull(x);
    cistern_thread_set_arena(x);
    unsigned char *p = cistern_malloc(1 * MiB);
    void *blocker = cistern_malloc(1 * MiB); /* right behind p */
    ck_assert_ptr_nonnull(p);
    ck_assert_ptr_nonnull(blocker);
    ck_assert_ptr_eq(blocker, p + 1 * MiB);
    stamp_pages(p, 1 * MiB, 1);
    unsigned char *q = cistern_realloc(p, 3 * MiB);
    ck_assert_ptr_nonnull(q);
    ck_assert_ptr_ne(q, p);
    ck_assert(stamps_ok(q, 1 * MiB, 1));
    long resident = test_resident_pages(p, 1 * MiB);
    if (resident >= 0)
        ck_assert_int_eq(resident, 0);
    ck_assert_int_eq(cs_heap_check(&x->heap), 0);
    if (cs_tool_active) { /* a checker watches: blocks are copied, as before */
        cistern_free(q);
        cistern_free(blocker);
        return;
    }
    ck_assert(cs_pagemap_get(q)->region->own);

    stamp_pages(q, 3 * MiB, 2);
    unsigned char *r = cistern_realloc(q, 4 * MiB);
    ck_assert_ptr_eq(r, q); /* inside the room */
    ck_assert(stamps_ok(r, 3 * MiB, 2));

    size_t n = 4 * MiB;
    stamp_pages(r, n, 3);
    for (size_t m = 8 * MiB; m <= 64 * MiB; m *= 2) {
        r = cistern_realloc(r, m);
        ck_assert_ptr_nonnull(r);
        ck_assert_msg(stamps_ok(r, n, 3), "pages lost or misplaced growing %zu -> %zu", n, m);
        struct cs_span *s = cs_pagemap_get(r);
        ck_assert_ptr_nonnull(s);
        ck_assert(s->region->own);
        ck_assert_uint_eq(cs_span_start(s), (uintptr_t)r);
        ck_assert_ptr_eq(cs_pagemap_get(r + m - 1), s);
        ck_assert_ptr_eq(cs_region_find((uintptr_t)r), s->region);
        ck_assert_ptr_eq(cs_region_find((uintptr_t)r + m - 1), s->region);
        ck_assert_uint_ge(cistern_usable_size(r), m);
        stamp_pages(r, m, 3);
        n = m;
        ck_assert_int_eq(cs_heap_check(&x->heap), 0);
    }

    unsigned char *t = cistern_realloc(r, 2 * MiB);
    ck_assert_ptr_eq(t, r);
    ck_assert(stamps_ok(t, 2 * MiB, 3));
    long tail = test_resident_pages(t + 2 * MiB, n - 2 * MiB);
    if (tail >= 0)
        ck_assert_int_eq(tail, 0);
    ck_assert_int_eq(cs_heap_check(&x->heap), 0);
    cistern_free(t);
    /* Kept whole as the spare own region until the release policy sees it
       idle (a release at age 0 here). */
    ck_assert_ptr_nonnull(cs_region_find((uintptr_t)t));
    ck_assert_ptr_eq(x->heap.spare_own, cs_pagemap_get(t));
    ck_assert_int_eq(cs_heap_check(&x->heap), 0);
    cs_heap_release(&x->heap, 0);
    ck_assert_ptr_null(x->heap.spare_own);
    ck_assert_ptr_null(cs_region_find((uintptr_t)t));
    cistern_free(blocker);
    ck_assert_int_eq(cs_heap_check(&x->heap), 0);
    cistern_thread_set_arena(NULL);
    ck_assert_int_eq(cistern_arena_destroy(x), 0);
}
END_TEST

/* A block of first bytes grown by realloc to grown bytes: a block right
   behind it stops in-place growth, so it moves to a region of its own. */
static unsigned char *grown_in_own_region(size_t first, size_t grown, void **blocker)
{
    unsigned char *p = cistern_malloc(first);
    ck_assert_ptr_nonnull(p);
    *blocker = cistern_malloc(first);
    ck_assert_ptr_eq(*blocker, p + first);
    p = cistern_realloc(p, grown);
    ck_assert_ptr_nonnull(p);
    ck_assert(cs_pagemap_get(p)->region->own);
    return p;
}

/* A block grown into its own region for realloc, once freed, is kept as the
   spare: the next block that needs one takes its mapping and its committed
   pages (no fresh page faults), the committed room past four times the new
   block goes back, and a second freed region displaces the spare, which is
   unmapped (one spare at most). */
START_TEST(spare_own_region_reused)
{
    if (cs_tool_active)
        return;
    cistern_arena_t *x = cistern_arena_create(NULL);
    ck_assert_ptr_nonnull(x);
    cistern_thread_set_arena(x);
    struct cistern_sysalloc *os = cistern_sysalloc_os();
    void *blockers[3];
    unsigned char *p = grown_in_own_region(1 * MiB, 8 * MiB, &blockers[0]);
    stamp_pages(p, 8 * MiB, 1);
    cistern_free(p);
    struct cs_span *spare = x->heap.spare_own;
    ck_assert_ptr_nonnull(spare);
    ck_assert_uint_eq(cs_span_start(spare), (uintptr_t)p);
    ck_assert_uint_eq(spare->state, CS_SPAN_FREE);
    ck_assert_int_eq(cs_heap_check(&x->heap), 0);

    size_t reserved = (size_t)os->reserved;
    unsigned char *q = grown_in_own_region(512 * KiB, 1 * MiB, &blockers[1]);
    ck_assert_ptr_eq(q, p); /* the spare's mapping, no new one */
    ck_assert_ptr_null(x->heap.spare_own);
    ck_assert_uint_eq((size_t)os->reserved, reserved);
    ck_assert(cs_pagemap_get(q)->region->own);
    /* Its first pages were committed and kept; past 4 MiB they went back. */
    long kept = test_resident_pages(q, 4 * MiB), past = test_resident_pages(q + 4 * MiB, 4 * MiB);
    if (kept >= 0) {
        ck_assert_int_eq(kept, (long)(4 * MiB / (size_t)sysconf(_SC_PAGESIZE)));
        ck_assert_int_eq(past, 0);
    }
    ck_assert_int_eq(cs_heap_check(&x->heap), 0);
    memset(q, 7, 1 * MiB);
    q = cistern_realloc(q, 3 * MiB);
    ck_assert_ptr_eq(q, p); /* grown inside the mapping */
    for (size_t i = 0; i < 1 * MiB; i += 4096)
        ck_assert_uint_eq(q[i], 7);

    /* Two freed own regions: the second displaces the first, which goes back. */
    unsigned char *r = grown_in_own_region(1 * MiB, 6 * MiB, &blockers[2]);
    cistern_free(q);
    ck_assert_ptr_eq(x->heap.spare_own, cs_pagemap_get(q));
    cistern_free(r);
    ck_assert_ptr_eq(x->heap.spare_own, cs_pagemap_get(r));
    ck_assert_ptr_null(cs_region_find((uintptr_t)q));
    ck_assert_int_eq(cs_heap_check(&x->heap), 0);
    for (int i = 0; i < 3; i++)
        cistern_free(blockers[i]);
    cistern_thread_set_arena(NULL);
    ck_assert_int_eq(cistern_arena_destroy(x), 0);
    ck_assert_ptr_null(cs_region_find((uintptr_t)r));
}
END_TEST

/* An arena reset or destroy with blocks live in own regions hands those
   regions back (they are not kept as free runs), and the heap stays whole. */
START_TEST(reset_drops_own_regions)
{
    if (cs_tool_active)
        return;
    cistern_arena_t *x = cistern_arena_create(NULL);
    ck_assert_ptr_nonnull(x);
    cistern_thread_set_arena(x);
    void *p = cistern_malloc(1 * MiB), *blocker = cistern_malloc(64 * KiB);
    ck_assert_ptr_nonnull(p);
    ck_assert_ptr_nonnull(blocker);
    p = cistern_realloc(p, 5 * MiB);
    ck_assert_ptr_nonnull(p);
    ck_assert(cs_pagemap_get(p)->region->own);
    cistern_arena_reset(x);
    ck_assert_ptr_null(cs_region_find((uintptr_t)p));
    ck_assert_int_eq(cs_heap_check(&x->heap), 0);
    /* Live own regions at destroy go back too. */
    p = cistern_malloc(1 * MiB);
    ck_assert_ptr_nonnull(p);
    p = cistern_realloc(p, 5 * MiB);
    ck_assert_ptr_nonnull(p);
    if (!cs_pagemap_get(p)->region->own)
        p = cistern_realloc(p, 64 * MiB); /* past the end of its region: moves */
    ck_assert(cs_pagemap_get(p)->region->own);
    ck_assert_int_eq(cs_heap_check(&x->heap), 0);
    cistern_thread_set_arena(NULL);
    ck_assert_int_eq(cistern_arena_destroy(x), 0);
    ck_assert_ptr_null(cs_region_find((uintptr_t)p));
}
END_TEST

/* ---- calloc -------------------------------------------------------------------- */

static void assert_zero(const unsigned char *p, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (p[i])
            ck_abort_msg("byte %zu of %zu is %#x, not zero", i, n, p[i]);
}

/* calloc zeroes even memory that comes back dirty from a free (the same
   address is handed out again: small through the thread cache, large
   through the page heap). */
START_TEST(calloc_zeroes_reused_memory)
{
    for (size_t i = 0; i < NSIZES; i++) {
        size_t n = sizes[i] ? sizes[i] : 1;
        unsigned char *p = cistern_malloc(n);
        ck_assert_ptr_nonnull(p);
        memset(p, 0xff, cistern_usable_size(p));
        cistern_free(p);
        unsigned char *q = cistern_calloc(1, n);
        ck_assert_ptr_nonnull(q);
        ck_assert_msg(q == p, "size %zu: calloc did not reuse the freed block", n);
        assert_zero(q, n);
        cistern_free(q);
        q = cistern_calloc(n, 1);
        assert_zero(q, n);
        cistern_free(q);
    }
}
END_TEST

START_TEST(calloc_overflow_enomem)
{
    errno = 0;
    ck_assert_ptr_null(cistern_calloc(SIZE_MAX / 2, 3));
    ck_assert_int_eq(errno, ENOMEM);
    errno = 0;
    ck_assert_ptr_null(cistern_calloc((size_t)1 << (sizeof(size_t) * 4), (size_t)1 << (sizeof(size_t) * 4)));
    ck_assert_int_eq(errno, ENOMEM);
    errno = 0;
    ck_assert_ptr_null(cistern_calloc(1, SIZE_MAX));
    ck_assert_int_eq(errno, ENOMEM);
    void *p = cistern_calloc(0, 0);
    ck_assert_ptr_nonnull(p);
    cistern_free(p);
}
END_TEST

/* ---- impossible requests ------------------------------------------------------------ */

START_TEST(huge_requests_enomem)
{
    const size_t huge[] = { SIZE_MAX, SIZE_MAX / 2, PTRDIFF_MAX, (size_t)PTRDIFF_MAX + 1,
                            SIZE_MAX - CS_PAGE };
    for (size_t i = 0; i < sizeof huge / sizeof huge[0]; i++) {
        errno = 0;
        ck_assert_ptr_null(cistern_malloc(huge[i]));
        ck_assert_int_eq(errno, ENOMEM);
        errno = 0;
        ck_assert_ptr_null(cistern_aligned_alloc(4096, huge[i]));
        ck_assert_int_eq(errno, ENOMEM);
        void *out = &out;
        ck_assert_int_eq(cistern_posix_memalign(&out, 64, huge[i]), ENOMEM);
        ck_assert_ptr_eq(out, &out);
    }
    /* A failed realloc leaves the block as it was. */
    unsigned char *p = cistern_malloc(100);
    test_fill(p, 100, 9);
    for (int big = 0; big < 2; big++) {
        errno = 0;
        ck_assert_ptr_null(cistern_realloc(p, SIZE_MAX));
        ck_assert_int_eq(errno, ENOMEM);
        ck_assert(test_check(p, 100, 9));
        if (!big) {
            cistern_free(p);
            p = cistern_malloc(1 * MiB);
            test_fill(p, 100, 9);
        }
    }
    cistern_free(p);
}
END_TEST

/* ---- alignment ------------------------------------------------------------------------ */

START_TEST(posix_memalign_bad_alignment)
{
    const size_t bad[] = { 0, 1, 2, 3, 12, 24, 48, 100, sizeof(void *) / 2, SIZE_MAX,
                           (SIZE_MAX >> 24) + 8 };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        void *out = &out;
        ck_assert_msg(cistern_posix_memalign(&out, bad[i], 16) == EINVAL,
                      "alignment %zu accepted", bad[i]);
        ck_assert_ptr_eq(out, &out);
    }
    errno = 0;
    ck_assert_ptr_null(cistern_aligned_alloc(24, 16));
    ck_assert_int_eq(errno, EINVAL);
    errno = 0;
    ck_assert_ptr_null(cistern_aligned_alloc(0, 16));
    ck_assert_int_eq(errno, EINVAL);
}
END_TEST

/* Every power-of-two alignment from 1 byte to 1 GiB, for a tiny request,
   one of the alignment's size, and one above it; several blocks each, so a
   class whose objects are only partly aligned shows.  1 GiB needs about
   2 GiB of address space: skipped where the OS refuses that. */
START_TEST(aligned_alloc_all_powers)
{
    /* 1 GiB on 64-bit systems; 64 MiB in a 32-bit address space. */
    const size_t max_align = sizeof(void *) >= 8 ? GiB : 64 * MiB;
    for (size_t align = 1; align <= max_align; align *= 2) {
        const size_t req[] = { 1, align, align + align / 2 + 1 };
        for (size_t r = 0; r < 3; r++) {
            size_t n = req[r];
            if (align >= 64 * MiB && r)
                continue; /* address space, not coverage */
            void *v[4] = { 0 };
            int k = align >= 1 * MiB ? 1 : 4;
            for (int i = 0; i < k; i++) {
                errno = 0;
                v[i] = cistern_aligned_alloc(align, n);
                if (!v[i] && align == max_align && align == GiB && errno == ENOMEM)
                    break;
                ck_assert_msg(v[i] != NULL, "aligned_alloc(%zu, %zu) failed", align, n);
                ck_assert_msg((uintptr_t)v[i] % align == 0,
                              "aligned_alloc(%zu, %zu) = %p, block %d: misaligned", align, n, v[i], i);
                ck_assert_uint_ge(cistern_usable_size(v[i]), n);
                if (align >= sizeof(void *)) {
                    void *out = NULL;
                    ck_assert_int_eq(cistern_posix_memalign(&out, align, n), 0);
                    ck_assert_msg((uintptr_t)out % align == 0,
                                  "posix_memalign(%zu, %zu) = %p: misaligned", align, n, out);
                    cistern_free(out);
                }
            }
            for (int i = 0; i < k; i++)
                cistern_free(v[i]);
        }
    }
}
END_TEST

/* ---- pointers cistern must refuse --------------------------------------------------------- */

static void *glibc_block(void)
{
    void *p = malloc(64); /* the test program's own malloc: the C library's */
    ck_assert_ptr_nonnull(p);
    ck_assert_ptr_null(cs_pagemap_get(p));
    return p;
}

START_TEST(free_stack_pointer_aborts)
{
    int local;
    cistern_free(&local);
}
END_TEST

START_TEST(free_glibc_pointer_aborts)
{
    cistern_free(glibc_block());
}
END_TEST

START_TEST(realloc_foreign_aborts)
{
    int local;
    cistern_realloc(&local, 10);
}
END_TEST

START_TEST(usable_size_foreign_aborts)
{
    cistern_usable_size(glibc_block());
}
END_TEST

/* Run fn(p) in a child with stderr on a pipe; return what it printed and
   whether it died of SIGABRT. */
static int capture_stop(void (*fn)(void *), void *p, char *buf, size_t cap)
{
    int fd[2];
    ck_assert_int_eq(pipe(fd), 0);
    pid_t pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        dup2(fd[1], 2);
        close(fd[0]);
        fn(p);
        _exit(0);
    }
    close(fd[1]);
    size_t len = 0;
    ssize_t r;
    while (len + 1 < cap && (r = read(fd[0], buf + len, cap - 1 - len)) > 0)
        len += (size_t)r;
    buf[len] = 0;
    test_drop_emulator_lines(buf);
    close(fd[0]);
    int status;
    ck_assert_int_eq(waitpid(pid, &status, 0), pid);
    return WIFSIGNALED(status) && WTERMSIG(status) == SIGABRT;
}

static void do_free(void *p)
{
    cistern_free(p);
}

/* The stop names the call and the pointer, in the documented words. */
START_TEST(foreign_free_message)
{
    int local;
    void *ptrs[2] = { &local, glibc_block() };
    for (int i = 0; i < 2; i++) {
        char got[512], want[128];
        snprintf(want, sizeof want, "cistern: free(%p): pointer not allocated by cistern\n", ptrs[i]);
        int aborted = capture_stop(do_free, ptrs[i], got, sizeof got);
        ck_assert_msg(aborted, "free of a foreign pointer did not abort");
        ck_assert_str_eq(got, want);
    }
}
END_TEST

/* A pointer into memory cistern gave back (here, an arena destroyed with
   the block live), where nothing is mapped now, is a double free or an
   invalid pointer: no allocator can have handed it out, so it stops even
   with a secondary installed (whose free would crash on it). */
START_TEST(freed_memory_gone_message)
{
    cistern_arena_t *x = cistern_arena_create(NULL);
    ck_assert_ptr_nonnull(x);
    void *p = cistern_arena_malloc(x, 1 * MiB);
    ck_assert_ptr_nonnull(p);
    ck_assert_int_eq(cistern_arena_destroy(x), 0);
    char got[512], want[256];
    snprintf(want, sizeof want,
             "cistern: free(%p): double free or invalid pointer (cistern memory that went back "
             "to the system)\n", p);
    int local = 0;
    if (test_resident_pages(&local, sizeof local) >= 0) { /* mincore works (not under qemu-user) */
        ck_assert_msg(capture_stop(do_free, p, got, sizeof got), "free did not abort");
        ck_assert_str_eq(got, want);
        ck_assert_int_eq(cistern_secondary_set(cistern_secondary_libc(), NULL), 0);
        ck_assert_msg(capture_stop(do_free, p, got, sizeof got), "free did not abort");
        ck_assert_str_eq(got, want);
        ck_assert_int_eq(cistern_secondary_set(NULL, NULL), 0);
    }
}
END_TEST

START_TEST(double_free_small_aborts)
{
    void *p = cistern_malloc(64);
    cistern_free(p);
    cistern_free(p);
}
END_TEST

/* The first free is pushed out of the thread cache and the transfer cache
   into its span, so the second can only find it in the span's bitmap (the
   block's neighbours stay live to keep the span in use). */
START_TEST(double_free_small_flushed_aborts)
{
    static void *v[2000];
    void *p = cistern_malloc(64);
    for (int i = 0; i < 2000; i++)
        v[i] = cistern_malloc(64);
    struct cs_span *s = cs_pagemap_get(p);
    cistern_free(p);
    for (int i = 0; i < 2000; i++)
        if (cs_pagemap_get(v[i]) != s)
            cistern_free(v[i]);
    cistern_release_free_memory();
    uint32_t idx = cs_span_index(s, (uintptr_t)p - cs_span_start(s));
    ck_assert_msg(s->freebits[idx / 64] & ((uint64_t)1 << (idx % 64)), "block not back in its span");
    cistern_free(p);
}
END_TEST

START_TEST(double_free_large_aborts)
{
    void *keep = cistern_malloc(1 * MiB); /* keeps the region from going away */
    void *p = cistern_malloc(2 * MiB);
    cistern_free(p);
    cistern_free(p);
    (void)keep;
}
END_TEST

/* A block grown into its own region, freed twice: the spare still maps it.
   (Under a memory checker blocks are copied, not moved to regions of their
   own: a big block freed twice stands in.) */
START_TEST(double_free_grown_block_aborts)
{
    void *blocker = NULL;
    void *p = cs_tool_active ? cistern_malloc(4 * MiB)
                             : grown_in_own_region(1 * MiB, 4 * MiB, &blocker);
    cistern_free(p);
    cistern_free(p);
}
END_TEST

/* realloc of a freed small block to a size its class holds would hand the
   block back while the cache still holds it: a use after free, stopped. */
START_TEST(realloc_freed_small_aborts)
{
    void *p = cistern_malloc(100);
    cistern_free(p);
    (void)cistern_realloc(p, 90);
}
END_TEST

START_TEST(usable_size_freed_small_aborts)
{
    void *p = cistern_malloc(40);
    cistern_free(p);
    (void)cistern_usable_size(p);
}
END_TEST

START_TEST(free_interior_small_aborts)
{
    char *p = cistern_malloc(64);
    cistern_free(p + 16);
}
END_TEST

START_TEST(free_interior_large_aborts)
{
    char *p = cistern_malloc(1 * MiB);
    cistern_free(p + 64);
}
END_TEST

START_TEST(free_interior_large_middle_page_aborts)
{
    char *p = cistern_malloc(1 * MiB);
    cistern_free(p + 5 * CS_PAGE);
}
END_TEST

/* A double free cistern accepted is harm done later: the block is handed
   out twice.  These run the double free in a child and say which. */
static void expect_double_free_stop(void (*fn)(void *), void *arg, const char *what)
{
    char out[1024];
    int aborted = capture_stop(fn, arg, out, sizeof out);
    ck_assert_msg(aborted && strstr(out, "double free"), "%s: not stopped; the child said: %s",
                  what, out);
}

static void *free_it(void *p)
{
    cistern_free(p);
    return NULL;
}

/* The second free comes from another thread while the block sits in the
   first thread's cache. */
static void double_free_across_threads(void *unused)
{
    (void)unused;
    void *p = cistern_malloc(64);
    cistern_free(p);
    pthread_t t;
    pthread_create(&t, NULL, free_it, p);
    pthread_join(t, NULL);
    void *q1 = cistern_malloc(64), *q2 = cistern_malloc(64);
    fprintf(stderr, "second free of %p accepted; malloc then gave %p and %p", p, q1, q2);
}

START_TEST(double_free_other_thread_aborts)
{
    expect_double_free_stop(double_free_across_threads, NULL, "free from a second thread");
}
END_TEST

/* In an arena over NOTOUCH memory no marker can be written in the block,
   so the check must rely on metadata alone. */
static void double_free_in_notouch_arena(void *arg)
{
    cistern_arena_t *x = arg;
    void *p = cistern_arena_malloc(x, 64);
    cistern_free(p);
    cistern_free(p);
    void *q1 = cistern_arena_malloc(x, 64), *q2 = cistern_arena_malloc(x, 64);
    fprintf(stderr, "second free of %p accepted; malloc then gave %p and %p", p, q1, q2);
}

START_TEST(double_free_notouch_aborts)
{
    struct fake_source *f = fake_new("notouch", 256 * MiB, 0, 0,
                                     CISTERN_SYSALLOC_INJECTED | CISTERN_SYSALLOC_NOTOUCH);
    f->chunk = 4 * MiB;
    cistern_arena_t *x = fake_arena(f, 0, 0);
    expect_double_free_stop(double_free_in_notouch_arena, x, "NOTOUCH arena");
}
END_TEST

/* ---- arena_of ------------------------------------------------------------------------------ */

static int a_static;

START_TEST(arena_of_foreign_is_null)
{
    int local;
    void *g = glibc_block();
    ck_assert_ptr_null(cistern_arena_of(NULL));
    ck_assert_ptr_null(cistern_arena_of(&local));
    ck_assert_ptr_null(cistern_arena_of(g));
    ck_assert_ptr_null(cistern_arena_of(&a_static));
    ck_assert_ptr_null(cistern_arena_of((void *)cistern_arena_of));
#if CS_64BIT
    ck_assert_ptr_null(cistern_arena_of((void *)((uintptr_t)1 << 50)));
    ck_assert_ptr_null(cistern_arena_of((void *)UINTPTR_MAX));
#endif
    void *p = cistern_malloc(10), *q = cistern_malloc(1 * MiB);
    ck_assert_ptr_eq(cistern_arena_of(p), cistern_arena_default());
    ck_assert_ptr_eq(cistern_arena_of(q), cistern_arena_default());
    cistern_free(q);
    ck_assert_ptr_null(cistern_arena_of(q)); /* freed large: free pages */
    free(g);
}
END_TEST

static Suite *make_suite(void)
{
    Suite *s = suite_create("malloc");
    TCase *tc = tcase_create("alloc");
    tcase_add_checked_fixture(tc, setup, NULL);
    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, malloc_zero_unique);
    tcase_add_test(tc, usable_size_fully_writable);
    tcase_add_test(tc, realloc_keeps_content);
    tcase_add_test(tc, realloc_large_in_place);
    tcase_add_test(tc, realloc_big_block_grows_in_own_region);
    tcase_add_test(tc, spare_own_region_reused);
    tcase_add_test(tc, reset_drops_own_regions);
    tcase_add_test(tc, calloc_zeroes_reused_memory);
    tcase_add_test(tc, calloc_overflow_enomem);
    tcase_add_test(tc, huge_requests_enomem);
    tcase_add_test(tc, posix_memalign_bad_alignment);
    tcase_add_test(tc, aligned_alloc_all_powers);
    tcase_add_test(tc, arena_of_foreign_is_null);
    suite_add_tcase(s, tc);

    tc = tcase_create("stops");
    tcase_add_checked_fixture(tc, setup, NULL);
    tcase_add_test_raise_signal(tc, free_stack_pointer_aborts, SIGABRT);
    tcase_add_test_raise_signal(tc, free_glibc_pointer_aborts, SIGABRT);
    tcase_add_test_raise_signal(tc, realloc_foreign_aborts, SIGABRT);
    tcase_add_test_raise_signal(tc, usable_size_foreign_aborts, SIGABRT);
    tcase_add_test(tc, foreign_free_message);
    tcase_add_test(tc, freed_memory_gone_message);
    tcase_add_test_raise_signal(tc, double_free_small_aborts, SIGABRT);
    tcase_add_test_raise_signal(tc, double_free_small_flushed_aborts, SIGABRT);
    tcase_add_test_raise_signal(tc, double_free_large_aborts, SIGABRT);
    tcase_add_test_raise_signal(tc, double_free_grown_block_aborts, SIGABRT);
    tcase_add_test_raise_signal(tc, realloc_freed_small_aborts, SIGABRT);
    tcase_add_test_raise_signal(tc, usable_size_freed_small_aborts, SIGABRT);
    tcase_add_test_raise_signal(tc, free_interior_small_aborts, SIGABRT);
    tcase_add_test_raise_signal(tc, free_interior_large_aborts, SIGABRT);
    tcase_add_test_raise_signal(tc, free_interior_large_middle_page_aborts, SIGABRT);
    tcase_add_test(tc, double_free_other_thread_aborts);
    tcase_add_test(tc, double_free_notouch_aborts);
    suite_add_tcase(s, tc);
    return s;
}

CS_TEST_MAIN(make_suite)
