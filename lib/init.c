/*
 * init.c - process life cycle: initialisation on first use, the thread-exit
 * hook, fork handlers, release of free memory, teardown.
 *
 * Initialisation allocates only metadata (mmap) and calls no libc function
 * that may allocate, so it can run inside the program's first malloc.  Work
 * that may call malloc (pthread_atfork, the thread-exit key) comes after the
 * heap is ready, when a recursive malloc is served normally.
 */
#include "init.h"
#include "arena.h"
#include "export.h"
#include "fatal.h"
#include "meta.h"
#include "options.h"
#include "pagemap.h"
#include "region.h"
#include "release.h"
#include "secondary.h"
#include "sizeclass.h"
#include "source.h"
#include "stats.h"
#include "tcache.h"
#include "tool.h"
#include "sysalloc/sources.h"

#include <cistern.h>
#include <pthread.h>
#include <string.h>
#include <fcntl.h>
#include <unistd.h>

cs_atomic_t cs_init_state; /* 0 none, 1 running, CS_INIT_DONE */
static __thread int init_running_here;
static pthread_key_t exit_key;
static int exit_key_ok;
static int atfork_done;
static int stats_fd = -1; /* a copy of stderr taken at start, for the report at exit */

/* Defined by a program that wants to inject sources before its first malloc. */
extern void cistern_init_hook(void) __attribute__((weak));

static void fork_prepare(void);
static void fork_parent(void);
static void fork_child(void);

static void build_default_arena(void)
{
    struct cistern_sysalloc *chain[2];
    size_t n = 0;
    if (cs_opt.hugepages)
        chain[n++] = cs_hugepage_source();
    chain[n++] = cs_os_source();
    struct cistern_arena *a = cs_arena_new("default", chain, n, 0, 0);
    if (!a)
        cs_fatal("cannot create the default arena (out of memory)");
    a->is_default = 1;
    cs_default_arena = a;
}

void cs_init_slow(void)
{
    if (init_running_here)
        return; /* the init hook, or init itself, allocating: served as it comes */
    if (!cs_atomic_cas(&cs_init_state, 0, 1)) {
        while (cs_atomic_load_acquire(&cs_init_state) != CS_INIT_DONE)
            sched_yield();
        return;
    }
    init_running_here = 1;
    cs_secret = (uintptr_t)cs_random64() | 1;
    cs_options_init();
    cs_tool_init();
    cs_sizeclass_init();
    build_default_arena();
    if (cs_opt.pool[0])
        cs_pool_option_apply(cs_opt.pool);
    if (cistern_init_hook)
        cistern_init_hook();
    /* Before init is announced: a thread that sees it done must also see the
       key (glibc's pthread_key_create does not allocate). */
    if (!exit_key_ok && pthread_key_create(&exit_key, cs_thread_exit) == 0)
        exit_key_ok = 1;
    cs_atomic_store_release(&cs_init_state, CS_INIT_DONE);
    init_running_here = 0;
    /* From here on, malloc works: these may call it. */
    if (!atfork_done) {
        atfork_done = 1;
        pthread_atfork(fork_prepare, fork_parent, fork_child);
    }
    cs_secondary_init();
    if (cs_opt.stats_print && stats_fd < 0)
        stats_fd = fcntl(2, F_DUPFD_CLOEXEC, 100);
}

void cs_thread_register_exit(struct cs_thread *t)
{
    if (exit_key_ok)
        pthread_setspecific(exit_key, t);
}

/* ---- fork --------------------------------------------------------------------- */

static void fork_prepare(void)
{
    if (cs_atomic_load_acquire(&cs_init_state) != CS_INIT_DONE)
        return;
    cs_arena_fork_prepare();
    cs_tcache_fork_prepare();
    cs_region_fork_prepare();
    cs_source_fork_prepare();
    cs_meta_fork_prepare();
}

static void fork_parent(void)
{
    if (cs_atomic_load_acquire(&cs_init_state) != CS_INIT_DONE)
        return;
    cs_meta_fork_parent();
    cs_source_fork_parent();
    cs_region_fork_parent();
    cs_tcache_fork_parent();
    cs_arena_fork_parent();
}

static void fork_child(void)
{
    if (cs_atomic_load_acquire(&cs_init_state) != CS_INIT_DONE)
        return;
    cs_meta_fork_child();
    cs_source_fork_child();
    cs_region_fork_child();
    cs_tcache_fork_child();
    cs_arena_fork_child();
    cs_release_fork_child();
}

/* ---- teardown ------------------------------------------------------------------- */

static void teardown(void)
{
    if (cs_atomic_load_acquire(&cs_init_state) != CS_INIT_DONE)
        return;
    cs_release_stop();
    cs_tcache_flush_thread();
    cs_tcache_teardown();
    cs_arena_teardown();     /* every region back to its source */
    cs_source_teardown();    /* injected sources: destroy ops (ranges stay mapped) */
    cs_os_source_forget();
    cs_hugepage_source_forget();
    cs_region_teardown();
    cs_pagemap_reset();
    cs_meta_release_all();   /* span records, nodes, caches, arenas: all of it */
    cs_atomic_store_release(&cs_init_state, 0);
}

CS_EXPORT void cistern_teardown(void)
{
    teardown();
}

CS_EXPORT void cistern_release_free_memory(void)
{
    cs_ensure_init();
    cs_tcache_flush_thread();
    cs_arena_release_all(0, 1);
}

__attribute__((destructor)) static void cs_library_exit(void)
{
    if (cs_atomic_load_acquire(&cs_init_state) != CS_INIT_DONE)
        return;
    if (cs_opt.stats_print)
        cs_stats_print_fd(stats_fd >= 0 ? stats_fd : 2, 0);
#ifndef CS_OWNS_PROCESS_MALLOC
    /* The API library is unloaded with its plugin: give everything back.
       The drop-in library stays: the program may still free after this. */
    if (exit_key_ok) {
        pthread_key_delete(exit_key);
        exit_key_ok = 0;
    }
    /* Under memcheck the process is ending: tearing down would free, in
       memcheck's eyes, every block the program leaked, and hide the leaks. */
    if (!cs_tool_valgrind())
        teardown();
#else
    cs_release_stop();
#endif
}
