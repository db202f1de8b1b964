/* freelist_poison: free two 64-byte blocks, overwrite the link of the last one
 * freed with the address of a static array, malloc twice: the second malloc
 * must not return the array (glibc's safe-linking stops this).
 * expect: free list corrupted
 * expect-check: hakmem: check:
 */
#include "attack.h"

static char target[256] __attribute__((aligned(64)));

int main(void)
{
    char *a = malloc(64), *b = malloc(64);
    free(a);
    free(b);
    *(void **)opaque(b) = target; /* use after free: poison the link */
    void *p = malloc(opaque_size(64));
    void *q = malloc(opaque_size(64));
    if (p == (void *)target || q == (void *)target)
        ATTACK_WORKED("malloc returned the static array %p", (void *)target);
    return 0;
}
