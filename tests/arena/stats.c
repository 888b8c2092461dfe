/*
 * stats.c - arenas in cistern_stats_print: one entry per live arena, in
 * text and in JSON, with the figures cistern_arena_get_stats gives; the
 * JSON must parse (checked by a small validator here, and by python3's
 * json module when the machine has python3).
 */
#include "arutil.h"

#include <ctype.h>
#include <sys/wait.h>

/* ---- a strict JSON validator (RFC 8259 grammar, no semantics) ------------- */

static const char *js_value(const char *s, int depth);

static const char *js_ws(const char *s)
{
    while (*s == ' ' || *s == '\t' || *s == '\n' || *s == '\r')
        s++;
    return s;
}

static const char *js_string(const char *s)
{
    if (*s++ != '"')
        return NULL;
    for (;;) {
        unsigned char c = (unsigned char)*s++;
        if (c == '"')
            return s;
        if (c < 0x20)
            return NULL; /* control characters must be escaped */
        if (c == '\\') {
            c = (unsigned char)*s++;
            if (c == 'u') {
                for (int i = 0; i < 4; i++)
                    if (!isxdigit((unsigned char)*s++))
                        return NULL;
            } else if (!strchr("\"\\/bfnrt", c) || !c) {
                return NULL;
            }
        }
    }
}

static const char *js_number(const char *s)
{
    if (*s == '-')
        s++;
    if (*s == '0')
        s++;
    else if (*s >= '1' && *s <= '9')
        while (isdigit((unsigned char)*s))
            s++;
    else
        return NULL;
    if (*s == '.') {
        if (!isdigit((unsigned char)*++s))
            return NULL;
        while (isdigit((unsigned char)*s))
            s++;
    }
    if (*s == 'e' || *s == 'E') {
        s++;
        if (*s == '+' || *s == '-')
            s++;
        if (!isdigit((unsigned char)*s))
            return NULL;
        while (isdigit((unsigned char)*s))
            s++;
    }
    return s;
}

static const char *js_seq(const char *s, int depth, char close, int object)
{
    s = js_ws(s + 1);
    if (*s == close)
        return s + 1;
    for (;;) {
        if (object) {
            if (!(s = js_string(js_ws(s))))
                return NULL;
            s = js_ws(s);
            if (*s++ != ':')
                return NULL;
        }
        if (!(s = js_value(s, depth + 1)))
            return NULL;
        s = js_ws(s);
        if (*s == close)
            return s + 1;
        if (*s++ != ',')
            return NULL;
    }
}

static const char *js_value(const char *s, int depth)
{
    if (depth > 64)
        return NULL;
    s = js_ws(s);
    switch (*s) {
    case '{':
        return js_seq(s, depth, '}', 1);
    case '[':
        return js_seq(s, depth, ']', 0);
    case '"':
        return js_string(s);
    case 't':
        return strncmp(s, "true", 4) ? NULL : s + 4;
    case 'f':
        return strncmp(s, "false", 5) ? NULL : s + 5;
    case 'n':
        return strncmp(s, "null", 4) ? NULL : s + 4;
    default:
        return js_number(s);
    }
}

static int json_valid(const char *s)
{
    const char *end = js_value(s, 0);
    return end && *js_ws(end) == 0;
}

/* ---- python3, when there is one -------------------------------------------- */

static int have_python3(void)
{
    return system("python3 -c 'import json' >/dev/null 2>&1") == 0;
}

/* Feed the report to a python3 script; its exit status (0: all good). */
static int python_check(const char *json, const char *script)
{
    char path[] = "/tmp/cistern-arena-stats-XXXXXX";
    int fd = mkstemp(path);
    ck_assert_int_ge(fd, 0);
    size_t len = strlen(json);
    ck_assert_int_eq(write(fd, json, len), (ssize_t)len);
    close(fd);
    char cmd[4096];
    snprintf(cmd, sizeof cmd, "python3 -c '%s' < %s", script, path);
    int st = system(cmd);
    unlink(path);
    return WIFEXITED(st) ? WEXITSTATUS(st) : 128;
}

/* ---- the tests --------------------------------------------------------------- */

struct pair {
    cistern_arena_t *a, *b;
    cistern_sysalloc_t *pool;
    void *base;
    size_t len;
};

static struct pair make_pair(void)
{
    struct pair p;
    p.len = 8 * MiB;
    p.base = ar_map(p.len, 2 * MiB);
    p.pool = cistern_sysalloc_pool(p.base, p.len, 0);
    ck_assert_ptr_nonnull(p.pool);
    p.a = ar_create("alpha", NULL, 0, 0, 0);
    p.b = ar_create("beta", &p.pool, 1, 0, 3 * MiB);
    for (int i = 0; i < 100; i++)
        ck_assert_ptr_nonnull(cistern_arena_malloc(p.a, 100));
    ck_assert_ptr_nonnull(cistern_arena_malloc(p.b, MiB));
    ck_assert_ptr_nonnull(cistern_arena_malloc(p.b, 24));
    return p;
}

static void drop_pair(struct pair *p)
{
    ck_assert_int_eq(cistern_arena_destroy(p->a), 0);
    ck_assert_int_eq(cistern_arena_destroy(p->b), 0);
    ck_assert_int_eq(cistern_sysalloc_release(p->pool), 0);
    munmap(p->base, p->len);
}

/* The text line of the named arena ("  arena NAME ..."), or NULL. */
static const char *arena_line(const char *text, const char *name)
{
    char key[64];
    snprintf(key, sizeof key, "  arena %s ", name);
    return strstr(text, key);
}

START_TEST(text_report_lists_arenas)
{
    struct pair p = make_pair();
    char *text = ar_report(0);
    const char *la = arena_line(text, "alpha"), *lb = arena_line(text, "beta");
    ck_assert_msg(la && lb, "arenas missing from:\n%s", text);
    size_t alloc = 0;
    const char *at = strstr(la, "allocated ");
    ck_assert_ptr_nonnull(at);
    ck_assert_int_eq(sscanf(at, "allocated %zu", &alloc), 1);
    ck_assert_uint_eq(alloc, ar_stats(p.a).allocated_bytes);
    at = strstr(lb, "allocated ");
    ck_assert_int_eq(sscanf(at, "allocated %zu", &alloc), 1);
    ck_assert_uint_eq(alloc, ar_stats(p.b).allocated_bytes);
    char line[512];
    ck_assert_int_eq(sscanf(lb, "%511[^\n]", line), 1);
    ck_assert_msg(strstr(line, " chain pool") != NULL, "beta's chain: %s", line);
    ck_assert_msg(arena_line(text, "default") != NULL, "no default arena in:\n%s", text);
    free(text);
    /* Reset: zero; destroyed: gone. */
    cistern_arena_reset(p.a);
    text = ar_report(0);
    at = strstr(arena_line(text, "alpha"), "allocated ");
    ck_assert_int_eq(sscanf(at, "allocated %zu", &alloc), 1);
    ck_assert_uint_eq(alloc, 0);
    free(text);
    cistern_arena_t *gone = ar_create("gamma", NULL, 0, 0, 0);
    ck_assert_int_eq(cistern_arena_destroy(gone), 0);
    text = ar_report(0);
    ck_assert_ptr_null(arena_line(text, "gamma"));
    free(text);
    drop_pair(&p);
}
END_TEST

static const char py_arenas[] =
    "import json, sys\n"
    "d = json.load(sys.stdin)\n"
    "a = {x[\"name\"]: x for x in d[\"cistern\"][\"arenas\"]}\n"
    "assert a[\"alpha\"][\"allocated_bytes\"] == %zu, a[\"alpha\"]\n"
    "assert a[\"beta\"][\"allocated_bytes\"] == %zu, a[\"beta\"]\n"
    "assert a[\"beta\"][\"limit_bytes\"] >= 3 << 20, a[\"beta\"]\n"
    "assert a[\"beta\"][\"sources\"] == [\"pool\"], a[\"beta\"]\n"
    "assert \"gamma\" not in a\n";

START_TEST(json_report_parses)
{
    struct pair p = make_pair();
    cistern_arena_t *gone = ar_create("gamma", NULL, 0, 0, 0);
    ck_assert_int_eq(cistern_arena_destroy(gone), 0);
    char *json = ar_report(1);
    ck_assert_msg(json_valid(json), "not JSON:\n%s", json);
    ck_assert_ptr_nonnull(strstr(json, "\"name\": \"alpha\""));
    ck_assert_ptr_nonnull(strstr(json, "\"name\": \"beta\""));
    ck_assert_ptr_null(strstr(json, "\"name\": \"gamma\""));
    if (have_python3()) {
        char script[1024];
        snprintf(script, sizeof script, py_arenas, ar_stats(p.a).allocated_bytes,
                 ar_stats(p.b).allocated_bytes);
        ck_assert_msg(python_check(json, script) == 0, "python3 rejected:\n%s", json);
    } else {
        printf("# python3 not found: JSON checked by the built-in validator only\n");
    }
    free(json);
    drop_pair(&p);
}
END_TEST

static void *never_alloc(void *ctx, size_t size, size_t align, size_t *actual)
{
    (void)ctx;
    (void)size;
    (void)align;
    (void)actual;
    return NULL;
}

/* Arena and source names are the program's strings: quotes, backslashes
   and control characters in them must come out escaped, or the report is
   not JSON. */
START_TEST(json_escapes_names)
{
    static const char *names[] = { "say \"hi\"", "back\\slash", "tab\there", "line\nbreak" };
    cistern_arena_t *a[4];
    for (int i = 0; i < 4; i++)
        a[i] = ar_create(names[i], NULL, 0, 0, 0);
    static const cistern_sysalloc_ops_t ops = { .alloc = never_alloc };
    cistern_sysalloc_t *src = cistern_sysalloc_custom("dev \"0\"", &ops, NULL, 0, 0);
    ck_assert_ptr_nonnull(src);
    char *json = ar_report(1);
    ck_assert_msg(json_valid(json), "not JSON with odd names:\n%s", json);
    if (have_python3())
        ck_assert_int_eq(python_check(json, "import json, sys\n"
                                            "d = json.load(sys.stdin)[\"cistern\"]\n"
                                            "n = [x[\"name\"] for x in d[\"arenas\"]]\n"
                                            "assert \"say \\\"hi\\\"\" in n, n\n"
                                            "assert \"line\\nbreak\" in n, n\n"
                                            "s = [x[\"name\"] for x in d[\"sources\"]]\n"
                                            "assert \"dev \\\"0\\\"\" in s, s\n"),
                         0);
    free(json);
    ck_assert_int_eq(cistern_sysalloc_release(src), 0);
    for (int i = 0; i < 4; i++)
        ck_assert_int_eq(cistern_arena_destroy(a[i]), 0);
}
END_TEST

START_TEST(validator_rejects_broken_json)
{
    ck_assert(json_valid("{\"a\": [1, 2.5e3, \"x\\\"y\", true, null, {}]}"));
    ck_assert(!json_valid("{\"a\": \"x\"y\"}"));
    ck_assert(!json_valid("{\"a\": 1,}"));
    ck_assert(!json_valid("{\"a\": \"tab\there\"}"));
    ck_assert(!json_valid("[1, 2"));
}
END_TEST

static Suite *make_suite(void)
{
    Suite *s = suite_create("arena_stats");
    TCase *tc = tcase_create("report");
    tcase_add_checked_fixture(tc, ar_no_release_thread, NULL);
    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, validator_rejects_broken_json);
    tcase_add_test(tc, text_report_lists_arenas);
    tcase_add_test(tc, json_report_parses);
    tcase_add_test(tc, json_escapes_names);
    suite_add_tcase(s, tc);
    return s;
}

CS_TEST_MAIN(make_suite)
