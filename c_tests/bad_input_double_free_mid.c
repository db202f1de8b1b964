/* bad_input_double_free_mid: freeing twice a 16 KiB block that lies past the
 * first 64 KiB of its span (mid-size spans are several slabs long, and free
 * finds such blocks by another path than the first slab's) must abort the
 * process (SIGABRT) with a one-line message on stderr containing "hakmem:".
 * Exit status 3 means the double free was not detected. */
#include "common.h"

#define N 24

int main(void)
{
    /* Consecutive blocks of one class fill a span in address order: the
     * block farthest from the lowest one is at least 64 KiB past it. */
    unsigned char *blocks[N];
    for (int i = 0; i < N; i++) {
        blocks[i] = malloc(16384);
        CHECK(blocks[i], "malloc(16384)");
        memset(blocks[i], 0x5a, 16384);
    }
    unsigned char *lo = blocks[0], *hi = blocks[0];
    for (int i = 1; i < N; i++) {
        if (blocks[i] < lo) lo = blocks[i];
        if (blocks[i] > hi) hi = blocks[i];
    }
    if (hi - lo < 65536) {
        fprintf(stderr, "FAIL: no block past the span's first slab (%p..%p)\n", (void *)lo, (void *)hi);
        return 1;
    }
    free(hi);
    printf("freeing %p a second time; the allocator should abort\n", (void *)hi);
    fflush(stdout);
    free(opaque_ptr(hi));
    fprintf(stderr, "FAIL: double free of a 16 KiB block was not detected (free returned)\n");
    return 3;
}
