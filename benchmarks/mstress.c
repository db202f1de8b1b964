/* mstress.c — mimalloc-bench's "mstress" (its stress.c), rewritten on this harness: threads
 * re-created every round allocate items of random size, free some, and swap some with a
 * shared transfer array, so that many blocks are freed by a thread that did not allocate
 * them, often after the allocating thread has exited.
 *
 *   mstress <rounds> <scale> <seed> <threads>
 *   e.g. mstress 50 50 42 4
 *
 * Each round starts <threads> threads and joins them. The thread with id r*threads+i (round
 * r, thread i) makes 100 x <scale> x (id % 8 + 1) allocations into its list and half as many
 * into its retained list, of 2^k words (1 <= k <= 5 for the list, k <= 7 retained; 16 B to
 * 1 KiB), 1 in 100 of them 100x larger and 1 in 10,000 10,000x larger (up to 10 MiB). After each
 * allocation, 2 times in 3 it frees a random entry of its list, and 1 time in 4 it swaps a
 * random entry with a random slot of a shared array of 1000 (atomic exchange). At its end
 * it frees all it holds; after the last round main frees the transfer array's blocks.
 * Unlike the original, whose blocks hold only their length, every word of a block is
 * derived from its address and a serial number, and checked before the block is freed.
 *
 * Output: mstress: ops=<n> seconds=<s> ops_per_sec=<x> threads=<t> maxrss_kb=<k>
 * (ops = allocations; the time covers every round, thread starts and exits included).
 */
#include "bench_common.h"

#include <stdatomic.h>

#define TRANSFERS 1000
/* The largest block: 2^7 words x 10,000. */
#define MAX_WORDS (128u * 10000u)

static _Atomic(uint64_t *) transfer[TRANSFERS];
static uint64_t g_scale, g_seed;
static int g_threads;
static atomic_ullong g_allocs;

typedef struct {
    uint64_t id;
    rng_t rng;
    uint64_t serial;
} thread_state;

static int chance(rng_t *r, unsigned percent) { return rng_next(r) % 100 < percent; }

/* Word i of a block: word 0 its length, word 1 its serial, the others both, all mixed with
 * the block's address (a block handed out twice while live, overwritten or moved fails). */
static inline uint64_t word_at(const uint64_t *p, uint64_t serial, size_t i) {
    return mix64((uint64_t)(uintptr_t)p ^ serial) + i * 0x9E3779B97F4A7C15ull;
}

static uint64_t *alloc_items(thread_state *s, size_t words) {
    if (chance(&s->rng, 1)) words *= chance(&s->rng, 1) ? 10000 : 100;
    uint64_t *p = (uint64_t *)xmalloc("mstress", words * sizeof(uint64_t));
    uint64_t serial = ++s->serial;
    uint64_t key = mix64((uint64_t)(uintptr_t)p);
    p[0] = words ^ key;
    p[1] = serial ^ key;
    for (size_t i = 2; i < words; i++) p[i] = word_at(p, serial, i);
    atomic_fetch_add_explicit(&g_allocs, 1, memory_order_relaxed);
    return p;
}

static void free_items(uint64_t *p) {
    if (p == NULL) return;
    uint64_t key = mix64((uint64_t)(uintptr_t)p);
    uint64_t words = p[0] ^ key, serial = p[1] ^ key;
    int ok = words >= 2 && words <= MAX_WORDS;
    for (size_t i = 2; ok && i < words; i++) ok = p[i] == word_at(p, serial, i);
    if (!ok)
        bench_die(EXIT_CORRUPT,
                  "mstress: CORRUPTION: block %p lost its pattern before free "
                  "(overwritten, or handed out twice)",
                  (void *)p);
    free(p);
}

static void *worker(void *arg) {
    thread_state s = {.id = (uint64_t)(uintptr_t)arg};
    s.rng = rng_for(g_seed, s.id);
    s.serial = s.id << 40;
    size_t allocs = 100 * g_scale * (s.id % 8 + 1), retain = allocs / 2;
    uint64_t **data = NULL;
    size_t data_size = 0, data_top = 0;
    uint64_t **retained = (uint64_t **)calloc(retain + 1, sizeof *retained);
    if (retained == NULL) bench_die(EXIT_NOMEM, "mstress: calloc failed");
    size_t retain_top = 0;
    while (allocs > 0 || retain > 0) {
        if (retain == 0 || (allocs > 0 && chance(&s.rng, 50))) {
            allocs--;
            if (data_top == data_size) {
                data_size += 100000;
                data = (uint64_t **)xrealloc("mstress", data, data_size * sizeof *data);
            }
            data[data_top++] = alloc_items(&s, (size_t)2 << (rng_next(&s.rng) % 5));
        } else {
            retained[retain_top++] = alloc_items(&s, (size_t)2 << (rng_next(&s.rng) % 7));
            retain--;
        }
        if (data_top > 0 && chance(&s.rng, 66)) {
            size_t i = rng_next(&s.rng) % data_top;
            free_items(data[i]);
            data[i] = NULL;
        }
        if (data_top > 0 && chance(&s.rng, 25)) {
            size_t i = rng_next(&s.rng) % data_top;
            data[i] = atomic_exchange(&transfer[rng_next(&s.rng) % TRANSFERS], data[i]);
        }
    }
    for (size_t i = 0; i < retain_top; i++) free_items(retained[i]);
    for (size_t i = 0; i < data_top; i++) free_items(data[i]);
    free(retained);
    free(data);
    return NULL;
}

int main(int argc, char **argv) {
    if (argc != 5) {
        fprintf(stderr, "usage: mstress <rounds> <scale> <seed> <threads>\n"
                        "  e.g. mstress 50 50 42 4\n");
        return EXIT_USAGE;
    }
    uint64_t rounds = (uint64_t)parse_ll("rounds", argv[1], 1, 1LL << 20);
    g_scale = (uint64_t)parse_ll("scale", argv[2], 1, 1LL << 20);
    g_seed = (uint64_t)parse_ll("seed", argv[3], 0, INT64_MAX);
    g_threads = (int)parse_ll("threads", argv[4], 1, 1024);

    pthread_t *th = (pthread_t *)calloc((size_t)g_threads, sizeof *th);
    if (th == NULL) bench_die(EXIT_NOMEM, "mstress: calloc failed");
    double t0 = now_sec();
    for (uint64_t r = 0; r < rounds; r++) {
        for (int t = 0; t < g_threads; t++)
            xthread_create("mstress", &th[t], worker, (void *)(uintptr_t)(r * (uint64_t)g_threads + (uint64_t)t));
        for (int t = 0; t < g_threads; t++) xthread_join("mstress", th[t]);
    }
    for (int i = 0; i < TRANSFERS; i++) free_items(atomic_exchange(&transfer[i], NULL));
    double elapsed = now_sec() - t0;
    free(th);
    print_result("mstress", (double)atomic_load(&g_allocs), elapsed, g_threads);
    return 0;
}
