-- 020_outbox_by_dedup_key: an incident's notifications are read by their
-- dedup key at every member that joins (where the incident went, its opens
-- held for incident.group_wait), and the sender claims a row only when no
-- earlier row of the same key and destination is pending, so an update or a
-- resolve never overtakes the open it follows.
CREATE INDEX outbox_by_dedup_key ON outbox (dedup_key, destination, id);
