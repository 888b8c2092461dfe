/* fastpath: malloc+free pairs that hit the thread cache, for counting
 * instructions with callgrind (bench/fastpath.sh).
 *
 * A few objects of the size stay live, so no allocator sees its page or
 * span empty on each free (which would time a page retire, not a hit).
 * The pairs run in pairs(), a function of their own, so that callgrind's
 * inclusive cost of pairs() less its own cost is exactly what the
 * allocator's malloc and free executed, PLT stubs included.
 *
 * usage: fastpath [pairs] [size]
 */
#include <stdio.h>
#include <stdlib.h>

#define LIVE 64

__attribute__((noinline)) static void pairs(long n, size_t size)
{
	for (long i = 0; i < n; i++) {
		void *volatile p = malloc(size);
		free(p);
	}
}

int main(int argc, char **argv)
{
	long n = argc > 1 ? atol(argv[1]) : 1000000;
	size_t size = argc > 2 ? (size_t)atol(argv[2]) : 32;
	void *live[LIVE];
	for (int i = 0; i < LIVE; i++)
		if (!(live[i] = malloc(size)))
			return 1;
	pairs(1000, size); /* warm: the cache holds the size's objects now */
	pairs(n, size);
	for (int i = 0; i < LIVE; i++)
		free(live[i]);
	printf("fastpath: OK pairs=%ld size=%zu\n", n, size);
	return 0;
}
