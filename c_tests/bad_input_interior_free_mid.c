/* bad_input_interior_free_mid: free() of a pointer 16 bytes into a live
 * 16 KiB block that lies past the first 64 KiB of its span (see
 * bad_input_double_free_mid) must abort the process (SIGABRT) with a
 * one-line message on stderr containing "hakmem:".  Exit status 3 means the
 * bad free was not detected. */
#include "common.h"

#define N 24

int main(void)
{
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
    printf("freeing %p, 16 bytes into the block at %p; the allocator should abort\n", (void *)(hi + 16),
           (void *)hi);
    fflush(stdout);
    free(opaque_ptr(hi + 16));
    fprintf(stderr, "FAIL: free of an interior pointer (block + 16) was not detected (free returned)\n");
    return 3;
}
