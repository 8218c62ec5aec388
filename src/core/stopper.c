/*
 * stopper.c — the stop flag the service threads sleep on (stopper.h): the
 * window scheduler between ticks, the senders between polls of the outbox,
 * retention between batches. Shutdown is one stopper_stop(), which wakes
 * them at once instead of after their sleep.
 *
 * Threads: any number sleep at once; stopper_stop from any thread. The flag
 * is set under mu, so a thread about to sleep either sees it or is woken.
 * Limits: a sleep is at most ms; spurious wakeups sleep again until then.
 */
#include "anomalog/stopper.h"

#include <errno.h>
#include <time.h>

void stopper_init(stopper *s)
{
    pthread_mutex_init(&s->mu, NULL);
    pthread_cond_init(&s->cv, NULL);
    atomic_init(&s->stopped, 0);
}

void stopper_destroy(stopper *s)
{
    pthread_mutex_destroy(&s->mu);
    pthread_cond_destroy(&s->cv);
}

void stopper_stop(stopper *s)
{
    pthread_mutex_lock(&s->mu);
    atomic_store(&s->stopped, 1);
    pthread_cond_broadcast(&s->cv);
    pthread_mutex_unlock(&s->mu);
}

int stopper_stopped(stopper *s)
{
    return atomic_load(&s->stopped);
}

int stopper_sleep(stopper *s, int64_t ms)
{
    struct timespec until;
    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_sec += (time_t)(ms / 1000);
    until.tv_nsec += (long)(ms % 1000) * 1000000L;
    if (until.tv_nsec >= 1000000000L) {
        until.tv_sec++;
        until.tv_nsec -= 1000000000L;
    }
    pthread_mutex_lock(&s->mu);
    while (!atomic_load(&s->stopped) && pthread_cond_timedwait(&s->cv, &s->mu, &until) != ETIMEDOUT)
        ;
    int stopped = atomic_load(&s->stopped);
    pthread_mutex_unlock(&s->mu);
    return stopped;
}
