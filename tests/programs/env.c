/* The environment: every variable, sorted (the test runs the native build
 * under `env -i` and kiln without inherited variables, so both see exactly
 * the variables the case sets), then getenv/setenv/unsetenv. */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

extern char **environ;

static int cmp(const void *a, const void *b) {
    return strcmp(*(char *const *)a, *(char *const *)b);
}

int main(void) {
    int n = 0;
    while (environ[n])
        n++;
    char **copy = malloc(sizeof(char *) * (size_t)(n + 1));
    for (int i = 0; i < n; i++)
        copy[i] = environ[i];
    qsort(copy, (size_t)n, sizeof(char *), cmp);
    printf("%d variables\n", n);
    for (int i = 0; i < n; i++)
        printf("  [%s]\n", copy[i]);
    const char *v = getenv("KILN_GREETING");
    printf("getenv KILN_GREETING: %s\n", v ? v : "(unset)");
    v = getenv("KILN_EMPTY");
    printf("getenv KILN_EMPTY: %s\n", v ? (*v ? v : "(empty)") : "(unset)");
    v = getenv("KILN_NOT_SET");
    printf("getenv KILN_NOT_SET: %s\n", v ? v : "(unset)");
    setenv("KILN_NEW", "made here", 1);
    printf("after setenv: %s\n", getenv("KILN_NEW"));
    unsetenv("KILN_GREETING");
    v = getenv("KILN_GREETING");
    printf("after unsetenv: %s\n", v ? v : "(unset)");
    return 0;
}
