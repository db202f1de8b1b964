/* bad_input_double_free: freeing the same block twice must abort the
 * process (SIGABRT) with a one-line message on stderr containing "hakmem:".
 * scripts/test_c.sh expects exit by signal 6 (status 134) and that message.
 * Exit status 3 means the double free was not detected. */
#include "common.h"

int main(void)
{
    /* some ordinary state first, so the block is not alone in its page */
    void *others[16];
    for (int i = 0; i < 16; i++) {
        others[i] = malloc(64);
        CHECK(others[i], "malloc");
    }
    unsigned char *p = malloc(64);
    CHECK(p, "malloc(64)");
    memset(p, 0x5a, 64);
    free(p);
    int status = free_must_abort(p, "a double free of a 64-byte block");
    for (int i = 0; i < 16; i++)
        free(others[i]);
    return status;
}
