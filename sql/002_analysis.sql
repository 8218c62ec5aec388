-- 002_analysis: window analysis state, anomalies, and what normal looks like per service.

-- What normal looks like for a service, told by its operators; goes into every prompt.
ALTER TABLE services ADD COLUMN context TEXT;
ALTER TABLE services ADD COLUMN context_source TEXT CHECK (context_source IN ('config', 'api'));

-- Analysis results and the retry state of each window.
ALTER TABLE windows ADD COLUMN health TEXT CHECK (health IN ('normal', 'degraded', 'critical', 'unknown'));
ALTER TABLE windows ADD COLUMN anomaly_count INTEGER NOT NULL DEFAULT 0;
ALTER TABLE windows ADD COLUMN analyzer TEXT;            -- 'llm' (later also 'baseline')
ALTER TABLE windows ADD COLUMN model TEXT;               -- model name that answered
ALTER TABLE windows ADD COLUMN prompt_tokens INTEGER;    -- summed over the calls of the analysis
ALTER TABLE windows ADD COLUMN completion_tokens INTEGER;
ALTER TABLE windows ADD COLUMN latency_ms INTEGER;       -- of the model calls, summed
ALTER TABLE windows ADD COLUMN error TEXT;               -- why the last analysis failed
ALTER TABLE windows ADD COLUMN attempts INTEGER NOT NULL DEFAULT 0;   -- analyses started
ALTER TABLE windows ADD COLUMN next_attempt_at INTEGER;  -- a failed window is retried from then
ALTER TABLE windows ADD COLUMN closed_at INTEGER;
ALTER TABLE windows ADD COLUMN analyzed_at INTEGER;
CREATE INDEX windows_by_health ON windows (health, start_ms DESC);

-- The exact prompt of a window's last analysis; apart, so that listing windows stays cheap.
CREATE TABLE window_prompts (
    window_id   INTEGER PRIMARY KEY REFERENCES windows(id),
    system_prompt TEXT NOT NULL,
    user_prompt   TEXT NOT NULL
);

-- What the analysis flagged. Window span and service are copied in for filtering and ordering.
CREATE TABLE anomalies (
    id                  INTEGER PRIMARY KEY,
    window_id           INTEGER NOT NULL REFERENCES windows(id),
    service_id          INTEGER NOT NULL REFERENCES services(id),
    window_start        INTEGER NOT NULL,
    window_end          INTEGER NOT NULL,
    severity            TEXT NOT NULL CHECK (severity IN ('low', 'medium', 'high', 'critical')),
    severity_rank       INTEGER NOT NULL,               -- low 1 .. critical 4, for "at least" filters
    type                TEXT NOT NULL CHECK (type IN ('error_spike', 'auth_failure', 'latency', 'security',
                                                      'resource', 'config', 'unknown')),
    summary             TEXT NOT NULL,
    evidence            TEXT NOT NULL,                  -- JSON array of log lines
    recommended_action  TEXT NOT NULL,
    created_at          INTEGER NOT NULL
);
CREATE INDEX anomalies_by_start ON anomalies (window_start DESC, id DESC);
CREATE INDEX anomalies_by_service ON anomalies (service_id, window_start DESC, id DESC);
CREATE INDEX anomalies_by_window ON anomalies (window_id);
