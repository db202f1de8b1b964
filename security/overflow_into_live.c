/* overflow_into_live: a block overflows by 8 bytes into the live block after
 * it, and is freed. Only a red zone catches this (check mode).
 * modes: check
 * expect: hakmem: check:
 */
#include "attack.h"

int main(void)
{
    char *a, *b;
    size_t gap = adjacent_pair(64, &a, &b);
    memset(opaque(a), 0x41, gap + 8); /* over the next block's first 8 bytes */
    free(a);
    free(b);
    return 0;
}
