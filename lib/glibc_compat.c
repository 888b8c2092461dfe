/*
 * glibc_compat.c - glibc's malloc introspection and tuning calls for the
 * drop-in library: malloc_stats, malloc_info, mallinfo2, mallinfo, mallopt.
 * Programs and monitoring code call these directly; with cistern in place
 * they would otherwise reach glibc's versions, which describe glibc's own
 * (unused) heap.  libcistern_api does not contain this file: a plugin must
 * not take these names from the process.
 *
 * The figures are those of cistern_stats_print, read the same way: counters
 * each layer keeps, summed without stopping other threads, so a report may
 * be a few operations old.
 *
 * How glibc's terms map onto cistern's (mallinfo2, mallinfo, malloc_stats):
 *   arena     bytes reserved from every memory source (address space; pages
 *             never touched cost no memory)
 *   uordblks  bytes allocated in small objects (rounded to their class)
 *   hblks     large spans in use (cistern's counterpart of glibc's mmapped
 *             chunks: blocks above the largest size class)
 *   hblkhd    bytes of those large spans.  As with glibc, uordblks + hblkhd
 *             is what the program holds: the sum monitoring code computes.
 *   fordblks  committed bytes not allocated: free pages still backed by
 *             memory, free slots of small spans, objects in caches
 *   smblks    free objects parked in thread and transfer caches (glibc's
 *             fastbins are the nearest thing), fsmblks their bytes; both
 *             are part of fordblks
 *   keepcost  committed free pages: what malloc_trim would give back
 *   ordblks   0: free page runs are not counted anywhere cheap to read
 *   usmblks   0, as in glibc
 */
#include "arena.h"
#include "export.h"
#include "init.h"
#include "meta.h"
#include "source.h"
#include "tcache.h"

#include <cistern.h>

#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>

#if !defined(CS_SANITIZER_OWNS_MALLOC) && defined(__GLIBC__)

/*
 * glibc's declarations, written out rather than taken from <malloc.h>,
 * which marks some of them deprecated and lacks others in older releases.
 * The layouts and values are glibc's ABI, unchanged since SVID;
 * tests/compat compiles against the real <malloc.h> and would read nonsense
 * if they differed.
 */
struct mallinfo {
    int arena, ordblks, smblks, hblks, hblkhd, usmblks, fsmblks, uordblks, fordblks, keepcost;
};
struct mallinfo2 {
    size_t arena, ordblks, smblks, hblks, hblkhd, usmblks, fsmblks, uordblks, fordblks, keepcost;
};
enum {
    CS_M_TRIM_THRESHOLD = -1,
    CS_M_TOP_PAD = -2,
    CS_M_MMAP_THRESHOLD = -3,
    CS_M_MMAP_MAX = -4,
    CS_M_CHECK_ACTION = -5,
    CS_M_PERTURB = -6,
    CS_M_ARENA_TEST = -7,
    CS_M_ARENA_MAX = -8,
};
struct mallinfo mallinfo(void);
struct mallinfo2 mallinfo2(void);
void malloc_stats(void);
int malloc_info(int options, FILE *fp);
int mallopt(int param, int value);

/* ---- gathering ------------------------------------------------------------------- */

/* One arena's figures, or the sum over all of them. */
struct figures {
    size_t allocated;      /* live allocations, small and large */
    size_t active;         /* pages of spans in use */
    size_t committed;      /* active + free pages still backed */
    size_t held;           /* pages the arena's heap holds, backed or not */
    size_t large_bytes, nlarge;
    size_t cached_bytes, ncached;
    size_t live;           /* nmalloc - nfree */
};

struct arena_tcs {
    const struct cistern_arena *a;
    size_t *counts;
};

static void count_tcache(struct cs_tcache *tc, void *ctx)
{
    struct arena_tcs *t = ctx;
    if (tc->arena != t->a || tc->epoch != cs_atomic_load_relaxed(&t->a->epoch))
        return;
    /* Another thread's bins, read without stopping it (as the stats do). */
    const volatile struct cs_tcache *v = tc;
    for (unsigned c = 1; c < CS_NCLASSES; c++)
        t->counts[c] += cs_tcache_count(v, c);
}

/* Free objects of each class held above the spans: in the thread caches and
   in the transfer cache of the central list. */
static void cached_objects(const struct cistern_arena *a, size_t counts[CS_NCLASSES])
{
    memset(counts, 0, CS_NCLASSES * sizeof counts[0]);
    struct arena_tcs t = { a, counts };
    cs_tcache_foreach(count_tcache, &t);
    for (unsigned c = 1; c < CS_NCLASSES; c++)
        counts[c] += cs_atomic_load_relaxed(&a->central[c].xfer_n);
}

/* Counters read one after the other may disagree by a few operations. */
static size_t sub0(size_t a, size_t b)
{
    return a > b ? a - b : 0;
}

static void arena_figures(const struct cistern_arena *a, struct figures *f,
                          size_t counts[CS_NCLASSES])
{
    cistern_arena_stats_t st;
    memset(f, 0, sizeof *f);
    memset(counts, 0, CS_NCLASSES * sizeof counts[0]);
    if (cistern_arena_get_stats(a, &st))
        return;
    const struct cs_heap *h = &a->heap;
    f->allocated = st.allocated_bytes;
    f->active = st.active_bytes;
    f->committed = st.committed_bytes;
    f->held = (cs_atomic_load_relaxed(&h->pages_inuse) + cs_atomic_load_relaxed(&h->pages_free)) *
              CS_PAGE;
    f->large_bytes = cs_atomic_load_relaxed(&h->large_pages) * CS_PAGE;
    f->nlarge = sub0(cs_atomic_load_relaxed(&h->nlarge_malloc),
                     cs_atomic_load_relaxed(&h->nlarge_free));
    f->live = (size_t)(st.nmalloc > st.nfree ? st.nmalloc - st.nfree : 0);
    cached_objects(a, counts);
    for (unsigned c = 1; c < CS_NCLASSES; c++) {
        f->ncached += counts[c];
        f->cached_bytes += counts[c] * cs_classes[c].size;
    }
}

static void add_figures(struct figures *sum, const struct figures *f)
{
    sum->allocated += f->allocated;
    sum->active += f->active;
    sum->committed += f->committed;
    sum->held += f->held;
    sum->large_bytes += f->large_bytes;
    sum->nlarge += f->nlarge;
    sum->cached_bytes += f->cached_bytes;
    sum->ncached += f->ncached;
    sum->live += f->live;
}

struct source_sum {
    size_t reserved, committed;
};

static void sum_source(struct cistern_sysalloc *s, void *ctx)
{
    struct source_sum *sum = ctx;
    cistern_sysalloc_stats_t st;
    if (cistern_sysalloc_get_stats(s, &st) == 0) {
        sum->reserved += st.reserved_bytes;
        sum->committed += st.committed_bytes;
    }
}

static void sum_arena(struct cistern_arena *a, void *ctx)
{
    size_t counts[CS_NCLASSES];
    struct figures f;
    arena_figures(a, &f, counts);
    add_figures(ctx, &f);
}

static void gather(struct figures *all, struct source_sum *src)
{
    cs_ensure_init();
    memset(all, 0, sizeof *all);
    memset(src, 0, sizeof *src);
    cs_arena_foreach(sum_arena, all);
    cs_source_foreach(sum_source, src);
}

/* ---- mallinfo2, mallinfo --------------------------------------------------------- */

/* The mapping described at the top of this file, for both structures. */
#define FILL_MALLINFO(m, all, src, CONV)                                              \
    do {                                                                              \
        memset(&(m), 0, sizeof(m));                                                   \
        (m).arena = CONV((src).reserved);                                             \
        (m).smblks = CONV((all).ncached);                                             \
        (m).hblks = CONV((all).nlarge);                                               \
        (m).hblkhd = CONV((all).large_bytes);                                         \
        (m).fsmblks = CONV((all).cached_bytes);                                       \
        (m).uordblks = CONV(sub0((all).allocated, (all).large_bytes));                \
        (m).fordblks = CONV(sub0((all).committed, (all).allocated));                  \
        (m).keepcost = CONV(sub0((all).committed, (all).active));                     \
    } while (0)

#define AS_SIZE(x) (x)

/* Exported whatever glibc the library is built on: a program built on
   glibc 2.33 or later may run with it. */
CS_EXPORT struct mallinfo2 mallinfo2(void)
{
    struct figures all;
    struct source_sum src;
    gather(&all, &src);
    struct mallinfo2 m;
    FILL_MALLINFO(m, all, src, AS_SIZE);
    return m;
}

/* The old interface has int fields: a figure that does not fit reads as
   INT_MAX rather than wrapping to a small or negative number. */
static int saturate(size_t x)
{
    return x > (size_t)INT_MAX ? INT_MAX : (int)x;
}

CS_EXPORT struct mallinfo mallinfo(void)
{
    struct figures all;
    struct source_sum src;
    gather(&all, &src);
    struct mallinfo m;
    FILL_MALLINFO(m, all, src, saturate);
    return m;
}

/* ---- malloc_stats ---------------------------------------------------------------- */

/* Arenas are numbered by id, as in malloc_info's <heap nr=...>. */
static void stats_arena(struct cistern_arena *a, void *ctx)
{
    size_t counts[CS_NCLASSES];
    struct figures f;
    arena_figures(a, &f, counts);
    fprintf(stderr, "Arena %u (%s):\n", a->id, a->name);
    fprintf(stderr, "system bytes     = %10zu\n", f.held);
    fprintf(stderr, "in use bytes     = %10zu\n", f.allocated);
    fprintf(stderr, "committed bytes  = %10zu\n", f.committed);
    (void)ctx;
}

/* glibc's layout (system and in-use bytes per arena, then the totals) with
   cistern's extra lines: committed memory, metadata and the large spans.
   Written to stderr, which is unbuffered: printing allocates nothing. */
CS_EXPORT void malloc_stats(void)
{
    struct figures all;
    struct source_sum src;
    gather(&all, &src);
    cs_arena_foreach(stats_arena, NULL);
    fprintf(stderr, "Total (incl. large spans):\n");
    fprintf(stderr, "system bytes     = %10zu\n", src.reserved);
    fprintf(stderr, "in use bytes     = %10zu\n", all.allocated);
    fprintf(stderr, "committed bytes  = %10zu\n", src.committed);
    fprintf(stderr, "metadata bytes   = %10zu\n", cs_meta_mapped_bytes());
    fprintf(stderr, "large spans      = %10zu\n", all.nlarge);
    fprintf(stderr, "large span bytes = %10zu\n", all.large_bytes);
}

/* ---- malloc_info ----------------------------------------------------------------- */

/* Names come from the program (arena and source names): escape them. */
static void xml_text(FILE *fp, const char *s)
{
    for (; *s; s++) {
        switch (*s) {
        case '&': fputs("&amp;", fp); break;
        case '<': fputs("&lt;", fp); break;
        case '>': fputs("&gt;", fp); break;
        case '"': fputs("&quot;", fp); break;
        case '\'': fputs("&apos;", fp); break;
        default:
            /* XML 1.0 allows no control characters at all. */
            fputc((unsigned char)*s < 0x20 ? '?' : *s, fp);
        }
    }
}

/* glibc's total elements with cistern's figures (see the top): "fast" =
   objects in caches, "rest" = the other committed free bytes, "mmap" =
   large spans.  An "inuse" total is added: glibc's readers have to derive
   it, cistern knows it. */
static void xml_totals(FILE *fp, const struct figures *f)
{
    fprintf(fp, "<total type=\"fast\" count=\"%zu\" size=\"%zu\"/>\n", f->ncached, f->cached_bytes);
    fprintf(fp, "<total type=\"rest\" count=\"0\" size=\"%zu\"/>\n",
            sub0(sub0(f->committed, f->allocated), f->cached_bytes));
    fprintf(fp, "<total type=\"mmap\" count=\"%zu\" size=\"%zu\"/>\n", f->nlarge, f->large_bytes);
    fprintf(fp, "<total type=\"inuse\" count=\"%zu\" size=\"%zu\"/>\n", f->live, f->allocated);
}

struct info_ctx {
    FILE *fp;
    struct figures all;
};

/* One <heap> per arena: <sizes> lists the classes with cached objects (the
   class's byte range, as glibc lists its bins); system is the address
   space the arena holds, aspace mprotect the committed part of it. */
static void info_arena(struct cistern_arena *a, void *ctx)
{
    struct info_ctx *ic = ctx;
    FILE *fp = ic->fp;
    size_t counts[CS_NCLASSES];
    struct figures f;
    arena_figures(a, &f, counts);
    add_figures(&ic->all, &f);
    fprintf(fp, "<heap nr=\"%u\" name=\"", a->id);
    xml_text(fp, a->name);
    fprintf(fp, "\">\n<sizes>\n");
    for (unsigned c = 1; c < CS_NCLASSES; c++)
        if (counts[c])
            fprintf(fp, "  <size from=\"%u\" to=\"%u\" total=\"%zu\" count=\"%zu\"/>\n",
                    c > 1 ? cs_classes[c - 1].size + 1 : 1, cs_classes[c].size,
                    counts[c] * cs_classes[c].size, counts[c]);
    fprintf(fp, "</sizes>\n");
    xml_totals(fp, &f);
    fprintf(fp, "<system type=\"current\" size=\"%zu\"/>\n", f.held);
    fprintf(fp, "<aspace type=\"total\" size=\"%zu\"/>\n", f.held);
    fprintf(fp, "<aspace type=\"mprotect\" size=\"%zu\"/>\n", f.committed);
    fprintf(fp, "</heap>\n");
}

static void info_source(struct cistern_sysalloc *s, void *ctx)
{
    FILE *fp = ctx;
    cistern_sysalloc_stats_t st;
    if (cistern_sysalloc_get_stats(s, &st))
        return;
    fprintf(fp, "<source name=\"");
    xml_text(fp, st.name);
    fprintf(fp, "\" flags=\"%u\" reserved=\"%zu\" committed=\"%zu\" in_use=\"%zu\"/>\n", st.flags,
            st.reserved_bytes, st.committed_bytes, st.in_use_bytes);
}

/* options must be 0 (glibc defines none): EINVAL otherwise.  After the
   heaps, the process-wide totals and one <source> per memory source. */
CS_EXPORT int malloc_info(int options, FILE *fp)
{
    if (options != 0 || !fp)
        return EINVAL;
    cs_ensure_init();
    struct info_ctx ic = { fp, { 0 } };
    struct source_sum src = { 0, 0 };
    fprintf(fp, "<malloc version=\"1\">\n");
    cs_arena_foreach(info_arena, &ic);
    cs_source_foreach(sum_source, &src);
    xml_totals(fp, &ic.all);
    fprintf(fp, "<system type=\"current\" size=\"%zu\"/>\n", src.reserved);
    fprintf(fp, "<aspace type=\"total\" size=\"%zu\"/>\n", src.reserved);
    fprintf(fp, "<aspace type=\"mprotect\" size=\"%zu\"/>\n", src.committed);
    cs_source_foreach(info_source, fp);
    fprintf(fp, "</malloc>\n");
    return ferror(fp) ? EIO : 0;
}

/* ---- mallopt --------------------------------------------------------------------- */

/*
 * mallopt returns 1 when, after the call, cistern behaves as the parameter
 * asks, and 0 when it cannot (the parameter has no counterpart, or the value
 * asks for something cistern does not do):
 *
 *   M_TRIM_THRESHOLD  glibc gives memory back once this much is free at the
 *                     top; cistern gives back pages free for decay_ms.  A
 *                     negative value (glibc: never trim) sets decay_ms to -1,
 *                     0 (trim at once) sets it to 0, and a positive one
 *                     undoes either (cistern has no size threshold).
 *   M_ARENA_MAX, M_ARENA_TEST  any value >= 1 holds: the malloc family uses
 *                     one arena whatever the number of threads.
 *   M_MMAP_MAX        any value >= 0 holds: no block gets a mapping of its own.
 *   M_TOP_PAD         holds up to the region size, the least cistern asks a
 *                     source for when it grows.
 *   M_PERTURB         only 0 (no filling) holds.
 *   M_MMAP_THRESHOLD, M_MXFAST, M_CHECK_ACTION and anything else: 0.
 */
static pthread_mutex_t trim_lock = PTHREAD_MUTEX_INITIALIZER;
static int trim_saved;          /* decay_ms was changed by M_TRIM_THRESHOLD */
static long long trim_decay;    /* its value before */

static int set_trim_threshold(int value)
{
    int ok = 1;
    pthread_mutex_lock(&trim_lock);
    if (value <= 0) {
        long long cur;
        if (!trim_saved && cistern_option_get("decay_ms", &cur) == 0) {
            trim_decay = cur;
            trim_saved = 1;
        }
        ok = cistern_option_set("decay_ms", value < 0 ? "-1" : "0") == 0;
    } else if (trim_saved) {
        char buf[24];
        snprintf(buf, sizeof buf, "%lld", trim_decay);
        ok = cistern_option_set("decay_ms", buf) == 0;
        trim_saved = 0;
    }
    pthread_mutex_unlock(&trim_lock);
    return ok;
}

CS_EXPORT int mallopt(int param, int value)
{
    cs_ensure_init();
    switch (param) {
    case CS_M_TRIM_THRESHOLD:
        return set_trim_threshold(value);
    case CS_M_ARENA_MAX:
    case CS_M_ARENA_TEST:
        return value >= 1;
    case CS_M_MMAP_MAX:
        return value >= 0;
    case CS_M_TOP_PAD:
        return value >= 0 && (size_t)value <= CS_REGION_CHUNK;
    case CS_M_PERTURB:
        return value == 0;
    default:
        return 0;
    }
}

#endif /* !CS_SANITIZER_OWNS_MALLOC && __GLIBC__ */
