/* region_jemalloc: jemalloc's own arenas for the region benchmark.
 *
 * An arena made with "arenas.create", allocated from with
 * mallocx(MALLOCX_ARENA(i) | MALLOCX_TCACHE_NONE) and emptied with
 * "arena.<i>.reset".  The thread cache is bypassed because jemalloc
 * requires every thread cache used with an arena to be flushed before the
 * arena is reset; without one there is nothing to flush.  Built against
 * jemalloc when bench/local.mk found it (REGION_JEMALLOC); otherwise
 * rj_open() says it is not there.
 */
#include <stddef.h>
#include <stdio.h>

#if REGION_JEMALLOC
#include <jemalloc/jemalloc.h>

static int flags;
static size_t reset_mib[3];
static size_t reset_miblen = 3;

int rj_open(void)
{
	unsigned arena;
	size_t len = sizeof arena;
	if (mallctl("arenas.create", &arena, &len, NULL, 0))
		return -1;
	flags = MALLOCX_ARENA(arena) | MALLOCX_TCACHE_NONE;
	/* Looked up once: the name is parsed here, not at every reset. */
	char name[64];
	snprintf(name, sizeof name, "arena.%u.reset", arena);
	return mallctlnametomib(name, reset_mib, &reset_miblen) ? -1 : 0;
}

void *rj_alloc(size_t size)
{
	return mallocx(size, flags);
}

void rj_reset(void)
{
	mallctlbymib(reset_mib, reset_miblen, NULL, NULL, NULL, 0);
}

const char *rj_version(void)
{
	static const char *v;
	size_t len = sizeof v;
	if (!v && mallctl("version", (void *)&v, &len, NULL, 0))
		v = "?";
	return v;
}

#else

int rj_open(void)
{
	return -1;
}

void *rj_alloc(size_t size)
{
	(void)size;
	return NULL;
}

void rj_reset(void)
{
}

const char *rj_version(void)
{
	return "absent";
}

#endif
