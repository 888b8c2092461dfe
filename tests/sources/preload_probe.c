/*
 * preload_probe.c - a plain program, built without cistern, run by
 * pool_option with the drop-in library preloaded.  It allocates through
 * the ordinary malloc family, then prints cistern's JSON report (found at
 * run time, since the program does not link cistern) on stdout.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int main(void)
{
    void (*stats_print)(FILE *, int) =
        (void (*)(FILE *, int))dlsym(RTLD_DEFAULT, "cistern_stats_print");
    if (!stats_print) {
        fprintf(stderr, "preload_probe: cistern is not loaded\n");
        return 2;
    }
    enum { N = 300 };
    char *keep[N];
    for (int i = 0; i < N; i++) {
        size_t n = i % 50 == 49 ? (size_t)600 << 10 : 16 + (size_t)i * 13;
        keep[i] = malloc(n);
        if (!keep[i])
            return 3;
        memset(keep[i], i, n);
    }
    /* Report while the blocks are live, so the pool shows them in use. */
    stats_print(stdout, 1);
    for (int i = 0; i < N; i++)
        free(keep[i]);
    return 0;
}
