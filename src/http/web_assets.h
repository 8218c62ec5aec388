/* The dashboard's files, embedded at build time by cmake/embed_web.cmake. */
#ifndef ANOMALOG_WEB_ASSETS_H
#define ANOMALOG_WEB_ASSETS_H

#include <stddef.h>

struct web_asset {
    const char *name;   /* file name under src/web/ */
    const char *data;   /* its bytes, NUL-terminated */
    size_t len;
};

extern const struct web_asset web_assets[];
extern const int web_assets_count;

#endif
