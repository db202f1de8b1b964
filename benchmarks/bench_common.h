/* bench_common.h — shared helpers for hakmem's benchmark workloads.
 *
 * Every workload uses only plain malloc/calloc/realloc/free, so any allocator can be
 * swapped in with LD_PRELOAD. Helpers here: a deterministic PRNG, a monotonic clock,
 * argument parsing that rejects garbage, block patterns that detect corruption, and
 * the one machine-readable result line every workload prints:
 *
 *     <name>: ops=<n> seconds=<s> ops_per_sec=<x> threads=<t> maxrss_kb=<k>
 *
 * Exit status: 0 ok, 2 usage error, 3 corruption detected, 4 malloc returned NULL,
 * 5 a thread could not be created.
 */
#ifndef HAKMEM_BENCH_COMMON_H
#define HAKMEM_BENCH_COMMON_H

#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* clock_gettime, nanosleep, getrusage on glibc */
#endif
#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

enum {
    EXIT_USAGE = 2,
    EXIT_CORRUPT = 3,
    EXIT_NOMEM = 4,
    EXIT_THREAD = 5,
};

/* ---- fatal messages -------------------------------------------------------------
 * Formatted into a stack buffer and written with write(2): no allocation, so a broken
 * allocator cannot hide the message. _exit: other threads may still be running. */
static void bench_die(int code, const char *fmt, ...)
    __attribute__((noreturn, format(printf, 2, 3)));
static void bench_die(int code, const char *fmt, ...) {
    char buf[512];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(buf, sizeof buf - 1, fmt, ap);
    va_end(ap);
    if (n < 0) n = 0;
    if (n > (int)sizeof buf - 2) n = (int)sizeof buf - 2;
    buf[n++] = '\n';
    fflush(stdout);
    ssize_t w = write(2, buf, (size_t)n);
    (void)w;
    _exit(code);
}

/* ---- PRNG: splitmix64 (deterministic per seed and thread) -------------------------- */
typedef struct { uint64_t s; } rng_t;

static inline uint64_t rng_next(rng_t *r) {
    uint64_t z = (r->s += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

/* Seed for stream `stream` of run seed `seed`: distinct and reproducible. The stream is
 * scrambled into the start, so that streams are not shifted copies of each other (a start
 * that differs by a multiple of the increment is the same sequence a few steps on). */
static inline rng_t rng_for(uint64_t seed, uint64_t stream) {
    rng_t mixer = { stream * 0xD1B54A32D192ED03ull + 1 };
    rng_t r = { seed ^ rng_next(&mixer) };
    (void)rng_next(&r);
    return r;
}

/* Uniform in [lo, hi] (inclusive). The modulo bias is irrelevant at these ranges. */
static inline size_t rng_range(rng_t *r, size_t lo, size_t hi) {
    return lo + (size_t)(rng_next(r) % (uint64_t)(hi - lo + 1));
}

/* ---- time ----------------------------------------------------------------------- */
static inline double now_sec(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static inline void sleep_sec(double s) {
    struct timespec ts;
    ts.tv_sec = (time_t)s;
    ts.tv_nsec = (long)((s - (double)ts.tv_sec) * 1e9);
    while (nanosleep(&ts, &ts) == -1 && errno == EINTR) {
    }
}

/* ---- argument parsing --------------------------------------------------------------- */
static inline long long parse_ll(const char *what, const char *s, long long lo, long long hi) {
    char *end;
    errno = 0;
    long long v = strtoll(s, &end, 0);
    if (errno || end == s || *end != '\0' || v < lo || v > hi)
        bench_die(EXIT_USAGE, "bad %s '%s' (want an integer in [%lld, %lld])", what, s, lo, hi);
    return v;
}

static inline double parse_double(const char *what, const char *s, double lo, double hi) {
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (errno || end == s || *end != '\0' || !(v >= lo && v <= hi))
        bench_die(EXIT_USAGE, "bad %s '%s' (want a number in [%g, %g])", what, s, lo, hi);
    return v;
}

/* ---- block patterns --------------------------------------------------------------------
 * A block of n bytes gets a 64-bit tag in its first 8 bytes and the tag's complement
 * (rotated) in its last 8 bytes; blocks shorter than 16 bytes get every byte derived from
 * the tag. The tag mixes the address, the size and a per-allocation serial number, so a
 * block handed out twice while live, a block overwritten by a neighbour, or a pointer the
 * program never got from malloc all fail the check. */
static inline uint64_t mix64(uint64_t x) {
    x ^= x >> 33;
    x *= 0xFF51AFD7ED558CCDull;
    x ^= x >> 33;
    x *= 0xC4CEB9FE1A85EC53ull;
    x ^= x >> 33;
    return x;
}

static inline uint64_t block_tag(const void *p, size_t n, uint64_t serial) {
    return mix64((uint64_t)(uintptr_t)p ^ mix64((uint64_t)n * 0x100000001B3ull ^ serial));
}

static inline uint64_t tail_word(uint64_t tag) {
    return ~((tag << 17) | (tag >> 47));
}

static inline void pattern_fill(void *p, size_t n, uint64_t tag) {
    unsigned char *b = (unsigned char *)p;
    if (n >= 16) {
        uint64_t t = tail_word(tag);
        memcpy(b, &tag, 8);
        memcpy(b + n - 8, &t, 8);
    } else {
        for (size_t i = 0; i < n; i++) b[i] = (unsigned char)((tag >> (8 * (i & 7))) ^ (i * 37));
    }
}

/* Returns 1 if the pattern is intact. */
static inline int pattern_ok(const void *p, size_t n, uint64_t tag) {
    const unsigned char *b = (const unsigned char *)p;
    if (n >= 16) {
        uint64_t h, t;
        memcpy(&h, b, 8);
        memcpy(&t, b + n - 8, 8);
        return h == tag && t == tail_word(tag);
    }
    for (size_t i = 0; i < n; i++)
        if (b[i] != (unsigned char)((tag >> (8 * (i & 7))) ^ (i * 37))) return 0;
    return 1;
}

/* Verify or die, naming the workload and the block. */
static inline void pattern_check(const char *who, const void *p, size_t n, uint64_t tag) {
    if (!pattern_ok(p, n, tag))
        bench_die(EXIT_CORRUPT,
                  "%s: CORRUPTION: block %p (size %zu) lost its pattern before free "
                  "(overwritten, or handed out twice)",
                  who, p, n);
}

/* malloc that treats NULL as fatal (size 0 may legitimately return NULL in C). */
static inline void *xmalloc(const char *who, size_t n) {
    void *p = malloc(n);
    if (p == NULL && n != 0) bench_die(EXIT_NOMEM, "%s: malloc(%zu) returned NULL", who, n);
    return p;
}

static inline void *xrealloc(const char *who, void *old, size_t n) {
    void *p = realloc(old, n);
    if (p == NULL && n != 0) bench_die(EXIT_NOMEM, "%s: realloc(%p, %zu) returned NULL", who, old, n);
    return p;
}

static inline void xthread_create(const char *who, pthread_t *t, void *(*fn)(void *), void *arg) {
    int e = pthread_create(t, NULL, fn, arg);
    if (e != 0) bench_die(EXIT_THREAD, "%s: pthread_create failed: %s", who, strerror(e));
}

static inline void xthread_join(const char *who, pthread_t t) {
    int e = pthread_join(t, NULL);
    if (e != 0) bench_die(EXIT_THREAD, "%s: pthread_join failed: %s", who, strerror(e));
}

/* ---- start gate ------------------------------------------------------------------------
 * Workers call gate_enter() when ready and start working when it returns; main calls
 * gate_open(), which returns the start time, taken after every worker is ready and before
 * any can start (so a descheduled main thread cannot miss the start of the work). For a
 * timed end, workers call gate_leave() when done and main gate_close(), which returns the
 * time after the last worker arrived. */
typedef struct {
    pthread_barrier_t ready, go;
} start_gate;

static inline void gate_init(start_gate *g, unsigned workers) {
    pthread_barrier_init(&g->ready, NULL, workers + 1);
    pthread_barrier_init(&g->go, NULL, workers + 1);
}
static inline void gate_enter(start_gate *g) {
    pthread_barrier_wait(&g->ready);
    pthread_barrier_wait(&g->go);
}
static inline double gate_open(start_gate *g) {
    pthread_barrier_wait(&g->ready);
    double t = now_sec();
    pthread_barrier_wait(&g->go);
    return t;
}
static inline void gate_leave(start_gate *g) { pthread_barrier_wait(&g->ready); }
static inline double gate_close(start_gate *g) {
    pthread_barrier_wait(&g->ready);
    return now_sec();
}
static inline void gate_destroy(start_gate *g) {
    pthread_barrier_destroy(&g->ready);
    pthread_barrier_destroy(&g->go);
}

/* Runs worker(args + t * stride) for t < threads, each on its own thread, behind gate `g`
 * (initialised for `threads` workers, which call gate_enter and gate_leave); joins them and
 * returns the seconds from the opening of the gate to the last worker's gate_leave. */
static inline double run_gated_workers(const char *who, start_gate *g, int threads,
                                       void *(*worker)(void *), void *args, size_t stride) {
    pthread_t *th = (pthread_t *)calloc((size_t)threads, sizeof *th);
    if (th == NULL) bench_die(EXIT_NOMEM, "%s: calloc failed", who);
    for (int t = 0; t < threads; t++) xthread_create(who, &th[t], worker, (char *)args + (size_t)t * stride);
    double t0 = gate_open(g);
    double elapsed = gate_close(g) - t0;
    for (int t = 0; t < threads; t++) xthread_join(who, th[t]);
    free(th);
    return elapsed;
}

/* Peak resident set of this process in KiB (Linux reports ru_maxrss in KiB). */
static inline long maxrss_kb(void) {
    struct rusage ru;
    if (getrusage(RUSAGE_SELF, &ru) != 0) return -1;
    return ru.ru_maxrss;
}

static inline void print_result(const char *name, double ops, double seconds, int threads) {
    double rate = seconds > 0 ? ops / seconds : 0.0;
    printf("%s: ops=%.0f seconds=%.6f ops_per_sec=%.0f threads=%d maxrss_kb=%ld\n", name, ops,
           seconds, rate, threads, maxrss_kb());
    fflush(stdout);
}

/* ---- workloads of the shape <iterations> <working-set> <seed> <threads> --------------- */
/* (random_mixed, large_block, malloc_large) */

typedef struct {
    int index; /* 1-based: the thread's random stream and serial numbers */
    uint64_t iterations, working_set, seed;
    start_gate *start;
} ws_worker_arg;

/* main() of such a workload: parses the arguments (the working set up to max_ws), runs
 * worker on each thread behind a start gate, and prints the result line, counting one op per
 * iteration of each thread. */
static inline int ws_workload_main(const char *name, const char *example, long long max_ws,
                                   int argc, char **argv, void *(*worker)(void *)) {
    if (argc != 5) {
        fprintf(stderr, "usage: %s <iterations> <working-set> <seed> <threads>\n  e.g. %s %s\n",
                name, name, example);
        return EXIT_USAGE;
    }
    uint64_t iterations = (uint64_t)parse_ll("iterations", argv[1], 0, 1LL << 40);
    uint64_t ws = (uint64_t)parse_ll("working-set", argv[2], 1, max_ws);
    uint64_t seed = (uint64_t)parse_ll("seed", argv[3], 0, INT64_MAX);
    int threads = (int)parse_ll("threads", argv[4], 1, 1024);

    start_gate start;
    gate_init(&start, (unsigned)threads);
    ws_worker_arg *args = (ws_worker_arg *)calloc((size_t)threads, sizeof *args);
    if (args == NULL) bench_die(EXIT_NOMEM, "%s: calloc failed", name);
    for (int t = 0; t < threads; t++) {
        args[t] = (ws_worker_arg){.index = t + 1, .iterations = iterations, .working_set = ws,
                                  .seed = seed, .start = &start};
    }
    double elapsed = run_gated_workers(name, &start, threads, worker, args, sizeof *args);
    gate_destroy(&start);
    free(args);
    print_result(name, (double)iterations * threads, elapsed, threads);
    return 0;
}

#endif /* HAKMEM_BENCH_COMMON_H */
