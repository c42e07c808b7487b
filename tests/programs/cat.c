/* cat: copies each file named in the arguments (or stdin, without
 * arguments) to stdout. A file that cannot be opened is reported on stdout
 * by errno name and makes the exit status 1. tests/cli.rs uses it to check
 * `--dir HOST::GUEST` mappings and that paths cannot leave a preopen. */
#include "common.h"

#include <stdio.h>

static int copy(FILE *f) {
    char buf[4096];
    size_t n;
    while ((n = fread(buf, 1, sizeof buf, f)) > 0)
        fwrite(buf, 1, n, stdout);
    return ferror(f) ? -1 : 0;
}

int main(int argc, char **argv) {
    if (argc < 2)
        return copy(stdin) < 0;
    int status = 0;
    for (int i = 1; i < argc; i++) {
        FILE *f = fopen(argv[i], "rb");
        if (!f) {
            printf("cat: %s: %s\n", argv[i], errno_name(errno));
            status = 1;
            continue;
        }
        if (copy(f) < 0) {
            printf("cat: %s: read error\n", argv[i]);
            status = 1;
        }
        fclose(f);
    }
    return status;
}
