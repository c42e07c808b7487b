/* CPU-heavy: qsort and bsearch with several comparators (called through
 * function pointers) over integers, strings and structs. Every comparator
 * is a total order, so the result does not depend on the libc's sort
 * algorithm (glibc's and wasi-libc's differ, and neither need be stable). */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static uint32_t state = 2463534242u;
static uint32_t next(void) {
    state ^= state << 13;
    state ^= state >> 17;
    state ^= state << 5;
    return state;
}

typedef struct {
    int32_t key;
    uint32_t id;
    char name[12];
    double score;
} rec;

static int cmp_int_asc(const void *a, const void *b) {
    int32_t x = *(const int32_t *)a, y = *(const int32_t *)b;
    return (x > y) - (x < y);
}
static int cmp_int_desc(const void *a, const void *b) { return cmp_int_asc(b, a); }
static int cmp_int_abs_then_value(const void *a, const void *b) {
    int64_t x = *(const int32_t *)a, y = *(const int32_t *)b;
    int64_t ax = x < 0 ? -x : x, ay = y < 0 ? -y : y;
    if (ax != ay)
        return (ax > ay) - (ax < ay);
    return (x > y) - (x < y);
}
static int cmp_int_parity_then_value(const void *a, const void *b) {
    int32_t x = *(const int32_t *)a, y = *(const int32_t *)b;
    int px = x & 1, py = y & 1;
    if (px != py)
        return px - py;
    return (x > y) - (x < y);
}
static int cmp_str(const void *a, const void *b) {
    return strcmp(*(char *const *)a, *(char *const *)b);
}
static int cmp_str_len_then_rev(const void *a, const void *b) {
    const char *x = *(char *const *)a, *y = *(char *const *)b;
    size_t lx = strlen(x), ly = strlen(y);
    if (lx != ly)
        return (lx > ly) - (lx < ly);
    return strcmp(y, x);
}
static int cmp_rec_score(const void *a, const void *b) {
    const rec *x = a, *y = b;
    if (x->score != y->score)
        return x->score < y->score ? -1 : 1;
    return (x->id > y->id) - (x->id < y->id);
}
static int cmp_rec_name_key(const void *a, const void *b) {
    const rec *x = a, *y = b;
    int c = strcmp(x->name, y->name);
    if (c)
        return c;
    if (x->key != y->key)
        return (x->key > y->key) - (x->key < y->key);
    return (x->id > y->id) - (x->id < y->id);
}

static uint32_t checksum_ints(const int32_t *v, size_t n) {
    uint32_t h = 0;
    for (size_t i = 0; i < n; i++)
        h = h * 1000003u ^ (uint32_t)v[i];
    return h;
}

static int is_sorted(const void *base, size_t n, size_t size, int (*cmp)(const void *, const void *)) {
    const char *p = base;
    for (size_t i = 1; i < n; i++)
        if (cmp(p + (i - 1) * size, p + i * size) > 0)
            return 0;
    return 1;
}

#define N 20000
#define NS 3000
#define NR 5000

int main(void) {
    static int32_t orig[N], v[N];
    for (size_t i = 0; i < N; i++)
        orig[i] = (int32_t)(next() % 200001) - 100000;

    struct {
        const char *name;
        int (*cmp)(const void *, const void *);
    } int_cmps[] = {
        {"ascending", cmp_int_asc},
        {"descending", cmp_int_desc},
        {"by |x| then x", cmp_int_abs_then_value},
        {"evens first", cmp_int_parity_then_value},
    };
    for (size_t c = 0; c < sizeof int_cmps / sizeof int_cmps[0]; c++) {
        memcpy(v, orig, sizeof v);
        qsort(v, N, sizeof v[0], int_cmps[c].cmp);
        printf("ints %-14s sorted %d first %7d %7d %7d last %7d checksum %08x\n", int_cmps[c].name,
               is_sorted(v, N, sizeof v[0], int_cmps[c].cmp), v[0], v[1], v[2], v[N - 1],
               checksum_ints(v, N));
    }

    /* bsearch in the ascending order. */
    memcpy(v, orig, sizeof v);
    qsort(v, N, sizeof v[0], cmp_int_asc);
    int found = 0;
    for (int32_t k = -100000; k <= 100000; k += 97)
        found += bsearch(&k, v, N, sizeof v[0], cmp_int_asc) != NULL;
    printf("bsearch found %d of %d keys\n", found, 200001 / 97 + 1);

    /* Strings. */
    static char pool[NS][16];
    static char *strs[NS];
    for (size_t i = 0; i < NS; i++) {
        size_t len = 1 + next() % 10;
        for (size_t j = 0; j < len; j++)
            pool[i][j] = (char)('a' + next() % 6);
        pool[i][len] = 0;
        strs[i] = pool[i];
    }
    qsort(strs, NS, sizeof strs[0], cmp_str);
    printf("strings lexicographic sorted %d: %s %s %s ... %s\n", is_sorted(strs, NS, sizeof strs[0], cmp_str),
           strs[0], strs[1], strs[2], strs[NS - 1]);
    size_t distinct = 1;
    for (size_t i = 1; i < NS; i++)
        distinct += strcmp(strs[i - 1], strs[i]) != 0;
    printf("distinct strings: %zu\n", distinct);
    qsort(strs, NS, sizeof strs[0], cmp_str_len_then_rev);
    printf("strings by length, reverse sorted %d: %s %s ... %s %s\n",
           is_sorted(strs, NS, sizeof strs[0], cmp_str_len_then_rev), strs[0], strs[1], strs[NS - 2],
           strs[NS - 1]);

    /* Structs. */
    static rec recs[NR];
    for (size_t i = 0; i < NR; i++) {
        recs[i].key = (int32_t)(next() % 100);
        recs[i].id = (uint32_t)i;
        snprintf(recs[i].name, sizeof recs[i].name, "n%02u", (unsigned)(next() % 50));
        recs[i].score = (double)(next() % 1000) / 8.0;
    }
    qsort(recs, NR, sizeof recs[0], cmp_rec_score);
    printf("records by score sorted %d: first id %u score %.3f, last id %u score %.3f\n",
           is_sorted(recs, NR, sizeof recs[0], cmp_rec_score), recs[0].id, recs[0].score,
           recs[NR - 1].id, recs[NR - 1].score);
    qsort(recs, NR, sizeof recs[0], cmp_rec_name_key);
    uint32_t h = 0;
    for (size_t i = 0; i < NR; i++)
        h = h * 31 + recs[i].id;
    printf("records by name, key sorted %d: first %s/%d/%u last %s/%d/%u order hash %08x\n",
           is_sorted(recs, NR, sizeof recs[0], cmp_rec_name_key), recs[0].name, recs[0].key, recs[0].id,
           recs[NR - 1].name, recs[NR - 1].key, recs[NR - 1].id, h);
    return 0;
}
