/* double_free_large_span: free the same 1 MiB block (a SuperSlab span of its
 * own, given back to the pool at the first free) twice.
 * expect: hakmem: free():
 */
#include "attack.h"

int main(void)
{
    char *p = malloc(1 << 20);
    free(p);
    free(opaque(p));
    void *a = malloc(1 << 20), *b = malloc(1 << 20);
    if (a == b)
        ATTACK_WORKED("the block freed twice came back twice");
    return 0;
}
