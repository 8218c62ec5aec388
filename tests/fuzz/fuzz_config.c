/*
 * fuzz_config.c — libFuzzer harness for the configuration file reader.
 *
 * The input is the YAML file named by --config (an in-memory file, so no
 * disk is touched). Whatever it holds, config_load() must either succeed or
 * fail with a bounded, NUL-terminated message, and config_free() must release
 * everything either way (LeakSanitizer checks the latter).
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "anomalog/config.h"

#include "fuzz_assert.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    int fd = memfd_create("anomalog-config", 0);
    FUZZ_ASSERT(fd >= 0);
    FUZZ_ASSERT(write(fd, data, size) == (ssize_t)size);
    char path[64];
    snprintf(path, sizeof path, "/proc/self/fd/%d", fd);

    char a0[] = "anomalog", a1[] = "--config";
    char *argv[] = {a0, a1, path, NULL};
    int argc = 3;
    config c;
    char err[512];
    memset(err, 'x', sizeof err);
    if (config_load(&c, &argc, argv, err, sizeof err) != 0) {
        size_t n = strnlen(err, sizeof err);
        FUZZ_ASSERT(n > 0 && n < sizeof err);
    } else {
        FUZZ_ASSERT(c.window_ms > 0);
    }
    config_free(&c);
    close(fd);
    return 0;
}
