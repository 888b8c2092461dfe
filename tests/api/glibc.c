/*
 * glibc.c - the drop-in library only: glibc's internal __libc_* names, and
 * glibc itself (stdio, the loader, threads, the environment) running on
 * cistern's malloc, which it calls from inside libc.so where a missing or
 * mismatched entry point would mix two heaps.
 */
#define _GNU_SOURCE 1 /* asprintf */
#include "api_suite.h"

#include <dlfcn.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

/* glibc's internal names: no public header declares them. */
void *__libc_malloc(size_t size);
void __libc_free(void *p);
void *__libc_calloc(size_t n, size_t size);
void *__libc_realloc(void *p, size_t size);
void *__libc_memalign(size_t alignment, size_t size);

static void assert_ours(const void *p, const char *what)
{
    ck_assert_msg(p != NULL, "%s returned NULL", what);
    ck_assert_msg(cistern_arena_of(p) != NULL, "%s: %p is not cistern's", what, p);
}

START_TEST(cistern_is_malloc)
{
    void *p = malloc(100);
    assert_ours(p, "malloc(100)");
    free(p);
    /* Allocations made inside libc come from cistern too. */
    char *s = strdup("inside libc");
    assert_ours(s, "strdup");
    free(s);
}
END_TEST

START_TEST(libc_names)
{
    void *p = __libc_malloc(100);
    assert_ours(p, "__libc_malloc");
    memset(p, 1, 100);
    free(p); /* the names are one heap: mixing them is fine */
    void *q = malloc(50);
    __libc_free(q);

    unsigned char *c = __libc_calloc(100, 10);
    assert_ours(c, "__libc_calloc");
    ck_assert_uint_eq(first_nonzero(c, 1000), 1000);
    unsigned char *r = __libc_realloc(c, 100000);
    assert_ours(r, "__libc_realloc");
    ck_assert_uint_eq(first_nonzero(r, 1000), 1000);
    __libc_free(r);

    void *m = __libc_memalign(4096, 100);
    assert_ours(m, "__libc_memalign");
    ck_assert_uint_eq((uintptr_t)m % 4096, 0);
    __libc_free(m);
    ck_assert_int_eq(cistern_check_heap(), 0);
}
END_TEST

START_TEST(getline_growth)
{
    FILE *f = tmpfile();
    ck_assert_ptr_nonnull(f);
    for (size_t len = 1; len < 200000; len = len * 3 + 1) {
        for (size_t k = 0; k < len; k++)
            fputc('a' + (int)((len + k) % 26), f);
        fputc('\n', f);
    }
    rewind(f);
    char *line = NULL;
    size_t cap = 0;
    ssize_t n;
    for (size_t len = 1; (n = getline(&line, &cap, f)) != -1; len = len * 3 + 1) {
        ck_assert_int_eq((size_t)n, len + 1);
        size_t k = 0;
        while (k < len && line[k] == 'a' + (int)((len + k) % 26))
            k++;
        ck_assert_msg(k == len, "line of %zu bytes differs at %zu", len, k);
    }
    assert_ours(line, "getline buffer");
    free(line);
    fclose(f);
}
END_TEST

START_TEST(strdup_strndup)
{
    enum { N = 2000 };
    char src[600];
    char *v[N];
    for (int i = 0; i < N; i++) {
        size_t len = (size_t)(i * 37) % (sizeof src - 1);
        memset(src, 'a' + i % 26, len);
        src[len] = 0;
        v[i] = i % 2 ? strdup(src) : strndup(src, len / 2 + 1);
        assert_ours(v[i], "strdup");
    }
    for (int i = 0; i < N; i++) {
        size_t len = (size_t)(i * 37) % (sizeof src - 1);
        size_t want = i % 2 ? len : (len < len / 2 + 1 ? len : len / 2 + 1);
        ck_assert_uint_eq(strlen(v[i]), want);
        size_t k = 0;
        while (k < want && v[i][k] == 'a' + i % 26)
            k++;
        ck_assert_uint_eq(k, want);
        free(v[i]);
    }
}
END_TEST

static int cmp_u32(const void *a, const void *b)
{
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    return (x > y) - (x < y);
}

START_TEST(qsort_big)
{
    /* Big enough that glibc's merge sort takes its buffer from malloc. */
    enum { N = 1 << 20 };
    uint32_t *v = malloc(N * sizeof *v);
    ck_assert_ptr_nonnull(v);
    uint32_t x = 12345;
    for (int i = 0; i < N; i++)
        v[i] = x = x * 1103515245u + 12345u;
    qsort(v, N, sizeof *v, cmp_u32);
    int sorted = 1;
    for (int i = 1; i < N; i++)
        sorted &= v[i - 1] <= v[i];
    ck_assert(sorted);
    free(v);
    ck_assert_int_eq(cistern_check_heap(), 0);
}
END_TEST

START_TEST(asprintf_sizes)
{
    char *big = malloc(100001);
    ck_assert_ptr_nonnull(big);
    memset(big, 'x', 100000);
    big[100000] = 0;
    for (int i = 0; i < 200; i++) {
        char *s = NULL;
        int n = asprintf(&s, "%d:%.*s:%g", i, i * 500, big, i / 3.0);
        ck_assert_int_gt(n, 0);
        assert_ours(s, "asprintf");
        ck_assert_uint_eq(strlen(s), (size_t)n);
        free(s);
    }
    free(big);
}
END_TEST

START_TEST(memstream_growth)
{
    char *buf = NULL;
    size_t size = 0;
    FILE *f = open_memstream(&buf, &size);
    ck_assert_ptr_nonnull(f);
    for (int i = 0; i < 100000; i++)
        fprintf(f, "%05d,", i % 100000);
    ck_assert_int_eq(fclose(f), 0);
    ck_assert_uint_eq(size, 600000);
    assert_ours(buf, "open_memstream buffer");
    ck_assert(memcmp(buf, "00000,00001,", 12) == 0);
    ck_assert(memcmp(buf + size - 6, "99999,", 6) == 0);
    free(buf);
}
END_TEST

START_TEST(stdio_files)
{
    char path[] = "/tmp/cistern-api-XXXXXX";
    int fd = mkstemp(path);
    ck_assert_int_ge(fd, 0);
    close(fd);
    for (int round = 0; round < 20; round++) {
        FILE *f = fopen(path, "w");
        ck_assert_ptr_nonnull(f);
        for (int i = 0; i < 1000; i++)
            fprintf(f, "%d %s\n", i * round, "line");
        ck_assert_int_eq(fclose(f), 0);
        f = fopen(path, "r");
        ck_assert_ptr_nonnull(f);
        int v, i = 0;
        char word[8];
        while (fscanf(f, "%d %7s", &v, word) == 2) {
            ck_assert_int_eq(v, i * round);
            i++;
        }
        ck_assert_int_eq(i, 1000);
        ck_assert_int_eq(fclose(f), 0);
    }
    unlink(path);
}
END_TEST

START_TEST(dlopen_libm)
{
    for (int i = 0; i < 20; i++) {
        void *h = dlopen("libm.so.6", RTLD_NOW | RTLD_LOCAL);
        ck_assert_msg(h != NULL, "dlopen: %s", dlerror());
        double (*cosine)(double) = (double (*)(double))dlsym(h, "cos");
        ck_assert_ptr_nonnull(cosine);
        ck_assert(cosine(0.0) == 1.0);
        ck_assert_int_eq(dlclose(h), 0);
    }
    /* dlerror's message is built with malloc inside libc. */
    ck_assert_ptr_null(dlopen("libcistern-does-not-exist.so.0", RTLD_NOW));
    ck_assert_ptr_nonnull(dlerror());
    ck_assert_int_eq(cistern_check_heap(), 0);
}
END_TEST

static void *thread_work(void *arg)
{
    uintptr_t id = (uintptr_t)arg;
    void *keep = NULL;
    for (int i = 0; i < 2000; i++) {
        size_t n = 1 + (size_t)((i * 131 + id * 7) % 5000);
        void *p = malloc(n);
        if (!p)
            return NULL;
        test_fill(p, n, (uint32_t)(id + i));
        if (!test_check(p, n, (uint32_t)(id + i)))
            return NULL;
        free(keep);
        keep = p;
    }
    return keep; /* freed by the joining thread */
}

START_TEST(threads_create_join)
{
    enum { T = 16 };
    pthread_t t[T];
    for (uintptr_t i = 0; i < T; i++)
        ck_assert_int_eq(pthread_create(&t[i], NULL, thread_work, (void *)i), 0);
    for (int i = 0; i < T; i++) {
        void *r = NULL;
        ck_assert_int_eq(pthread_join(t[i], &r), 0);
        assert_ours(r, "thread's last block");
        free(r);
    }
    ck_assert_int_eq(cistern_check_heap(), 0);
}
END_TEST

START_TEST(environment_churn)
{
    char name[32], value[300];
    for (int i = 0; i < 3000; i++) {
        snprintf(name, sizeof name, "CS_API_TEST_%d", i % 50);
        size_t len = (size_t)(i * 7) % (sizeof value - 1);
        memset(value, 'A' + i % 26, len);
        value[len] = 0;
        ck_assert_int_eq(setenv(name, value, 1), 0);
        const char *got = getenv(name);
        ck_assert_ptr_nonnull(got);
        ck_assert_str_eq(got, value);
        if (i % 3 == 0)
            ck_assert_int_eq(unsetenv(name), 0);
    }
    ck_assert_int_eq(cistern_check_heap(), 0);
}
END_TEST

TCase *api_tcase_glibc(void)
{
    TCase *tc = tcase_create("glibc");
    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, cistern_is_malloc);
    tcase_add_test(tc, libc_names);
    tcase_add_test(tc, getline_growth);
    tcase_add_test(tc, strdup_strndup);
    tcase_add_test(tc, qsort_big);
    tcase_add_test(tc, asprintf_sizes);
    tcase_add_test(tc, memstream_growth);
    tcase_add_test(tc, stdio_files);
    tcase_add_test(tc, dlopen_libm);
    tcase_add_test(tc, threads_create_join);
    tcase_add_test(tc, environment_churn);
    return tc;
}
