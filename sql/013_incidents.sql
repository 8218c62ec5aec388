-- 013_incidents: findings of several services joined into one problem, and
-- the call graph learned from which services' lines name which.

-- One problem: its members are the anomalies whose incident_id names it.
CREATE TABLE incidents (
    id             INTEGER PRIMARY KEY,
    status         TEXT NOT NULL DEFAULT 'open' CHECK (status IN ('open', 'resolved')),
    start_ms       INTEGER NOT NULL,        -- event time of the earliest anomalous line of its members
    end_ms         INTEGER NOT NULL,        -- event time of the latest one
    severity       TEXT NOT NULL,           -- the worst of its members
    severity_rank  INTEGER NOT NULL,        -- low 1 .. critical 4
    services       TEXT NOT NULL,           -- JSON array of service names, by first anomalous line
    members        INTEGER NOT NULL,        -- anomalies in it
    root_service   TEXT NOT NULL,           -- the member service where it most likely began
    root_reason    TEXT NOT NULL,           -- why, in a sentence
    summary        TEXT NOT NULL,           -- the correlation's own, or the model's
    root_cause     TEXT,                    -- the model's likely root cause (NULL: none yet)
    first_action   TEXT,                    -- the model's first action (NULL: none yet)
    summary_by     TEXT NOT NULL DEFAULT 'correlation', -- correlation | llm
    created_at     INTEGER NOT NULL,        -- wall clock, ms
    updated_at     INTEGER NOT NULL,        -- wall clock of the last member joining
    resolved_at    INTEGER,                 -- wall clock, ms
    merged_into    INTEGER REFERENCES incidents(id) -- a finding tied it to an older incident, which took its members
);
CREATE INDEX incidents_by_start ON incidents (start_ms DESC, id DESC);
CREATE INDEX incidents_open ON incidents (status, end_ms);

-- What ties an anomaly to others, from the lines behind it (src/incident/features.c).
ALTER TABLE anomalies ADD COLUMN incident_id INTEGER REFERENCES incidents(id);
ALTER TABLE anomalies ADD COLUMN first_ts INTEGER;   -- event time of its first anomalous line, ms
ALTER TABLE anomalies ADD COLUMN last_ts INTEGER;    -- and of its last
ALTER TABLE anomalies ADD COLUMN mentions TEXT;      -- JSON array: other services (or their hosts) its lines name
ALTER TABLE anomalies ADD COLUMN trace_ids TEXT;     -- JSON array: trace / request ids in its lines
CREATE INDEX anomalies_by_incident ON anomalies (incident_id);

-- The call graph: service caller's lines named callee in this many analysed windows.
CREATE TABLE service_calls (
    caller_id  INTEGER NOT NULL REFERENCES services(id),
    callee_id  INTEGER NOT NULL REFERENCES services(id),
    windows    INTEGER NOT NULL,            -- analysed windows of caller that named callee
    lines      INTEGER NOT NULL,            -- lines that did
    last_seen  INTEGER NOT NULL,            -- window start, ms
    PRIMARY KEY (caller_id, callee_id)
) WITHOUT ROWID;
