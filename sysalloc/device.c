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

struct cuda_ctx {
    int device;
    size_t chunk;
};

static void *cuda_alloc(void *ctx, size_t size, size_t align, size_t *actual)
{
    struct cuda_ctx *c = ctx;
    size_t want = size > c->chunk ? size : c->chunk;
    void *p = NULL;
    if (cudaSetDevice(c->device) != cudaSuccess)
        return NULL;
    /* cudaMalloc aligns to at least 256 bytes; ask more and trim in the heap otherwise. */
    if (align > 256)
        want += align;
    if (cudaMalloc(&p, want) != cudaSuccess)
        return NULL;
    *actual = want;
    if ((uintptr_t)p & (align - 1)) {
        /* The core trims to its page; report the range as given. */
    }
    return p;
}

static int cuda_unmap(void *ctx, void *p, size_t len)
{
    (void)len;
    return cudaFree(p) == cudaSuccess ? 0 : EIO;
}

static int cuda_memset(void *ctx, void *p, int c, size_t len)
{
    return cudaMemset(p, c, len) == cudaSuccess ? 0 : EIO;
}

static int cuda_copy(void *ctx, void *dst, const void *src, size_t len)
{
    return cudaMemcpy(dst, src, len, cudaMemcpyDeviceToDevice) == cudaSuccess ? 0 : EIO;
}

static void cuda_destroy(void *ctx)
{
    cs_meta_free(ctx, sizeof(struct cuda_ctx));
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
