/* icount_work.c — fixed micro-workloads for instruction counting (scripts/icount).
 *
 *   icount_work <fixed64|fixed64w|ws64|random|sized|xthread> <n> <real|dry>
 *
 *   fixed64  n times malloc(64) and free it at once (the size-class fast path)
 *   fixed64w the same after a warm-up that mallocs 1024 blocks of 64 B and frees all but
 *            the first, which stays live through the loop: every allocator starts with a
 *            full free list and no empty page to retire (fixed64 without it is the worst
 *            case of mimalloc 2, whose malloc finds the list it pops from empty every time;
 *            this is the steady state of a malloc+free loop in a program with live data)
 *   ws64     1024 live blocks of 64 B; n times free a random one and malloc(64) in its
 *            place (fixed_size's steady state: the class always has free blocks, so each
 *            allocator's pure fast paths, where fixed64 may empty a list on every call)
 *   random   n times free the block in a ring slot (256 slots) and malloc a new one of
 *            random size 16..1040 B (a mix of classes and of live blocks)
 *   sized    random, asking malloc_usable_size of each block after its malloc and before
 *            its free, as a program that accounts for its memory does (redis's zmalloc)
 *   xthread  a producer thread mallocs n blocks of 64 B and hands them, 1024 per batch,
 *            to a consumer thread that frees them (every free is a remote free)
 *
 * `dry` runs the identical program with every malloc and free skipped (a static buffer
 * stands in), so that (Ir(real) - Ir(dry)) / n is the cost of one malloc plus one free,
 * with the loop, the PRNG, thread start-up and process start-up subtracted (for sized, of
 * one malloc, one free and two malloc_usable_size calls).
 */
#include "bench_common.h"

#include <malloc.h>

#define RING 256
#define WS 1024
#define XBATCH 1024

static int g_dry;
static unsigned char g_fake[2048];
static void *volatile g_sink;

static inline void *op_malloc(size_t n) {
    if (g_dry) return g_fake;
    void *p = malloc(n);
    if (p == NULL) bench_die(EXIT_NOMEM, "icount_work: malloc(%zu) returned NULL", n);
    return p;
}

static inline void op_free(void *p) {
    if (!g_dry) free(p);
}

static void run_fixed64(uint64_t n) {
    for (uint64_t i = 0; i < n; i++) {
        unsigned char *p = (unsigned char *)op_malloc(64);
        p[0] = (unsigned char)i;
        g_sink = p;
        op_free(p);
    }
}

static void run_fixed64w(uint64_t n) {
    static void *warm[WS];
    for (int i = 0; i < WS; i++) warm[i] = op_malloc(64);
    for (int i = 1; i < WS; i++) op_free(warm[i]);
    run_fixed64(n);
    op_free(warm[0]);
}

static void run_ws64(uint64_t n) {
    static void *set[WS];
    rng_t rng = rng_for(42, 1);
    for (int i = 0; i < WS; i++) set[i] = op_malloc(64);
    for (uint64_t i = 0; i < n; i++) {
        void **slot = &set[rng_next(&rng) % WS];
        op_free(*slot);
        unsigned char *p = (unsigned char *)op_malloc(64);
        p[0] = (unsigned char)i;
        *slot = p;
    }
    for (int i = 0; i < WS; i++) op_free(set[i]);
}

static inline size_t op_usable(void *p) {
    return g_dry ? sizeof g_fake : malloc_usable_size(p);
}

static volatile size_t g_accounted; /* what sized's program believes it holds */

/* Inlined into both, so that random's loop is the same code with or without sized's calls. */
static inline __attribute__((always_inline)) void run_random_sized(uint64_t n, int sized) {
    void *ring[RING] = {0};
    rng_t rng = rng_for(42, 1);
    for (uint64_t i = 0; i < n; i++) {
        void **slot = &ring[i % RING];
        if (*slot != NULL) {
            if (sized) g_accounted -= op_usable(*slot);
            op_free(*slot);
        }
        size_t sz = rng_range(&rng, 16, 1040);
        unsigned char *p = (unsigned char *)op_malloc(sz);
        if (sized) g_accounted += op_usable(p);
        p[0] = (unsigned char)i;
        *slot = p;
        g_sink = p;
    }
    for (int i = 0; i < RING; i++)
        if (ring[i] != NULL) op_free(ring[i]);
}

static void run_random(uint64_t n) { run_random_sized(n, 0); }
static void run_sized(uint64_t n) { run_random_sized(n, 1); }

/* xthread: a two-buffer hand-over under one mutex. */
static struct {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    void *buf[2][XBATCH];
    size_t len[2];
    int full[2]; /* buffer i holds a batch for the consumer */
    int finished;
} X = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, {{0}}, {0}, {0}, 0};

static void *x_consumer(void *arg) {
    (void)arg;
    for (int which = 0;; which ^= 1) {
        pthread_mutex_lock(&X.mu);
        while (!X.full[which] && !X.finished) pthread_cond_wait(&X.cv, &X.mu);
        if (!X.full[which]) {
            pthread_mutex_unlock(&X.mu);
            return NULL;
        }
        pthread_mutex_unlock(&X.mu);
        for (size_t i = 0; i < X.len[which]; i++) op_free(X.buf[which][i]);
        pthread_mutex_lock(&X.mu);
        X.full[which] = 0;
        pthread_cond_broadcast(&X.cv);
        pthread_mutex_unlock(&X.mu);
    }
}

static void run_xthread(uint64_t n) {
    pthread_t cons;
    xthread_create("icount_work", &cons, x_consumer, NULL);
    uint64_t done = 0;
    for (int which = 0; done < n; which ^= 1) {
        pthread_mutex_lock(&X.mu);
        while (X.full[which]) pthread_cond_wait(&X.cv, &X.mu);
        pthread_mutex_unlock(&X.mu);
        size_t len = 0;
        for (; len < XBATCH && done < n; len++, done++) {
            unsigned char *p = (unsigned char *)op_malloc(64);
            p[0] = (unsigned char)done;
            X.buf[which][len] = p;
        }
        pthread_mutex_lock(&X.mu);
        X.len[which] = len;
        X.full[which] = 1;
        pthread_cond_broadcast(&X.cv);
        pthread_mutex_unlock(&X.mu);
    }
    pthread_mutex_lock(&X.mu);
    X.finished = 1;
    pthread_cond_broadcast(&X.cv);
    pthread_mutex_unlock(&X.mu);
    xthread_join("icount_work", cons);
}

int main(int argc, char **argv) {
    if (argc != 4) {
        fprintf(stderr, "usage: icount_work <fixed64|fixed64w|ws64|random|sized|xthread> <n> <real|dry>\n");
        return EXIT_USAGE;
    }
    uint64_t n = (uint64_t)parse_ll("n", argv[2], 0, 1LL << 40);
    if (strcmp(argv[3], "dry") == 0)
        g_dry = 1;
    else if (strcmp(argv[3], "real") != 0)
        bench_die(EXIT_USAGE, "bad mode '%s' (want real or dry)", argv[3]);
    if (strcmp(argv[1], "fixed64") == 0)
        run_fixed64(n);
    else if (strcmp(argv[1], "fixed64w") == 0)
        run_fixed64w(n);
    else if (strcmp(argv[1], "ws64") == 0)
        run_ws64(n);
    else if (strcmp(argv[1], "random") == 0)
        run_random(n);
    else if (strcmp(argv[1], "sized") == 0)
        run_sized(n);
    else if (strcmp(argv[1], "xthread") == 0)
        run_xthread(n);
    else
        bench_die(EXIT_USAGE, "bad workload '%s'", argv[1]);
    printf("icount_work: workload=%s n=%llu mode=%s\n", argv[1], (unsigned long long)n, argv[3]);
    return 0;
}
