/* free_static: free a pointer to a static array.
 * expect: invalid pointer
 */
#include "attack.h"

static char data[4096];

int main(void)
{
    free(opaque(data + 64));
    return 0;
}
