/* reentrant: calls that re-enter the allocator from inside it.
 *
 * hakmem calls pthread_setspecific while it creates a thread's heap (inside
 * that thread's first malloc).  This program defines its own
 * pthread_setspecific, which the dynamic linker binds ahead of libc's, and
 * which, before forwarding to libc's, calls every allocation function: those
 * calls arrive while the allocator is in the middle of a call on the same
 * thread.  They must be served (from hakmem's bootstrap buffer), give usable
 * memory, not deadlock or recurse, and leave the allocator working: blocks
 * they return are freed later from ordinary calls, and a block the thread
 * frees from inside (allocated by main) is really freed.
 *
 * On another allocator the hook may never run; only hakmem is required to
 * call it (once per thread that allocates). */
#include <dlfcn.h>
#include <stdatomic.h>

#include "common.h"

#define THREADS 8
#define KEEP_BYTES 200

static atomic_int hook_runs;
static __thread void *kept;           /* allocated inside the hook, freed by ordinary code */
static __thread void *to_free_inside; /* a block of main's, freed inside the hook */

static void exercise_inside(void)
{
    void *a = malloc(100);
    CHECK(a != NULL, "malloc inside the allocator returned NULL");
    pat_fill(a, 100, 1);
    void *z = calloc(16, 16);
    CHECK(z != NULL, "calloc inside the allocator returned NULL");
    CHECK(find_nonzero(z, 256) == (size_t)-1, "calloc inside the allocator: memory not zero");
    void *b = realloc(a, 300);
    CHECK(b != NULL, "realloc inside the allocator returned NULL");
    PAT_CHECK(b, 100, 1, "realloc inside the allocator lost the contents");
    void *al = NULL;
    CHECK(posix_memalign(&al, 256, 64) == 0 && is_aligned(al, 256),
          "posix_memalign inside the allocator failed");
    CHECK(malloc_usable_size(b) >= 300, "malloc_usable_size inside the allocator");
    free(z);
    free(al);
    free(b);
    free(NULL);
    if (to_free_inside) {
        free(to_free_inside);
        to_free_inside = NULL;
    }
    kept = malloc(KEEP_BYTES);
    CHECK(kept != NULL, "malloc inside the allocator returned NULL");
    pat_fill(kept, KEEP_BYTES, 2);
}

int pthread_setspecific(pthread_key_t key, const void *value)
{
    static int (*real)(pthread_key_t, const void *);
    if (real == NULL) {
        /* dlsym may itself allocate: one more re-entered call. */
        real = (int (*)(pthread_key_t, const void *))dlsym(RTLD_NEXT, "pthread_setspecific");
        if (real == NULL)
            abort();
    }
    exercise_inside();
    atomic_fetch_add(&hook_runs, 1);
    return real(key, value);
}

static void *worker(void *arg)
{
    to_free_inside = arg;
    /* The first call: on hakmem, the hook runs inside it. */
    unsigned char *first = malloc(24);
    CHECK(first != NULL, "first malloc returned NULL");
    /* The compiler takes malloc for a function that writes no program variable. */
    __asm__ volatile("" : : : "memory");
    pat_fill(first, 24, 3);
    CHECK(to_free_inside == NULL || foreign_allocator(), "the hook did not run in this thread's first malloc");
    if (to_free_inside) { /* the hook did not run (another allocator): free it here */
        free(to_free_inside);
        to_free_inside = NULL;
    }
    /* Ordinary work afterwards, over every tier. */
    void *blocks[64] = {0};
    for (int i = 0; i < 20000; i++) {
        int k = i % 64;
        if (blocks[k]) {
            PAT_CHECK(blocks[k], 16, (uint32_t)k, "block %d corrupted", k);
            free(blocks[k]);
        }
        size_t n = (size_t)16 << (i % 14); /* 16 B .. 128 KiB */
        blocks[k] = malloc(n);
        CHECK(blocks[k] != NULL, "malloc(%zu) returned NULL", n);
        pat_fill(blocks[k], 16, (uint32_t)k);
    }
    for (int k = 0; k < 64; k++)
        free(blocks[k]);
    if (kept) {
        PAT_CHECK(kept, KEEP_BYTES, 2, "a block allocated inside the allocator was overwritten");
        free(kept);
    }
    PAT_CHECK(first, 24, 3, "first block corrupted");
    free(first);
    return NULL;
}

int main(void)
{
    pthread_t t[THREADS];
    for (int round = 0; round < 3; round++) {
        for (int i = 0; i < THREADS; i++) {
            void *block = malloc(48); /* freed by the thread, inside its hook */
            CHECK(block != NULL, "malloc returned NULL");
            CHECK(pthread_create(&t[i], NULL, worker, block) == 0, "pthread_create");
        }
        for (int i = 0; i < THREADS; i++)
            CHECK(pthread_join(t[i], NULL) == 0, "pthread_join");
    }
    if (!foreign_allocator())
        CHECK(atomic_load(&hook_runs) >= 3 * THREADS,
              "pthread_setspecific ran %d times, expected once per thread heap (%d)",
              atomic_load(&hook_runs), 3 * THREADS);
    printf("reentrant: hook ran %d times\n", atomic_load(&hook_runs));
    return 0;
}
