/*
 * replay.c - every saved fuzz input run through the API interpreter again,
 * without libFuzzer: the crashes the fuzzer found (tests/fuzz/regressions)
 * and the seed inputs it starts from (tests/fuzz/seeds).  Each input runs
 * in a child of its own, so one failure does not hide the others; prints
 * TAP.
 *
 *   replay [DIR|FILE]...    default: the two folders of the source tree
 */
#include "interp.h"

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#ifndef FZ_DEFAULT_DIRS
#define FZ_DEFAULT_DIRS "tests/fuzz/regressions", "tests/fuzz/seeds"
#endif

#define MAX_INPUTS 4096
#define MAX_INPUT_BYTES (1 << 20)

static char *inputs[MAX_INPUTS];
static int ninputs;

static int by_name(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static void add(const char *path)
{
    struct stat st;
    if (stat(path, &st) != 0) {
        printf("# %s: %s\n", path, strerror(errno));
        return;
    }
    if (S_ISREG(st.st_mode)) {
        if (ninputs < MAX_INPUTS)
            inputs[ninputs++] = strdup(path);
        return;
    }
    DIR *d = opendir(path);
    if (!d)
        return;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (e->d_name[0] == '.')
            continue; /* also keeps README-like dotfiles out */
        char full[4096];
        snprintf(full, sizeof full, "%s/%s", path, e->d_name);
        if (stat(full, &st) == 0 && S_ISREG(st.st_mode) && ninputs < MAX_INPUTS)
            inputs[ninputs++] = strdup(full);
    }
    closedir(d);
}

static void run_one(const char *path)
{
    static unsigned char buf[MAX_INPUT_BYTES];
    FILE *f = fopen(path, "rb");
    if (!f)
        _exit(2);
    size_t n = fread(buf, 1, sizeof buf, f);
    fclose(f);
    fz_run(buf, n);
    _exit(0);
}

int main(int argc, char **argv)
{
    static const char *defaults[] = { FZ_DEFAULT_DIRS };
    if (argc > 1)
        for (int i = 1; i < argc; i++)
            add(argv[i]);
    else
        for (size_t i = 0; i < sizeof defaults / sizeof defaults[0]; i++)
            add(defaults[i]);
    if (ninputs == 0) {
        printf("1..0 # SKIP no saved inputs\n");
        return 0;
    }
    qsort(inputs, (size_t)ninputs, sizeof inputs[0], by_name);
    printf("1..%d\n", ninputs);
    int failed = 0;
    for (int i = 0; i < ninputs; i++) {
        fflush(stdout);
        pid_t pid = fork();
        if (pid < 0) {
            perror("fork");
            return 1;
        }
        if (pid == 0)
            run_one(inputs[i]);
        int status;
        waitpid(pid, &status, 0);
        const char *name = strrchr(inputs[i], '/') ? strrchr(inputs[i], '/') + 1 : inputs[i];
        if (WIFEXITED(status) && WEXITSTATUS(status) == 0) {
            printf("ok %d - %s\n", i + 1, name);
        } else {
            failed++;
            if (WIFSIGNALED(status))
                printf("not ok %d - %s: killed by signal %d\n", i + 1, name, WTERMSIG(status));
            else
                printf("not ok %d - %s: exit status %d\n", i + 1, name, WEXITSTATUS(status));
        }
    }
    return failed ? 1 : 0;
}
