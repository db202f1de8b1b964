/* prodcons.c — producer/consumer: blocks allocated by one thread, freed by another
 * (in the spirit of xmalloc-test).
 *
 *   prodcons <blocks-per-pair> <max-size> <seed> <pairs>
 *   e.g. prodcons 2000000 64 42 2
 *
 * Each pair is a producer thread and a consumer thread joined by a bounded queue. The
 * producer allocates blocks of random size in [min(8, max-size), max-size], writes their
 * patterns and passes them in batches of 256 (each batch itself a malloc'ed array) through
 * the queue; the consumer checks every block and frees it and the batch. Every free in
 * this workload is a free of memory allocated by another thread, and the freeing thread
 * never allocates blocks itself — the case that keeps memory stranded in allocators
 * without remote-free handling. <pairs> pairs run at once (2 x pairs threads).
 *
 * Output: prodcons: ops=<n> seconds=<s> ops_per_sec=<x> threads=<2*pairs> maxrss_kb=<k>
 * (ops = blocks, each one malloc plus one cross-thread free).
 */
#include "bench_common.h"

#define BATCH 256
#define QUEUE_CAP 32

typedef struct {
    void *p;
    size_t size;
    uint64_t tag;
} block_rec;

typedef struct {
    size_t n;
    block_rec b[BATCH];
} batch_t;

typedef struct {
    pthread_t prod, cons;
    int index;
    uint64_t blocks, seed;
    size_t min_size, max_size;
    start_gate *start;
    /* The queue, under mu. A NULL batch means "no more". */
    pthread_mutex_t mu;
    pthread_cond_t not_empty, not_full;
    batch_t *q[QUEUE_CAP];
    unsigned head, count;
} pair_t;

static void queue_put(pair_t *pr, batch_t *b) {
    pthread_mutex_lock(&pr->mu);
    while (pr->count == QUEUE_CAP) pthread_cond_wait(&pr->not_full, &pr->mu);
    pr->q[(pr->head + pr->count) % QUEUE_CAP] = b;
    pr->count++;
    pthread_cond_signal(&pr->not_empty);
    pthread_mutex_unlock(&pr->mu);
}

static batch_t *queue_get(pair_t *pr) {
    pthread_mutex_lock(&pr->mu);
    while (pr->count == 0) pthread_cond_wait(&pr->not_empty, &pr->mu);
    batch_t *b = pr->q[pr->head];
    pr->head = (pr->head + 1) % QUEUE_CAP;
    pr->count--;
    pthread_cond_signal(&pr->not_full);
    pthread_mutex_unlock(&pr->mu);
    return b;
}

static void *producer(void *argp) {
    pair_t *pr = (pair_t *)argp;
    rng_t rng = rng_for(pr->seed, (uint64_t)pr->index);
    uint64_t serial = (uint64_t)pr->index << 48;
    gate_enter(pr->start);
    uint64_t left = pr->blocks;
    while (left > 0) {
        batch_t *b = (batch_t *)xmalloc("prodcons", sizeof *b);
        b->n = left < BATCH ? (size_t)left : BATCH;
        for (size_t i = 0; i < b->n; i++) {
            size_t n = rng_range(&rng, pr->min_size, pr->max_size);
            void *p = xmalloc("prodcons", n);
            b->b[i] = (block_rec){p, n, block_tag(p, n, ++serial)};
            pattern_fill(p, n, b->b[i].tag);
        }
        left -= b->n;
        queue_put(pr, b);
    }
    queue_put(pr, NULL);
    return NULL;
}

static void *consumer(void *argp) {
    pair_t *pr = (pair_t *)argp;
    gate_enter(pr->start);
    uint64_t got = 0;
    for (batch_t *b; (b = queue_get(pr)) != NULL;) {
        for (size_t i = 0; i < b->n; i++) {
            pattern_check("prodcons", b->b[i].p, b->b[i].size, b->b[i].tag);
            free(b->b[i].p);
        }
        got += b->n;
        free(b);
    }
    if (got != pr->blocks)
        bench_die(EXIT_CORRUPT, "prodcons: consumer %d got %llu blocks, expected %llu", pr->index,
                  (unsigned long long)got, (unsigned long long)pr->blocks);
    return NULL;
}

int main(int argc, char **argv) {
    if (argc != 5) {
        fprintf(stderr, "usage: prodcons <blocks-per-pair> <max-size> <seed> <pairs>\n"
                        "  e.g. prodcons 2000000 64 42 2\n");
        return EXIT_USAGE;
    }
    uint64_t blocks = (uint64_t)parse_ll("blocks-per-pair", argv[1], 0, 1LL << 40);
    size_t max_size = (size_t)parse_ll("max-size", argv[2], 1, 1LL << 30);
    uint64_t seed = (uint64_t)parse_ll("seed", argv[3], 0, INT64_MAX);
    int pairs = (int)parse_ll("pairs", argv[4], 1, 512);

    /* Start gate: producers + consumers + main. The run ends when every consumer has
     * freed its last block (main joins them). */
    start_gate start;
    gate_init(&start, (unsigned)(2 * pairs));
    pair_t *prs = (pair_t *)calloc((size_t)pairs, sizeof *prs);
    if (prs == NULL) bench_die(EXIT_NOMEM, "prodcons: calloc failed");
    for (int i = 0; i < pairs; i++) {
        pair_t *pr = &prs[i];
        pr->index = i + 1;
        pr->blocks = blocks;
        pr->seed = seed;
        pr->max_size = max_size;
        pr->min_size = max_size < 8 ? max_size : 8;
        pr->start = &start;
        pthread_mutex_init(&pr->mu, NULL);
        pthread_cond_init(&pr->not_empty, NULL);
        pthread_cond_init(&pr->not_full, NULL);
        xthread_create("prodcons", &pr->prod, producer, pr);
        xthread_create("prodcons", &pr->cons, consumer, pr);
    }
    double t0 = gate_open(&start);
    for (int i = 0; i < pairs; i++) xthread_join("prodcons", prs[i].cons);
    double elapsed = now_sec() - t0;
    for (int i = 0; i < pairs; i++) {
        xthread_join("prodcons", prs[i].prod);
        pthread_mutex_destroy(&prs[i].mu);
        pthread_cond_destroy(&prs[i].not_empty);
        pthread_cond_destroy(&prs[i].not_full);
    }
    gate_destroy(&start);
    free(prs);
    print_result("prodcons", (double)blocks * pairs, elapsed, 2 * pairs);
    return 0;
}
