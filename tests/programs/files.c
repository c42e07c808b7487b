/* File I/O inside the working directory: create, write, read, seek, append,
 * truncate, pread/pwrite, fstat sizes, fcntl flags, sync, advise, allocate,
 * renumbering a descriptor, and the errors of the common misuses. */
#define _GNU_SOURCE
#include "common.h"

#include <fcntl.h>
#include <stdint.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#ifdef __wasi__
#include <wasi/api.h>
#endif

static void print_size(const char *path) {
    struct stat st;
    if (stat(path, &st) < 0) {
        printf("stat %s: %s\n", path, errno_name(errno));
        return;
    }
    printf("size %s = %lld\n", path, (long long)st.st_size);
}

static void print_contents(const char *path) {
    FILE *f = fopen(path, "rb");
    if (!f) {
        printf("fopen %s: %s\n", path, errno_name(errno));
        return;
    }
    char buf[256];
    size_t n = fread(buf, 1, sizeof buf, f);
    fclose(f);
    printf("%s (%zu bytes): \"", path, n);
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)buf[i];
        if (c >= 32 && c < 127 && c != '"' && c != '\\')
            putchar(c);
        else
            printf("\\x%02x", c);
    }
    printf("\"\n");
}

int main(void) {
    /* Create and write with stdio, read back. */
    FILE *f = fopen("hello.txt", "w");
    check(f != NULL, "fopen hello.txt for writing");
    for (int i = 0; i < 5; i++)
        fprintf(f, "line %d: %s\n", i, i % 2 ? "odd" : "even");
    check(fclose(f) == 0, "fclose");
    print_size("hello.txt");

    f = fopen("hello.txt", "r");
    check(f != NULL, "fopen hello.txt for reading");
    char line[128];
    int lines = 0;
    while (fgets(line, sizeof line, f)) {
        lines++;
        if (lines == 3)
            printf("third line: %s", line);
    }
    printf("lines read: %d, eof: %d\n", lines, feof(f) != 0);
    fclose(f);

    /* Seeking with the POSIX interface. */
    int fd = open("hello.txt", O_RDWR);
    check(fd >= 0, "open hello.txt O_RDWR");
    char buf[64];
    off_t pos = lseek(fd, 7, SEEK_SET);
    ssize_t n = read(fd, buf, 4);
    printf("seek set 7 -> %lld, read %zd: %.*s\n", (long long)pos, n, (int)n, buf);
    pos = lseek(fd, 0, SEEK_CUR);
    printf("tell -> %lld\n", (long long)pos);
    pos = lseek(fd, -4, SEEK_END);
    n = read(fd, buf, sizeof buf);
    printf("seek end -4 -> %lld, read %zd: %.*s", (long long)pos, n, (int)n, buf);
    pos = lseek(fd, -3, SEEK_CUR);
    printf("seek cur -3 -> %lld\n", (long long)pos);
    pos = lseek(fd, -1000, SEEK_SET);
    printf("seek to a negative offset: %s\n", pos < 0 ? errno_name(errno) : "succeeded");
    /* Overwrite in the middle. */
    lseek(fd, 0, SEEK_SET);
    n = write(fd, "LINE", 4);
    printf("overwrite wrote %zd\n", n);
    /* Reading at EOF returns 0. */
    lseek(fd, 0, SEEK_END);
    n = read(fd, buf, sizeof buf);
    printf("read at eof: %zd\n", n);
    /* Writing past the end leaves a hole of zeros. */
    pos = lseek(fd, 100, SEEK_SET);
    n = write(fd, "X", 1);
    printf("write at 100 -> %zd\n", n);
    struct stat st;
    check(fstat(fd, &st) == 0, "fstat");
    printf("fstat size: %lld, regular: %d\n", (long long)st.st_size, S_ISREG(st.st_mode) != 0);
    lseek(fd, 90, SEEK_SET);
    n = read(fd, buf, 11);
    int zeros = 0;
    for (ssize_t i = 0; i < n; i++)
        zeros += buf[i] == 0;
    printf("hole: read %zd, zeros %d, last %c\n", n, zeros, buf[n - 1]);

    /* pread/pwrite do not move the file offset. */
    lseek(fd, 5, SEEK_SET);
    n = pwrite(fd, "pw", 2, 20);
    printf("pwrite -> %zd, offset still %lld\n", n, (long long)lseek(fd, 0, SEEK_CUR));
    n = pread(fd, buf, 6, 18);
    printf("pread -> %zd: %.*s, offset still %lld\n", n, (int)n, buf,
           (long long)lseek(fd, 0, SEEK_CUR));

    /* Truncate: shrink, then grow (with zeros). */
    report("ftruncate 30", ftruncate(fd, 30));
    fstat(fd, &st);
    printf("after shrink: %lld\n", (long long)st.st_size);
    report("ftruncate 40", ftruncate(fd, 40));
    fstat(fd, &st);
    printf("after grow: %lld\n", (long long)st.st_size);
    report("fsync", fsync(fd));
    report("fdatasync", fdatasync(fd));
    int adv = posix_fadvise(fd, 0, 40, POSIX_FADV_SEQUENTIAL);
    printf("posix_fadvise: %s\n", errno_name(adv));
    int alloc = posix_fallocate(fd, 0, 64);
    printf("posix_fallocate: %s\n", errno_name(alloc));
    fstat(fd, &st);
    printf("after allocate: %lld\n", (long long)st.st_size);
    close(fd);
    print_contents("hello.txt");

    /* Truncate by path and with O_TRUNC. */
    report("truncate 10", truncate("hello.txt", 10));
    print_contents("hello.txt");
    fd = open("hello.txt", O_WRONLY | O_TRUNC);
    check(fd >= 0, "open O_TRUNC");
    close(fd);
    print_size("hello.txt");

    /* Append mode: every write goes to the end, whatever the offset. */
    fd = open("log.txt", O_WRONLY | O_CREAT | O_APPEND, 0644);
    check(fd >= 0, "open log.txt O_APPEND");
    int fl = fcntl(fd, F_GETFL);
    printf("O_APPEND flag set: %d\n", (fl & O_APPEND) != 0);
    write(fd, "first\n", 6);
    lseek(fd, 0, SEEK_SET);
    write(fd, "second\n", 7);
    close(fd);
    f = fopen("log.txt", "a");
    check(f != NULL, "fopen a");
    fputs("third\n", f);
    fclose(f);
    print_contents("log.txt");

    /* fcntl F_SETFL can clear O_APPEND. */
    fd = open("log.txt", O_WRONLY | O_APPEND);
    check(fd >= 0, "reopen log.txt");
    report("fcntl F_SETFL 0", fcntl(fd, F_SETFL, 0));
    fl = fcntl(fd, F_GETFL);
    printf("O_APPEND flag after clear: %d\n", (fl & O_APPEND) != 0);
    write(fd, "FIRST", 5);
    close(fd);
    print_contents("log.txt");

    /* Access modes. */
    fd = open("log.txt", O_RDONLY);
    n = write(fd, "x", 1);
    printf("write to O_RDONLY: %s\n", n < 0 ? errno_name(errno) : "succeeded");
    close(fd);
    fd = open("log.txt", O_WRONLY);
    n = read(fd, buf, 1);
    printf("read from O_WRONLY: %s\n", n < 0 ? errno_name(errno) : "succeeded");
    close(fd);

    /* Renumbering: move a descriptor onto another slot. */
    int a = open("hello.txt", O_RDWR);
    int b = open("log.txt", O_RDONLY);
    check(a >= 0 && b >= 0, "open two files");
#ifdef __wasi__
    int rn = __wasi_fd_renumber(b, a) == 0 ? 0 : -1;
#else
    int rn = dup2(b, a) < 0 ? -1 : close(b);
#endif
    report("renumber", rn);
    n = read(a, buf, 5);
    printf("read through renumbered fd: %.*s\n", (int)n, buf);
    n = read(b, buf, 1);
    printf("old fd after renumber: %s\n", n < 0 ? errno_name(errno) : "still open");
    close(a);

    /* Errors. */
    fd = open("missing.txt", O_RDONLY);
    printf("open missing: %s\n", fd < 0 ? errno_name(errno) : "succeeded");
    fd = open("log.txt", O_WRONLY | O_CREAT | O_EXCL, 0644);
    printf("O_EXCL on existing: %s\n", fd < 0 ? errno_name(errno) : "succeeded");
    n = read(12345, buf, 1);
    printf("read bad fd: %s\n", n < 0 ? errno_name(errno) : "succeeded");
    report("close bad fd", close(12345));
    fd = open("hello.txt/x", O_RDONLY);
    printf("open through a file: %s\n", fd < 0 ? errno_name(errno) : "succeeded");

    /* A larger file written in chunks and checksummed on the way back. */
    fd = open("big.bin", O_RDWR | O_CREAT | O_TRUNC, 0644);
    check(fd >= 0, "open big.bin");
    uint32_t x = 12345, sum = 0;
    static unsigned char chunk[4096];
    for (int c = 0; c < 64; c++) {
        for (size_t i = 0; i < sizeof chunk; i++) {
            x = x * 1103515245u + 12345u;
            chunk[i] = (unsigned char)(x >> 16);
            sum = sum * 31 + chunk[i];
        }
        check(write(fd, chunk, sizeof chunk) == (ssize_t)sizeof chunk, "write chunk");
    }
    lseek(fd, 0, SEEK_SET);
    uint32_t back = 0;
    size_t total = 0;
    while ((n = read(fd, chunk, 1000)) > 0) {
        for (ssize_t i = 0; i < n; i++)
            back = back * 31 + chunk[i];
        total += (size_t)n;
    }
    close(fd);
    printf("big.bin: %zu bytes, checksum written %08x read %08x\n", total, sum, back);
    return 0;
}
