/* stress_oom: out-of-memory behaviour under RLIMIT_AS = 320 MiB, set before
 * the program starts (it re-executes itself under the limit), as ulimit -v,
 * prlimit or systemd's LimitAS= do; the headroom is the limit less the
 * address space in use once the allocator and stdio are initialised.
 * (A limit set later may find address space the allocator reserved at start:
 * c_tests/rlimit_at_run_time.c tests that case.)
 *
 *   1. For each size (64 B, 3000 B, 40000 B, 200 KiB, 8 MiB): malloc until
 *      NULL.  NULL must come with errno == ENOMEM, no crash, and the blocks
 *      obtained must cover at least half the headroom (memory freed by the
 *      previous size was recovered).  Every block is filled, checked and
 *      freed (they are kept on a list threaded through the blocks, so the
 *      test needs no memory of its own).
 *   2. Again for each size: the count must reach 70% of the first pass.
 *   3. Requests beyond the limit: malloc, calloc (plain and n*size),
 *      realloc of a Tiny, a Mid and a Large block, posix_memalign,
 *      aligned_alloc and memalign must fail with NULL/ENOMEM (posix_memalign:
 *      return value ENOMEM), and a failed realloc must leave the old block
 *      intact and usable.
 *   4. With memory exhausted (64 B blocks until NULL, then 3000 B ones):
 *      malloc, calloc, realloc (grow a Tiny block across tiers, grow a
 *      Large block) and posix_memalign either succeed with a correct block
 *      or fail with ENOMEM, leaving the old block intact.  Then everything is
 *      freed and 8 MiB blocks must again reach 70% of the first pass.
 *
 *   stress_oom [SCALE]     pass 2 is repeated SCALE times
 */
#include "stress.h"

#include <sys/resource.h>

#define MiB ((size_t)1 << 20)
static const size_t LIMIT = 320 * MiB;
static size_t HEADROOM; /* LIMIT less the address space in use at the start */

typedef struct node {
    struct node *next;
    size_t n;
    /* pattern from byte 16 on */
} node_t;

static size_t vm_bytes(void)
{
    FILE *f = fopen("/proc/self/statm", "r");
    long size = 0;
    CHECK(f, "fopen /proc/self/statm");
    CHECK(fscanf(f, "%ld", &size) == 1, "read statm");
    fclose(f);
    return (size_t)size * page_size();
}

static uint32_t seed_of(const void *p)
{
    return (uint32_t)((uintptr_t)p >> 4) * 2654435761u;
}

/* Allocate blocks of size n (>= 16) until malloc returns NULL; returns the
 * list, *count the number obtained. */
static node_t *fill_until_null(size_t n, size_t *count, const char *phase)
{
    node_t *head = NULL;
    size_t c = 0, cap = 2 * HEADROOM / n + 100000;
    for (;;) {
        errno = 0;
        node_t *b = malloc(n);
        if (!b) {
            int e = errno;
            CHECK(e == ENOMEM, "%s: malloc(%zu) returned NULL after %zu blocks with errno %d (%s), "
                  "want ENOMEM", phase, n, c, e, strerror(e));
            break;
        }
        CHECK(is_aligned(b, MIN_ALIGN), "%s: malloc(%zu) = %p misaligned", phase, n, (void *)b);
        b->next = head;
        b->n = n;
        pat_fill_range(b, 16, n, seed_of(b));
        head = b;
        c++;
        CHECK(c <= cap, "%s: %zu blocks of %zu bytes and still no NULL under RLIMIT_AS (headroom "
              "%zu MiB)", phase, c, n, HEADROOM / MiB);
    }
    *count = c;
    return head;
}

/* Check that the pattern from byte 16 on is intact (the first 16 bytes hold
 * the list link and size). */
#define TAIL_CHECK(p, n, seed, ...)                                                            \
    do {                                                                                       \
        size_t bad_ = pat_find_bad_range((p), 16, (n), (seed));                                \
        if (bad_ != (size_t)-1) {                                                              \
            fflush(stdout);                                                                    \
            fprintf(stderr, "FAIL %s:%d: corrupted pattern at byte %zu of %zu (block %p): ",   \
                    __FILE__, __LINE__, bad_, (size_t)(n), (void *)(p));                       \
            fprintf(stderr, __VA_ARGS__);                                                      \
            fputc('\n', stderr);                                                               \
            _exit(1);                                                                          \
        }                                                                                      \
    } while (0)

static void free_list_checked(node_t *head, const char *phase)
{
    while (head) {
        node_t *next = head->next;
        TAIL_CHECK(head, head->n, seed_of(head), "%s: block of %zu bytes", phase, head->n);
        free(head);
        head = next;
    }
}

static const size_t sizes[] = {64, 3000, 40000, 200 * 1024, 8 * MiB};
enum { NSIZES = sizeof sizes / sizeof sizes[0] };

#define EXPECT_ENOMEM_NULL(expr, what)                                                        \
    do {                                                                                      \
        errno = 0;                                                                            \
        void *r_ = (expr);                                                                    \
        int e_ = errno;                                                                       \
        CHECK(r_ == NULL, "%s beyond RLIMIT_AS returned %p, want NULL", what, r_);            \
        CHECK(e_ == ENOMEM, "%s returned NULL with errno %d (%s), want ENOMEM", what, e_,     \
              strerror(e_));                                                                  \
    } while (0)

/* A block with a plain pattern (from byte 0). */
static void *patterned(size_t n, uint32_t seed)
{
    void *p = malloc(n);
    CHECK(p, "malloc(%zu) returned NULL", n);
    pat_fill(p, n, seed);
    return p;
}

static void check_plain(void *p, size_t n, uint32_t seed, const char *what)
{
    size_t bad = pat_find_bad(p, n, seed);
    CHECK(bad == (size_t)-1, "%s: block %p of %zu bytes corrupted at byte %zu", what, p, n, bad);
}

static void beyond_limit(void)
{
    size_t huge = HEADROOM + 64 * MiB;
    EXPECT_ENOMEM_NULL(malloc(huge), "malloc(headroom + 64 MiB)");
    EXPECT_ENOMEM_NULL(calloc(1, huge), "calloc(1, headroom + 64 MiB)");
    EXPECT_ENOMEM_NULL(calloc(huge / 4096, 4096), "calloc(n, 4096) beyond the limit");
    EXPECT_ENOMEM_NULL(aligned_alloc(4096, huge), "aligned_alloc(4096, headroom + 64 MiB)");
    EXPECT_ENOMEM_NULL(memalign(2 * MiB, huge), "memalign(2 MiB, headroom + 64 MiB)");
    EXPECT_ENOMEM_NULL(memalign(64, huge), "memalign(64, headroom + 64 MiB)");

    static const size_t olds[] = {100, 1000, 30000, 65536 + 16, 3 * MiB};
    for (size_t i = 0; i < sizeof olds / sizeof olds[0]; i++) {
        size_t n = olds[i];
        uint32_t seed = (uint32_t)(n * 31 + 7);
        void *p = patterned(n, seed);
        char what[96];
        snprintf(what, sizeof what, "realloc(%zu-byte block, headroom + 64 MiB)", n);
        EXPECT_ENOMEM_NULL(realloc(p, huge), what);
        check_plain(p, n, seed, "the block after a failed realloc");
        /* still a live, usable block: grow it for real, then free it */
        void *q = realloc(p, n + 5000);
        CHECK(q, "realloc(%zu -> %zu) after a failed realloc returned NULL", n, n + 5000);
        check_plain(q, n, seed, "the block after a failed, then a successful realloc");
        free(q);
    }

    void *q = (void *)0x1;
    static const size_t aligns[] = {16, 64, 4096, 2 * MiB};
    for (size_t i = 0; i < sizeof aligns / sizeof aligns[0]; i++) {
        int rc = posix_memalign(&q, aligns[i], huge);
        CHECK(rc == ENOMEM, "posix_memalign(%zu, headroom + 64 MiB) returned %d, want ENOMEM (%d)",
              aligns[i], rc, ENOMEM);
    }
}

/* With memory exhausted: each call either works or fails cleanly. */
static void exhausted(size_t first8m)
{
    /* Blocks that will be realloc'd once memory is gone. */
    void *tiny = patterned(200, 11), *large = patterned(1 * MiB, 12), *mid = patterned(20000, 13);

    size_t c64 = 0, c3000 = 0;
    node_t *l64 = fill_until_null(64, &c64, "exhaust 64 B");
    node_t *l3000 = fill_until_null(3000, &c3000, "exhaust 3000 B");
    int failures = 0;

    errno = 0;
    void *p = malloc(100000);
    CHECK(p || errno == ENOMEM, "malloc(100000) when exhausted: NULL with errno %d", errno);
    failures += !p;
    free(p);

    errno = 0;
    p = calloc(1, 2 * MiB);
    if (p)
        CHECK(find_nonzero(p, 2 * MiB) == (size_t)-1, "calloc(1, 2 MiB) when exhausted not zeroed");
    else
        CHECK(errno == ENOMEM, "calloc(1, 2 MiB) when exhausted: NULL with errno %d", errno);
    failures += !p;
    free(p);

    struct {
        void **pp;
        size_t n, m;
        uint32_t seed;
    } rs[] = {{&tiny, 200, 70000, 11}, {&large, 1 * MiB, 48 * MiB, 12}, {&mid, 20000, 4 * MiB, 13}};
    for (size_t i = 0; i < sizeof rs / sizeof rs[0]; i++) {
        errno = 0;
        void *q = realloc(*rs[i].pp, rs[i].m);
        if (q) {
            check_plain(q, rs[i].n, rs[i].seed, "realloc'd block when exhausted");
            *rs[i].pp = q;
            rs[i].n = rs[i].m; /* only the old prefix is patterned; fine: check n bytes below */
            pat_fill(q, rs[i].m, rs[i].seed);
        } else {
            CHECK(errno == ENOMEM, "realloc(%zu -> %zu) when exhausted: NULL with errno %d", rs[i].n,
                  rs[i].m, errno);
            check_plain(*rs[i].pp, rs[i].n, rs[i].seed, "the block after a failed realloc when exhausted");
            failures++;
        }
    }

    void *a = NULL;
    int rc = posix_memalign(&a, 2 * MiB, 4 * MiB);
    CHECK(rc == 0 || rc == ENOMEM, "posix_memalign(2 MiB, 4 MiB) when exhausted returned %d", rc);
    if (rc == 0) {
        CHECK(is_aligned(a, 2 * MiB), "posix_memalign(2 MiB) = %p misaligned", a);
        memset(a, 0x5a, 4 * MiB);
        free(a);
    }
    failures += rc != 0;
    CHECK(failures > 0, "every request succeeded although memory was exhausted");

    for (size_t i = 0; i < sizeof rs / sizeof rs[0]; i++) {
        check_plain(*rs[i].pp, rs[i].n, rs[i].seed, "realloc test block at the end");
        free(*rs[i].pp);
    }
    free_list_checked(l3000, "exhaust 3000 B");
    free_list_checked(l64, "exhaust 64 B");

    size_t c8 = 0;
    node_t *l8 = fill_until_null(8 * MiB, &c8, "8 MiB after exhaustion");
    free_list_checked(l8, "8 MiB after exhaustion");
    printf("exhausted: %zu x 64 B + %zu x 3000 B, %d requests failed cleanly; then %zu x 8 MiB "
           "(first pass %zu)\n",
           c64, c3000, failures, c8, first8m);
    CHECK(c8 * 10 >= first8m * 7, "after exhaustion and freeing everything only %zu blocks of 8 MiB "
          "(first pass: %zu): memory not recovered", c8, first8m);
}

/* Re-executes the program with RLIMIT_AS = LIMIT, once. */
static void run_under_limit(char **argv)
{
    if (getenv("STRESS_OOM_LIMITED"))
        return;
    set_address_space_limit(LIMIT);
    CHECK(setenv("STRESS_OOM_LIMITED", "1", 1) == 0, "setenv");
    fflush(stdout);
    execv("/proc/self/exe", argv);
    FAIL("execv /proc/self/exe: %s", strerror(errno));
}

int main(int argc, char **argv)
{
    run_under_limit(argv);
    long scale = stress_scale(argc, argv);
    test_seed(1); /* the patterns derive from addresses; printed for the convention */
    setvbuf(stdout, NULL, _IOLBF, 0);
    /* Let the allocator (and stdio) initialise before the limit. */
    for (size_t i = 0; i < NSIZES; i++)
        free(malloc(sizes[i]));
    printf("initialised\n");

    size_t vm = vm_bytes();
    struct rlimit rl;
    CHECK(getrlimit(RLIMIT_AS, &rl) == 0, "getrlimit");
    CHECK(rl.rlim_cur != RLIM_INFINITY && rl.rlim_cur >= vm + 128 * MiB,
          "RLIMIT_AS %zu MiB leaves less than 128 MiB beyond the %zu MiB in use at the start",
          (size_t)rl.rlim_cur / MiB, vm / MiB);
    HEADROOM = rl.rlim_cur - vm;
    printf("vm %zu MiB, RLIMIT_AS %zu MiB\n", vm / MiB, (size_t)rl.rlim_cur / MiB);
    double t0 = now_sec();

    size_t first[NSIZES];
    for (size_t i = 0; i < NSIZES; i++) {
        char phase[64];
        snprintf(phase, sizeof phase, "pass 1, %zu B", sizes[i]);
        node_t *l = fill_until_null(sizes[i], &first[i], phase);
        free_list_checked(l, phase);
        printf("%s: %zu blocks (%zu MiB)\n", phase, first[i], first[i] * sizes[i] / MiB);
        CHECK(first[i] * sizes[i] >= HEADROOM / 2,
              "%s: only %zu blocks (%zu MiB) of a %zu MiB headroom: memory of the previous size "
              "not recovered?", phase, first[i], first[i] * sizes[i] / MiB, HEADROOM / MiB);
    }
    for (long rep = 0; rep < scale; rep++) {
        for (size_t k = 0; k < NSIZES; k++) {
            size_t i = rep % 2 ? NSIZES - 1 - k : k; /* odd repetitions in reverse order */
            char phase[64];
            snprintf(phase, sizeof phase, "pass %ld, %zu B", rep + 2, sizes[i]);
            size_t c = 0;
            node_t *l = fill_until_null(sizes[i], &c, phase);
            free_list_checked(l, phase);
            printf("%s: %zu blocks (first pass %zu)\n", phase, c, first[i]);
            CHECK(c * 10 >= first[i] * 7,
                  "%s: only %zu blocks after freeing everything, first pass got %zu: memory not "
                  "recovered", phase, c, first[i]);
        }
        beyond_limit();
    }
    exhausted(first[NSIZES - 1]);
    printf("stress_oom: ok seconds=%.2f\n", now_sec() - t0);
    return 0;
}
