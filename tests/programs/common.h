/* Helpers shared by the test programs. Everything printed must be identical
 * between a native (glibc) build and a wasm32-wasi (wasi-libc) build, so
 * errors are printed by errno *name* (the numeric values and strerror texts
 * differ between the two libcs), never by number or message. */
#ifndef KILN_TEST_COMMON_H
#define KILN_TEST_COMMON_H

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>

static inline const char *errno_name(int e) {
    switch (e) {
    case 0: return "OK";
    case EACCES: return "EACCES";
    case EBADF: return "EBADF";
    case EEXIST: return "EEXIST";
    case EINVAL: return "EINVAL";
    case EISDIR: return "EISDIR";
    case ELOOP: return "ELOOP";
    case ENOENT: return "ENOENT";
    case ENOTDIR: return "ENOTDIR";
    case ENOTEMPTY: return "ENOTEMPTY";
    case EPERM: return "EPERM";
    case ESPIPE: return "ESPIPE";
    case ENOSYS: return "ENOSYS";
    case ENOTSUP: return "ENOTSUP";
    case EXDEV: return "EXDEV";
#ifdef ENOTCAPABLE
    case ENOTCAPABLE: return "ENOTCAPABLE";
#endif
    default: return "E?";
    }
}

/* Prints `what: OK` when `rc` is not negative, else `what: <errno name>`. */
static inline int report(const char *what, int rc) {
    printf("%s: %s\n", what, rc < 0 ? errno_name(errno) : "OK");
    return rc;
}

/* Aborts the program (exit 99, after saying why) when a step that the rest
 * of the program depends on fails. */
static inline void check(int ok, const char *what) {
    if (!ok) {
        printf("FATAL: %s (%s)\n", what, errno_name(errno));
        exit(99);
    }
}

#endif
