/* bad_input_use_after_free: run with HAKMEM_CHECK=1 (scripts/test_c.sh sets it). A write into
 * a freed block must be reported when the block is next handed out: SIGABRT with a one-line
 * "hakmem:" message. Exit status 3 means the write went unnoticed. */
#include "common.h"

int main(void)
{
    for (size_t size = 24; size <= 4096; size *= 2) {
        unsigned char *p = malloc(size);
        CHECK(p, "malloc");
        free(p);
        ((volatile unsigned char *)opaque_ptr(p))[size - 1] = 0x41; /* use after free */
        for (int i = 0; i < 4; i++) {
            void *q = malloc(size);
            CHECK(q, "malloc");
        }
    }
    fprintf(stderr, "FAIL: a write to a freed block was not detected in check mode\n");
    return 3;
}
