-- 005_idempotency: the Idempotency-Key of ingest requests, written in the same
-- transaction as the batch's lines (store_write_batches), so a committed batch
-- and its key are one fact: a retry after the commit finds the key and is
-- answered from here instead of storing the lines again.
CREATE TABLE idempotency_keys (
    id           INTEGER PRIMARY KEY,
    scope        TEXT NOT NULL,     -- whose key: '' when ingest is open, else the token that sent it
                                    -- ('auth.ingest_token', 'auth.tokens[N]'), never the token itself
    key          TEXT NOT NULL,     -- the Idempotency-Key header: 1..255 printable ASCII bytes
    endpoint     TEXT NOT NULL,     -- the request path it was sent to (/ingest, /v1/logs, /{index}/_bulk, ...)
    body_sha256  BLOB NOT NULL,     -- SHA-256 of the request body as sent (before any decompression)
    status       INTEGER NOT NULL,  -- the answer's HTTP status
    content_type TEXT,              -- the answer's Content-Type; NULL for an empty body
    body         BLOB NOT NULL,     -- the answer's body, byte for byte
    created_at   INTEGER NOT NULL,  -- ms since the epoch; the key expires ingest.idempotency_ttl later
    UNIQUE (scope, key)
);
-- expired keys are pruned oldest first, a few at a time
CREATE INDEX idempotency_keys_created ON idempotency_keys(created_at);
