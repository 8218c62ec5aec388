-- 010_late: lines that reach a window after its analysis are analysed too.
-- A window's analysis records how far it read: analyzed_line_id, the highest
-- logs.id it read, and late_seen, the window's late_count when it was claimed.
-- A window whose late_count has grown past late_seen has late lines nobody
-- read; the scheduler claims it again once grace has passed since its
-- last analysis (once per window per grace), and that analysis reads only the
-- lines above analyzed_line_id, so no finding is recorded twice.
ALTER TABLE windows ADD COLUMN analyzed_line_id INTEGER NOT NULL DEFAULT 0;
ALTER TABLE windows ADD COLUMN late_seen INTEGER NOT NULL DEFAULT 0;
-- windows analysed before this version count as read through their last line
UPDATE windows SET late_seen = late_count,
    analyzed_line_id = coalesce((SELECT max(l.id) FROM logs l WHERE l.window_id = windows.id), 0)
    WHERE status = 'analyzed';
CREATE INDEX windows_late_pending ON windows (analyzed_at) WHERE status = 'analyzed' AND late_count > late_seen;
