/*
 * pool.c - a server that runs all of its malloc from memory it reserved
 * itself at start-up.
 *
 * The program is linked with the drop-in library (-lcistern), so plain
 * malloc, strdup, realloc and free are cistern's.  cistern_init_hook runs
 * once, inside cistern's initialisation and before the first allocation is
 * served: there the program maps 64 MiB and puts a pool source over it
 * first in the default arena's chain.  From then on every allocation the
 * program (and the C library on its behalf) makes comes from that range;
 * the os source behind the pool only serves once the pool is spent.
 *
 * The "server" answers SET/GET/DEL requests against a chained hash table.
 * At the end it prints the pool's statistics and checks that every live
 * allocation lies inside the pool.  It reports in TAP so that `make check`
 * can run it as it is.
 *
 * Build against an installed cistern:
 *   cc -o pool pool.c -lcistern
 */
#include <cistern.h>

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#define POOL_LEN ((size_t)64 << 20)
#define REQUESTS 60000
#define KEYS 5000

static char *pool_base;
static cistern_sysalloc_t *pool;

/* Called by cistern during its initialisation: no malloc here.  cistern
   finds the hook by its dynamic symbol, so it must stay exported even when
   the program is built with -fvisibility=hidden. */
__attribute__((visibility("default"))) void cistern_init_hook(void)
{
    void *p = mmap(NULL, POOL_LEN, PROT_READ | PROT_WRITE,
                   MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (p == MAP_FAILED)
        return; /* the os source serves as usual */
    cistern_sysalloc_t *s = cistern_sysalloc_pool(p, POOL_LEN, 0);
    if (s && cistern_arena_add_sysalloc(cistern_arena_default(), s, 0) == 0) {
        pool = s;
        pool_base = p;
    }
}

static int in_pool(const void *p, size_t n)
{
    uintptr_t a = (uintptr_t)p, b = (uintptr_t)pool_base;
    return pool_base && a >= b && a + n <= b + POOL_LEN;
}

/* ---- the table the server keeps ----------------------------------------- */

struct entry {
    char *key, *value;
    struct entry *next;
};

struct table {
    struct entry **buckets;
    size_t nbuckets, count;
};

static size_t hash(const char *s)
{
    size_t h = 1469598103934665603u;
    while (*s)
        h = (h ^ (unsigned char)*s++) * 1099511628211u;
    return h;
}

static struct entry **find(struct table *t, const char *key)
{
    struct entry **e = &t->buckets[hash(key) % t->nbuckets];
    while (*e && strcmp((*e)->key, key) != 0)
        e = &(*e)->next;
    return e;
}

static int grow(struct table *t)
{
    size_t n = t->nbuckets ? t->nbuckets * 2 : 64;
    struct entry **b = calloc(n, sizeof *b);
    if (!b)
        return -1;
    for (size_t i = 0; i < t->nbuckets; i++)
        for (struct entry *e = t->buckets[i], *next; e; e = next) {
            next = e->next;
            size_t h = hash(e->key) % n;
            e->next = b[h];
            b[h] = e;
        }
    free(t->buckets);
    t->buckets = b;
    t->nbuckets = n;
    return 0;
}

static int set(struct table *t, const char *key, const char *value)
{
    if (t->count >= t->nbuckets && grow(t) != 0)
        return -1;
    struct entry **e = find(t, key);
    char *v = strdup(value);
    if (!v)
        return -1;
    if (*e) {
        free((*e)->value);
        (*e)->value = v;
        return 0;
    }
    struct entry *n = malloc(sizeof *n);
    if (!n || !(n->key = strdup(key))) {
        free(n);
        free(v);
        return -1;
    }
    n->value = v;
    n->next = NULL;
    *e = n;
    t->count++;
    return 0;
}

static void del(struct table *t, const char *key)
{
    struct entry **e = find(t, key);
    if (*e) {
        struct entry *gone = *e;
        *e = gone->next;
        free(gone->key);
        free(gone->value);
        free(gone);
        t->count--;
    }
}

/* ---- one request, one response -------------------------------------------- */

/* A response grows as it is built, the way a real one would. */
struct reply {
    char *buf;
    size_t len, cap;
};

static int reply_add(struct reply *r, const char *s)
{
    size_t n = strlen(s);
    if (r->len + n + 1 > r->cap) {
        size_t cap = r->cap ? r->cap * 2 : 16;
        while (cap < r->len + n + 1)
            cap *= 2;
        char *b = realloc(r->buf, cap);
        if (!b)
            return -1;
        r->buf = b;
        r->cap = cap;
    }
    memcpy(r->buf + r->len, s, n + 1);
    r->len += n;
    return 0;
}

/* Parse and answer "SET k v", "GET k" or "DEL k"; the reply is malloc'd. */
static char *serve(struct table *t, const char *request)
{
    char *req = strdup(request), *save = NULL;
    if (!req)
        return NULL;
    const char *verb = strtok_r(req, " ", &save);
    const char *key = strtok_r(NULL, " ", &save);
    const char *value = strtok_r(NULL, "", &save);
    struct reply r = { 0 };
    int err = 0;
    if (!verb || !key) {
        err = reply_add(&r, "ERR bad request");
    } else if (strcmp(verb, "SET") == 0 && value) {
        err = set(t, key, value) != 0 || reply_add(&r, "OK");
    } else if (strcmp(verb, "GET") == 0) {
        struct entry *e = *find(t, key);
        err = e ? reply_add(&r, "VALUE ") || reply_add(&r, e->value) : reply_add(&r, "NONE");
    } else if (strcmp(verb, "DEL") == 0) {
        del(t, key);
        err = reply_add(&r, "OK");
    } else {
        err = reply_add(&r, "ERR unknown verb");
    }
    free(req);
    if (err) {
        free(r.buf);
        return NULL;
    }
    return r.buf;
}

/* Values of varied length, some long enough for cistern's large spans. */
static char *make_value(unsigned k, unsigned round)
{
    size_t n = 8 + (k * 7919u + round * 31u) % (k % 97 == 0 ? 300000 : 400);
    char *v = malloc(n + 1);
    if (!v)
        return NULL;
    for (size_t i = 0; i < n; i++)
        v[i] = (char)('a' + (k + i + round) % 26);
    v[n] = 0;
    return v;
}

/* ---- checks ------------------------------------------------------------------ */

static unsigned tap_n, tap_failed;

static void tap(int ok, const char *what)
{
    printf("%sok %u - %s\n", ok ? "" : "not ", ++tap_n, what);
    tap_failed += !ok;
}

struct census {
    size_t live, outside;
};

/* Called for every live allocation of the default arena; allocates nothing. */
static int count_block(void *p, size_t usable, void *ctx)
{
    struct census *c = ctx;
    c->live++;
    c->outside += !in_pool(p, usable);
    return 0;
}

int main(void)
{
    printf("1..5\n");
    tap(pool != NULL, "a 64 MiB pool was injected first in the default arena's chain");

    struct table t = { 0 };
    unsigned answered = 0, wrong = 0;
    char request[64];
    for (unsigned i = 0; i < REQUESTS; i++) {
        unsigned k = (i * 2654435761u) % KEYS, round = i / KEYS;
        snprintf(request, sizeof request, "key:%u", k);
        char *value = make_value(k, round);
        char *line = value ? malloc(strlen(value) + sizeof request + 8) : NULL;
        if (!line) {
            free(value);
            wrong++;
            continue;
        }
        switch (i % 4) {
        case 3:
            sprintf(line, "DEL %s", request);
            break;
        case 2:
            sprintf(line, "GET %s", request);
            break;
        default:
            sprintf(line, "SET %s %s", request, value);
        }
        char *resp = serve(&t, line);
        if (resp) {
            answered++;
            struct entry *e = *find(&t, request);
            /* A GET answers with what the table holds; the rest say OK. */
            if (i % 4 == 2 ? strncmp(resp, e ? "VALUE " : "NONE", e ? 6 : 4) != 0
                           : strcmp(resp, "OK") != 0)
                wrong++;
            if (i % 4 < 2 && (!e || strcmp(e->value, value) != 0))
                wrong++;
        }
        free(resp);
        free(line);
        free(value);
    }
    tap(answered == REQUESTS && wrong == 0, "every request was answered correctly");

    /* Every block the table holds came from the pool. */
    size_t blocks = 1, outside = !in_pool(t.buckets, t.nbuckets * sizeof *t.buckets);
    for (size_t b = 0; b < t.nbuckets; b++)
        for (struct entry *e = t.buckets[b]; e; e = e->next) {
            blocks += 3;
            outside += !in_pool(e, sizeof *e) + !in_pool(e->key, strlen(e->key) + 1) +
                       !in_pool(e->value, strlen(e->value) + 1);
        }
    printf("# table: %zu keys, %zu blocks, %zu outside the pool\n", t.count, blocks, outside);
    tap(outside == 0 && t.count > 0, "every block of the table lies in the pool");

    /* And so does everything else alive in the default arena (stdio's buffer too). */
    struct census c = { 0, 0 };
    cistern_arena_walk(cistern_arena_default(), count_block, &c);
    printf("# default arena: %zu live allocations, %zu outside the pool\n", c.live, c.outside);
    tap(c.live >= blocks && c.outside == 0, "every live allocation lies in the pool");

    cistern_sysalloc_stats_t st = { 0 };
    if (pool)
        cistern_sysalloc_get_stats(pool, &st);
    printf("# pool: reserved %zu committed %zu in use %zu failures %llu\n", st.reserved_bytes,
           st.committed_bytes, st.in_use_bytes, (unsigned long long)st.failures);
    tap(pool && st.in_use_bytes > 0 && st.in_use_bytes <= st.reserved_bytes &&
            st.reserved_bytes <= POOL_LEN && st.failures == 0,
        "the pool's statistics add up");

    for (size_t b = 0; b < t.nbuckets; b++)
        while (t.buckets[b])
            del(&t, t.buckets[b]->key);
    free(t.buckets);
    return tap_failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
