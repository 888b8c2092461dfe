/* bench_util.h: helpers shared by the allocator benchmarks.
 *
 * The benchmarks call only the standard malloc family so that any allocator
 * can be swapped in with LD_PRELOAD.  Everything here is static inline so
 * each benchmark stays a single translation unit with no library to link.
 *
 * Conventions every benchmark follows (bench/run relies on them):
 *   - optional positional arguments override the default sizes; the
 *     defaults are multiplied by the BENCH_SCALE environment variable;
 *   - exactly one result line is printed on stdout:
 *         NAME: OK time=SECONDS key=value ... peak_rss_kb=N
 *     or  NAME: FAILED reason
 *     and the exit status is 0 only for OK;
 *   - "time" covers the measured phase only (process start-up and, for
 *     mass_free, the idle wait are excluded).
 */
#ifndef CISTERN_BENCH_UTIL_H
#define CISTERN_BENCH_UTIL_H

/* clock_gettime, nanosleep and sched_yield are POSIX, not plain C11;
 * this header is included first by every benchmark, so it opts in. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE 1
#endif

#include <errno.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* ---- timing ---------------------------------------------------------- */

static inline double bu_now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static inline void bu_sleep(double seconds)
{
	struct timespec ts;
	ts.tv_sec = (time_t)seconds;
	ts.tv_nsec = (long)((seconds - (double)ts.tv_sec) * 1e9);
	/* A signal cuts the sleep short; sleep the remainder. */
	while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
		;
}

/* ---- PRNG -------------------------------------------------------------
 * A xorshift64* generator: a few instructions per number, so the random
 * sizes and slots cost far less than the allocator calls being measured.
 * Each thread owns its own state; nothing here is shared.
 */
typedef struct {
	uint64_t s;
} bu_rng;

static inline void bu_rng_seed(bu_rng *r, uint64_t seed)
{
	/* One splitmix64 step spreads nearby seeds (0, 1, 2 ... per thread)
	 * into unrelated states, and never yields the forbidden zero state
	 * for small seeds. */
	uint64_t z = seed + 0x9e3779b97f4a7c15ull;
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	z ^= z >> 31;
	r->s = z ? z : 1;
}

static inline uint64_t bu_rand(bu_rng *r)
{
	uint64_t x = r->s;
	x ^= x >> 12;
	x ^= x << 25;
	x ^= x >> 27;
	r->s = x;
	return x * 0x2545f4914f6cdd1dull;
}

/* Uniform in [lo, hi]; the modulo bias is irrelevant for benchmarking. */
static inline size_t bu_range(bu_rng *r, size_t lo, size_t hi)
{
	return lo + (size_t)(bu_rand(r) % (uint64_t)(hi - lo + 1));
}

/* Log-uniform in [lo, hi]: every power-of-two band gets the same share,
 * which is how real size mixes skew towards small objects. */
static inline size_t bu_log_range(bu_rng *r, size_t lo, size_t hi)
{
	unsigned lo_bit = 63 - (unsigned)__builtin_clzll(lo);
	/* hi - 1 so that an exact power of two joins the band below it
	 * instead of forming a one-value band of its own. */
	unsigned hi_bit = 63 - (unsigned)__builtin_clzll(hi > lo ? hi - 1 : hi);
	unsigned bit = lo_bit + (unsigned)(bu_rand(r) % (hi_bit - lo_bit + 1));
	size_t band_lo = (size_t)1 << bit;
	size_t band_hi = band_lo * 2 - 1;
	if (band_lo < lo)
		band_lo = lo;
	if (band_hi >= hi || bit == hi_bit)
		band_hi = hi;
	return bu_range(r, band_lo, band_hi);
}

/* ---- sizes and arguments ---------------------------------------------- */

static inline double bu_scale(void)
{
	const char *s = getenv("BENCH_SCALE");
	double v = s ? strtod(s, NULL) : 1.0;
	return v > 0.0 ? v : 1.0;
}

/* Positional argument IDX if given, else DEF scaled by BENCH_SCALE
 * (never below MIN, so a tiny scale still exercises the code). */
static inline long bu_arg(int argc, char **argv, int idx, long def, long min)
{
	if (idx < argc) {
		char *end;
		long v = strtol(argv[idx], &end, 0);
		if (*end != '\0' || v <= 0) {
			fprintf(stderr, "%s: bad argument '%s'\n", argv[0], argv[idx]);
			exit(2);
		}
		return v;
	}
	long v = (long)((double)def * bu_scale());
	return v < min ? min : v;
}

/* Prints the usage line for -h/--help and exits. */
static inline void bu_usage(int argc, char **argv, const char *usage)
{
	if (argc > 1 && (!strcmp(argv[1], "-h") || !strcmp(argv[1], "--help"))) {
		printf("usage: %s %s\n(defaults are scaled by BENCH_SCALE)\n", argv[0], usage);
		exit(0);
	}
}

/* ---- resident memory -------------------------------------------------- */

/* Reads a "Key:   N kB" line of /proc/self/status; -1 if unavailable. */
static inline long bu_status_kb(const char *key)
{
	FILE *f = fopen("/proc/self/status", "r");
	if (!f)
		return -1;
	char line[256];
	size_t klen = strlen(key);
	long kb = -1;
	while (fgets(line, sizeof line, f)) {
		if (!strncmp(line, key, klen) && line[klen] == ':') {
			kb = strtol(line + klen + 1, NULL, 10);
			break;
		}
	}
	fclose(f);
	return kb;
}

static inline long bu_rss_kb(void)
{
	return bu_status_kb("VmRSS");
}
static inline long bu_peak_rss_kb(void)
{
	return bu_status_kb("VmHWM");
}

/* ---- result reporting ------------------------------------------------- */

static inline void bu_fail(const char *name, const char *fmt, ...)
{
	va_list ap;
	printf("%s: FAILED ", name);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	printf("\n");
	fflush(stdout);
	exit(1);
}

/* Prints the OK line: the measured time, the benchmark's own figures
 * (FMT, "key=value" pairs) and the process's peak RSS.  The peak comes
 * from VmHWM because a parent's wait4 cannot give it exactly: the kernel
 * folds the peak of the forking process (before exec) into ru_maxrss. */
static inline void bu_report(const char *name, double seconds, const char *fmt, ...)
{
	va_list ap;
	long peak = bu_peak_rss_kb();
	printf("%s: OK time=%.3f ", name, seconds);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	printf(" peak_rss_kb=%ld\n", peak);
	fflush(stdout);
}

/* Allocation failure is a benchmark failure, not a crash to debug. */
static inline void *bu_check_alloc(const char *name, void *p, size_t size)
{
	if (p == NULL)
		bu_fail(name, "allocation of %zu bytes returned NULL", size);
	return p;
}

/* Makes P escape to unknown code: the compiler may otherwise notice that a
 * block is written, checked against constants and freed, and drop the
 * malloc/free pair altogether, which would leave nothing to measure. */
static inline void bu_escape(const void *p)
{
	__asm__ __volatile__("" : : "r"(p) : "memory");
}

/* ---- content stamps ----------------------------------------------------
 * A block is stamped with a 64-bit tag at its start and end and its first
 * bytes filled; the check reads them back before the block is freed.  A
 * broken allocator that hands out overlapping blocks, or loses data on
 * realloc, then fails the run instead of merely looking fast.  Only the
 * edges are written for big blocks so the cost stays proportional to what
 * a real program touches, not to a full memset.
 */
static inline void bu_stamp(void *p, size_t n, uint64_t tag)
{
	unsigned char *b = p;
	if (n >= 16) {
		memcpy(b, &tag, 8);
		memcpy(b + n - 8, &tag, 8);
		size_t mid = n - 16 < 48 ? n - 16 : 48;
		memset(b + 8, (int)(tag & 0xff), mid);
	} else {
		memset(b, (int)(tag & 0xff), n);
	}
	bu_escape(p);
}

static inline int bu_stamp_ok(const void *p, size_t n, uint64_t tag)
{
	const unsigned char *b = p;
	if (n >= 16) {
		uint64_t a, z;
		memcpy(&a, b, 8);
		memcpy(&z, b + n - 8, 8);
		return a == tag && z == tag && b[8] == (unsigned char)(tag & 0xff);
	}
	return b[0] == (unsigned char)(tag & 0xff) && b[n - 1] == (unsigned char)(tag & 0xff);
}

/* Writes one byte per page so the whole block becomes resident, as it
 * would in a program that actually uses the memory. */
static inline void bu_touch_pages(void *p, size_t n, unsigned char v)
{
	unsigned char *b = p;
	for (size_t i = 0; i < n; i += 4096)
		b[i] = v;
	if (n)
		b[n - 1] = v;
	bu_escape(p);
}

static inline int bu_pages_ok(const void *p, size_t n, unsigned char v)
{
	const unsigned char *b = p;
	for (size_t i = 0; i < n; i += 4096)
		if (b[i] != v)
			return 0;
	return n == 0 || b[n - 1] == v;
}

#endif
