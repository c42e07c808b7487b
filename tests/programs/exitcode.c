/* Exit statuses: `exit N` calls exit(N) (after buffered output without a
 * newline, which must still be flushed, and an atexit handler), `return N`
 * returns N from main, `_exit N` calls _Exit(N) (stdio is NOT flushed, so
 * only output flushed before it appears). No arguments: return 0. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void bye(void) { printf("atexit handler ran\n"); }

int main(int argc, char **argv) {
    atexit(bye);
    if (argc < 3) {
        printf("no arguments: returning 0\n");
        return 0;
    }
    int code = atoi(argv[2]);
    if (!strcmp(argv[1], "exit")) {
        printf("calling exit(%d) with unflushed output", code);
        exit(code);
    }
    if (!strcmp(argv[1], "return")) {
        printf("returning %d from main\n", code);
        return code;
    }
    if (!strcmp(argv[1], "_exit")) {
        printf("flushed before _Exit(%d)\n", code);
        fflush(stdout);
        printf("this line is never flushed\n");
        _Exit(code);
    }
    printf("unknown mode %s\n", argv[1]);
    return 2;
}
