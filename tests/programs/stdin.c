/* Standard input: reads it all (in small chunks, to exercise repeated
 * reads), then prints byte/line/word counts, each line reversed and
 * upper-cased, and a checksum. Empty input is fine. */
#include <ctype.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int main(void) {
    size_t cap = 1024, len = 0;
    char *data = malloc(cap);
    for (;;) {
        if (len + 7 > cap) {
            cap *= 2;
            data = realloc(data, cap);
        }
        ssize_t n = read(0, data + len, 7);
        if (n < 0) {
            printf("read error\n");
            return 1;
        }
        if (n == 0)
            break;
        len += (size_t)n;
    }
    size_t lines = 0, words = 0;
    int in_word = 0;
    uint32_t sum = 2166136261u;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)data[i];
        sum = (sum ^ c) * 16777619u;
        if (c == '\n')
            lines++;
        if (isspace(c))
            in_word = 0;
        else if (!in_word) {
            in_word = 1;
            words++;
        }
    }
    printf("bytes %zu lines %zu words %zu fnv1a %08x\n", len, lines, words, sum);
    size_t start = 0;
    while (start < len) {
        size_t end = start;
        while (end < len && data[end] != '\n')
            end++;
        putchar('|');
        for (size_t i = end; i > start; i--)
            putchar(toupper((unsigned char)data[i - 1]));
        printf("|\n");
        start = end + 1;
    }
    /* stdin is at EOF now: further reads return 0 again. */
    char c;
    printf("read after eof: %zd\n", read(0, &c, 1));
    free(data);
    return 0;
}
