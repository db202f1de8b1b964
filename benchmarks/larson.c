/* larson.c — the Larson & Krishnan "server" allocator benchmark, written for hakmem.
 *
 *   larson <seconds> <min-size> <max-size> <blocks-per-thread> <rounds> <seed> <threads>
 *   e.g.  larson 5 8 1000 5000 100 4141 2        (mimalloc-bench's setting)
 *         larson 10 8 128 1024 1 12345 4         (the hakmem seeds' setting)
 *
 * Model (as in the well-known version): the main thread allocates threads x blocks
 * blocks of random size in [min-size, max-size], shuffles them and gives each of <threads>
 * slots an array of <blocks-per-thread>. A thread working a slot performs
 * rounds x blocks-per-thread operations; one operation frees a random block of the array
 * and puts a newly allocated block of random size in its place. Then the thread hands the
 * array to a freshly created thread and exits, so blocks are freed by threads that did not
 * allocate them and thread caches keep being created and retired. After <seconds> the
 * main thread raises a stop flag; throughput = operations / elapsed seconds, where one
 * operation is one free plus one malloc (the well-known version counts the same way).
 *
 * Differences from the well-known version, on purpose:
 *  - every relay thread is joined (by its successor; the last one by main), so a run with
 *    1 round per thread does not leak one thread stack per relay and does not hit the
 *    kernel's map limit;
 *  - every block carries a pattern derived from its address, size and an allocation serial
 *    number (first and last 8 bytes), checked right before it is freed; the array is the
 *    record of what was allocated, so only blocks this program got from malloc are freed;
 *  - corruption or malloc returning NULL ends the run with a message and a non-zero exit;
 *  - a per-slot deterministic PRNG (splitmix64 seeded from <seed> and the slot index).
 *
 * Output:
 *   Throughput = <N> operations per second
 *   larson: ops=<n> seconds=<s> ops_per_sec=<x> threads=<t> maxrss_kb=<k> relays=<r>
 */
#include "bench_common.h"

#include <stdatomic.h>

typedef struct {
    void *p;
    size_t size;
    uint64_t tag;
} block_rec;

typedef struct {
    /* Set up by main before the first thread; afterwards touched only by the thread
     * currently working the slot (threads of one slot run strictly one after another:
     * each successor joins its predecessor before touching the slot). */
    block_rec *blocks;
    size_t nblocks;
    rng_t rng;
    uint64_t serial;
    uint64_t ops;    /* free+malloc pairs done in this slot */
    uint64_t relays; /* threads that worked this slot */
    pthread_t prev;  /* the thread to join before starting */
    int has_prev;
    int index;

    /* Hand-over and shutdown, under mu. */
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int done;       /* the last thread of this slot has finished */
    pthread_t last; /* that thread: main joins it */
} slot_t;

static size_t g_min_size, g_max_size;
static uint64_t g_ops_per_thread;
static atomic_int g_stop;

static void *slot_worker(void *arg);

static void replace_block(slot_t *s, block_rec *b) {
    if (b->p != NULL || b->size != 0) {
        pattern_check("larson", b->p, b->size, b->tag);
        free(b->p);
    }
    size_t n = rng_range(&s->rng, g_min_size, g_max_size);
    void *p = xmalloc("larson", n);
    b->p = p;
    b->size = n;
    b->tag = block_tag(p, n, ++s->serial ^ ((uint64_t)s->index << 48));
    pattern_fill(p, n, b->tag);
}

static void *slot_worker(void *arg) {
    slot_t *s = (slot_t *)arg;
    if (s->has_prev) xthread_join("larson", s->prev);
    s->relays++;

    for (uint64_t i = 0; i < g_ops_per_thread; i++) {
        if (atomic_load_explicit(&g_stop, memory_order_relaxed)) break;
        block_rec *b = &s->blocks[rng_next(&s->rng) % s->nblocks];
        replace_block(s, b);
        s->ops++;
    }

    pthread_mutex_lock(&s->mu);
    if (!atomic_load_explicit(&g_stop, memory_order_acquire)) {
        /* Relay: the successor joins this thread, so nothing leaks. */
        pthread_t next;
        s->prev = pthread_self();
        s->has_prev = 1;
        xthread_create("larson", &next, slot_worker, s);
    } else {
        s->done = 1;
        s->last = pthread_self();
        pthread_cond_signal(&s->cv);
    }
    pthread_mutex_unlock(&s->mu);
    return NULL;
}

static void usage(void) {
    fprintf(stderr,
            "usage: larson <seconds> <min-size> <max-size> <blocks-per-thread> <rounds> <seed> "
            "<threads>\n"
            "  e.g. larson 5 8 1000 5000 100 4141 2\n");
    exit(EXIT_USAGE);
}

int main(int argc, char **argv) {
    if (argc != 8) usage();
    double seconds = parse_double("seconds", argv[1], 0.001, 1e6);
    long long min_size = parse_ll("min-size", argv[2], 0, 1LL << 30);
    long long max_size = parse_ll("max-size", argv[3], 0, 1LL << 30);
    long long nblocks = parse_ll("blocks-per-thread", argv[4], 1, 1LL << 26);
    long long rounds = parse_ll("rounds", argv[5], 1, 1LL << 40);
    long long seed = parse_ll("seed", argv[6], 0, INT64_MAX);
    long long threads = parse_ll("threads", argv[7], 1, 4096);
    if (min_size > max_size) {
        fprintf(stderr, "larson: min-size %lld > max-size %lld, swapping\n", min_size, max_size);
        long long t = min_size;
        min_size = max_size;
        max_size = t;
    }
    g_min_size = (size_t)min_size;
    g_max_size = (size_t)max_size;
    g_ops_per_thread = (uint64_t)rounds * (uint64_t)nblocks;

    size_t total = (size_t)threads * (size_t)nblocks;
    block_rec *all = (block_rec *)calloc(total, sizeof *all);
    slot_t *slots = (slot_t *)calloc((size_t)threads, sizeof *slots);
    if (all == NULL || slots == NULL) bench_die(EXIT_NOMEM, "larson: cannot allocate %zu records", total);

    /* Warm-up: main allocates every block, then shuffles them between the slots so that
     * each first-generation thread frees blocks from all over the heap. */
    slot_t warm = {0};
    warm.rng = rng_for((uint64_t)seed, 0xFFFFFFFFull);
    for (size_t i = 0; i < total; i++) replace_block(&warm, &all[i]);
    for (size_t i = total - 1; i > 0; i--) {
        size_t j = (size_t)(rng_next(&warm.rng) % (i + 1));
        block_rec t = all[i];
        all[i] = all[j];
        all[j] = t;
    }

    for (long long t = 0; t < threads; t++) {
        slot_t *s = &slots[t];
        s->blocks = &all[(size_t)t * (size_t)nblocks];
        s->nblocks = (size_t)nblocks;
        s->rng = rng_for((uint64_t)seed, (uint64_t)t);
        s->index = (int)t + 1;
        pthread_mutex_init(&s->mu, NULL);
        pthread_cond_init(&s->cv, NULL);
    }

    double t0 = now_sec();
    for (long long t = 0; t < threads; t++) {
        pthread_t th;
        xthread_create("larson", &th, slot_worker, &slots[t]);
        /* Not joined here: the slot's later threads join it (see slot_worker). */
    }
    sleep_sec(seconds);
    atomic_store_explicit(&g_stop, 1, memory_order_release);

    uint64_t ops = 0, relays = 0;
    for (long long t = 0; t < threads; t++) {
        slot_t *s = &slots[t];
        pthread_mutex_lock(&s->mu);
        while (!s->done) pthread_cond_wait(&s->cv, &s->mu);
        pthread_mutex_unlock(&s->mu);
        xthread_join("larson", s->last);
        ops += s->ops;
        relays += s->relays;
    }
    double elapsed = now_sec() - t0;

    /* Free (and check) everything that is left. */
    for (size_t i = 0; i < total; i++) {
        pattern_check("larson", all[i].p, all[i].size, all[i].tag);
        free(all[i].p);
    }
    for (long long t = 0; t < threads; t++) {
        pthread_mutex_destroy(&slots[t].mu);
        pthread_cond_destroy(&slots[t].cv);
    }
    free(all);
    free(slots);

    double rate = elapsed > 0 ? (double)ops / elapsed : 0.0;
    printf("Throughput = %.0f operations per second\n", rate);
    printf("larson: ops=%llu seconds=%.6f ops_per_sec=%.0f threads=%lld maxrss_kb=%ld relays=%llu\n",
           (unsigned long long)ops, elapsed, rate, threads, maxrss_kb(), (unsigned long long)relays);
    return 0;
}
