/* region: build a structure of small objects, then drop it all at once.
 *
 * The workload of a region (arena) allocator: a request, a parse, a
 * compiler pass builds a tree of a million small nodes (16..64 bytes,
 * linked as a 4-ary tree: first child + next sibling), uses it, and throws
 * all of it away.  One round is build + drop; each way below runs the same
 * rounds, interleaved (round 1 of every way, then round 2, ...), after one
 * warm-up round, and the median is reported.
 *
 *   bump            a pointer bumped through one mapping, reset to its
 *                   start: no per-object work at all, the floor
 *   (every cistern way has an arena of its own)
 *   cistern reset   cistern_arena_malloc into the arena, dropped
 *                   with cistern_arena_reset; reset_keep_bytes set above
 *                   the tree's size, so the pages stay committed for the
 *                   next round, as the bump allocator's and jemalloc's do
 *   cistern thread arena + reset
 *                   the arena made the thread's arena for the build
 *                   (cistern_thread_set_arena), so the build calls plain
 *                   cistern_malloc and takes its inline fast path
 *   cistern reset, default keep
 *                   as cistern reset, reset_keep_bytes at its default (4 MiB):
 *                   the pages past it go back to the system at each reset
 *                   and fault in again at the next build
 *   cistern free    cistern_arena_malloc again, dropped with cistern_free per
 *                   node (in allocation order)
 *   jemalloc reset  jemalloc's own arenas: mallocx(MALLOCX_ARENA(i) |
 *                   MALLOCX_TCACHE_NONE), dropped with "arena.<i>.reset"
 *                   (region_jemalloc.c; absent when jemalloc was not found
 *                   at build time)
 *
 * Unlike the other programs here this one calls cistern's arena API, so it
 * links libcistern_api (and jemalloc) instead of running under LD_PRELOAD.
 * The node sizes are drawn once, outside the timing; the tree is checked
 * (count and contents) after every build, also outside the timing.
 *
 * usage: region [nodes] [rounds]
 */
#include "bench_util.h"

#include <cistern.h>
#include <sys/mman.h>

#define NAME "region"
#define MIN_NODE 16
#define MAX_NODE 64
#define FANOUT 4

/* jemalloc's arenas (region_jemalloc.c). */
int rj_open(void);
void *rj_alloc(size_t size);
void rj_reset(void);
const char *rj_version(void);

struct node {
	struct node *child, *sibling;
	unsigned char payload[]; /* size - 16 bytes, filled from the index */
};

static unsigned char *sizes; /* node i's size */
static struct node **nodes;  /* node i, for parents and per-node frees */
static size_t nnodes;

/* Builds the tree through ALLOC.  Inlined into each caller, so every way
 * pays the same loop and a direct (or inlined) call to its allocator. */
static inline __attribute__((always_inline)) int build(void *(*alloc)(void *, size_t), void *ctx)
{
	for (size_t i = 0; i < nnodes; i++) {
		size_t size = sizes[i];
		struct node *n = alloc(ctx, size);
		if (!n)
			return -1;
		n->child = NULL;
		memset(n->payload, (int)(i & 0xff), size - sizeof *n);
		if (i) {
			struct node *parent = nodes[(i - 1) / FANOUT];
			n->sibling = parent->child;
			parent->child = n;
		} else {
			n->sibling = NULL;
		}
		nodes[i] = n;
	}
	return 0;
}

/* Walks the tree from the root (every node reachable once), then checks
 * each node's payload.  An allocator that handed out overlapping blocks
 * fails here. */
static void verify(const char *way)
{
	static struct node **stack;
	if (!stack && !(stack = malloc(nnodes * sizeof *stack)))
		bu_fail(NAME, "no memory for the check");
	size_t top = 0, seen = 0;
	stack[top++] = nodes[0];
	while (top) {
		struct node *n = stack[--top];
		seen++;
		for (struct node *c = n->child; c; c = c->sibling) {
			if (seen + top >= nnodes + 1)
				bu_fail(NAME, "%s: the tree has a cycle", way);
			stack[top++] = c;
		}
	}
	if (seen != nnodes)
		bu_fail(NAME, "%s: %zu of %zu nodes reachable", way, seen, nnodes);
	for (size_t i = 0; i < nnodes; i++) {
		size_t len = sizes[i] - sizeof(struct node);
		unsigned char v = (unsigned char)(i & 0xff);
		if (len && (nodes[i]->payload[0] != v || nodes[i]->payload[len - 1] != v))
			bu_fail(NAME, "%s: node %zu overwritten", way, i);
	}
}

/* ---- the ways ------------------------------------------------------------ */

struct bump {
	char *base, *cur, *end;
};

static void *bump_alloc(void *ctx, size_t size)
{
	struct bump *b = ctx;
	char *p = b->cur;
	size = (size + 15) & ~(size_t)15; /* malloc's alignment */
	if ((size_t)(b->end - p) < size)
		return NULL;
	b->cur = p + size;
	return p;
}

static void *arena_alloc(void *ctx, size_t size)
{
	return cistern_arena_malloc(ctx, size);
}

/* The thread's malloc routed to the arena: cistern_malloc's inline path. */
static void *routed_alloc(void *ctx, size_t size)
{
	(void)ctx;
	return cistern_malloc(size);
}

static void *jemalloc_alloc(void *ctx, size_t size)
{
	(void)ctx;
	return rj_alloc(size);
}

enum way { BUMP, RESET, ROUTED, RESET_DEFAULT, FREE_EACH, JEMALLOC, NWAYS };

static const char *const way_name[NWAYS] = {
	"bump allocator (floor)",
	"cistern arena + reset",
	"cistern thread arena + reset",
	"cistern arena + reset, keep 4 MiB",
	"cistern free() per node",
	"jemalloc arena + arena.reset",
};

static struct bump bump;
static cistern_arena_t *arena[NWAYS];
static char keep_big[32];

/* One round of one way: build and drop times in seconds. */
static int round_of(enum way w, double *t_build, double *t_drop)
{
	double t0 = bu_now();
	int rc;
	switch (w) {
	case BUMP:
		rc = build(bump_alloc, &bump);
		break;
	case JEMALLOC:
		rc = build(jemalloc_alloc, NULL);
		break;
	case ROUTED:
		cistern_thread_set_arena(arena[w]);
		rc = build(routed_alloc, NULL);
		cistern_thread_set_arena(NULL);
		break;
	default:
		rc = build(arena_alloc, arena[w]);
	}
	double t1 = bu_now();
	if (rc)
		bu_fail(NAME, "%s: allocation failed", way_name[w]);
	verify(way_name[w]);
	/* The keep policy is one process-wide option: set it for this drop. */
	if (w == RESET || w == ROUTED || w == RESET_DEFAULT)
		cistern_option_set("reset_keep_bytes", w == RESET_DEFAULT ? "4M" : keep_big);
	double t2 = bu_now();
	switch (w) {
	case BUMP:
		bump.cur = bump.base;
		break;
	case RESET:
	case ROUTED:
	case RESET_DEFAULT:
		cistern_arena_reset(arena[w]);
		break;
	case FREE_EACH:
		for (size_t i = 0; i < nnodes; i++)
			cistern_free(nodes[i]);
		break;
	case JEMALLOC:
		rj_reset();
		break;
	default:
		break;
	}
	double t3 = bu_now();
	*t_build = t1 - t0;
	*t_drop = t3 - t2;
	return 0;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

static double median(double *v, int n)
{
	qsort(v, (size_t)n, sizeof *v, cmp_double);
	return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

int main(int argc, char **argv)
{
	bu_usage(argc, argv, "[nodes] [rounds]");
	nnodes = (size_t)bu_arg(argc, argv, 1, 1000000, 1000);
	int rounds = argc > 2 ? (int)bu_arg(argc, argv, 2, 9, 1) : 9;

	sizes = malloc(nnodes);
	nodes = malloc(nnodes * sizeof *nodes);
	if (!sizes || !nodes)
		bu_fail(NAME, "no memory for the node tables");
	bu_rng r;
	bu_rng_seed(&r, 42);
	size_t bytes = 0;
	for (size_t i = 0; i < nnodes; i++) {
		sizes[i] = (unsigned char)bu_range(&r, MIN_NODE, MAX_NODE);
		bytes += sizes[i];
	}

	size_t bump_len = nnodes * (MAX_NODE + 16);
	bump.base = mmap(NULL, bump_len, PROT_READ | PROT_WRITE,
			 MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (bump.base == MAP_FAILED)
		bu_fail(NAME, "cannot map %zu bytes for the bump allocator", bump_len);
	bump.cur = bump.base;
	bump.end = bump.base + bump_len;
	/* Room for the whole tree in every class's spans, with margin. */
	snprintf(keep_big, sizeof keep_big, "%zu", 2 * bump_len + (64u << 20));

	int have_je = rj_open() == 0;
	for (int w = RESET; w <= FREE_EACH; w++) {
		cistern_arena_config_t cfg = { way_name[w], NULL, 0, 0, 0 };
		if (!(arena[w] = cistern_arena_create(&cfg)))
			bu_fail(NAME, "cistern_arena_create: %s", strerror(errno));
	}

	double *tb[NWAYS], *td[NWAYS], *tt[NWAYS];
	for (int w = 0; w < NWAYS; w++) {
		tb[w] = calloc((size_t)rounds, sizeof(double));
		td[w] = calloc((size_t)rounds, sizeof(double));
		tt[w] = calloc((size_t)rounds, sizeof(double));
	}
	/* Round -1 warms every way up (first mappings, page faults). */
	for (int k = -1; k < rounds; k++)
		for (int w = 0; w < NWAYS; w++) {
			if (w == JEMALLOC && !have_je)
				continue;
			double b, d;
			round_of((enum way)w, &b, &d);
			if (k >= 0) {
				tb[w][k] = b;
				td[w][k] = d;
				tt[w][k] = b + d;
			}
		}

	printf("region: %zu nodes of %d..%d bytes (%.1f MB requested), a %d-ary tree; "
	       "median of %d rounds after a warm-up\n",
	       nnodes, MIN_NODE, MAX_NODE, (double)bytes / 1e6, FANOUT, rounds);
	printf("%-36s %10s %10s %10s %9s\n", "way", "build ms", "drop ms", "total ms", "vs bump");
	double total[NWAYS] = { 0 };
	for (int w = 0; w < NWAYS; w++) {
		if (w == JEMALLOC && !have_je) {
			printf("%-36s %s\n", way_name[w], "not built (jemalloc not found at build time)");
			continue;
		}
		double mb = median(tb[w], rounds), md = median(td[w], rounds);
		total[w] = median(tt[w], rounds);
		printf("%-36s %10.2f %10.3f %10.2f %9.2f\n", way_name[w], mb * 1e3, md * 1e3,
		       total[w] * 1e3, total[w] / total[BUMP]);
	}
	printf("cistern reset / bump:                        %.2f  (target: within 2)\n",
	       total[RESET] / total[BUMP]);
	printf("cistern thread arena reset / bump:           %.2f\n", total[ROUTED] / total[BUMP]);
	if (have_je) {
		printf("cistern reset / jemalloc reset:              %.2f  (target: below 1; jemalloc %s)\n",
		       total[RESET] / total[JEMALLOC], rj_version());
		printf("cistern thread arena reset / jemalloc reset: %.2f\n",
		       total[ROUTED] / total[JEMALLOC]);
	}
	printf("cistern reset / cistern free:                %.2f\n", total[RESET] / total[FREE_EACH]);
	bu_report(NAME, total[RESET],
		  "bump=%.4f thread_arena_reset=%.4f reset_default_keep=%.4f free_each=%.4f jemalloc_reset=%.4f",
		  total[BUMP], total[ROUTED], total[RESET_DEFAULT], total[FREE_EACH],
		  have_je ? total[JEMALLOC] : 0.0);
	return 0;
}
