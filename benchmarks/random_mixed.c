/* random_mixed.c — random sizes 16..1040 B over a working set of slots (the hakmem seeds'
 * bench_random_mixed, written for this project).
 *
 *   random_mixed <iterations> <working-set> <seed> <threads>
 *   e.g. random_mixed 2000000 8192 42 2
 *
 * Each thread owns <working-set> slots, initially empty, and performs <iterations>
 * operations: pick a random slot; if it holds a block, check the block's pattern and free
 * it, otherwise allocate a block of random size in [16, 1040] and write its pattern. Over
 * time about half the slots are live. Each thread's slots are freed at the end.
 *
 * Output: random_mixed: ops=<n> seconds=<s> ops_per_sec=<x> threads=<t> maxrss_kb=<k>
 * (ops counts mallocs and frees separately; the final cleanup is not timed).
 */
#include "bench_common.h"

#define MIN_SIZE 16
#define MAX_SIZE 1040

typedef struct {
    void *p;
    uint32_t size; /* 0 = empty slot */
    uint64_t tag;
} slot_rec;

static void *worker(void *argp) {
    ws_worker_arg *a = (ws_worker_arg *)argp;
    rng_t rng = rng_for(a->seed, (uint64_t)a->index);
    slot_rec *slots = (slot_rec *)calloc(a->working_set, sizeof *slots);
    if (slots == NULL) bench_die(EXIT_NOMEM, "random_mixed: cannot allocate the working set");
    uint64_t serial = (uint64_t)a->index << 48;
    gate_enter(a->start);

    for (uint64_t i = 0; i < a->iterations; i++) {
        uint64_t r = rng_next(&rng);
        slot_rec *s = &slots[r % a->working_set];
        if (s->size != 0) {
            pattern_check("random_mixed", s->p, s->size, s->tag);
            free(s->p);
            s->size = 0;
        } else {
            size_t n = MIN_SIZE + (size_t)((r >> 32) % (MAX_SIZE - MIN_SIZE + 1));
            void *p = xmalloc("random_mixed", n);
            s->p = p;
            s->size = (uint32_t)n;
            s->tag = block_tag(p, n, ++serial);
            pattern_fill(p, n, s->tag);
        }
    }
    gate_leave(a->start); /* the timed part ends when every thread is done */

    for (uint64_t i = 0; i < a->working_set; i++) {
        if (slots[i].size != 0) {
            pattern_check("random_mixed", slots[i].p, slots[i].size, slots[i].tag);
            free(slots[i].p);
        }
    }
    free(slots);
    return NULL;
}

int main(int argc, char **argv) {
    return ws_workload_main("random_mixed", "2000000 8192 42 2", 1LL << 26, argc, argv, worker);
}
