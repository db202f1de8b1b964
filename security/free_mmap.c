/* free_mmap: free memory the program mapped itself.
 * expect: invalid pointer
 */
#include "attack.h"
#include <sys/mman.h>

int main(void)
{
    char *m = mmap(NULL, 1 << 21, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (m == MAP_FAILED)
        return 0;
    free(opaque(m + 4096));
    return 0;
}
