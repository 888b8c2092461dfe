/*
 * planted.c - a program with a planted bug inside an arena, for the memory
 * checkers to catch (tests/compat/tools_catch.sh):
 *   leak     an arena allocation that is never freed (nor reset)
 *   invalid  a read of an arena allocation after the arena was reset
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
    /* A block kept live first: the leaked one is then not the first object
       of its span, whose address cistern's own span record holds (memcheck
       would call that one reachable). */
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
