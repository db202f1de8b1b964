/* uaf_write_byte1: a one-byte use-after-free write into the link of a freed
 * block (byte 1: without diffusion the link would name another block of the
 * same slab, a live one here).
 * expect: free list corrupted
 * expect-check: hakmem: check:
 */
#include "attack.h"

int main(void)
{
    void *live[64];
    for (int i = 0; i < 64; i++)
        live[i] = malloc(64);
    char *a = live[10];
    free(live[11]);
    free(a);
    ((volatile char *)opaque(a))[1] ^= 0x01;
    void *p = malloc(opaque_size(64));
    void *q = malloc(opaque_size(64));
    for (int i = 0; i < 64; i++)
        if (i != 10 && i != 11 && (live[i] == p || live[i] == q))
            ATTACK_WORKED("malloc handed out the live block %p again", live[i]);
    return 0;
}
