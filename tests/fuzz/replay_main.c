/*
 * replay_main.c — runs a libFuzzer harness over files, without libFuzzer.
 *
 * Each fuzz_<name>.c is also linked with this main() into replay_<name>, a
 * ctest that feeds it every input under tests/fuzz/corpus/fuzz_<name>/: the
 * seeds and every crash input a fuzz run found (kept there as regressions).
 * It runs in the ordinary builds, so the plain and the ASan+UBSan ctest
 * passes both replay them. A harness aborts on a broken invariant.
 *
 *   replay_<name> DIR|FILE ...
 */
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define REPLAY_MAX_INPUT (4u << 20) /* larger inputs are not kept as seeds */

static int run_file(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        perror(path);
        return -1;
    }
    uint8_t *buf = malloc(REPLAY_MAX_INPUT);
    size_t n = buf ? fread(buf, 1, REPLAY_MAX_INPUT, f) : 0;
    int too_big = buf && n == REPLAY_MAX_INPUT && fgetc(f) != EOF;
    fclose(f);
    if (!buf || too_big) {
        fprintf(stderr, "%s: %s\n", path, buf ? "larger than 4 MiB" : "out of memory");
        free(buf);
        return -1;
    }
    /* an exact-size copy, so ASan sees reads past the input's end */
    uint8_t *in = malloc(n ? n : 1);
    if (!in) {
        free(buf);
        return -1;
    }
    memcpy(in, buf, n);
    free(buf);
    LLVMFuzzerTestOneInput(in, n);
    free(in);
    return 0;
}

static int cmp(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static int run_dir(const char *dir, size_t *count)
{
    DIR *d = opendir(dir);
    if (!d) {
        perror(dir);
        return -1;
    }
    char **names = NULL;
    size_t n = 0, cap = 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        if (e->d_name[0] == '.')
            continue;
        if (n == cap) {
            cap = cap ? cap * 2 : 64;
            char **grown = realloc(names, cap * sizeof *names);
            if (!grown)
                break;
            names = grown;
        }
        names[n++] = strdup(e->d_name);
    }
    closedir(d);
    qsort(names, n, sizeof *names, cmp);
    int rc = 0;
    char path[4096];
    for (size_t i = 0; i < n; i++) {
        snprintf(path, sizeof path, "%s/%s", dir, names[i]);
        if (rc == 0 && run_file(path) == 0)
            ++*count;
        else
            rc = -1;
        free(names[i]);
    }
    free(names);
    return rc;
}

int main(int argc, char **argv)
{
    size_t count = 0;
    for (int i = 1; i < argc; i++) {
        struct stat st;
        if (stat(argv[i], &st) != 0) {
            perror(argv[i]);
            return 1;
        }
        if (S_ISDIR(st.st_mode)) {
            if (run_dir(argv[i], &count) != 0)
                return 1;
        } else if (run_file(argv[i]) == 0) {
            count++;
        } else {
            return 1;
        }
    }
    if (count == 0) {
        fprintf(stderr, "no inputs\n");
        return 1;
    }
    printf("%zu inputs replayed\n", count);
    return 0;
}
