-- 012_lines_by_time: a window's lines in event-time order straight from the index.
-- GET /windows/{id}/lines pages a window's lines by (ts, id) and the analysis
-- reads them in that order too: with the index in that order a page reads the
-- rows it returns instead of sorting the whole window. It replaces the index on
-- window_id alone (the rowid, logs.id, follows ts in every SQLite index), so an
-- insert still updates one index on logs.
DROP INDEX logs_by_window;
CREATE INDEX logs_by_window ON logs (window_id, ts);
