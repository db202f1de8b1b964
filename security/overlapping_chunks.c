/* overlapping_chunks: free a pointer into the middle of a live block (the
 * classic way to get two chunks that overlap), then allocate its size.
 * expect: invalid pointer
 */
#include "attack.h"

int main(void)
{
    char *p = malloc(256);
    free((char *)opaque(p) + 128);
    char *q = malloc(128);
    if (q >= p && q < p + 256)
        ATTACK_WORKED("malloc(128) returned %p, inside the live block %p", (void *)q, (void *)p);
    return 0;
}
