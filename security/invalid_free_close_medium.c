/* invalid_free_close_medium: free the address one block past a live 4000-byte
 * block (a block never handed out); then 2,000 live malloc(4000) must differ.
 * expect: hakmem: free():
 */
#include "attack.h"

enum { N = 2000 };

int main(void)
{
    char *p = malloc(4000);
    free((char *)opaque(p) + malloc_usable_size(p));
    static void *live[N];
    for (int i = 0; i < N; i++)
        live[i] = malloc(4000);
    if (has_duplicate(live, N))
        ATTACK_WORKED("one block handed out twice among %d live malloc(4000)", N);
    return 0;
}
