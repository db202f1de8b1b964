/* uaf_write_link: a use-after-free write of garbage over the first word of a
 * freed block; the next mallocs follow that block's link.
 * expect: free list corrupted
 * expect-check: hakmem: check:
 */
#include "attack.h"

int main(void)
{
    char *a = malloc(48);
    free(a);
    memset(opaque(a), 0x41, 8);
    for (int i = 0; i < 4; i++)
        malloc(opaque_size(48));
    return 0;
}
