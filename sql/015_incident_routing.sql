-- 015_incident_routing: notifications by incident. An incident's
-- notifications share one dedup key, anomalog:incident:<id>: one when it
-- opens, updates when a service joins or its severity rises, a resolve when
-- it is resolved (or merged into another).
ALTER TABLE incidents ADD COLUMN notified_by INTEGER;  -- the anomaly whose notification opened it; NULL: none yet
