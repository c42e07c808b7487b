/* Directories and names inside the working directory: mkdir, readdir
 * (sorted by the program), rewinddir, rmdir, rename, unlink, hard links,
 * symlinks, readlink, stat/lstat file types and sizes, setting file times,
 * and the errors of the common misuses. */
#define _GNU_SOURCE
#include "common.h"

#include <dirent.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <unistd.h>

static void write_file(const char *path, const char *text) {
    FILE *f = fopen(path, "w");
    check(f != NULL, path);
    fputs(text, f);
    check(fclose(f) == 0, "fclose");
}

static const char *type_name(mode_t m) {
    if (S_ISREG(m)) return "file";
    if (S_ISDIR(m)) return "dir";
    if (S_ISLNK(m)) return "symlink";
    return "other";
}

static char dtype_char(unsigned char t) {
    switch (t) {
    case DT_REG: return 'f';
    case DT_DIR: return 'd';
    case DT_LNK: return 'l';
    case DT_UNKNOWN: return '?';
    default: return 'o';
    }
}

/* Prints the entries of `path` (without . and ..), sorted by name, with
 * their type from readdir. Returns the number of entries. */
static int list(const char *path) {
    DIR *d = opendir(path);
    if (!d) {
        printf("opendir %s: %s\n", path, errno_name(errno));
        return -1;
    }
    char *names[64];
    int count = 0, dots = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..")) {
            dots++;
            continue;
        }
        check(count < 64, "too many entries");
        char *s = malloc(strlen(e->d_name) + 3);
        s[0] = dtype_char(e->d_type);
        s[1] = ' ';
        strcpy(s + 2, e->d_name);
        names[count++] = s;
    }
    /* Sort by name (the type letter is a prefix, so compare from +2). */
    for (int i = 0; i < count; i++)
        for (int j = i + 1; j < count; j++)
            if (strcmp(names[j] + 2, names[i] + 2) < 0) {
                char *t = names[i];
                names[i] = names[j];
                names[j] = t;
            }
    printf("%s: %d entries%s\n", path, count, dots == 2 ? " (+ . and ..)" : "");
    for (int i = 0; i < count; i++) {
        printf("  %s\n", names[i]);
        free(names[i]);
    }
    /* Reading again after rewinddir gives the same number of entries. */
    rewinddir(d);
    int again = 0;
    while ((e = readdir(d)) != NULL)
        again++;
    printf("  after rewinddir: %d\n", again - dots);
    closedir(d);
    return count;
}

static void show_stat(const char *path) {
    struct stat st;
    if (stat(path, &st) < 0) {
        printf("stat %s: %s\n", path, errno_name(errno));
        return;
    }
    if (S_ISDIR(st.st_mode))
        printf("stat %s: dir\n", path);
    else
        printf("stat %s: %s, %lld bytes, %lu links\n", path, type_name(st.st_mode),
               (long long)st.st_size, (unsigned long)st.st_nlink);
}

int main(void) {
    struct stat st;
    show_stat(".");
    report("mkdir a", mkdir("a", 0755));
    report("mkdir a again", mkdir("a", 0755));
    report("mkdir a/b", mkdir("a/b", 0755));
    report("mkdir x/y (no parent)", mkdir("x/y", 0755));
    write_file("a/one.txt", "1");
    write_file("a/two.txt", "22");
    write_file("a/b/three.txt", "333");
    write_file("a/zebra", "");
    write_file("a/Apple", "apple");
    report("symlink a/link -> one.txt", symlink("one.txt", "a/link"));
    list("a");
    list("a/b");
    show_stat("a/two.txt");
    show_stat("a/b");

    /* Symlinks: readlink, lstat vs stat, dangling links. */
    char target[64];
    ssize_t n = readlink("a/link", target, sizeof target);
    printf("readlink a/link: %.*s\n", n < 0 ? 0 : (int)n, target);
    n = readlink("a/one.txt", target, sizeof target);
    printf("readlink a regular file: %s\n", n < 0 ? errno_name(errno) : "succeeded");
    check(lstat("a/link", &st) == 0, "lstat a/link");
    printf("lstat a/link: %s\n", type_name(st.st_mode));
    check(stat("a/link", &st) == 0, "stat a/link");
    printf("stat a/link: %s, %lld bytes\n", type_name(st.st_mode), (long long)st.st_size);
    report("symlink a/dangling -> nowhere", symlink("nowhere", "a/dangling"));
    printf("stat a/dangling: %s\n", stat("a/dangling", &st) < 0 ? errno_name(errno) : "succeeded");
    printf("lstat a/dangling: %s\n",
           lstat("a/dangling", &st) < 0 ? errno_name(errno) : type_name(st.st_mode));
    report("unlink a/dangling", unlink("a/dangling"));

    /* Hard links share contents and count links. */
    report("link a/two.txt a/b/two-again", link("a/two.txt", "a/b/two-again"));
    show_stat("a/two.txt");
    FILE *f = fopen("a/b/two-again", "a");
    check(f != NULL, "fopen two-again");
    fputs("+more", f);
    fclose(f);
    show_stat("a/two.txt");
    report("unlink a/b/two-again", unlink("a/b/two-again"));
    show_stat("a/two.txt");

    /* Rename files and directories, replacing a file. */
    report("rename a/one.txt a/uno.txt", rename("a/one.txt", "a/uno.txt"));
    show_stat("a/one.txt");
    show_stat("a/uno.txt");
    report("rename a/uno.txt over a/zebra", rename("a/uno.txt", "a/zebra"));
    show_stat("a/zebra");
    report("rename a/b a/c", rename("a/b", "a/c"));
    report("rename missing", rename("a/nope", "a/nope2"));
    report("rename a/c into itself", rename("a/c", "a/c/inner"));
    list("a");
    list("a/c");

    /* Set file times (by path and by descriptor) and read them back. */
    struct timespec times[2] = {{1000000000, 0}, {1234567890, 0}};
    report("utimensat a/two.txt", utimensat(AT_FDCWD, "a/two.txt", times, 0));
    check(stat("a/two.txt", &st) == 0, "stat two.txt");
    printf("a/two.txt atime %lld mtime %lld\n", (long long)st.st_atime, (long long)st.st_mtime);
    int fd = open("a/two.txt", O_RDONLY);
    check(fd >= 0, "open two.txt");
    struct timespec times2[2] = {{UTIME_OMIT, UTIME_OMIT}, {1500000000, 500000000}};
    report("futimens a/two.txt (mtime only)", futimens(fd, times2));
    check(fstat(fd, &st) == 0, "fstat two.txt");
    printf("a/two.txt atime %lld mtime %lld.%09ld\n", (long long)st.st_atime,
           (long long)st.st_mtime, (long)st.st_mtim.tv_nsec);
    close(fd);

    /* Errors. */
    report("rmdir non-empty a", rmdir("a"));
    report("rmdir a file", rmdir("a/two.txt"));
    report("unlink a directory", unlink("a/c"));
    report("unlink missing", unlink("a/missing"));
    printf("opendir a file: %s\n", opendir("a/two.txt") ? "succeeded" : errno_name(errno));

    /* Clean everything up; the directory ends up empty again. */
    report("unlink a/c/three.txt", unlink("a/c/three.txt"));
    report("rmdir a/c", rmdir("a/c"));
    report("unlink a/two.txt", unlink("a/two.txt"));
    report("unlink a/zebra", unlink("a/zebra"));
    report("unlink a/Apple", unlink("a/Apple"));
    report("unlink a/link", unlink("a/link"));
    list("a");
    report("rmdir a", rmdir("a"));
    show_stat("a");
    list(".");
    return 0;
}
