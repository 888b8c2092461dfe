/*
 * secondary.c - the secondary allocator plumbing and the libc forwarder.
 */
#include "platform.h"
#include "secondary.h"
#include "export.h"
#include "fatal.h"
#include "options.h"
#include "init.h"
#include "region.h"

#include <dlfcn.h>
#include <string.h>

const cistern_secondary_ops_t *cs_secondary_active;
/* cs_secondary_active is published with a release store and read with an
   acquire load: the ops copied into `installed` are visible first. */
static void publish(const cistern_secondary_ops_t *ops)
{
    cs_atomic_store_release((cs_atomic_t *)&cs_secondary_active, (uintptr_t)ops);
}
static cistern_secondary_ops_t installed;
static void *installed_ctx;
static int have_installed;

/* ---- forwarding to the malloc that was there before ------------------------------ */

static void (*next_free)(void *);
static void *(*next_realloc)(void *, size_t);
static size_t (*next_usable)(void *);

/* The malloc that was there before: for the drop-in library the next one
   after it; for the API library the process's own (which may be the
   program's, or glibc's). */
#ifdef CS_OWNS_PROCESS_MALLOC
#define PREVIOUS_MALLOC RTLD_NEXT
#else
#define PREVIOUS_MALLOC RTLD_DEFAULT
#endif

static void libc_resolve(void)
{
    if (next_free)
        return;
    next_realloc = (void *(*)(void *, size_t))dlsym(PREVIOUS_MALLOC, "realloc");
    next_usable = (size_t(*)(void *))dlsym(PREVIOUS_MALLOC, "malloc_usable_size");
    next_free = (void (*)(void *))dlsym(PREVIOUS_MALLOC, "free");
}

static void libc_free(void *ctx, void *p)
{
    libc_resolve();
    if (!next_free)
        cs_fatal_pointer("free", p, "pointer not allocated by cistern (no libc free to forward to)");
    next_free(p);
}

static void *libc_realloc(void *ctx, void *p, size_t size)
{
    libc_resolve();
    if (!next_realloc)
        cs_fatal_pointer("realloc", p, "pointer not allocated by cistern (no libc realloc)");
    return next_realloc(p, size);
}

static size_t libc_usable(void *ctx, const void *p)
{
    libc_resolve();
    if (!next_usable)
        cs_fatal_pointer("malloc_usable_size", p, "pointer not allocated by cistern");
    return next_usable((void *)p);
}

static const cistern_secondary_ops_t libc_ops = {
    .alloc = NULL, /* cistern allocates; libc only takes back what it gave */
    .free = libc_free,
    .realloc = libc_realloc,
    .usable_size = libc_usable,
};

CS_EXPORT const cistern_secondary_ops_t *cistern_secondary_libc(void)
{
    return &libc_ops;
}

CS_EXPORT int cistern_secondary_set(const cistern_secondary_ops_t *ops, void *ctx)
{
    if (ops && !ops->free && !ops->alloc && !ops->realloc && !ops->usable_size)
        return EINVAL;
    publish(NULL);
    if (!ops) {
        have_installed = 0;
        return 0;
    }
    installed = *ops;
    installed_ctx = ctx;
    have_installed = 1;
    if (installed.alloc)
        publish(&installed);
    return 0;
}

void cs_secondary_init(void)
{
    if (cs_opt.secondary == CS_SECONDARY_LIBC)
        cistern_secondary_set(&libc_ops, NULL);
    else if (cs_opt.secondary == CS_SECONDARY_GUARDED)
        cistern_secondary_set(cistern_secondary_guarded(), NULL);
}

void *cs_secondary_alloc(size_t size, size_t alignment)
{
    const cistern_secondary_ops_t *ops = (const cistern_secondary_ops_t *)cs_atomic_load_acquire(
        (cs_atomic_t *)&cs_secondary_active);
    return ops ? ops->alloc(installed_ctx, size, alignment) : NULL;
}

/* A pointer in none of cistern's spans may still lie in one of its regions
   (freed large memory): that is a double free, never a foreign pointer.
   Nor is one where cistern gave memory back and nothing is mapped now: no
   allocator can have handed it out, and a secondary's free would crash. */
static void check_not_ours(const void *p, const char *call)
{
    if (cs_region_find((uintptr_t)p))
        cs_fatal_pointer(call, p, "double free or invalid pointer (inside cistern's free memory)");
    if (cs_region_was_given_back((uintptr_t)p) && cs_os_surely_unmapped(p))
        cs_fatal_pointer(call, p, "double free or invalid pointer (cistern memory that went back "
                                  "to the system)");
}

/* The stop for a foreign pointer with no secondary to take it. */
static __attribute__((noreturn)) void foreign_stop(const void *p, const char *call)
{
    cs_fatal_pointer(call, p, cs_region_was_given_back((uintptr_t)p)
                                  ? "pointer not allocated by cistern (it lies where cistern "
                                    "memory went back to the system: a double free?)"
                                  : "pointer not allocated by cistern");
}

void cs_foreign_free(void *p, const char *call)
{
    cs_ensure_init(); /* the first call may be this one: options choose the secondary */
    check_not_ours(p, call);
    if (have_installed && installed.free) {
        installed.free(installed_ctx, p);
        return;
    }
    foreign_stop(p, call);
}

void *cs_foreign_realloc(void *p, size_t size)
{
    cs_ensure_init();
    check_not_ours(p, "realloc");
    if (have_installed && installed.realloc)
        return installed.realloc(installed_ctx, p, size);
    foreign_stop(p, "realloc");
}

size_t cs_foreign_usable_size(const void *p, const char *call)
{
    cs_ensure_init();
    check_not_ours(p, call);
    if (have_installed && installed.usable_size)
        return installed.usable_size(installed_ctx, p);
    foreign_stop(p, call);
}
