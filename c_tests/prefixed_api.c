/* prefixed_api: the hak_* API declared in include/hakmem.h — hak_malloc,
 * hak_free, hak_calloc, hak_realloc, hak_posix_memalign, hak_usable_size,
 * hak_stats_print, hak_version, hak_trim — and that it shares its heap with
 * malloc/free (a block from one family is freed by the other).
 *
 * Built linked with -lhakmem, the functions are called directly.  Built for
 * the LD_PRELOAD run (HAK_PRELOAD defined, not linked with -lhakmem), they
 * are looked up with dlsym in the preloaded library; the header's prototypes
 * still type the pointers, so both builds check the header. */
#include <dlfcn.h>

#include "common.h"
#include "hakmem.h"

#define DECLARE_PTR(f) static __typeof__(&f) p_##f
DECLARE_PTR(hak_malloc);
DECLARE_PTR(hak_free);
DECLARE_PTR(hak_calloc);
DECLARE_PTR(hak_realloc);
DECLARE_PTR(hak_posix_memalign);
DECLARE_PTR(hak_usable_size);
DECLARE_PTR(hak_stats_print);
DECLARE_PTR(hak_version);
DECLARE_PTR(hak_trim);

#ifdef HAK_PRELOAD
#define RESOLVE(f)                                                                      \
    do {                                                                                \
        p_##f = (__typeof__(&f))dlsym(RTLD_DEFAULT, #f);                                \
        CHECK(p_##f != NULL, "%s not found with dlsym in the preloaded library: %s", #f, \
              dlerror());                                                               \
    } while (0)
#else
#define RESOLVE(f) (p_##f = &f)
#endif

static void resolve_all(void)
{
    RESOLVE(hak_malloc);
    RESOLVE(hak_free);
    RESOLVE(hak_calloc);
    RESOLVE(hak_realloc);
    RESOLVE(hak_posix_memalign);
    RESOLVE(hak_usable_size);
    RESOLVE(hak_stats_print);
    RESOLVE(hak_version);
    RESOLVE(hak_trim);
}

static void test_version(void)
{
    const char *v = p_hak_version();
    CHECK(v != NULL, "hak_version() returned NULL");
    size_t len = strlen(v);
    CHECK(len > 0 && len < 200, "hak_version() returned a string of length %zu", len);
    for (size_t i = 0; i < len; i++)
        CHECK(v[i] >= 0x20 && v[i] < 0x7f, "hak_version() has a non-printable byte 0x%02x", (unsigned char)v[i]);
    CHECK(p_hak_version() == v || strcmp(p_hak_version(), v) == 0, "hak_version() is not stable");
    CHECK(strcmp(v, HAKMEM_VERSION_STRING) == 0, "hak_version() is \"%s\", the header says \"%s\"", v,
          HAKMEM_VERSION_STRING);
    CHECK(HAKMEM_VERSION == HAKMEM_VERSION_MAJOR * 10000 + HAKMEM_VERSION_MINOR * 100 + HAKMEM_VERSION_PATCH,
          "HAKMEM_VERSION does not match its parts");
    printf("hak_version() = \"%s\"\n", v);
}

static void test_trim(void)
{
    /* Free a few MiB of blocks of each tier, then trim: some memory must go back. */
    enum { N = 64 };
    void *blocks[N];
    for (int i = 0; i < N; i++) {
        blocks[i] = p_hak_malloc(i % 2 ? 100000 : 3 << 20);
        CHECK(blocks[i] != NULL, "hak_malloc failed");
        memset(blocks[i], 1, 4096);
    }
    for (int i = 0; i < N; i++)
        p_hak_free(blocks[i]);
    /* The 3 MiB blocks wait in the Large cache: trimming releases them. */
    int r = p_hak_trim();
    CHECK(r == 1, "hak_trim() returned %d after freeing %d MiB", r, N / 2 * 3);
}

static void test_malloc_free(void)
{
    for (size_t n = 0; n < 300000; n = n * 5 / 4 + 1) {
        unsigned char *p = p_hak_malloc(n);
        CHECK(p != NULL, "hak_malloc(%zu) returned NULL", n);
        CHECK(is_aligned(p, MIN_ALIGN), "hak_malloc(%zu) = %p", n, (void *)p);
        size_t u = p_hak_usable_size(p);
        CHECK(u >= n, "hak_usable_size(hak_malloc(%zu)) = %zu", n, u);
        CHECK(u == malloc_usable_size(p), "hak_usable_size %zu != malloc_usable_size %zu", u,
              malloc_usable_size(p));
        pat_fill(p, u, (uint32_t)n);
        PAT_CHECK(p, u, (uint32_t)n, "hak_malloc(%zu) block", n);
        p_hak_free(p);
    }
    p_hak_free(NULL);
    CHECK(p_hak_usable_size(NULL) == 0, "hak_usable_size(NULL) = %zu", p_hak_usable_size(NULL));
    void *z = p_hak_malloc(0);
    CHECK(z != NULL, "hak_malloc(0) returned NULL");
    p_hak_free(z);
    errno = 0;
    CHECK(p_hak_malloc(opaque_size(SIZE_MAX)) == NULL, "hak_malloc(SIZE_MAX) did not fail");
    CHECK(errno == ENOMEM, "hak_malloc(SIZE_MAX) set errno %d, want ENOMEM", errno);
    errno = 0;
    CHECK(p_hak_malloc(opaque_size((size_t)1 << 62)) == NULL, "hak_malloc(1<<62) did not fail");
    CHECK(errno == ENOMEM, "hak_malloc(1<<62) set errno %d, want ENOMEM", errno);
    /* hak_free preserves errno */
    static const size_t fsizes[] = {24, 16384, 1 << 20};
    for (size_t k = 0; k < 3; k++) {
        void *p = p_hak_malloc(fsizes[k]);
        CHECK(p, "hak_malloc(%zu)", fsizes[k]);
        errno = 1234;
        p_hak_free(p);
        CHECK(errno == 1234, "hak_free of %zu bytes changed errno to %d", fsizes[k], errno);
    }
}

static void test_calloc(void)
{
    for (size_t n = 1; n < 2000000; n = n * 3 + 7) {
        unsigned char *p = p_hak_malloc(n);
        CHECK(p, "hak_malloc");
        memset(p, 0xff, n);
        p_hak_free(p);
        p = p_hak_calloc(n, 1);
        CHECK(p != NULL, "hak_calloc(%zu, 1)", n);
        CHECK(find_nonzero(p, n) == (size_t)-1, "hak_calloc(%zu, 1) not zeroed", n);
        p_hak_free(p);
    }
    errno = 0;
    CHECK(p_hak_calloc(opaque_size(SIZE_MAX), opaque_size(2)) == NULL, "hak_calloc overflow did not fail");
    CHECK(errno == ENOMEM, "hak_calloc overflow set errno %d, want ENOMEM", errno);
    CHECK(p_hak_calloc(opaque_size((size_t)1 << 32), opaque_size((size_t)1 << 32)) == NULL,
          "hak_calloc overflow did not fail");
}

static void test_realloc(void)
{
    unsigned char *p = p_hak_realloc(NULL, 10);
    CHECK(p, "hak_realloc(NULL, 10)");
    pat_fill(p, 10, 1);
    size_t n = 10;
    while (n < (4u << 20)) {
        size_t m = n * 3 + 1;
        unsigned char *q = p_hak_realloc(p, m);
        CHECK(q, "hak_realloc(%zu -> %zu)", n, m);
        PAT_CHECK(q, n, 1, "hak_realloc(%zu -> %zu)", n, m);
        pat_fill(q, m, 1);
        p = q;
        n = m;
    }
    while (n > 50) {
        size_t m = n / 7 + 1;
        unsigned char *q = p_hak_realloc(p, m);
        CHECK(q, "hak_realloc(%zu -> %zu)", n, m);
        PAT_CHECK(q, m, 1, "hak_realloc(%zu -> %zu)", n, m);
        p = q;
        n = m;
    }
    CHECK(p_hak_realloc(p, opaque_size(SIZE_MAX)) == NULL, "hak_realloc(p, SIZE_MAX) did not fail");
    PAT_CHECK(p, n, 1, "block after failed hak_realloc");
    void *r = p_hak_realloc(p, 0); /* like glibc: frees p, returns NULL */
    CHECK(r == NULL, "hak_realloc(p, 0) returned %p, want NULL", r);
}

static void test_posix_memalign(void)
{
    for (size_t a = sizeof(void *); a <= (1u << 21); a <<= 1)
        for (size_t n = 1; n < 3000000; n = n * 9 + 3) {
            void *p = NULL;
            int r = p_hak_posix_memalign(&p, a, n);
            CHECK(r == 0 && p != NULL, "hak_posix_memalign(%zu, %zu) returned %d", a, n, r);
            CHECK(is_aligned(p, a), "hak_posix_memalign(%zu, %zu) gave %p", a, n, p);
            CHECK(p_hak_usable_size(p) >= n, "hak_usable_size of aligned block");
            pat_fill(p, n, 2);
            p_hak_free(p);
        }
    void *p = NULL;
    CHECK(p_hak_posix_memalign(&p, 24, 10) == EINVAL, "hak_posix_memalign(24) not EINVAL");
    CHECK(p_hak_posix_memalign(&p, 4, 10) == EINVAL, "hak_posix_memalign(4) not EINVAL");
    CHECK(p_hak_posix_memalign(&p, 0, 10) == EINVAL, "hak_posix_memalign(0) not EINVAL");
}

static void test_mixing(void)
{
    /* one heap: hak_* blocks freed by free/realloc and the other way round */
    for (size_t n = 1; n < 3000000; n = n * 4 + 1) {
        unsigned char *p = p_hak_malloc(n);
        CHECK(p, "hak_malloc");
        pat_fill(p, n, 3);
        unsigned char *q = realloc(p, n + 100);
        CHECK(q, "realloc of a hak_malloc block");
        PAT_CHECK(q, n, 3, "realloc of a hak_malloc block of %zu", n);
        free(q);

        p = malloc(n);
        CHECK(p, "malloc");
        pat_fill(p, n, 4);
        q = p_hak_realloc(p, n * 2);
        CHECK(q, "hak_realloc of a malloc block");
        PAT_CHECK(q, n, 4, "hak_realloc of a malloc block of %zu", n);
        p_hak_free(q);

        p = p_hak_calloc(1, n);
        CHECK(p, "hak_calloc");
        free(p);
    }
}

struct xfer {
    void *blocks[1000];
    size_t n[1000];
};

static void *freer(void *arg)
{
    struct xfer *x = arg;
    for (int i = 0; i < 1000; i++) {
        PAT_CHECK(x->blocks[i], x->n[i], (uint32_t)i, "block passed to another thread");
        p_hak_free(x->blocks[i]);
    }
    return NULL;
}

static void test_threads(void)
{
    static struct xfer x;
    for (int round = 0; round < 3; round++) {
        for (int i = 0; i < 1000; i++) {
            x.n[i] = (size_t)(i * 37 % 4000) + (i % 100 == 0 ? 200000 : 0);
            x.blocks[i] = p_hak_malloc(x.n[i]);
            CHECK(x.blocks[i], "hak_malloc");
            pat_fill(x.blocks[i], x.n[i], (uint32_t)i);
        }
        pthread_t t;
        CHECK(pthread_create(&t, NULL, freer, &x) == 0, "pthread_create");
        pthread_join(t, NULL);
    }
}

int main(void)
{
    resolve_all();
    test_version();
    test_malloc_free();
    test_calloc();
    test_realloc();
    test_posix_memalign();
    test_mixing();
    test_threads();
    test_trim();
    fflush(stdout);
    p_hak_stats_print();
    printf("prefixed_api: ok\n");
    return 0;
}
