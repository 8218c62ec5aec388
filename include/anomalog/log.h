/**
 * @file log.h
 * @brief anomalog's own diagnostics on stderr: text lines as always, or one JSON object per line.
 *
 * Text mode prints `anomalog: COMPONENT: MESSAGE` (or `anomalog: MESSAGE` with
 * LOG_BARE), the lines anomalog has always printed. JSON mode prints
 * `{"ts":"<RFC 3339, ms, UTC>","level":"info","component":"http","msg":"..."}`.
 * Either way a line goes out in one write(2), so lines of different threads
 * never interleave.
 *
 * LOG_NOTICE is the lifecycle level: the startup line ("listening on HOST:PORT (…)")
 * and the shutdown lines ("draining", "stopped after …"). It is never filtered,
 * whatever log.level says, because supervisors and the test harness read the
 * port and the end of a run from those lines. In JSON mode their msg field
 * holds the same text as in text mode, so a search for "listening on HOST:PORT ("
 * or "stopped after" finds them in either format.
 *
 * Before log_init the mode is text and the level info.
 */
#ifndef ANOMALOG_LOG_H
#define ANOMALOG_LOG_H

#include <stdarg.h>

enum {
    LOG_DEBUG = 0,
    LOG_INFO = 1,
    LOG_WARN = 2,
    LOG_ERROR = 3,
    LOG_NOTICE = 4, /**< lifecycle lines; never filtered */
    LOG_LEVEL_MASK = 0xff,
    LOG_BARE = 0x100,     /**< OR into the level: text mode leaves the component out of the line */
    LOG_VERSIONED = 0x200 /**< OR into the level: text mode's prefix is `anomalog VERSION: ` (the startup line) */
};

/** json: 1 for JSON lines, 0 for text; min_level: LOG_DEBUG … LOG_ERROR. Call once, before threads start. */
void log_init(int json, int min_level);

/** Logs a printf-style message from component (a short name: "http", "analysis", …). Thread-safe. */
void log_msg(int level, const char *component, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/** log_msg with a va_list. */
void log_vmsg(int level, const char *component, const char *fmt, va_list ap) __attribute__((format(printf, 3, 0)));

/** 1 when a message at level would be written. */
int log_enabled(int level);

#endif
