/* bad_input_double_free_mid: freeing twice a 16 KiB block that lies past the
 * first 64 KiB of its span (see mid_block_past_first_slab) must abort the
 * process (SIGABRT) with a one-line message on stderr containing "hakmem:".
 * Exit status 3 means the double free was not detected. */
#include "common.h"

int main(void)
{
    unsigned char *p = mid_block_past_first_slab();
    free(p);
    return free_must_abort(p, "a double free of a 16 KiB block");
}
