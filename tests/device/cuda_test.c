/*
 * cuda_test.c - an arena over the CUDA source: every size class and large
 * blocks in device memory, calloc through cudaMemset, realloc through
 * cudaMemcpy, contents checked by copying them to the host, then walk,
 * reset, destroy and release with nothing left on the device.
 *
 * Plain TAP, no libcheck (GPU machines may lack it).  Skips when built
 * without CUDA (after checking that the source then says ENOTSUP) or when
 * no GPU is there.  Built with cuda_mock.c it runs over the stand-in
 * runtime, whose allocations are misaligned for the heap on purpose.
 */
#include <cistern.h>

#include <errno.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#ifndef CS_TEST_CUDA

int main(void)
{
    errno = 0;
    cistern_sysalloc_t *s = cistern_sysalloc_cuda(0, 0);
    if (s || errno != ENOTSUP) {
        printf("1..1\nnot ok 1 - without CUDA cistern_sysalloc_cuda gave %p, errno %d\n",
               (void *)s, errno);
        return 1;
    }
    printf("1..0 # SKIP no CUDA (built without --with-cuda)\n");
    return 0;
}

#else
#include <cuda_runtime_api.h>

static int ntest, nfail;

static int ok(int cond, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    printf("%sok %d - ", cond ? "" : "not ", ++ntest);
    vprintf(fmt, ap);
    printf("\n");
    va_end(ap);
    nfail += !cond;
    return cond;
}

#ifdef CS_TEST_CUDA_MOCK
int cs_mock_errors(void);
int cs_mock_live(void);
#endif

#define KiB ((size_t)1 << 10)
#define MiB ((size_t)1 << 20)
#define NCLASSES 97
#define PER_CLASS 4
#define MAXLIVE (NCLASSES * PER_CLASS + 16)

static struct {
    void *p;
    size_t len;
    unsigned char byte;
} blocks[MAXLIVE];
static size_t nblocks;

static unsigned char *host_copy(const void *dev, size_t len)
{
    unsigned char *h = malloc(len ? len : 1);
    if (h && cudaMemcpy(h, dev, len, cudaMemcpyDeviceToHost) != cudaSuccess) {
        free(h);
        h = NULL;
    }
    return h;
}

/* Every byte of the device range [dev, dev+len) equals b. */
static int all_bytes(const void *dev, size_t len, unsigned char b)
{
    unsigned char *h = host_copy(dev, len);
    int good = h != NULL;
    for (size_t i = 0; good && i < len; i++)
        good = h[i] == b;
    free(h);
    return good;
}

static int fill_from_host(void *dev, size_t len, uint32_t seed)
{
    unsigned char *h = malloc(len);
    for (size_t i = 0; h && i < len; i++)
        h[i] = (unsigned char)(seed * 31u + i * 7u);
    int good = h && cudaMemcpy(dev, h, len, cudaMemcpyHostToDevice) == cudaSuccess;
    free(h);
    return good;
}

static int check_pattern(const void *dev, size_t len, uint32_t seed)
{
    unsigned char *h = host_copy(dev, len);
    int good = h != NULL;
    for (size_t i = 0; good && i < len; i++)
        good = h[i] == (unsigned char)(seed * 31u + i * 7u);
    free(h);
    return good;
}

static int count_one(void *p, size_t usable, void *ctx)
{
    (void)p;
    (void)usable;
    ++*(size_t *)ctx;
    return 0;
}

static size_t live_count(cistern_arena_t *a)
{
    size_t n = 0;
    return cistern_arena_walk(a, count_one, &n) == 0 ? n : (size_t)-1;
}

/* Every class, a few blocks each, plus large ones; each block gets its own
   byte by cudaMemset, and reading them all back proves no two overlap. */
static void every_class(cistern_arena_t *a)
{
    size_t sizes[NCLASSES + 1];
    unsigned nc = 0;
    for (size_t req = 1; req <= 256 * KiB && nc <= NCLASSES;) {
        void *p = cistern_arena_malloc(a, req);
        if (!p)
            break;
        sizes[nc++] = cistern_usable_size(p);
        req = sizes[nc - 1] + 1;
        cistern_free(p);
    }
    ok(nc == NCLASSES, "%u small classes found through usable_size", nc);
    int alloc_ok = 1, set_ok = 1;
    for (unsigned c = 0; c < nc; c++)
        for (int k = 0; k < PER_CLASS && nblocks < MAXLIVE; k++) {
            void *p = cistern_arena_malloc(a, sizes[c]);
            alloc_ok &= p != NULL;
            if (!p)
                continue;
            blocks[nblocks].p = p;
            blocks[nblocks].len = sizes[c];
            blocks[nblocks].byte = (unsigned char)(nblocks * 13 + 1);
            set_ok &= cudaMemset(p, blocks[nblocks].byte, sizes[c]) == cudaSuccess;
            nblocks++;
        }
    static const size_t large[] = { 256 * KiB + 1, 1 * MiB, 5 * MiB + 3, 100 * MiB };
    for (size_t i = 0; i < sizeof large / sizeof large[0]; i++) {
        void *p = cistern_arena_malloc(a, large[i]);
        alloc_ok &= p != NULL && ((uintptr_t)p & 8191) == 0;
        if (!p)
            continue;
        blocks[nblocks].p = p;
        blocks[nblocks].len = large[i];
        blocks[nblocks].byte = (unsigned char)(0xf0 + i);
        set_ok &= cudaMemset(p, blocks[nblocks].byte, large[i]) == cudaSuccess;
        nblocks++;
    }
    ok(alloc_ok, "every class x%d and 4 large blocks (to 100 MiB) allocated, large ones 8 KiB-aligned",
       PER_CLASS);
    ok(set_ok, "cudaMemset accepts every block");
    int read_ok = 1;
    for (size_t i = 0; i < nblocks; i++)
        read_ok &= all_bytes(blocks[i].p, blocks[i].len, blocks[i].byte);
    ok(read_ok, "each of %zu blocks reads back its own byte: no overlaps", nblocks);
    ok(live_count(a) == nblocks, "walk sees the %zu live blocks", nblocks);
    for (size_t i = 0; i < nblocks; i += 2)
        cistern_free(blocks[i].p);
    ok(live_count(a) == nblocks / 2, "half freed: walk agrees");
}

static void calloc_via_memset(cistern_arena_t *a)
{
    static const size_t sizes[] = { 24, 7000, 200 * KiB, 3 * MiB };
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
        /* Dirty a block of the same size first: calloc is likely to reuse it. */
        void *d = cistern_arena_malloc(a, sizes[i]);
        if (d) {
            cudaMemset(d, 0xee, sizes[i]);
            cistern_free(d);
        }
        void *z = cistern_arena_calloc(a, 1, sizes[i]);
        ok(z && all_bytes(z, sizes[i], 0), "calloc(%zu) reads back as zeros%s", sizes[i],
           z == d ? " (the dirtied block again)" : "");
        cistern_free(z);
    }
}

static void realloc_via_memcpy(cistern_arena_t *a)
{
    void *p = cistern_arena_malloc(a, 100);
    int good = p && fill_from_host(p, 100, 5);
    void *q = good ? cistern_arena_realloc(a, p, 100 * KiB) : NULL;
    ok(q && q != p && check_pattern(q, 100, 5), "realloc 100 B -> 100 KiB moves and keeps the bytes");
    void *r = q ? cistern_arena_realloc(a, q, 3 * MiB) : NULL;
    ok(r && check_pattern(r, 100, 5), "realloc 100 KiB -> 3 MiB keeps the bytes");
    good = r && fill_from_host(r, 3 * MiB, 9);
    void *s = good ? cistern_arena_realloc(a, r, 80 * MiB) : NULL;
    ok(s && check_pattern(s, 3 * MiB, 9), "realloc 3 MiB -> 80 MiB keeps 3 MiB of bytes");
    void *t = s ? cistern_arena_realloc(a, s, 5000) : NULL;
    ok(t && check_pattern(t, 5000, 9), "realloc 80 MiB -> 5000 B keeps the first 5000 bytes");
    cistern_free(t);
}

int main(void)
{
    int n = 0;
    cudaError_t e = cudaGetDeviceCount(&n);
    if (e != cudaSuccess || n == 0) {
        errno = 0;
        cistern_sysalloc_t *s = cistern_sysalloc_cuda(0, 0);
        if (s || errno != ENODEV) {
            printf("1..1\nnot ok 1 - with no GPU cistern_sysalloc_cuda gave %p, errno %d\n",
                   (void *)s, errno);
            return 1;
        }
        printf("1..0 # SKIP no GPU (cudaGetDeviceCount: %s, %d devices)\n",
               e == cudaSuccess ? "no error" : cudaGetErrorString(e), n);
        return 0;
    }
    errno = 0;
    ok(cistern_sysalloc_cuda(n, 0) == NULL && errno == ENODEV, "device %d of %d: ENODEV", n, n);
    errno = 0;
    ok(cistern_sysalloc_cuda(-1, 0) == NULL && errno == ENODEV, "device -1: ENODEV");

    cudaFree(NULL); /* the context exists before the baseline is taken */
    size_t free0 = 0, total = 0, free1 = 0;
    cudaMemGetInfo(&free0, &total);

    cistern_sysalloc_t *src = cistern_sysalloc_cuda(0, 0);
    if (!ok(src != NULL, "cistern_sysalloc_cuda(0, 0): %s", src ? "ok" : strerror(errno))) {
        printf("1..%d\n", ntest);
        return 1;
    }
    cistern_sysalloc_stats_t st;
    cistern_sysalloc_get_stats(src, &st);
    ok(st.flags & CISTERN_SYSALLOC_NOTOUCH, "the CUDA source is NOTOUCH (%s)", st.name);
    cistern_arena_config_t cfg = { "cuda", &src, 1, 0, 0 };
    cistern_arena_t *a = cistern_arena_create(&cfg);
    if (!ok(a != NULL, "arena over the CUDA source")) {
        printf("1..%d\n", ntest);
        return 1;
    }
    every_class(a);
    calloc_via_memset(a);
    realloc_via_memcpy(a);

    cistern_arena_reset(a);
    ok(live_count(a) == 0, "reset: nothing live");
    void *again = cistern_arena_malloc(a, 4096);
    ok(again && cudaMemset(again, 1, 4096) == cudaSuccess && all_bytes(again, 4096, 1),
       "the arena serves again after reset");
    ok(cistern_sysalloc_release(src) == EBUSY, "release while in a chain: EBUSY");
    ok(cistern_arena_destroy(a) == 0, "destroy");
    ok(cistern_sysalloc_release(src) == 0, "release");
    cudaMemGetInfo(&free1, &total);
    ok(free1 + 16 * MiB >= free0, "device memory back: %zu MiB free before, %zu MiB after",
       free0 >> 20, free1 >> 20);
#ifdef CS_TEST_CUDA_MOCK
    ok(cs_mock_errors() == 0, "mock runtime: every call inside a live allocation, every cudaFree of a cudaMalloc pointer (%d errors)",
       cs_mock_errors());
    ok(cs_mock_live() == 0, "mock runtime: no allocation left (%d)", cs_mock_live());
#endif
    printf("1..%d\n", ntest);
    return nfail ? 1 : 0;
}
#endif
