/* idle_return: memory freed and then left alone goes back to the kernel without any further
 * allocator call.  The program builds a 1 GiB peak (512 MiB of 4 KiB blocks, 512 MiB of 2 MiB
 * blocks), frees it all, then sleeps 2.5 s making no call at all (the purge delay is 100 ms),
 * and reads its resident set: it must be back within 2.5 MiB of what it was before the
 * peak (1 MiB of it this program's arrays).  glibc passes too (it trims the top of its heap and
 * unmaps large blocks at free).  Under hakmem the work is done by its purge thread, which must
 * exist (named hakmem-purge); then a forked child, which starts without it, does the same with
 * a 256 MiB peak. */
#include <dirent.h>
#include <fcntl.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common.h"

static size_t rss(void)
{
    char buf[128];
    int fd = open("/proc/self/statm", O_RDONLY);
    ssize_t n = fd >= 0 ? read(fd, buf, sizeof buf - 1) : -1;
    close(fd);
    CHECK(n > 0, "read /proc/self/statm");
    buf[n] = 0;
    size_t pages = 0;
    const char *p = strchr(buf, ' ');
    CHECK(p != NULL && sscanf(p, "%zu", &pages) == 1, "parse /proc/self/statm");
    return pages * (size_t)sysconf(_SC_PAGESIZE);
}

enum { SMALL = 131072, SMALL_SIZE = 4096, BIG = 256, BIG_SIZE = 2 << 20 };
static void *small[SMALL];
static void *big[BIG];

static int purge_threads(void)
{
    int n = 0;
    DIR *d = opendir("/proc/self/task");
    CHECK(d != NULL, "opendir /proc/self/task");
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        char path[300], name[32] = "";
        snprintf(path, sizeof path, "/proc/self/task/%s/comm", e->d_name);
        FILE *f = fopen(path, "r");
        if (f != NULL) {
            if (fgets(name, sizeof name, f) != NULL && strcmp(name, "hakmem-purge\n") == 0)
                n++;
            fclose(f);
        }
    }
    closedir(d);
    return n;
}

static void idle(void)
{
    struct timespec t = {2, 500000000};
    while (nanosleep(&t, &t) != 0)
        ;
}

/* The child's peak: 256 MiB of 4 KiB blocks, freed; 0 when it went back while idle. */
static int child_peak(void)
{
    size_t before = rss();
    int n = SMALL / 2;
    for (int i = 0; i < n; i++) {
        small[i] = malloc(SMALL_SIZE);
        CHECK(small[i] != NULL, "malloc");
        memset(small[i], 2, SMALL_SIZE);
    }
    for (int i = 0; i < n; i++)
        free(small[i]);
    idle();
    size_t after = rss();
    printf("idle_return: forked child: RSS before %zu MiB, after 2.5 s idle %zu MiB\n", before >> 20, after >> 20);
    CHECK(after < before + (8 << 20), "child: after 2.5 s idle the RSS is %zu MiB, from %zu MiB", after >> 20,
          before >> 20);
    fflush(stdout);
    return 0;
}

int main(void)
{
    size_t before = rss();
    for (int i = 0; i < SMALL; i++) {
        small[i] = malloc(SMALL_SIZE);
        CHECK(small[i] != NULL, "malloc");
        memset(small[i], 1, SMALL_SIZE);
    }
    for (int i = 0; i < BIG; i++) {
        big[i] = malloc(BIG_SIZE);
        CHECK(big[i] != NULL, "malloc");
        memset(big[i], 1, BIG_SIZE);
    }
    size_t peak = rss();
    for (int i = 0; i < SMALL; i++)
        free(small[i]);
    for (int i = 0; i < BIG; i++)
        free(big[i]);
    size_t freed = rss();
    /* No allocator call from here to the measurement. */
    idle();
    size_t idle_rss = rss();
    printf("idle_return: RSS before %zu KiB, peak %zu MiB, at free %zu MiB, after 2.5 s idle %zu KiB\n", before >> 10,
           peak >> 20, freed >> 20, idle_rss >> 10);
    CHECK(peak > before + (900 << 20), "the peak did not reach 1 GiB resident");
    /* The growth from `before`: 1 MiB of this program's own arrays, and what the allocator
     * holds (glibc: 0.6 MiB, its heap's top and arenas; hakmem the same, each class's kept slab,
     * the cached empty SuperSlabs' headers and the purge thread's stack; it was 3.4 MiB while
     * the headers of the retired SuperSlabs stayed resident). */
    CHECK(idle_rss < before + (5 << 19), "after 2.5 s idle the RSS is %zu KiB, from %zu KiB before the peak",
          idle_rss >> 10, before >> 10);
    /* Of the 131,072 pages that held the blocks, a few may stay: under hakmem the first page
     * of the class's last slab, which stays as the class's only one (its other 31 pages go
     * back after the delay too; they stayed before 2026-12-07); glibc keeps the top 128 KiB
     * of its heap (its trim threshold). */
    int resident = resident_block_pages(small, SMALL);
    int allowed = foreign_allocator() ? 40 : 4;
    printf("idle_return: pages of the freed 4 KiB blocks still resident: %d\n", resident);
    CHECK(resident <= allowed, "%d pages of the freed 4 KiB blocks are still resident after 2.5 s idle", resident);
    if (!foreign_allocator())
        CHECK(purge_threads() == 1, "%d threads named hakmem-purge, not one", purge_threads());
    fflush(stdout);
    pid_t pid = fork();
    CHECK(pid >= 0, "fork");
    if (pid == 0)
        _exit(child_peak());
    int status;
    CHECK(waitpid(pid, &status, 0) == pid && WIFEXITED(status) && WEXITSTATUS(status) == 0, "the child failed");
    return 0;
}
