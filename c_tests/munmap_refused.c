/* munmap_refused: the kernel may refuse munmap (unmapping part of a mapping splits it, which
 * needs one more mapping: refused with ENOMEM at vm.max_map_count).  This program defines
 * munmap itself (built with -rdynamic, so that hakmem's calls reach it) and makes it refuse
 * while told to.  hakmem must then give the memory back anyway (purged), keep the range
 * mapped and unused, unmap it once munmap works again (malloc_trim), and, when more ranges
 * are refused than it can remember, say so in one line, once, and go on without crashing.
 * Every block handed out meanwhile must be usable. */
#include <sys/mman.h>
#include <sys/syscall.h>

#include "common.h"

enum { MAX_RANGES = 4096 };
static volatile int refuse;
static struct {
    uintptr_t start;
    size_t len;
} refused[MAX_RANGES];
static int refused_count;

int munmap(void *addr, size_t len)
{
    if (refuse) {
        if (refused_count < MAX_RANGES) {
            refused[refused_count].start = (uintptr_t)addr;
            refused[refused_count].len = len;
        }
        refused_count++;
        errno = ENOMEM;
        return -1;
    }
    return (int)syscall(SYS_munmap, addr, len);
}

static size_t rss(void)
{
    size_t total = 0, resident = 0;
    FILE *f = fopen("/proc/self/statm", "r");
    CHECK(f != NULL && fscanf(f, "%zu %zu", &total, &resident) == 2, "/proc/self/statm");
    fclose(f);
    return resident * (size_t)sysconf(_SC_PAGESIZE);
}

/* Whether any page of the range is mapped (mincore fails with ENOMEM on unmapped pages). */
static int any_page_mapped(uintptr_t start, size_t len)
{
    size_t page = (size_t)sysconf(_SC_PAGESIZE);
    unsigned char v;
    for (uintptr_t p = start; p < start + len; p += page)
        if (mincore((void *)p, page, &v) == 0)
            return 1;
    return 0;
}

enum { N = 32, BIG = 4 << 20 };
static unsigned char *blocks[N];

static void fill(int n, size_t size, int touch_all)
{
    for (int i = 0; i < n; i++) {
        blocks[i] = malloc(size);
        CHECK(blocks[i] != NULL, "malloc(%zu) failed while munmap %s", size, refuse ? "refuses" : "works");
        if (touch_all)
            memset(blocks[i], i + 1, size);
        else
            blocks[i][0] = blocks[i][size - 1] = (unsigned char)(i + 1);
    }
    for (int i = 0; i < n; i++)
        CHECK(blocks[i][0] == (unsigned char)(i + 1) && blocks[i][size - 1] == (unsigned char)(i + 1),
              "block %d overwritten", i);
}

static void empty(int n)
{
    for (int i = 0; i < n; i++)
        free(blocks[i]);
}

int main(void)
{
    size_t before = rss();

    /* 1. Refused while blocks are made (the alignment trims) and given back. */
    refuse = 1;
    fill(N, BIG, 1);
    empty(N);
    malloc_trim(0);
    refuse = 0;
    CHECK(refused_count > 0, "hakmem never called munmap: the test tests nothing");
    CHECK(refused_count <= MAX_RANGES, "%d refusals, more than recorded", refused_count);
    size_t after = rss();
    CHECK(after < before + (16 << 20), "refused munmaps kept the memory: RSS %zu MiB, was %zu MiB", after >> 20,
          before >> 20);
    int first = refused_count;

    /* Blocks made now lie elsewhere (the refused ranges are still mapped) and work. */
    fill(N, BIG, 1);
    empty(N);

    /* 2. munmap works again: malloc_trim unmaps what was refused. */
    malloc_trim(0);
    for (int i = 0; i < first; i++)
        CHECK(!any_page_mapped(refused[i].start, refused[i].len),
              "a refused range (%#lx, %zu bytes) is still mapped after munmap works again and malloc_trim",
              (unsigned long)refused[i].start, refused[i].len);
    printf("munmap_refused: %d refusals, RSS %zu MiB before, %zu MiB after giving back, all unmapped later\n",
           first, before >> 20, after >> 20);

    /* 3. More refusals than hakmem remembers: one line on stderr, once; it goes on. */
    char path[] = "/tmp/munmap_refused.XXXXXX";
    int fd = mkstemp(path);
    CHECK(fd >= 0, "mkstemp");
    unlink(path);
    fflush(stderr);
    int saved = dup(2);
    CHECK(saved >= 0 && dup2(fd, 2) == 2, "dup2");
    refused_count = 0;
    refuse = 1;
    for (int round = 0; round < 20; round++) {
        fill(N, BIG, 0);
        empty(N);
        malloc_trim(0);
    }
    refuse = 0;
    fflush(stderr);
    CHECK(dup2(saved, 2) == 2, "dup2 back");
    char buf[4096];
    ssize_t n = pread(fd, buf, sizeof buf - 1, 0);
    CHECK(n >= 0, "pread");
    buf[n] = 0;
    int lines = 0;
    for (const char *p = buf; (p = strstr(p, "munmap keeps failing")) != NULL; p++)
        lines++;
    CHECK(refused_count > 256, "only %d refusals: the queue never filled", refused_count);
    CHECK(lines == 1, "%d lines about failing munmaps (want one), stderr: %s", lines, buf);
    CHECK(strncmp(buf, "hakmem: ", 8) == 0 && strchr(buf, '\n') == buf + n - 1,
          "the report is not one hakmem line: %s", buf);
    fill(N, BIG, 1);
    empty(N);
    malloc_trim(0);
    return 0;
}
