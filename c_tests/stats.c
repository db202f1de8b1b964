/* stats: with HAKMEM_STATS=1 hakmem prints, at exit, a line starting with
 * "hakmem stats:" on stderr.  scripts/test_c.sh runs this program with
 * HAKMEM_STATS=1 and fails it unless stderr contains "hakmem stats:" — proof
 * that hakmem, not glibc, served the calls in both the linked and the
 * LD_PRELOAD build.  The program itself does a mixed workload in main and in
 * a thread and returns normally from main, closing stderr in an atexit
 * handler first (as coreutils programs do): the report must still arrive. */
#include "common.h"

static void close_stderr(void)
{
    fclose(stderr);
}

static void *work(void *arg)
{
    uintptr_t seed = (uintptr_t)arg;
    void *v[300];
    for (int i = 0; i < 300; i++) {
        size_t n = (size_t)(i * 131 + seed) % 20000 + (i % 50 == 0 ? 500000 : 0);
        v[i] = (i % 3 == 0) ? calloc(1, n) : malloc(n);
        CHECK(v[i], "malloc(%zu)", n);
        memset(v[i], i, n);
    }
    for (int i = 0; i < 300; i += 2) {
        v[i] = realloc(v[i], 100);
        CHECK(v[i], "realloc");
    }
    for (int i = 0; i < 300; i++)
        free(v[i]);
    return NULL;
}

int main(void)
{
    const char *e = getenv("HAKMEM_STATS");
    CHECK(e && strcmp(e, "1") == 0, "HAKMEM_STATS=1 is not set (run this test through scripts/test_c.sh)");
    work((void *)1);
    pthread_t t;
    CHECK(pthread_create(&t, NULL, work, (void *)2) == 0, "pthread_create");
    pthread_join(t, NULL);
    void *keep = malloc(12345); /* still live at exit */
    CHECK(keep, "malloc");
    memset(keep, 1, 12345);
    printf("stats: workload done; the script checks stderr for \"hakmem stats:\"\n");
    CHECK(atexit(close_stderr) == 0, "atexit");
    return 0;
}
