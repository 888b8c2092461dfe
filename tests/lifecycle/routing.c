/*
 * routing.c - a thread routed to an arena (cistern_thread_set_arena) whose
 * arena is destroyed, or whose whole heap is torn down, falls back to the
 * default arena.  It must never follow its old routing into an arena it
 * did not choose: a new arena may be created where the old one's record
 * was, and after teardown that record is no longer even mapped.
 */
#include "lcutil.h"

#include <cistern.h>
#include <pthread.h>

/* Plain allocations of a thread routed to an arena that is then destroyed
   (by this thread or another one); then a new arena appears. */
START_TEST(routed_thread_after_destroy)
{
    cistern_arena_t *a = cistern_arena_create(NULL);
    ck_assert_ptr_nonnull(a);
    cistern_thread_set_arena(a);
    void *p = cistern_malloc(100);
    ck_assert_ptr_eq(cistern_arena_of(p), a);
    cistern_free(p);
    ck_assert_int_eq(cistern_arena_destroy(a), 0);

    cistern_arena_t *b = cistern_arena_create(NULL);
    ck_assert_ptr_nonnull(b);
    void *q = cistern_malloc(100);
    ck_assert_msg(cistern_arena_of(q) == cistern_arena_default(),
                  "after its arena was destroyed, the thread's malloc went to %s",
                  cistern_arena_of(q) == b ? "an arena created since, which it never chose"
                                           : "neither the default arena nor a new one");
    cistern_free(q);
    ck_assert_int_eq(cistern_arena_destroy(b), 0);
}
END_TEST

/* The same across cistern_teardown, for this thread and for another one
   that stays alive through it. */
struct routed {
    cistern_arena_t *arena;
    pthread_barrier_t routed_done, torn_down, checked;
    int ok;
};

static void *routed_thread(void *arg)
{
    struct routed *r = arg;
    cistern_thread_set_arena(r->arena);
    cistern_free(cistern_malloc(64));
    pthread_barrier_wait(&r->routed_done);
    pthread_barrier_wait(&r->torn_down);
    void *p = cistern_malloc(64);
    r->ok = p && cistern_arena_of(p) == cistern_arena_default();
    cistern_free(p);
    pthread_barrier_wait(&r->checked);
    return NULL;
}

START_TEST(routed_threads_after_teardown)
{
    struct routed r;
    r.arena = cistern_arena_create(NULL);
    ck_assert_ptr_nonnull(r.arena);
    pthread_barrier_init(&r.routed_done, NULL, 2);
    pthread_barrier_init(&r.torn_down, NULL, 2);
    pthread_barrier_init(&r.checked, NULL, 2);
    r.ok = 0;
    pthread_t t;
    ck_assert_int_eq(pthread_create(&t, NULL, routed_thread, &r), 0);

    cistern_thread_set_arena(r.arena);
    cistern_free(cistern_malloc(64));
    pthread_barrier_wait(&r.routed_done);
    cistern_teardown();
    /* The first arena of the new heap: made from the same metadata, so its
       record may sit where the old one did. */
    cistern_arena_t *fresh = cistern_arena_create(NULL);
    ck_assert_ptr_nonnull(fresh);
    void *p = cistern_malloc(64);
    int here_ok = p && cistern_arena_of(p) == cistern_arena_default();
    cistern_free(p);
    pthread_barrier_wait(&r.torn_down);
    pthread_barrier_wait(&r.checked);
    pthread_join(t, NULL);
    ck_assert_msg(here_ok, "after teardown this thread's malloc did not go to the default arena");
    ck_assert_msg(r.ok, "after teardown the other thread's malloc did not go to the default arena");
}
END_TEST

static Suite *make_suite(void)
{
    Suite *s = suite_create("routing");
    TCase *tc = tcase_create("stale");
    tcase_add_test(tc, routed_thread_after_destroy);
    tcase_add_test(tc, routed_threads_after_teardown);
    suite_add_tcase(s, tc);
    return s;
}

CS_TEST_MAIN(make_suite)
