/*
 * device.c - device memory sources.
 *
 * cistern_sysalloc_device: memory behind the user's callbacks, tagged
 * INJECTED|NOTOUCH, so cistern keeps every piece of metadata out of band and
 * never reads or writes the memory (calloc and realloc go through the ops'
 * memset and copy hooks).
 *
 * cistern_sysalloc_cuda (built with --with-cuda): cudaMalloc'd reservations,
 * cudaMemset and cudaMemcpy as the hooks.  The reservations are cistern's
 * own, so they are tagged NOTOUCH only and go back with cudaFree.
 */
#include "platform.h"
#include "export.h"
#include "init.h"
#include "meta.h"
#include "source.h"

CS_EXPORT cistern_sysalloc_t *cistern_sysalloc_device(const char *name,
                                                      const cistern_sysalloc_ops_t *ops, void *ctx,
                                                      size_t granule)
{
    cs_ensure_init();
    return cistern_sysalloc_custom(name ? name : "device", ops, ctx, granule,
                                   CISTERN_SYSALLOC_INJECTED | CISTERN_SYSALLOC_NOTOUCH);
}

#ifdef CS_HAVE_CUDA
#include <cuda_runtime_api.h>

/* Reservations are large so that cudaMalloc (slow, synchronising) is rare. */
#define CUDA_CHUNK ((size_t)64 << 20)
/* What cudaMalloc promises: anything more has to be made by over-asking. */
#define CUDA_MIN_ALIGN ((size_t)256)

/* The core asks for heap-page-aligned ranges and gives back exactly the
   pointer it got; cudaFree wants the pointer cudaMalloc gave.  One record
   per reservation links the two (reservations are few: 64 MiB each). */
struct cuda_block {
    uintptr_t given;
    void *raw;
    struct cuda_block *next;
};

struct cuda_ctx {
    int device;
    size_t chunk;
    cs_lock_t lock; /* guards blocks: arenas on several threads share the source */
    struct cuda_block *blocks;
};

/* Run on the source's device, and leave the caller's thread on its own. */
static int cuda_enter(const struct cuda_ctx *c, int *prev)
{
    if (cudaGetDevice(prev) != cudaSuccess)
        *prev = -1;
    if (*prev == c->device)
        return 0;
    return cudaSetDevice(c->device) == cudaSuccess ? 0 : ENODEV;
}

static void cuda_leave(const struct cuda_ctx *c, int prev)
{
    if (prev >= 0 && prev != c->device)
        cudaSetDevice(prev);
}

static void *cuda_alloc(void *ctx, size_t size, size_t align, size_t *actual)
{
    struct cuda_ctx *c = ctx;
    size_t want = size > c->chunk ? size : c->chunk, extra = 0;
    void *raw = NULL;
    int prev;
    struct cuda_block *b = cs_meta_alloc(sizeof *b);
    if (!b)
        return NULL;
    if (cuda_enter(c, &prev) != 0)
        goto fail;
    if (cudaMalloc(&raw, want) != cudaSuccess)
        raw = NULL;
    /* Big reservations usually come 2 MiB-aligned, but only 256 bytes are
       promised: when the first answer is misaligned, ask again with room
       to align inside it. */
    if (raw && align > CUDA_MIN_ALIGN && ((uintptr_t)raw & (align - 1))) {
        cudaFree(raw);
        raw = NULL;
        extra = align;
        if (want <= SIZE_MAX - extra && cudaMalloc(&raw, want + extra) != cudaSuccess)
            raw = NULL;
    }
    cuda_leave(c, prev);
    if (!raw)
        goto fail;
    b->raw = raw;
    b->given = CS_ALIGN_UP((uintptr_t)raw, align);
    *actual = want + extra - (b->given - (uintptr_t)raw);
    cs_lock(&c->lock);
    b->next = c->blocks;
    c->blocks = b;
    cs_unlock(&c->lock);
    return (void *)b->given;
fail:
    cs_meta_free(b, sizeof *b);
    return NULL;
}

static int cuda_free_raw(struct cuda_ctx *c, void *raw)
{
    int prev;
    int err = cuda_enter(c, &prev);
    if (!err && cudaFree(raw) != cudaSuccess)
        err = EIO;
    cuda_leave(c, prev);
    return err;
}

/* The core gives back whole reservations, at the pointer it was given. */
static int cuda_unmap(void *ctx, void *p, size_t len)
{
    struct cuda_ctx *c = ctx;
    struct cuda_block *b, **pp;
    (void)len;
    cs_lock(&c->lock);
    for (pp = &c->blocks; (b = *pp) && b->given != (uintptr_t)p; pp = &b->next)
        ;
    if (b)
        *pp = b->next;
    cs_unlock(&c->lock);
    if (!b)
        return EINVAL;
    int err = cuda_free_raw(c, b->raw);
    cs_meta_free(b, sizeof *b);
    return err;
}

static int cuda_memset(void *ctx, void *p, int v, size_t len)
{
    int prev, err = cuda_enter(ctx, &prev);
    if (!err && cudaMemset(p, v, len) != cudaSuccess)
        err = EIO;
    cuda_leave(ctx, prev);
    return err;
}

static int cuda_copy(void *ctx, void *dst, const void *src, size_t len)
{
    int prev, err = cuda_enter(ctx, &prev);
    if (!err && cudaMemcpy(dst, src, len, cudaMemcpyDeviceToDevice) != cudaSuccess)
        err = EIO;
    cuda_leave(ctx, prev);
    return err;
}

/* Release comes after every region went back; teardown may come with some
   still out: they go back to the driver here. */
static void cuda_destroy(void *ctx)
{
    struct cuda_ctx *c = ctx;
    while (c->blocks) {
        struct cuda_block *b = c->blocks;
        c->blocks = b->next;
        cuda_free_raw(c, b->raw);
        cs_meta_free(b, sizeof *b);
    }
    cs_meta_free(c, sizeof *c);
}

static const cistern_sysalloc_ops_t cuda_ops = {
    .alloc = cuda_alloc,
    .unmap = cuda_unmap,
    .destroy = cuda_destroy,
    .memset = cuda_memset,
    .copy = cuda_copy,
};

CS_EXPORT cistern_sysalloc_t *cistern_sysalloc_cuda(int device, size_t chunk)
{
    cs_ensure_init();
    int n = 0;
    if (cudaGetDeviceCount(&n) != cudaSuccess || n == 0 || device < 0 || device >= n) {
        errno = ENODEV;
        return NULL;
    }
    struct cuda_ctx *c = cs_meta_alloc(sizeof *c);
    if (!c) {
        errno = ENOMEM;
        return NULL;
    }
    c->device = device;
    c->chunk = chunk ? chunk : CUDA_CHUNK;
    cs_lock_init(&c->lock);
    cistern_sysalloc_t *s =
        cistern_sysalloc_custom("cuda", &cuda_ops, c, (size_t)2 << 20, CISTERN_SYSALLOC_NOTOUCH);
    if (!s)
        cs_meta_free(c, sizeof *c);
    return s;
}
#else
CS_EXPORT cistern_sysalloc_t *cistern_sysalloc_cuda(int device, size_t chunk)
{
    (void)device;
    (void)chunk;
    errno = ENOTSUP;
    return NULL;
}
#endif
