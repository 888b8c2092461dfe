/* server_mt: multithreaded, server-like churn.
 *
 * Each worker thread handles "requests".  A request allocates a scratch
 * buffer that dies with it, replaces a few entries of a per-thread cache
 * of long-lived objects, and hands about a quarter of its new objects to
 * another worker, which frees them (a response built by one thread and
 * released by another).  Remote frees are what separates allocators with
 * per-thread caches: they must route the block back to its owner, or
 * accept it, without a global lock.
 *
 * Hand-over uses one lock-free inbox per thread: senders push with a CAS,
 * the owner takes the whole list with one exchange, so there is no ABA
 * problem and no lock in the way of the allocator being measured.
 *
 * usage: server_mt [requests_per_thread] [threads]
 */
#include "bench_util.h"

#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>

#define NAME "server_mt"
#define CACHE_SLOTS 4096
#define MAX_THREADS 64
/* Most objects an inbox may hold before senders wait for its owner.
 * With more threads than cores a descheduled owner would otherwise pile
 * up hundreds of MB of unread objects, and RSS would measure the
 * scheduler instead of the allocator. */
#define INBOX_LIMIT 4096

/* Header at the front of every object that may travel between threads. */
struct msg {
	struct msg *next;
	uint32_t size;
	uint32_t tag;
};

struct worker {
	_Alignas(64) _Atomic(struct msg *) inbox;
	atomic_long pending; /* objects pushed but not yet drained */
	pthread_t thread;
	int id;
	long requests;
	long received;
	struct msg *cache[CACHE_SLOTS];
};

static struct worker *workers;
static int nthreads;
static atomic_int finished;

static struct msg *new_msg(bu_rng *r, uint32_t tag)
{
	size_t size = bu_log_range(r, 32, 4096);
	struct msg *m = bu_check_alloc(NAME, malloc(size), size);
	m->next = NULL;
	m->size = (uint32_t)size;
	m->tag = tag;
	bu_stamp(m + 1, size - sizeof *m, tag);
	return m;
}

static void free_msg(struct msg *m)
{
	if (!bu_stamp_ok(m + 1, m->size - sizeof *m, m->tag))
		bu_fail(NAME, "corrupted object of %u bytes", m->size);
	free(m);
}

static void drain_inbox(struct worker *w);

static void send_msg(struct worker *self, struct worker *to, struct msg *m)
{
	/* Waiting threads keep draining their own inbox, so two threads
	 * waiting on each other still make progress. */
	while (atomic_load_explicit(&to->pending, memory_order_relaxed) > INBOX_LIMIT) {
		drain_inbox(self);
		sched_yield();
	}
	atomic_fetch_add_explicit(&to->pending, 1, memory_order_relaxed);
	struct msg *head = atomic_load_explicit(&to->inbox, memory_order_relaxed);
	do
		m->next = head;
	while (!atomic_compare_exchange_weak_explicit(&to->inbox, &head, m, memory_order_release,
	                                              memory_order_relaxed));
}

static void drain_inbox(struct worker *w)
{
	struct msg *m = atomic_exchange_explicit(&w->inbox, NULL, memory_order_acquire);
	long n = 0;
	while (m) {
		struct msg *next = m->next;
		free_msg(m);
		n++;
		m = next;
	}
	if (n) {
		w->received += n;
		atomic_fetch_sub_explicit(&w->pending, n, memory_order_relaxed);
	}
}

static void handle_request(struct worker *w, bu_rng *r, uint32_t tag)
{
	/* Scratch buffer: parsed input, formatted output, freed at the end. */
	size_t scratch_size = bu_log_range(r, 64, 8192);
	char *scratch = bu_check_alloc(NAME, malloc(scratch_size), scratch_size);
	bu_stamp(scratch, scratch_size, tag);

	int n = 1 + (int)(bu_rand(r) % 8);
	for (int i = 0; i < n; i++) {
		struct msg *m = new_msg(r, tag + (uint32_t)i);
		if ((bu_rand(r) & 3) == 0 && nthreads > 1) {
			int to = (int)(bu_rand(r) % (uint64_t)(nthreads - 1));
			send_msg(w, &workers[to >= w->id ? to + 1 : to], m);
		} else {
			struct msg **slot = &w->cache[bu_rand(r) % CACHE_SLOTS];
			if (*slot)
				free_msg(*slot);
			*slot = m;
		}
	}

	if (!bu_stamp_ok(scratch, scratch_size, tag))
		bu_fail(NAME, "corrupted scratch buffer of %zu bytes", scratch_size);
	free(scratch);
}

static void *worker_main(void *arg)
{
	struct worker *w = arg;
	bu_rng r;
	bu_rng_seed(&r, (uint64_t)w->id + 100);

	for (long i = 0; i < w->requests; i++) {
		/* Draining every few requests keeps the inbox short without
		 * paying an atomic exchange per request. */
		if ((i & 7) == 0)
			drain_inbox(w);
		handle_request(w, &r, (uint32_t)(i * 16));
	}

	/* Keep draining until every thread has stopped sending (a sender
	 * may be waiting on this inbox); after that the inboxes are final. */
	atomic_fetch_add(&finished, 1);
	while (atomic_load(&finished) < nthreads) {
		drain_inbox(w);
		sched_yield();
	}
	drain_inbox(w);
	for (int i = 0; i < CACHE_SLOTS; i++)
		if (w->cache[i])
			free_msg(w->cache[i]);
	return NULL;
}

int main(int argc, char **argv)
{
	bu_usage(argc, argv, "[requests_per_thread] [threads]");
	long requests = bu_arg(argc, argv, 1, 500000, 1000);
	nthreads = (int)bu_arg(argc, argv, 2, 4, 4);
	if (nthreads > MAX_THREADS)
		bu_fail(NAME, "at most %d threads", MAX_THREADS);

	/* aligned_alloc: the inboxes are cache-line aligned so that no two
	 * workers' hot fields share a line, and calloc promises only 16. */
	workers = aligned_alloc(64, (size_t)nthreads * sizeof *workers);
	if (!workers)
		bu_fail(NAME, "cannot allocate worker table");
	memset(workers, 0, (size_t)nthreads * sizeof *workers);

	double t0 = bu_now();
	for (int i = 0; i < nthreads; i++) {
		workers[i].id = i;
		workers[i].requests = requests;
		if (pthread_create(&workers[i].thread, NULL, worker_main, &workers[i]))
			bu_fail(NAME, "pthread_create failed");
	}
	long received = 0;
	for (int i = 0; i < nthreads; i++) {
		pthread_join(workers[i].thread, NULL);
		received += workers[i].received;
	}
	double t = bu_now() - t0;

	free(workers);
	bu_report(NAME, t, "threads=%d requests=%ld remote_frees=%ld", nthreads,
	          requests * nthreads, received);
	return 0;
}
