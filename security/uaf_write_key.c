/* uaf_write_key: a use-after-free write to bytes 8-15 of a freed block (where
 * allocators keep a freed marker), then the block is handed out again.
 * modes: check
 * expect: hakmem: check:
 */
#include "attack.h"

int main(void)
{
    char *a = malloc(64);
    free(a);
    memset((char *)opaque(a) + 8, 0, 8);
    malloc(opaque_size(64));
    return 0;
}
