/* malloc_large.c — large buffers replaced at random (mimalloc-bench's malloc-large setting).
 *
 *   malloc_large <iterations> <working-set> <seed> <threads>
 *   e.g. malloc_large 400 20 42 1
 *
 * Each thread owns <working-set> buffers of random size in [5, 25] MiB and performs
 * <iterations> operations: pick a random buffer, check and free it, allocate one of a new
 * random size, and write it: the head and tail words and one byte per 4 KiB page (a program
 * fills its buffers; untouched, a buffer would cost no page faults, which would hide the
 * cost of giving memory back to the kernel and taking it again). This is the pattern of
 * image, network and compression buffers.
 *
 * Output: malloc_large: ops=<n> seconds=<s> ops_per_sec=<x> threads=<t> maxrss_kb=<k>
 * (one op = one free + one malloc; the initial fill and the final cleanup are not timed).
 */
#include "bench_common.h"

#define MIB ((size_t)1024 * 1024)
#define MIN_SIZE (5 * MIB)
#define MAX_SIZE (25 * MIB)
#define PAGE ((size_t)4096)

typedef struct {
    unsigned char *p;
    size_t size;
    uint64_t tag;
} slot_rec;

static inline unsigned char page_byte(uint64_t tag, size_t off) {
    return (unsigned char)(tag ^ (off >> 12) ^ 0xA5);
}

static void fill(slot_rec *s, rng_t *rng, uint64_t serial) {
    s->size = rng_range(rng, MIN_SIZE, MAX_SIZE);
    s->p = (unsigned char *)xmalloc("malloc_large", s->size);
    s->tag = block_tag(s->p, s->size, serial);
    for (size_t off = PAGE; off + 8 < s->size; off += PAGE) s->p[off] = page_byte(s->tag, off);
    pattern_fill(s->p, s->size, s->tag);
}

static void check_and_free(slot_rec *s) {
    pattern_check("malloc_large", s->p, s->size, s->tag);
    for (size_t off = PAGE; off + 8 < s->size; off += 16 * PAGE)
        if (s->p[off] != page_byte(s->tag, off))
            bench_die(EXIT_CORRUPT, "malloc_large: CORRUPTION: block %p (size %zu) byte %zu",
                      (void *)s->p, s->size, off);
    free(s->p);
}

static void *worker(void *argp) {
    ws_worker_arg *a = (ws_worker_arg *)argp;
    rng_t rng = rng_for(a->seed, (uint64_t)a->index);
    slot_rec *slots = (slot_rec *)calloc(a->working_set, sizeof *slots);
    if (slots == NULL) bench_die(EXIT_NOMEM, "malloc_large: cannot allocate the working set");
    uint64_t serial = (uint64_t)a->index << 48;
    for (uint64_t i = 0; i < a->working_set; i++) fill(&slots[i], &rng, ++serial);
    gate_enter(a->start);

    for (uint64_t i = 0; i < a->iterations; i++) {
        slot_rec *s = &slots[rng_next(&rng) % a->working_set];
        check_and_free(s);
        fill(s, &rng, ++serial);
    }
    gate_leave(a->start);

    for (uint64_t i = 0; i < a->working_set; i++) check_and_free(&slots[i]);
    free(slots);
    return NULL;
}

int main(int argc, char **argv) {
    return ws_workload_main("malloc_large", "400 20 42 1", 1 << 16, argc, argv, worker);
}
