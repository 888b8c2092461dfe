/* prodcons: producers allocate messages, consumers free them.
 *
 * Every block is freed by a different thread than the one that allocated
 * it, the worst case for per-thread caches: producer caches drain and
 * must be refilled, consumer caches fill with blocks they never reuse.
 *
 * Messages travel in batches through one bounded queue (mutex and
 * condition variables).  Batching keeps the queue lock far cheaper than
 * the allocator calls, and the bound keeps memory use flat when producers
 * run ahead of consumers.
 *
 * usage: prodcons [messages_per_producer] [producers] [consumers]
 */
#include "bench_util.h"

#include <pthread.h>

#define NAME "prodcons"
#define BATCH 128
#define QUEUE_CAP 64
#define MAX_THREADS 32

struct msg {
	struct msg *next;
	uint32_t size;
	uint32_t tag;
};

/* The queue carries chains of BATCH messages linked through msg.next. */
static struct {
	pthread_mutex_t lock;
	pthread_cond_t not_full, not_empty;
	struct msg *slot[QUEUE_CAP];
	int head, count;
	int producers_left;
} q = {
        .lock = PTHREAD_MUTEX_INITIALIZER,
        .not_full = PTHREAD_COND_INITIALIZER,
        .not_empty = PTHREAD_COND_INITIALIZER,
};

static long per_producer;

static void put_batch(struct msg *chain)
{
	pthread_mutex_lock(&q.lock);
	while (q.count == QUEUE_CAP)
		pthread_cond_wait(&q.not_full, &q.lock);
	q.slot[(q.head + q.count) % QUEUE_CAP] = chain;
	q.count++;
	pthread_cond_signal(&q.not_empty);
	pthread_mutex_unlock(&q.lock);
}

/* Returns NULL once the queue is empty and every producer has finished. */
static struct msg *get_batch(void)
{
	pthread_mutex_lock(&q.lock);
	while (q.count == 0 && q.producers_left > 0)
		pthread_cond_wait(&q.not_empty, &q.lock);
	struct msg *chain = NULL;
	if (q.count > 0) {
		chain = q.slot[q.head];
		q.head = (q.head + 1) % QUEUE_CAP;
		q.count--;
		pthread_cond_signal(&q.not_full);
	}
	pthread_mutex_unlock(&q.lock);
	return chain;
}

static void *producer(void *arg)
{
	bu_rng r;
	bu_rng_seed(&r, (uint64_t)(uintptr_t)arg);
	struct msg *chain = NULL;
	int len = 0;

	for (long i = 0; i < per_producer; i++) {
		size_t size = bu_log_range(&r, 32, 1024);
		struct msg *m = bu_check_alloc(NAME, malloc(size), size);
		m->size = (uint32_t)size;
		m->tag = (uint32_t)bu_rand(&r);
		bu_stamp(m + 1, size - sizeof *m, m->tag);
		m->next = chain;
		chain = m;
		if (++len == BATCH) {
			put_batch(chain);
			chain = NULL;
			len = 0;
		}
	}
	if (chain)
		put_batch(chain);

	pthread_mutex_lock(&q.lock);
	if (--q.producers_left == 0)
		pthread_cond_broadcast(&q.not_empty);
	pthread_mutex_unlock(&q.lock);
	return NULL;
}

static void *consumer(void *arg)
{
	/* Counted locally: the consumers' totals sit side by side in main,
	 * and bumping them per message would bounce that cache line. */
	long count = 0;
	struct msg *chain;
	while ((chain = get_batch()) != NULL) {
		while (chain) {
			struct msg *next = chain->next;
			if (!bu_stamp_ok(chain + 1, chain->size - sizeof *chain, chain->tag))
				bu_fail(NAME, "corrupted message of %u bytes", chain->size);
			free(chain);
			count++;
			chain = next;
		}
	}
	*(long *)arg = count;
	return NULL;
}

int main(int argc, char **argv)
{
	bu_usage(argc, argv, "[messages_per_producer] [producers] [consumers]");
	per_producer = bu_arg(argc, argv, 1, 5000000, 1000);
	int np = (int)bu_arg(argc, argv, 2, 2, 2);
	int nc = (int)bu_arg(argc, argv, 3, 2, 2);
	if (np > MAX_THREADS || nc > MAX_THREADS)
		bu_fail(NAME, "at most %d producers and %d consumers", MAX_THREADS, MAX_THREADS);

	pthread_t pt[MAX_THREADS], ct[MAX_THREADS];
	long consumed[MAX_THREADS] = {0};
	q.producers_left = np;

	double t0 = bu_now();
	for (int i = 0; i < nc; i++)
		if (pthread_create(&ct[i], NULL, consumer, &consumed[i]))
			bu_fail(NAME, "pthread_create failed");
	for (int i = 0; i < np; i++)
		if (pthread_create(&pt[i], NULL, producer, (void *)(uintptr_t)(i + 1)))
			bu_fail(NAME, "pthread_create failed");
	for (int i = 0; i < np; i++)
		pthread_join(pt[i], NULL);
	long total = 0;
	for (int i = 0; i < nc; i++) {
		pthread_join(ct[i], NULL);
		total += consumed[i];
	}
	double t = bu_now() - t0;

	if (total != per_producer * np)
		bu_fail(NAME, "consumed %ld of %ld messages", total, per_producer * np);
	bu_report(NAME, t, "producers=%d consumers=%d messages=%ld", np, nc, total);
	return 0;
}
