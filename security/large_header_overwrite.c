/* large_header_overwrite: a write just before a large block (an underflow of
 * it, or an overflow of whatever precedes it) over the allocator's metadata,
 * then free: the allocator must not unmap or reuse memory by what it reads there.
 * expect: large block header corrupted
 */
#include "attack.h"

int main(void)
{
    char *p = malloc(3 << 20); /* beyond the spans: a mapping with its header */
    memset((char *)opaque(p) - 48, 0x41, 48);
    free(p);
    char *q = malloc(3 << 20);
    char *r = malloc(3 << 20);
    if (q == r)
        ATTACK_WORKED("one large block handed out twice");
    return 0;
}
