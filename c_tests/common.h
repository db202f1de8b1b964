/* Shared helpers for the C behaviour tests (see scripts/test_c.sh).
 *
 * Every test is a standalone program: it exits 0 on success and non-zero
 * (after printing "FAIL file:line: ..." on stderr) as soon as a check fails.
 * Tests are compiled twice by scripts/test_c.sh: once linked with -lhakmem and
 * once plain (run under LD_PRELOAD=libhakmem.so).
 *
 * The environment variable HAK_TEST_FOREIGN=1 (set by the script when it
 * runs the tests against some other malloc, e.g. glibc or mimalloc, to
 * validate the tests themselves) relaxes the checks that only make sense for
 * hakmem: the non-standard entry points (free_sized, __libc_* aliases, ...)
 * are skipped instead of required.
 */
#ifndef HAKMEM_C_TESTS_COMMON_H
#define HAKMEM_C_TESTS_COMMON_H

#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <malloc.h>
#include <pthread.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <unistd.h>

/* Entry points that glibc's headers do not declare (or that older glibc does
 * not export at all).  Declared weak so the plain build links against any
 * libc; when the test runs on hakmem they resolve to hakmem's definitions,
 * and a missing one is reported as a failure (see HAVE_SYM). */
extern void free_sized(void *ptr, size_t size) __attribute__((weak));
extern void free_aligned_sized(void *ptr, size_t alignment, size_t size) __attribute__((weak));
extern void cfree(void *ptr) __attribute__((weak));
extern void *__libc_malloc(size_t size) __attribute__((weak));
extern void __libc_free(void *ptr) __attribute__((weak));
extern void *__libc_calloc(size_t n, size_t size) __attribute__((weak));
extern void *__libc_realloc(void *ptr, size_t size) __attribute__((weak));
extern void *__libc_memalign(size_t alignment, size_t size) __attribute__((weak));
extern void *__libc_valloc(size_t size) __attribute__((weak));
extern void *__libc_pvalloc(size_t size) __attribute__((weak));
extern int __posix_memalign(void **memptr, size_t alignment, size_t size) __attribute__((weak));

#define FAIL(...)                                                         \
    do {                                                                  \
        fflush(stdout);                                                   \
        fprintf(stderr, "FAIL %s:%d: ", __FILE__, __LINE__);              \
        fprintf(stderr, __VA_ARGS__);                                     \
        fputc('\n', stderr);                                              \
        fflush(stderr);                                                   \
        _exit(1);                                                         \
    } while (0)

#define CHECK(cond, ...)                                                  \
    do {                                                                  \
        if (!(cond)) {                                                    \
            fflush(stdout);                                               \
            fprintf(stderr, "FAIL %s:%d: check `%s` failed: ", __FILE__,  \
                    __LINE__, #cond);                                     \
            fprintf(stderr, __VA_ARGS__);                                 \
            fputc('\n', stderr);                                          \
            fflush(stderr);                                               \
            _exit(1);                                                     \
        }                                                                 \
    } while (0)

/* Prevent the compiler from reasoning about (or eliding) an allocation. */
static inline void *opaque_ptr(void *p)
{
    __asm__ volatile("" : "+r"(p) : : "memory");
    return p;
}
static inline size_t opaque_size(size_t n)
{
    __asm__ volatile("" : "+r"(n));
    return n;
}

static inline int foreign_allocator(void)
{
    const char *e = getenv("HAK_TEST_FOREIGN");
    return e && *e && strcmp(e, "0") != 0;
}

/* True when the weak symbol exists.  On hakmem (not foreign) a missing one is
 * a failure; on a foreign allocator it is skipped with a note. */
#define HAVE_SYM(f) have_sym_((void *)(uintptr_t)(f), #f, __FILE__, __LINE__)
static inline int have_sym_(void *addr, const char *name, const char *file, int line)
{
    if (addr)
        return 1;
    if (foreign_allocator()) {
        fprintf(stderr, "note: %s not available, its checks are skipped\n", name);
        return 0;
    }
    fprintf(stderr, "FAIL %s:%d: symbol %s is not exported by the allocator\n", file, line, name);
    _exit(1);
}

static inline int is_aligned(const void *p, size_t a)
{
    return ((uintptr_t)p & (a - 1)) == 0;
}

/* The guaranteed minimum alignment: 16 (glibc's).  HAK_TEST_MIN_ALIGN can
 * lower it only to validate the tests against a foreign allocator that gives
 * less (mimalloc gives 8 for blocks smaller than 16). */
static inline size_t min_align(void)
{
    static size_t a;
    if (!a) {
        const char *e = getenv("HAK_TEST_MIN_ALIGN");
        a = e && *e ? strtoul(e, NULL, 0) : 16;
    }
    return a;
}
#define MIN_ALIGN min_align()

static inline size_t page_size(void)
{
    static size_t ps;
    if (!ps)
        ps = (size_t)sysconf(_SC_PAGESIZE);
    return ps;
}

/* A live 16 KiB block at least 64 KiB past another block of its size: in hakmem, past the
 * first slab of its span (mid-size spans are several 64 KiB slabs long, and free finds such
 * blocks by another path than the first slab's). Consecutive blocks of one class fill a span
 * in address order, so the highest of 24 is far enough; the others stay allocated. */
static inline unsigned char *mid_block_past_first_slab(void)
{
    enum { N = 24, SIZE = 16384 };
    unsigned char *lo = NULL, *hi = NULL;
    for (int i = 0; i < N; i++) {
        unsigned char *b = malloc(SIZE);
        CHECK(b, "malloc(%d)", SIZE);
        memset(b, 0x5a, SIZE);
        if (!lo || b < lo) lo = b;
        if (!hi || b > hi) hi = b;
    }
    CHECK(hi - lo >= 65536, "no block past the span's first slab (%p..%p)", (void *)lo, (void *)hi);
    return hi;
}

/* Current resident set size in KiB (from /proc/self/statm), -1 if unknown. */
static inline long current_rss_kib(void)
{
    FILE *f = fopen("/proc/self/statm", "r");
    long size = 0, resident = -1;
    if (!f)
        return -1;
    if (fscanf(f, "%ld %ld", &size, &resident) != 2)
        resident = -1;
    fclose(f);
    return resident < 0 ? -1 : resident * (long)(page_size() / 1024);
}

/* For the bad_input_* tests: frees `p`, which the allocator must reject by
 * aborting. Announces the call, and reports `what` as not detected when free
 * returns; returns 3, the tests' "not detected" exit status. */
static inline int free_must_abort(void *p, const char *what)
{
    printf("freeing %p (%s); the allocator should abort\n", p, what);
    fflush(stdout);
    free(opaque_ptr(p));
    fprintf(stderr, "FAIL: %s was not detected (free returned)\n", what);
    return 3;
}

/* Sets the soft RLIMIT_AS to `bytes` (at most the hard limit). */
static inline void set_address_space_limit(size_t bytes)
{
    struct rlimit rl;
    CHECK(getrlimit(RLIMIT_AS, &rl) == 0, "getrlimit");
    rl.rlim_cur = bytes;
    if (rl.rlim_max != RLIM_INFINITY && rl.rlim_cur > rl.rlim_max)
        rl.rlim_cur = rl.rlim_max;
    CHECK(setrlimit(RLIMIT_AS, &rl) == 0, "setrlimit(RLIMIT_AS): %s", strerror(errno));
}

/* ---- deterministic byte patterns ------------------------------------- */

/* Byte i of a block tagged with seed.  Includes i>>8 and i>>16 so that a
 * copy shifted by a multiple of 256 bytes does not match. */
static inline uint8_t pat_byte(uint32_t seed, size_t i)
{
    return (uint8_t)(seed + i + (i >> 8) * 7u + (i >> 16) * 13u);
}

/* Bytes [c, c+256) for c a multiple of 256 are (k + j) for j = 0..255 with
 * k = seed + (c>>8)*7 + (c>>16)*13, i.e. a window of this ramp: fill and
 * check go through memcpy/memcmp and are fast even for 4 MiB blocks. */
static const uint8_t *pat_ramp(void)
{
    static uint8_t ramp[512];
    static int done;
    if (!done) {
        for (int i = 0; i < 512; i++)
            ramp[i] = (uint8_t)i;
        done = 1;
    }
    return ramp;
}

/* Fill bytes [from, to) of a block with its pattern. */
static inline void pat_fill_range(void *p, size_t from, size_t to, uint32_t seed)
{
    uint8_t *b = (uint8_t *)p;
    const uint8_t *ramp = pat_ramp();
    size_t i = from;
    while (i < to) {
        size_t chunk_end = (i | 255) + 1;
        if (chunk_end > to)
            chunk_end = to;
        memcpy(b + i, ramp + pat_byte(seed, i), chunk_end - i);
        i = chunk_end;
    }
}

static inline void pat_fill(void *p, size_t n, uint32_t seed)
{
    pat_fill_range(p, 0, n, seed);
}

/* Index of the first byte in [from, to) that differs from the pattern, or
 * (size_t)-1 when intact. */
static inline size_t pat_find_bad_range(const void *p, size_t from, size_t to, uint32_t seed)
{
    const uint8_t *b = (const uint8_t *)p;
    const uint8_t *ramp = pat_ramp();
    size_t i = from;
    while (i < to) {
        size_t chunk_end = (i | 255) + 1;
        if (chunk_end > to)
            chunk_end = to;
        const uint8_t *want = ramp + pat_byte(seed, i);
        if (memcmp(b + i, want, chunk_end - i) != 0) {
            for (size_t j = i; j < chunk_end; j++)
                if (b[j] != pat_byte(seed, j))
                    return j;
        }
        i = chunk_end;
    }
    return (size_t)-1;
}

static inline size_t pat_find_bad(const void *p, size_t n, uint32_t seed)
{
    return pat_find_bad_range(p, 0, n, seed);
}

#define PAT_CHECK(p, n, seed, ...)                                                    \
    do {                                                                              \
        size_t bad_ = pat_find_bad((p), (n), (seed));                                 \
        if (bad_ != (size_t)-1) {                                                     \
            fflush(stdout);                                                           \
            fprintf(stderr,                                                           \
                    "FAIL %s:%d: corrupted pattern at byte %zu of %zu (block %p, "    \
                    "seed %u, got 0x%02x want 0x%02x): ",                             \
                    __FILE__, __LINE__, bad_, (size_t)(n), (void *)(p),               \
                    (unsigned)(seed), ((const uint8_t *)(p))[bad_],                   \
                    pat_byte((seed), bad_));                                          \
            fprintf(stderr, __VA_ARGS__);                                             \
            fputc('\n', stderr);                                                      \
            fflush(stderr);                                                           \
            _exit(1);                                                                 \
        }                                                                             \
    } while (0)

/* Returns index of first non-zero byte or (size_t)-1. */
static inline size_t find_nonzero(const void *p, size_t n)
{
    const uint8_t *b = (const uint8_t *)p;
    size_t i = 0;
    for (; i < n && ((uintptr_t)(b + i) & 7); i++)
        if (b[i])
            return i;
    for (; i + 8 <= n; i += 8) {
        uint64_t w;
        memcpy(&w, b + i, 8);
        if (w) {
            for (size_t j = i; j < i + 8; j++)
                if (b[j])
                    return j;
        }
    }
    for (; i < n; i++)
        if (b[i])
            return i;
    return (size_t)-1;
}

/* ---- small fast PRNG (xorshift64*) ----------------------------------- */

typedef struct {
    uint64_t s;
} rng_t;

static inline void rng_seed(rng_t *r, uint64_t seed)
{
    r->s = seed * 0x9E3779B97F4A7C15ull + 0x1234567ull;
    if (!r->s)
        r->s = 1;
}
static inline uint64_t rng_next(rng_t *r)
{
    uint64_t x = r->s;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    r->s = x;
    return x * 0x2545F4914F6CDD1Dull;
}
/* uniform in [0, n) (n > 0) */
static inline uint64_t rng_below(rng_t *r, uint64_t n)
{
    return rng_next(r) % n;
}

/* Test seed: HAK_TEST_SEED or a fixed default, printed for reproduction. */
static inline uint64_t test_seed(uint64_t dflt)
{
    const char *e = getenv("HAK_TEST_SEED");
    uint64_t s = e && *e ? strtoull(e, NULL, 0) : dflt;
    printf("seed %llu (set HAK_TEST_SEED to change)\n", (unsigned long long)s);
    return s;
}

/* How many of the pages that hold blocks[0..n) are resident (mincore); a page no longer
 * mapped counts as not resident. */
static inline int resident_block_pages(void *const *blocks, int n)
{
    long page = sysconf(_SC_PAGESIZE);
    int resident = 0;
    for (int i = 0; i < n; i++) {
        unsigned char vec;
        uintptr_t p = (uintptr_t)blocks[i] & ~(uintptr_t)(page - 1);
        if (mincore((void *)p, (size_t)page, &vec) == 0 && (vec & 1))
            resident++;
    }
    return resident;
}

#endif
