-- 015_incident_routing (PostgreSQL twin of sql/015_incident_routing.sql): notifications by incident. An incident's
-- notifications share one dedup key, anomalog:incident:<id>: one when it
-- opens, updates when a service joins or its severity rises, a resolve when
-- it is resolved (or merged into another).
ALTER TABLE incidents ADD COLUMN notified_by BIGINT;  -- the anomaly whose notification opened it; NULL: none yet
