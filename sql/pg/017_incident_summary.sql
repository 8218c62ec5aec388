-- 017_incident_summary (PostgreSQL twin of sql/017_incident_summary.sql): the model reads an incident of more than one member
-- once, when it has settled, and writes its summary, likely root cause and
-- first action (summary_by 'llm'); without a model, or when its answer
-- fails, the correlation's own summary stands.
ALTER TABLE incidents ADD COLUMN summarized_at BIGINT;  -- wall clock of the model's one call (NULL: not yet)
ALTER TABLE incidents ADD COLUMN summary_note TEXT;     -- why the model's answer is missing, or NULL
