/*
 * dump.c - prints one of the library's reports on stdout, for
 * tests/compat/formats.sh to parse with real XML and JSON parsers:
 *
 *   dump info [MB]      malloc_info's XML while MB megabytes are held
 *   dump json [MB]      cistern_stats_print(stdout, 1), likewise
 *   dump none           nothing (for the report at exit)
 *
 * The megabytes are held in 4 KiB blocks, plus one 1 MiB block so that a
 * large span is always in the figures.
 */
#include <cistern.h>
#include <malloc.h> /* the system's: see tests/compat/local.mk */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void **hold(size_t mb, size_t *n)
{
    *n = mb * 256;
    void **blocks = malloc((*n + 1) * sizeof *blocks);
    if (!blocks)
        exit(2);
    for (size_t i = 0; i < *n; i++) {
        if (!(blocks[i] = malloc(4096)))
            exit(2);
        memset(blocks[i], (int)i, 4096);
    }
    if (!(blocks[*n] = malloc((size_t)1 << 20)))
        exit(2);
    memset(blocks[*n], 1, (size_t)1 << 20);
    return blocks;
}

int main(int argc, char **argv)
{
    const char *what = argc > 1 ? argv[1] : "none";
    size_t mb = argc > 2 ? strtoul(argv[2], NULL, 10) : 0, n = 0;
    void **blocks = hold(mb, &n);

    if (strcmp(what, "info") == 0) {
        if (malloc_info(0, stdout))
            return 1;
    } else if (strcmp(what, "json") == 0) {
        cistern_stats_print(stdout, 1);
    } else if (strcmp(what, "none") != 0) {
        fprintf(stderr, "dump: unknown report '%s'\n", what);
        return 2;
    }
    fflush(stdout);

    for (size_t i = 0; i <= n; i++)
        free(blocks[i]);
    free(blocks);
    return 0;
}
