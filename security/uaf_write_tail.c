/* uaf_write_tail: a use-after-free write to the last byte of a freed block.
 * modes: check
 * expect: hakmem: check:
 */
#include "attack.h"

int main(void)
{
    char *a = malloc(100);
    size_t n = malloc_usable_size(a);
    free(a);
    ((volatile char *)opaque(a))[n - 1] = 0x41;
    malloc(opaque_size(100));
    return 0;
}
