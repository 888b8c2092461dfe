/* short_threads: many short-lived threads that each allocate a little.
 *
 * Threads are started in batches (4 at a time by default) and joined
 * before the next batch.  Each does a few hundred allocations and frees
 * and returns one block it allocated, which the main thread frees after
 * the join.  This measures what an allocator pays per thread: setting up
 * a thread cache on first use, flushing it at exit, and freeing a block
 * whose owning thread is gone.  Allocators that leak or grow per-thread
 * state show it as rising RSS over the run.
 *
 * usage: short_threads [threads] [batch] [allocs_per_thread]
 */
#include "bench_util.h"

#include <pthread.h>

#define NAME "short_threads"
#define LIVE 32
#define MAX_BATCH 64

struct job {
	pthread_t thread;
	uint64_t seed;
	long allocs;
	void *result; /* block handed back to the main thread */
	size_t result_size;
	int failed;
};

static void *job_main(void *arg)
{
	struct job *j = arg;
	bu_rng r;
	bu_rng_seed(&r, j->seed);
	void *live[LIVE] = {0};
	size_t size[LIVE];

	for (long i = 0; i < j->allocs; i++) {
		int k = (int)(i % LIVE);
		if (live[k]) {
			if (!bu_stamp_ok(live[k], size[k], (uint64_t)k + j->seed))
				j->failed = 1;
			free(live[k]);
		}
		size[k] = bu_log_range(&r, 16, 1024);
		live[k] = malloc(size[k]);
		if (!live[k]) {
			j->failed = 1;
			return NULL;
		}
		bu_stamp(live[k], size[k], (uint64_t)k + j->seed);
	}
	/* Keep the last one alive past the thread's exit. */
	j->result = live[0];
	j->result_size = size[0];
	live[0] = NULL;
	for (int k = 1; k < LIVE; k++) {
		if (live[k] && !bu_stamp_ok(live[k], size[k], (uint64_t)k + j->seed))
			j->failed = 1;
		free(live[k]);
	}
	return NULL;
}

int main(int argc, char **argv)
{
	bu_usage(argc, argv, "[threads] [batch] [allocs_per_thread]");
	long threads = bu_arg(argc, argv, 1, 20000, 64);
	long batch = bu_arg(argc, argv, 2, 4, 4);
	long allocs = bu_arg(argc, argv, 3, 300, 300);
	if (batch > MAX_BATCH)
		bu_fail(NAME, "batch is at most %d", MAX_BATCH);

	struct job jobs[MAX_BATCH];
	long started = 0;
	long rss_early = -1;

	double t0 = bu_now();
	while (started < threads) {
		long n = threads - started < batch ? threads - started : batch;
		for (long i = 0; i < n; i++) {
			jobs[i] = (struct job){.seed = (uint64_t)(started + i), .allocs = allocs};
			if (pthread_create(&jobs[i].thread, NULL, job_main, &jobs[i]))
				bu_fail(NAME, "pthread_create failed after %ld threads",
				        started + i);
		}
		for (long i = 0; i < n; i++) {
			pthread_join(jobs[i].thread, NULL);
			if (jobs[i].failed)
				bu_fail(NAME, "a thread saw a corrupted block or a NULL malloc");
			if (!bu_stamp_ok(jobs[i].result, jobs[i].result_size, jobs[i].seed))
				bu_fail(NAME, "block from an exited thread was corrupted");
			free(jobs[i].result);
		}
		started += n;
		/* RSS after the first tenth, to compare with the end: growth
		 * between the two means per-thread state is not reclaimed. */
		if (rss_early < 0 && started >= threads / 10)
			rss_early = bu_rss_kb();
	}
	double t = bu_now() - t0;

	bu_report(NAME, t,
	          "threads=%ld batch=%ld allocs_per_thread=%ld rss_early_kb=%ld "
	          "rss_end_kb=%ld",
	          threads, batch, allocs, rss_early, bu_rss_kb());
	return 0;
}
