/*
 * options.c - the option table and its parser.
 */
#include "platform.h"
#include "options.h"
#include "export.h"
#include "fatal.h"
#include "init.h"
#include "secondary.h"

#include <cistern.h>
#include <sched.h>

#include <limits.h>
#include <stdlib.h>
#include <string.h>

struct cs_options cs_opt = {
    .stats_print = 0,
    .hugepages = 0,
    .tcache_max_bytes = 64L << 20,
    .decay_ms = 1000,
    .background_thread = 1,
    .reset_keep_bytes = 64L << 20, /* the decay releases the rest later */
    .secondary = CS_SECONDARY_NONE,
    .guarded_rate = 1000,
    .tool_hooks = 1,
};

/* K_RATE: release_rate, another face of decay_ms (tcmalloc's name):
   0 never releases (decay_ms -1), r releases pages idle for 10000 / r ms,
   so the default 10 is decay_ms 1000. */
enum kind { K_BOOL, K_SIZE, K_INT, K_SECONDARY, K_STRING, K_RATE };

struct option_desc {
    const char *key;
    enum kind kind;
    long *value;
    long long min, max;
};

static const struct option_desc table[] = {
    { "stats_print", K_BOOL, &cs_opt.stats_print, 0, 1 },
    { "hugepages", K_BOOL, &cs_opt.hugepages, 0, 1 },
    { "tcache_max_bytes", K_SIZE, &cs_opt.tcache_max_bytes, 0, 1LL << 40 },
    { "decay_ms", K_INT, &cs_opt.decay_ms, -1, 86400000L },
    { "decay", K_INT, &cs_opt.decay_ms, -1, 86400000L }, /* the same, in ms */
    { "release_rate", K_RATE, &cs_opt.decay_ms, 0, 10000 },
    { "background_thread", K_BOOL, &cs_opt.background_thread, 0, 1 },
    { "reset_keep_bytes", K_SIZE, &cs_opt.reset_keep_bytes, 0, 1LL << 40 },
    { "secondary", K_SECONDARY, &cs_opt.secondary, 0, 2 },
    { "tool_hooks", K_BOOL, &cs_opt.tool_hooks, 0, 1 },
    { "pool", K_STRING, NULL, 0, 0 },
};

static int eq(const char *a, size_t alen, const char *b)
{
    return strlen(b) == alen && memcmp(a, b, alen) == 0;
}

int cs_parse_size(const char *s, size_t len, size_t *out)
{
    if (len == 0)
        return EINVAL;
    size_t v = 0, i = 0;
    for (; i < len && s[i] >= '0' && s[i] <= '9'; i++) {
        if (v > (SIZE_MAX - 9) / 10)
            return EINVAL;
        v = v * 10 + (size_t)(s[i] - '0');
    }
    if (i == 0)
        return EINVAL;
    unsigned shift = 0;
    if (i < len) {
        switch (s[i] | 0x20) {
        case 'k': shift = 10; break;
        case 'm': shift = 20; break;
        case 'g': shift = 30; break;
        case 't': shift = 40; break;
        default: return EINVAL;
        }
        i++;
        if (i < len && (s[i] | 0x20) == 'b')
            i++;
        if (i < len && (s[i] | 0x20) == 'i')
            i++;
    }
    if (i != len || (shift && v > (SIZE_MAX >> shift)))
        return EINVAL;
    *out = v << shift;
    return 0;
}

static int parse_long(const char *s, size_t len, long *out)
{
    int neg = len && s[0] == '-';
    size_t v;
    if (cs_parse_size(s + neg, len - (size_t)neg, &v) || v > (size_t)LONG_MAX)
        return EINVAL;
    *out = neg ? -(long)v : (long)v;
    return 0;
}

static int parse_value(const struct option_desc *d, const char *v, size_t vlen)
{
    long x = 0;
    switch (d->kind) {
    case K_BOOL:
        if (eq(v, vlen, "1") || eq(v, vlen, "on") || eq(v, vlen, "true") || eq(v, vlen, "yes"))
            x = 1;
        else if (eq(v, vlen, "0") || eq(v, vlen, "off") || eq(v, vlen, "false") || eq(v, vlen, "no"))
            x = 0;
        else
            return EINVAL;
        break;
    case K_SIZE:
    case K_INT:
        if (parse_long(v, vlen, &x) || x < d->min || x > d->max)
            return EINVAL;
        break;
    case K_RATE:
        if (parse_long(v, vlen, &x) || x < d->min || x > d->max)
            return EINVAL;
        x = x ? 10000 / x : -1;
        break;
    case K_SECONDARY:
        if (eq(v, vlen, "none")) {
            x = CS_SECONDARY_NONE;
        } else if (eq(v, vlen, "libc")) {
            x = CS_SECONDARY_LIBC;
        } else if (vlen >= 7 && memcmp(v, "guarded", 7) == 0) {
            long rate = cs_opt.guarded_rate;
            if (vlen > 7 && (v[7] != ':' || parse_long(v + 8, vlen - 8, &rate) || rate < 1))
                return EINVAL;
            cs_opt.guarded_rate = rate;
            x = CS_SECONDARY_GUARDED;
        } else {
            return EINVAL;
        }
        break;
    case K_STRING:
        if (vlen >= sizeof cs_opt.pool)
            return EINVAL;
        memcpy(cs_opt.pool, v, vlen);
        cs_opt.pool[vlen] = 0;
        return 0;
    }
    *d->value = x;
    return 0;
}

int cs_option_set(const char *key, size_t keylen, const char *value, size_t vallen)
{
    for (size_t i = 0; i < sizeof table / sizeof table[0]; i++)
        if (eq(key, keylen, table[i].key))
            return parse_value(&table[i], value, vallen);
    return ENOENT;
}

static void warn_item(const char *what, const char *item, size_t len)
{
    char mem[160];
    struct cs_buf b = { mem, 0, sizeof mem };
    char tmp[96];
    size_t n = len < sizeof tmp - 1 ? len : sizeof tmp - 1;
    memcpy(tmp, item, n);
    tmp[n] = 0;
    cs_buf_str(&b, tmp);
    cs_warn(what, mem);
}

void cs_options_parse(const char *spec)
{
    while (spec && *spec) {
        const char *end = strchr(spec, ',');
        size_t len = end ? (size_t)(end - spec) : strlen(spec);
        const char *eqs = memchr(spec, '=', len);
        if (len == 0) {
            /* empty item: nothing to say */
        } else if (!eqs) {
            warn_item("CISTERN_OPTIONS: expected key=value, ignored: ", spec, len);
        } else {
            size_t klen = (size_t)(eqs - spec);
            int err = cs_option_set(spec, klen, eqs + 1, len - klen - 1);
            if (err == ENOENT)
                warn_item("CISTERN_OPTIONS: unknown option, ignored: ", spec, len);
            else if (err)
                warn_item("CISTERN_OPTIONS: bad value, default kept: ", spec, len);
        }
        spec = end ? end + 1 : NULL;
    }
}

/* CISTERN_OPTIONS is read once: by init, or before it by the first
   cistern_option_get or cistern_option_set, so that a value read before the
   first allocation is the one that will serve, and a value set then is not
   overwritten by the environment later. */
static cs_atomic_t env_state; /* 0: unread, 1: being read, 2: read */

void cs_options_init(void)
{
    if (cs_atomic_cas(&env_state, 0, 1)) {
        cs_options_parse(getenv("CISTERN_OPTIONS"));
        cs_atomic_store_release(&env_state, 2);
    }
    while (cs_atomic_load_acquire(&env_state) != 2)
        sched_yield();
}

CS_EXPORT int cistern_option_set(const char *key, const char *value)
{
    if (!key || !value)
        return EINVAL;
    cs_options_init();
    int err = cs_option_set(key, strlen(key), value, strlen(value));
    /* The secondary allocator is installed at init; later, the call does it. */
    if (!err && strcmp(key, "secondary") == 0 &&
        cs_atomic_load_acquire(&cs_init_state) == CS_INIT_DONE) {
        if (cs_opt.secondary == CS_SECONDARY_NONE)
            cistern_secondary_set(NULL, NULL);
        else
            cs_secondary_init();
    }
    return err;
}

CS_EXPORT int cistern_option_get(const char *key, long long *out)
{
    if (!key || !out)
        return EINVAL;
    cs_options_init();
    for (size_t i = 0; i < sizeof table / sizeof table[0]; i++)
        if (table[i].value && strcmp(key, table[i].key) == 0) {
            *out = *table[i].value;
            if (table[i].kind == K_RATE)
                *out = *out < 0 ? 0 : *out == 0 ? 10000 : 10000 / *out;
            if (table[i].kind == K_SECONDARY && *out == CS_SECONDARY_GUARDED)
                *out = cs_opt.guarded_rate ? CS_SECONDARY_GUARDED : 0;
            return 0;
        }
    return ENOENT;
}
