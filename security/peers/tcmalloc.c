/* A program linked with tcmalloc that calls its own entry points: under
 * LD_PRELOAD=libhakmem.so, malloc/free are hakmem's and tc_malloc's blocks
 * must go back to tcmalloc (hakmem detects the peer at init), not abort.
 * link: libtcmalloc_minimal.so.4
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <malloc.h>

void *tc_malloc(size_t);
void *tc_realloc(void *, size_t);

int main(void)
{
    for (int i = 0; i < 1000; i++) {
        char *p = tc_malloc(100 + i);
        memset(p, 1, 100 + i);
        if (malloc_usable_size(p) < (size_t)(100 + i)) {
            fprintf(stderr, "malloc_usable_size of a tcmalloc block: %zu\n", malloc_usable_size(p));
            return 1;
        }
        p = realloc(p, 5000 + i);
        if (!p || p[99] != 1) {
            fprintf(stderr, "realloc of a tcmalloc block lost its contents\n");
            return 1;
        }
        free(p);
        free(malloc(100)); /* hakmem's */
    }
    printf("ok\n");
    return 0;
}
