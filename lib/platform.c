/*
 * platform.c - out-of-line parts of the platform layer: the lock's slow
 * path, the OS page size, randomness.
 */
#include "platform.h"

#include <errno.h>
#include <fcntl.h>
#include <unistd.h>
#include <sys/mman.h>
#include <sys/syscall.h>

size_t cs_os_page_size(void)
{
    static cs_atomic_t cached;
    size_t v = (size_t)cs_atomic_load_relaxed(&cached);
    if (cs_unlikely(v == 0)) {
        long r = sysconf(_SC_PAGESIZE);
        v = r > 0 ? (size_t)r : 4096;
        cs_atomic_store_relaxed(&cached, v);
    }
    return v;
}

int cs_os_surely_unmapped(const void *a)
{
    unsigned char vec;
    uintptr_t page = (uintptr_t)a & ~(uintptr_t)(cs_os_page_size() - 1);
    return mincore((void *)page, 1, &vec) != 0 && errno == ENOMEM;
}

/* Spin with the relax hint while the holder is likely running on another
   core; after that, give the core away so a preempted holder can finish. */
void cs_lock_slow(cs_lock_t *l)
{
    unsigned spins = 0;
    for (;;) {
        if (cs_atomic_load_relaxed(&l->word) == 0 && cs_atomic_cas(&l->word, 0, 1))
            return;
        if (++spins < 64)
            cs_cpu_relax();
        else
            sched_yield();
    }
}

uint64_t cs_random64(void)
{
    uint64_t v = 0;
#ifdef SYS_getrandom
    if (syscall(SYS_getrandom, &v, sizeof v, 0) == (long)sizeof v)
        return v;
#endif
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    v = (uint64_t)ts.tv_nsec * 0x9e3779b97f4a7c15ull ^ (uint64_t)(uintptr_t)&v;
    v ^= (uint64_t)getpid() << 32;
    return v ^ (v >> 29);
}
