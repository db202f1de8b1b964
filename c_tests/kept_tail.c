/* kept_tail: a size class's last slab, kept empty for reuse, gives the pages it carved past its
 * first back after the purge delay, and its owner carves into them again while the purge
 * thread races it. The program runs itself again with HAKMEM_PURGE_DELAY_MS=1 (the purge
 * thread, which a 48 MiB heap starts, then works all the time); in 2,000 rounds it allocates
 * 40 blocks of the 4 KiB class (two slabs: the first then empties last and is kept), fills
 * each with its own byte, checks them all and frees them, sleeping 2 ms in every fourth round
 * so that the purge of the kept slab's pages lands between rounds too. At the end, after
 * 100 ms idle, at most a page of the blocks' pages is resident; then 20 blocks, which that
 * slab holds alone, are allocated and freed three times, and each time their pages but one
 * go back. */
#include <sys/wait.h>
#include <unistd.h>

#include "common.h"

enum { WARM = 12288, BLOCKS = 40, ONE_SLAB = 20, SIZE = 4000, ROUNDS = 2000 };
static void *warm[WARM];
static unsigned char *blocks[BLOCKS];

static void child(void)
{
    for (int i = 0; i < WARM; i++) {
        warm[i] = malloc(4096);
        CHECK(warm[i] != NULL, "malloc");
        memset(warm[i], 1, 4096);
    }
    for (int i = 0; i < WARM; i++)
        free(warm[i]);
    for (int r = 0; r < ROUNDS; r++) {
        for (int i = 0; i < BLOCKS; i++) {
            blocks[i] = malloc(SIZE);
            CHECK(blocks[i] != NULL, "malloc");
            memset(blocks[i], (r * BLOCKS + i) & 0xff, SIZE);
        }
        for (int i = 0; i < BLOCKS; i++) {
            unsigned char want = (unsigned char)((r * BLOCKS + i) & 0xff);
            for (int j = 0; j < SIZE; j++)
                CHECK(blocks[i][j] == want, "round %d: block %d byte %d is %#x, not %#x", r, i, j, blocks[i][j], want);
        }
        for (int i = 0; i < BLOCKS; i++)
            free(blocks[i]);
        if (r % 4 == 0)
            usleep(2000);
    }
    usleep(100000);
    int resident = resident_block_pages((void *const *)blocks, BLOCKS);
    /* Then the same slab alone, emptied again and again: each time its tail goes back. */
    int again[3];
    for (int r = 0; r < 3; r++) {
        for (int i = 0; i < ONE_SLAB; i++) {
            blocks[i] = malloc(SIZE);
            CHECK(blocks[i] != NULL, "malloc");
            memset(blocks[i], 3, SIZE);
        }
        for (int i = 0; i < ONE_SLAB; i++)
            free(blocks[i]);
        usleep(50000);
        again[r] = resident_block_pages((void *const *)blocks, ONE_SLAB);
    }
    printf("kept_tail: %d rounds; pages of the freed blocks resident after 100 ms idle: %d; of %d blocks of one slab, "
           "emptied three times: %d, %d, %d\n",
           ROUNDS, resident, ONE_SLAB, again[0], again[1], again[2]);
    CHECK(foreign_allocator() || resident <= 1, "%d pages of the freed blocks are still resident", resident);
    for (int r = 0; r < 3; r++)
        CHECK(foreign_allocator() || again[r] <= 1, "emptied %d times, the slab keeps %d pages resident", r + 1,
              again[r]);
}

int main(int argc, char **argv)
{
    if (argc > 1 && strcmp(argv[1], "child") == 0) {
        child();
        return 0;
    }
    pid_t pid = fork();
    CHECK(pid >= 0, "fork");
    if (pid == 0) {
        setenv("HAKMEM_PURGE_DELAY_MS", "1", 1);
        execv("/proc/self/exe", (char *const[]){argv[0], (char *)"child", NULL});
        _exit(127);
    }
    int status;
    CHECK(waitpid(pid, &status, 0) == pid, "waitpid");
    CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0, "the child exited with status %d", status);
    return 0;
}
