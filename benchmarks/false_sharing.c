/* false_sharing.c — allocator-induced false sharing (in the spirit of cache-scratch and
 * cache-thrash).
 *
 *   false_sharing <mode> <threads> <iterations> <obj-size> <repetitions>
 *   mode: scratch  passive false sharing: the main thread allocates one small object per
 *                  thread (neighbours in memory for most allocators) and hands it over; the
 *                  thread frees it and then works on objects of its own. An allocator that
 *                  gives the freed neighbour back to that thread makes threads write to a
 *                  shared cache line.
 *         thrash   active false sharing: threads allocate their objects from the start; an
 *                  allocator that serves concurrent threads from one cache line loses.
 *   e.g. false_sharing scratch 2 200 8 20000
 *
 * Each thread does <iterations> times: malloc(<obj-size>), <repetitions> passes writing
 * and reading back every byte of the object, a check of the final contents, free.
 *
 * Output: false_sharing: ops=<n> seconds=<s> ops_per_sec=<x> threads=<t> maxrss_kb=<k>
 * (ops = object passes = threads x iterations x repetitions).
 */
#include "bench_common.h"

typedef struct {
    pthread_t th;
    int index;
    unsigned char *given; /* scratch mode: the object main allocated for this thread */
    uint64_t given_tag;
    uint64_t iterations, repetitions;
    size_t obj_size;
    start_gate *start;
} worker_arg;

static void *worker(void *argp) {
    worker_arg *a = (worker_arg *)argp;
    const size_t n = a->obj_size;
    gate_enter(a->start);
    if (a->given != NULL) {
        pattern_check("false_sharing", a->given, n, a->given_tag);
        free(a->given);
    }
    for (uint64_t i = 0; i < a->iterations; i++) {
        volatile unsigned char *obj = (volatile unsigned char *)xmalloc("false_sharing", n);
        for (uint64_t r = 0; r < a->repetitions; r++) {
            for (size_t k = 0; k < n; k++) {
                obj[k] = (unsigned char)(r + k);
                unsigned char ch = obj[k];
                obj[k] = (unsigned char)(ch + 1);
            }
        }
        for (size_t k = 0; k < n && a->repetitions > 0; k++) {
            if (obj[k] != (unsigned char)(a->repetitions - 1 + k + 1))
                bench_die(EXIT_CORRUPT,
                          "false_sharing: CORRUPTION: thread %d object %p byte %zu changed under it",
                          a->index, (void *)obj, k);
        }
        free((void *)obj);
    }
    return NULL;
}

int main(int argc, char **argv) {
    if (argc != 6) {
        fprintf(stderr, "usage: false_sharing <scratch|thrash> <threads> <iterations> <obj-size> "
                        "<repetitions>\n"
                        "  e.g. false_sharing scratch 2 200 8 20000\n");
        return EXIT_USAGE;
    }
    int scratch;
    if (strcmp(argv[1], "scratch") == 0)
        scratch = 1;
    else if (strcmp(argv[1], "thrash") == 0)
        scratch = 0;
    else
        bench_die(EXIT_USAGE, "bad mode '%s' (want scratch or thrash)", argv[1]);
    int threads = (int)parse_ll("threads", argv[2], 1, 1024);
    uint64_t iterations = (uint64_t)parse_ll("iterations", argv[3], 0, 1LL << 40);
    size_t obj_size = (size_t)parse_ll("obj-size", argv[4], 1, 1 << 20);
    uint64_t reps = (uint64_t)parse_ll("repetitions", argv[5], 0, 1LL << 40);

    start_gate start;
    gate_init(&start, (unsigned)threads);
    worker_arg *args = (worker_arg *)calloc((size_t)threads, sizeof *args);
    if (args == NULL) bench_die(EXIT_NOMEM, "false_sharing: calloc failed");
    for (int t = 0; t < threads; t++) {
        args[t] = (worker_arg){.index = t + 1, .iterations = iterations, .repetitions = reps,
                               .obj_size = obj_size, .start = &start};
        if (scratch) { /* allocated back to back by one thread: likely neighbours */
            args[t].given = (unsigned char *)xmalloc("false_sharing", obj_size);
            args[t].given_tag = block_tag(args[t].given, obj_size, (uint64_t)t);
            pattern_fill(args[t].given, obj_size, args[t].given_tag);
        }
    }
    for (int t = 0; t < threads; t++) xthread_create("false_sharing", &args[t].th, worker, &args[t]);
    double t0 = gate_open(&start);
    for (int t = 0; t < threads; t++) xthread_join("false_sharing", args[t].th);
    double elapsed = now_sec() - t0;
    gate_destroy(&start);
    free(args);
    print_result(scratch ? "false_sharing_scratch" : "false_sharing_thrash",
                 (double)threads * (double)iterations * (double)reps, elapsed, threads);
    return 0;
}
