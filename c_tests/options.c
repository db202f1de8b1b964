/* options: HAKMEM_* variables are parsed strictly and reported at start-up.  The program runs
 * itself again with each environment below (stderr to a pipe, LD_PRELOAD passed on in the
 * preload mode) and checks what hakmem printed: one warning line naming a bad value or an
 * unknown name and what is used instead, nothing for good values, the options in effect with
 * HAKMEM_VERBOSE=1, and whether the switch it set took effect (the stats report at exit). */
#include <sys/wait.h>
#include <unistd.h>

#include "common.h"

struct option_case {
    const char *env[4];
    const char *must[3];     /* substrings stderr must contain */
    const char *must_not[2]; /* ... and must not */
    int warnings;            /* lines of "hakmem: warning:" */
};

static const struct option_case cases[] = {
    {{"HAKMEM_STAT=1"}, {"hakmem: warning: HAKMEM_STAT is not an option, ignored (HAKMEM_STATS?)\n"}, {"hakmem stats:"}, 1},
    {{"HAKMEM_FOO=1"}, {"hakmem: warning: HAKMEM_FOO is not an option, ignored\n"}, {NULL}, 1},
    {{"HAKMEM_STATS=false"}, {NULL}, {"hakmem stats:"}, 0},
    {{"HAKMEM_STATS=off"}, {NULL}, {"hakmem stats:"}, 0},
    {{"HAKMEM_STATS=on"}, {"hakmem stats:"}, {NULL}, 0},
    {{"HAKMEM_STATS=maybe"},
     {"hakmem: warning: HAKMEM_STATS=maybe: not 1/0, true/false, on/off or yes/no; using 0\n"},
     {"hakmem stats:"},
     1},
    {{"HAKMEM_CHECK=no", "HAKMEM_VERBOSE=yes"}, {" HAKMEM_CHECK=0 (default) "}, {NULL}, 0},
    {{"HAKMEM_ARENA_MB=abc"}, {"hakmem: warning: HAKMEM_ARENA_MB=abc: not a number in 0..=67108864; using 32768\n"}, {NULL}, 1},
    {{"HAKMEM_SS_CACHE=99999"}, {"hakmem: warning: HAKMEM_SS_CACHE=99999: not a number in 0..=4096; using 4\n"}, {NULL}, 1},
    {{"HAKMEM_FOREIGN=abrt"}, {"hakmem: warning: HAKMEM_FOREIGN=abrt: not one of auto abort next ignore; using auto\n"}, {NULL}, 1},
    {{"HAKMEM_VERBOSE=1", "HAKMEM_SS_CACHE=7", "HAKMEM_LARGE_CACHE_MB=0"},
     {"): options HAKMEM_STATS=0 (default) ", " HAKMEM_SS_CACHE=7 HAKMEM_LARGE_CACHE_MB=0 ", " HAKMEM_VERBOSE=1\n"},
     {NULL},
     0},
    {{"HAKMEM_PURGE_THREAD=off", "HAKMEM_PURGE_DELAY_MS=250", "HAKMEM_VERBOSE=on"},
     {" HAKMEM_PURGE_DELAY_MS=250 HAKMEM_PURGE_THREAD=0 "},
     {NULL},
     0},
    {{"HAKMEM_THP=madvise"}, {"hakmem: warning: HAKMEM_THP=madvise: not one of never auto always; using auto\n"}, {NULL}, 1},
    {{"HAKMEM_THP=ALWAYS", "HAKMEM_VERBOSE=1"}, {" HAKMEM_THP=always "}, {NULL}, 0},
    {{"HAKMEM_PURGE_DELAY_MS=-1"}, {"HAKMEM_PURGE_DELAY_MS=-1: not a number in 0..=3600000; using 100\n"}, {NULL}, 1},
    {{NULL}, {NULL}, {"hakmem"}, 0},
};

/* Runs this program as "child" with `env` (plus LD_PRELOAD, when set) and returns its stderr. */
static void run_child(const char *self, const char *const *env, char *out, size_t cap)
{
    const char *envp[8];
    int n = 0;
    static char preload[4096];
    const char *lp = getenv("LD_PRELOAD");
    if (lp != NULL) {
        snprintf(preload, sizeof preload, "LD_PRELOAD=%s", lp);
        envp[n++] = preload;
    }
    for (int i = 0; i < 4 && env[i] != NULL; i++)
        envp[n++] = env[i];
    envp[n] = NULL;
    int fds[2];
    CHECK(pipe(fds) == 0, "pipe");
    pid_t pid = fork();
    CHECK(pid >= 0, "fork");
    if (pid == 0) {
        dup2(fds[1], 2);
        close(fds[0]);
        close(fds[1]);
        execve(self, (char *const[]){(char *)"options", (char *)"child", NULL}, (char *const *)envp);
        _exit(127);
    }
    close(fds[1]);
    size_t len = 0;
    ssize_t r;
    while (len + 1 < cap && (r = read(fds[0], out + len, cap - 1 - len)) > 0)
        len += (size_t)r;
    out[len] = 0;
    close(fds[0]);
    int status;
    CHECK(waitpid(pid, &status, 0) == pid, "waitpid");
    CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0, "child with %s exited with status %d", env[0] ? env[0] : "no options",
          status);
}

static int count(const char *s, const char *what)
{
    int n = 0;
    for (const char *p = s; (p = strstr(p, what)) != NULL; p += strlen(what))
        n++;
    return n;
}

int main(int argc, char **argv)
{
    if (argc > 1 && strcmp(argv[1], "child") == 0) {
        void *p = malloc(100);
        CHECK(p != NULL, "malloc");
        free(p);
        return 0;
    }
    static char err[16384];
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const struct option_case *c = &cases[i];
        run_child("/proc/self/exe", c->env, err, sizeof err);
        const char *name = c->env[0] ? c->env[0] : "(no options)";
        for (int j = 0; j < 3 && c->must[j] != NULL; j++)
            CHECK(strstr(err, c->must[j]) != NULL, "%s: stderr lacks \"%s\"; it was:\n%s", name, c->must[j], err);
        for (int j = 0; j < 2 && c->must_not[j] != NULL; j++)
            CHECK(strstr(err, c->must_not[j]) == NULL, "%s: stderr has \"%s\"; it was:\n%s", name, c->must_not[j], err);
        CHECK(count(err, "hakmem: warning:") == c->warnings, "%s: %d warnings, expected %d; stderr:\n%s", name,
              count(err, "hakmem: warning:"), c->warnings, err);
    }
    printf("options: %zu environments ok\n", sizeof cases / sizeof cases[0]);
    return 0;
}
