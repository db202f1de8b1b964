/* alignment: every malloc result is 16-byte aligned (all sizes 0..70000 and a
 * few huge ones); aligned_alloc / memalign / posix_memalign honour alignments
 * 16 B .. 2 MiB for many sizes (blocks usable, disjoint and freeable);
 * small alignments still give 16; valloc is page aligned; pvalloc is page
 * aligned with usable size >= the size rounded up to a page. */
#include "common.h"

static void test_malloc_all_sizes(void)
{
    enum { RING = 64 };
    struct {
        unsigned char *p;
        size_t n;
    } ring[RING] = {{0}};
    for (size_t n = 0; n <= 70000; n++) {
        size_t slot = n % RING;
        if (ring[slot].p) {
            size_t m = ring[slot].n;
            if (m) {
                CHECK(ring[slot].p[0] == (unsigned char)m && (m == 1 || ring[slot].p[m - 1] == (unsigned char)(m >> 3)),
                      "malloc(%zu) block %p: first/last byte overwritten", m, (void *)ring[slot].p);
            }
            free(ring[slot].p);
        }
        unsigned char *p = malloc(opaque_size(n));
        CHECK(p != NULL, "malloc(%zu) returned NULL", n);
        CHECK(is_aligned(p, MIN_ALIGN), "malloc(%zu) returned %p: not %zu-byte aligned", n, (void *)p, MIN_ALIGN);
        CHECK(malloc_usable_size(p) >= n, "malloc_usable_size(malloc(%zu)) = %zu", n, malloc_usable_size(p));
        if (n) {
            p[n - 1] = (unsigned char)(n >> 3);
            p[0] = (unsigned char)n;
        }
        ring[slot].p = p;
        ring[slot].n = n;
    }
    for (size_t i = 0; i < RING; i++)
        free(ring[i].p);

    /* the same through calloc and realloc, fewer sizes */
    for (size_t n = 0; n <= 70000; n += 7) {
        void *p = calloc(1, opaque_size(n));
        CHECK(p && is_aligned(p, MIN_ALIGN), "calloc(1, %zu) returned %p", n, p);
        void *q = realloc(p, opaque_size(n + 13));
        CHECK(q && is_aligned(q, MIN_ALIGN), "realloc(%zu -> %zu) returned %p", n, n + 13, q);
        free(q);
    }

    static const size_t huge[] = {(size_t)1 << 22,       ((size_t)1 << 24) + 1, ((size_t)1 << 26) + 12345,
                                  ((size_t)1 << 28) + 3, (size_t)1 << 30,       ((size_t)3 << 29) + 17};
    for (size_t k = 0; k < sizeof huge / sizeof huge[0]; k++) {
        unsigned char *p = malloc(opaque_size(huge[k]));
        CHECK(p != NULL, "malloc(%zu) returned NULL", huge[k]);
        CHECK(is_aligned(p, MIN_ALIGN), "malloc(%zu) returned %p: not %zu-byte aligned", huge[k], (void *)p, MIN_ALIGN);
        CHECK(malloc_usable_size(p) >= huge[k], "malloc_usable_size(malloc(%zu)) = %zu", huge[k],
              malloc_usable_size(p));
        p[0] = 1;
        p[huge[k] / 2] = 2;
        p[huge[k] - 1] = 3;
        free(p);
    }
}

enum { F_ALIGNED_ALLOC, F_MEMALIGN, F_POSIX_MEMALIGN, NFUNCS };
static const char *const fname[NFUNCS] = {"aligned_alloc", "memalign", "posix_memalign"};

static void *alloc_with(int f, size_t align, size_t n)
{
    switch (f) {
    case F_ALIGNED_ALLOC:
        return aligned_alloc(align, opaque_size(n));
    case F_MEMALIGN:
        return memalign(align, opaque_size(n));
    default: {
        void *p = NULL;
        int r = posix_memalign(&p, align, opaque_size(n));
        CHECK(r == 0, "posix_memalign(%zu, %zu) returned %d", align, n, r);
        return p;
    }
    }
}

static void test_aligned_functions(void)
{
    static const size_t sizes[] = {1,     7,     16,    24,     100,     1000,      1024,
                                   4095,  4096,  4097,  16384,  65535,   65536,     65537,
                                   200000, 1 << 20, (1 << 21) + 1, 3 << 20};
    enum { NS = sizeof sizes / sizeof sizes[0] };
    static struct {
        unsigned char *p;
        size_t n;
        uint32_t seed;
    } live[NFUNCS][NS];
    int have_fas = !foreign_allocator() && HAVE_SYM(free_aligned_sized);

    for (size_t align = 16; align <= ((size_t)2 << 20); align <<= 1) {
        for (int f = 0; f < NFUNCS; f++)
            for (size_t s = 0; s < NS; s++) {
                size_t n = sizes[s];
                unsigned char *p = alloc_with(f, align, n);
                CHECK(p != NULL, "%s(%zu, %zu) returned NULL", fname[f], align, n);
                CHECK(is_aligned(p, align), "%s(%zu, %zu) returned %p: misaligned", fname[f], align, n,
                      (void *)p);
                CHECK(malloc_usable_size(p) >= n, "malloc_usable_size(%s(%zu, %zu)) = %zu", fname[f],
                      align, n, malloc_usable_size(p));
                uint32_t seed = (uint32_t)(align * 3 + (size_t)f * 101 + s * 7);
                pat_fill(p, n, seed);
                live[f][s].p = p;
                live[f][s].n = n;
                live[f][s].seed = seed;
            }
        /* all blocks live at once: none overlapped another */
        for (int f = 0; f < NFUNCS; f++)
            for (size_t s = 0; s < NS; s++) {
                PAT_CHECK(live[f][s].p, live[f][s].n, live[f][s].seed, "%s(%zu, %zu) block", fname[f],
                          align, live[f][s].n);
                if (f == F_ALIGNED_ALLOC && have_fas && (s & 1))
                    free_aligned_sized(live[f][s].p, align, live[f][s].n);
                else
                    free(live[f][s].p);
            }
    }

    /* alignments below 16 are accepted and still give 16-byte alignment */
    static const size_t small_aligns[] = {1, 2, 4, 8};
    for (size_t a = 0; a < 4; a++)
        for (size_t s = 0; s < NS; s++) {
            size_t al = small_aligns[a];
            void *p = memalign(al, sizes[s]);
            CHECK(p && is_aligned(p, MIN_ALIGN), "memalign(%zu, %zu) returned %p", al, sizes[s], p);
            memset(p, 1, sizes[s]);
            free(p);
            p = aligned_alloc(al, sizes[s]);
            CHECK(p && is_aligned(p, MIN_ALIGN), "aligned_alloc(%zu, %zu) returned %p", al, sizes[s], p);
            memset(p, 2, sizes[s]);
            free(p);
            if (al == 8) {
                p = NULL;
                int r = posix_memalign(&p, al, sizes[s]);
                CHECK(r == 0 && p && is_aligned(p, MIN_ALIGN), "posix_memalign(8, %zu) -> %d %p", sizes[s], r, p);
                memset(p, 3, sizes[s]);
                free(p);
            }
        }

    /* many small aligned blocks interleaved with plain ones (fragmented heap) */
    enum { M = 3000 };
    static void *v[M];
    static size_t vn[M];
    for (int i = 0; i < M; i++) {
        size_t al = (size_t)16 << (i % 9); /* 16 .. 4096 */
        vn[i] = (size_t)(i % 13) * 24 + 1;
        v[i] = (i % 3) ? memalign(al, vn[i]) : malloc(vn[i]);
        CHECK(v[i] && is_aligned(v[i], (i % 3) ? al : MIN_ALIGN), "block %d (align %zu) = %p", i, al, v[i]);
        pat_fill(v[i], vn[i], (uint32_t)i);
        if (i % 5 == 4) {
            free(v[i - 2]);
            v[i - 2] = NULL;
        }
    }
    for (int i = 0; i < M; i++)
        if (v[i]) {
            PAT_CHECK(v[i], vn[i], (uint32_t)i, "interleaved aligned block %d", i);
            free(v[i]);
        }
}

static void test_valloc_pvalloc(void)
{
    size_t ps = page_size();
    static const size_t sizes[] = {0, 1, 100, 4095, 4096, 4097, 8191, 12288, 65536, 100000, 1 << 20, (1 << 20) + 5};
    for (int round = 0; round < 3; round++)
        for (size_t s = 0; s < sizeof sizes / sizeof sizes[0]; s++) {
            size_t n = sizes[s];
            unsigned char *p = valloc(opaque_size(n));
            CHECK(p != NULL, "valloc(%zu) returned NULL", n);
            CHECK(is_aligned(p, ps), "valloc(%zu) returned %p: not page aligned", n, (void *)p);
            CHECK(malloc_usable_size(p) >= n, "usable size of valloc(%zu) = %zu", n, malloc_usable_size(p));
            pat_fill(p, n, 11);

            unsigned char *q = pvalloc(opaque_size(n));
            CHECK(q != NULL, "pvalloc(%zu) returned NULL", n);
            CHECK(is_aligned(q, ps), "pvalloc(%zu) returned %p: not page aligned", n, (void *)q);
            size_t rounded = (n + ps - 1) & ~(ps - 1);
            size_t u = malloc_usable_size(q);
            CHECK(u >= rounded, "malloc_usable_size(pvalloc(%zu)) = %zu < %zu (rounded up to a page)", n, u,
                  rounded);
            pat_fill(q, rounded, 12);
            PAT_CHECK(p, n, 11, "valloc(%zu) block after pvalloc", n);
            PAT_CHECK(q, rounded, 12, "pvalloc(%zu) block", n);
            free(p);
            free(q);
        }
}

int main(void)
{
    test_malloc_all_sizes();
    test_aligned_functions();
    test_valloc_pvalloc();
    printf("alignment: ok\n");
    return 0;
}
