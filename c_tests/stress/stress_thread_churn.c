/* stress_thread_churn: many short-lived threads, up to WINDOW alive at once.
 * Each thread first frees (after checking) up to TAKE blocks that earlier
 * threads left in a shared exchange pool, then allocates 24..48 blocks of
 * random sizes (mostly Tiny/Mid, a few Large), frees about a third of them
 * itself, puts some into the exchange pool (freed by later threads) and hands
 * the rest to the main thread in an array it allocated, which main checks and
 * frees after joining it, i.e. after the owner exited.  Main also carries a
 * few hundred blocks of exited threads across rounds.
 *
 * After each round main records the RSS (/proc/self/statm).  Memory must not
 * keep growing: the largest RSS of the last three rounds must stay below
 * 2 x the RSS after round 3 + 32 MiB.
 *
 *   stress_thread_churn [SCALE]   rounds = 10 + 2*SCALE,
 *                                 threads per round = 300 + 100*SCALE
 *                                 (SCALE 1: 4800 threads, 10: 39000)
 */
#include "stress.h"

enum { WINDOW = 8, EXCH = 2048, TAKE = 24, CARRY = 512, MAXBLK = 48 };

typedef struct {
    int n;
    stress_item it[MAXBLK];
} handed_t;

static pthread_mutex_t exch_mu = PTHREAD_MUTEX_INITIALIZER;
static stress_item exch[EXCH];
static int nexch;
static uint64_t base_seed;

static void check_free(stress_item *it, const char *who)
{
    PAT_CHECK(it->p, it->n, it->seed, "%s, block of %zu bytes", who, it->n);
    free(it->p);
}

static void *worker(void *arg)
{
    uint64_t id = (uint64_t)(uintptr_t)arg;
    rng_t r;
    rng_seed(&r, base_seed ^ (id * 0x9E3779B97F4A7C15ull));

    /* Free blocks that other (mostly exited) threads left behind. */
    stress_item took[TAKE];
    int ntook = 0;
    pthread_mutex_lock(&exch_mu);
    while (ntook < TAKE && nexch > 0) {
        int k = (int)rng_below(&r, (uint64_t)nexch);
        took[ntook++] = exch[k];
        exch[k] = exch[--nexch];
    }
    pthread_mutex_unlock(&exch_mu);

    int nblk = 24 + (int)rng_below(&r, MAXBLK - 24 + 1);
    stress_item mine[MAXBLK];
    int nmine = 0;
    for (int i = 0; i < nblk; i++) {
        size_t n = rng_tier_size(&r, 100, 3);
        void *p = malloc(n);
        CHECK(p, "malloc(%zu) returned NULL in thread %llu", n, (unsigned long long)id);
        stress_item it = {p, n, (uint32_t)rng_next(&r)};
        pat_fill(p, n, it.seed);
        if (rng_below(&r, 3) == 0) {
            /* freed by its owner, soon */
            if (nmine > 0 && rng_below(&r, 2)) {
                int k = (int)rng_below(&r, (uint64_t)nmine);
                check_free(&mine[k], "owner free");
                mine[k] = it;
            } else {
                check_free(&it, "owner free");
            }
        } else {
            mine[nmine++] = it;
        }
        if (i < ntook)
            check_free(&took[i], "free of an exchanged block");
    }
    for (int i = nblk; i < ntook; i++)
        check_free(&took[i], "free of an exchanged block");

    handed_t *h = malloc(sizeof *h);
    CHECK(h, "malloc(handed_t) returned NULL");
    h->n = 0;
    pthread_mutex_lock(&exch_mu);
    for (int i = 0; i < nmine; i++) {
        if (rng_below(&r, 2) && nexch < EXCH)
            exch[nexch++] = mine[i];
        else
            h->it[h->n++] = mine[i];
    }
    pthread_mutex_unlock(&exch_mu);
    return h;
}

int main(int argc, char **argv)
{
    long scale = stress_scale(argc, argv);
    base_seed = test_seed(777);
    int rounds = 10 + 2 * (int)scale;
    int per_round = 300 + 100 * (int)scale;
    rng_t r;
    rng_seed(&r, base_seed);

    pthread_attr_t attr;
    pthread_attr_init(&attr);
    pthread_attr_setstacksize(&attr, 256 * 1024);

    static stress_item carry[CARRY];
    int ncarry = 0;
    long *rss = calloc((size_t)rounds + 1, sizeof *rss);
    CHECK(rss, "calloc");
    uint64_t next_id = 1;
    long handed_total = 0;
    double t0 = now_sec();

    for (int round = 1; round <= rounds; round++) {
        pthread_t live[WINDOW];
        int head = 0, nlive = 0;
        for (int t = 0; t < per_round || nlive > 0;) {
            if (t < per_round && nlive < WINDOW) {
                int rc = pthread_create(&live[(head + nlive) % WINDOW], &attr, worker,
                                        (void *)(uintptr_t)next_id++);
                CHECK(rc == 0, "pthread_create: %s (round %d, thread %d)", strerror(rc), round, t);
                nlive++;
                t++;
                continue;
            }
            void *ret = NULL;
            CHECK(pthread_join(live[head], &ret) == 0, "pthread_join");
            head = (head + 1) % WINDOW;
            nlive--;
            handed_t *h = ret;
            CHECK(h, "worker returned NULL");
            for (int i = 0; i < h->n; i++) {
                handed_total++;
                if (rng_below(&r, 8) == 0) {
                    /* keep it for a later round */
                    if (ncarry < CARRY) {
                        carry[ncarry++] = h->it[i];
                        continue;
                    }
                    int k = (int)rng_below(&r, CARRY);
                    check_free(&carry[k], "main, carried block");
                    carry[k] = h->it[i];
                    continue;
                }
                check_free(&h->it[i], "main, block of an exited thread");
            }
            free(h);
        }
        rss[round] = current_rss_kib();
        printf("round %d: %d threads, rss %ld KiB, exchange %d, carried %d\n", round,
               per_round, rss[round], nexch, ncarry);
        fflush(stdout);
    }

    /* The bound: the last rounds may not have grown past 2x round 3 + 32 MiB. */
    if (rss[3] > 0) {
        long limit = 2 * rss[3] + 32 * 1024;
        for (int round = rounds - 2; round <= rounds; round++)
            CHECK(rss[round] <= limit,
                  "RSS keeps growing: %ld KiB after round %d, %ld KiB after round 3 "
                  "(limit 2x + 32 MiB = %ld KiB)",
                  rss[round], round, rss[3], limit);
    }

    for (int i = 0; i < ncarry; i++)
        check_free(&carry[i], "main, carried block at the end");
    for (int i = 0; i < nexch; i++)
        check_free(&exch[i], "main, exchanged block at the end");
    printf("stress_thread_churn: ok threads=%llu handed=%ld rss_round3=%ld rss_last=%ld KiB "
           "seconds=%.2f\n",
           (unsigned long long)(next_id - 1), handed_total, rss[3], rss[rounds], now_sec() - t0);
    free(rss);
    return 0;
}
