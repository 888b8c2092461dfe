/*
 * tcache.h - per-thread, per-arena caches of free objects.
 *
 * A bin is an array of object pointers (never links inside the objects), so
 * the same cache works for NOTOUCH memory; behind it a run of consecutive
 * free objects taken from a span in one piece is handed out by bumping a
 * pointer.  A thread keeps one cache per arena it uses, in a small table
 * indexed by arena id; the plain fast paths look only at the cache of the
 * thread's current arena.  A reset or destroy of an arena empties all its
 * caches in place (cs_tcache_invalidate) and moves the global epoch
 * generation; a thread notices on its next slow path and drops the stale
 * record without touching its objects, so memory of a reset arena is never
 * handed out again.
 *
 * Bins start at one object and grow on misses (up to a batch one at a
 * time, then a batch at a time, to their storage) while the thread's share
 * of the global cap (tcache_max_bytes / live caches) allows; overflows grow
 * a bin to CS_TC_OVERFLOW_GROWTH objects at most, and shrink one that keeps
 * overflowing.  Every CS_TC_SCAVENGE_INTERVAL operations a bin that has not
 * run dry since the last scavenge gives a quarter of its objects back and
 * shrinks as much.  A thread's caches go back to the central lists when it exits.
 */
#ifndef CS_TCACHE_H
#define CS_TCACHE_H

#include "platform.h"
#include "sizeclass.h"

struct cistern_arena;

#define CS_TC_SLOTS 8
/* Most objects an overflow (a free with the bin full) grows a bin to: a
   thread that only frees a class pins at most this many of its objects. */
#define CS_TC_OVERFLOW_GROWTH 16
/* Slots per class in the near part of a cache record, where every bin
   starts (tcache.c: bin storage). */
#define CS_TC_NEAR_SLOTS 16
/* Operations of a thread between two scavenges of its cache (tcache.c). */
#define CS_TC_SCAVENGE_INTERVAL 8192

/* Objects are kept in [base, top); limit is base plus the bin's current
   limit, which grows on overflow up to base + cap.  Pointers rather than
   counts keep a pop or a push to one compare and one update.  A bin with
   top == base == limit is empty and takes nothing: the state every bin of a
   cache is put in when its arena is reset or destroyed. */
struct __attribute__((aligned(CS_BIN_BYTES))) cs_bin {
    void **top;
    void **limit;
    void **base;
    uint32_t size;  /* object size of the class */
    uint16_t cap;   /* storage, in objects */
    uint16_t batch;
};

_Static_assert(sizeof(struct cs_bin) == CS_BIN_BYTES, "cs_bin_offset_tiny is scaled by CS_BIN_BYTES");

/* Behind a bin's array, [next, end) is a run of consecutive free objects
   taken from a span in one piece (a fresh or reset span is one run): a pop
   that finds the array empty bumps next by the object size, so filling a
   cache from such a span costs nothing per object.  Kept apart from the
   bins so that a bin stays one half of a cache line. */
struct __attribute__((aligned(CS_BIN_BYTES / 2))) cs_run {
    char *next;
    char *end;
};

static inline unsigned cs_run_count(const volatile struct cs_run *r, const volatile struct cs_bin *b)
{
    return r->end != r->next ? (unsigned)((size_t)(r->end - r->next) / b->size) : 0;
}

static inline unsigned cs_bin_max(const volatile struct cs_bin *b)
{
    return (unsigned)(b->limit - b->base);
}

struct cs_tcache {
    struct cistern_arena *arena; /* first: free's fast path compares it */
    /* The arena when touchable, else NULL: cistern_arena_malloc's inline
       path compares it, which rules out NOTOUCH caches (whose objects take
       no marker store) in the same test. */
    struct cistern_arena *touch_arena;
    uint64_t nmalloc;            /* frees are derived: nmalloc less what lives */
    uintptr_t epoch;             /* arena epoch the contents belong to */
    uintptr_t flush_gen;         /* the arena's flush_gen when last flushed */
    size_t potential;            /* sum of max * size over bins */
    size_t storage;              /* bytes of this record */
    struct cs_tcache *rnext, *rprev; /* registry of live caches */
    struct cs_bin bins[CS_NCLASSES];
    struct cs_run runs[CS_NCLASSES];
    uint8_t overages[CS_NCLASSES]; /* overflows past a batch since the bin last shrank */
    uint64_t free_ticks;         /* overflows, each weighted as the frees behind it */
    uint64_t scavenge_at;        /* nmalloc + free_ticks at which a scavenge is due */
    uint64_t missed[(CS_NCLASSES + 63) / 64]; /* bins that missed since the last scavenge */
};

/* Objects cached in class cls of tc: the bin's array and its run. */
static inline unsigned cs_tcache_count(const volatile struct cs_tcache *tc, unsigned cls)
{
    const volatile struct cs_bin *b = &tc->bins[cls];
    return (unsigned)(b->top - b->base) + cs_run_count(&tc->runs[cls], b);
}

static inline __attribute__((always_inline)) int cs_bin_pop(struct cs_bin *b, void **out)
{
    void **top = b->top;
    if (__builtin_expect(top == b->base, 0))
        return 0;
    b->top = --top;
    *out = *top;
    return 1;
}

static inline __attribute__((always_inline)) int cs_run_pop(struct cs_run *r, size_t size,
                                                            void **out)
{
    char *p = r->next;
    if (__builtin_expect(p == r->end, 0))
        return 0;
    r->next = p + size;
    *out = p;
    return 1;
}

_Static_assert(2 * sizeof(struct cs_run) == sizeof(struct cs_bin), "a run sits at half its bin's offset");

/* Take an object of the class whose bin is off bytes into tc->bins (its run
   at half that into tc->runs), or return 0 when the bin's array and its run
   are both empty.  The array comes first for the plain malloc family (freed
   objects are warm); run_first (a constant at every call) puts the run
   first, for arenas, whose caches are mostly filled by runs of fresh or
   reset spans (region workloads). */
static inline __attribute__((always_inline)) int cs_tcache_take_at(struct cs_tcache *tc, size_t off,
                                                                   int run_first, void **out)
{
    struct cs_bin *b = (struct cs_bin *)((char *)tc->bins + off);
    struct cs_run *r = (struct cs_run *)((char *)tc->runs + off / 2);
    if (run_first)
        return cs_run_pop(r, b->size, out) || cs_bin_pop(b, out);
    return cs_bin_pop(b, out) || cs_run_pop(r, b->size, out);
}

/* The same by class. */
static inline __attribute__((always_inline)) int cs_tcache_take(struct cs_tcache *tc, unsigned cls,
                                                                int run_first, void **out)
{
    return cs_tcache_take_at(tc, (size_t)cls * CS_BIN_BYTES, run_first, out);
}

/* Whether tc's arena is touchable (its objects take free markers); a
   NOTOUCH arena's cache has no touch_arena. */
static inline int cs_tcache_touchable(const struct cs_tcache *tc)
{
    return tc->touch_arena != NULL;
}

/* The thread's table slot for the arena with this id: a cache, or the
   sentinel cs_tcache_none (never NULL). */
#define cs_tcache_slot(arena_id) (cs_tls.tc[(arena_id) % CS_TC_SLOTS])

/* Where bin cls sits in a cache record (kept in small spans, so free's fast
   path finds the bin without scaling the class). */
static inline size_t cs_bin_offset(unsigned cls)
{
    return offsetof(struct cs_tcache, bins) + cls * sizeof(struct cs_bin);
}

/* The fast paths read only cur (a touchable arena's cache, or the empty
   cs_tcache_none).  Nothing on them compares generations: a reset or
   destroy empties the arena's caches in place (cs_tcache_invalidate), and a
   teardown points every listed thread's cur back at cs_tcache_none. */
struct cs_thread {
    struct cs_tcache *cur;       /* cache of the current arena; &cs_tcache_none if none */
    uintptr_t gen;               /* cs_epoch_gen when the table was last revalidated */
    struct cistern_arena *arena; /* current arena; NULL: the default one */
    unsigned arena_id;           /* its id when chosen: a reused record has another */
    uintptr_t arena_life;        /* cs_life when chosen: teardown frees the record */
    struct cs_tcache *tc[CS_TC_SLOTS];
    uintptr_t life;              /* teardown count when the table was filled */
    struct cs_thread *tnext, *tprev; /* threads holding caches (for teardown) */
    int listed;                  /* on that list */
    int state;                   /* CS_THREAD_* */
};

enum { CS_THREAD_NEW = 0, CS_THREAD_LIVE = 1, CS_THREAD_EXITING = 2 };

#if CS_TLS_INITIAL_EXEC
#define CS_TLS_MODEL __attribute__((tls_model("initial-exec")))
#else
#define CS_TLS_MODEL
#endif

extern __thread struct cs_thread cs_tls CS_TLS_MODEL __attribute__((visibility("hidden")));
extern struct cs_tcache cs_tcache_none __attribute__((visibility("hidden")));
/* Free-marker secret: a freed object's first word holds its address XOR this. */
extern uintptr_t cs_secret __attribute__((visibility("hidden")));

/* The cache of arena a for this thread, valid for a's current epoch; NULL
   when a has no thread caching, the thread is exiting, or memory is short. */
struct cs_tcache *cs_tcache_get(struct cistern_arena *a);
/* The arena this thread routes its malloc family to: the one it chose if
   that arena still lives (not destroyed, its record not reused, no teardown
   since), else the default arena. */
struct cistern_arena *cs_thread_arena(void);
/* Re-derive cs_tls.cur for the thread's current arena (after a miss on gen). */
struct cs_tcache *cs_tcache_current(void);
/* Refill bin cls of tc and pop one object: NULL + ENOMEM when none. */
void *cs_tcache_refill(struct cs_tcache *tc, unsigned cls);
/* Bin cls is full (or closed): make room (grow or flush a batch), then push p. */
void cs_tcache_overflow(struct cs_tcache *tc, unsigned cls, void *p);
/* Push freed (and marked) object p of class cls onto tc. */
void cs_tcache_push(struct cs_tcache *tc, unsigned cls, void *p);
/* NOTOUCH object p leaves a cache for the program (clears its released bit). */
void *cs_notouch_handed_out(void *p);
/* Arena a was reset or destroyed: empty every thread's cache of a in place,
   without touching the objects, so no stale object is handed out and the
   owners revalidate on their next slow path. */
void cs_tcache_invalidate(struct cistern_arena *a);
/* Whether any thread's cache of arena a holds p in bin cls (a slow scan, for
   confirming a suspected double free). */
int cs_tcache_any_holds(struct cistern_arena *a, unsigned cls, const void *p);
/* Return everything this thread caches (all arenas) to the central lists. */
void cs_tcache_flush_thread(void);
/* A source left a's chain: the calling thread's cache of a hands its
   objects back now, every other thread's on its next slow path (a cache
   cannot be emptied from outside its thread while it may be popping). */
void cs_tcache_flush_arena(struct cistern_arena *a);
/* pthread key destructor: the thread's caches go back. */
void cs_thread_exit(void *arg);
/* For stats and walks (registry lock held in the callback). */
void cs_tcache_foreach(void (*fn)(struct cs_tcache *tc, void *ctx), void *ctx);
/* Fold the counters of caches of a destroyed or reset arena. */
void cs_tcache_fork_prepare(void);
void cs_tcache_fork_parent(void);
void cs_tcache_fork_child(void);
/* Forget all caches (teardown). */
void cs_tcache_teardown(void);
/* Whether the thread is inside cistern's own teardown of its state. */
extern cs_atomic_t cs_life __attribute__((visibility("hidden")));

#endif
