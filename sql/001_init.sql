-- 001_init: services, their windows, and the log entries that fall into them.
-- Times are integers: milliseconds since the Unix epoch, UTC.

-- One row per service name seen in ingestion.
CREATE TABLE services (
    id          INTEGER PRIMARY KEY,
    name        TEXT NOT NULL UNIQUE,          -- as sent by the shipper, 1..128 bytes
    watermark   INTEGER,                       -- largest event time ingested for the service
    last_seen   INTEGER NOT NULL,              -- receive time of the service's newest line
    created_at  INTEGER NOT NULL
);

-- A window is [start_ms, end_ms) of one service, aligned to its length.
CREATE TABLE windows (
    id          INTEGER PRIMARY KEY,
    service_id  INTEGER NOT NULL REFERENCES services(id),
    start_ms    INTEGER NOT NULL,
    end_ms      INTEGER NOT NULL,
    status      TEXT NOT NULL DEFAULT 'open'
                CHECK (status IN ('open', 'closed', 'analyzing', 'analyzed', 'failed')),
    line_count  INTEGER NOT NULL DEFAULT 0,    -- every line stored in the window, late ones included
    late_count  INTEGER NOT NULL DEFAULT 0,    -- lines that arrived after the window closed
    last_line_at INTEGER,                      -- receive time of the newest line (wall clock)
    UNIQUE (service_id, start_ms)
);
-- Listing newest first, across services and per service.
CREATE INDEX windows_by_start ON windows (start_ms DESC, id DESC);
CREATE INDEX windows_by_status ON windows (status, end_ms);

-- Log entries. The service is the window's; rowid order is arrival order.
CREATE TABLE logs (
    id          INTEGER PRIMARY KEY,
    window_id   INTEGER NOT NULL REFERENCES windows(id),
    ts          INTEGER NOT NULL,              -- event time
    level       TEXT,                          -- canonical level, another word, or NULL
    message     TEXT NOT NULL,
    attributes  TEXT,                          -- JSON object, or NULL
    received_at INTEGER NOT NULL               -- when the batch was received
);
CREATE INDEX logs_by_window ON logs (window_id);
