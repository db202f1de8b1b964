/* single_threaded: a program that allocates and frees a modest heap (well under the 32 MiB past
 * which hakmem starts its purge thread) stays single-threaded, as tools that call
 * unshare(CLONE_NEWUSER) or setns must. */
#include "common.h"

static int threads(void)
{
    FILE *f = fopen("/proc/self/status", "r");
    CHECK(f != NULL, "open /proc/self/status");
    char line[256];
    int n = -1;
    while (fgets(line, sizeof line, f) != NULL)
        if (sscanf(line, "Threads: %d", &n) == 1)
            break;
    fclose(f);
    return n;
}

int main(void)
{
    static void *v[4000];
    for (int round = 0; round < 5; round++) {
        for (int i = 0; i < 4000; i++) {
            v[i] = malloc(i % 3 == 0 ? 3000 : i % 997 == 0 ? 300000 : 40);
            CHECK(v[i] != NULL, "malloc");
            memset(v[i], 1, 40);
        }
        for (int i = 0; i < 4000; i++)
            free(v[i]);
    }
    void *p = malloc(100); /* an allocation slow path after the releases */
    free(p);
    CHECK(threads() == 1, "%d threads after a small heap came and went", threads());
    printf("single_threaded: ok\n");
    return 0;
}
