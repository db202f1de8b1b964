/* aligned_mappings: blocks aligned beyond a slab (128 KiB to 1 MiB) do not take a kernel
 * mapping each.  Each used to be one mapping (5,000 of them: 5,000 mappings; about 65,500 reach
 * vm.max_map_count, after which every mmap of the process fails); they now come from spans of
 * the SuperSlabs, placed at slab indices that are multiples of the alignment.  Every block is
 * aligned, usable, and its neighbours' contents survive; freeing them leaves no mapping behind. */
#include "common.h"

static int mappings(void)
{
    FILE *f = fopen("/proc/self/maps", "r");
    CHECK(f != NULL, "open /proc/self/maps");
    int n = 0, c;
    while ((c = fgetc(f)) != EOF)
        n += c == '\n';
    fclose(f);
    return n;
}

enum { N = 5000 };
static unsigned char *blocks[N];

int main(void)
{
    for (size_t align = 128 << 10; align <= 1 << 20; align *= 2) {
        int before = mappings();
        for (int i = 0; i < N; i++) {
            size_t size = 100 + (size_t)i % 3000;
            blocks[i] = memalign(align, size);
            CHECK(blocks[i] != NULL, "memalign(%zu, %zu) failed", align, size);
            CHECK((uintptr_t)blocks[i] % align == 0, "memalign(%zu, %zu) = %p: misaligned", align, size,
                  (void *)blocks[i]);
            memset(blocks[i], i & 0xff, size);
        }
        int during = mappings();
        for (int i = 0; i < N; i++) {
            size_t size = 100 + (size_t)i % 3000;
            CHECK(blocks[i][0] == (i & 0xff) && blocks[i][size - 1] == (i & 0xff), "block %d overwritten", i);
            free(blocks[i]);
        }
        malloc_trim(0);
        int after = mappings();
        printf("aligned_mappings: %d blocks aligned to %zu KiB: mappings %d -> %d -> %d\n", N, align >> 10, before,
               during, after);
        CHECK(during < before + 100, "%d blocks aligned to %zu KiB took %d more mappings", N, align >> 10,
              during - before);
        CHECK(after < before + 100, "after freeing them %d more mappings remain", after - before);
    }
    return 0;
}
