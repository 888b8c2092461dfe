/* churn_small: single-threaded churn of small objects (8..512 bytes).
 *
 * Objects live in a sliding window: each step frees the oldest object and
 * allocates a new one, and a quarter of the steps also replace a random
 * object inside the window, so lifetimes vary instead of being strictly
 * first-in first-out.  This is the fast path of any allocator: thread
 * cache hits, size-class lookup, and reuse of recently freed blocks.
 *
 * usage: churn_small [steps] [window]
 */
#include "bench_util.h"

#define NAME "churn_small"

struct slot {
	void *p;
	uint32_t size;
	uint32_t tag;
};

static void release(struct slot *s)
{
	if (!s->p)
		return;
	if (!bu_stamp_ok(s->p, s->size, s->tag))
		bu_fail(NAME, "corrupted block of %u bytes", s->size);
	free(s->p);
	s->p = NULL;
}

static void fill(struct slot *s, bu_rng *r, uint32_t tag)
{
	/* Three quarters from 8..128 and the rest from 8..512: small sizes
	 * dominate in real programs, but the upper classes still get used. */
	size_t size = (bu_rand(r) & 3) ? bu_range(r, 8, 128) : bu_range(r, 8, 512);
	s->p = bu_check_alloc(NAME, malloc(size), size);
	s->size = (uint32_t)size;
	s->tag = tag;
	bu_stamp(s->p, size, tag);
}

int main(int argc, char **argv)
{
	bu_usage(argc, argv, "[steps] [window]");
	long steps = bu_arg(argc, argv, 1, 20000000, 10000);
	long window = bu_arg(argc, argv, 2, 20000, 16);

	struct slot *w = calloc((size_t)window, sizeof *w);
	if (!w)
		bu_fail(NAME, "cannot allocate the window");
	bu_rng r;
	bu_rng_seed(&r, 1);

	double t0 = bu_now();
	for (long i = 0; i < steps; i++) {
		struct slot *oldest = &w[i % window];
		release(oldest);
		fill(oldest, &r, (uint32_t)i);
		if ((bu_rand(&r) & 3) == 0) {
			struct slot *any = &w[bu_rand(&r) % (uint64_t)window];
			release(any);
			fill(any, &r, (uint32_t)~i);
		}
	}
	for (long i = 0; i < window; i++)
		release(&w[i]);
	double t = bu_now() - t0;

	free(w);
	bu_report(NAME, t, "steps=%ld window=%ld mops=%.1f", steps, window,
	          (double)steps * 1.25 / t / 1e6);
	return 0;
}
