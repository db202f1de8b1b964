/* bad_input_interior_free: free() of a pointer into the middle of a live
 * block must abort the process (SIGABRT) with a one-line message on stderr
 * containing "hakmem:".  scripts/test_c.sh expects exit by signal 6 (status
 * 134) and that message.  Exit status 3 means the bad free was not detected. */
#include "common.h"

int main(void)
{
    void *others[16];
    for (int i = 0; i < 16; i++) {
        others[i] = malloc(256);
        CHECK(others[i], "malloc");
    }
    unsigned char *p = malloc(256);
    CHECK(p, "malloc(256)");
    memset(p, 0x5a, 256);
    return free_must_abort(p + 16, "an interior pointer, 16 bytes into a 256-byte block");
}
