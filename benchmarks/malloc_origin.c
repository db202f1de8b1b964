/* malloc_origin.c — which shared object defines the malloc and free this program calls.
 *
 *   LD_PRELOAD=/path/libx.so malloc_origin
 *   prints: malloc_origin: malloc=<object> free=<object>
 *
 * The benchmark and test scripts run it under each LD_PRELOAD to prove the preload took
 * effect: a benchmark that silently measured glibc would be worthless. Exit 1 when the
 * origin cannot be determined.
 */
#include "bench_common.h"

#include <dlfcn.h>

static const char *origin(void *sym) {
    Dl_info info;
    if (dladdr(sym, &info) == 0 || info.dli_fname == NULL) return NULL;
    return info.dli_fname;
}

int main(void) {
    /* Through volatile pointers so that the compiler cannot fold them into builtins. */
    void *(*volatile m)(size_t) = malloc;
    void (*volatile f)(void *) = free;
    const char *mo = origin((void *)m), *fo = origin((void *)f);
    void *p = m(32);
    if (p == NULL) bench_die(EXIT_NOMEM, "malloc_origin: malloc(32) returned NULL");
    f(p);
    if (mo == NULL || fo == NULL) {
        fprintf(stderr, "malloc_origin: dladdr could not name malloc's object\n");
        return 1;
    }
    printf("malloc_origin: malloc=%s free=%s\n", mo, fo);
    return 0;
}
