/*
 * fork_churn.c - fork while other threads allocate.  Whatever lock a
 * churning thread holds at the moment of fork must be usable in the child
 * (the fork handlers take and reset them), and the child's heap must be
 * consistent although the other threads vanished mid-operation.  A child
 * that deadlocks is killed after a deadline, and the test fails instead of
 * hanging.
 */
#include "stress.h"

#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define NCHURN 4
#define NFORKS 50
#define CHILD_OPS (STRESS_SCALE > 1 ? 1000 : 4000) /* fewer under sanitizers */
#define DEADLINE_S 10

#ifdef __SANITIZE_THREAD__
/* The child may start cistern's background thread (first release of
   pages); TSan would otherwise stop a child that creates a thread after a
   multithreaded fork. */
const char *__tsan_default_options(void)
{
    return "die_after_fork=0";
}
#endif

static int stop; /* set by the main thread, read by the churners (atomics) */

struct churner {
    pthread_t tid;
    uint64_t rng;
    long long ops;
    const char *error;
};

static void *churn(void *arg)
{
    struct churner *c = arg;
    enum { RING = 64 };
    void *ring[RING] = { 0 };
    size_t size[RING] = { 0 };
    unsigned k = 0;
    while (!__atomic_load_n(&stop, __ATOMIC_RELAXED)) {
        if (ring[k]) {
            if (!stress_check(ring[k], size[k], ring[k], 7))
                c->error = "pattern damaged";
            T_FREE(ring[k]);
        }
        size[k] = stress_size(&c->rng) / 4 + 8; /* up to 256 KiB: frequent large spans */
        ring[k] = T_MALLOC(size[k]);
        if (!ring[k]) {
            c->error = "malloc failed";
            break;
        }
        stress_fill(ring[k], size[k], 7);
        k = (k + 1) % RING;
        c->ops++;
    }
    for (unsigned i = 0; i < RING; i++)
        T_FREE(ring[i]);
    return NULL;
}

/* The child: allocate and free a few thousand blocks, some of them the
   parent's, check the heap, report through the exit status. */
static void child(uint64_t seed, void **inherited, size_t ninherited)
{
    enum { LIVE = 128 };
    void *live[LIVE] = { 0 };
    size_t size[LIVE] = { 0 };
    uint64_t rng = stress_mix(seed) | 1;
    for (size_t i = 0; i < ninherited; i++) {
        if (!stress_check(inherited[i], 64, inherited[i], 11))
            _exit(3);
        T_FREE(inherited[i]);
    }
    for (int op = 0; op < CHILD_OPS; op++) {
        unsigned s = (unsigned)(stress_rand(&rng) % LIVE);
        if (live[s]) {
            if (!stress_check(live[s], size[s], live[s], seed))
                _exit(3);
            T_FREE(live[s]);
        }
        size[s] = stress_size(&rng);
        live[s] = T_MALLOC(size[s]);
        if (!live[s])
            _exit(4);
        stress_fill(live[s], size[s], seed);
    }
    for (int s = 0; s < LIVE; s++)
        T_FREE(live[s]);
    _exit(cistern_check_heap() == 0 ? 0 : 2);
}

/* Wait for pid until the deadline; a child still running then is killed. */
static int wait_with_deadline(pid_t pid, int *status)
{
    struct timespec start, now, nap = { 0, 2 * 1000 * 1000 };
    clock_gettime(CLOCK_MONOTONIC, &start);
    for (;;) {
        pid_t r = waitpid(pid, status, WNOHANG);
        if (r == pid)
            return 0;
        if (r < 0)
            return -1;
        clock_gettime(CLOCK_MONOTONIC, &now);
        if (now.tv_sec - start.tv_sec >= DEADLINE_S) {
            kill(pid, SIGKILL);
            waitpid(pid, status, 0);
            return 1;
        }
        nanosleep(&nap, NULL);
    }
}

START_TEST(fork_while_allocating)
{
    struct churner c[NCHURN] = { 0 };
    for (int i = 0; i < NCHURN; i++) {
        c[i].rng = stress_mix(0xf0c0u + (unsigned)i) | 1;
        ck_assert_int_eq(pthread_create(&c[i].tid, NULL, churn, &c[i]), 0);
    }
    for (int f = 0; f < NFORKS; f++) {
        /* Blocks of the parent's that the child frees as its own. */
        void *mine[8];
        for (int i = 0; i < 8; i++) {
            mine[i] = T_MALLOC(64);
            ck_assert_ptr_nonnull(mine[i]);
            stress_fill(mine[i], 64, 11);
        }
        fflush(NULL);
        pid_t pid = fork();
        ck_assert_int_ge(pid, 0);
        if (pid == 0)
            child(0xc0ffee00u + (unsigned)f, mine, 8);
        int status = 0;
        int late = wait_with_deadline(pid, &status);
        ck_assert_msg(late != 1, "fork %d: the child did not finish in %d s (deadlock?)", f,
                      DEADLINE_S);
        ck_assert_int_eq(late, 0);
        ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0,
                      "fork %d: child %s %d (2: heap check, 3: pattern, 4: malloc failed)", f,
                      WIFEXITED(status) ? "exited with" : "killed by signal",
                      WIFEXITED(status) ? WEXITSTATUS(status) : WTERMSIG(status));
        for (int i = 0; i < 8; i++)
            T_FREE(mine[i]); /* still the parent's: the child's frees were its own */
    }
    __atomic_store_n(&stop, 1, __ATOMIC_RELAXED);
    long long ops = 0;
    for (int i = 0; i < NCHURN; i++) {
        ck_assert_int_eq(pthread_join(c[i].tid, NULL), 0);
        ck_assert_msg(c[i].error == NULL, "churner %d: %s", i, c[i].error);
        ops += c[i].ops;
    }
    ck_assert_msg(ops > 0, "the churners never ran");
    ck_assert_int_eq(cistern_check_heap(), 0);
}
END_TEST

static Suite *stress_suite(void)
{
    Suite *s = suite_create("stress: fork while allocating, " T_LIBNAME);
    TCase *tc = tcase_create("fork");
    /* Each child has its own deadline; this bounds the whole. */
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, fork_while_allocating);
    suite_add_tcase(s, tc);
    return s;
}

CS_TEST_MAIN(stress_suite)
