/* rlimit_at_run_time: an address-space limit set while the program runs
 * (setrlimit(RLIMIT_AS) = 256 MiB) bounds what it allocates from then on,
 * although the allocator may hold address space it reserved before (hakmem
 * gives back the part of its SuperSlab arena it has not used): blocks can
 * still be allocated, and malloc returns NULL with ENOMEM before 256 MiB more. */
#include "common.h"

#define MiB ((size_t)1 << 20)
static const size_t LIMIT = 256 * MiB;
enum { BLOCK = 1024 };

int main(void)
{
    free(malloc(BLOCK));
    printf("initialised; RLIMIT_AS = %zu MiB from now on\n", LIMIT / MiB);
    fflush(stdout);
    set_address_space_limit(LIMIT);

    /* The blocks are kept on a list threaded through them: no memory of our own. */
    void **head = NULL;
    size_t n = 0;
    for (;;) {
        errno = 0;
        void **b = malloc(BLOCK);
        if (!b) {
            CHECK(errno == ENOMEM, "malloc returned NULL with errno %d (%s), want ENOMEM", errno,
                  strerror(errno));
            break;
        }
        *b = head;
        head = b;
        n++;
        CHECK(n * BLOCK <= LIMIT, "%zu MiB allocated and still no NULL under RLIMIT_AS = %zu MiB",
              n * BLOCK / MiB, LIMIT / MiB);
    }
    CHECK(n * BLOCK >= LIMIT / 4, "only %zu MiB could be allocated under RLIMIT_AS = %zu MiB",
          n * BLOCK / MiB, LIMIT / MiB);
    while (head) {
        void **next = *head;
        free(head);
        head = next;
    }
    CHECK((head = malloc(BLOCK)) != NULL, "malloc after freeing everything failed");
    free(head);
    printf("%zu MiB allocated before NULL\n", n * BLOCK / MiB);
    return 0;
}
