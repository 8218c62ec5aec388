-- 009_journal: the SQLite backend's ingest journal mark. PostgreSQL acknowledges
-- a batch only once it is committed and keeps no journal; the table is here so
-- both backends share one schema version.
CREATE TABLE journal_state (
    id   INTEGER PRIMARY KEY CHECK (id = 1),
    seq  BIGINT NOT NULL
);
