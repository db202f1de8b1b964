/* stress_realloc_align:
 *
 *   1. Realloc chains: CHAINS blocks live at once, each grown and shrunk by
 *      realloc through sizes 1 B .. 8 MiB, crossing the tier boundaries
 *      (1024 B Tiny/Mid, 64 KiB Mid/Large) often: the next size is a random
 *      step in log space, or a size within +-64 bytes of a boundary.  After
 *      every realloc the kept prefix must be intact and
 *      malloc_usable_size >= the size; the new tail is then filled.  Now and
 *      then realloc(NULL, n) starts a chain, realloc(p, 0)/free ends one.
 *   2. Aligned allocations: for every power of two from 16 B to 2 MiB, blocks
 *      of random sizes (0 .. 4 x the alignment, and small ones) from
 *      posix_memalign, aligned_alloc and memalign: the pointer must be aligned,
 *      malloc_usable_size(p) >= size, and all usable bytes must be writable
 *      (the whole usable area is filled and checked before free).  Blocks are
 *      kept in a window and freed in random order, some realloc'd first.
 *
 *   stress_realloc_align [SCALE]   chain steps = 40000 * SCALE,
 *                                  aligned blocks per alignment = 300 * SCALE
 */
#include "stress.h"

#define MiB ((size_t)1 << 20)
static const size_t MAXSZ = 8 * MiB;
static const size_t boundaries[] = {1024, 65536};

static size_t next_size(rng_t *r, size_t cur)
{
    switch (rng_below(r, 16)) {
    case 0:
    case 1:
    case 2:
    case 3:
    case 4:
    case 5: { /* near a tier boundary */
        size_t b = boundaries[rng_below(r, 2)];
        return b - 64 + (size_t)rng_below(r, 129);
    }
    case 6: /* anywhere */
        return rng_log_size(r, 1, MAXSZ);
    case 7:
    case 8:
    case 9: /* a little change, both directions */
        if (cur > 32 && rng_below(r, 2))
            return cur - 1 - (size_t)rng_below(r, cur / 8 + 1);
        return cur + 1 + (size_t)rng_below(r, cur / 8 + 1);
    default: { /* a step of up to x/÷ 16; big blocks rather shrink */
        int shift = 1 + (int)rng_below(r, 4);
        int grow = cur > MiB ? rng_below(r, 4) == 0 : rng_below(r, 2) == 0;
        size_t n = grow ? cur << shift : cur >> shift;
        n += (size_t)rng_below(r, 64);
        if (n < 1)
            n = 1;
        return n > MAXSZ ? MAXSZ - (size_t)rng_below(r, 4096) : n;
    }
    }
}

static void check_usable(void *p, size_t n, const char *what)
{
    size_t u = malloc_usable_size(p);
    CHECK(u >= n, "%s: malloc_usable_size(%p) = %zu < requested %zu", what, p, u, n);
}

static void realloc_chains(long scale, uint64_t seed)
{
    enum { CHAINS = 24 };
    rng_t r;
    rng_seed(&r, seed);
    struct {
        void *p;
        size_t n;
        uint32_t seed;
    } c[CHAINS] = {{0}};
    long steps = 40000 * scale, crossings = 0, moved = 0;
    double sum_sizes = 0;
    double t0 = now_sec();
    for (long s = 0; s < steps; s++) {
        int i = (int)rng_below(&r, CHAINS);
        if (!c[i].p) {
            size_t n = next_size(&r, 64);
            c[i].seed = (uint32_t)rng_next(&r);
            c[i].p = realloc(NULL, n);
            CHECK(c[i].p, "realloc(NULL, %zu) returned NULL", n);
            CHECK(is_aligned(c[i].p, MIN_ALIGN), "realloc(NULL, %zu) = %p misaligned", n, c[i].p);
            check_usable(c[i].p, n, "realloc(NULL)");
            c[i].n = n;
            pat_fill(c[i].p, n, c[i].seed);
            continue;
        }
        sum_sizes += (double)c[i].n;
        /* The whole block before the realloc when it is small (or now and
         * then), else its first and last 4 KiB; the kept prefix is checked
         * in full after the realloc anyway. */
        if (c[i].n <= 256 * 1024 || rng_below(&r, 8) == 0) {
            PAT_CHECK(c[i].p, c[i].n, c[i].seed, "chain %d before realloc", i);
        } else {
            size_t bad = pat_find_bad_range(c[i].p, 0, 4096, c[i].seed);
            if (bad == (size_t)-1)
                bad = pat_find_bad_range(c[i].p, c[i].n - 4096, c[i].n, c[i].seed);
            CHECK(bad == (size_t)-1, "chain %d before realloc: block %p of %zu bytes corrupted at "
                  "byte %zu", i, c[i].p, c[i].n, bad);
        }
        uint64_t x = rng_below(&r, 200);
        if (x == 0) {
            free(c[i].p);
            c[i].p = NULL;
            continue;
        }
        if (x == 1) {
            errno = 0;
            void *z = realloc(c[i].p, 0);
            /* glibc and hakmem: frees and returns NULL; accept a unique
             * minimal block too (what other allocators do) */
            if (z)
                free(z);
            c[i].p = NULL;
            continue;
        }
        size_t m = next_size(&r, c[i].n);
        void *q = realloc(c[i].p, m);
        CHECK(q, "realloc(%p, %zu -> %zu) returned NULL", c[i].p, c[i].n, m);
        CHECK(is_aligned(q, MIN_ALIGN), "realloc(%zu -> %zu) = %p misaligned", c[i].n, m, q);
        size_t keep = c[i].n < m ? c[i].n : m;
        PAT_CHECK(q, keep, c[i].seed, "chain %d after realloc %zu -> %zu (%s)", i, c[i].n, m,
                  q == c[i].p ? "in place" : "moved");
        check_usable(q, m, "realloc");
        for (size_t b = 0; b < 2; b++)
            if ((c[i].n <= boundaries[b]) != (m <= boundaries[b]))
                crossings++;
        moved += q != c[i].p;
        pat_fill_range(q, keep, m, c[i].seed);
        c[i].p = q;
        c[i].n = m;
    }
    for (int i = 0; i < CHAINS; i++) {
        if (c[i].p) {
            PAT_CHECK(c[i].p, c[i].n, c[i].seed, "chain %d at the end", i);
            free(c[i].p);
        }
    }
    printf("realloc chains: %ld steps, %ld tier crossings, %ld moves, average size %.0f B, "
           "%.2f s\n", steps, crossings, moved, sum_sizes / (double)steps, now_sec() - t0);
}

typedef struct {
    void *p;
    size_t n, usable, align;
    uint32_t seed;
} ablock;

static void free_aligned(rng_t *r, ablock *b)
{
    PAT_CHECK(b->p, b->usable, b->seed, "aligned block (align %zu, size %zu, usable %zu)", b->align,
              b->n, b->usable);
    CHECK(malloc_usable_size(b->p) == b->usable, "malloc_usable_size(%p) changed from %zu to %zu",
          b->p, b->usable, malloc_usable_size(b->p));
    if (rng_below(r, 6) == 0) {
        size_t m = rng_log_size(r, 1, 300000);
        void *q = realloc(b->p, m);
        CHECK(q, "realloc(aligned block, %zu) returned NULL", m);
        PAT_CHECK(q, b->usable < m ? b->usable : m, b->seed,
                  "aligned block (align %zu) realloc'd %zu -> %zu", b->align, b->usable, m);
        b->p = q;
    }
    free(b->p);
    b->p = NULL;
}

static void aligned(long scale, uint64_t seed)
{
    enum { WIN = 48 };
    rng_t r;
    rng_seed(&r, seed);
    ablock w[WIN];
    memset(w, 0, sizeof w);
    long per = 300 * scale, count = 0;
    size_t usable_bytes = 0;
    for (size_t align = 16; align <= 2 * MiB; align <<= 1) {
        /* big alignments cost a big mapping each: fewer of them */
        long n_this = align >= 256 * 1024 ? per / 4 : per;
        for (long k = 0; k < n_this; k++) {
            size_t n;
            switch (rng_below(&r, 4)) {
            case 0:
                n = (size_t)rng_below(&r, 64); /* tiny, 0 included */
                break;
            case 1:
                n = align * (1 + (size_t)rng_below(&r, 4)); /* a multiple */
                break;
            default:
                n = (size_t)rng_below(&r, 4 * align + 1);
            }
            if (n > 4 * MiB + 12345)
                n = 4 * MiB + (size_t)rng_below(&r, 12345);
            void *p = NULL;
            const char *fn;
            switch (k % 3) {
            case 0: {
                fn = "posix_memalign";
                int rc = posix_memalign(&p, align, n);
                CHECK(rc == 0, "posix_memalign(%zu, %zu) returned %d", align, n, rc);
                break;
            }
            case 1:
                fn = "aligned_alloc";
                p = aligned_alloc(align, n);
                break;
            default:
                fn = "memalign";
                p = memalign(align, n);
            }
            CHECK(p, "%s(%zu, %zu) returned NULL (errno %d)", fn, align, n, errno);
            CHECK(is_aligned(p, align), "%s(%zu, %zu) = %p is not aligned", fn, align, n, p);
            size_t u = malloc_usable_size(p);
            CHECK(u >= n, "%s(%zu, %zu) = %p: malloc_usable_size %zu < size", fn, align, n, p, u);
            CHECK(u < n + 64 * MiB, "%s(%zu, %zu): malloc_usable_size %zu is absurd", fn, align, n, u);
            uint32_t s = (uint32_t)rng_next(&r);
            pat_fill(p, u, s); /* every usable byte is writable */
            usable_bytes += u;
            int slot = (int)rng_below(&r, WIN);
            if (w[slot].p)
                free_aligned(&r, &w[slot]);
            w[slot] = (ablock){p, n, u, align, s};
            count++;
        }
    }
    for (int i = 0; i < WIN; i++)
        if (w[i].p)
            free_aligned(&r, &w[i]);
    printf("aligned: %ld blocks, alignments 16 B .. 2 MiB, %zu MiB usable written\n", count,
           usable_bytes >> 20);
}

int main(int argc, char **argv)
{
    long scale = stress_scale(argc, argv);
    uint64_t seed = test_seed(99);
    double t0 = now_sec();
    realloc_chains(scale, seed);
    aligned(scale, seed + 1);
    printf("stress_realloc_align: ok seconds=%.2f\n", now_sec() - t0);
    return 0;
}
