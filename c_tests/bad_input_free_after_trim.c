/* bad_input_free_after_trim: freeing a block again after its SuperSlab was
 * emptied and given back (malloc_trim) must abort the process (SIGABRT) with a
 * one-line message on stderr containing "hakmem:", not crash: the SuperSlab's
 * address range stays readable (a retired SuperSlab of the arena), or the
 * pointer is no longer ours at all (a SuperSlab mapped on its own, unmapped).
 * Exit status 3 means the stale free was not detected. */
#include "common.h"

#include <malloc.h>

enum { BLOCK = 1024, COUNT = 16 * 1024 }; /* 16 MiB: eight SuperSlabs */

int main(void)
{
    static void *blocks[COUNT];
    for (int i = 0; i < COUNT; i++) {
        blocks[i] = malloc(BLOCK);
        CHECK(blocks[i] != NULL, "malloc(%d) #%d failed", BLOCK, i);
        memset(blocks[i], 0x5a, BLOCK);
    }
    for (int i = 0; i < COUNT; i++)
        free(blocks[i]);
    malloc_trim(0);
    /* From the middle of the run: its SuperSlab holds no block the heap keeps. */
    return free_must_abort(blocks[COUNT / 2], "a free into a SuperSlab given back by malloc_trim");
}
