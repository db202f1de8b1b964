/* cross_thread_free: producer threads allocate blocks (malloc, calloc,
 * memalign, realloc; small, mid and large), fill them with a pattern and
 * pass them through a queue to consumer threads, which check the pattern and
 * free them (free, free_sized, or realloc first, or after holding a batch).
 * Producers keep local blocks too and free some locally, so the same pages
 * see local and remote frees.  Producers exit while their blocks are still
 * being freed elsewhere.  Two rounds of fresh threads.  Last, memory freed
 * remotely must be reusable: main allocates 16 MiB in 1000-byte blocks, a
 * fresh thread frees them all, 25 times, and the RSS must stay far below
 * the 400 MiB that leaking the remote frees would take. */
#include <stdatomic.h>

#include "common.h"

enum { NPROD = 4, NCONS = 3, ITEMS_PER_PROD = 30000, QCAP = 1024, LOCAL = 64, ROUNDS = 2 };

struct item {
    unsigned char *p;
    size_t n;
    uint32_t seed;
    uint32_t align; /* 0: not from an aligned allocation function */
};

static struct {
    pthread_mutex_t mu;
    pthread_cond_t not_empty, not_full;
    struct item buf[QCAP];
    size_t head, count;
} q = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, PTHREAD_COND_INITIALIZER, {{0}}, 0, 0};

static atomic_long produced, consumed;
static int have_free_sized;

static void q_push(struct item it)
{
    pthread_mutex_lock(&q.mu);
    while (q.count == QCAP)
        pthread_cond_wait(&q.not_full, &q.mu);
    q.buf[(q.head + q.count) % QCAP] = it;
    q.count++;
    pthread_cond_signal(&q.not_empty);
    pthread_mutex_unlock(&q.mu);
}

static struct item q_pop(void)
{
    pthread_mutex_lock(&q.mu);
    while (q.count == 0)
        pthread_cond_wait(&q.not_empty, &q.mu);
    struct item it = q.buf[q.head];
    q.head = (q.head + 1) % QCAP;
    q.count--;
    pthread_cond_signal(&q.not_full);
    pthread_mutex_unlock(&q.mu);
    return it;
}

static size_t pick_size(rng_t *r)
{
    uint64_t c = rng_below(r, 1000);
    if (c < 750)
        return 1 + rng_below(r, 512);
    if (c < 950)
        return 512 + rng_below(r, 20000);
    if (c < 995)
        return 20000 + rng_below(r, 180000);
    return 200000 + rng_below(r, 2u << 20);
}

static struct item make_item(rng_t *r, uint32_t seed)
{
    struct item it = {NULL, pick_size(r), seed, 0};
    switch (rng_below(r, 8)) {
    case 0:
        it.p = calloc(1, it.n);
        CHECK(it.p, "calloc(1, %zu)", it.n);
        CHECK(find_nonzero(it.p, it.n) == (size_t)-1, "calloc(1, %zu) not zeroed", it.n);
        break;
    case 1:
        it.align = (uint32_t)(32u << rng_below(r, 8)); /* 32 .. 4096 */
        it.p = memalign(it.align, it.n);
        CHECK(it.p && is_aligned(it.p, it.align), "memalign(%u, %zu) = %p", it.align, it.n, (void *)it.p);
        break;
    case 2: {
        unsigned char *p = malloc(it.n / 2 + 1);
        CHECK(p, "malloc");
        pat_fill(p, it.n / 2 + 1, seed);
        it.p = realloc(p, it.n);
        CHECK(it.p, "realloc(%zu -> %zu)", it.n / 2 + 1, it.n);
        PAT_CHECK(it.p, it.n / 2 + 1 < it.n ? it.n / 2 + 1 : it.n, seed, "producer realloc");
        break;
    }
    default:
        it.p = malloc(it.n);
        CHECK(it.p, "malloc(%zu)", it.n);
        break;
    }
    CHECK(is_aligned(it.p, MIN_ALIGN), "block %p misaligned", (void *)it.p);
    pat_fill(it.p, it.n, seed);
    return it;
}

static void check_item(const struct item *it, const char *where)
{
    PAT_CHECK(it->p, it->n, it->seed, "%s: block of %zu (align %u)", where, it->n, it->align);
    CHECK(malloc_usable_size(it->p) >= it->n, "%s: malloc_usable_size %zu < %zu", where,
          malloc_usable_size(it->p), it->n);
}

static void *producer(void *arg)
{
    uintptr_t id = (uintptr_t)arg;
    rng_t r;
    rng_seed(&r, 1000 + id);
    struct item local[LOCAL] = {{0}};
    for (uint32_t i = 0; i < ITEMS_PER_PROD; i++) {
        uint32_t seed = (uint32_t)(id << 24) ^ (i * 2654435761u);
        struct item it = make_item(&r, seed);
        if (rng_below(&r, 4) == 0) {
            /* keep it locally for a while, free it ourselves later */
            size_t slot = rng_below(&r, LOCAL);
            if (local[slot].p) {
                check_item(&local[slot], "producer local block");
                free(local[slot].p);
            }
            local[slot] = it;
            continue;
        }
        atomic_fetch_add(&produced, 1);
        q_push(it);
    }
    for (int i = 0; i < LOCAL; i++)
        if (local[i].p) {
            check_item(&local[i], "producer local block at exit");
            free(local[i].p);
        }
    return NULL;
}

static void *consumer(void *arg)
{
    uintptr_t id = (uintptr_t)arg;
    rng_t r;
    rng_seed(&r, 2000 + id);
    enum { HOLD = 48 };
    struct item held[HOLD];
    int nheld = 0;
    for (;;) {
        struct item it = q_pop();
        if (!it.p)
            break;
        check_item(&it, "consumer");
        atomic_fetch_add(&consumed, 1);
        switch (rng_below(&r, 10)) {
        case 0:
            if (have_free_sized) {
                free_sized(it.p, it.n);
                break;
            }
            free(it.p);
            break;
        case 1: {
            size_t m = pick_size(&r);
            unsigned char *p = realloc(it.p, m);
            CHECK(p, "consumer realloc(%zu -> %zu)", it.n, m);
            PAT_CHECK(p, it.n < m ? it.n : m, it.seed, "consumer realloc(%zu -> %zu) of a remote block", it.n, m);
            pat_fill(p, m, it.seed);
            free(p);
            break;
        }
        case 2:
        case 3:
            held[nheld++] = it;
            if (nheld == HOLD) {
                for (int i = 0; i < nheld; i++) {
                    check_item(&held[i], "consumer held block");
                    free(held[i].p);
                }
                nheld = 0;
            }
            break;
        default:
            free(it.p);
            break;
        }
        /* the consumer allocates too, reusing memory freed remotely */
        if (rng_below(&r, 4) == 0) {
            struct item own = make_item(&r, (uint32_t)rng_next(&r));
            check_item(&own, "consumer own block");
            free(own.p);
        }
    }
    for (int i = 0; i < nheld; i++) {
        check_item(&held[i], "consumer held block at exit");
        free(held[i].p);
    }
    return NULL;
}

enum { RECLAIM_BLOCKS = 16384, RECLAIM_SIZE = 1000, RECLAIM_ROUNDS = 25 };
static void *reclaim[RECLAIM_BLOCKS];

static void *free_all(void *arg)
{
    (void)arg;
    for (int i = 0; i < RECLAIM_BLOCKS; i++)
        free(reclaim[i]);
    return NULL;
}

static void test_remote_frees_reclaimed(void)
{
    long before = current_rss_kib();
    for (int round = 0; round < RECLAIM_ROUNDS; round++) {
        for (int i = 0; i < RECLAIM_BLOCKS; i++) {
            reclaim[i] = malloc(RECLAIM_SIZE);
            CHECK(reclaim[i], "malloc");
            memset(reclaim[i], round, RECLAIM_SIZE);
        }
        pthread_t t;
        CHECK(pthread_create(&t, NULL, free_all, NULL) == 0, "pthread_create");
        pthread_join(t, NULL);
    }
    long grown = current_rss_kib() - before;
    printf("remote-free reclaim: RSS grew by %ld KiB over %d rounds of %d KiB\n", grown, RECLAIM_ROUNDS,
           RECLAIM_BLOCKS * RECLAIM_SIZE / 1024);
    CHECK(grown < 160 * 1024, "RSS grew by %ld KiB: memory freed by another thread is not reused", grown);
}

int main(void)
{
    have_free_sized = !foreign_allocator() && HAVE_SYM(free_sized);
    for (int round = 0; round < ROUNDS; round++) {
        pthread_t prod[NPROD], cons[NCONS];
        for (uintptr_t i = 0; i < NCONS; i++)
            CHECK(pthread_create(&cons[i], NULL, consumer, (void *)(i + (uintptr_t)round * 100)) == 0,
                  "pthread_create");
        for (uintptr_t i = 0; i < NPROD; i++)
            CHECK(pthread_create(&prod[i], NULL, producer, (void *)(i + (uintptr_t)round * 100)) == 0,
                  "pthread_create");
        for (int i = 0; i < NPROD; i++)
            pthread_join(prod[i], NULL);
        for (int i = 0; i < NCONS; i++)
            q_push((struct item){NULL, 0, 0, 0});
        for (int i = 0; i < NCONS; i++)
            pthread_join(cons[i], NULL);
        CHECK(atomic_load(&produced) == atomic_load(&consumed), "produced %ld, consumed %ld",
              atomic_load(&produced), atomic_load(&consumed));
    }
    test_remote_frees_reclaimed();
    printf("cross_thread_free: ok (%ld blocks crossed threads)\n", atomic_load(&consumed));
    return 0;
}
