/* usable_size_freed_large: malloc_usable_size of a freed 1 MiB block.
 * expect: malloc_usable_size():
 */
#include "attack.h"

int main(void)
{
    char *p = malloc(1 << 20);
    free(p);
    size_t n = malloc_usable_size(opaque(p));
    fprintf(stderr, "malloc_usable_size of a freed block: %zu\n", n);
    return 0;
}
