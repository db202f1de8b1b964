/* first_operation: the very first allocator call a brand-new thread makes is
 * each of: free of a block from another thread, realloc of a block from
 * another thread, realloc(NULL, n), calloc, posix_memalign, aligned_alloc,
 * memalign, valloc, malloc_usable_size, free(NULL), malloc(0), free_sized.
 * The thread then does a little more work and checks everything.  Each case
 * runs for small, mid and large sizes, and also with several such threads
 * starting at once. */
#include <stdatomic.h>

#include "common.h"

enum {
    OP_FREE_REMOTE,
    OP_REALLOC_REMOTE,
    OP_REALLOC_NULL,
    OP_CALLOC,
    OP_POSIX_MEMALIGN,
    OP_ALIGNED_ALLOC,
    OP_MEMALIGN,
    OP_VALLOC,
    OP_USABLE_SIZE,
    OP_FREE_NULL,
    OP_MALLOC_ZERO,
    OP_FREE_SIZED,
    NOPS
};
static const char *const opname[NOPS] = {
    "free(block from another thread)", "realloc(block from another thread)", "realloc(NULL, n)",
    "calloc", "posix_memalign", "aligned_alloc", "memalign", "valloc", "malloc_usable_size",
    "free(NULL)", "malloc(0)", "free_sized(block from another thread)"};

struct job {
    int op;
    size_t n;
    unsigned char *block; /* allocated by main, for the remote ops */
    uint32_t seed;
    pthread_barrier_t *start;
};

static int have_free_sized;

static void after_work(const struct job *j)
{
    /* a bit more ordinary work in the same thread */
    void *v[50];
    for (int i = 0; i < 50; i++) {
        size_t n = (size_t)(i * 97) % 5000 + (i == 49 ? 300000 : 0);
        v[i] = malloc(n);
        CHECK(v[i] && is_aligned(v[i], MIN_ALIGN), "malloc(%zu) after first op %s", n, opname[j->op]);
        pat_fill(v[i], n, (uint32_t)i);
    }
    for (int i = 0; i < 50; i++) {
        size_t n = (size_t)(i * 97) % 5000 + (i == 49 ? 300000 : 0);
        PAT_CHECK(v[i], n, (uint32_t)i, "block after first op %s", opname[j->op]);
        free(v[i]);
    }
}

static void *thread_main(void *arg)
{
    struct job *j = arg;
    if (j->start)
        pthread_barrier_wait(j->start);
    size_t n = j->n;
    switch (j->op) {
    case OP_FREE_REMOTE:
        free(j->block);
        break;
    case OP_REALLOC_REMOTE: {
        unsigned char *q = realloc(j->block, n * 2 + 100);
        CHECK(q, "first op realloc(remote %zu -> %zu)", n, n * 2 + 100);
        PAT_CHECK(q, n, j->seed, "first op realloc of a block from another thread");
        pat_fill(q, n * 2 + 100, 1);
        q = realloc(q, n / 2 + 1);
        CHECK(q, "realloc shrink");
        PAT_CHECK(q, n / 2 + 1, 1, "realloc shrink");
        free(q);
        break;
    }
    case OP_REALLOC_NULL: {
        unsigned char *q = realloc(NULL, n);
        CHECK(q && is_aligned(q, MIN_ALIGN), "first op realloc(NULL, %zu) = %p", n, (void *)q);
        pat_fill(q, n, 2);
        PAT_CHECK(q, n, 2, "realloc(NULL, %zu)", n);
        free(q);
        break;
    }
    case OP_CALLOC: {
        unsigned char *q = calloc(n, 1);
        CHECK(q, "first op calloc(%zu, 1)", n);
        CHECK(find_nonzero(q, n) == (size_t)-1, "first op calloc(%zu, 1) not zeroed", n);
        pat_fill(q, n, 3);
        free(q);
        break;
    }
    case OP_POSIX_MEMALIGN: {
        void *q = NULL;
        int r = posix_memalign(&q, 128, n);
        CHECK(r == 0 && q && is_aligned(q, 128), "first op posix_memalign(128, %zu) -> %d %p", n, r, q);
        pat_fill(q, n, 4);
        free(q);
        break;
    }
    case OP_ALIGNED_ALLOC: {
        void *q = aligned_alloc(4096, n);
        CHECK(q && is_aligned(q, 4096), "first op aligned_alloc(4096, %zu) = %p", n, q);
        pat_fill(q, n, 5);
        free(q);
        break;
    }
    case OP_MEMALIGN: {
        void *q = memalign(64, n);
        CHECK(q && is_aligned(q, 64), "first op memalign(64, %zu) = %p", n, q);
        pat_fill(q, n, 6);
        free(q);
        break;
    }
    case OP_VALLOC: {
        void *q = valloc(n);
        CHECK(q && is_aligned(q, page_size()), "first op valloc(%zu) = %p", n, q);
        pat_fill(q, n, 7);
        free(q);
        break;
    }
    case OP_USABLE_SIZE: {
        size_t u = malloc_usable_size(j->block);
        CHECK(u >= n, "first op malloc_usable_size(remote block of %zu) = %zu", n, u);
        PAT_CHECK(j->block, n, j->seed, "remote block");
        free(j->block);
        break;
    }
    case OP_FREE_NULL:
        free(NULL);
        break;
    case OP_MALLOC_ZERO: {
        void *q = malloc(0);
        CHECK(q, "first op malloc(0) returned NULL");
        free(q);
        break;
    }
    case OP_FREE_SIZED:
        free_sized(j->block, n);
        break;
    }
    after_work(j);
    return NULL;
}

static int needs_block(int op)
{
    return op == OP_FREE_REMOTE || op == OP_REALLOC_REMOTE || op == OP_USABLE_SIZE || op == OP_FREE_SIZED;
}

static void prepare(struct job *j, int op, size_t n, uint32_t seed)
{
    j->op = op;
    j->n = n;
    j->seed = seed;
    j->block = NULL;
    j->start = NULL;
    if (needs_block(op)) {
        j->block = malloc(n);
        CHECK(j->block, "malloc(%zu)", n);
        pat_fill(j->block, n, seed);
    }
}

int main(void)
{
    have_free_sized = !foreign_allocator() && HAVE_SYM(free_sized);
    static const size_t sizes[] = {1, 24, 700, 16384, 100000, 1 << 20};
    enum { NS = sizeof sizes / sizeof sizes[0] };

    /* one thread at a time */
    for (int op = 0; op < NOPS; op++) {
        if (op == OP_FREE_SIZED && !have_free_sized)
            continue;
        for (int s = 0; s < NS; s++) {
            struct job j;
            prepare(&j, op, sizes[s], (uint32_t)(op * 10 + s));
            pthread_t t;
            CHECK(pthread_create(&t, NULL, thread_main, &j) == 0, "pthread_create");
            CHECK(pthread_join(t, NULL) == 0, "pthread_join");
        }
    }

    /* several fresh threads whose first calls race each other */
    enum { PAR = 8 };
    for (int round = 0; round < 6; round++) {
        pthread_barrier_t bar;
        pthread_barrier_init(&bar, NULL, PAR);
        struct job j[PAR];
        pthread_t t[PAR];
        for (int i = 0; i < PAR; i++) {
            int op = (round * PAR + i) % NOPS;
            if (op == OP_FREE_SIZED && !have_free_sized)
                op = OP_FREE_REMOTE;
            prepare(&j[i], op, sizes[(round + i) % NS], (uint32_t)(round * 100 + i));
            j[i].start = &bar;
        }
        for (int i = 0; i < PAR; i++)
            CHECK(pthread_create(&t[i], NULL, thread_main, &j[i]) == 0, "pthread_create");
        for (int i = 0; i < PAR; i++)
            CHECK(pthread_join(t[i], NULL) == 0, "pthread_join");
        pthread_barrier_destroy(&bar);
    }
    printf("first_operation: ok\n");
    return 0;
}
