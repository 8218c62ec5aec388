/*
 * sender.c — the sender threads: deliver the notifications the store wrote
 * into its outbox, in the same transaction as their anomalies.
 *
 * Threads: notify.senders sender threads (4), started by notifier_start().
 * Each claims one due row at a time with a lease (the row's next attempt is
 * pushed past the longest delivery), delivers it, and records the attempt and
 * its outcome; so a receiver that hangs holds up one sender until
 * notify.timeout, not every other destination's notifications.
 * A crash leaves at most leased rows; the next start makes them due at once,
 * so nothing queued is lost and a notification may at worst be delivered
 * twice (at-least-once: a kill between the receiver's answer and the record
 * of it sends the row again). Every delivery of a row carries the same bytes
 * and header X-Anomalog-Notification-Id (the row's id, as in GET
 * /notifications), so a receiver drops a repeat by that id; the dedup key
 * folds repeats of the same (service, type) interval.
 *
 * Order: the claim (store/outbox.c) hands out the rows of one dedup key and
 * destination in the order they were queued, one at a time, so senders side
 * by side never deliver an incident's update or resolve before its open (an
 * open held for incident.group_wait is simply not due yet).
 *
 * Outcomes: 2xx is sent. No answer (refused, timeout), 408, 425, 429 and 5xx
 * are retried after retry_base doubling per attempt up to retry_max, with
 * ±20% jitter, and never sooner than Retry-After says. Any other status is a
 * permanent refusal: failed at once. A notification still undelivered
 * notify.give_up after it was queued is failed.
 *
 * Bodies are sent exactly as stored. PagerDuty's routing key and a webhook's
 * HMAC-SHA256 signature (header X-Anomalog-Signature: sha256=<hex>) are added
 * here, from the configuration, never from the database or the logs.
 */
#include "anomalog/notifier.h"

#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "anomalog/backoff.h"
#include "anomalog/metrics.h"
#include "anomalog/stopper.h"
#include "anomalog/log.h"
#include "anomalog/timeutil.h"

#define IDLE_POLL_MS 200
#define LEASE_EXTRA_MS 30000

typedef struct sender {
    struct notifier *nt;
    pthread_t thread;
} sender;

struct notifier {
    store *st;
    const config *cfg;
    sender senders[NOTIFY_MAX_SENDERS];
    size_t started;
    stopper stop;
    atomic_ullong sent, retried, failed;
};

typedef struct attempt {
    int http_status;        /* -1: no answer */
    char error[512];
    int64_t retry_after_ms; /* -1: none */
    int permanent;          /* refused for good */
} attempt;

typedef struct resp_buf {
    char body[256];
    size_t len;
} resp_buf;

static size_t on_body(char *p, size_t size, size_t nmemb, void *arg)
{
    resp_buf *r = arg;
    size_t n = size * nmemb, room = sizeof r->body - 1 - r->len;
    size_t k = n < room ? n : room;
    memcpy(r->body + r->len, p, k);
    r->len += k;
    r->body[r->len] = '\0';
    return n;
}

/* Aborts a delivery in progress when the service stops; the row is retried at the next start. */
static int on_progress(void *arg, curl_off_t dt, curl_off_t dn, curl_off_t ut, curl_off_t un)
{
    (void)dt;
    (void)dn;
    (void)ut;
    (void)un;
    return stopper_stopped(&((notifier *)arg)->stop);
}

static void hmac_hex(const char *key, const char *body, size_t len, char *out /* 65 */)
{
    unsigned char mac[EVP_MAX_MD_SIZE];
    unsigned int n = 0;
    HMAC(EVP_sha256(), key, (int)strlen(key), (const unsigned char *)body, len, mac, &n);
    for (unsigned i = 0; i < n && i < 32; i++)
        sprintf(out + 2 * i, "%02x", mac[i]);
    out[64] = '\0';
}

static void post(notifier *nt, const route_dest *d, const outbox_item *it, attempt *at)
{
    char url[2200];
    const char *body = it->payload;
    char *owned = NULL;
    if (d->kind == DEST_ALERTMANAGER) {
        size_t n = strlen(d->url);
        snprintf(url, sizeof url, "%.*s/api/v2/alerts", (int)(n && d->url[n - 1] == '/' ? n - 1 : n), d->url);
    } else {
        snprintf(url, sizeof url, "%s", d->url);
    }
    if (d->kind == DEST_PAGERDUTY) {
        json_t *j = json_loads(it->payload, JSON_PRESERVE_ORDER, NULL);
        if (j) {
            json_object_set_new(j, "routing_key", json_string(d->routing_key));
            owned = json_dumps(j, JSON_COMPACT | JSON_PRESERVE_ORDER);
            json_decref(j);
        }
        if (!owned) {
            snprintf(at->error, sizeof at->error, "out of memory");
            return;
        }
        body = owned;
    }
    CURL *c = curl_easy_init();
    struct curl_slist *h = NULL;
    resp_buf rb = {0};
    if (!c) {
        snprintf(at->error, sizeof at->error, "cannot start an HTTP client");
        free(owned);
        return;
    }
    char hdr[400];
    h = curl_slist_append(h, "Content-Type: application/json");
    h = curl_slist_append(h, "Expect:");
    snprintf(hdr, sizeof hdr, "X-Anomalog-Dedup-Key: %s", it->dedup_key);
    h = curl_slist_append(h, hdr);
    snprintf(hdr, sizeof hdr, "X-Anomalog-Notification-Id: %lld", (long long)it->id);
    h = curl_slist_append(h, hdr);
    if (d->kind == DEST_WEBHOOK && d->secret && *d->secret) {
        char hex[65];
        hmac_hex(d->secret, body, strlen(body), hex);
        snprintf(hdr, sizeof hdr, "X-Anomalog-Signature: sha256=%s", hex);
        h = curl_slist_append(h, hdr);
    }
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_POST, 1L);
    curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
    curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE, (long)strlen(body));
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, (long)nt->cfg->notify_timeout_ms);
    curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, (long)nt->cfg->notify_timeout_ms);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_USERAGENT, "anomalog/" ANOMALOG_VERSION);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &rb);
    curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(c, CURLOPT_NOPROGRESS, 0L);
    curl_easy_setopt(c, CURLOPT_XFERINFOFUNCTION, on_progress);
    curl_easy_setopt(c, CURLOPT_XFERINFODATA, nt);
    CURLcode cc = curl_easy_perform(c);
    if (cc != CURLE_OK) {
        snprintf(at->error, sizeof at->error, "%s", curl_easy_strerror(cc));
    } else {
        long st = 0;
        curl_off_t ra = 0; /* curl reads Retry-After's seconds or HTTP date; 0 when absent */
        curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &st);
        at->http_status = (int)st;
        if (curl_easy_getinfo(c, CURLINFO_RETRY_AFTER, &ra) == CURLE_OK && ra > 0)
            at->retry_after_ms = ra > INT64_MAX / 1000 ? INT64_MAX : (int64_t)ra * 1000;
        if (st < 200 || st >= 300) {
            snprintf(at->error, sizeof at->error, "HTTP %ld: %.200s", st, rb.body);
            at->permanent = !(st == 408 || st == 425 || st == 429 || st >= 500);
        }
    }
    curl_slist_free_all(h);
    curl_easy_cleanup(c);
    free(owned);
}

static void append_file(const route_dest *d, const outbox_item *it, attempt *at)
{
    int fd = open(d->path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0640);
    if (fd < 0) {
        snprintf(at->error, sizeof at->error, "%s: %s", d->path, strerror(errno));
        return;
    }
    size_t n = strlen(it->payload);
    char *line = malloc(n + 1);
    if (!line) {
        close(fd);
        snprintf(at->error, sizeof at->error, "out of memory");
        return;
    }
    memcpy(line, it->payload, n);
    line[n] = '\n';
    ssize_t w = write(fd, line, n + 1); /* one write: O_APPEND keeps lines whole */
    free(line);
    if (w != (ssize_t)(n + 1) || fsync(fd) != 0)
        snprintf(at->error, sizeof at->error, "%s: %s", d->path, w < 0 ? strerror(errno) : "short write");
    close(fd);
}

static void deliver(sender *se, outbox_item *it)
{
    notifier *nt = se->nt;
    attempt at = {.http_status = -1, .retry_after_ms = -1};
    const route_dest *d = route_dest_find(&nt->cfg->routing, it->destination);
    if (!d)
        snprintf(at.error, sizeof at.error, "destination \"%s\" is no longer configured", it->destination);
    else if (d->kind == DEST_FILE)
        append_file(d, it, &at);
    else
        post(nt, d, it, &at);
    int64_t now = time_now_ms();
    const char *outcome = "sent";
    int64_t next = 0;
    char msg[640];
    snprintf(msg, sizeof msg, "%s", at.error);
    if (at.error[0]) {
        int64_t wait = backoff_ms(nt->cfg->notify_retry_base_ms, nt->cfg->notify_retry_max_ms, it->attempts + 1, 1);
        next = now + (at.retry_after_ms > wait ? at.retry_after_ms : wait); /* never sooner than Retry-After */
        if (stopper_stopped(&nt->stop)) {
            outcome = "retry"; /* interrupted by shutdown: due again at the next start */
            next = now;
        } else if (at.permanent) {
            outcome = "failed";
        } else if (next - it->created_at > nt->cfg->notify_give_up_ms) {
            outcome = "failed";
            snprintf(msg, sizeof msg, "gave up after %d attempt(s): %.500s", it->attempts + 1, at.error);
        } else {
            outcome = "retry";
        }
    }
    char err[256];
    if (store_outbox_record(nt->st, it->id, now, at.http_status, outcome, at.error[0] ? msg : NULL, next, err,
                            sizeof err) != STORE_OK)
        log_msg(LOG_ERROR, "notify", "recording delivery %lld: %s", (long long)it->id, err);
    metrics_notification(it->destination, outcome);
    if (!strcmp(outcome, "sent")) {
        atomic_fetch_add(&nt->sent, 1);
    } else if (!strcmp(outcome, "retry")) {
        atomic_fetch_add(&nt->retried, 1);
    } else {
        atomic_fetch_add(&nt->failed, 1);
        log_msg(LOG_ERROR, "notify", "%s (%s) for anomaly %lld failed: %s", it->destination, it->kind,
                (long long)it->anomaly_id, msg);
    }
}

static void *sender_main(void *arg)
{
    sender *se = arg;
    notifier *nt = se->nt;
    while (!stopper_stopped(&nt->stop)) {
        outbox_item it;
        char err[256];
        store_rc rc = store_outbox_claim(nt->st, time_now_ms(), nt->cfg->notify_timeout_ms + LEASE_EXTRA_MS, &it, err,
                                         sizeof err);
        if (rc == STORE_OK) {
            deliver(se, &it);
            outbox_item_free(&it);
            continue;
        }
        if (rc != STORE_NOTFOUND)
            log_msg(LOG_ERROR, "notify", "%s", err);
        stopper_sleep(&nt->stop, IDLE_POLL_MS);
    }
    return NULL;
}

notifier *notifier_start(store *st, const config *cfg, char *err, size_t errlen)
{
    int recovered = 0;
    if (store_outbox_recover(st, time_now_ms(), &recovered, err, errlen) != STORE_OK)
        return NULL;
    if (recovered)
        log_msg(LOG_WARN | LOG_BARE, "notify", "%d notification(s) interrupted in delivery are due again", recovered);
    notifier *nt = calloc(1, sizeof *nt);
    if (!nt) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    nt->st = st;
    nt->cfg = cfg;
    stopper_init(&nt->stop);
    size_t want = cfg->notify_senders < 1 ? 1 : cfg->notify_senders > NOTIFY_MAX_SENDERS ? NOTIFY_MAX_SENDERS : cfg->notify_senders;
    for (; nt->started < want; nt->started++) {
        sender *se = &nt->senders[nt->started];
        se->nt = nt;
        if (pthread_create(&se->thread, NULL, sender_main, se) != 0) {
            snprintf(err, errlen, "cannot start notification sender %zu", nt->started + 1);
            notifier_stop(nt);
            return NULL;
        }
    }
    return nt;
}

void notifier_stop(notifier *nt)
{
    if (!nt)
        return;
    stopper_stop(&nt->stop);
    for (size_t i = 0; i < nt->started; i++)
        pthread_join(nt->senders[i].thread, NULL);
    stopper_destroy(&nt->stop);
    free(nt);
}

void notifier_get_stats(notifier *nt, notifier_stats *out)
{
    out->sent = atomic_load(&nt->sent);
    out->retried = atomic_load(&nt->retried);
    out->failed = atomic_load(&nt->failed);
}
