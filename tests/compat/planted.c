/*
 * planted.c - a program with a planted bug inside an arena, for the memory
 * checkers to catch (tests/compat/tools_catch.sh):
 *   leak        an arena allocation that is never freed (nor reset)
 *   leak_first  the same, the first and only block of a fresh arena
 *   leak_large  the same with a 1 MiB block
 *   invalid     a read of an arena allocation after the arena was reset
 *   probe    prints "asan" when built with AddressSanitizer, else "plain"
 */
#include <cistern.h>
#include <stdio.h>
#include <string.h>

#if defined(__SANITIZE_ADDRESS__)
#define BUILT_WITH_ASAN 1
#else
#define BUILT_WITH_ASAN 0
#endif

int main(int argc, char **argv)
{
    const char *mode = argc > 1 ? argv[1] : "probe";
    if (strcmp(mode, "probe") == 0) {
        puts(BUILT_WITH_ASAN ? "asan" : "plain");
        return 0;
    }
    cistern_arena_t *a = cistern_arena_create(NULL);
    if (!a)
        return 2;
    if (strcmp(mode, "leak_first") == 0 || strcmp(mode, "leak_large") == 0) {
        /* It starts a span and a region: their records must not hold its
           address in a form memcheck takes for a pointer. */
        volatile char *only = cistern_arena_malloc(a, mode[5] == 'f' ? 100 : 1 << 20);
        if (!only)
            return 2;
        only[0] = 1;
        only = NULL;
        return 0;
    }
    /* A block kept live first, so that the leaked one is not the first of
       its span. */
    static void *keep;
    keep = cistern_arena_malloc(a, 100);
    volatile char *p = cistern_arena_malloc(a, 100);
    if (!p || !keep)
        return 2;
    p[0] = 1;
    if (strcmp(mode, "leak") == 0) {
        p = NULL; /* the only pointer is gone: memcheck must call it lost */
        return 0;
    }
    cistern_arena_reset(a);
    return p[10]; /* the planted read of freed arena memory */
}
