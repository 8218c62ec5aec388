-- 018_incident_feedback (PostgreSQL twin of sql/018_incident_feedback.sql):
-- feedback on an incident (POST /incidents/{id}/feedback) is applied to each
-- of its members as anomaly feedback, in one transaction, and the verdict is
-- kept on the incident too.
ALTER TABLE incidents ADD COLUMN feedback TEXT;         -- false_positive | true_positive (NULL: none)
ALTER TABLE incidents ADD COLUMN feedback_note TEXT;    -- the note given with it, or NULL
ALTER TABLE incidents ADD COLUMN feedback_at BIGINT;    -- wall clock, ms
