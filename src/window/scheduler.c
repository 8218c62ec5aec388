/*
 * scheduler.c — the window scheduler: the thread that closes due windows.
 *
 * Purpose: a window [start, start+length) of one service closes when the
 * service's watermark passes its end plus grace, or when nothing arrived for
 * grace of wall-clock time after its end and its last line. Which windows
 * are due is one statement of the store (store_windows_close); this room
 * decides when to ask: every tick, and it tells the analysis through the wake
 * function when a tick closed anything. POST /windows/flush and replay close
 * windows with force on their own threads, through the same store call.
 *
 * Threads: one, started by window_scheduler_start(). It shares only the
 * store (itself thread-safe: each close is one transaction) and its stop
 * flag (stopper.h), which wakes a sleeping tick at once rather than after
 * tick_ms.
 *
 * Invariants: window state lives only in the database, so a crash between
 * ticks loses nothing; the next start closes what came due meanwhile.
 * Limits: one statement per tick; a failed tick is logged and the next one
 * tries again.
 */
#include "anomalog/window.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>

#include "anomalog/log.h"
#include "anomalog/stopper.h"
#include "anomalog/timeutil.h"

struct window_scheduler {
    store *st;
    int64_t grace_ms, tick_ms;
    window_wake_fn wake;
    void *wake_arg;
    stopper stop;
    pthread_t thread;
};

static void *window_scheduler_main(void *arg)
{
    window_scheduler *ws = arg;
    do {
        char err[256];
        int closed = 0;
        if (store_windows_close(ws->st, time_now_ms(), ws->grace_ms, 0, NULL, &closed, err, sizeof err) != STORE_OK)
            log_msg(LOG_ERROR, "scheduler", "%s", err);
        else if (closed && ws->wake)
            ws->wake(ws->wake_arg);
    } while (!stopper_sleep(&ws->stop, ws->tick_ms));
    return NULL;
}

window_scheduler *window_scheduler_start(store *st, int64_t grace_ms, int64_t tick_ms, window_wake_fn wake,
                                         void *arg, char *err, size_t errlen)
{
    if (tick_ms <= 0) {
        snprintf(err, errlen, "the window scheduler's tick must be positive");
        return NULL;
    }
    window_scheduler *ws = calloc(1, sizeof *ws);
    if (!ws) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    *ws = (window_scheduler){.st = st, .grace_ms = grace_ms, .tick_ms = tick_ms, .wake = wake, .wake_arg = arg};
    stopper_init(&ws->stop);
    if (pthread_create(&ws->thread, NULL, window_scheduler_main, ws) != 0) {
        stopper_destroy(&ws->stop);
        free(ws);
        snprintf(err, errlen, "cannot start the window scheduler");
        return NULL;
    }
    return ws;
}

void window_scheduler_stop(window_scheduler *ws)
{
    if (!ws)
        return;
    stopper_stop(&ws->stop);
    pthread_join(ws->thread, NULL);
    stopper_destroy(&ws->stop);
    free(ws);
}
