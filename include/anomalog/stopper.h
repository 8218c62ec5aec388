/**
 * @file stopper.h
 * @brief The stop flag a service thread sleeps on between rounds: it sleeps
 *        a while unless stopped, and stopping wakes every sleeper at once.
 */
#ifndef ANOMALOG_STOPPER_H
#define ANOMALOG_STOPPER_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>

typedef struct stopper {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    atomic_int stopped; /**< set under mu (so a sleeper cannot miss it), read anywhere */
} stopper;

void stopper_init(stopper *s);
void stopper_destroy(stopper *s);
/** Sets the flag and wakes every thread in stopper_sleep(). */
void stopper_stop(stopper *s);
/** 1 once stopper_stop() has been called. */
int stopper_stopped(stopper *s);
/** Sleeps ms (wall clock) or until stopped, whichever comes first. @return stopper_stopped(). */
int stopper_sleep(stopper *s, int64_t ms);

#endif
