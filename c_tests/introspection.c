/* introspection: hak_stats_get, mallinfo, mallinfo2, malloc_info and malloc_stats report
 * hakmem's memory.  Blocks of every tier are allocated, and the numbers must account for them
 * (in use per tier and per size class, mapped, resident); after they are freed, the bytes in
 * use must fall back.  malloc_info must write glibc's XML shape to any stdio stream
 * (open_memstream included) and reject options other than 0 with EINVAL. */
#include <errno.h>
#include <malloc.h>
#include <unistd.h>

#include "common.h"
#include "hakmem.h"

#ifdef HAK_PRELOAD
#include <dlfcn.h>
static void (*p_hak_stats_get)(struct hak_stats *);
#define hak_stats_get p_hak_stats_get
#endif

enum { SMALL = 2000, SMALL_SIZE = 48, MID = 100, MID_SIZE = 20000 };

static void *volatile keep[SMALL + MID + 2];

static struct hak_stats snapshot(void)
{
    struct hak_stats s;
    hak_stats_get(&s);
    return s;
}

int main(void)
{
#ifdef HAK_PRELOAD
    p_hak_stats_get = (void (*)(struct hak_stats *))dlsym(RTLD_DEFAULT, "hak_stats_get");
    CHECK(p_hak_stats_get != NULL, "hak_stats_get not found in the preloaded library");
#endif
    struct hak_stats before = snapshot();
    struct mallinfo2 m_before = mallinfo2();
    int n = 0;
    for (int i = 0; i < SMALL; i++)
        keep[n++] = malloc(SMALL_SIZE);
    for (int i = 0; i < MID; i++)
        keep[n++] = malloc(MID_SIZE);
    keep[n++] = malloc(300000);  /* a Large span */
    keep[n++] = malloc(5 << 20); /* a Large mapping */
    for (int i = 0; i < n; i++) {
        CHECK(keep[i] != NULL, "malloc");
        memset(keep[i], 1, 64);
    }

    struct hak_stats s = snapshot();
    CHECK(s.tiny_in_use_bytes >= before.tiny_in_use_bytes + SMALL * SMALL_SIZE, "tiny in use %zu, was %zu",
          s.tiny_in_use_bytes, before.tiny_in_use_bytes);
    CHECK(s.mid_in_use_bytes >= before.mid_in_use_bytes + MID * MID_SIZE, "mid in use %zu, was %zu", s.mid_in_use_bytes,
          before.mid_in_use_bytes);
    CHECK(s.large_in_use_bytes >= before.large_in_use_bytes + 300000 + (5 << 20), "large in use %zu, was %zu",
          s.large_in_use_bytes, before.large_in_use_bytes);
    CHECK(s.in_use_bytes == s.tiny_in_use_bytes + s.mid_in_use_bytes + s.large_in_use_bytes, "in use is not the tiers' sum");
    CHECK(s.mapped_bytes >= s.in_use_bytes, "mapped %zu < in use %zu", s.mapped_bytes, s.in_use_bytes);
    size_t pages_total = 0, pages_resident = 0;
    FILE *statm = fopen("/proc/self/statm", "r");
    CHECK(statm != NULL && fscanf(statm, "%zu %zu", &pages_total, &pages_resident) == 2, "/proc/self/statm");
    fclose(statm);
    size_t rss = pages_resident * (size_t)sysconf(_SC_PAGESIZE);
    CHECK(s.resident_bytes > 0 && s.resident_bytes < rss + (1 << 20) && rss < s.resident_bytes + (1 << 20),
          "resident %zu, /proc/self/statm says %zu", s.resident_bytes, rss);
    int class48 = -1;
    size_t blocks = 0;
    for (int c = 0; c < (int)(sizeof s.classes / sizeof s.classes[0]); c++) {
        CHECK(s.classes[c].blocks_in_use <= s.classes[c].blocks_capacity, "class %d: more in use than capacity", c);
        blocks += s.classes[c].blocks_in_use * s.classes[c].block_size;
        if (s.classes[c].block_size == SMALL_SIZE)
            class48 = c;
    }
    CHECK(blocks == s.tiny_in_use_bytes + s.mid_in_use_bytes, "the classes' bytes are not the tiers'");
    CHECK(class48 >= 0 && s.classes[class48].blocks_in_use >= SMALL, "the 48-byte class holds %lu blocks",
          class48 >= 0 ? (unsigned long)s.classes[class48].blocks_in_use : 0UL);

    struct mallinfo2 m = mallinfo2();
    size_t grew = (m.uordblks + m.hblkhd) - (m_before.uordblks + m_before.hblkhd);
    CHECK(grew >= SMALL * SMALL_SIZE + MID * MID_SIZE + 300000 + (5 << 20), "mallinfo2: in use grew by %zu", grew);
    CHECK(m.fordblks == m.arena - m.uordblks, "mallinfo2: fordblks %zu, arena %zu, uordblks %zu", m.fordblks, m.arena,
          m.uordblks);
    CHECK(m.hblks >= 2, "mallinfo2: hblks %zu", m.hblks);
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wdeprecated-declarations"
    struct mallinfo mi = mallinfo();
#pragma GCC diagnostic pop
    CHECK((size_t)mi.uordblks == m.uordblks || mi.uordblks == 2147483647, "mallinfo: uordblks %d", mi.uordblks);

    char *xml = NULL;
    size_t xml_len = 0;
    FILE *f = open_memstream(&xml, &xml_len);
    CHECK(f != NULL, "open_memstream");
    CHECK(malloc_info(0, f) == 0, "malloc_info failed");
    fclose(f);
    CHECK(strncmp(xml, "<malloc version=\"1\">\n<heap nr=\"0\">\n<sizes>\n", 41) == 0, "malloc_info starts: %.60s", xml);
    CHECK(strstr(xml, "<total type=\"mmap\" count=\"") != NULL, "malloc_info lacks the mmap total");
    CHECK(xml_len > 20 && strcmp(xml + xml_len - 10, "</malloc>\n") == 0, "malloc_info ends: %s", xml + xml_len - 20);
    free(xml);
    errno = 0;
    CHECK(malloc_info(1, stdout) == -1 && errno == EINVAL, "malloc_info(1, ...) must fail with EINVAL");

    for (int i = 0; i < n; i++)
        free(keep[i]);
    struct hak_stats after = snapshot();
    CHECK(after.in_use_bytes + SMALL * SMALL_SIZE + MID * MID_SIZE + (5 << 20) <= s.in_use_bytes,
          "in use %zu after freeing, %zu before", after.in_use_bytes, s.in_use_bytes);
    malloc_stats();
    printf("introspection: ok (in use %zu -> %zu bytes)\n", s.in_use_bytes, after.in_use_bytes);
    return 0;
}
