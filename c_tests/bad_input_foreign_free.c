/* bad_input_foreign_free: free() of a pointer no allocator handed out (a static array) must
 * abort with a one-line "hakmem:" message, like glibc's "free(): invalid pointer", instead of
 * corrupting anything. Exit status 3 means the free returned. */
#include "common.h"

static unsigned char not_heap[4096] __attribute__((aligned(64)));

int main(void)
{
    void *p = malloc(32); /* make sure the allocator is initialised */
    CHECK(p, "malloc");
    free(p);
    free(opaque_ptr(not_heap + 64));
    fprintf(stderr, "FAIL: free of a static array's address was not detected\n");
    return 3;
}
