-- 003_digest (PostgreSQL twin of sql/003_digest.sql): templates mined per
-- service, their counts per window, digests, and feedback on anomalies.

CREATE TABLE templates (
    service_id  BIGINT NOT NULL REFERENCES services(id),
    id          BIGINT NOT NULL,
    text        TEXT NOT NULL,
    max_level   INTEGER NOT NULL DEFAULT 0,
    first_seen  BIGINT NOT NULL,
    last_seen   BIGINT NOT NULL,
    total       BIGINT NOT NULL DEFAULT 0,
    benign      INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (service_id, id)
);

CREATE TABLE template_counts (
    service_id   BIGINT NOT NULL,
    window_start BIGINT NOT NULL,
    template_id  BIGINT NOT NULL,
    count        BIGINT NOT NULL,
    PRIMARY KEY (service_id, window_start, template_id)
);

ALTER TABLE windows ADD COLUMN error_lines BIGINT;
ALTER TABLE window_prompts ADD COLUMN digest TEXT;
ALTER TABLE windows ADD COLUMN redactions TEXT;

ALTER TABLE anomalies ADD COLUMN analyzer TEXT NOT NULL DEFAULT 'llm';
ALTER TABLE anomalies ADD COLUMN template_ids TEXT;
ALTER TABLE anomalies ADD COLUMN feedback TEXT CHECK (feedback IN ('false_positive', 'true_positive'));
ALTER TABLE anomalies ADD COLUMN feedback_note TEXT;
ALTER TABLE anomalies ADD COLUMN feedback_at BIGINT;
