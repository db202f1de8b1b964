/* rss_phases.c — programs whose resident set over time shows how an allocator gives memory
 * back (scripts/rss_timeline samples it).
 *
 *   rss_phases spike    build a 1 GiB peak (512 MiB of 4 KiB blocks, 512 MiB of 2 MiB
 *                       blocks, every page written), free it all, then rest 3 s without
 *                       any allocator call
 *   rss_phases churn    20,000 short threads, 1,000 at a time, each allocating 4 small
 *                       blocks that the main thread frees after the thread exited; then
 *                       rest 2 s
 *
 * Prints "phase <name> <ms>" on stdout as each phase starts (ms since start), so that the
 * chart can mark them. Output: rss_phases: ops=<n> seconds=<s> ... like the other workloads.
 */
#include "bench_common.h"

static double t0;

static void phase(const char *name) {
    printf("phase %s %.0f\n", name, (now_sec() - t0) * 1000.0);
    fflush(stdout);
}

enum { SMALL = 131072, SMALL_SIZE = 4096, BIG = 256, BIG_SIZE = 2 << 20 };
static void *small[SMALL];
static void *big[BIG];

static uint64_t run_spike(void) {
    phase("build");
    for (int i = 0; i < SMALL; i++) {
        small[i] = xmalloc("rss_phases", SMALL_SIZE);
        memset(small[i], 1, SMALL_SIZE);
    }
    for (int i = 0; i < BIG; i++) {
        big[i] = xmalloc("rss_phases", BIG_SIZE);
        memset(big[i], 1, BIG_SIZE);
    }
    phase("free");
    for (int i = 0; i < SMALL; i++) free(small[i]);
    for (int i = 0; i < BIG; i++) free(big[i]);
    phase("idle");
    sleep_sec(3.0);
    return SMALL + BIG;
}

enum { TOTAL = 20000, BATCH = 1000, PER = 4 };
static void *blocks[BATCH][PER];

static void *churn_worker(void *arg) {
    long i = (long)arg;
    for (int k = 0; k < PER; k++) {
        blocks[i][k] = xmalloc("rss_phases", 64 + (size_t)k * 100);
        memset(blocks[i][k], 1, 64);
    }
    return NULL;
}

static uint64_t run_churn(void) {
    static pthread_t t[BATCH];
    pthread_attr_t attr;
    pthread_attr_init(&attr);
    pthread_attr_setstacksize(&attr, 64 << 10);
    phase("churn");
    for (int round = 0; round < TOTAL / BATCH; round++) {
        for (long i = 0; i < BATCH; i++)
            if (pthread_create(&t[i], &attr, churn_worker, (void *)i) != 0)
                bench_die(EXIT_THREAD, "rss_phases: pthread_create failed");
        for (int i = 0; i < BATCH; i++) pthread_join(t[i], NULL);
        for (int i = 0; i < BATCH; i++)
            for (int k = 0; k < PER; k++) free(blocks[i][k]);
    }
    pthread_attr_destroy(&attr);
    phase("idle");
    sleep_sec(2.0);
    return (uint64_t)TOTAL * PER;
}

int main(int argc, char **argv) {
    if (argc != 2 || (strcmp(argv[1], "spike") != 0 && strcmp(argv[1], "churn") != 0)) {
        fprintf(stderr, "usage: rss_phases <spike|churn>\n");
        return EXIT_USAGE;
    }
    t0 = now_sec();
    uint64_t ops = strcmp(argv[1], "spike") == 0 ? run_spike() : run_churn();
    print_result("rss_phases", (double)ops, now_sec() - t0, 1);
    return 0;
}
