/* realloc_grow: buffers grown step by step with realloc.
 *
 * A set of buffers is grown in interleaved appends until each reaches its
 * own final size (1 KiB .. 4 MiB, log-uniform), then checked and freed and
 * replaced by a new one.  Half the buffers behave like vectors (capacity
 * grows by half when full), half like naive string builders (realloc to
 * the exact new length on every append), which is where in-place growth
 * and size-class slack pay off.  Interleaving matters: a neighbour that
 * was just grown may sit right where another buffer wants to expand.
 *
 * Every appended byte is a function of its position, and the whole buffer
 * is verified before it is freed, so a realloc that loses data fails.
 *
 * usage: realloc_grow [buffers_completed] [concurrent_buffers]
 */
#include "bench_util.h"

#define NAME "realloc_grow"

struct buf {
	unsigned char *p;
	size_t len, cap, target;
	int exact; /* string builder (1) or vector (0) */
	unsigned char seed;
};

static long reallocs;

static unsigned char byte_at(const struct buf *b, size_t i)
{
	return (unsigned char)(i * 7 + b->seed);
}

static void start(struct buf *b, bu_rng *r)
{
	b->p = NULL;
	b->len = b->cap = 0;
	b->target = bu_log_range(r, 1 << 10, 4 << 20);
	b->exact = (int)(bu_rand(r) & 1);
	b->seed = (unsigned char)bu_rand(r);
}

static void grow_to(struct buf *b, size_t need)
{
	size_t cap = need;
	if (!b->exact) {
		cap = b->cap ? b->cap : 16;
		while (cap < need)
			cap += cap / 2;
	}
	b->p = bu_check_alloc(NAME, realloc(b->p, cap), cap);
	b->cap = cap;
	reallocs++;
}

/* Appends 1..64 bytes; returns 1 when the buffer reached its target. */
static int append(struct buf *b, bu_rng *r)
{
	size_t n = bu_range(r, 1, 64);
	if (b->len + n > b->target)
		n = b->target - b->len;
	if (b->len + n > b->cap)
		grow_to(b, b->len + n);
	for (size_t i = b->len; i < b->len + n; i++)
		b->p[i] = byte_at(b, i);
	b->len += n;
	return b->len == b->target;
}

static void finish(struct buf *b)
{
	for (size_t i = 0; i < b->len; i++)
		if (b->p[i] != byte_at(b, i))
			bu_fail(NAME, "byte %zu of a %zu-byte buffer lost in realloc", i, b->len);
	free(b->p);
}

int main(int argc, char **argv)
{
	bu_usage(argc, argv, "[buffers_completed] [concurrent_buffers]");
	long buffers = bu_arg(argc, argv, 1, 600, 10);
	long live = bu_arg(argc, argv, 2, 16, 2);

	struct buf *set = calloc((size_t)live, sizeof *set);
	if (!set)
		bu_fail(NAME, "cannot allocate the buffer table");
	bu_rng r;
	bu_rng_seed(&r, 5);
	for (long i = 0; i < live; i++)
		start(&set[i], &r);

	long done = 0, started = live;
	size_t bytes = 0;
	double t0 = bu_now();
	while (done < buffers) {
		struct buf *b = &set[bu_rand(&r) % (uint64_t)live];
		if (b->target == 0 || !append(b, &r))
			continue;
		bytes += b->len;
		finish(b);
		done++;
		/* Retire the slot once enough buffers are under way, so the
		 * run ends after exactly BUFFERS completed buffers. */
		if (started < buffers) {
			start(b, &r);
			started++;
		} else {
			b->p = NULL;
			b->target = 0;
		}
	}
	double t = bu_now() - t0;

	free(set);
	bu_report(NAME, t, "buffers=%ld concurrent=%ld grown_mb=%zu reallocs=%ld", done, live,
	          bytes >> 20, reallocs);
	return 0;
}
