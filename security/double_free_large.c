/* double_free_large: free the same large block (a mapping of its own) twice.
 * expect: double free
 */
#include "attack.h"

int main(void)
{
    char *p = malloc(4 << 20);
    free(p);
    free(opaque(p));
    void *a = malloc(4 << 20), *b = malloc(4 << 20);
    if (a == b)
        ATTACK_WORKED("the block freed twice came back twice");
    return 0;
}
