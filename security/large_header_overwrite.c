/* large_header_overwrite: a write just before a large block (an underflow of
 * it, or an overflow of whatever precedes it) over the allocator's metadata,
 * then free: the allocator must not unmap or reuse memory by what it reads there.
 * expect: hakmem:
 */
#include "attack.h"

int main(void)
{
    char *p = malloc(300000);
    memset((char *)opaque(p) - 48, 0x41, 48);
    free(p);
    char *q = malloc(300000);
    char *r = malloc(300000);
    if (q == r)
        ATTACK_WORKED("one large block handed out twice");
    return 0;
}
