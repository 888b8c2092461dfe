/*
 * test_meta.c - the metadata allocator: block sizes between the powers of
 * two, alignment, reuse of freed blocks (zeroed again), and freed big blocks
 * giving their pages back to the OS.
 */
#include "unit.h"
#include "meta.h"

#include <sys/mman.h>

static size_t page_size(void)
{
    return (size_t)sysconf(_SC_PAGESIZE);
}


/* A block never wastes more than a third of itself past 128 bytes (two
   sizes per doubling), and a span record or a thread-cache record takes
   the size just above it, not the next power of two. */
START_TEST(block_sizes_between_powers_of_two)
{
    unit_init();
    ck_assert_uint_eq(cs_meta_block_size(1), 16);
    ck_assert_uint_eq(cs_meta_block_size(16), 16);
    ck_assert_uint_eq(cs_meta_block_size(17), 32);
    ck_assert_uint_eq(cs_meta_block_size(128), 128);
    ck_assert_uint_eq(cs_meta_block_size(129), 192);
    ck_assert_uint_eq(cs_meta_block_size(193), 256);
    ck_assert_uint_eq(cs_meta_block_size(376), 384);
    ck_assert_uint_eq(cs_meta_block_size(38656), 49152);
    ck_assert_uint_eq(cs_meta_block_size(65536), 65536);
    /* A span record fits a 256-byte block exactly: every span of every
       arena pays for it, and NOTOUCH's released bits live apart. */
    ck_assert_uint_le(sizeof(struct cs_span), 256);
    ck_assert_uint_le(cs_meta_block_size(sizeof(struct cs_span)), 256);
    for (size_t n = 1; n <= 65536; n++) {
        size_t b = cs_meta_block_size(n);
        ck_assert_msg(b >= n, "%zu bytes get a block of %zu", n, b);
        if (n > 128)
            ck_assert_msg(b * 2 <= n * 3 + 2, "%zu bytes get a block of %zu", n, b);
        if (b >= 64)
            ck_assert_msg(b % 64 == 0, "block of %zu bytes is not a multiple of 64", b);
    }
}
END_TEST

/* Blocks of 64 bytes and more are 64-byte aligned, smaller ones 16, and
   the bytes counted in use follow the block sizes. */
START_TEST(alignment_and_in_use)
{
    unit_init();
    static const size_t sizes[] = { 8, 24, 48, 100, 160, 200, 376, 700, 1040, 3000, 7072, 20000, 38656 };
    enum { NS = sizeof sizes / sizeof sizes[0], REP = 5 };
    void *p[NS][REP];
    struct cs_meta_stats before, during, after;
    cs_meta_get_stats(&before);
    size_t total = 0;
    for (int r = 0; r < REP; r++)
        for (int i = 0; i < NS; i++) {
            p[i][r] = cs_meta_alloc(sizes[i]);
            ck_assert_ptr_nonnull(p[i][r]);
            size_t align = sizes[i] >= 64 ? 64 : 16;
            ck_assert_msg((uintptr_t)p[i][r] % align == 0, "%zu-byte block at %p", sizes[i],
                          p[i][r]);
            total += cs_meta_block_size(sizes[i]);
            memset(p[i][r], 0x5a, sizes[i]);
        }
    cs_meta_get_stats(&during);
    ck_assert_uint_eq(during.in_use - before.in_use, total);
    for (int r = 0; r < REP; r++)
        for (int i = 0; i < NS; i++)
            cs_meta_free(p[i][r], sizes[i]);
    cs_meta_get_stats(&after);
    ck_assert_uint_eq(after.in_use, before.in_use);
}
END_TEST

/* A freed block is the next one handed out for its size, zeroed again. */
START_TEST(freed_block_reused_zeroed)
{
    unit_init();
    static const size_t sizes[] = { 16, 376, 1040, 7072, 38656 };
    for (unsigned i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
        size_t n = sizes[i];
        unsigned char *a = cs_meta_alloc(n);
        ck_assert_ptr_nonnull(a);
        memset(a, 0xff, n);
        cs_meta_free(a, n);
        unsigned char *b = cs_meta_alloc(n);
        ck_assert_ptr_eq(a, b);
        for (size_t k = 0; k < cs_meta_block_size(n); k++)
            ck_assert_msg(b[k] == 0, "byte %zu of a reused %zu-byte block is %u", k, n, b[k]);
        cs_meta_free(b, n);
    }
}
END_TEST

/* A freed thread-cache-sized block keeps at most the page holding its link
   resident: the rest goes back to the OS, the free bytes counted as maybe
   resident are that page's share only, and the block comes back zeroed. */
START_TEST(freed_big_block_gives_pages_back)
{
    unit_init();
    size_t pg = page_size();
    const size_t n = 38656, bsize = cs_meta_block_size(n);
    if (bsize < 3 * pg)
        return; /* pages too big for a block to hold whole ones past its first */
    struct cs_meta_stats s0, s1;
    unsigned char *a = cs_meta_alloc(n);
    ck_assert_ptr_nonnull(a);
    memset(a, 0xab, bsize);
    long resident = test_resident_pages(a, bsize);
    if (resident >= 0)
        ck_assert_int_ge(resident, (long)(bsize / pg));
    else
        printf("# mincore unavailable: residency not checked\n");
    cs_meta_get_stats(&s0);
    cs_meta_free(a, n);
    cs_meta_get_stats(&s1);
    ck_assert_uint_le(s1.free_dirty - s0.free_dirty, pg);
    /* At most the partial pages at either end stay. */
    if (resident >= 0)
        ck_assert_int_le(test_resident_pages(a, bsize), 2);
    unsigned char *b = cs_meta_alloc(n);
    ck_assert_ptr_eq(a, b);
    for (size_t k = 0; k < bsize; k++)
        ck_assert_msg(b[k] == 0, "byte %zu of a reused purged block is %u", k, b[k]);
    cs_meta_free(b, n);
}
END_TEST

static Suite *make_suite(void)
{
    Suite *s = suite_create("meta");
    TCase *tc = tcase_create("meta");
    tcase_set_timeout(tc, 20);
    tcase_add_test(tc, block_sizes_between_powers_of_two);
    tcase_add_test(tc, alignment_and_in_use);
    tcase_add_test(tc, freed_block_reused_zeroed);
    tcase_add_test(tc, freed_big_block_gives_pages_back);
    suite_add_tcase(s, tc);
    return s;
}

CS_TEST_MAIN(make_suite)
