-- 011_lines_by_time: a window's lines are read for its analysis a page at a
-- time, in event-time order (store_window_read: each page starts after the
-- last (ts, id) read), so that the analysis holds a page, not the window.
-- The index that finds a window's lines now orders them that way too; it
-- still serves every lookup by window_id alone (retention's deletes).
DROP INDEX logs_by_window;
CREATE INDEX logs_by_window ON logs (window_id, ts, id);
