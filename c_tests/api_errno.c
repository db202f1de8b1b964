/* api_errno: glibc-compatible results and errno for the whole malloc API:
 * malloc(0), impossible sizes -> NULL + ENOMEM, calloc/reallocarray
 * overflow, realloc failure keeps the block, posix_memalign EINVAL and errno
 * untouched on success, free preserves errno, free(NULL), free_sized,
 * free_aligned_sized, cfree, the __libc_* aliases, malloc_usable_size,
 * mallopt/malloc_trim/malloc_stats, requests beyond RAM + swap -> ENOMEM,
 * aligned_alloc with an alignment that is not a power of two -> EINVAL. */
#include "common.h"
#include <sys/sysinfo.h>

#define EXPECT_ENOMEM_NULL(expr)                                               \
    do {                                                                       \
        errno = 0;                                                             \
        void *r_ = (expr);                                                     \
        int e_ = errno;                                                        \
        CHECK(r_ == NULL, "%s returned %p, want NULL", #expr, r_);             \
        CHECK(e_ == ENOMEM, "%s set errno %d (%s), want ENOMEM", #expr, e_,    \
              strerror(e_));                                                   \
    } while (0)

static void test_malloc_zero(void)
{
    enum { N = 200 };
    void *p[N];
    for (int i = 0; i < N; i++) {
        p[i] = malloc(opaque_size(0));
        CHECK(p[i] != NULL, "malloc(0) #%d returned NULL", i);
        CHECK(is_aligned(p[i], MIN_ALIGN), "malloc(0) returned %p, not 16-aligned", p[i]);
        for (int j = 0; j < i; j++)
            CHECK(p[i] != p[j], "malloc(0) returned %p twice (#%d and #%d)", p[i], j, i);
    }
    for (int i = 0; i < N; i++)
        free(p[i]);
    /* and interleaved with real allocations */
    for (int i = 0; i < N; i++) {
        p[i] = malloc(opaque_size((size_t)(i % 2) * 24));
        CHECK(p[i] != NULL, "malloc returned NULL");
        if (i % 2)
            pat_fill(p[i], 24, (uint32_t)i);
    }
    for (int i = 0; i < N; i++) {
        for (int j = 0; j < i; j++)
            CHECK(p[i] != p[j], "pointer %p handed out twice", p[i]);
        if (i % 2)
            PAT_CHECK(p[i], 24, (uint32_t)i, "malloc(24) block next to malloc(0) blocks");
    }
    for (int i = N - 1; i >= 0; i--)
        free(p[i]);
}

static void test_huge_malloc(void)
{
    EXPECT_ENOMEM_NULL(malloc(opaque_size(SIZE_MAX)));
    EXPECT_ENOMEM_NULL(malloc(opaque_size(SIZE_MAX - 15)));
    EXPECT_ENOMEM_NULL(malloc(opaque_size(SIZE_MAX - 4096)));
    EXPECT_ENOMEM_NULL(malloc(opaque_size(PTRDIFF_MAX)));
    EXPECT_ENOMEM_NULL(malloc(opaque_size((size_t)PTRDIFF_MAX + 1)));
    EXPECT_ENOMEM_NULL(malloc(opaque_size((size_t)1 << 62)));
    EXPECT_ENOMEM_NULL(calloc(opaque_size(1), opaque_size(SIZE_MAX)));
    EXPECT_ENOMEM_NULL(calloc(opaque_size((size_t)1 << 62), opaque_size(1)));
    EXPECT_ENOMEM_NULL(realloc(NULL, opaque_size(SIZE_MAX)));
    EXPECT_ENOMEM_NULL(realloc(NULL, opaque_size((size_t)1 << 62)));
    EXPECT_ENOMEM_NULL(valloc(opaque_size(SIZE_MAX)));
    EXPECT_ENOMEM_NULL(pvalloc(opaque_size(SIZE_MAX)));
    EXPECT_ENOMEM_NULL(pvalloc(opaque_size(SIZE_MAX - 4095)));
    EXPECT_ENOMEM_NULL(memalign(64, opaque_size(SIZE_MAX - 100)));
    EXPECT_ENOMEM_NULL(memalign(4096, opaque_size((size_t)1 << 62)));
    EXPECT_ENOMEM_NULL(aligned_alloc(64, opaque_size(SIZE_MAX - 100)));
    EXPECT_ENOMEM_NULL(aligned_alloc(1 << 21, opaque_size((size_t)1 << 62)));

    void *p = (void *)0x1;
    int r = posix_memalign(&p, 64, opaque_size(SIZE_MAX - 100));
    CHECK(r == ENOMEM, "posix_memalign(64, SIZE_MAX-100) returned %d, want ENOMEM", r);
    r = posix_memalign(&p, 4096, opaque_size((size_t)1 << 62));
    CHECK(r == ENOMEM, "posix_memalign(4096, 1<<62) returned %d, want ENOMEM", r);

    /* the allocator still works afterwards */
    void *q = malloc(100);
    CHECK(q != NULL, "malloc(100) after failures returned NULL");
    free(q);
}

/* Sizes and alignments the machine could never back: glibc gets ENOMEM from
 * the kernel's overcommit heuristic (a mapping beyond RAM + swap); so must we,
 * unless the kernel overcommits without limit (vm.overcommit_memory = 1). */
static void test_beyond_the_machine(void)
{
    FILE *f = fopen("/proc/sys/vm/overcommit_memory", "r");
    int mode = f ? fgetc(f) : '0';
    if (f)
        fclose(f);
    struct sysinfo si;
    CHECK(sysinfo(&si) == 0, "sysinfo");
    size_t backable = ((size_t)si.totalram + si.totalswap) * si.mem_unit;
    const size_t huge = (size_t)1 << 46; /* 64 TiB */
    if (mode == '1' || backable >= huge / 2) {
        printf("api_errno: skipping the beyond-RAM+swap checks (overcommit mode %c, %zu bytes)\n", mode, backable);
        return;
    }
    EXPECT_ENOMEM_NULL(malloc(opaque_size(huge)));
    EXPECT_ENOMEM_NULL(malloc(opaque_size(backable + ((size_t)1 << 30))));
    EXPECT_ENOMEM_NULL(calloc(opaque_size((size_t)1 << 23), opaque_size((size_t)1 << 23)));
    EXPECT_ENOMEM_NULL(memalign(opaque_size((size_t)1 << 40), 1));
    EXPECT_ENOMEM_NULL(aligned_alloc(opaque_size((size_t)1 << 40), opaque_size((size_t)1 << 40)));
    EXPECT_ENOMEM_NULL(valloc(opaque_size(huge)));
    void *p = (void *)0x1;
    int r = posix_memalign(&p, opaque_size((size_t)1 << 40), 1);
    CHECK(r == ENOMEM, "posix_memalign(1 TiB alignment) returned %d, want ENOMEM", r);
    char *q = malloc(300000);
    CHECK(q != NULL, "malloc(300000)");
    pat_fill(q, 300000, 5);
    EXPECT_ENOMEM_NULL(realloc(q, opaque_size(huge)));
    PAT_CHECK(q, 300000, 5, "block after a realloc to 64 TiB failed");
    free(q);
}

/* C17 (DR 460) makes an alignment that is not a power of two invalid for
 * aligned_alloc: hakmem fails it with EINVAL. glibc 2.36 accepts it (as
 * memalign does, rounding up), so this is hakmem's documented choice. */
static void test_aligned_alloc_odd_alignment(void)
{
    if (foreign_allocator())
        return;
    errno = 0;
    void *p = aligned_alloc(opaque_size(3), 10);
    CHECK(p == NULL && errno == EINVAL, "aligned_alloc(3, 10) returned %p errno %d, want NULL + EINVAL", p, errno);
    p = memalign(opaque_size(3), 10);
    CHECK(p != NULL && is_aligned(p, 4), "memalign(3, 10) returned %p, want a 4-aligned block", p);
    free(p);
}

static void test_calloc_overflow(void)
{
    EXPECT_ENOMEM_NULL(calloc(opaque_size(SIZE_MAX), opaque_size(SIZE_MAX)));
    EXPECT_ENOMEM_NULL(calloc(opaque_size(SIZE_MAX / 2 + 1), opaque_size(2)));
    EXPECT_ENOMEM_NULL(calloc(opaque_size(SIZE_MAX / 3), opaque_size(4)));
    EXPECT_ENOMEM_NULL(calloc(opaque_size((size_t)1 << 32), opaque_size((size_t)1 << 32)));
    EXPECT_ENOMEM_NULL(calloc(opaque_size((size_t)1 << 33), opaque_size((size_t)1 << 31)));
    EXPECT_ENOMEM_NULL(calloc(opaque_size(65537), opaque_size((size_t)1 << 48)));
    EXPECT_ENOMEM_NULL(calloc(opaque_size(16), opaque_size(SIZE_MAX / 8)));
}

static void test_realloc_failure_keeps_block(void)
{
    static const size_t sizes[] = {24, 1000, 16384, 200000, 1 << 20};
    for (size_t k = 0; k < sizeof sizes / sizeof sizes[0]; k++) {
        size_t n = sizes[k];
        char *p = malloc(n);
        CHECK(p != NULL, "malloc(%zu)", n);
        pat_fill(p, n, (uint32_t)(k + 77));
        EXPECT_ENOMEM_NULL(realloc(p, opaque_size(SIZE_MAX)));
        EXPECT_ENOMEM_NULL(realloc(p, opaque_size(PTRDIFF_MAX)));
        EXPECT_ENOMEM_NULL(realloc(p, opaque_size((size_t)1 << 62)));
        PAT_CHECK(p, n, (uint32_t)(k + 77), "block of %zu after failed realloc", n);
        EXPECT_ENOMEM_NULL(reallocarray(p, opaque_size(SIZE_MAX / 2), opaque_size(3)));
        EXPECT_ENOMEM_NULL(reallocarray(p, opaque_size((size_t)1 << 40), opaque_size((size_t)1 << 40)));
        PAT_CHECK(p, n, (uint32_t)(k + 77), "block of %zu after failed reallocarray", n);
        /* a successful reallocarray */
        char *q = reallocarray(p, opaque_size(n / 8 + 1), 16);
        CHECK(q != NULL, "reallocarray(%zu, 16)", n / 8 + 1);
        size_t keep = n < (n / 8 + 1) * 16 ? n : (n / 8 + 1) * 16;
        PAT_CHECK(q, keep, (uint32_t)(k + 77), "reallocarray(p of %zu, %zu, 16)", n, n / 8 + 1);
        free(q);
    }
    EXPECT_ENOMEM_NULL(reallocarray(NULL, opaque_size(SIZE_MAX / 2), opaque_size(3)));
    EXPECT_ENOMEM_NULL(reallocarray(NULL, opaque_size(3), opaque_size(SIZE_MAX / 2)));
    void *q = reallocarray(NULL, 10, 10);
    CHECK(q != NULL, "reallocarray(NULL, 10, 10)");
    memset(q, 0x5a, 100);
    free(q);
}

static void test_posix_memalign_einval(void)
{
    static const size_t bad[] = {0, 1, 2, 4, 3, 12, 24, 48, 96, 100, 4095, 4097, 3 << 12,
                                 (1u << 20) + 8, SIZE_MAX, SIZE_MAX / 2, (SIZE_MAX / 2) + 2};
    for (size_t k = 0; k < sizeof bad / sizeof bad[0]; k++) {
        void *p = NULL;
        errno = 4321;
        int r = posix_memalign(&p, opaque_size(bad[k]), 64);
        CHECK(r == EINVAL, "posix_memalign(align=%zu) returned %d, want EINVAL", bad[k], r);
        CHECK(errno == 4321, "posix_memalign(align=%zu) changed errno to %d", bad[k], errno);
        if (!foreign_allocator() && HAVE_SYM(__posix_memalign)) {
            r = __posix_memalign(&p, opaque_size(bad[k]), 64);
            CHECK(r == EINVAL, "__posix_memalign(align=%zu) returned %d, want EINVAL", bad[k], r);
        }
    }
}

static void test_posix_memalign_success_errno(void)
{
    static const size_t aligns[] = {8, 16, 32, 64, 256, 4096, 65536, 1 << 21};
    static const size_t sizes[] = {0, 1, 8, 16, 100, 4096, 5000, 70000, 1 << 20};
    for (size_t a = 0; a < sizeof aligns / sizeof aligns[0]; a++)
        for (size_t s = 0; s < sizeof sizes / sizeof sizes[0]; s++) {
            void *p = NULL;
            errno = 4321;
            int r = posix_memalign(&p, aligns[a], opaque_size(sizes[s]));
            int e = errno;
            CHECK(r == 0, "posix_memalign(%zu, %zu) returned %d", aligns[a], sizes[s], r);
            CHECK(e == 4321, "posix_memalign(%zu, %zu) succeeded but changed errno to %d",
                  aligns[a], sizes[s], e);
            CHECK(sizes[s] == 0 || p != NULL, "posix_memalign gave NULL");
            CHECK(is_aligned(p, aligns[a]), "posix_memalign(%zu, %zu) gave %p", aligns[a],
                  sizes[s], p);
            if (sizes[s])
                memset(p, 0xa5, sizes[s]);
            errno = 4321;
            free(p);
            CHECK(errno == 4321, "free changed errno to %d", errno);
        }
}

static void test_free_preserves_errno(void)
{
    static const size_t sizes[] = {0, 24, 512, 16384, 20000, 100000, 1 << 20, 64 << 20};
    for (int round = 0; round < 3; round++)
        for (size_t k = 0; k < sizeof sizes / sizeof sizes[0]; k++) {
            size_t n = sizes[k];
            char *p = malloc(n);
            CHECK(p != NULL, "malloc(%zu)", n);
            if (n)
                p[0] = p[n - 1] = 1;
            errno = 1234;
            free(p);
            CHECK(errno == 1234, "free of a %zu-byte block changed errno to %d (%s)", n, errno,
                  strerror(errno));
            /* aligned blocks too */
            void *q = aligned_alloc(4096, n ? n : 1);
            CHECK(q != NULL, "aligned_alloc(4096, %zu)", n);
            errno = 1234;
            free(q);
            CHECK(errno == 1234, "free of aligned %zu-byte block changed errno to %d", n, errno);
            /* free(NULL) between allocations */
            p = malloc(n);
            CHECK(p != NULL, "malloc(%zu)", n);
            errno = 1234;
            free(opaque_ptr(NULL));
            CHECK(errno == 1234, "free(NULL) changed errno to %d", errno);
            free(p);
            CHECK(errno == 1234, "free changed errno to %d", errno);
        }
    /* many small frees in a row (exercises any cache-flush path) */
    enum { M = 5000 };
    static void *v[M];
    for (int i = 0; i < M; i++) {
        v[i] = malloc(opaque_size((size_t)(16 + (i % 7) * 16)));
        CHECK(v[i] != NULL, "malloc");
    }
    errno = 1234;
    for (int i = 0; i < M; i++) {
        free(v[i]);
        CHECK(errno == 1234, "free #%d changed errno to %d", i, errno);
    }
}

static void test_free_null(void)
{
    for (int i = 0; i < 1000; i++)
        free(opaque_ptr(NULL));
    if (HAVE_SYM(free_sized))
        free_sized(opaque_ptr(NULL), 0);
    if (HAVE_SYM(free_aligned_sized))
        free_aligned_sized(opaque_ptr(NULL), 64, 0);
    if (!foreign_allocator() && HAVE_SYM(cfree))
        cfree(opaque_ptr(NULL));
    void *r = realloc(opaque_ptr(NULL), 0);
    free(r); /* glibc returns a unique pointer; NULL is also freeable */
}

static void test_free_sized(void)
{
    if (!HAVE_SYM(free_sized) || !HAVE_SYM(free_aligned_sized))
        return;
    static const size_t sizes[] = {0, 1, 15, 16, 17, 100, 1000, 1024, 1025, 4096, 16384,
                                   65535, 65536, 65537, 300000, 1 << 20, 3 << 20};
    for (int round = 0; round < 4; round++)
        for (size_t k = 0; k < sizeof sizes / sizeof sizes[0]; k++) {
            size_t n = sizes[k];
            char *p = malloc(n);
            CHECK(p != NULL, "malloc(%zu)", n);
            pat_fill(p, n, 9);
            errno = 1234;
            free_sized(p, n);
            CHECK(errno == 1234, "free_sized changed errno to %d", errno);
            p = calloc(1, n);
            CHECK(p != NULL, "calloc(1, %zu)", n);
            free_sized(p, n);
            for (size_t a = 16; a <= (1u << 21); a <<= 3) {
                size_t m = (n + a - 1) / a * a; /* C11-style multiple of alignment */
                if (m == 0)
                    m = a;
                void *q = aligned_alloc(a, m);
                CHECK(q != NULL && is_aligned(q, a), "aligned_alloc(%zu, %zu) gave %p", a, m, q);
                pat_fill(q, m, 3);
                errno = 1234;
                free_aligned_sized(q, a, m);
                CHECK(errno == 1234, "free_aligned_sized changed errno to %d", errno);
            }
        }
}

static void test_aliases(void)
{
    if (foreign_allocator()) {
        fprintf(stderr, "note: foreign allocator: __libc_*/cfree alias checks skipped\n");
        return;
    }
    if (!HAVE_SYM(__libc_malloc) || !HAVE_SYM(__libc_free) || !HAVE_SYM(__libc_calloc) ||
        !HAVE_SYM(__libc_realloc) || !HAVE_SYM(__libc_memalign) || !HAVE_SYM(__libc_valloc) ||
        !HAVE_SYM(__libc_pvalloc) || !HAVE_SYM(__posix_memalign) || !HAVE_SYM(cfree))
        return;
    for (size_t n = 1; n <= (4u << 20); n = n * 3 + 5) {
        /* allocate with an alias, free with the standard function and vice versa */
        char *p = __libc_malloc(n);
        CHECK(p && is_aligned(p, 16), "__libc_malloc(%zu) gave %p", n, p);
        CHECK(malloc_usable_size(p) >= n, "usable size of __libc_malloc(%zu)", n);
        pat_fill(p, n, 1);
        p = __libc_realloc(p, n * 2);
        CHECK(p, "__libc_realloc");
        PAT_CHECK(p, n, 1, "__libc_realloc(%zu -> %zu)", n, n * 2);
        free(p);

        p = malloc(n);
        CHECK(p, "malloc");
        pat_fill(p, n, 2);
        __libc_free(p);

        p = __libc_calloc(n, 1);
        CHECK(p && find_nonzero(p, n) == (size_t)-1, "__libc_calloc(%zu, 1) not zeroed", n);
        cfree(p);

        p = __libc_memalign(256, n);
        CHECK(p && is_aligned(p, 256), "__libc_memalign(256, %zu) gave %p", n, p);
        pat_fill(p, n, 3);
        free(p);

        p = __libc_valloc(n);
        CHECK(p && is_aligned(p, page_size()), "__libc_valloc(%zu) gave %p", n, p);
        pat_fill(p, n, 4);
        __libc_free(p);

        p = __libc_pvalloc(n);
        CHECK(p && is_aligned(p, page_size()), "__libc_pvalloc(%zu) gave %p", n, p);
        size_t rounded = (n + page_size() - 1) & ~(page_size() - 1);
        CHECK(malloc_usable_size(p) >= rounded, "__libc_pvalloc(%zu) usable %zu < %zu", n,
              malloc_usable_size(p), rounded);
        memset(p, 0x11, rounded);
        free(p);

        void *q = NULL;
        errno = 4321;
        int r = __posix_memalign(&q, 4096, n);
        CHECK(r == 0 && q && is_aligned(q, 4096), "__posix_memalign(4096, %zu) -> %d %p", n, r, q);
        CHECK(errno == 4321, "__posix_memalign changed errno on success");
        pat_fill(q, n, 5);
        free(q);
    }
}

static void test_usable_size(void)
{
    CHECK(malloc_usable_size(NULL) == 0, "malloc_usable_size(NULL) = %zu", malloc_usable_size(NULL));
    for (size_t n = 0; n < 70000; n += (n < 2048 ? 1 : n < 20000 ? 61 : 997)) {
        char *p = malloc(n);
        CHECK(p, "malloc(%zu)", n);
        size_t u = malloc_usable_size(p);
        CHECK(u >= n, "malloc_usable_size(malloc(%zu)) = %zu", n, u);
        pat_fill(p, u, (uint32_t)n); /* whole usable size is writable */
        PAT_CHECK(p, u, (uint32_t)n, "usable area of malloc(%zu)", n);
        free(p);
    }
    static const size_t big[] = {100000, 262144, 1 << 20, (1 << 20) + 1, 4 << 20, 33 << 20};
    for (size_t k = 0; k < sizeof big / sizeof big[0]; k++) {
        char *p = malloc(big[k]);
        CHECK(p, "malloc(%zu)", big[k]);
        size_t u = malloc_usable_size(p);
        CHECK(u >= big[k], "malloc_usable_size(malloc(%zu)) = %zu", big[k], u);
        memset(p, 0x33, u);
        free(p);
    }
}

static void test_misc_api(void)
{
    int r = mallopt(M_TRIM_THRESHOLD, 128 * 1024);
    CHECK(r == 1, "mallopt(M_TRIM_THRESHOLD) returned %d, want 1", r);
    r = mallopt(M_MMAP_THRESHOLD, 256 * 1024);
    CHECK(r == 1, "mallopt(M_MMAP_THRESHOLD) returned %d, want 1", r);
    void *p = malloc(1000);
    CHECK(p, "malloc");
    r = malloc_trim(0);
    CHECK(r == 0 || r == 1, "malloc_trim returned %d", r);
    free(p);
    r = malloc_trim(0);
    CHECK(r == 0 || r == 1, "malloc_trim returned %d", r);
    malloc_stats(); /* prints on stderr; must not crash */
}

int main(void)
{
    test_malloc_zero();
    test_huge_malloc();
    test_beyond_the_machine();
    test_aligned_alloc_odd_alignment();
    test_calloc_overflow();
    test_realloc_failure_keeps_block();
    test_posix_memalign_einval();
    test_posix_memalign_success_errno();
    test_free_preserves_errno();
    test_free_null();
    test_free_sized();
    test_aliases();
    test_usable_size();
    test_misc_api();
    printf("api_errno: ok\n");
    return 0;
}
