-- 008_retention (PostgreSQL twin of sql/008_retention.sql): what retention
-- needs to find its work without scanning.
ALTER TABLE windows ADD COLUMN lines_expired INTEGER NOT NULL DEFAULT 0;  -- 1: its lines were deleted
CREATE INDEX windows_lines_kept ON windows (end_ms) WHERE lines_expired = 0;
CREATE INDEX outbox_by_anomaly ON outbox (anomaly_id);
