/* Clocks, sleeping, polling, yielding and randomness. Only deterministic
 * facts are printed: that clocks have a resolution, that the monotonic
 * clock never goes back and advances across a sleep by at least the time
 * slept, that the wall clock is after 2020, that random bytes differ. */
#define _GNU_SOURCE
#include "common.h"

#include <fcntl.h>
#include <poll.h>
#include <sched.h>
#include <stdint.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static int64_t ns(clockid_t clock) {
    struct timespec ts;
    check(clock_gettime(clock, &ts) == 0, "clock_gettime");
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static volatile uint32_t sink;

static void busy(int iterations) {
    uint32_t x = 1;
    for (int i = 0; i < iterations; i++)
        x = x * 1664525u + 1013904223u;
    sink = x;
}

int main(void) {
    struct {
        const char *name;
        clockid_t id;
    } clocks[] = {
        {"realtime", CLOCK_REALTIME},
        {"monotonic", CLOCK_MONOTONIC},
        {"process cputime", CLOCK_PROCESS_CPUTIME_ID},
        {"thread cputime", CLOCK_THREAD_CPUTIME_ID},
    };
    for (size_t i = 0; i < sizeof clocks / sizeof clocks[0]; i++) {
        struct timespec res;
        int rc = clock_getres(clocks[i].id, &res);
        int64_t r = (int64_t)res.tv_sec * 1000000000 + res.tv_nsec;
        printf("%s: getres %s, resolution positive and at most 10ms: %d\n", clocks[i].name,
               rc == 0 ? "OK" : errno_name(errno), rc == 0 && r > 0 && r <= 10000000);
    }

    int64_t wall = ns(CLOCK_REALTIME);
    printf("realtime after 2020-01-01: %d\n", wall > INT64_C(1577836800) * 1000000000);
    printf("time() agrees with realtime: %d\n",
           (int64_t)time(NULL) - wall / 1000000000 <= 1 && (int64_t)time(NULL) >= wall / 1000000000);

    int64_t prev = ns(CLOCK_MONOTONIC), first = prev;
    int went_back = 0;
    for (int i = 0; i < 1000; i++) {
        int64_t now = ns(CLOCK_MONOTONIC);
        went_back |= now < prev;
        prev = now;
    }
    printf("monotonic never went back over 1000 reads: %d\n", !went_back);

    int64_t cpu0 = ns(CLOCK_PROCESS_CPUTIME_ID);
    int64_t th0 = ns(CLOCK_THREAD_CPUTIME_ID);
    busy(2000000);
    int64_t cpu1 = ns(CLOCK_PROCESS_CPUTIME_ID);
    int64_t th1 = ns(CLOCK_THREAD_CPUTIME_ID);
    printf("process cputime advanced over busy work: %d\n", cpu1 > cpu0);
    printf("thread cputime advanced over busy work: %d\n", th1 > th0);

    /* Sleeping (poll_oneoff with a clock subscription in WASI). */
    int64_t before = ns(CLOCK_MONOTONIC);
    struct timespec req = {0, 20 * 1000000};
    report("nanosleep 20ms", nanosleep(&req, NULL));
    int64_t slept = ns(CLOCK_MONOTONIC) - before;
    printf("monotonic advanced by >= 20ms: %d\n", slept >= 20 * 1000000);
    before = ns(CLOCK_MONOTONIC);
    report("usleep 5ms", usleep(5000));
    printf("monotonic advanced by >= 5ms: %d\n", ns(CLOCK_MONOTONIC) - before >= 5 * 1000000);
    /* An absolute-time sleep on the monotonic clock. */
    struct timespec until;
    clock_gettime(CLOCK_MONOTONIC, &until);
    until.tv_nsec += 10 * 1000000;
    if (until.tv_nsec >= 1000000000) {
        until.tv_sec++;
        until.tv_nsec -= 1000000000;
    }
    int rc = clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &until, NULL);
    printf("clock_nanosleep absolute: %s\n", errno_name(rc));
    printf("reached the absolute deadline: %d\n",
           ns(CLOCK_MONOTONIC) >= (int64_t)until.tv_sec * 1000000000 + until.tv_nsec);
    printf("monotonic total elapsed >= 35ms: %d\n", ns(CLOCK_MONOTONIC) - first >= 35 * 1000000);

    /* poll: a regular file is always ready for reading and writing; a poll
     * with no descriptors and a timeout just waits. */
    int fd = open("poll.txt", O_RDWR | O_CREAT | O_TRUNC, 0644);
    check(fd >= 0, "open poll.txt");
    write(fd, "data", 4);
    lseek(fd, 0, SEEK_SET);
    struct pollfd p[2] = {{fd, POLLIN, 0}, {fd, POLLOUT, 0}};
    int ready = poll(p, 2, 1000);
    printf("poll file: %d ready, readable %d, writable %d\n", ready, (p[0].revents & POLLIN) != 0,
           (p[1].revents & POLLOUT) != 0);
    close(fd);
    unlink("poll.txt");
    before = ns(CLOCK_MONOTONIC);
    ready = poll(NULL, 0, 15);
    printf("poll timeout: %d ready, waited >= 15ms: %d\n", ready,
           ns(CLOCK_MONOTONIC) - before >= 15 * 1000000);

    report("sched_yield", sched_yield());

    /* Randomness. */
    unsigned char a[32], b[32];
    report("getentropy a", getentropy(a, sizeof a));
    report("getentropy b", getentropy(b, sizeof b));
    printf("two random buffers differ: %d\n", memcmp(a, b, sizeof a) != 0);
    int distinct = 0;
    unsigned char seen[256] = {0};
    unsigned char big[256];
    check(getentropy(big, sizeof big) == 0, "getentropy 256");
    for (int i = 0; i < 256; i++)
        if (!seen[big[i]]++)
            distinct++;
    printf("256 random bytes have more than 100 distinct values: %d\n", distinct > 100);
    return 0;
}
