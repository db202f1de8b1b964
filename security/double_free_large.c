/* double_free_large: free the same large block twice.
 * expect: double free
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
