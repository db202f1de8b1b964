/* double_free: free the same small block twice.
 * expect: double free
 */
#include "attack.h"

int main(void)
{
    char *p = malloc(32);
    free(p);
    free(opaque(p));
    void *a = malloc(32), *b = malloc(32);
    if (a == b)
        ATTACK_WORKED("the block freed twice came back twice");
    return 0;
}
