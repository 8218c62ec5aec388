-- 007_query_indexes: GET /windows and GET /anomalies read a page from an index
-- in their own order, whatever the filters and the cursor's depth (see the
-- listing statements in src/store/store.c).

-- The longest window: max(end_ms - start_ms) is one index probe. A "since"
-- filter ("window end > since") becomes a range on start: start > since - longest.
CREATE INDEX windows_by_length ON windows (end_ms - start_ms);

-- ?status= and ?health= lists: the equality leads, then the listing order.
CREATE INDEX windows_by_status_start ON windows (status, start_ms DESC, id DESC);
DROP INDEX windows_by_health;
CREATE INDEX windows_by_health ON windows (health, start_ms DESC, id DESC);
