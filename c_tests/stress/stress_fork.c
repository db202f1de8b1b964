/* stress_fork: worker threads keep allocating, checking, reallocating and
 * freeing blocks across all tiers, and publishing some of them in a shared
 * table, while the main thread forks repeatedly.  Each child:
 *   - checks the main thread's blocks and the published blocks of the worker
 *     threads (which do not exist in the child) and frees or reallocs them;
 *   - allocates, checks and frees blocks across all tiers, large ones (up to
 *     8 MiB) included, through malloc, calloc, realloc and memalign;
 *   - sometimes starts threads of its own, sometimes forks a grandchild that
 *     does the same in small;
 *   - and _exit(0)s.
 * The parent waits for each child with a timeout (a child still running
 * after 30 s is killed and reported as hung: a lock held across fork);
 * every child also has alarm(20), and the parent re-arms alarm(60) before
 * each fork.
 *
 *   stress_fork [SCALE]       forks = 150 * SCALE
 */
#include "stress.h"

#include <signal.h>
#include <stdatomic.h>
#include <sys/wait.h>

enum { WORKERS = 3, SLOTS = 128, PUB = 64, MAIN_BLOCKS = 64 };

typedef struct {
    void *p;
    size_t n;
    uint32_t seed;
} rec_t;

static atomic_int stop;
static uint64_t base_seed;
/* Published blocks: a slot holds a record (itself malloc'd) or NULL; it
 * changes only by atomic exchange, so at fork time every non-NULL slot is a
 * complete block that no thread is touching. */
static _Atomic(rec_t *) pub[PUB];
static rec_t mainb[MAIN_BLOCKS];

static size_t fork_size(rng_t *r)
{
    return rng_tier_size(r, 120, 15);
}

static void rec_check_free(rec_t *rc, const char *who)
{
    PAT_CHECK(rc->p, rc->n, rc->seed, "%s", who);
    free(rc->p);
    free(rc);
}

static void *worker(void *arg)
{
    rng_t r;
    rng_seed(&r, base_seed * 131 + (uintptr_t)arg);
    rec_t s[SLOTS];
    memset(s, 0, sizeof s);
    for (unsigned long op = 0; !atomic_load_explicit(&stop, memory_order_relaxed); op++) {
        /* Leave the two cores mostly to main and its children. */
        if (op % 32 == 31) {
            struct timespec ts = {0, 1000 * 1000};
            nanosleep(&ts, NULL);
        }
        int i = (int)rng_below(&r, SLOTS);
        if (s[i].p) {
            PAT_CHECK(s[i].p, s[i].n, s[i].seed, "worker block");
            switch (rng_below(&r, 6)) {
            case 0: {
                size_t m = fork_size(&r);
                void *q = realloc(s[i].p, m);
                CHECK(q, "realloc(%zu) returned NULL", m);
                size_t keep = s[i].n < m ? s[i].n : m;
                PAT_CHECK(q, keep, s[i].seed, "worker realloc %zu -> %zu", s[i].n, m);
                pat_fill_range(q, keep, m, s[i].seed);
                s[i].p = q;
                s[i].n = m;
                break;
            }
            case 1: {
                /* publish it; whatever was published there is ours to free */
                rec_t *rc = malloc(sizeof *rc);
                CHECK(rc, "malloc(rec) returned NULL");
                *rc = s[i];
                rec_t *old = atomic_exchange(&pub[rng_below(&r, PUB)], rc);
                if (old)
                    rec_check_free(old, "published block, freed by a worker");
                s[i].p = NULL;
                break;
            }
            default:
                free(s[i].p);
                s[i].p = NULL;
            }
        } else {
            size_t n = fork_size(&r);
            s[i].p = rng_below(&r, 6) == 0 ? memalign(256, n) : malloc(n);
            CHECK(s[i].p, "malloc(%zu) returned NULL", n);
            s[i].n = n;
            s[i].seed = (uint32_t)rng_next(&r);
            pat_fill(s[i].p, n, s[i].seed);
        }
    }
    for (int i = 0; i < SLOTS; i++) {
        if (s[i].p) {
            PAT_CHECK(s[i].p, s[i].n, s[i].seed, "worker block at the end");
            free(s[i].p);
        }
    }
    return NULL;
}

/* Allocate/check/free across the tiers; rounds of 64 blocks. */
static void churn(rng_t *r, int rounds, const char *who)
{
    enum { N = 64 };
    rec_t v[N];
    for (int round = 0; round < rounds; round++) {
        for (int i = 0; i < N; i++) {
            size_t n = fork_size(r);
            if (i == 0 && rng_below(r, 2) == 0)
                n = rng_log_size(r, 1u << 20, 8u << 20); /* a big block */
            uint32_t seed = (uint32_t)rng_next(r);
            void *p;
            switch (i % 4) {
            case 0:
                p = calloc(1, n);
                CHECK(p, "%s: calloc(%zu) returned NULL", who, n);
                CHECK(find_nonzero(p, n) == (size_t)-1, "%s: calloc(%zu) not zeroed", who, n);
                break;
            case 1:
                p = memalign(4096, n);
                CHECK(p, "%s: memalign(4096, %zu) returned NULL", who, n);
                CHECK(is_aligned(p, 4096), "%s: memalign(4096) = %p misaligned", who, p);
                break;
            default:
                p = malloc(n);
                CHECK(p, "%s: malloc(%zu) returned NULL", who, n);
            }
            pat_fill(p, n, seed);
            v[i] = (rec_t){p, n, seed};
        }
        for (int i = 0; i < N; i++) {
            PAT_CHECK(v[i].p, v[i].n, v[i].seed, "%s: churn block", who);
            if (i % 5 == 2) {
                size_t m = fork_size(r);
                void *q = realloc(v[i].p, m);
                CHECK(q, "%s: realloc(%zu) returned NULL", who, m);
                PAT_CHECK(q, v[i].n < m ? v[i].n : m, v[i].seed, "%s: realloc'd block", who);
                v[i].p = q;
            }
            free(v[i].p);
        }
    }
}

static void *child_thread(void *arg)
{
    rng_t r;
    rng_seed(&r, (uintptr_t)arg);
    churn(&r, 3, "thread in child");
    return NULL;
}

static void child(int k, int depth)
{
    rng_t r;
    rng_seed(&r, base_seed * 7 + (uint64_t)k * 1000 + (uint64_t)depth);
    const char *who = depth == 1 ? "child" : "grandchild";
    if (depth == 1) {
        /* The inherited blocks: main's own and the workers' published ones. */
        for (int i = 0; i < MAIN_BLOCKS; i++)
            PAT_CHECK(mainb[i].p, mainb[i].n, mainb[i].seed, "child: main's block %d", i);
        for (int i = 0; i < PUB; i++) {
            rec_t *rc = atomic_load(&pub[i]);
            if (rc)
                PAT_CHECK(rc->p, rc->n, rc->seed, "child: published block %d", i);
        }
        for (int i = k % 2; i < MAIN_BLOCKS; i += 2) {
            if (i % 6 == 1) {
                size_t m = mainb[i].n + 70000;
                void *q = realloc(mainb[i].p, m);
                CHECK(q, "child: realloc(%zu) returned NULL", m);
                PAT_CHECK(q, mainb[i].n, mainb[i].seed, "child: realloc'd main block");
                free(q);
            } else {
                free(mainb[i].p);
            }
        }
        for (int i = 0; i < PUB; i++) {
            rec_t *rc = atomic_load(&pub[i]);
            if (rc && rng_below(&r, 2))
                rec_check_free(rc, "child: published block");
        }
    }
    churn(&r, 1, who);
    if (depth == 1 && k % 8 == 3) {
        pthread_t t[2];
        for (uintptr_t i = 0; i < 2; i++)
            CHECK(pthread_create(&t[i], NULL, child_thread, (void *)(i + (uintptr_t)k * 3)) == 0,
                  "child: pthread_create");
        churn(&r, 1, who);
        for (int i = 0; i < 2; i++)
            pthread_join(t[i], NULL);
    }
    if (depth == 1 && k % 8 == 5) {
        pid_t g = fork();
        CHECK(g >= 0, "child: fork: %s", strerror(errno));
        if (g == 0) {
            alarm(20);
            child(k, 2);
            _exit(0);
        }
        int st = 0;
        CHECK(waitpid(g, &st, 0) == g, "child: waitpid: %s", strerror(errno));
        CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0, "grandchild of fork %d failed (status 0x%x%s)",
              k, st, WIFSIGNALED(st) && WTERMSIG(st) == SIGALRM ? ", SIGALRM: hung" : "");
    }
}

int main(int argc, char **argv)
{
    long scale = stress_scale(argc, argv);
    base_seed = test_seed(4242);
    int forks = 150 * (int)scale;
    setvbuf(stdout, NULL, _IONBF, 0);
    rng_t r;
    rng_seed(&r, base_seed);
    for (int i = 0; i < MAIN_BLOCKS; i++) {
        size_t n = fork_size(&r);
        mainb[i] = (rec_t){malloc(n), n, (uint32_t)rng_next(&r)};
        CHECK(mainb[i].p, "malloc(%zu) returned NULL", n);
        pat_fill(mainb[i].p, n, mainb[i].seed);
    }
    pthread_t w[WORKERS];
    for (uintptr_t i = 0; i < WORKERS; i++)
        CHECK(pthread_create(&w[i], NULL, worker, (void *)(i + 1)) == 0, "pthread_create");

    double t0 = now_sec();
    for (int k = 0; k < forks; k++) {
        alarm(60);
        /* main allocates and frees between forks too */
        size_t tn = fork_size(&r);
        void *tmp = malloc(tn);
        CHECK(tmp, "malloc(%zu) returned NULL", tn);
        pat_fill(tmp, tn, (uint32_t)k);
        pid_t pid = fork();
        CHECK(pid >= 0, "fork: %s", strerror(errno));
        if (pid == 0) {
            alarm(20); /* a deadlocked child dies of SIGALRM */
            PAT_CHECK(tmp, tn, (uint32_t)k, "child: main's temporary block");
            free(tmp);
            child(k, 1);
            _exit(0);
        }
        PAT_CHECK(tmp, tn, (uint32_t)k, "parent: temporary block after fork");
        free(tmp);
        /* replace one of main's blocks now and then */
        if (k % 4 == 0) {
            int i = (int)rng_below(&r, MAIN_BLOCKS);
            PAT_CHECK(mainb[i].p, mainb[i].n, mainb[i].seed, "parent: main's block");
            free(mainb[i].p);
            size_t n = fork_size(&r);
            mainb[i] = (rec_t){malloc(n), n, (uint32_t)rng_next(&r)};
            CHECK(mainb[i].p, "malloc(%zu) returned NULL", n);
            pat_fill(mainb[i].p, n, mainb[i].seed);
        }

        double deadline = now_sec() + 30;
        int status = 0;
        for (;;) {
            pid_t got = waitpid(pid, &status, WNOHANG);
            CHECK(got >= 0, "waitpid: %s", strerror(errno));
            if (got == pid)
                break;
            if (now_sec() > deadline) {
                kill(pid, SIGKILL);
                waitpid(pid, &status, 0);
                FAIL("child of fork %d still running after 30 s: hung after fork", k);
            }
            struct timespec ts = {0, 500 * 1000};
            nanosleep(&ts, NULL);
        }
        if (WIFSIGNALED(status))
            FAIL("child of fork %d killed by signal %d (%s)%s", k, WTERMSIG(status),
                 strsignal(WTERMSIG(status)),
                 WTERMSIG(status) == SIGALRM ? ": deadlocked in the child after fork" : "");
        CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0, "child of fork %d exited with status %d",
              k, WEXITSTATUS(status));
    }
    alarm(60);
    atomic_store(&stop, 1);
    for (int i = 0; i < WORKERS; i++)
        pthread_join(w[i], NULL);
    for (int i = 0; i < PUB; i++) {
        rec_t *rc = atomic_exchange(&pub[i], NULL);
        if (rc)
            rec_check_free(rc, "parent: published block at the end");
    }
    for (int i = 0; i < MAIN_BLOCKS; i++) {
        PAT_CHECK(mainb[i].p, mainb[i].n, mainb[i].seed, "parent: main's block at the end");
        free(mainb[i].p);
    }
    printf("stress_fork: ok forks=%d seconds=%.2f\n", forks, now_sec() - t0);
    return 0;
}
