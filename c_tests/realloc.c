/* realloc: realloc(NULL, n) behaves as malloc; realloc(p, 0) frees p and
 * returns NULL (glibc); contents are preserved when growing and shrinking
 * across every pair of sizes around the tier boundaries (1 B .. 4 MiB), in
 * chains, between interleaved live blocks, for aligned blocks, for a large
 * block whose mapping the program split (which the kernel's mremap cannot
 * move), and the result stays 16-byte aligned. */
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common.h"

static const size_t bsizes[] = {
    1,      8,      15,     16,      17,      24,      32,         48,      64,      100,
    128,    256,    512,    1000,    1023,    1024,    1025,       2048,    4095,    4096,
    4097,   8192,   16384,  32768,   65535,   65536,   65537,      131072,  262144,  262145,
    524288, 1048575, 1048576, 1048577, 2097152, 3145728, 4194304 - 1, 4194304};
enum { NB = sizeof bsizes / sizeof bsizes[0] };

static void test_realloc_null(void)
{
    for (size_t k = 0; k < NB; k++) {
        size_t n = bsizes[k];
        unsigned char *p = realloc(opaque_ptr(NULL), opaque_size(n));
        CHECK(p != NULL, "realloc(NULL, %zu) returned NULL", n);
        CHECK(is_aligned(p, MIN_ALIGN), "realloc(NULL, %zu) returned %p", n, (void *)p);
        CHECK(malloc_usable_size(p) >= n, "usable size of realloc(NULL, %zu) = %zu", n, malloc_usable_size(p));
        pat_fill(p, n, (uint32_t)k);
        PAT_CHECK(p, n, (uint32_t)k, "realloc(NULL, %zu)", n);
        free(p);
    }
}

static long max_rss_kib(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return ru.ru_maxrss;
}

static void test_realloc_zero_frees(void)
{
    /* realloc(p, 0) returns NULL and frees p: doing it many times on touched
     * 1 MiB / 64 KiB / small blocks must not grow the process. */
    long before = max_rss_kib();
    static const size_t sizes[] = {24, 4000, 65536, 1 << 20};
    for (size_t k = 0; k < sizeof sizes / sizeof sizes[0]; k++) {
        size_t n = sizes[k];
        int iters = n >= (1 << 20) ? 1500 : n >= 65536 ? 8000 : 40000;
        for (int i = 0; i < iters; i++) {
            unsigned char *p = malloc(opaque_size(n));
            CHECK(p != NULL, "malloc(%zu)", n);
            memset(p, 0x77, n); /* touch every page */
            errno = 0;
            void *r = realloc(p, opaque_size(0));
            if (r != NULL && foreign_allocator()) {
                free(r); /* e.g. mimalloc returns a new minimal block */
                continue;
            }
            CHECK(r == NULL, "realloc(p of %zu, 0) returned %p, want NULL (glibc frees p)", n, r);
        }
    }
    long grown = max_rss_kib() - before;
    /* 1500 leaked MiB blocks alone would be 1.5 GiB */
    CHECK(grown < 200 * 1024, "RSS grew by %ld KiB: realloc(p, 0) does not free p", grown);
}

static void test_all_pairs(void)
{
    for (size_t a = 0; a < NB; a++)
        for (size_t b = 0; b < NB; b++) {
            size_t na = bsizes[a], nb = bsizes[b];
            uint32_t seed = (uint32_t)(a * 131 + b);
            unsigned char *p = malloc(na);
            CHECK(p, "malloc(%zu)", na);
            pat_fill(p, na, seed);
            unsigned char *q = realloc(p, opaque_size(nb));
            CHECK(q != NULL, "realloc(%zu -> %zu) returned NULL", na, nb);
            CHECK(is_aligned(q, MIN_ALIGN), "realloc(%zu -> %zu) returned %p", na, nb, (void *)q);
            CHECK(malloc_usable_size(q) >= nb, "usable size after realloc(%zu -> %zu) = %zu", na, nb,
                  malloc_usable_size(q));
            size_t keep = na < nb ? na : nb;
            PAT_CHECK(q, keep, seed, "realloc(%zu -> %zu) lost contents", na, nb);
            /* the whole new size is usable */
            if (nb > na) {
                memset(q + na, 0xee, nb - na);
                PAT_CHECK(q, na, seed, "realloc(%zu -> %zu): writing the tail clobbered the head", na, nb);
            }
            free(q);
        }
}

static void test_chains(void)
{
    /* grow step by step 1 B -> 4 MiB, with a neighbour allocated after each
     * step so that in-place growth is not always possible */
    enum { MAXN = 4 << 20 };
    void *neighbours[512];
    int nn = 0;
    size_t n = 1;
    unsigned char *p = malloc(n);
    CHECK(p, "malloc(1)");
    pat_fill(p, n, 5);
    while (n < MAXN) {
        size_t m = n + n / 5 + 1 + (n & 7);
        if (m > MAXN)
            m = MAXN;
        unsigned char *q = realloc(p, m);
        CHECK(q, "realloc(%zu -> %zu)", n, m);
        PAT_CHECK(q, n, 5, "growing chain realloc(%zu -> %zu)", n, m);
        pat_fill_range(q, n, m, 5); /* continue the pattern */
        p = q;
        n = m;
        if (nn < 512 && (nn % 2 == 0 || n < 70000)) {
            neighbours[nn] = malloc(n / 4 + 1);
            CHECK(neighbours[nn], "malloc neighbour");
            memset(neighbours[nn], 0xcd, n / 4 + 1);
            nn++;
        }
    }
    PAT_CHECK(p, n, 5, "after growing chain to %zu", n);
    /* and shrink back down */
    while (n > 1) {
        size_t m = n - n / 4 - 1;
        unsigned char *q = realloc(p, m);
        CHECK(q, "realloc(%zu -> %zu)", n, m);
        PAT_CHECK(q, m, 5, "shrinking chain realloc(%zu -> %zu)", n, m);
        p = q;
        n = m;
        if (nn > 0 && (n & 1)) {
            free(neighbours[--nn]);
        }
    }
    free(p);
    while (nn > 0)
        free(neighbours[--nn]);
}

static void test_many_live(void)
{
    /* many blocks live, each realloc'ed repeatedly to random sizes */
    enum { N = 400, OPS = 60000 };
    static unsigned char *p[N];
    static size_t n[N];
    rng_t r;
    rng_seed(&r, 42);
    for (int op = 0; op < OPS; op++) {
        int i = (int)rng_below(&r, N);
        size_t m;
        uint64_t c = rng_below(&r, 100);
        if (c < 60)
            m = rng_below(&r, 1100);
        else if (c < 90)
            m = rng_below(&r, 70000);
        else if (c < 99)
            m = rng_below(&r, 300000);
        else
            m = rng_below(&r, 4u << 20);
        if (p[i])
            PAT_CHECK(p[i], n[i], (uint32_t)i, "slot %d before realloc to %zu", i, m);
        unsigned char *q = realloc(p[i], m);
        if (m == 0 && p[i] && !(q != NULL && foreign_allocator())) {
            CHECK(q == NULL, "realloc(p, 0) returned %p", (void *)q);
            p[i] = NULL;
            n[i] = 0;
            continue;
        }
        CHECK(q != NULL, "realloc(%zu -> %zu)", n[i], m);
        CHECK(is_aligned(q, MIN_ALIGN), "realloc result %p", (void *)q);
        size_t keep = n[i] < m ? n[i] : m;
        PAT_CHECK(q, keep, (uint32_t)i, "slot %d realloc %zu -> %zu", i, n[i], m);
        pat_fill_range(q, keep, m, (uint32_t)i);
        p[i] = q;
        n[i] = m;
    }
    for (int i = 0; i < N; i++) {
        if (p[i])
            PAT_CHECK(p[i], n[i], (uint32_t)i, "slot %d at end", i);
        free(p[i]);
    }
}

static void test_aligned_blocks(void)
{
    /* realloc of memalign / posix_memalign blocks keeps contents */
    static const size_t aligns[] = {32, 64, 4096, 65536, 1 << 21};
    for (size_t a = 0; a < sizeof aligns / sizeof aligns[0]; a++)
        for (size_t k = 0; k < NB; k += 3) {
            size_t na = bsizes[k], nb = bsizes[NB - 1 - k];
            unsigned char *p = memalign(aligns[a], na);
            CHECK(p && is_aligned(p, aligns[a]), "memalign(%zu, %zu) = %p", aligns[a], na, (void *)p);
            pat_fill(p, na, 8);
            unsigned char *q = realloc(p, nb);
            CHECK(q && is_aligned(q, MIN_ALIGN), "realloc of memalign block %zu -> %zu", na, nb);
            PAT_CHECK(q, na < nb ? na : nb, 8, "realloc of memalign(%zu, %zu) block to %zu", aligns[a], na, nb);
            q = realloc(q, na);
            CHECK(q, "realloc back");
            PAT_CHECK(q, na < nb ? na : nb, 8, "realloc back to %zu", na);
            free(q);
        }
}

static void test_realloc_same_size(void)
{
    for (size_t k = 0; k < NB; k++) {
        size_t n = bsizes[k];
        unsigned char *p = malloc(n);
        CHECK(p, "malloc");
        pat_fill(p, n, 2);
        for (int i = 0; i < 4; i++) {
            unsigned char *q = realloc(p, n + (size_t)(i & 1));
            CHECK(q, "realloc same size");
            PAT_CHECK(q, n, 2, "realloc(%zu -> %zu)", n, n + (size_t)(i & 1));
            p = q;
        }
        size_t u = malloc_usable_size(p);
        unsigned char *q = realloc(p, u); /* up to exactly the usable size */
        CHECK(q, "realloc to usable size %zu", u);
        PAT_CHECK(q, n, 2, "realloc(%zu -> usable %zu)", n, u);
        memset(q + n, 1, u - n);
        free(q);
    }
}

/* A large block part of which the program marked MADV_DONTFORK: its memory is
 * now two kernel mappings, which mremap refuses to grow or move. The block
 * must still grow. If realloc copied it, the old mapping keeps the attribute
 * and must not serve a later block (in a fork child that block would have a
 * hole); the program clears the attribute from the new block before it frees
 * it, as it must. (glibc reuses such memory when the block was in its brk
 * heap, so the fork check is hakmem's only.) */
static void test_split_mapping(void)
{
    for (int round = 0; round < 8; round++) {
        size_t n = (size_t)(3 + round % 4) << 20;
        unsigned char *p = malloc(n);
        CHECK(p, "malloc(%zu)", n);
        pat_fill(p, n, 5);
        uintptr_t page = ((uintptr_t)p + (1 << 20)) & ~(uintptr_t)4095;
        CHECK(madvise((void *)page, 4096, MADV_DONTFORK) == 0, "madvise(MADV_DONTFORK)");
        size_t m = n * 2 + 12345;
        unsigned char *q = realloc(p, m);
        CHECK(q, "realloc(%zu -> %zu) of a split mapping", n, m);
        PAT_CHECK(q, n, 5, "realloc of a split mapping (%zu -> %zu)", n, m);
        memset(q + n, 7, m - n);
        uintptr_t first = (uintptr_t)q & ~(uintptr_t)4095;
        uintptr_t end = ((uintptr_t)q + m + 4095) & ~(uintptr_t)4095;
        CHECK(madvise((void *)first, end - first, MADV_DOFORK) == 0, "madvise(MADV_DOFORK)");
        free(q);
    }
    if (foreign_allocator())
        return;
    fflush(NULL);
    pid_t pid = fork();
    CHECK(pid >= 0, "fork");
    if (pid == 0) {
        for (int round = 0; round < 8; round++) {
            size_t n = (size_t)(3 + round % 4) << 20;
            unsigned char *r = malloc(n);
            if (r == NULL) _exit(2);
            memset(r, 9, n); /* faults if r lies on a page the parent marked DONTFORK */
            free(r);
        }
        _exit(0);
    }
    int status = 0;
    CHECK(waitpid(pid, &status, 0) == pid, "waitpid");
    CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0,
          "fork child writing blocks of the sizes just freed failed (status %#x)", status);
}

int main(void)
{
    test_realloc_null();
    test_realloc_zero_frees();
    test_all_pairs();
    test_chains();
    test_many_live();
    test_aligned_blocks();
    test_realloc_same_size();
    test_split_mapping();
    printf("realloc: ok\n");
    return 0;
}
