/* Built against an installed hakmem with pkg-config (scripts/test_install.sh): malloc must be
 * hakmem's (hak_usable_size aborts on a pointer hakmem did not hand out) and the header's
 * version must be the library's. */
#include <hakmem.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int main(void)
{
    char *p = malloc(100);
    if (p == NULL)
        return 1;
    strcpy(p, "hello");
    size_t usable = hak_usable_size(p);
    if (usable < 100 || strcmp(hak_version(), HAKMEM_VERSION_STRING) != 0) {
        fprintf(stderr, "usable %zu, library %s, header %s\n", usable, hak_version(), HAKMEM_VERSION_STRING);
        return 1;
    }
    free(p);
    printf("hakmem %s: ok\n", hak_version());
    return 0;
}
