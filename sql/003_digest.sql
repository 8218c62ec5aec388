-- 003_digest: templates mined per service, their counts per window, the digest
-- each window was summarised into, and operators' feedback on anomalies.

-- One row per template of a service; id is the miner's, stable across restarts.
CREATE TABLE templates (
    service_id  INTEGER NOT NULL REFERENCES services(id),
    id          INTEGER NOT NULL,
    text        TEXT NOT NULL,                  -- with <*> / <NUM> / <IP> … where values vary
    max_level   INTEGER NOT NULL DEFAULT 0,     -- highest level seen: 0 unknown, 1 trace .. 6 fatal
    first_seen  INTEGER NOT NULL,               -- start of the first window it appeared in
    last_seen   INTEGER NOT NULL,               -- start of the last window it appeared in
    total       INTEGER NOT NULL DEFAULT 0,     -- lines ever matched
    benign      INTEGER NOT NULL DEFAULT 0,     -- marked known-benign through feedback
    PRIMARY KEY (service_id, id)
) WITHOUT ROWID;

-- Lines of a template in one window: "new", "rate against its usual" and
-- "recurring in the last N windows" are range reads of this table.
CREATE TABLE template_counts (
    service_id   INTEGER NOT NULL,
    window_start INTEGER NOT NULL,
    template_id  INTEGER NOT NULL,
    count        INTEGER NOT NULL,
    PRIMARY KEY (service_id, window_start, template_id)
) WITHOUT ROWID;

-- Per-window totals used by the baseline's history.
ALTER TABLE windows ADD COLUMN error_lines INTEGER;   -- lines at error or fatal
ALTER TABLE window_prompts ADD COLUMN digest TEXT;    -- the digest as the model saw it
ALTER TABLE windows ADD COLUMN redactions TEXT;       -- JSON: what redaction replaced, by kind

-- Which analyzer found an anomaly, and the templates behind it (for feedback).
ALTER TABLE anomalies ADD COLUMN analyzer TEXT NOT NULL DEFAULT 'llm';
ALTER TABLE anomalies ADD COLUMN template_ids TEXT;   -- JSON array of template ids, or NULL
ALTER TABLE anomalies ADD COLUMN feedback TEXT CHECK (feedback IN ('false_positive', 'true_positive'));
ALTER TABLE anomalies ADD COLUMN feedback_note TEXT;
ALTER TABLE anomalies ADD COLUMN feedback_at INTEGER;
