/* mixed_ws: random replacement in a working set of mixed sizes.
 *
 * The heap is filled to a target working set (96 MB by default) with
 * blocks of 16 B .. 64 KiB, skewed towards small sizes, then random blocks
 * are freed and replaced by blocks of a fresh random size.  Over time this
 * fragments the heap; an allocator that reuses free space poorly shows a
 * growing RSS, one that searches too hard shows up in time.
 *
 * A few blocks come from calloc (checked to be zeroed) and aligned_alloc
 * (checked for alignment), so those entry points are exercised as well.
 *
 * usage: mixed_ws [working_set_mb] [replacements]
 */
#include "bench_util.h"

#define NAME "mixed_ws"

struct slot {
	void *p;
	uint32_t size;
	uint32_t tag;
};

/* 80% tiny (16..256), 15% medium (256..4 KiB), 5% large (4..64 KiB):
 * a mean near 1.3 KB, so most blocks are small yet most bytes are not. */
static size_t pick_size(bu_rng *r)
{
	unsigned d = (unsigned)(bu_rand(r) % 100);
	if (d < 80)
		return bu_log_range(r, 16, 256);
	if (d < 95)
		return bu_log_range(r, 256, 4096);
	return bu_log_range(r, 4096, 65536);
}

static int zeroed(const unsigned char *b, size_t n)
{
	for (size_t i = 0; i < n; i += 512)
		if (b[i])
			return 0;
	return b[n - 1] == 0;
}

static void *get_block(bu_rng *r, size_t size)
{
	unsigned d = (unsigned)(bu_rand(r) % 64);
	void *p;
	if (d < 4) {
		p = bu_check_alloc(NAME, calloc(1, size), size);
		if (!zeroed(p, size))
			bu_fail(NAME, "calloc(%zu) returned non-zero memory", size);
	} else if (d < 6) {
		/* Cache-line and page alignment, the common real uses.  256..1024
		 * are left out on purpose: mimalloc 2.0.9 (still shipped by
		 * distributions) returns misaligned blocks for them, and this
		 * suite compares speed; alignment correctness is for the tests. */
		static const size_t aligns[] = {64, 128, 2048, 4096};
		size_t align = aligns[bu_rand(r) % 4];
		size_t rounded = (size + align - 1) & ~(align - 1);
		p = bu_check_alloc(NAME, aligned_alloc(align, rounded), rounded);
		if ((uintptr_t)p & (align - 1))
			bu_fail(NAME, "aligned_alloc(%zu) returned %p", align, p);
	} else {
		p = bu_check_alloc(NAME, malloc(size), size);
	}
	return p;
}

static void put(struct slot *s, bu_rng *r, uint32_t tag)
{
	size_t size = pick_size(r);
	s->p = get_block(r, size);
	s->size = (uint32_t)size;
	s->tag = tag;
	bu_stamp(s->p, size, tag);
	if (size > 4096)
		bu_touch_pages((char *)s->p + 64, size - 128, (unsigned char)tag);
}

static void drop(struct slot *s)
{
	int ok = bu_stamp_ok(s->p, s->size, s->tag);
	if (ok && s->size > 4096)
		ok = bu_pages_ok((char *)s->p + 64, s->size - 128, (unsigned char)s->tag);
	if (!ok)
		bu_fail(NAME, "corrupted block of %u bytes", s->size);
	free(s->p);
	s->p = NULL;
}

int main(int argc, char **argv)
{
	bu_usage(argc, argv, "[working_set_mb] [replacements]");
	long ws_mb = bu_arg(argc, argv, 1, 96, 4);
	long replacements = bu_arg(argc, argv, 2, 4000000, 10000);
	size_t target = (size_t)ws_mb << 20;

	/* Sized for the mean block; grown if the draw runs small. */
	size_t cap = target / 1024 + 1024, n = 0, bytes = 0;
	struct slot *w = malloc(cap * sizeof *w);
	if (!w)
		bu_fail(NAME, "cannot allocate the slot table");
	bu_rng r;
	bu_rng_seed(&r, 3);

	double t0 = bu_now();
	while (bytes < target) {
		if (n == cap) {
			cap *= 2;
			struct slot *nw = realloc(w, cap * sizeof *w);
			if (!nw)
				bu_fail(NAME, "cannot grow the slot table");
			w = nw;
		}
		put(&w[n], &r, (uint32_t)n);
		bytes += w[n].size;
		n++;
	}
	for (long i = 0; i < replacements; i++) {
		struct slot *s = &w[bu_rand(&r) % n];
		drop(s);
		put(s, &r, (uint32_t)i);
	}
	long rss_kb = bu_rss_kb();
	for (size_t i = 0; i < n; i++)
		drop(&w[i]);
	double t = bu_now() - t0;

	free(w);
	bu_report(NAME, t, "objects=%zu working_set_mb=%ld replacements=%ld rss_live_kb=%ld", n,
	          ws_mb, replacements, rss_kb);
	return 0;
}
