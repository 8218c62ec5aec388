-- 007_query_indexes (PostgreSQL twin of sql/007_query_indexes.sql): the
-- listing indexes: status and health lead, then the listing order.
CREATE INDEX windows_by_length ON windows ((end_ms - start_ms));
CREATE INDEX windows_by_status_start ON windows (status, start_ms DESC, id DESC);
DROP INDEX windows_by_health;
CREATE INDEX windows_by_health ON windows (health, start_ms DESC, id DESC);
