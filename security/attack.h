/* Shared helpers for the attack programs (see scripts/test_security.sh).
 *
 * Each program performs one attack on the allocator, as a buggy program or an
 * attacker would. Exit status: 3 when the attack worked (the allocator handed
 * out memory twice, or an address the attacker chose), 0 when it went
 * unnoticed without visible harm. A hardened allocator ends it with one line
 * and an abort (SIGABRT) at the bad call or the next one.
 *
 * The header of each program names the expected messages:
 *   expect: TEXT          stderr must contain TEXT in the default mode
 *   expect-check: TEXT    ... in check mode (HAKMEM_CHECK=1; default: expect)
 *   modes: check          only check mode must detect it (default mode must
 *                         then detect it or exit 0: never crash, never let
 *                         the attack work)
 */
#ifndef HAKMEM_ATTACK_H
#define HAKMEM_ATTACK_H

#define _GNU_SOURCE
#include <malloc.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Hides a value from the optimiser, so that it cannot pair or drop calls. */
static inline void *opaque(void *p)
{
    __asm__ volatile("" : "+r"(p));
    return p;
}

static inline size_t opaque_size(size_t n)
{
    __asm__ volatile("" : "+r"(n));
    return n;
}

#define ATTACK_WORKED(...)                                                     \
    do {                                                                       \
        fprintf(stderr, "ATTACK WORKED: " __VA_ARGS__);                        \
        fputc('\n', stderr);                                                   \
        exit(3);                                                               \
    } while (0)

/* Two live blocks of `size` bytes, the second the next one after the first
 * in memory (so that an overflow of the first reaches it); returns the gap
 * between their starts. Exits 0 when the allocator never places two blocks so
 * (then there is nothing to attack this way). */
static inline size_t adjacent_pair(size_t size, char **first, char **second)
{
    enum { N = 64 };
    char *p[N];
    for (int i = 0; i < N; i++)
        p[i] = malloc(size);
    size_t best = 0;
    for (int i = 0; i < N; i++)
        for (int j = 0; j < N; j++)
            if (p[j] > p[i] && (size_t)(p[j] - p[i]) <= size + 64 &&
                (best == 0 || (size_t)(p[j] - p[i]) < best)) {
                best = (size_t)(p[j] - p[i]);
                *first = p[i];
                *second = p[j];
            }
    if (best == 0) {
        fprintf(stderr, "no two adjacent %zu-byte blocks: attack not applicable\n", size);
        exit(0);
    }
    for (int i = 0; i < N; i++)
        if (p[i] != *first && p[i] != *second)
            free(p[i]);
    return best;
}

/* Whether any of the n pointers repeats (memory handed out twice). */
static int cmp_ptr(const void *a, const void *b)
{
    uintptr_t x = *(const uintptr_t *)a, y = *(const uintptr_t *)b;
    return x < y ? -1 : x > y;
}

static inline int has_duplicate(void **p, size_t n)
{
    qsort(p, n, sizeof *p, cmp_ptr);
    for (size_t i = 1; i < n; i++)
        if (p[i] == p[i - 1])
            return 1;
    return 0;
}

#endif
