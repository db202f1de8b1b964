/* thp: HAKMEM_THP asks the kernel for transparent huge pages where it says, and freed memory
 * still goes back. The program runs itself again under each value and checks the kernel's
 * record of the advice (the "hg" flag of the mapping in /proc/self/smaps, set by
 * madvise(MADV_HUGEPAGE) whether or not a huge page was free at the time): `always` on every
 * Large block and SuperSlab, `auto` on a Large block of 64 MiB only (not of 8, not on
 * SuperSlabs, even of a heap of 80 MiB), `never` on none. Skipped where the kernel has no
 * transparent huge pages. */
#include <sys/wait.h>
#include <unistd.h>

#include "common.h"

static uintptr_t g_mapping_end; /* the end of the mapping advised_huge last looked at */

/* Whether the mapping holding `p` carries the huge-page advice. */
static int advised_huge(const void *p)
{
    FILE *f = fopen("/proc/self/smaps", "r");
    CHECK(f != NULL, "open /proc/self/smaps");
    char line[512];
    int inside = 0, found = -1;
    while (found < 0 && fgets(line, sizeof line, f) != NULL) {
        unsigned long lo, hi;
        if (sscanf(line, "%lx-%lx ", &lo, &hi) == 2 && strchr(line, '-') < strchr(line, ' ')) {
            inside = (uintptr_t)p >= lo && (uintptr_t)p < hi;
            if (inside)
                g_mapping_end = hi;
        } else if (inside && strncmp(line, "VmFlags:", 8) == 0)
            found = strstr(line, " hg") != NULL;
    }
    fclose(f);
    CHECK(found >= 0, "no mapping of %p in /proc/self/smaps", p);
    return found;
}

static void child(const char *mode)
{
    const size_t big = 8u << 20;
    char *large = malloc(big);
    char *small = malloc(64);
    CHECK(large != NULL && small != NULL, "malloc");
    memset(large, 1, big);
    memset(small, 1, 64);
    int always = strcmp(mode, "always") == 0, never = strcmp(mode, "never") == 0;
    CHECK(advised_huge(large) == always, "HAKMEM_THP=%s: the first 8 MiB block %s the huge-page advice", mode,
          always ? "lacks" : "has");
    CHECK(advised_huge(small) == always, "HAKMEM_THP=%s: a 64-byte block's SuperSlab %s the huge-page advice", mode,
          always ? "lacks" : "has");

    char *table = malloc(64u << 20);
    CHECK(table != NULL, "malloc");
    CHECK(advised_huge(table) == !never, "HAKMEM_THP=%s: a 64 MiB block %s the huge-page advice", mode,
          never ? "has" : "lacks");
    /* The advice covers the whole mapping: one kernel mapping, which mremap can grow. */
    CHECK(g_mapping_end >= (uintptr_t)table + (64u << 20), "HAKMEM_THP=%s: a 64 MiB block's mapping is split", mode);
    char *grown = realloc(table, 256u << 20);
    CHECK(grown != NULL, "realloc");
    free(grown);

    /* 80 MiB of 1 KiB blocks: the SuperSlabs made last still follow the first one's rule. */
    enum { SMALL = 80 << 10 };
    static char *blocks_1k[SMALL];
    for (int i = 0; i < SMALL; i++) {
        blocks_1k[i] = malloc(1024);
        CHECK(blocks_1k[i] != NULL, "malloc");
    }
    CHECK(advised_huge(blocks_1k[SMALL - 1]) == always, "HAKMEM_THP=%s: a SuperSlab of a 80 MiB heap %s the huge-page advice",
          mode, always ? "lacks" : "has");
    for (int i = 0; i < SMALL; i++)
        free(blocks_1k[i]);

    /* Huge pages or not, freed memory goes back: 32 MiB of blocks freed, then malloc_trim. */
    enum { N = 64 };
    static char *blocks[N];
    long before = current_rss_kib();
    for (int i = 0; i < N; i++) {
        blocks[i] = malloc(512u << 10);
        CHECK(blocks[i] != NULL, "malloc");
        memset(blocks[i], 2, 512u << 10);
    }
    long peak = current_rss_kib();
    for (int i = 0; i < N; i++)
        free(blocks[i]);
    free(large);
    free(small);
    malloc_trim(0);
    long after = current_rss_kib();
    CHECK(after < before + (peak - before) / 4, "HAKMEM_THP=%s: RSS %ld KiB before, %ld at the peak, %ld after free and trim",
          mode, before, peak, after);
}

int main(int argc, char **argv)
{
    if (argc > 2 && strcmp(argv[1], "child") == 0) {
        child(argv[2]);
        return 0;
    }
    if (access("/sys/kernel/mm/transparent_hugepage/enabled", R_OK) != 0) {
        printf("thp: skipped, the kernel has no transparent huge pages\n");
        return 0;
    }
    const char *modes[] = {"never", "auto", "always"};
    for (int i = 0; i < 3; i++) {
        pid_t pid = fork();
        CHECK(pid >= 0, "fork");
        if (pid == 0) {
            setenv("HAKMEM_THP", modes[i], 1);
            execv("/proc/self/exe", (char *const[]){argv[0], (char *)"child", (char *)modes[i], NULL});
            _exit(127);
        }
        int status;
        CHECK(waitpid(pid, &status, 0) == pid, "waitpid");
        CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0, "HAKMEM_THP=%s: child exited with status %d", modes[i],
              status);
    }
    printf("thp: never, auto and always advise what they name, and memory goes back\n");
    return 0;
}
