/* fixed_size.c — one block size over a working set of live blocks.
 *
 *   fixed_size <iterations> <working-set> <size> <seed> <threads>
 *   e.g. fixed_size 4000000 1024 64 42 2
 *
 * Each thread first fills <working-set> slots with blocks of <size> bytes, then performs
 * <iterations> operations: pick a random slot, check and free its block, allocate a new
 * one of the same size and write its pattern. This is the pure size-class fast path
 * (malloc and free of one class, a steady population of live blocks).
 *
 * Output: fixed_size: ops=<n> seconds=<s> ops_per_sec=<x> threads=<t> maxrss_kb=<k>
 * (one op = one free + one malloc; the initial fill and final cleanup are not timed).
 */
#include "bench_common.h"

typedef struct {
    void *p;
    uint64_t tag;
} slot_rec;

typedef struct {
    int index;
    uint64_t iterations, working_set, seed;
    size_t size;
    start_gate *start;
} worker_arg;

static void *worker(void *argp) {
    worker_arg *a = (worker_arg *)argp;
    rng_t rng = rng_for(a->seed, (uint64_t)a->index);
    const size_t n = a->size;
    slot_rec *slots = (slot_rec *)calloc(a->working_set, sizeof *slots);
    if (slots == NULL) bench_die(EXIT_NOMEM, "fixed_size: cannot allocate the working set");
    uint64_t serial = (uint64_t)a->index << 48;
    for (uint64_t i = 0; i < a->working_set; i++) {
        slots[i].p = xmalloc("fixed_size", n);
        slots[i].tag = block_tag(slots[i].p, n, ++serial);
        pattern_fill(slots[i].p, n, slots[i].tag);
    }
    gate_enter(a->start);

    for (uint64_t i = 0; i < a->iterations; i++) {
        slot_rec *s = &slots[rng_next(&rng) % a->working_set];
        pattern_check("fixed_size", s->p, n, s->tag);
        free(s->p);
        void *p = xmalloc("fixed_size", n);
        s->p = p;
        s->tag = block_tag(p, n, ++serial);
        pattern_fill(p, n, s->tag);
    }
    gate_leave(a->start);

    for (uint64_t i = 0; i < a->working_set; i++) {
        pattern_check("fixed_size", slots[i].p, n, slots[i].tag);
        free(slots[i].p);
    }
    free(slots);
    return NULL;
}

int main(int argc, char **argv) {
    if (argc != 6) {
        fprintf(stderr, "usage: fixed_size <iterations> <working-set> <size> <seed> <threads>\n"
                        "  e.g. fixed_size 4000000 1024 64 42 2\n");
        return EXIT_USAGE;
    }
    uint64_t iterations = (uint64_t)parse_ll("iterations", argv[1], 0, 1LL << 40);
    uint64_t ws = (uint64_t)parse_ll("working-set", argv[2], 1, 1LL << 26);
    size_t size = (size_t)parse_ll("size", argv[3], 0, 1LL << 30);
    uint64_t seed = (uint64_t)parse_ll("seed", argv[4], 0, INT64_MAX);
    int threads = (int)parse_ll("threads", argv[5], 1, 1024);

    start_gate start;
    gate_init(&start, (unsigned)threads);
    worker_arg *args = (worker_arg *)calloc((size_t)threads, sizeof *args);
    if (args == NULL) bench_die(EXIT_NOMEM, "fixed_size: calloc failed");
    for (int t = 0; t < threads; t++) {
        args[t] = (worker_arg){.index = t + 1, .iterations = iterations, .working_set = ws,
                               .size = size, .seed = seed, .start = &start};
    }
    double elapsed = run_gated_workers("fixed_size", &start, threads, worker, args, sizeof *args);
    gate_destroy(&start);
    free(args);
    print_result("fixed_size", (double)iterations * threads, elapsed, threads);
    return 0;
}
