/* Command-line arguments: count, each argument byte for byte (quoted, with
 * non-ASCII bytes in hex), and argv[0]'s base name without a `.wasm` or
 * `.aot` suffix (so the native, wasm and aotc-compiled builds agree). */
#include <stdio.h>
#include <string.h>

int main(int argc, char **argv) {
    const char *base = strrchr(argv[0], '/');
    base = base ? base + 1 : argv[0];
    size_t len = strlen(base);
    if (len > 5 && !strcmp(base + len - 5, ".wasm"))
        len -= 5;
    else if (len > 4 && !strcmp(base + len - 4, ".aot"))
        len -= 4;
    printf("argv[0] base name: %.*s\n", (int)len, base);
    printf("argc: %d\n", argc);
    size_t total = 0;
    for (int i = 1; i < argc; i++) {
        printf("argv[%d] (%zu bytes): \"", i, strlen(argv[i]));
        for (const unsigned char *p = (const unsigned char *)argv[i]; *p; p++) {
            if (*p >= 32 && *p < 127)
                putchar(*p);
            else
                printf("\\x%02x", *p);
        }
        printf("\"\n");
        total += strlen(argv[i]);
    }
    printf("argv[argc] is NULL: %d\n", argv[argc] == NULL);
    printf("total argument bytes: %zu\n", total);
    return 0;
}
