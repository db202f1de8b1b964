/* large_block.c — large blocks (64 KiB .. 8 MiB) with realloc growth chains.
 *
 *   large_block <iterations> <working-set> <seed> <threads>
 *   e.g. large_block 4000 8 42 2
 *
 * Each thread owns <working-set> slots and performs <iterations> operations on a random
 * slot: an empty slot gets malloc(64 KiB .. 1 MiB); a live block is either grown with
 * realloc by a factor of 1.25 .. 2 (capped at 8 MiB) — the growth chain of a buffer being
 * appended to — or, once it is at the cap or with probability 1/4, checked and freed.
 * Fresh memory is touched (one byte per 4 KiB page), as a program filling the buffer
 * would, so the cost of page faults and of returning memory to the OS shows up; after a
 * realloc the old contents (head and tail words, and one byte per page) are verified to
 * have moved with the block.
 *
 * Output: large_block: ops=<n> seconds=<s> ops_per_sec=<x> threads=<t> maxrss_kb=<k>
 * (ops = mallocs + reallocs + frees).
 */
#include "bench_common.h"

#define KIB ((size_t)1024)
#define MIB (1024 * KIB)
#define MIN_SIZE (64 * KIB)
#define FIRST_MAX (1 * MIB)
#define CAP (8 * MIB)
#define PAGE ((size_t)4096)

typedef struct {
    unsigned char *p;
    size_t size; /* 0 = empty */
    uint64_t tag;
} slot_rec;

/* Byte written at offset `off` (a multiple of PAGE with 8 <= off < size - 8, clear of the
 * head and tail words) of a block with tag `tag`. */
static inline unsigned char page_byte(uint64_t tag, size_t off) {
    return (unsigned char)(tag ^ (off >> 12) ^ 0x5A);
}

/* Touch and mark pages [from, size) and write the head/tail pattern. */
static void fill_block(slot_rec *s, size_t from) {
    for (size_t off = (from + PAGE - 1) / PAGE * PAGE; off < s->size; off += PAGE)
        if (off >= 8 && off + 8 < s->size) s->p[off] = page_byte(s->tag, off);
    pattern_fill(s->p, s->size, s->tag);
}

/* Check the head/tail pattern and the page marks below `upto`. */
static void check_block(const slot_rec *s, size_t upto) {
    pattern_check("large_block", s->p, s->size, s->tag);
    for (size_t off = PAGE; off < upto; off += PAGE)
        if (off + 8 < s->size && s->p[off] != page_byte(s->tag, off))
            bench_die(EXIT_CORRUPT, "large_block: CORRUPTION: block %p (size %zu) byte %zu",
                      (void *)s->p, s->size, off);
}

static void *worker(void *argp) {
    ws_worker_arg *a = (ws_worker_arg *)argp;
    rng_t rng = rng_for(a->seed, (uint64_t)a->index);
    slot_rec *slots = (slot_rec *)calloc(a->working_set, sizeof *slots);
    if (slots == NULL) bench_die(EXIT_NOMEM, "large_block: cannot allocate the working set");
    uint64_t serial = (uint64_t)a->index << 48;
    gate_enter(a->start);

    for (uint64_t i = 0; i < a->iterations; i++) {
        uint64_t r = rng_next(&rng);
        slot_rec *s = &slots[r % a->working_set];
        if (s->size == 0) {
            size_t n = MIN_SIZE + (size_t)((r >> 20) % (FIRST_MAX - MIN_SIZE + 1));
            s->p = (unsigned char *)xmalloc("large_block", n);
            s->size = n;
            s->tag = block_tag(s->p, n, ++serial);
            fill_block(s, 0);
        } else if (s->size >= CAP || ((r >> 40) & 3) == 0) {
            check_block(s, s->size);
            free(s->p);
            s->size = 0;
        } else {
            /* Grow by 1.25x .. 2x; the old head word must move with the block. */
            size_t old = s->size;
            size_t n = old + old / 4 + (size_t)((r >> 20) % (old - old / 4 + 1));
            if (n > CAP) n = CAP;
            pattern_check("large_block", s->p, old, s->tag);
            /* After the move, the old contents must have come along: head and tail words
             * and every page mark. */
            unsigned char *p = (unsigned char *)xrealloc("large_block", s->p, n);
            s->p = p;
            uint64_t head, tail;
            memcpy(&head, p, 8);
            memcpy(&tail, p + old - 8, 8);
            if (head != s->tag || tail != tail_word(s->tag))
                bench_die(EXIT_CORRUPT, "large_block: CORRUPTION: realloc to %zu lost the head or tail of %p",
                          n, (void *)p);
            for (size_t off = PAGE; off + 8 < old; off += PAGE)
                if (p[off] != page_byte(s->tag, off))
                    bench_die(EXIT_CORRUPT, "large_block: CORRUPTION: realloc to %zu lost byte %zu",
                              n, off);
            s->size = n;
            s->tag = block_tag(p, n, ++serial);
            fill_block(s, 0); /* new tag: re-mark every page (old ones are in cache/RSS) */
        }
    }
    gate_leave(a->start);

    for (uint64_t i = 0; i < a->working_set; i++) {
        if (slots[i].size != 0) {
            check_block(&slots[i], slots[i].size);
            free(slots[i].p);
        }
    }
    free(slots);
    return NULL;
}

int main(int argc, char **argv) {
    return ws_workload_main("large_block", "4000 8 42 2", 1 << 20, argc, argv, worker);
}
