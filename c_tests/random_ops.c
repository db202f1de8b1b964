/* random_ops: a random mixed workload of every allocation call, with a
 * shadow table recording each live block's size, alignment and pattern seed.
 * Every block's contents are checked before it is freed or reallocated and
 * at random times; calloc results are checked for zeroes; alignment and
 * malloc_usable_size are checked on every allocation.  Two threads run it,
 * each with its own shadow table, and swap blocks through a shared exchange
 * so that blocks are also freed / reallocated by the other thread.
 * HAK_TEST_SEED changes the seed, HAK_TEST_OPS the op count. */
#include "common.h"

enum { SLOTS = 2000, XSLOTS = 64, THREADS = 2 };

enum kind { K_PLAIN, K_ALIGNED_ALLOC, K_OTHER_ALIGNED };

struct slot {
    unsigned char *p;
    size_t n;
    uint32_t seed;
    uint32_t align; /* guaranteed alignment of p */
    enum kind kind;
};

static struct slot xchg[XSLOTS];
static pthread_mutex_t xchg_mu = PTHREAD_MUTEX_INITIALIZER;
static long ops_per_thread = 150000;
static uint64_t base_seed;
static int have_sized;

struct stats {
    long allocs, frees, reallocs, checks, xchgs;
};

static size_t pick_size(rng_t *r)
{
    uint64_t c = rng_below(r, 1000);
    if (c < 700)
        return rng_below(r, 257);
    if (c < 880)
        return 256 + rng_below(r, 3841);
    if (c < 960)
        return 4096 + rng_below(r, 61441);
    if (c < 995)
        return 65536 + rng_below(r, 458753);
    return 524288 + rng_below(r, (4u << 20) - 524288);
}

static void check_slot(const struct slot *s, const char *what, long op)
{
    CHECK(is_aligned(s->p, s->align), "%s (op %ld): block %p not %u-aligned", what, op, (void *)s->p, s->align);
    PAT_CHECK(s->p, s->n, s->seed, "%s (op %ld): block of %zu, align %u, kind %d", what, op, s->n, s->align,
              (int)s->kind);
}

static void after_alloc(struct slot *s, unsigned char *p, size_t n, uint32_t align, enum kind k, rng_t *r,
                        const char *what, long op)
{
    CHECK(p != NULL, "%s(%zu) returned NULL (op %ld)", what, n, op);
    CHECK(is_aligned(p, align), "%s(%zu) returned %p, not %u-aligned (op %ld)", what, n, (void *)p, align, op);
    CHECK(malloc_usable_size(p) >= n, "%s(%zu): malloc_usable_size = %zu (op %ld)", what, n,
          malloc_usable_size(p), op);
    s->p = p;
    s->n = n;
    s->seed = (uint32_t)rng_next(r);
    s->align = align;
    s->kind = k;
    pat_fill(p, n, s->seed);
}

static void do_alloc(struct slot *s, rng_t *r, long op)
{
    size_t n = pick_size(r);
    uint64_t c = rng_below(r, 100);
    if (c < 40) {
        after_alloc(s, malloc(n), n, MIN_ALIGN, K_PLAIN, r, "malloc", op);
    } else if (c < 55) {
        size_t elem = 1 + rng_below(r, 16);
        size_t cnt = n / elem;
        unsigned char *p = calloc(cnt, elem);
        CHECK(p, "calloc(%zu, %zu)", cnt, elem);
        size_t z = find_nonzero(p, cnt * elem);
        CHECK(z == (size_t)-1, "calloc(%zu, %zu): byte %zu is 0x%02x, not zero (op %ld)", cnt, elem, z, p[z], op);
        after_alloc(s, p, cnt * elem, MIN_ALIGN, K_PLAIN, r, "calloc", op);
    } else if (c < 65) {
        after_alloc(s, realloc(NULL, n), n, MIN_ALIGN, K_PLAIN, r, "realloc(NULL)", op);
    } else if (c < 70) {
        size_t elem = 1 + rng_below(r, 8);
        after_alloc(s, reallocarray(NULL, n / elem, elem), n / elem * elem, MIN_ALIGN, K_PLAIN, r,
                    "reallocarray(NULL)", op);
    } else if (c < 78) {
        uint32_t a = (uint32_t)sizeof(void *) << rng_below(r, 10); /* 8 .. 4096 */
        void *p = NULL;
        int rc = posix_memalign(&p, a, n);
        CHECK(rc == 0, "posix_memalign(%u, %zu) returned %d (op %ld)", a, n, rc, op);
        after_alloc(s, p, n, a < MIN_ALIGN ? (uint32_t)MIN_ALIGN : a, K_OTHER_ALIGNED, r, "posix_memalign", op);
    } else if (c < 86) {
        uint32_t a = 16u << rng_below(r, 13); /* 16 .. 64 KiB */
        size_t m = (n + a - 1) / a * a;         /* C11: a multiple of the alignment */
        if (m == 0)
            m = a;
        after_alloc(s, aligned_alloc(a, m), m, a, K_ALIGNED_ALLOC, r, "aligned_alloc", op);
        s->align = a;
    } else if (c < 94) {
        uint32_t a = 16u << rng_below(r, 17); /* 16 .. 1 MiB */
        after_alloc(s, memalign(a, n), n, a, K_OTHER_ALIGNED, r, "memalign", op);
    } else if (c < 98) {
        after_alloc(s, valloc(n), n, (uint32_t)page_size(), K_OTHER_ALIGNED, r, "valloc", op);
    } else {
        size_t ps = page_size();
        unsigned char *p = pvalloc(n);
        CHECK(p, "pvalloc(%zu)", n);
        size_t rounded = (n + ps - 1) & ~(ps - 1);
        CHECK(malloc_usable_size(p) >= rounded, "pvalloc(%zu): usable %zu < %zu", n, malloc_usable_size(p),
              rounded);
        after_alloc(s, p, rounded, (uint32_t)ps, K_OTHER_ALIGNED, r, "pvalloc", op);
    }
}

static void do_free(struct slot *s, rng_t *r, long op)
{
    check_slot(s, "before free", op);
    uint64_t c = rng_below(r, 10);
    if (have_sized && c < 2) {
        if (s->kind == K_ALIGNED_ALLOC)
            free_aligned_sized(s->p, s->align, s->n);
        else
            free_sized(s->p, s->n);
    } else if (c < 3) {
        unsigned char *q = realloc(s->p, 0);
        if (q) { /* glibc returns NULL; tolerate a minimal block on foreign allocators */
            CHECK(foreign_allocator(), "realloc(p, 0) returned %p, not NULL (op %ld)", (void *)q, op);
            free(q);
        }
    } else {
        free(s->p);
    }
    s->p = NULL;
}

static void do_realloc(struct slot *s, rng_t *r, long op)
{
    check_slot(s, "before realloc", op);
    size_t m = pick_size(r);
    if (m == 0)
        m = 1;
    unsigned char *q;
    const char *what;
    if (rng_below(r, 5) == 0) {
        size_t elem = 1 + rng_below(r, 8);
        m = (m + elem - 1) / elem * elem;
        q = reallocarray(s->p, m / elem, elem);
        what = "reallocarray";
    } else {
        q = realloc(s->p, m);
        what = "realloc";
    }
    CHECK(q, "%s(%zu -> %zu) returned NULL (op %ld)", what, s->n, m, op);
    CHECK(is_aligned(q, MIN_ALIGN), "%s result %p misaligned (op %ld)", what, (void *)q, op);
    CHECK(malloc_usable_size(q) >= m, "%s(%zu -> %zu): usable %zu", what, s->n, m, malloc_usable_size(q));
    size_t keep = s->n < m ? s->n : m;
    PAT_CHECK(q, keep, s->seed, "%s(%zu -> %zu) lost contents (op %ld)", what, s->n, m, op);
    pat_fill_range(q, keep, m, s->seed);
    s->p = q;
    s->n = m;
    s->align = (uint32_t)MIN_ALIGN;
    s->kind = K_PLAIN;
}

static void do_usable(struct slot *s, long op)
{
    check_slot(s, "before malloc_usable_size", op);
    size_t u = malloc_usable_size(s->p);
    CHECK(u >= s->n, "malloc_usable_size = %zu < %zu (op %ld)", u, s->n, op);
    /* the slack is ours: write it, the block must stay intact */
    memset(s->p + s->n, 0xee, u - s->n);
    check_slot(s, "after writing the usable slack", op);
}

static void *run(void *arg)
{
    uintptr_t tid = (uintptr_t)arg;
    rng_t r;
    rng_seed(&r, base_seed * 1000 + tid);
    struct slot *sl = calloc(SLOTS, sizeof *sl);
    CHECK(sl, "calloc shadow");
    struct stats st = {0};
    for (long op = 0; op < ops_per_thread; op++) {
        struct slot *s = &sl[rng_below(&r, SLOTS)];
        if (!s->p) {
            do_alloc(s, &r, op);
            st.allocs++;
            continue;
        }
        uint64_t c = rng_below(&r, 100);
        if (c < 55) {
            do_free(s, &r, op);
            st.frees++;
        } else if (c < 80) {
            do_realloc(s, &r, op);
            st.reallocs++;
        } else if (c < 88) {
            do_usable(s, op);
            st.checks++;
        } else if (c < 95) {
            check_slot(s, "random check", op);
            st.checks++;
        } else {
            check_slot(s, "before exchange", op);
            pthread_mutex_lock(&xchg_mu);
            struct slot *x = &xchg[rng_below(&r, XSLOTS)];
            struct slot tmp = *x;
            *x = *s;
            *s = tmp;
            pthread_mutex_unlock(&xchg_mu);
            if (s->p)
                check_slot(s, "block from the exchange", op);
            st.xchgs++;
        }
    }
    for (int i = 0; i < SLOTS; i++)
        if (sl[i].p) {
            check_slot(&sl[i], "at end", -1);
            free(sl[i].p);
        }
    free(sl);
    printf("thread %lu: %ld allocs, %ld frees, %ld reallocs, %ld checks, %ld exchanges\n", (unsigned long)tid,
           st.allocs, st.frees, st.reallocs, st.checks, st.xchgs);
    return NULL;
}

int main(void)
{
    base_seed = test_seed(20240601);
    const char *e = getenv("HAK_TEST_OPS");
    if (e && *e)
        ops_per_thread = strtol(e, NULL, 0) / THREADS;
    have_sized = !foreign_allocator() && HAVE_SYM(free_sized) && HAVE_SYM(free_aligned_sized);
    pthread_t t[THREADS];
    for (uintptr_t i = 0; i < THREADS; i++)
        CHECK(pthread_create(&t[i], NULL, run, (void *)i) == 0, "pthread_create");
    for (int i = 0; i < THREADS; i++)
        pthread_join(t[i], NULL);
    for (int i = 0; i < XSLOTS; i++)
        if (xchg[i].p) {
            check_slot(&xchg[i], "exchange slot at end", -1);
            free(xchg[i].p);
        }
    printf("random_ops: ok (%ld ops)\n", ops_per_thread * THREADS);
    return 0;
}
