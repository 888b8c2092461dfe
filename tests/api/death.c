/*
 * death.c - a pointer cistern did not hand out, or hands back twice, must
 * stop the program with one clear line on stderr (design invariant 7),
 * never corrupt the heap silently.
 *
 * Each case runs in a child of its own whose stderr is a pipe, so the
 * exact text can be checked, not just the signal.
 */
#include "api_suite.h"

#include <pthread.h>
#include <regex.h>
#include <signal.h>
#include <stdio.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

struct outcome {
    int status;      /* from waitpid */
    char err[4096];  /* everything the child wrote to stderr */
};

/* Run fn(arg) in a child with stderr captured; the child that survives
   exits 0, one that hangs is stopped by SIGALRM. */
static void run_child(void (*fn)(void *), void *arg, struct outcome *o)
{
    o->status = test_run_child(fn, arg, o->err, sizeof o->err, 20);
}

static void expect_abort(const struct outcome *o, const char *what)
{
    ck_assert_msg(WIFSIGNALED(o->status) && WTERMSIG(o->status) == SIGABRT,
                  "%s: child %s %d instead of SIGABRT; stderr: \"%s\"", what,
                  WIFSIGNALED(o->status) ? "got signal" : "exited with",
                  WIFSIGNALED(o->status) ? WTERMSIG(o->status) : WEXITSTATUS(o->status), o->err);
}

static int count_lines(const char *s)
{
    int n = 0;
    for (; *s; s++)
        n += *s == '\n';
    return n;
}

/* The whole of stderr must be exactly "cistern: CALL(0x...): pointer not
   allocated by cistern\n", naming the very pointer. */
static void expect_foreign_message(const struct outcome *o, const char *call, const void *p)
{
    char pattern[128], exact[160];
    snprintf(pattern, sizeof pattern,
             "^cistern: %s\\(0x[0-9a-f]+\\): pointer not allocated by cistern\n$", call);
    regex_t re;
    ck_assert_int_eq(regcomp(&re, pattern, REG_EXTENDED), 0);
    int rc = regexec(&re, o->err, 0, NULL, 0);
    regfree(&re);
    ck_assert_msg(rc == 0, "stderr does not match /%s/: \"%s\"", pattern, o->err);
    snprintf(exact, sizeof exact, "cistern: %s(%p): pointer not allocated by cistern\n", call, p);
    ck_assert_str_eq(o->err, exact);
}

static void do_free(void *p)
{
    T_FREE(p);
}

static void do_realloc(void *p)
{
    void *q = T_REALLOC(p, 100);
    (void)q;
}

static void do_usable(void *p)
{
    (void)T_USABLE_SIZE(p);
}

static char static_buffer[256];

START_TEST(foreign_stack_free)
{
    /* The child inherits this frame, so the address is the same there. */
    volatile char local[64];
    void *p = (void *)&local[16];
    struct outcome o;
    run_child(do_free, p, &o);
    expect_abort(&o, "free(stack)");
    expect_foreign_message(&o, "free", p);
}
END_TEST

START_TEST(foreign_other_pointers)
{
    struct outcome o;
    run_child(do_free, static_buffer + 32, &o);
    expect_abort(&o, "free(static)");
    expect_foreign_message(&o, "free", static_buffer + 32);

    void *m = mmap(NULL, 1 << 16, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    ck_assert_ptr_ne(m, MAP_FAILED);
    run_child(do_free, m, &o);
    expect_abort(&o, "free(mmap)");
    expect_foreign_message(&o, "free", m);

    run_child(do_realloc, static_buffer, &o);
    expect_abort(&o, "realloc(static)");
    expect_foreign_message(&o, "realloc", static_buffer);

    run_child(do_usable, static_buffer, &o);
    expect_abort(&o, "usable_size(static)");
#ifdef CS_TEST_DROPIN
    expect_foreign_message(&o, "malloc_usable_size", static_buffer);
#else
    expect_foreign_message(&o, "cistern_usable_size", static_buffer);
#endif
    munmap(m, 1 << 16);
}
END_TEST

/* ---- double free ---------------------------------------------------------------- */

static const size_t df_sizes[] = { 8, 16, 100, 1024, 4096, 65536, 200000, 262144,
                                   300000, 1 << 20, 4 << 20, 64 << 20 };
#define NDF (sizeof df_sizes / sizeof df_sizes[0])

static void expect_double_free(const struct outcome *o, const char *what, size_t n)
{
    char label[96];
    snprintf(label, sizeof label, "%s of %zu bytes", what, n);
    expect_abort(o, label);
    ck_assert_msg(strstr(o->err, "double free") != NULL, "%s: message \"%s\" says no double free",
                  label, o->err);
    ck_assert_msg(count_lines(o->err) == 1, "%s: %d lines on stderr: \"%s\"", label,
                  count_lines(o->err), o->err);
}

static void twice(void *arg)
{
    size_t n = *(size_t *)arg;
    no_background_thread(); /* see free_does_not_allocate */
    void *p = T_MALLOC(n);
    memset(p, 0x11, n < 4096 ? n : 4096);
    T_FREE(p);
    T_FREE(p);
}

START_TEST(double_free_immediate)
{
    size_t n = df_sizes[_i];
    struct outcome o;
    run_child(twice, &n, &o);
    expect_double_free(&o, "double free", n);
}
END_TEST

/* The first free's object has left the thread cache (pushed out by many
   later frees of the same class) before the second free comes. */
static void twice_after_flush(void *arg)
{
    size_t n = *(size_t *)arg;
    no_background_thread();
    enum { K = 4096 };
    void **v = T_MALLOC(K * sizeof *v);
    for (int i = 0; i < K; i++)
        v[i] = T_MALLOC(n);
    for (int i = 0; i < K; i++)
        T_FREE(v[i]);
    T_FREE(v[0]);
}

START_TEST(double_free_after_flush)
{
    static const size_t ns[] = { 16, 128, 1024 };
    size_t n = ns[_i];
    struct outcome o;
    run_child(twice_after_flush, &n, &o);
    expect_double_free(&o, "double free after flush", n);
}
END_TEST

/* free must not allocate: an allocation made inside free is served from
   the memory just freed, so a double free of the block then releases that
   allocation instead of stopping the program (seen with the drop-in, where
   the background thread started from free calls malloc in pthread_create). */
static void free_then_count(void *arg)
{
    cistern_arena_stats_t a, b;
    size_t n = *(size_t *)arg;
    /* Pages freed now stay committed (no decay within the test), so this
       free is the one that finds committed free pages, whatever the clock. */
    if (cistern_option_set("decay_ms", "86400000") != 0)
        _exit(5);
    cistern_arena_get_stats(cistern_arena_default(), &a);
    void *p = T_MALLOC(n);
    T_FREE(p);
    cistern_arena_get_stats(cistern_arena_default(), &b);
    if (b.nmalloc - a.nmalloc != 1 || b.nfree - a.nfree != 1 || cistern_arena_of(p) != NULL)
        fprintf(stderr, "malloc+free of %zu bytes: %llu mallocs, %llu frees, block %s\n", n,
                (unsigned long long)(b.nmalloc - a.nmalloc),
                (unsigned long long)(b.nfree - a.nfree),
                cistern_arena_of(p) ? "reused at once" : "free");
}

START_TEST(free_does_not_allocate)
{
    size_t n = (size_t)1 << 20;
    struct outcome o;
    run_child(free_then_count, &n, &o);
    ck_assert_msg(WIFEXITED(o.status) && WEXITSTATUS(o.status) == 0 && o.err[0] == 0,
                  "status %d, stderr: \"%s\"", o.status, o.err);
}
END_TEST

/* The first free comes from another thread, which keeps the object in its
   own cache (it is still alive) when this thread frees it again. */
struct handoff {
    void *p;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int freed;
};

static void *free_and_wait(void *arg)
{
    struct handoff *h = arg;
    T_FREE(h->p);
    pthread_mutex_lock(&h->mu);
    h->freed = 1;
    pthread_cond_signal(&h->cv);
    pthread_mutex_unlock(&h->mu);
    pause(); /* stay alive: the object stays in this thread's cache */
    return NULL;
}

static void twice_cross_thread(void *arg)
{
    static struct handoff h = { NULL, PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, 0 };
    no_background_thread();
    h.p = T_MALLOC(*(size_t *)arg);
    pthread_t t;
    if (pthread_create(&t, NULL, free_and_wait, &h) != 0)
        _exit(3);
    pthread_mutex_lock(&h.mu);
    while (!h.freed)
        pthread_cond_wait(&h.cv, &h.mu);
    pthread_mutex_unlock(&h.mu);
    T_FREE(h.p);
    /* Undetected: show the harm, two live allocations at one address. */
    void *a = T_MALLOC(*(size_t *)arg), *b = T_MALLOC(*(size_t *)arg);
    if (a == b || a == h.p || b == h.p)
        fprintf(stderr, "the same block was handed out twice\n");
}

START_TEST(double_free_cross_thread)
{
    size_t n = 64;
    struct outcome o;
    run_child(twice_cross_thread, &n, &o);
    expect_double_free(&o, "double free across threads", n);
}
END_TEST

TCase *api_tcase_death(void)
{
    TCase *tc = tcase_create("death");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, foreign_stack_free);
    tcase_add_test(tc, foreign_other_pointers);
    tcase_add_test(tc, free_does_not_allocate);
    tcase_add_loop_test(tc, double_free_immediate, 0, (int)NDF);
    tcase_add_loop_test(tc, double_free_after_flush, 0, 3);
    tcase_add_test(tc, double_free_cross_thread);
    return tc;
}
