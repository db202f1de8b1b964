/* bad_input_interior_free_mid: free() of a pointer 16 bytes into a live
 * 16 KiB block that lies past the first 64 KiB of its span (see
 * mid_block_past_first_slab) must abort the process (SIGABRT) with a
 * one-line message on stderr containing "hakmem:".  Exit status 3 means the
 * bad free was not detected. */
#include "common.h"

int main(void)
{
    unsigned char *p = mid_block_past_first_slab();
    return free_must_abort(p + 16, "an interior pointer, 16 bytes into a 16 KiB block");
}
