/* usable_size_freed_mid: malloc_usable_size of a freed 20,000-byte block.
 * expect: malloc_usable_size():
 */
#include "attack.h"

int main(void)
{
    char *p = malloc(20000);
    free(p);
    size_t n = malloc_usable_size(opaque(p));
    fprintf(stderr, "malloc_usable_size of a freed block: %zu\n", n);
    return 0;
}
