/* fork: worker threads allocate and free continuously while main forks
 * repeatedly.  Each child (guarded by its own alarm) checks blocks inherited
 * from the parent, frees some of them, mallocs/callocs/reallocs/memaligns
 * and frees, sometimes starts a thread of its own, and _exit(0)s.  The
 * parent checks every child's status.  A deadlock (an allocator lock held
 * across fork) shows up as a SIGALRM in the child or the parent. */
#include <signal.h>
#include <stdatomic.h>
#include <sys/wait.h>

#include "common.h"

enum { WORKERS = 2, FORKS = 80, INHERITED = 64 };

static atomic_int stop;
static struct {
    unsigned char *p;
    size_t n;
    uint32_t seed;
} inherited[INHERITED];

static size_t size_for(uint64_t x)
{
    switch (x % 8) {
    case 0:
        return 1 + x % 100;
    case 1:
    case 2:
        return 100 + x % 1000;
    case 3:
        return 2000 + x % 14000;
    case 4:
        return 16384 + x % 50000;
    case 5:
        return 100000 + x % 200000;
    case 6:
        return (x % 20 == 6) ? (1u << 20) + x % 100000 : 48;
    default:
        return 24;
    }
}

static void *worker(void *arg)
{
    rng_t r;
    rng_seed(&r, (uintptr_t)arg);
    enum { SLOTS = 128 };
    struct {
        unsigned char *p;
        size_t n;
        uint32_t seed;
    } s[SLOTS] = {{0}};
    while (!atomic_load_explicit(&stop, memory_order_relaxed)) {
        int i = (int)rng_below(&r, SLOTS);
        if (s[i].p) {
            PAT_CHECK(s[i].p, s[i].n, s[i].seed, "worker block");
            if (rng_below(&r, 4) == 0) {
                size_t m = size_for(rng_next(&r));
                unsigned char *q = realloc(s[i].p, m);
                CHECK(q, "realloc");
                PAT_CHECK(q, s[i].n < m ? s[i].n : m, s[i].seed, "worker realloc");
                s[i].p = q;
                s[i].n = m;
                pat_fill(q, m, s[i].seed);
                continue;
            }
            free(s[i].p);
            s[i].p = NULL;
        } else {
            size_t n = size_for(rng_next(&r));
            s[i].p = rng_below(&r, 5) == 0 ? memalign(256, n) : malloc(n);
            CHECK(s[i].p, "malloc(%zu)", n);
            s[i].n = n;
            s[i].seed = (uint32_t)rng_next(&r);
            pat_fill(s[i].p, n, s[i].seed);
        }
    }
    for (int i = 0; i < SLOTS; i++)
        free(s[i].p);
    return NULL;
}

static void *child_thread(void *arg)
{
    (void)arg;
    for (int i = 0; i < 500; i++) {
        size_t n = size_for((uint64_t)i * 7);
        unsigned char *p = malloc(n);
        if (!p)
            _exit(20);
        pat_fill(p, n, (uint32_t)i);
        if (pat_find_bad(p, n, (uint32_t)i) != (size_t)-1)
            _exit(21);
        free(p);
    }
    return NULL;
}

/* Runs in the child. Returns an exit code: 0 = ok. */
static int child_work(int k)
{
    for (int i = 0; i < INHERITED; i++)
        if (pat_find_bad(inherited[i].p, inherited[i].n, inherited[i].seed) != (size_t)-1)
            return 2;
    /* free half of the inherited blocks, realloc a few */
    for (int i = k % 2; i < INHERITED; i += 2) {
        if (i % 6 == 1) {
            unsigned char *q = realloc(inherited[i].p, inherited[i].n + 5000);
            if (!q || pat_find_bad(q, inherited[i].n, inherited[i].seed) != (size_t)-1)
                return 3;
            free(q);
        } else {
            free(inherited[i].p);
        }
    }
    void *v[200];
    for (int i = 0; i < 200; i++) {
        size_t n = size_for((uint64_t)(i + k));
        switch (i % 4) {
        case 0:
            v[i] = calloc(1, n);
            if (!v[i] || find_nonzero(v[i], n) != (size_t)-1)
                return 4;
            break;
        case 1:
            v[i] = memalign(4096, n);
            if (!v[i] || !is_aligned(v[i], 4096))
                return 5;
            break;
        default:
            v[i] = malloc(n);
            if (!v[i])
                return 6;
        }
        memset(v[i], i, n);
    }
    for (int i = 0; i < 200; i++)
        free(v[i]);
    if (k % 10 == 0) {
        pthread_t t;
        if (pthread_create(&t, NULL, child_thread, NULL) != 0)
            return 7;
        child_thread(NULL);
        pthread_join(t, NULL);
    }
    return 0;
}

int main(void)
{
    alarm(30);
    setvbuf(stdout, NULL, _IONBF, 0);
    for (int i = 0; i < INHERITED; i++) {
        size_t n = size_for((uint64_t)i * 3 + 1);
        inherited[i].p = malloc(n);
        CHECK(inherited[i].p, "malloc");
        inherited[i].n = n;
        inherited[i].seed = (uint32_t)i * 17;
        pat_fill(inherited[i].p, n, inherited[i].seed);
    }
    pthread_t w[WORKERS];
    for (uintptr_t i = 0; i < WORKERS; i++)
        CHECK(pthread_create(&w[i], NULL, worker, (void *)(i + 1)) == 0, "pthread_create");

    for (int k = 0; k < FORKS; k++) {
        /* main allocates between forks too */
        void *tmp = malloc(size_for((uint64_t)k));
        CHECK(tmp, "malloc");
        pid_t pid = fork();
        CHECK(pid >= 0, "fork: %s", strerror(errno));
        if (pid == 0) {
            alarm(10); /* a deadlocked child dies of SIGALRM */
            free(tmp);
            _exit(child_work(k));
        }
        free(tmp);
        int status = 0;
        CHECK(waitpid(pid, &status, 0) == pid, "waitpid: %s", strerror(errno));
        if (WIFSIGNALED(status))
            FAIL("child %d killed by signal %d (%s)%s", k, WTERMSIG(status), strsignal(WTERMSIG(status)),
                 WTERMSIG(status) == SIGALRM ? ": deadlocked in the child after fork" : "");
        CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0, "child %d exited with status %d", k,
              WEXITSTATUS(status));
    }
    atomic_store(&stop, 1);
    for (int i = 0; i < WORKERS; i++)
        pthread_join(w[i], NULL);
    for (int i = 0; i < INHERITED; i++) {
        PAT_CHECK(inherited[i].p, inherited[i].n, inherited[i].seed, "parent block after forks");
        free(inherited[i].p);
    }
    printf("fork: ok (%d children)\n", FORKS);
    return 0;
}
