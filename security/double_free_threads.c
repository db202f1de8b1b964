/* double_free_threads: one thread frees a block, another thread frees it again.
 * expect: double free
 */
#include "attack.h"

static void *block;

static void *free_it(void *arg)
{
    free(opaque(block));
    return arg;
}

int main(void)
{
    block = malloc(64);
    pthread_t t;
    pthread_create(&t, NULL, free_it, NULL);
    pthread_join(t, NULL);
    pthread_create(&t, NULL, free_it, NULL);
    pthread_join(t, NULL);
    void *a = malloc(64), *b = malloc(64);
    if (a == b)
        ATTACK_WORKED("the block freed twice came back twice");
    return 0;
}
