/*
 * plugin.h - the one entry point of the test plugin (plugin.c), which the
 * unload test finds with dlsym after each dlopen.
 */
#ifndef CS_LC_PLUGIN_H
#define CS_LC_PLUGIN_H

#include <stddef.h>

#define LC_PLUGIN_MAX_THREADS 8

struct lc_plugin_args {
    void *pool;      /* page-aligned range the program owns and lends */
    size_t pool_len;
    int threads;     /* worker threads to run (at most LC_PLUGIN_MAX_THREADS) */
    unsigned cycle;  /* which load this is: varies what is left behind */
    int errno_seen;  /* out: errno when a check failed */
};

/* 0, or the line of plugin.c whose check failed. */
typedef int (*lc_plugin_work_fn)(struct lc_plugin_args *args);
__attribute__((visibility("default"))) int lc_plugin_work(struct lc_plugin_args *args);

#endif
