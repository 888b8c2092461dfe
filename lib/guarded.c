/*
 * guarded.c - the guarded secondary allocator.
 *
 * One allocation in `guarded_rate` (CISTERN_OPTIONS secondary=guarded:<rate>)
 * of those reaching the allocation slow path gets pages of its own between
 * two PROT_NONE guard pages, placed flush against the upper guard so that a
 * write past its end faults at once (an underflow reaches the lower guard
 * when it crosses the page).  On free its pages become PROT_NONE and stay
 * in quarantine for a while, so a use after free faults too.  A SIGSEGV
 * handler names the allocation, the kind of bug, and the backtraces of the
 * allocation (and free), then aborts; other faults go to the handler that
 * was there before.  Bookkeeping lives in metadata, apart from the pages.
 */
#include "platform.h"
#include "export.h"
#include "fatal.h"
#include "meta.h"
#include "options.h"
#include "secondary.h"
#include "sysalloc/sources.h"

#include <execinfo.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#define GUARDED_SLOTS 1024      /* live + quarantined allocations tracked */
#define GUARDED_QUARANTINE 256  /* freed ones kept PROT_NONE before unmapping */
#define GUARDED_MAX_SIZE ((size_t)1 << 20) /* larger requests are not sampled */
#define TRACE_DEPTH 12

enum slot_state { SLOT_EMPTY, SLOT_LIVE, SLOT_FREED };

struct guarded_slot {
    uintptr_t base;  /* mapping: guard, data pages, guard */
    size_t len;
    uintptr_t ptr;   /* what the program got */
    size_t size;
    int state;
    int nalloc, nfree;
    void *alloc_trace[TRACE_DEPTH];
    void *free_trace[TRACE_DEPTH];
};

static struct guarded_slot *slots;
static cs_lock_t guarded_lock = CS_LOCK_INIT;
static cs_atomic_t sample_counter;
static unsigned quarantine[GUARDED_QUARANTINE];
static unsigned q_head, q_len;
static struct sigaction previous_segv;
static int handler_installed;

static struct guarded_slot *find_slot(uintptr_t a, int by_ptr)
{
    for (unsigned i = 0; slots && i < GUARDED_SLOTS; i++) {
        struct guarded_slot *s = &slots[i];
        if (s->state == SLOT_EMPTY)
            continue;
        if (by_ptr ? s->ptr == a : (a >= s->base && a < s->base + s->len))
            return s;
    }
    return NULL;
}

static void write_trace(const char *title, void *const *trace, int n)
{
    if (n <= 0)
        return;
    char mem[64];
    struct cs_buf b = { mem, 0, sizeof mem };
    cs_buf_str(&b, title);
    cs_buf_write(&b, 2);
    backtrace_symbols_fd((void *const *)trace, n, 2);
}

static void report(const char *what, struct guarded_slot *s, uintptr_t at)
{
    char mem[256];
    struct cs_buf b = { mem, 0, sizeof mem };
    cs_buf_str(&b, "cistern: guarded allocation ");
    cs_buf_hex(&b, s->ptr);
    cs_buf_str(&b, " of ");
    cs_buf_dec(&b, s->size);
    cs_buf_str(&b, " bytes: ");
    cs_buf_str(&b, what);
    if (at) {
        cs_buf_str(&b, " at ");
        cs_buf_hex(&b, at);
    }
    cs_buf_str(&b, "\n");
    cs_buf_write(&b, 2);
    write_trace("allocated at:\n", s->alloc_trace, s->nalloc);
    if (s->state == SLOT_FREED)
        write_trace("freed at:\n", s->free_trace, s->nfree);
}

static void on_segv(int sig, siginfo_t *info, void *uctx)
{
    uintptr_t at = (uintptr_t)info->si_addr;
    struct guarded_slot *s = find_slot(at, 0);
    if (s) {
        const char *what = s->state == SLOT_FREED ? "use after free"
                           : at >= s->ptr + s->size ? "heap buffer overflow"
                                                    : "heap buffer underflow";
        report(what, s, at);
        void *here[TRACE_DEPTH];
        write_trace("faulting access:\n", here, backtrace(here, TRACE_DEPTH));
        signal(SIGABRT, SIG_DFL);
        abort();
    }
    /* Not ours: behave as if this handler were not there. */
    if (previous_segv.sa_flags & SA_SIGINFO) {
        if (previous_segv.sa_sigaction) {
            previous_segv.sa_sigaction(sig, info, uctx);
            return;
        }
    } else if (previous_segv.sa_handler != SIG_DFL && previous_segv.sa_handler != SIG_IGN) {
        previous_segv.sa_handler(sig);
        return;
    }
    signal(SIGSEGV, SIG_DFL); /* the fault repeats and ends the program */
}

/* Guarded-lock held.  The unwinder was loaded by the caller (loading it may
   allocate, which would come back here). */
static int install(void)
{
    if (handler_installed)
        return 0;
    slots = cs_meta_alloc(sizeof(struct guarded_slot) * GUARDED_SLOTS);
    if (!slots)
        return ENOMEM;
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_sigaction = on_segv;
    sa.sa_flags = SA_SIGINFO | SA_ONSTACK;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGSEGV, &sa, &previous_segv);
    handler_installed = 1;
    return 0;
}

static void drop_slot(struct guarded_slot *s)
{
    cs_os_unmap((void *)s->base, s->len);
    s->state = SLOT_EMPTY;
}

/* Set while this thread is inside the guarded allocator: backtrace() may
   allocate, and those allocations must take the ordinary path. */
static __thread int inside;

static void *guarded_alloc(void *ctx, size_t size, size_t alignment)
{
    long rate = cs_opt.guarded_rate > 0 ? cs_opt.guarded_rate : 1;
    if (inside || size > GUARDED_MAX_SIZE || alignment > cs_os_page_size() ||
        (cs_atomic_add(&sample_counter, 1) + 1) % (uintptr_t)rate != 0)
        return NULL;
    inside = 1;
    if (!handler_installed) {
        void *warm[2];
        backtrace(warm, 2); /* loads the unwinder now, not inside the handler */
    }
    size_t page = cs_os_page_size();
    size_t data = CS_ALIGN_UP(size ? size : 1, page);
    size_t len = data + 2 * page;
    cs_lock(&guarded_lock);
    struct guarded_slot *s = NULL;
    if (install() == 0)
        for (unsigned i = 0; i < GUARDED_SLOTS && !s; i++)
            if (slots[i].state == SLOT_EMPTY)
                s = &slots[i];
    void *base = s ? cs_os_map(len, page) : NULL;
    if (!base) {
        cs_unlock(&guarded_lock);
        inside = 0;
        return NULL; /* cistern serves it the ordinary way */
    }
    mprotect(base, page, PROT_NONE);
    mprotect((char *)base + page + data, page, PROT_NONE);
    size_t align = alignment < 16 ? 16 : alignment;
    s->base = (uintptr_t)base;
    s->len = len;
    s->ptr = CS_ALIGN_DOWN((uintptr_t)base + page + data - size, align);
    s->size = size;
    s->state = SLOT_LIVE;
    s->nfree = 0;
    cs_unlock(&guarded_lock);
    s->nalloc = backtrace(s->alloc_trace, TRACE_DEPTH);
    inside = 0;
    return (void *)s->ptr;
}

static void guarded_free(void *ctx, void *p)
{
    cs_lock(&guarded_lock);
    struct guarded_slot *s = find_slot((uintptr_t)p, 1);
    if (!s) {
        cs_unlock(&guarded_lock);
        cs_fatal_pointer("free", p, "pointer not allocated by cistern");
    }
    if (s->state == SLOT_FREED) {
        cs_unlock(&guarded_lock);
        report("double free", s, 0);
        cs_fatal_pointer("free", p, "double free");
    }
    s->state = SLOT_FREED;
    size_t page = cs_os_page_size();
    mprotect((void *)(s->base + page), s->len - 2 * page, PROT_NONE);
    if (q_len == GUARDED_QUARANTINE) {
        drop_slot(&slots[quarantine[q_head]]);
        q_head = (q_head + 1) % GUARDED_QUARANTINE;
        q_len--;
    }
    quarantine[(q_head + q_len++) % GUARDED_QUARANTINE] = (unsigned)(s - slots);
    cs_unlock(&guarded_lock);
    inside = 1;
    s->nfree = backtrace(s->free_trace, TRACE_DEPTH);
    inside = 0;
}

static size_t guarded_usable(void *ctx, const void *p)
{
    cs_lock(&guarded_lock);
    struct guarded_slot *s = find_slot((uintptr_t)p, 1);
    size_t n = s && s->state == SLOT_LIVE ? s->size : 0;
    cs_unlock(&guarded_lock);
    if (!s)
        cs_fatal_pointer("malloc_usable_size", p, "pointer not allocated by cistern");
    return n;
}

static void *guarded_realloc(void *ctx, void *p, size_t size)
{
    size_t old = guarded_usable(ctx, p);
    void *q = cs_secondary_fallback_alloc(size);
    if (!q)
        return NULL;
    memcpy(q, p, old < size ? old : size);
    guarded_free(ctx, p);
    return q;
}

static const cistern_secondary_ops_t guarded_ops = {
    .alloc = guarded_alloc,
    .free = guarded_free,
    .realloc = guarded_realloc,
    .usable_size = guarded_usable,
};

CS_EXPORT const cistern_secondary_ops_t *cistern_secondary_guarded(void)
{
    return &guarded_ops;
}
