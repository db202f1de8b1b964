/* invalid_free_close_small (after mimalloc-bench's security test): free a
 * pointer 16 bytes past an 8-byte block, i.e. the next block, which was carved
 * but never handed out; then 200,000 live malloc(8) must all differ.
 * expect: hakmem: free():
 */
#include "attack.h"

enum { N = 200000 };

int main(void)
{
    char *p = malloc(8);
    free((char *)opaque(p) + 16);
    static void *live[N];
    for (int i = 0; i < N; i++)
        live[i] = malloc(8);
    if (has_duplicate(live, N))
        ATTACK_WORKED("one block handed out twice among %d live malloc(8)", N);
    return 0;
}
