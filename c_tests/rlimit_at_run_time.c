/* rlimit_at_run_time: an address-space limit set while the program runs
 * (RLIMIT_AS = 256 MiB) bounds what it allocates from then on, although the
 * allocator may hold address space it reserved before (hakmem gives back the
 * part of its SuperSlab arena it has not used). Two children, one per way of
 * setting the limit:
 *   setrlimit   right after the call the program can still map memory of its
 *               own and allocate a large block (a mapping of its own in
 *               hakmem, which ends its arena inside setrlimit);
 *   raw prlimit (the syscall, as another process's prlimit would be, unseen
 *               by the allocator until it next needs address space);
 * then in both, a refused large block is not counted (mallinfo2), small blocks
 * can be allocated, and malloc returns NULL with ENOMEM before 256 MiB more. */
#include "common.h"

#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/wait.h>

#define MiB ((size_t)1 << 20)
static const size_t LIMIT = 256 * MiB;
enum { BLOCK = 1024 };

static void run(int raw)
{
    if (raw) {
        struct rlimit rl;
        CHECK(getrlimit(RLIMIT_AS, &rl) == 0, "getrlimit");
        rl.rlim_cur = LIMIT;
        CHECK(syscall(SYS_prlimit64, 0, RLIMIT_AS, &rl, NULL) == 0, "prlimit64: %s", strerror(errno));
    } else {
        set_address_space_limit(LIMIT);
        void *own = mmap(NULL, MiB, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        CHECK(own != MAP_FAILED, "mmap of 1 MiB under RLIMIT_AS = %zu MiB: %s", LIMIT / MiB,
              strerror(errno));
        munmap(own, MiB);
        void *large = malloc(4 * MiB);
        CHECK(large != NULL, "malloc(4 MiB) under RLIMIT_AS = %zu MiB: %s", LIMIT / MiB,
              strerror(errno));
        memset(large, 1, 4 * MiB);
        free(large);
    }

    /* A large block the limit refuses is not counted as one (mallinfo2's hblks: live mmapped
     * blocks). */
    size_t hblks = mallinfo2().hblks;
    errno = 0;
    CHECK(malloc(2 * LIMIT) == NULL && errno == ENOMEM, "malloc(%zu MiB) under RLIMIT_AS = %zu MiB",
          2 * LIMIT / MiB, LIMIT / MiB);
    CHECK(mallinfo2().hblks == hblks, "a refused large malloc changed hblks from %zu to %zu", hblks,
          mallinfo2().hblks);

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
    printf("%s: %zu MiB allocated before NULL\n", raw ? "raw prlimit" : "setrlimit", n * BLOCK / MiB);
    fflush(stdout);
}

int main(void)
{
    free(malloc(BLOCK));
    printf("initialised; RLIMIT_AS = %zu MiB in each child\n", LIMIT / MiB);
    fflush(stdout);
    for (int raw = 0; raw < 2; raw++) {
        pid_t pid = fork();
        CHECK(pid >= 0, "fork: %s", strerror(errno));
        if (pid == 0) {
            run(raw);
            _exit(0);
        }
        int status;
        CHECK(waitpid(pid, &status, 0) == pid, "waitpid: %s", strerror(errno));
        CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0, "the %s child failed (status %d)",
              raw ? "raw prlimit" : "setrlimit", status);
    }
    return 0;
}
