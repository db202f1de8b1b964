/* batch.c — build a structure, then tear it down: many blocks allocated, then all freed.
 *
 *   batch <rounds> <blocks> <seed> <threads>
 *   e.g. batch 40 100000 42 1
 *
 * Each thread performs <rounds> rounds: allocate <blocks> blocks of random size in
 * [16, 1024] B and write their pattern, then check and free all of them (in allocation
 * order on even rounds, in reverse on odd ones). This is the life of a request's or a
 * compiler pass's data (and of sh6bench-style batch benchmarks): the allocator must hand
 * out a large amount of memory it has just taken back, without faulting it in again each
 * round, and still give it back to the kernel once the program stops using it.
 *
 * Output: batch: ops=<n> seconds=<s> ops_per_sec=<x> threads=<t> maxrss_kb=<k>
 * (ops counts mallocs and frees).
 */
#include "bench_common.h"

#define MIN_SIZE 16
#define MAX_SIZE 1024

typedef struct {
    void *p;
    uint32_t size;
    uint64_t tag;
} slot_rec;

typedef struct {
    int index;
    uint64_t rounds, blocks, seed;
    start_gate *start;
} worker_arg;

static void *worker(void *argp) {
    worker_arg *a = (worker_arg *)argp;
    rng_t rng = rng_for(a->seed, (uint64_t)a->index);
    slot_rec *slots = (slot_rec *)calloc(a->blocks, sizeof *slots);
    if (slots == NULL) bench_die(EXIT_NOMEM, "batch: cannot allocate the block table");
    uint64_t serial = (uint64_t)a->index << 48;
    gate_enter(a->start);

    for (uint64_t r = 0; r < a->rounds; r++) {
        for (uint64_t i = 0; i < a->blocks; i++) {
            slot_rec *s = &slots[i];
            s->size = (uint32_t)rng_range(&rng, MIN_SIZE, MAX_SIZE);
            s->p = xmalloc("batch", s->size);
            s->tag = block_tag(s->p, s->size, ++serial);
            pattern_fill(s->p, s->size, s->tag);
        }
        for (uint64_t k = 0; k < a->blocks; k++) {
            slot_rec *s = &slots[(r & 1) ? a->blocks - 1 - k : k];
            pattern_check("batch", s->p, s->size, s->tag);
            free(s->p);
        }
    }
    gate_leave(a->start);
    free(slots);
    return NULL;
}

int main(int argc, char **argv) {
    if (argc != 5) {
        fprintf(stderr, "usage: batch <rounds> <blocks> <seed> <threads>\n"
                        "  e.g. batch 40 100000 42 1\n");
        return EXIT_USAGE;
    }
    uint64_t rounds = (uint64_t)parse_ll("rounds", argv[1], 0, 1LL << 40);
    uint64_t blocks = (uint64_t)parse_ll("blocks", argv[2], 1, 1LL << 26);
    uint64_t seed = (uint64_t)parse_ll("seed", argv[3], 0, INT64_MAX);
    int threads = (int)parse_ll("threads", argv[4], 1, 1024);

    start_gate start;
    gate_init(&start, (unsigned)threads);
    worker_arg *args = (worker_arg *)calloc((size_t)threads, sizeof *args);
    if (args == NULL) bench_die(EXIT_NOMEM, "batch: calloc failed");
    for (int t = 0; t < threads; t++) {
        args[t] = (worker_arg){.index = t + 1, .rounds = rounds, .blocks = blocks, .seed = seed,
                               .start = &start};
    }
    double elapsed = run_gated_workers("batch", &start, threads, worker, args, sizeof *args);
    gate_destroy(&start);
    free(args);
    print_result("batch", 2.0 * (double)rounds * (double)blocks * threads, elapsed, threads);
    return 0;
}
