/* stress_prodcons: producers allocate blocks of random sizes across all
 * tiers (8 B..2 KiB mostly, some 2-64 KiB, a few 64 KiB-4 MiB; plain malloc,
 * calloc and memalign), fill them and pass them through one bounded queue to
 * consumers.  A consumer checks each block, keeps it for a while in a small
 * holding area (so frees come late and in another order), sometimes reallocs
 * it to another size (checking the kept prefix), and frees it.  Nearly every
 * block is freed by a thread that did not allocate it.
 *
 *   stress_prodcons [SCALE]     ops = 600000 * SCALE
 */
#include "stress.h"

#include <stdatomic.h>

enum { PRODUCERS = 3, CONSUMERS = 3, QCAP = 2048, BATCH = 16, HOLD = 64 };

static stress_queue q;
static stress_item ring[QCAP];
static long ops_per_producer;
static uint64_t base_seed;
static atomic_long consumed, reallocs, large_seen;

static void *producer(void *arg)
{
    long id = (long)(intptr_t)arg;
    rng_t r;
    rng_seed(&r, base_seed * 31 + (uint64_t)id);
    stress_item batch[BATCH];
    size_t nb = 0;
    for (long i = 0; i < ops_per_producer; i++) {
        size_t n = rng_tier_size(&r, 100, 4);
        uint32_t seed = (uint32_t)rng_next(&r);
        void *p;
        switch (rng_below(&r, 16)) {
        case 0:
            p = calloc(1, n);
            CHECK(p, "calloc(1, %zu) returned NULL", n);
            {
                size_t nz = find_nonzero(p, n);
                CHECK(nz == (size_t)-1, "calloc(1, %zu) = %p: byte %zu is not zero", n, p, nz);
            }
            break;
        case 1: {
            size_t a = (size_t)16 << rng_below(&r, 9); /* 16 .. 4096 */
            p = memalign(a, n);
            CHECK(p, "memalign(%zu, %zu) returned NULL", a, n);
            CHECK(is_aligned(p, a), "memalign(%zu, %zu) = %p is misaligned", a, n, p);
            break;
        }
        default:
            p = malloc(n);
            CHECK(p, "malloc(%zu) returned NULL", n);
            CHECK(is_aligned(p, MIN_ALIGN), "malloc(%zu) = %p is misaligned", n, p);
        }
        pat_fill(p, n, seed);
        batch[nb++] = (stress_item){p, n, seed};
        if (nb == BATCH || i + 1 == ops_per_producer) {
            squeue_push(&q, batch, nb);
            nb = 0;
        }
    }
    return NULL;
}

static void check_and_free(stress_item *it, rng_t *r)
{
    PAT_CHECK(it->p, it->n, it->seed, "consumer, block of %zu bytes", it->n);
    if (rng_below(r, 8) == 0) {
        size_t m = rng_tier_size(r, 100, 4);
        void *np = realloc(it->p, m);
        CHECK(np, "realloc(%p, %zu) returned NULL", it->p, m);
        size_t keep = it->n < m ? it->n : m;
        PAT_CHECK(np, keep, it->seed, "after realloc %zu -> %zu bytes", it->n, m);
        pat_fill_range(np, keep, m, it->seed);
        PAT_CHECK(np, m, it->seed, "after refilling realloc'd block of %zu bytes", m);
        it->p = np;
        it->n = m;
        atomic_fetch_add_explicit(&reallocs, 1, memory_order_relaxed);
    }
    if (it->n > 65536)
        atomic_fetch_add_explicit(&large_seen, 1, memory_order_relaxed);
    free(it->p);
}

static void *consumer(void *arg)
{
    long id = (long)(intptr_t)arg;
    rng_t r;
    rng_seed(&r, base_seed * 77 + (uint64_t)id);
    stress_item hold[HOLD];
    int nhold = 0;
    stress_item got[BATCH];
    long done = 0;
    size_t n;
    while ((n = squeue_pop(&q, got, BATCH)) > 0) {
        for (size_t i = 0; i < n; i++) {
            stress_item it = got[i];
            /* Check on arrival too: a block corrupted in transit is found
             * close to where it happened. */
            PAT_CHECK(it.p, it.n < 64 ? it.n : 64, it.seed, "consumer, on arrival");
            if (nhold < HOLD) {
                hold[nhold++] = it;
                continue;
            }
            if (rng_below(&r, 2)) {
                int k = (int)rng_below(&r, HOLD);
                stress_item out = hold[k];
                hold[k] = it;
                it = out;
            }
            check_and_free(&it, &r);
            done++;
        }
    }
    for (int i = 0; i < nhold; i++) {
        check_and_free(&hold[i], &r);
        done++;
    }
    atomic_fetch_add(&consumed, done);
    return NULL;
}

int main(int argc, char **argv)
{
    long scale = stress_scale(argc, argv);
    base_seed = test_seed(20240601);
    long total = 600000 * scale;
    ops_per_producer = total / PRODUCERS;
    squeue_init(&q, ring, QCAP);
    double t0 = now_sec();

    pthread_t pt[PRODUCERS], ct[CONSUMERS];
    for (long i = 0; i < CONSUMERS; i++)
        CHECK(pthread_create(&ct[i], NULL, consumer, (void *)(intptr_t)i) == 0, "pthread_create");
    for (long i = 0; i < PRODUCERS; i++)
        CHECK(pthread_create(&pt[i], NULL, producer, (void *)(intptr_t)i) == 0, "pthread_create");
    for (int i = 0; i < PRODUCERS; i++)
        pthread_join(pt[i], NULL);
    squeue_close(&q);
    for (int i = 0; i < CONSUMERS; i++)
        pthread_join(ct[i], NULL);

    long want = ops_per_producer * PRODUCERS;
    CHECK(atomic_load(&consumed) == want, "consumed %ld blocks, produced %ld",
          atomic_load(&consumed), want);
    printf("stress_prodcons: ok blocks=%ld reallocs=%ld large=%ld seconds=%.2f\n", want,
           atomic_load(&reallocs), atomic_load(&large_seen), now_sec() - t0);
    return 0;
}
