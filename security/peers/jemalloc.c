/* A program linked with jemalloc that calls its own entry points (mallocx, as
 * redis does): the blocks must go back to jemalloc, not abort.
 * link: libjemalloc.so.2
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <malloc.h>

void *mallocx(size_t, int);

int main(void)
{
    for (int i = 0; i < 1000; i++) {
        char *p = mallocx(100 + i, 0);
        memset(p, 1, 100 + i);
        if (malloc_usable_size(p) < (size_t)(100 + i)) {
            fprintf(stderr, "malloc_usable_size of a jemalloc block: %zu\n", malloc_usable_size(p));
            return 1;
        }
        p = realloc(p, 5000 + i);
        if (!p || p[99] != 1) {
            fprintf(stderr, "realloc of a jemalloc block lost its contents\n");
            return 1;
        }
        free(p);
        free(malloc(100));
    }
    printf("ok\n");
    return 0;
}
