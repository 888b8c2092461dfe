/* mass_free: how much memory goes back to the OS after a big free.
 *
 * About 512 MB is allocated in small and medium blocks (16 B .. 4 KiB) and
 * written in full, then everything is freed in random order, as when a
 * large cache or a parsed document is dropped.  RSS is read right after
 * the last free and sampled while the process sits idle for 1.5 s, which
 * gives allocators that return memory lazily (decay timers, background
 * purging) a fair chance to do so.
 *
 * "time" is the allocation plus free time only; the idle wait is not
 * counted.  The RSS figures are the interesting output here:
 *   rss_start_kb       before the first allocation
 *   rss_full_kb        before the frees (live data plus overhead)
 *   rss_freed_kb       right after the last free (the object table too:
 *                      the program holds nothing any more)
 *   rss_idle_kb        at the end of the wait
 *   rss_idle_min_kb    lowest value seen while waiting
 *
 * usage: mass_free [megabytes] [wait_ms]
 */
#include "bench_util.h"

#define NAME "mass_free"

struct obj {
	void *p;
	uint32_t size;
	uint32_t tag;
};

int main(int argc, char **argv)
{
	bu_usage(argc, argv, "[megabytes] [wait_ms]");
	long mb = bu_arg(argc, argv, 1, 512, 8);
	/* The wait is not scaled: decay timers run on wall-clock time. */
	long wait_ms = argc > 2 ? bu_arg(argc, argv, 2, 1500, 0) : 1500;
	size_t target = (size_t)mb << 20;

	/* Log-uniform 16..4096 has a mean near 700 bytes; the table is
	 * sized with margin and checked anyway. */
	size_t cap = target / 400 + 1024, n = 0, bytes = 0;
	long rss_start = bu_rss_kb();
	struct obj *objs = malloc(cap * sizeof *objs);
	if (!objs)
		bu_fail(NAME, "cannot allocate the object table");
	bu_rng r;
	bu_rng_seed(&r, 6);

	double t0 = bu_now();
	while (bytes < target && n < cap) {
		size_t size = bu_log_range(&r, 16, 4096);
		struct obj *o = &objs[n++];
		o->p = bu_check_alloc(NAME, malloc(size), size);
		o->size = (uint32_t)size;
		o->tag = (uint32_t)n;
		memset(o->p, 0x5a, size);
		bu_stamp(o->p, size, o->tag);
		bytes += size;
	}
	double t_alloc = bu_now() - t0;

	/* The shuffle is set-up for a random free order, not allocator work. */
	for (size_t i = n - 1; i > 0; i--) {
		size_t j = (size_t)(bu_rand(&r) % (i + 1));
		struct obj tmp = objs[i];
		objs[i] = objs[j];
		objs[j] = tmp;
	}
	long rss_full = bu_rss_kb();

	t0 = bu_now();
	for (size_t i = 0; i < n; i++) {
		if (!bu_stamp_ok(objs[i].p, objs[i].size, objs[i].tag))
			bu_fail(NAME, "corrupted block of %u bytes", objs[i].size);
		free(objs[i].p);
	}
	free(objs);
	double t_free = bu_now() - t0;
	long rss_freed = bu_rss_kb();

	long rss_min = rss_freed, rss_idle = rss_freed;
	for (long waited = 0; waited < wait_ms; waited += 100) {
		bu_sleep(0.1);
		rss_idle = bu_rss_kb();
		if (rss_idle < rss_min)
			rss_min = rss_idle;
	}

	bu_report(NAME, t_alloc + t_free,
	          "alloc_s=%.3f free_s=%.3f objects=%zu mb=%ld rss_start_kb=%ld rss_full_kb=%ld "
	          "rss_freed_kb=%ld rss_idle_kb=%ld rss_idle_min_kb=%ld",
	          t_alloc, t_free, n, mb, rss_start, rss_full, rss_freed, rss_idle, rss_min);
	return 0;
}
