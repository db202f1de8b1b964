/* uaf_write_zero: a use-after-free write of zero (p->next = NULL, a memset) over
 * the link of a freed block in the middle of its free list; the next mallocs
 * follow that link.  (A zero link must not decode to a block of the slab: the
 * block itself would then be handed out again and again.)
 * expect: free list corrupted
 * expect-check: hakmem: check:
 */
#include "attack.h"

int main(void)
{
    char *a = malloc(48);
    char *b = malloc(48);
    free(a);
    free(b);
    memset(opaque(a), 0, 8);
    for (int i = 0; i < 4; i++)
        malloc(opaque_size(48));
    return 0;
}
