-- 019_incident_retention (PostgreSQL twin of sql/019_incident_retention.sql):
-- retention deletes a resolved incident once window retention has taken its
-- members, and with it the incidents once merged into it (merged_into points
-- at it): found through this index, not a scan per incident.
CREATE INDEX incidents_by_merged ON incidents (merged_into);
