-- 004_routing: suppression of repeats, the outbox of notifications, and every delivery attempt.

-- Whether an anomaly notified or was held back by an open suppression interval.
ALTER TABLE anomalies ADD COLUMN suppressed INTEGER NOT NULL DEFAULT 0;  -- 1: no notification, a repeat
ALTER TABLE anomalies ADD COLUMN suppressed_by INTEGER;                  -- the anomaly that opened the interval

-- One open (or last) suppression interval per (service, type). Survives restarts.
CREATE TABLE suppressions (
    service_id    INTEGER NOT NULL REFERENCES services(id),
    type          TEXT NOT NULL,                -- anomaly type
    opened_by     INTEGER NOT NULL,             -- anomaly id that notified and opened the interval
    severity_rank INTEGER NOT NULL,             -- its severity, low 1 .. critical 4; higher breaks through
    opened_at     INTEGER NOT NULL,             -- ms; part of the dedup key of its notifications
    until_ms      INTEGER NOT NULL,             -- repeats before this are suppressed
    PRIMARY KEY (service_id, type)
) WITHOUT ROWID;

-- Notifications to deliver: written in the anomaly's transaction, delivered by the sender thread.
CREATE TABLE outbox (
    id              INTEGER PRIMARY KEY,
    anomaly_id      INTEGER NOT NULL REFERENCES anomalies(id),
    destination     TEXT NOT NULL,              -- destination name from the configuration
    kind            TEXT NOT NULL,              -- pagerduty | slack | alertmanager | webhook | file
    dedup_key       TEXT NOT NULL,              -- stable per service + type + suppression interval
    payload         TEXT NOT NULL,              -- the exact body, built at enqueue time
    status          TEXT NOT NULL CHECK (status IN ('pending', 'sent', 'failed', 'dry_run')),
    attempts        INTEGER NOT NULL DEFAULT 0, -- deliveries tried
    next_attempt_at INTEGER,                    -- ms; a pending row is due from then
    claimed_at      INTEGER,                    -- ms; set while a sender holds the row (lease)
    created_at      INTEGER NOT NULL,
    sent_at         INTEGER,
    last_error      TEXT
);
CREATE INDEX outbox_due ON outbox (status, next_attempt_at);

-- Each delivery attempt and its outcome.
CREATE TABLE delivery_attempts (
    id          INTEGER PRIMARY KEY,
    outbox_id   INTEGER NOT NULL REFERENCES outbox(id),
    at          INTEGER NOT NULL,               -- ms
    http_status INTEGER,                        -- NULL when no answer (refused, timeout)
    outcome     TEXT NOT NULL CHECK (outcome IN ('sent', 'retry', 'failed')),
    error       TEXT
);
CREATE INDEX delivery_attempts_by_outbox ON delivery_attempts (outbox_id);
