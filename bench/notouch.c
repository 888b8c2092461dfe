/* notouch: small-object malloc/free from an arena over the os source, one
 * over an injected pool, and one over a NOTOUCH pool, side by side.
 *
 * The NOTOUCH arena lives in a PROT_NONE range injected as a NOTOUCH pool
 * (the stand-in for device memory: any touch would be a SIGSEGV); the
 * ordinary arena in a read-write range of the same size injected as a
 * plain pool.  Both run the same churn: a sliding window of small objects
 * (8..512 bytes), each step freeing the oldest and allocating a new one.
 * The program never writes into the blocks either, so the difference is
 * the allocator's own: out-of-band free bits (an atomic or and an atomic
 * clear per object) against a free marker in the object's first word.
 *
 * Two ways of calling are measured: naming the arena on every call
 * (cistern_arena_malloc), and making it the thread's arena so that
 * cistern_malloc takes the inline fast path.  Repetitions alternate
 * between the arenas; the medians and their ratio are printed.
 *
 * Unlike the other benchmarks this one measures cistern itself, so it
 * links the API library and bench/run does not run it.
 *
 * usage: notouch [steps] [window] [reps]
 */
#include "bench_util.h"

#include <cistern.h>
#include <sys/mman.h>

#define NAME "notouch"
#define POOL ((size_t)256 << 20)
#define ALIGN ((size_t)2 << 20)

static size_t *sizes;
static void **window;

/* POOL bytes at a 2 MiB boundary with the given protection. */
static void *reserve(int prot)
{
	char *p = mmap(NULL, POOL + ALIGN, prot, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (p == MAP_FAILED)
		bu_fail(NAME, "mmap of %zu bytes failed", POOL + ALIGN);
	return (void *)(((uintptr_t)p + ALIGN - 1) & ~(uintptr_t)(ALIGN - 1));
}

static cistern_arena_t *arena_over(void *base, unsigned flags, const char *name)
{
	static cistern_sysalloc_t *src[2];
	static int n;
	src[n] = cistern_sysalloc_pool(base, POOL, flags);
	if (!src[n])
		bu_fail(NAME, "cistern_sysalloc_pool: %s", strerror(errno));
	cistern_arena_config_t cfg = { name, &src[n], 1, 0, 0 };
	cistern_arena_t *a = cistern_arena_create(&cfg);
	if (!a)
		bu_fail(NAME, "cistern_arena_create: %s", strerror(errno));
	n++;
	return a;
}

/* One churn over a; fast: through the thread's arena and cistern_malloc. */
static double churn(cistern_arena_t *a, int fast, long steps, long win)
{
	cistern_arena_t *prev = fast ? cistern_thread_set_arena(a) : NULL;
	double t0 = bu_now();
	for (long i = 0; i < win; i++)
		window[i] = fast ? cistern_malloc(sizes[i]) : cistern_arena_malloc(a, sizes[i]);
	for (long i = 0; i < steps; i++) {
		long slot = i % win;
		cistern_free(window[slot]);
		size_t n = sizes[(win + i) % (2 * win)];
		window[slot] = fast ? cistern_malloc(n) : cistern_arena_malloc(a, n);
		if (!window[slot])
			bu_fail(NAME, "malloc(%zu) returned NULL", n);
		bu_escape(window[slot]);
	}
	for (long i = 0; i < win; i++)
		cistern_free(window[i]);
	double t = bu_now() - t0;
	if (fast)
		cistern_thread_set_arena(prev);
	return t;
}

static int cmp_double(const void *x, const void *y)
{
	double a = *(const double *)x, b = *(const double *)y;
	return a < b ? -1 : a > b;
}

static double median(double *v, int n)
{
	qsort(v, (size_t)n, sizeof *v, cmp_double);
	return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

int main(int argc, char **argv)
{
	bu_usage(argc, argv, "[steps] [window] [reps]");
	long steps = bu_arg(argc, argv, 1, 10000000, 10000);
	long win = bu_arg(argc, argv, 2, 10000, 16);
	int reps = (int)bu_arg(argc, argv, 3, 7, 1);
	if (reps > 99)
		reps = 99;

	/* The same sizes for both arenas: the runs differ only in the arena. */
	sizes = malloc(2 * (size_t)win * sizeof *sizes);
	window = malloc((size_t)win * sizeof *window);
	if (!sizes || !window)
		bu_fail(NAME, "cannot allocate the tables");
	bu_rng r;
	bu_rng_seed(&r, 42);
	for (long i = 0; i < 2 * win; i++)
		sizes[i] = (bu_rand(&r) & 3) ? bu_range(&r, 8, 128) : bu_range(&r, 8, 512);

	/* Three arenas: over the os source, over a plain injected pool, over a
	   NOTOUCH pool.  Each repetition runs all three, in a rotating order. */
	cistern_arena_t *arenas[3];
	arenas[0] = cistern_arena_create(NULL);
	if (!arenas[0])
		bu_fail(NAME, "cistern_arena_create: %s", strerror(errno));
	arenas[1] = arena_over(reserve(PROT_READ | PROT_WRITE), 0, "plain");
	arenas[2] = arena_over(reserve(PROT_NONE), CISTERN_SYSALLOC_NOTOUCH, "notouch");

	double t[2][3][99]; /* t[fast][arena][rep] */
	for (int fast = 0; fast < 2; fast++) {
		for (int k = 0; k < 3; k++) /* warm up: spans carved, caches sized */
			churn(arenas[k], fast, steps / 10, win);
		for (int k = 0; k < reps; k++)
			for (int j = 0; j < 3; j++) {
				int which = (j + k) % 3;
				t[fast][which][k] = churn(arenas[which], fast, steps, win);
			}
	}
	double m[2][3];
	for (int fast = 0; fast < 2; fast++)
		for (int k = 0; k < 3; k++)
			m[fast][k] = median(t[fast][k], reps);
	double ns = 1e9 / (double)steps;
	fprintf(stderr, "%-22s %12s %12s %12s %10s %14s\n", "", "os", "pool", "NOTOUCH",
		"pool/os", "NOTOUCH/pool");
	for (int fast = 0; fast < 2; fast++)
		fprintf(stderr, "%-22s %9.1f ns %9.1f ns %9.1f ns %9.2fx %13.2fx\n",
			fast ? "thread arena (fast)" : "cistern_arena_malloc", m[fast][0] * ns,
			m[fast][1] * ns, m[fast][2] * ns, m[fast][1] / m[fast][0],
			m[fast][2] / m[fast][1]);
	fprintf(stderr, "(median of %d, per malloc+free pair; %ld steps, window %ld; targets: "
			"pool no slower than os, NOTOUCH within 2x of pool)\n",
		reps, steps, win);
	double pool_os = m[0][1] / m[0][0], fast_pool_os = m[1][1] / m[1][0];
	double ratio = m[0][2] / m[0][1], fast_ratio = m[1][2] / m[1][1];
	bu_report(NAME, m[0][2] + m[1][2],
		  "os_s=%.4f pool_s=%.4f notouch_s=%.4f pool_os=%.2f fast_pool_os=%.2f "
		  "notouch_ratio=%.2f fast_notouch_ratio=%.2f within_2x=%s",
		  m[0][0], m[0][1], m[0][2], pool_os, fast_pool_os, ratio, fast_ratio,
		  ratio <= 2 && fast_ratio <= 2 ? "yes" : "no");
	return 0;
}
