/* thread_exit: threads allocate blocks and exit; main (and later threads)
 * check and free them afterwards.  Threads also free and allocate from
 * thread-exit destructors: pthread_key destructors (which run after the C++ /
 * Rust thread_local destructors registered with __cxa_thread_atexit_impl,
 * i.e. possibly after the allocator's own per-thread cleanup), including a
 * destructor that re-arms its key so it runs again in a later round, and
 * __cxa_thread_atexit_impl destructors.  Detached threads and pthread_exit
 * from a nested call are covered too.  Last, what exited threads had cached
 * must be reused: 300 threads in turn each allocate and free 1 MiB of small
 * blocks and exit; the RSS must stay far below 300 MiB. */
#include <stdatomic.h>

#include "common.h"

extern int __cxa_thread_atexit_impl(void (*dtor)(void *), void *obj, void *dso_symbol) __attribute__((weak));
extern void *__dso_handle __attribute__((weak));

enum { ROUNDS = 6, THREADS = 24, BLOCKS = 60 };

struct block {
    unsigned char *p;
    size_t n;
    uint32_t seed;
};

static struct block handed[THREADS][BLOCKS];
static pthread_key_t key_early, key_rearm, key_late;
static atomic_int dtor_runs, dtor_frees, cxa_runs;

static size_t size_for(uint32_t i)
{
    switch (i % 6) {
    case 0:
        return 1 + i % 200;
    case 1:
        return 500 + i * 37 % 3000;
    case 2:
        return 16384 + i % 1000;
    case 3:
        return 70000 + i * 13 % 60000;
    case 4:
        return i % 5 == 4 ? (1u << 20) + i : 200000 + i;
    default:
        return 24;
    }
}

static struct block *new_block(uint32_t seed, size_t n)
{
    struct block *b = malloc(sizeof *b);
    CHECK(b, "malloc(struct block)");
    b->n = n;
    b->seed = seed;
    b->p = malloc(n);
    CHECK(b->p, "malloc(%zu)", n);
    pat_fill(b->p, n, seed);
    return b;
}

static void free_block(struct block *b, const char *where)
{
    PAT_CHECK(b->p, b->n, b->seed, "%s", where);
    free(b->p);
    free(b);
}

/* key_early: created before any thread; frees the thread's block, then
 * allocates and frees some more */
static void dtor_early(void *v)
{
    atomic_fetch_add(&dtor_runs, 1);
    free_block(v, "block freed by pthread_key destructor");
    atomic_fetch_add(&dtor_frees, 1);
    for (uint32_t i = 0; i < 20; i++) {
        struct block *b = new_block(i, size_for(i));
        free_block(b, "block allocated in pthread_key destructor");
    }
    void *c = calloc(10, 100);
    CHECK(c && find_nonzero(c, 1000) == (size_t)-1, "calloc in destructor");
    c = realloc(c, 5000);
    CHECK(c, "realloc in destructor");
    free(c);
}

/* key_rearm: re-sets its value a few times, so the destructor runs again in
 * later destructor rounds (after all other destructors of earlier rounds) */
struct rearm {
    int left;
    struct block *b;
};
static void dtor_rearm(void *v)
{
    struct rearm *r = v;
    atomic_fetch_add(&dtor_runs, 1);
    free_block(r->b, "block freed by re-armed destructor");
    atomic_fetch_add(&dtor_frees, 1);
    if (r->left-- > 0) {
        r->b = new_block((uint32_t)r->left * 7, size_for((uint32_t)r->left * 5 + 1));
        CHECK(pthread_setspecific(key_rearm, r) == 0, "pthread_setspecific in destructor");
    } else {
        free(r);
    }
}

/* key_late: created lazily by the first thread (so after the allocator's
 * own key, if it uses one); same work as dtor_early */
static pthread_once_t late_once = PTHREAD_ONCE_INIT;
static void make_late_key(void)
{
    CHECK(pthread_key_create(&key_late, dtor_early) == 0, "pthread_key_create");
}

static void cxa_dtor(void *v)
{
    atomic_fetch_add(&cxa_runs, 1);
    free_block(v, "block freed by __cxa_thread_atexit_impl destructor");
    struct block *b = new_block(3, 300);
    free_block(b, "block allocated in __cxa_thread_atexit_impl destructor");
}

static void nested_exit(int depth);
static void (*volatile nested_exit_ptr)(int) = nested_exit;
static void nested_exit(int depth)
{
    if (depth > 0) {
        void *p = malloc((size_t)depth * 100);
        CHECK(p, "malloc");
        memset(p, depth, (size_t)depth * 100);
        free(p);
        nested_exit_ptr(depth - 1);
    }
    pthread_exit(NULL);
}

static void *worker(void *arg)
{
    uintptr_t t = (uintptr_t)arg;
    /* the first thing: register a __cxa_thread_atexit_impl destructor */
    if (__cxa_thread_atexit_impl && &__dso_handle)
        __cxa_thread_atexit_impl(cxa_dtor, new_block(99, 4000), __dso_handle);
    pthread_once(&late_once, make_late_key);
    CHECK(pthread_setspecific(key_early, new_block((uint32_t)t, size_for((uint32_t)t))) == 0, "setspecific");
    CHECK(pthread_setspecific(key_late, new_block((uint32_t)t + 1, size_for((uint32_t)t + 3))) == 0,
          "setspecific");
    struct rearm *r = malloc(sizeof *r);
    CHECK(r, "malloc");
    r->left = 2;
    r->b = new_block(5, 777);
    CHECK(pthread_setspecific(key_rearm, r) == 0, "setspecific");

    /* blocks handed to main, freed after this thread is gone */
    for (uint32_t i = 0; i < BLOCKS; i++) {
        size_t n = size_for(i + (uint32_t)t);
        unsigned char *p = (i % 5 == 0) ? calloc(1, n) : malloc(n);
        CHECK(p, "malloc(%zu)", n);
        uint32_t seed = (uint32_t)(t * 1000 + i);
        pat_fill(p, n, seed);
        handed[t % THREADS][i] = (struct block){p, n, seed};
    }
    /* some churn that stays in this thread's caches */
    void *tmp[100];
    for (int i = 0; i < 100; i++) {
        tmp[i] = malloc(size_for((uint32_t)i));
        CHECK(tmp[i], "malloc");
    }
    for (int i = 0; i < 100; i += 2)
        free(tmp[i]);
    for (int i = 1; i < 100; i += 2)
        free(tmp[i]);
    if (t % 3 == 0)
        nested_exit(5);
    return NULL;
}

static atomic_int detached_done;
static void *detached_worker(void *arg)
{
    (void)arg;
    CHECK(pthread_setspecific(key_early, new_block(77, 1000)) == 0, "setspecific");
    for (int i = 0; i < 200; i++) {
        void *p = malloc(size_for((uint32_t)i));
        CHECK(p, "malloc");
        free(p);
    }
    atomic_fetch_add(&detached_done, 1);
    return NULL;
}

static void *churn_and_exit(void *arg)
{
    (void)arg;
    enum { M = 4096 };
    void **v = malloc(M * sizeof *v);
    CHECK(v, "malloc");
    for (int i = 0; i < M; i++) {
        v[i] = malloc(64 + (size_t)(i % 8) * 48); /* 64 .. 400 bytes, ~1 MiB in all */
        CHECK(v[i], "malloc");
        memset(v[i], i, 64);
    }
    for (int i = 0; i < M; i++)
        free(v[i]);
    free(v);
    return NULL;
}

static void test_exited_caches_reused(void)
{
    long before = current_rss_kib();
    for (int i = 0; i < 300; i++) {
        pthread_t t;
        CHECK(pthread_create(&t, NULL, churn_and_exit, NULL) == 0, "pthread_create");
        pthread_join(t, NULL);
    }
    long grown = current_rss_kib() - before;
    printf("exited threads' memory: RSS grew by %ld KiB over 300 threads of ~1 MiB each\n", grown);
    CHECK(grown < 100 * 1024, "RSS grew by %ld KiB: memory cached by exited threads is not reused", grown);
}

int main(void)
{
    CHECK(pthread_key_create(&key_early, dtor_early) == 0, "pthread_key_create");
    CHECK(pthread_key_create(&key_rearm, dtor_rearm) == 0, "pthread_key_create");
    int with_cxa = __cxa_thread_atexit_impl && &__dso_handle;

    for (int round = 0; round < ROUNDS; round++) {
        pthread_t th[THREADS];
        for (uintptr_t i = 0; i < THREADS; i++)
            CHECK(pthread_create(&th[i], NULL, worker, (void *)(i + (uintptr_t)round * THREADS)) == 0,
                  "pthread_create");
        for (int i = 0; i < THREADS; i++)
            CHECK(pthread_join(th[i], NULL) == 0, "pthread_join");
        /* all threads have exited: their blocks must be intact and freeable */
        for (int t = 0; t < THREADS; t++)
            for (int i = 0; i < BLOCKS; i++) {
                struct block *b = &handed[t][i];
                PAT_CHECK(b->p, b->n, b->seed, "block %d of exited thread %d (round %d)", i, t, round);
                if (i % 2)
                    free(b->p);
                else {
                    /* realloc some before freeing */
                    unsigned char *q = realloc(b->p, b->n * 2 + 1);
                    CHECK(q, "realloc");
                    PAT_CHECK(q, b->n, b->seed, "realloc of exited thread's block");
                    free(q);
                }
            }
        /* detached threads */
        pthread_attr_t attr;
        pthread_attr_init(&attr);
        pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
        for (int i = 0; i < 4; i++) {
            pthread_t d;
            CHECK(pthread_create(&d, &attr, detached_worker, NULL) == 0, "pthread_create detached");
        }
        pthread_attr_destroy(&attr);
    }
    /* wait for the detached threads' bodies, then give their destructors a moment */
    for (int i = 0; i < 2000 && atomic_load(&detached_done) < ROUNDS * 4; i++)
        usleep(1000);
    CHECK(atomic_load(&detached_done) == ROUNDS * 4, "detached threads did not finish");
    usleep(50000);

    int runs = atomic_load(&dtor_runs);
    /* per joined thread: early + late + 3 rearm runs */
    CHECK(runs >= ROUNDS * THREADS * 5, "pthread_key destructors ran %d times, want >= %d", runs,
          ROUNDS * THREADS * 5);
    if (with_cxa)
        CHECK(atomic_load(&cxa_runs) == ROUNDS * THREADS, "__cxa_thread_atexit_impl destructors ran %d times",
              atomic_load(&cxa_runs));
    /* the heap is still fine */
    for (uint32_t i = 0; i < 1000; i++) {
        struct block *b = new_block(i, size_for(i));
        free_block(b, "main after all threads");
    }
    test_exited_caches_reused();
    printf("thread_exit: ok (%d key destructor runs, %d frees in them, %d cxa destructors)\n", runs,
           atomic_load(&dtor_frees), atomic_load(&cxa_runs));
    return 0;
}
