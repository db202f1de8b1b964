/* calloc: memory is zeroed, also when it reuses dirtied freed memory of the
 * same size (small, mid ~16 KiB, large ~1 MiB; LIFO and FIFO free order;
 * blocks freed by another thread; blocks dirtied through realloc);
 * calloc(0, n) / calloc(n, 0) give freeable pointers; overflow of n*size
 * gives NULL + ENOMEM; and under mlockall, where the kernel refuses to purge
 * freed memory, reused memory is still zeroed. */
#include <malloc.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common.h"

#define EXPECT_ENOMEM_NULL(expr)                                                        \
    do {                                                                                \
        errno = 0;                                                                      \
        void *r_ = (expr);                                                              \
        int e_ = errno;                                                                 \
        CHECK(r_ == NULL, "%s returned %p, want NULL", #expr, r_);                      \
        CHECK(e_ == ENOMEM, "%s set errno %d (%s), want ENOMEM", #expr, e_, strerror(e_)); \
    } while (0)

#define CHECK_ZERO(p, n, ...)                                                             \
    do {                                                                                  \
        size_t z_ = find_nonzero((p), (n));                                               \
        if (z_ != (size_t)-1) {                                                           \
            fprintf(stderr, "FAIL %s:%d: calloc memory not zeroed: byte %zu of %zu is 0x%02x: ", \
                    __FILE__, __LINE__, z_, (size_t)(n), ((const uint8_t *)(p))[z_]);     \
            fprintf(stderr, __VA_ARGS__);                                                 \
            fputc('\n', stderr);                                                          \
            _exit(1);                                                                     \
        }                                                                                 \
    } while (0)

static void dirty(void *p, size_t n)
{
    memset(p, 0xA5, n);
}

static void test_basic(void)
{
    for (size_t n = 0; n < 5000; n += 1 + n / 64) {
        unsigned char *p = calloc(1, opaque_size(n));
        CHECK(p != NULL, "calloc(1, %zu)", n);
        CHECK(is_aligned(p, MIN_ALIGN), "calloc(1, %zu) = %p", n, (void *)p);
        CHECK_ZERO(p, n, "calloc(1, %zu)", n);
        dirty(p, n);
        free(p);
        p = calloc(opaque_size(n), 1);
        CHECK(p != NULL, "calloc(%zu, 1)", n);
        CHECK_ZERO(p, n, "calloc(%zu, 1)", n);
        dirty(p, n);
        free(p);
        p = calloc(opaque_size(n / 8 + 1), 8);
        CHECK(p != NULL, "calloc(%zu, 8)", n / 8 + 1);
        CHECK_ZERO(p, (n / 8 + 1) * 8, "calloc(%zu, 8)", n / 8 + 1);
        dirty(p, (n / 8 + 1) * 8);
        free(p);
    }
    void *p = calloc(0, 100);
    free(p);
    p = calloc(100, 0);
    free(p);
    p = calloc(0, 0);
    free(p);
}

static void test_overflow(void)
{
    EXPECT_ENOMEM_NULL(calloc(opaque_size(SIZE_MAX), opaque_size(SIZE_MAX)));
    EXPECT_ENOMEM_NULL(calloc(opaque_size(SIZE_MAX), opaque_size(2)));
    EXPECT_ENOMEM_NULL(calloc(opaque_size(2), opaque_size(SIZE_MAX)));
    EXPECT_ENOMEM_NULL(calloc(opaque_size(SIZE_MAX / 2 + 1), opaque_size(2)));
    EXPECT_ENOMEM_NULL(calloc(opaque_size((size_t)1 << 32), opaque_size((size_t)1 << 32)));
    EXPECT_ENOMEM_NULL(calloc(opaque_size((size_t)1 << 31), opaque_size((size_t)1 << 33)));
    EXPECT_ENOMEM_NULL(calloc(opaque_size(1000), opaque_size(SIZE_MAX / 999)));
    /* no overflow but impossible */
    EXPECT_ENOMEM_NULL(calloc(opaque_size((size_t)1 << 31), opaque_size((size_t)1 << 31)));
    EXPECT_ENOMEM_NULL(calloc(opaque_size(PTRDIFF_MAX), opaque_size(1)));
}

/* Allocate K blocks of n with malloc, dirty their whole usable size, free
 * them (in the given order), then calloc K blocks of n and check zeroes. */
static void reuse_round(size_t n, int k, int fifo, int use_usable)
{
    void *v[256];
    for (int i = 0; i < k; i++) {
        v[i] = malloc(n);
        CHECK(v[i], "malloc(%zu)", n);
        dirty(v[i], use_usable ? malloc_usable_size(v[i]) : n);
    }
    for (int i = 0; i < k; i++)
        free(v[fifo ? i : k - 1 - i]);
    for (int i = 0; i < k; i++) {
        v[i] = calloc(1, opaque_size(n));
        CHECK(v[i], "calloc(1, %zu)", n);
        CHECK_ZERO(v[i], n, "calloc(1, %zu) #%d after freeing %d dirtied blocks (%s)", n, i, k,
                   fifo ? "FIFO" : "LIFO");
    }
    /* the calloc'ed blocks are dirtied and reused once more, now by calloc */
    for (int i = 0; i < k; i++) {
        dirty(v[i], malloc_usable_size(v[i]));
        free(v[i]);
    }
    for (int i = 0; i < k; i++) {
        v[i] = calloc(opaque_size(n), 1);
        CHECK(v[i], "calloc(%zu, 1)", n);
        CHECK_ZERO(v[i], n, "calloc(%zu, 1) #%d reusing calloc'ed and dirtied blocks", n, i);
    }
    for (int i = 0; i < k; i++)
        free(v[i]);
}

static void test_reuse(void)
{
    static const size_t sizes[] = {
        /* small */ 8,      16,     24,     48,     100,    256,     1000,    1024,  2000,
        /* mid */ 4096,     8000,   16000,  16384,  16385,  20000,   32768,   65536, 65537,
        /* large */ 200000, 524288, 1000000, 1 << 20, (1 << 20) + 123, 2 << 20, (4 << 20) + 5};
    for (size_t s = 0; s < sizeof sizes / sizeof sizes[0]; s++) {
        size_t n = sizes[s];
        int k = n <= 2000 ? 200 : n <= 65537 ? 40 : 6;
        for (int round = 0; round < 3; round++) {
            reuse_round(n, k, round & 1, round == 2);
            reuse_round(n, 1, 0, 1);
        }
    }
}

static void test_realloc_dirty(void)
{
    /* dirty blocks via realloc growth/shrink, free them, calloc the sizes */
    for (int round = 0; round < 20; round++) {
        size_t n = (size_t)(round % 5 + 1) * 3000 + (size_t)round * 17;
        unsigned char *p = malloc(100);
        CHECK(p, "malloc");
        dirty(p, 100);
        p = realloc(p, n);
        CHECK(p, "realloc");
        dirty(p, n);
        p = realloc(p, n / 3);
        CHECK(p, "realloc");
        dirty(p, n / 3);
        free(p);
        unsigned char *q = calloc(n / 3, 1);
        CHECK(q, "calloc");
        CHECK_ZERO(q, n / 3, "calloc(%zu, 1) after realloc-dirtied frees", n / 3);
        unsigned char *r = calloc(n, 1);
        CHECK(r, "calloc");
        CHECK_ZERO(r, n, "calloc(%zu, 1) after realloc-dirtied frees", n);
        free(q);
        free(r);
    }
}

struct remote_job {
    void **blocks;
    int count;
    size_t n;
};

static void *remote_free_thread(void *arg)
{
    struct remote_job *job = arg;
    for (int i = 0; i < job->count; i++)
        free(job->blocks[i]);
    return NULL;
}

static void test_remote_freed_reuse(void)
{
    /* blocks dirtied by main, freed by another thread, then calloc'ed again */
    static const size_t sizes[] = {32, 512, 16384, 1 << 20};
    for (size_t s = 0; s < sizeof sizes / sizeof sizes[0]; s++) {
        size_t n = sizes[s];
        int k = n >= (1 << 20) ? 6 : 300;
        void *v[300];
        for (int round = 0; round < 3; round++) {
            for (int i = 0; i < k; i++) {
                v[i] = malloc(n);
                CHECK(v[i], "malloc(%zu)", n);
                dirty(v[i], malloc_usable_size(v[i]));
            }
            struct remote_job job = {v, k, n};
            pthread_t t;
            CHECK(pthread_create(&t, NULL, remote_free_thread, &job) == 0, "pthread_create");
            pthread_join(t, NULL);
            for (int i = 0; i < k; i++) {
                v[i] = calloc(1, n);
                CHECK(v[i], "calloc(1, %zu)", n);
                CHECK_ZERO(v[i], n, "calloc(1, %zu) #%d after remote frees of dirtied blocks", n, i);
            }
            for (int i = 0; i < k; i++) {
                dirty(v[i], n);
                free(v[i]);
            }
        }
    }
}

static void test_mixed_sizes(void)
{
    /* random mix: dirty frees of random sizes interleaved with callocs */
    enum { N = 500, OPS = 40000 };
    static unsigned char *v[N];
    static size_t vn[N];
    rng_t r;
    rng_seed(&r, 7);
    for (int op = 0; op < OPS; op++) {
        int i = (int)rng_below(&r, N);
        if (v[i]) {
            dirty(v[i], vn[i]);
            free(v[i]);
            v[i] = NULL;
            continue;
        }
        uint64_t c = rng_below(&r, 100);
        size_t n = c < 70 ? rng_below(&r, 1100) : c < 97 ? rng_below(&r, 40000) : rng_below(&r, 1300000);
        if (rng_below(&r, 2)) {
            v[i] = calloc(1, n);
            CHECK(v[i], "calloc(1, %zu)", n);
            CHECK_ZERO(v[i], n, "calloc(1, %zu) in a random mix (op %d)", n, op);
        } else {
            v[i] = malloc(n);
            CHECK(v[i], "malloc(%zu)", n);
        }
        vn[i] = n;
    }
    for (int i = 0; i < N; i++)
        free(v[i]);
}

/* Locked memory (in a child, which alone is locked): freed spans keep their bytes when
 * malloc_trim's purge is refused, and calloc must not take them for clean. */
static void test_locked_memory(void)
{
    pid_t pid = fork();
    CHECK(pid >= 0, "fork");
    if (pid == 0) {
        if (mlockall(MCL_CURRENT | MCL_FUTURE) != 0)
            _exit(0); /* not allowed here (RLIMIT_MEMLOCK): nothing to test */
        enum { N = 64 };
        static unsigned char *p[N];
        const size_t sz = 512u << 10;
        for (int i = 0; i < N; i++) {
            p[i] = malloc(sz);
            CHECK(p[i], "malloc");
            dirty(p[i], sz);
        }
        for (int i = 0; i < N; i++)
            free(p[i]);
        malloc_trim(0);
        for (int i = 0; i < N; i++) {
            p[i] = calloc(1, sz);
            CHECK(p[i], "calloc");
            CHECK_ZERO(p[i], sz, "calloc(1, %zu) under mlockall, after malloc_trim", sz);
        }
        _exit(0);
    }
    int status;
    CHECK(waitpid(pid, &status, 0) == pid, "waitpid");
    CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0, "locked-memory child exited with status %d", status);
}

int main(void)
{
    test_basic();
    test_overflow();
    test_reuse();
    test_realloc_dirty();
    test_remote_freed_reuse();
    test_mixed_sizes();
    test_locked_memory();
    printf("calloc: ok\n");
    return 0;
}
