-- 008_retention: what retention needs to find its work without scanning.
--
-- Raw lines expire by their window: once a window has ended more than
-- retention.lines ago (and was analysed), its lines are deleted in small
-- batches and the window is marked. A late line stored into such a window
-- clears the mark, so it expires in turn.
ALTER TABLE windows ADD COLUMN lines_expired INTEGER NOT NULL DEFAULT 0;  -- 1: its lines were deleted
-- Windows whose lines are still kept, oldest end first: the next work of line retention.
CREATE INDEX windows_lines_kept ON windows (end_ms) WHERE lines_expired = 0;
-- Window retention deletes a window's notifications with its anomalies.
CREATE INDEX outbox_by_anomaly ON outbox (anomaly_id);
