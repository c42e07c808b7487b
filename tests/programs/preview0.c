/* WASI preview0: the `wasi_unstable` import module of older toolchains.
 *
 * wasi-libc imports preview1 (`wasi_snapshot_preview1`), so the wasm build
 * declares its own `wasi_unstable` imports and makes every system call
 * through them; it uses wasi-libc only for things that need no system call
 * (vsnprintf, malloc, strings). The calls whose ABI differs from preview1
 * are all here: fd_filestat_get and path_filestat_get (the 56-byte
 * preview0 filestat with a 32-bit nlink), fd_seek with each whence
 * (preview0 numbers them cur=0, end=1, set=2) and poll_oneoff with a clock
 * subscription (preview0's has an `identifier` before the clock id), plus
 * the preopens, path_open, fd_write/fd_read, links, args and environment
 * sizes, and proc_exit for the exit status. It formats its output itself
 * and routes libc's _Exit through wasi_unstable too, so the module imports
 * nothing from preview1, like a binary of an old toolchain.
 *
 * The native build implements the same small layer with POSIX calls in
 * the working directory (which the test harness preopens as `.` for the
 * wasm build), so build.sh records the expected output from it as for the
 * other programs. Checks that only the wasm layer can make (the bytes
 * past a 56-byte filestat stay untouched, the event's userdata is the
 * subscription's) print something only when they fail. */
#ifndef __wasm__
#define _GNU_SOURCE
#endif
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

enum whence { W_SET, W_CUR, W_END, W_BAD };
enum ftype { T_OTHER, T_DIR, T_REG, T_LNK };
struct st {
    enum ftype type;
    unsigned long long nlink, size;
};
struct ev {
    unsigned long long userdata, nbytes;
    const char *error; /* NULL: none */
    const char *type;
};

/* Every layer function returns NULL on success, else an errno name. */

#ifdef __wasm__
/* ---- wasm: straight to wasi_unstable ---------------------------------- */

#define P0(name) __attribute__((import_module("wasi_unstable"), import_name(#name)))

typedef struct {
    const void *buf;
    uint32_t len;
} ciovec0;
typedef struct {
    void *buf;
    uint32_t len;
} iovec0;
typedef struct {
    uint8_t tag;
    uint32_t name_len;
} prestat0;
typedef struct {
    uint8_t filetype;
    uint16_t flags;
    uint64_t rights_base, rights_inheriting;
} fdstat0;
/* typenames.witx (preview0): linkcount is u32. */
typedef struct {
    uint64_t dev, ino;
    uint8_t filetype;
    uint32_t nlink;
    uint64_t size, atim, mtim, ctim;
} filestat0;
typedef struct {
    uint64_t userdata;
    uint8_t tag;
    union {
        struct {
            uint64_t identifier;
            uint32_t id;
            uint64_t timeout, precision;
            uint16_t flags;
        } clock;
        struct {
            uint32_t fd;
        } fd_readwrite;
    } u;
} subscription0;
typedef struct {
    uint64_t userdata;
    uint16_t error;
    uint8_t type;
    struct {
        uint64_t nbytes;
        uint16_t flags;
    } fd_readwrite;
} event0;

_Static_assert(sizeof(filestat0) == 56 && offsetof(filestat0, filetype) == 16 &&
                   offsetof(filestat0, nlink) == 20 && offsetof(filestat0, size) == 24 &&
                   offsetof(filestat0, ctim) == 48,
               "preview0 filestat");
_Static_assert(sizeof(subscription0) == 56 && offsetof(subscription0, tag) == 8 &&
                   offsetof(subscription0, u.clock.identifier) == 16 &&
                   offsetof(subscription0, u.clock.id) == 24 && offsetof(subscription0, u.clock.timeout) == 32 &&
                   offsetof(subscription0, u.clock.flags) == 48 && offsetof(subscription0, u.fd_readwrite.fd) == 16,
               "preview0 subscription");
_Static_assert(sizeof(event0) == 32 && offsetof(event0, error) == 8 && offsetof(event0, type) == 10 &&
                   offsetof(event0, fd_readwrite.nbytes) == 16 && offsetof(event0, fd_readwrite.flags) == 24,
               "preview0 event");

P0(args_sizes_get) uint16_t p0_args_sizes_get(uint32_t *argc, uint32_t *bytes);
P0(args_get) uint16_t p0_args_get(char **argv, char *buf);
P0(environ_sizes_get) uint16_t p0_environ_sizes_get(uint32_t *count, uint32_t *bytes);
P0(environ_get) uint16_t p0_environ_get(char **environ, char *buf);
P0(fd_prestat_get) uint16_t p0_fd_prestat_get(uint32_t fd, prestat0 *out);
P0(fd_prestat_dir_name) uint16_t p0_fd_prestat_dir_name(uint32_t fd, char *path, uint32_t len);
P0(path_open)
uint16_t p0_path_open(uint32_t dirfd, uint32_t dirflags, const char *path, uint32_t path_len, uint16_t oflags,
                      uint64_t rights_base, uint64_t rights_inheriting, uint16_t fdflags, uint32_t *fd);
P0(fd_write) uint16_t p0_fd_write(uint32_t fd, const ciovec0 *iovs, uint32_t n, uint32_t *nwritten);
P0(fd_read) uint16_t p0_fd_read(uint32_t fd, const iovec0 *iovs, uint32_t n, uint32_t *nread);
P0(fd_seek) uint16_t p0_fd_seek(uint32_t fd, int64_t offset, uint8_t whence, uint64_t *newoffset);
P0(fd_fdstat_get) uint16_t p0_fd_fdstat_get(uint32_t fd, fdstat0 *out);
P0(fd_filestat_get) uint16_t p0_fd_filestat_get(uint32_t fd, filestat0 *out);
P0(path_filestat_get)
uint16_t p0_path_filestat_get(uint32_t fd, uint32_t flags, const char *path, uint32_t len, filestat0 *out);
P0(path_link)
uint16_t p0_path_link(uint32_t old_fd, uint32_t old_flags, const char *old_path, uint32_t old_len, uint32_t new_fd,
                      const char *new_path, uint32_t new_len);
P0(path_symlink)
uint16_t p0_path_symlink(const char *old_path, uint32_t old_len, uint32_t fd, const char *new_path, uint32_t new_len);
P0(path_create_directory) uint16_t p0_path_create_directory(uint32_t fd, const char *path, uint32_t len);
P0(path_unlink_file) uint16_t p0_path_unlink_file(uint32_t fd, const char *path, uint32_t len);
P0(fd_close) uint16_t p0_fd_close(uint32_t fd);
P0(poll_oneoff) uint16_t p0_poll_oneoff(const subscription0 *in, event0 *out, uint32_t n, uint32_t *nevents);
P0(proc_exit) _Noreturn void p0_proc_exit(uint32_t code);

/* preview0 constants (the same values as in preview1 unless noted). */
enum { WHENCE0_CUR = 0, WHENCE0_END = 1, WHENCE0_SET = 2 }; /* preview1: set=0, cur=1, end=2 */
enum { LOOKUP_SYMLINK_FOLLOW = 1 };
enum { O_CREAT0 = 1, O_TRUNC0 = 8 };
enum { EV_CLOCK = 0, EV_FD_READ = 1, EV_FD_WRITE = 2 };
enum { CLOCK_MONOTONIC0 = 1 };
#define R_FD_READ (1ull << 1)
#define R_FD_SEEK (1ull << 2)
#define R_FD_TELL (1ull << 5)
#define R_FD_WRITE (1ull << 6)
#define R_FD_FILESTAT_GET (1ull << 21)
#define R_POLL_FD_READWRITE (1ull << 27)

static uint32_t root = (uint32_t)-1;

static const char *ename(uint16_t e) {
    switch (e) {
    case 0: return NULL;
    case 2: return "EACCES";
    case 8: return "EBADF";
    case 20: return "EEXIST";
    case 21: return "EFAULT";
    case 28: return "EINVAL";
    case 44: return "ENOENT";
    case 54: return "ENOTDIR";
    case 63: return "EPERM";
    case 70: return "ESPIPE";
    case 76: return "ENOTCAPABLE";
    default: return "E?";
    }
}

static void out_bytes(const char *s, size_t n) {
    while (n > 0) {
        ciovec0 iov = {s, (uint32_t)n};
        uint32_t w = 0;
        if (p0_fd_write(1, &iov, 1, &w) != 0 || w == 0)
            return;
        s += w;
        n -= w;
    }
}

static _Noreturn void leave(int status) { p0_proc_exit((uint32_t)status); }

/* wasi-libc's _start ends with exit(), whose _Exit would import preview1's
 * proc_exit; this definition replaces it (main never returns anyway). */
_Noreturn void _Exit(int status) { leave(status); }

/* Finds the preopens (fd 3 up to the first EBADF), remembers `.`. */
static const char *list_preopens(char *names, size_t cap) {
    size_t used = 0;
    names[0] = 0;
    for (uint32_t fd = 3;; fd++) {
        prestat0 ps;
        uint16_t e = p0_fd_prestat_get(fd, &ps);
        if (e == 8)
            break;
        if (e != 0)
            return ename(e);
        if (ps.tag != 0 || ps.name_len == 0 || ps.name_len + 2 > cap - used)
            return "E?";
        e = p0_fd_prestat_dir_name(fd, names + used, ps.name_len);
        if (e != 0)
            return ename(e);
        if (ps.name_len == 1 && names[used] == '.')
            root = fd;
        used += ps.name_len;
        names[used++] = ' ';
        names[used] = 0;
    }
    if (used > 0)
        names[used - 1] = 0;
    return root == (uint32_t)-1 ? "ENOENT" : NULL;
}

static const char *get_list(int env, int *count, char ***list, size_t *bytes) {
    uint32_t n = 0, b = 0;
    uint16_t e = env ? p0_environ_sizes_get(&n, &b) : p0_args_sizes_get(&n, &b);
    if (e != 0)
        return ename(e);
    char **v = calloc(n + 1, sizeof *v);
    char *buf = malloc(b + 1);
    if (!v || !buf)
        return "ENOMEM";
    e = env ? p0_environ_get(v, buf) : p0_args_get(v, buf);
    if (e != 0)
        return ename(e);
    /* The sizes must describe exactly what the get call wrote. */
    size_t sum = 0;
    for (uint32_t i = 0; i < n; i++)
        sum += strlen(v[i]) + 1;
    if (sum != b)
        return "SIZE_MISMATCH";
    *count = (int)n;
    *list = v;
    *bytes = b;
    return NULL;
}

static const char *get_args(int *argc, char ***argv, size_t *bytes) { return get_list(0, argc, argv, bytes); }
static const char *get_env(int *count, char ***env, size_t *bytes) { return get_list(1, count, env, bytes); }

static const char *open_file(const char *path, int create, int *fd) {
    uint32_t out = 0;
    uint64_t rights = R_FD_READ | R_FD_WRITE | R_FD_SEEK | R_FD_TELL | R_FD_FILESTAT_GET | R_POLL_FD_READWRITE;
    uint16_t e = p0_path_open(root, LOOKUP_SYMLINK_FOLLOW, path, (uint32_t)strlen(path),
                              create ? O_CREAT0 | O_TRUNC0 : 0, rights, 0, 0, &out);
    *fd = (int)out;
    return ename(e);
}

static const char *write2(int fd, const char *a, const char *b, size_t *n) {
    ciovec0 iovs[2] = {{a, (uint32_t)strlen(a)}, {b, (uint32_t)strlen(b)}};
    uint32_t w = 0;
    uint16_t e = p0_fd_write((uint32_t)fd, iovs, 2, &w);
    *n = w;
    return ename(e);
}

static const char *read_some(int fd, char *buf, size_t cap, size_t *n) {
    iovec0 iov = {buf, (uint32_t)cap};
    uint32_t r = 0;
    uint16_t e = p0_fd_read((uint32_t)fd, &iov, 1, &r);
    *n = r;
    return ename(e);
}

static const char *seek(int fd, long long off, enum whence w, unsigned long long *pos) {
    uint8_t wh = w == W_SET ? WHENCE0_SET : w == W_CUR ? WHENCE0_CUR : w == W_END ? WHENCE0_END : 9;
    uint64_t p = 0;
    uint16_t e = p0_fd_seek((uint32_t)fd, off, wh, &p);
    *pos = p;
    return ename(e);
}

static enum ftype ftype_of(uint8_t t) {
    switch (t) {
    case 3: return T_DIR;
    case 4: return T_REG;
    case 7: return T_LNK;
    default: return T_OTHER;
    }
}

/* A filestat with a canary after it: preview0's is 56 bytes (preview1's
 * 64 would overwrite the canary). */
struct guarded {
    filestat0 st;
    uint64_t canary;
};
#define CANARY 0x5a5a5a5a5a5a5a5aull

static const char *unpack(uint16_t e, const struct guarded *g, struct st *st) {
    if (e != 0)
        return ename(e);
    if (g->canary != CANARY)
        return "OVERRAN_56_BYTES";
    st->type = ftype_of(g->st.filetype);
    st->nlink = g->st.nlink;
    st->size = g->st.size;
    return NULL;
}

static const char *stat_fd(int fd, struct st *st) {
    struct guarded g = {.canary = CANARY};
    return unpack(p0_fd_filestat_get((uint32_t)fd, &g.st), &g, st);
}

static const char *stat_path(const char *path, int follow, struct st *st) {
    struct guarded g = {.canary = CANARY};
    uint16_t e = p0_path_filestat_get(root, follow ? LOOKUP_SYMLINK_FOLLOW : 0, path, (uint32_t)strlen(path), &g.st);
    return unpack(e, &g, st);
}

static const char *fdstat_type(int fd, enum ftype *t) {
    fdstat0 s = {0};
    uint16_t e = p0_fd_fdstat_get((uint32_t)fd, &s);
    *t = ftype_of(s.filetype);
    return ename(e);
}

static const char *make_link(const char *old_path, const char *new_path) {
    return ename(
        p0_path_link(root, 0, old_path, (uint32_t)strlen(old_path), root, new_path, (uint32_t)strlen(new_path)));
}

static const char *make_symlink(const char *target, const char *link) {
    return ename(p0_path_symlink(target, (uint32_t)strlen(target), root, link, (uint32_t)strlen(link)));
}

static const char *make_dir(const char *path) {
    return ename(p0_path_create_directory(root, path, (uint32_t)strlen(path)));
}

static const char *unlink_file(const char *path) { return ename(p0_path_unlink_file(root, path, (uint32_t)strlen(path))); }

static const char *close_fd(int fd) { return ename(p0_fd_close((uint32_t)fd)); }

static const char *event_of(const event0 *e, const subscription0 *subs, size_t nsubs, struct ev *ev) {
    int known = 0;
    for (size_t i = 0; i < nsubs; i++)
        known |= subs[i].userdata == e->userdata;
    if (!known)
        return "BAD_USERDATA";
    ev->userdata = e->userdata;
    ev->error = ename(e->error);
    ev->type = e->type == EV_CLOCK ? "clock" : e->type == EV_FD_READ ? "fd_read" : e->type == EV_FD_WRITE ? "fd_write" : "?";
    ev->nbytes = e->type == EV_CLOCK ? 0 : e->fd_readwrite.nbytes;
    return NULL;
}

static subscription0 clock_sub(uint64_t userdata, uint64_t ns) {
    subscription0 s;
    memset(&s, 0, sizeof s);
    s.userdata = userdata;
    s.tag = EV_CLOCK;
    s.u.clock.identifier = 0xfeedfacecafef00dull; /* preview1 would read this as the clock id */
    s.u.clock.id = CLOCK_MONOTONIC0;
    s.u.clock.timeout = ns;
    s.u.clock.precision = 1000;
    s.u.clock.flags = 0; /* relative */
    return s;
}

static const char *poll_subs(const subscription0 *subs, size_t n, struct ev *evs, int *count) {
    event0 out[4];
    uint32_t got = 0;
    memset(out, 0xee, sizeof out);
    uint16_t e = p0_poll_oneoff(subs, out, (uint32_t)n, &got);
    if (e != 0)
        return ename(e);
    for (uint32_t i = 0; i < got; i++) {
        const char *err = event_of(&out[i], subs, n, &evs[i]);
        if (err)
            return err;
    }
    *count = (int)got;
    return NULL;
}

static const char *poll_clock(unsigned long long userdata, unsigned long long ns, struct ev *evs, int *count) {
    subscription0 subs[1] = {clock_sub(userdata, ns)};
    return poll_subs(subs, 1, evs, count);
}

static const char *poll_clock_and_read(int fd, unsigned long long clock_ud, unsigned long long read_ud, struct ev *evs,
                                       int *count) {
    subscription0 subs[2] = {clock_sub(clock_ud, 5ull * 1000 * 1000 * 1000), {0}};
    subs[1].userdata = read_ud;
    subs[1].tag = EV_FD_READ;
    subs[1].u.fd_readwrite.fd = (uint32_t)fd;
    return poll_subs(subs, 2, evs, count);
}

#else
/* ---- native: the same layer over POSIX --------------------------------- */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

extern char **environ;
static int root = -1;
static int g_argc;
static char **g_argv;

static const char *ename(int e) {
    switch (e) {
    case 0: return NULL;
    case EACCES: return "EACCES";
    case EBADF: return "EBADF";
    case EEXIST: return "EEXIST";
    case EFAULT: return "EFAULT";
    case EINVAL: return "EINVAL";
    case ENOENT: return "ENOENT";
    case ENOTDIR: return "ENOTDIR";
    case EPERM: return "EPERM";
    case ESPIPE: return "ESPIPE";
    default: return "E?";
    }
}
#define CHECK(ok) ((ok) ? NULL : ename(errno))

static void out_bytes(const char *s, size_t n) {
    while (n > 0) {
        ssize_t w = write(1, s, n);
        if (w <= 0)
            return;
        s += w;
        n -= (size_t)w;
    }
}

static _Noreturn void leave(int status) { _exit(status); }

/* The working directory plays the harness's preopen `.`. */
static const char *list_preopens(char *names, size_t cap) {
    root = open(".", O_RDONLY | O_DIRECTORY);
    if (root < 0)
        return ename(errno);
    if (cap < 2)
        return "E?";
    strcpy(names, ".");
    return NULL;
}

static size_t list_bytes(char **v, int n) {
    size_t b = 0;
    for (int i = 0; i < n; i++)
        b += strlen(v[i]) + 1;
    return b;
}

static const char *get_args(int *argc, char ***argv, size_t *bytes) {
    *argc = g_argc;
    *argv = g_argv;
    *bytes = list_bytes(g_argv, g_argc);
    return NULL;
}

static const char *get_env(int *count, char ***env, size_t *bytes) {
    int n = 0;
    while (environ[n])
        n++;
    *count = n;
    *env = environ;
    *bytes = list_bytes(environ, n);
    return NULL;
}

static const char *open_file(const char *path, int create, int *fd) {
    *fd = openat(root, path, O_RDWR | (create ? O_CREAT | O_TRUNC : 0), 0644);
    return CHECK(*fd >= 0);
}

static const char *write2(int fd, const char *a, const char *b, size_t *n) {
    struct iovec iov[2] = {{(void *)a, strlen(a)}, {(void *)b, strlen(b)}};
    ssize_t w = writev(fd, iov, 2);
    *n = w < 0 ? 0 : (size_t)w;
    return CHECK(w >= 0);
}

static const char *read_some(int fd, char *buf, size_t cap, size_t *n) {
    ssize_t r = read(fd, buf, cap);
    *n = r < 0 ? 0 : (size_t)r;
    return CHECK(r >= 0);
}

static const char *seek(int fd, long long off, enum whence w, unsigned long long *pos) {
    int wh = w == W_SET ? SEEK_SET : w == W_CUR ? SEEK_CUR : w == W_END ? SEEK_END : 99;
    off_t p = lseek(fd, (off_t)off, wh);
    *pos = p < 0 ? 0 : (unsigned long long)p;
    return CHECK(p >= 0);
}

static void fill(const struct stat *s, struct st *st) {
    st->type = S_ISDIR(s->st_mode) ? T_DIR : S_ISREG(s->st_mode) ? T_REG : S_ISLNK(s->st_mode) ? T_LNK : T_OTHER;
    st->nlink = (unsigned long long)s->st_nlink;
    st->size = (unsigned long long)s->st_size;
}

static const char *stat_fd(int fd, struct st *st) {
    struct stat s;
    if (fstat(fd, &s) < 0)
        return ename(errno);
    fill(&s, st);
    return NULL;
}

static const char *stat_path(const char *path, int follow, struct st *st) {
    struct stat s;
    if (fstatat(root, path, &s, follow ? 0 : AT_SYMLINK_NOFOLLOW) < 0)
        return ename(errno);
    fill(&s, st);
    return NULL;
}

static const char *fdstat_type(int fd, enum ftype *t) {
    struct st st = {T_OTHER, 0, 0};
    const char *e = stat_fd(fd, &st);
    *t = st.type;
    return e;
}

static const char *make_link(const char *old_path, const char *new_path) {
    return CHECK(linkat(root, old_path, root, new_path, 0) == 0);
}

static const char *make_symlink(const char *target, const char *link) {
    return CHECK(symlinkat(target, root, link) == 0);
}

static const char *make_dir(const char *path) { return CHECK(mkdirat(root, path, 0755) == 0); }

static const char *unlink_file(const char *path) { return CHECK(unlinkat(root, path, 0) == 0); }

static const char *close_fd(int fd) { return CHECK(close(fd) == 0); }

static const char *poll_clock(unsigned long long userdata, unsigned long long ns, struct ev *evs, int *count) {
    struct timespec ts = {(time_t)(ns / 1000000000ull), (long)(ns % 1000000000ull)};
    while (nanosleep(&ts, &ts) < 0 && errno == EINTR) {
    }
    evs[0] = (struct ev){userdata, 0, NULL, "clock"};
    *count = 1;
    return NULL;
}

/* A regular file is always readable: only its event comes back, with the
 * bytes left to read. */
static const char *poll_clock_and_read(int fd, unsigned long long clock_ud, unsigned long long read_ud, struct ev *evs,
                                       int *count) {
    struct pollfd p = {fd, POLLIN, 0};
    int r = poll(&p, 1, 5000);
    if (r < 0)
        return ename(errno);
    if (r == 0) {
        evs[0] = (struct ev){clock_ud, 0, NULL, "clock"};
    } else {
        struct stat s;
        off_t pos = lseek(fd, 0, SEEK_CUR);
        if (fstat(fd, &s) < 0 || pos < 0)
            return ename(errno);
        evs[0] = (struct ev){read_ud, (unsigned long long)(s.st_size - pos), NULL, "fd_read"};
    }
    *count = 1;
    return NULL;
}
#endif

/* ---- the program --------------------------------------------------------- */

/* printf's %s, %d, %zu, %llu and %llx, and nothing else (libc's printf
 * family would bring preview1 imports into the wasm build). */
struct line {
    char buf[1024];
    size_t n;
};
static void put_c(struct line *l, char c) {
    if (l->n < sizeof l->buf)
        l->buf[l->n++] = c;
}
static void put_s(struct line *l, const char *s) {
    while (*s)
        put_c(l, *s++);
}
static void put_u(struct line *l, unsigned long long v, unsigned base) {
    char digits[24];
    int i = 0;
    do {
        digits[i++] = "0123456789abcdef"[v % base];
        v /= base;
    } while (v);
    while (i > 0)
        put_c(l, digits[--i]);
}

__attribute__((format(printf, 1, 2))) static void say(const char *fmt, ...) {
    struct line l = {.n = 0};
    va_list ap;
    va_start(ap, fmt);
    for (const char *f = fmt; *f; f++) {
        if (*f != '%') {
            put_c(&l, *f);
        } else if (f[1] == 's') {
            put_s(&l, va_arg(ap, const char *));
            f += 1;
        } else if (f[1] == 'd') {
            int v = va_arg(ap, int);
            if (v < 0)
                put_c(&l, '-');
            put_u(&l, v < 0 ? 0ull - (unsigned long long)v : (unsigned long long)v, 10);
            f += 1;
        } else if (f[1] == 'z' && f[2] == 'u') {
            put_u(&l, va_arg(ap, size_t), 10);
            f += 2;
        } else if (f[1] == 'l' && f[2] == 'l' && (f[3] == 'u' || f[3] == 'x')) {
            put_u(&l, va_arg(ap, unsigned long long), f[3] == 'u' ? 10 : 16);
            f += 3;
        } else {
            put_s(&l, "<bad format>");
            break;
        }
    }
    va_end(ap);
    out_bytes(l.buf, l.n);
}

static const char *ok(const char *e) { return e ? e : "OK"; }

static const char *type_name(enum ftype t) {
    switch (t) {
    case T_DIR: return "directory";
    case T_REG: return "regular file";
    case T_LNK: return "symbolic link";
    default: return "other";
    }
}

static void show_stat(const char *what, const char *e, const struct st *st) {
    if (e)
        say("%s: %s\n", what, e);
    else
        say("%s: %s, nlink %llu, size %llu\n", what, type_name(st->type), st->nlink, st->size);
}

/* Prints `n` bytes in quotes, a newline as \n, and ends the line. */
static void say_quoted(const char *s, size_t n) {
    struct line l = {.n = 0};
    put_c(&l, '"');
    for (size_t i = 0; i < n; i++) {
        if (s[i] == '\n') {
            put_s(&l, "\\n");
        } else {
            put_c(&l, s[i]);
        }
    }
    put_s(&l, "\"\n");
    out_bytes(l.buf, l.n);
}

static void show_seek(int fd, const char *what, long long off, enum whence w, size_t read_len) {
    unsigned long long pos = 0;
    const char *e = seek(fd, off, w, &pos);
    if (e) {
        say("seek %s: %s\n", what, e);
        return;
    }
    if (read_len == 0) {
        say("seek %s -> %llu\n", what, pos);
        return;
    }
    char buf[64];
    size_t n = 0;
    e = read_some(fd, buf, read_len < sizeof buf ? read_len : sizeof buf, &n);
    say("seek %s -> %llu, read %zu: ", what, pos, n);
    if (e)
        say("%s\n", e);
    else
        say_quoted(buf, n);
}

static void show_events(const char *what, const char *e, const struct ev *evs, int n) {
    if (e) {
        say("%s: %s\n", what, e);
        return;
    }
    say("%s: %d event(s)\n", what, n);
    for (int i = 0; i < n; i++)
        say("  userdata 0x%llx, type %s, error %s, nbytes %llu\n", evs[i].userdata, evs[i].type, ok(evs[i].error),
            evs[i].nbytes);
}

static _Noreturn void run(void) {
    say("== args and environment\n");
    int argc = 0, envc = 0;
    char **argv = NULL, **env = NULL;
    size_t argv_bytes = 0, env_bytes = 0;
    const char *e = get_args(&argc, &argv, &argv_bytes);
    if (e) {
        say("args: %s\n", e);
    } else {
        /* argv[0] is the program's path, which differs between runs. */
        size_t first = argc > 0 ? strlen(argv[0]) + 1 : 0;
        say("argc %d, %zu bytes of arguments after argv[0]\n", argc, argv_bytes - first);
        for (int i = 1; i < argc; i++)
            say("argv[%d] = '%s'\n", i, argv[i]);
    }
    e = get_env(&envc, &env, &env_bytes);
    if (e) {
        say("environ: %s\n", e);
    } else {
        say("environ: %d entries, %zu bytes\n", envc, env_bytes);
        for (int i = 0; i < envc; i++)
            say("  %s\n", env[i]);
    }

    say("== preopens\n");
    char names[256];
    e = list_preopens(names, sizeof names);
    if (e) {
        say("preopens: %s\n", e);
        leave(98);
    }
    say("preopens: %s\n", names);

    say("== path_open, fd_write, fd_seek (each whence), fd_read\n");
    int fd = -1;
    e = open_file("missing.txt", 0, &fd);
    say("open missing.txt: %s\n", ok(e));
    e = open_file("data.txt", 1, &fd);
    say("create data.txt: %s\n", ok(e));
    if (e)
        leave(97);
    size_t n = 0;
    e = write2(fd, "Hello, ", "preview0!\n", &n);
    say("fd_write of two iovecs: %s, %zu bytes\n", ok(e), n);
    show_seek(fd, "set 7", 7, W_SET, 4);
    show_seek(fd, "cur -4", -4, W_CUR, 7);
    show_seek(fd, "end -3", -3, W_END, 10);
    show_seek(fd, "cur 0", 0, W_CUR, 0);
    show_seek(fd, "end 0", 0, W_END, 8);
    show_seek(fd, "set 0", 0, W_SET, 5);
    show_seek(fd, "with a bad whence", 0, W_BAD, 0);
    show_seek(fd, "set -1", -1, W_SET, 0);
    show_seek(fd, "cur -100", -100, W_CUR, 0);

    say("== fd_fdstat_get, fd_filestat_get, path_filestat_get\n");
    enum ftype t = T_OTHER;
    e = fdstat_type(fd, &t);
    say("fdstat data.txt: %s\n", e ? e : type_name(t));
    struct st st = {T_OTHER, 0, 0};
    e = stat_fd(fd, &st);
    show_stat("fd_filestat_get data.txt", e, &st);
    say("link data.txt -> link.txt: %s\n", ok(make_link("data.txt", "link.txt")));
    say("link again: %s\n", ok(make_link("data.txt", "link.txt")));
    say("symlink sym -> data.txt: %s\n", ok(make_symlink("data.txt", "sym")));
    say("mkdir sub: %s\n", ok(make_dir("sub")));
    e = stat_fd(fd, &st);
    show_stat("fd_filestat_get data.txt", e, &st);
    e = stat_path("link.txt", 0, &st);
    show_stat("path_filestat_get link.txt", e, &st);
    e = stat_path("sym", 0, &st);
    show_stat("path_filestat_get sym", e, &st);
    e = stat_path("sym", 1, &st);
    show_stat("path_filestat_get sym (follow)", e, &st);
    e = stat_path("sub", 0, &st);
    if (e)
        say("path_filestat_get sub: %s\n", e);
    else
        say("path_filestat_get sub: %s\n", type_name(st.type));
    e = stat_path("nothing-here", 0, &st);
    show_stat("path_filestat_get nothing-here", e, &st);
    say("unlink link.txt: %s\n", ok(unlink_file("link.txt")));
    e = stat_path("data.txt", 1, &st);
    show_stat("path_filestat_get data.txt", e, &st);

    say("== poll_oneoff\n");
    struct ev evs[4];
    int count = 0;
    e = poll_clock(0x1234567890abcdefull, 2 * 1000 * 1000, evs, &count);
    show_events("a 2 ms monotonic clock", e, evs, count);
    unsigned long long pos = 0;
    e = seek(fd, 12, W_SET, &pos);
    say("seek set 12: %s\n", ok(e));
    e = poll_clock_and_read(fd, 0xc10c, 0xf11e, evs, &count);
    show_events("a 5 s clock and fd_read on data.txt", e, evs, count);

    say("close data.txt: %s\n", ok(close_fd(fd)));
    say("close it again: %s\n", ok(close_fd(fd)));
    say("proc_exit(17)\n");
    leave(17);
}

#ifdef __wasm__
int main(void) {
    run();
}
#else
int main(int argc, char **argv) {
    g_argc = argc;
    g_argv = argv;
    run();
}
#endif
