/* invalid_free_far: free(p + 4096) for an 8-byte block p: an address in the
 * same slab that no malloc returned.
 * expect: hakmem: free():
 */
#include "attack.h"

enum { N = 20000 };

int main(void)
{
    char *p = malloc(8);
    free((char *)opaque(p) + 4096);
    static void *live[N];
    for (int i = 0; i < N; i++)
        live[i] = malloc(8);
    if (has_duplicate(live, N))
        ATTACK_WORKED("one block handed out twice among %d live malloc(8)", N);
    return 0;
}
