/**
 * @file window.h
 * @brief The window scheduler: closes the windows that are due and says so.
 *
 * Between the store (where a window's state lives) and the analysis (which
 * claims closed windows): every tick it closes the windows whose service's
 * watermark passed end + grace, or that saw nothing for grace of wall-clock
 * time after their end and last line, and calls the wake function when it
 * closed any. It knows nothing of the analysis but that function.
 */
#ifndef ANOMALOG_WINDOW_H
#define ANOMALOG_WINDOW_H

#include <stddef.h>
#include <stdint.h>

#include "anomalog/store.h"

typedef struct window_scheduler window_scheduler;

/** Called on the scheduler's thread after a tick closed at least one window. */
typedef void (*window_wake_fn)(void *arg);

/**
 * Starts the scheduler thread: a tick every tick_ms (> 0), closing what
 * store_windows_close() finds due with grace_ms. wake(arg) is called after a
 * tick that closed any window (wake may be NULL).
 * @return the scheduler, or NULL with err
 */
window_scheduler *window_scheduler_start(store *st, int64_t grace_ms, int64_t tick_ms, window_wake_fn wake,
                                         void *arg, char *err, size_t errlen);

/** Stops the thread at once (a tick in progress ends first). Accepts NULL. */
void window_scheduler_stop(window_scheduler *ws);

#endif
