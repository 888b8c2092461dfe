/* large: allocate, touch and free large blocks (256 KiB .. 16 MiB).
 *
 * A handful of large blocks stay live; each step frees a random one and
 * allocates a replacement of a new random size, then writes every page of
 * it.  Here the cost is in the kernel: mmap/munmap, page faults and the
 * zeroing of fresh pages.  Allocators that keep freed large blocks mapped
 * (and reuse them) trade RSS for time; the runner shows both.
 *
 * usage: large [steps] [live_blocks]
 */
#include "bench_util.h"

#define NAME "large"

struct slot {
	unsigned char *p;
	size_t size;
	unsigned char tag;
};

static void drop(struct slot *s)
{
	if (!s->p)
		return;
	if (!bu_pages_ok(s->p, s->size, s->tag))
		bu_fail(NAME, "corrupted block of %zu bytes", s->size);
	free(s->p);
	s->p = NULL;
}

int main(int argc, char **argv)
{
	bu_usage(argc, argv, "[steps] [live_blocks]");
	long steps = bu_arg(argc, argv, 1, 2000, 20);
	long live = bu_arg(argc, argv, 2, 8, 8);

	struct slot *w = calloc((size_t)live, sizeof *w);
	if (!w)
		bu_fail(NAME, "cannot allocate the slot table");
	bu_rng r;
	bu_rng_seed(&r, 4);
	size_t total = 0;

	double t0 = bu_now();
	for (long i = 0; i < steps; i++) {
		struct slot *s = &w[bu_rand(&r) % (uint64_t)live];
		drop(s);
		s->size = bu_log_range(&r, 256 << 10, 16 << 20);
		s->p = bu_check_alloc(NAME, malloc(s->size), s->size);
		/* Never 0, so pages the allocator handed back still zeroed
		 * cannot pass the check by accident. */
		s->tag = (unsigned char)(i % 255 + 1);
		bu_touch_pages(s->p, s->size, s->tag);
		total += s->size;
	}
	for (long i = 0; i < live; i++)
		drop(&w[i]);
	double t = bu_now() - t0;

	free(w);
	bu_report(NAME, t, "steps=%ld live=%ld allocated_mb=%zu", steps, live, total >> 20);
	return 0;
}
