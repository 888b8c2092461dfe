/*
 * options.h - run-time options: one table, read once from CISTERN_OPTIONS
 * ("key=value,key=value") at initialisation, settable later through
 * cistern_option_set().  Unknown keys and bad values print one warning and
 * keep the default.
 */
#ifndef CS_OPTIONS_H
#define CS_OPTIONS_H

#include <stddef.h>

enum cs_secondary_policy { CS_SECONDARY_NONE, CS_SECONDARY_LIBC, CS_SECONDARY_GUARDED };

struct cs_options {
    long stats_print;        /* print statistics at exit */
    long hugepages;          /* default arena draws from the hugepage source first */
    long tcache_max_bytes;   /* cap on bytes all thread caches may hold together */
    long decay_ms;           /* free pages stay committed this long (-1: never released) */
    long background_thread;  /* release free memory of an idle process from a thread */
    long reset_keep_bytes;   /* committed bytes an arena reset keeps */
    long secondary;          /* enum cs_secondary_policy */
    long guarded_rate;       /* one allocation in this many is guarded (guarded policy) */
    long tool_hooks;         /* report to valgrind when running under it (off for callgrind) */
    char pool[256];          /* pre-reserved pool spec: anon:SIZE, huge:SIZE, file:PATH:SIZE */
};

extern struct cs_options cs_opt __attribute__((visibility("hidden")));

/* Parse CISTERN_OPTIONS (no allocation; getenv only). */
void cs_options_init(void);
/* Parse one "key=value,..." string, warning about what it cannot use. */
void cs_options_parse(const char *spec);
/* One option: 0, ENOENT or EINVAL. */
int cs_option_set(const char *key, size_t keylen, const char *value, size_t vallen);
/* Parse a size with an optional K/M/G suffix: 0 or EINVAL. */
int cs_parse_size(const char *s, size_t len, size_t *out);

#endif
