/* overflow_into_free: a block overflows into the free block right after it,
 * over its link; the next mallocs of that size follow it.
 * expect: free list corrupted
 * expect-check: hakmem: check:
 */
#include "attack.h"

int main(void)
{
    char *a, *b;
    size_t gap = adjacent_pair(64, &a, &b);
    free(b);
    memset(opaque(a), 0x41, gap + 16); /* over the next block's first 16 bytes */
    for (int i = 0; i < 4; i++)
        malloc(opaque_size(64));
    return 0;
}
