/* join_churn: threads started 1,000 at a time and joined, their blocks freed afterwards by the
 * main thread.  pthread_join reclaims the threads' stacks and frees their thread-local storage
 * while it holds glibc's stack-cache lock, which pthread_create takes: an allocator that started
 * a thread of its own from such a free (hakmem's purge thread, once) deadlocks here.  The run
 * must finish (the script's timeout) with every block intact. */
#include "common.h"

enum { ROUNDS = 20, BATCH = 1000, PER = 20 };
static unsigned char *blocks[BATCH][PER];

static size_t size_of(long i, int k)
{
    return 16 + (size_t)(i * 31 + k * 97) % 2000;
}

static void *work(void *arg)
{
    long i = (long)arg;
    for (int k = 0; k < PER; k++) {
        blocks[i][k] = malloc(size_of(i, k));
        CHECK(blocks[i][k] != NULL, "malloc");
        memset(blocks[i][k], (int)(i + k) & 0xff, size_of(i, k));
    }
    return NULL;
}

int main(void)
{
    static pthread_t t[BATCH];
    for (int round = 0; round < ROUNDS; round++) {
        int started = 0;
        for (long i = 0; i < BATCH; i++) {
            if (pthread_create(&t[i], NULL, work, (void *)i) != 0)
                break;
            started++;
        }
        CHECK(started > 0, "pthread_create failed at once");
        for (int i = 0; i < started; i++)
            CHECK(pthread_join(t[i], NULL) == 0, "pthread_join");
        for (int i = 0; i < started; i++)
            for (int k = 0; k < PER; k++) {
                for (size_t b = 0; b < size_of(i, k); b++)
                    CHECK(blocks[i][k][b] == ((i + k) & 0xff), "block %d/%d corrupted", i, k);
                free(blocks[i][k]);
            }
    }
    printf("join_churn: %d rounds of %d threads\n", ROUNDS, BATCH);
    return 0;
}
