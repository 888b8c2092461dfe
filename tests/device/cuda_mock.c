/*
 * cuda_mock.c - a stand-in for the few CUDA runtime calls the CUDA source
 * and cuda_test make, linked into the test program so that it takes the
 * place of libcudart's (the program's own definitions win).
 *
 * "Device memory" is a memfd mapped twice: the view handed out is
 * PROT_NONE, so the CPU touching it is a SIGSEGV, as on a real device;
 * memset and memcpy go through a second, writable view.  cudaMalloc hands
 * out pointers 256 bytes past a 2 MiB boundary - aligned as much as the
 * real one promises and no more - and every call checks that its range
 * lies inside one live allocation.
 */
#define _GNU_SOURCE 1
#include <cuda_runtime_api.h>

#include <pthread.h>
#include <stdint.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

/* The project builds with hidden visibility: these must be seen from the
   library to take libcudart's place. */
#pragma GCC visibility push(default)

#define MOCK_SPACE ((size_t)4 << 30) /* sparse: only what is written is backed */
#define MOCK_MAX 256                 /* live allocations */
#define MOCK_SKEW 256

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static char *dev, *shadow;
static size_t used;
static struct {
    uintptr_t p;
    size_t len;
} live[MOCK_MAX];
static int nlive, current = 0, errors;

int cs_mock_errors(void);
int cs_mock_live(void);

int cs_mock_errors(void)
{
    return errors;
}

int cs_mock_live(void)
{
    return nlive;
}

static int ready(void)
{
    if (dev)
        return 1;
    int fd = memfd_create("cuda-mock", MFD_CLOEXEC);
    if (fd < 0 || ftruncate(fd, (off_t)MOCK_SPACE) != 0)
        return 0;
    dev = mmap(NULL, MOCK_SPACE, PROT_NONE, MAP_SHARED | MAP_NORESERVE, fd, 0);
    shadow = mmap(NULL, MOCK_SPACE, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_NORESERVE, fd, 0);
    close(fd);
    if (dev == MAP_FAILED || shadow == MAP_FAILED) {
        dev = NULL;
        return 0;
    }
    return 1;
}

/* The writable alias of [p, p+len) when it lies in one live allocation. */
static char *alias(const void *p, size_t len)
{
    uintptr_t a = (uintptr_t)p;
    for (int i = 0; i < nlive; i++)
        if (a >= live[i].p && len <= live[i].len && a - live[i].p <= live[i].len - len)
            return shadow + (a - (uintptr_t)dev);
    errors++;
    return NULL;
}

cudaError_t cudaGetDeviceCount(int *count)
{
    *count = 1;
    return cudaSuccess;
}

cudaError_t cudaGetDevice(int *device)
{
    *device = current;
    return cudaSuccess;
}

cudaError_t cudaSetDevice(int device)
{
    if (device != 0)
        return cudaErrorInvalidDevice;
    current = device;
    return cudaSuccess;
}

cudaError_t cudaMalloc(void **p, size_t size)
{
    cudaError_t rc = cudaErrorMemoryAllocation;
    pthread_mutex_lock(&lock);
    size_t start = (used + ((size_t)2 << 20) - 1) & ~(((size_t)2 << 20) - 1);
    if (ready() && nlive < MOCK_MAX && size <= MOCK_SPACE - MOCK_SKEW &&
        start <= MOCK_SPACE - MOCK_SKEW - size) {
        *p = dev + start + MOCK_SKEW;
        live[nlive].p = (uintptr_t)*p;
        live[nlive++].len = size;
        used = start + MOCK_SKEW + size;
        rc = cudaSuccess;
    }
    pthread_mutex_unlock(&lock);
    return rc;
}

/* Only the very pointers cudaMalloc gave; their pages go back to the file. */
cudaError_t cudaFree(void *p)
{
    cudaError_t rc = cudaErrorInvalidValue;
    pthread_mutex_lock(&lock);
    if (!p) {
        rc = cudaSuccess;
    } else {
        for (int i = 0; i < nlive; i++)
            if (live[i].p == (uintptr_t)p) {
                madvise(shadow + (live[i].p - (uintptr_t)dev), live[i].len, MADV_REMOVE);
                live[i] = live[--nlive];
                rc = cudaSuccess;
                break;
            }
        if (rc != cudaSuccess)
            errors++;
    }
    pthread_mutex_unlock(&lock);
    return rc;
}

cudaError_t cudaMemset(void *p, int value, size_t count)
{
    pthread_mutex_lock(&lock);
    char *a = alias(p, count);
    if (a)
        memset(a, value, count);
    pthread_mutex_unlock(&lock);
    return a ? cudaSuccess : cudaErrorInvalidValue;
}

cudaError_t cudaMemcpy(void *dst, const void *src, size_t count, enum cudaMemcpyKind kind)
{
    pthread_mutex_lock(&lock);
    int to_dev = kind == cudaMemcpyHostToDevice || kind == cudaMemcpyDeviceToDevice;
    int from_dev = kind == cudaMemcpyDeviceToHost || kind == cudaMemcpyDeviceToDevice;
    char *d = to_dev ? alias(dst, count) : dst;
    const char *s = from_dev ? alias(src, count) : src;
    if (d && s)
        memmove(d, s, count);
    pthread_mutex_unlock(&lock);
    return d && s ? cudaSuccess : cudaErrorInvalidValue;
}

cudaError_t cudaMemGetInfo(size_t *free_bytes, size_t *total)
{
    pthread_mutex_lock(&lock);
    size_t held = 0;
    for (int i = 0; i < nlive; i++)
        held += live[i].len;
    pthread_mutex_unlock(&lock);
    *total = MOCK_SPACE;
    *free_bytes = MOCK_SPACE - held;
    return cudaSuccess;
}

const char *cudaGetErrorString(cudaError_t e)
{
    return e == cudaSuccess ? "no error" : "mock CUDA error";
}
