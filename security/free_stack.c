/* free_stack: free a pointer to a local variable.
 * expect: invalid pointer
 */
#include "attack.h"

int main(void)
{
    char local[64];
    free(opaque(local));
    return 0;
}
