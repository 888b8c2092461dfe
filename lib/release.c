/*
 * release.c - the background release thread.
 *
 * It wakes every decay_ms / 2 (at least every 50 ms, at most every second),
 * empties the transfer caches and decommits free runs idle for decay_ms in
 * every arena.  It allocates nothing and holds no cistern lock while asleep.
 * It is started from an allocation slow path (never from free, which must
 * not allocate, and pthread_create does) once it is armed: when a source
 * first has CS_RELEASE_START_BYTES committed (see release.h), which happens
 * while the process grows, so a process that goes idle right after its
 * frees still gives the memory back.  A small program never pays for it.
 * Its stack is small: it only walks the arenas.
 */
#include "platform.h"
#include "release.h"
#include "arena.h"
#include "init.h"
#include "options.h"

#include <pthread.h>
#include <signal.h>

static pthread_mutex_t bg_mutex = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t bg_cond = PTHREAD_COND_INITIALIZER;
static pthread_t bg_thread;
static cs_atomic_t bg_state; /* 0 none, 1 starting/running, 2 stopping */
static int bg_disabled_here;
static cs_atomic_t armed;
/* The thread's stack: its deepest call is a heap release (a few frames of
   plain C); room to spare for sanitizer builds. */
#define BG_STACK ((size_t)256 << 10)

static uint64_t period_ms(void)
{
    long d = cs_opt.decay_ms;
    uint64_t p = d > 0 ? (uint64_t)d / 2 : 50;
    return p < 50 ? 50 : p > 1000 ? 1000 : p;
}

static void *bg_main(void *arg)
{
    (void)arg;
    pthread_mutex_lock(&bg_mutex);
    while (cs_atomic_load_acquire(&bg_state) == 1) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        uint64_t ns = (uint64_t)ts.tv_nsec + period_ms() * 1000000u;
        ts.tv_sec += (time_t)(ns / 1000000000u);
        ts.tv_nsec = (long)(ns % 1000000000u);
        pthread_cond_timedwait(&bg_cond, &bg_mutex, &ts);
        if (cs_atomic_load_acquire(&bg_state) != 1)
            break;
        pthread_mutex_unlock(&bg_mutex);
        /* Turned off at run time: the thread stays, idle. */
        if (cs_opt.background_thread && cs_opt.decay_ms >= 0)
            cs_arena_release_all((uint64_t)cs_opt.decay_ms, 1);
        pthread_mutex_lock(&bg_mutex);
    }
    pthread_mutex_unlock(&bg_mutex);
    return NULL;
}

cs_atomic_t cs_release_wanted;

void cs_release_notify(void)
{
    if (cs_likely(cs_atomic_load_relaxed(&bg_state) != 0) || !cs_atomic_load_relaxed(&armed) ||
        !cs_opt.background_thread ||
        cs_opt.decay_ms < 0 || bg_disabled_here || cs_atomic_load_relaxed(&cs_release_wanted))
        return;
    cs_atomic_store_relaxed(&cs_release_wanted, 1);
}

void cs_release_committed(size_t bytes)
{
    if (cs_likely(bytes < CS_RELEASE_START_BYTES || cs_atomic_load_relaxed(&armed)))
        return;
    cs_atomic_store_relaxed(&armed, 1);
    cs_release_notify();
}

int cs_release_armed(void)
{
    return (int)cs_atomic_load_relaxed(&armed);
}

void cs_release_start(void)
{
    cs_atomic_store_relaxed(&cs_release_wanted, 0);
    if (cs_atomic_load_acquire(&cs_init_state) != CS_INIT_DONE || !cs_opt.background_thread)
        return;
    if (!cs_atomic_cas(&bg_state, 0, 1))
        return;
    /* The thread must not take signals meant for the program. */
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    pthread_attr_t attr;
    int attr_ok = pthread_attr_init(&attr) == 0;
    if (attr_ok)
        pthread_attr_setstacksize(&attr, BG_STACK); /* a refusal keeps the default */
    if (pthread_create(&bg_thread, attr_ok ? &attr : NULL, bg_main, NULL) != 0) {
        bg_disabled_here = 1; /* no threads here: the free path still releases */
        cs_atomic_store_release(&bg_state, 0);
    }
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (attr_ok)
        pthread_attr_destroy(&attr);
}

void cs_release_stop(void)
{
    cs_atomic_store_relaxed(&armed, 0);
    cs_atomic_store_relaxed(&cs_release_wanted, 0);
    if (!cs_atomic_cas(&bg_state, 1, 2))
        return;
    pthread_mutex_lock(&bg_mutex);
    pthread_cond_broadcast(&bg_cond);
    pthread_mutex_unlock(&bg_mutex);
    pthread_join(bg_thread, NULL);
    cs_atomic_store_release(&bg_state, 0);
}

void cs_release_fork_child(void)
{
    /* The child has no thread: wanted again if the parent had armed it. */
    if (cs_atomic_load_relaxed(&armed) && cs_opt.background_thread)
        cs_atomic_store_relaxed(&cs_release_wanted, 1);
    pthread_mutex_t m = PTHREAD_MUTEX_INITIALIZER;
    pthread_cond_t c = PTHREAD_COND_INITIALIZER;
    bg_mutex = m;
    bg_cond = c;
    cs_atomic_store_release(&bg_state, 0);
}
