/* Shared helpers for the self-checking stress programs in c_tests/stress/
 * (driver: scripts/test_stress.sh).
 *
 * Every program:
 *   - takes a scale as its first argument, or from HAK_STRESS_SCALE
 *     (default 1).  Scale 1 is the fast mode that `make test` runs (a few
 *     seconds per program); scripts/test_stress.sh --long runs scale 10.
 *     Work grows roughly linearly with the scale.
 *   - fills every block it allocates with a pattern (common.h's pat_fill)
 *     and checks it right before freeing it;
 *   - exits 0 on success and 1 after printing "FAIL file:line: ..." on
 *     stderr as soon as something is wrong (corruption, an unexpected NULL,
 *     a bad errno, a child that crashed or hung, memory that keeps growing);
 *   - prints its seed (HAK_TEST_SEED changes it) and a summary line
 *     "NAME: ok ..." on stdout at the end.
 */
#ifndef HAK_STRESS_H
#define HAK_STRESS_H

#include "../common.h"

#include <time.h>

static inline long stress_scale(int argc, char **argv)
{
    const char *s = argc > 1 ? argv[1] : getenv("HAK_STRESS_SCALE");
    long v = s && *s ? strtol(s, NULL, 0) : 1;
    if (v < 1) {
        fprintf(stderr, "usage: %s [SCALE>=1] (or HAK_STRESS_SCALE)\n", argv[0]);
        exit(2);
    }
    printf("scale %ld\n", v);
    return v;
}

static inline double now_sec(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* Log-uniform in [lo, hi] (lo >= 1): small sizes as likely per octave as big
 * ones, so a range like 64 KiB..4 MiB is not dominated by its top end. */
static inline size_t rng_log_size(rng_t *r, size_t lo, size_t hi)
{
    if (hi <= lo)
        return lo;
    int lb = 63 - __builtin_clzll((unsigned long long)lo);
    int hb = 63 - __builtin_clzll((unsigned long long)hi);
    int b = lb + (int)rng_below(r, (uint64_t)(hb - lb + 1));
    size_t base = (size_t)1 << b;
    size_t n = base + (size_t)rng_below(r, base);
    if (n < lo)
        n = lo;
    if (n > hi)
        n = hi;
    return n;
}

/* A size across all three tiers (Tiny 0-1 KiB, Mid 1-64 KiB, Large above):
 * per mille: large_pm above 64 KiB (up to 4 MiB), mid_pm in 2-64 KiB, the
 * rest 8 B..2 KiB (which straddles the 1 KiB Tiny/Mid boundary). */
static inline size_t rng_tier_size(rng_t *r, unsigned mid_pm, unsigned large_pm)
{
    uint64_t x = rng_below(r, 1000);
    if (x < large_pm)
        return rng_log_size(r, 65536 + 1, 4u << 20);
    if (x < large_pm + mid_pm)
        return rng_log_size(r, 2048 + 1, 65536);
    return rng_log_size(r, 8, 2048);
}

/* Bounded multi-producer multi-consumer queue (mutex + two condvars). */
typedef struct {
    void *p;
    size_t n;
    uint32_t seed;
} stress_item;

typedef struct {
    pthread_mutex_t mu;
    pthread_cond_t not_full, not_empty;
    stress_item *ring;
    size_t cap, head, count;
    int closed;
} stress_queue;

static inline void squeue_init(stress_queue *q, stress_item *ring, size_t cap)
{
    pthread_mutex_init(&q->mu, NULL);
    pthread_cond_init(&q->not_full, NULL);
    pthread_cond_init(&q->not_empty, NULL);
    q->ring = ring;
    q->cap = cap;
    q->head = q->count = 0;
    q->closed = 0;
}

/* Push all n items (blocking while full). */
static inline void squeue_push(stress_queue *q, const stress_item *it, size_t n)
{
    pthread_mutex_lock(&q->mu);
    while (n > 0) {
        while (q->count == q->cap)
            pthread_cond_wait(&q->not_full, &q->mu);
        while (n > 0 && q->count < q->cap) {
            q->ring[(q->head + q->count) % q->cap] = *it++;
            q->count++;
            n--;
        }
        pthread_cond_broadcast(&q->not_empty);
    }
    pthread_mutex_unlock(&q->mu);
}

/* Pop up to max items (blocking while empty); 0 once closed and drained. */
static inline size_t squeue_pop(stress_queue *q, stress_item *out, size_t max)
{
    size_t n = 0;
    pthread_mutex_lock(&q->mu);
    while (q->count == 0 && !q->closed)
        pthread_cond_wait(&q->not_empty, &q->mu);
    while (n < max && q->count > 0) {
        out[n++] = q->ring[q->head];
        q->head = (q->head + 1) % q->cap;
        q->count--;
    }
    if (n)
        pthread_cond_broadcast(&q->not_full);
    pthread_mutex_unlock(&q->mu);
    return n;
}

static inline void squeue_close(stress_queue *q)
{
    pthread_mutex_lock(&q->mu);
    q->closed = 1;
    pthread_cond_broadcast(&q->not_empty);
    pthread_mutex_unlock(&q->mu);
}

#endif
