/* realloc_freed: realloc of a freed block (which may be handed out meanwhile).
 * expect: realloc():
 */
#include "attack.h"

int main(void)
{
    char *p = malloc(40);
    free(p);
    char *q = realloc(opaque(p), 80);
    char *r = malloc(40);
    if (q == r)
        ATTACK_WORKED("realloc of a freed block and malloc returned the same block");
    return 0;
}
