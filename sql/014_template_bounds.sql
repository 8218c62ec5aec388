-- 014_template_bounds: the templates table is bounded per service, like the
-- miner (digest.max_templates, the least recently seen evicted), and a
-- template not recorded for retention.windows goes with retention.
--
-- A pruned template's id is never given to another template: the miner of a
-- service rebuilt from this table (after a restart or a cache eviction)
-- assigns ids above template_id_max, the highest id the service ever
-- recorded. Otherwise a new template could take the id of an evicted one
-- and inherit its counts in template_counts (seen before: not novel) or an
-- old anomaly's feedback (marked benign).
ALTER TABLE services ADD COLUMN template_id_max INTEGER NOT NULL DEFAULT 0;
UPDATE services SET template_id_max =
    coalesce((SELECT max(t.id) FROM templates t WHERE t.service_id = services.id), 0);
-- wall-clock time (ms) of the template's last recording: its age for retention
-- (last_seen is event time, which a backfill of old logs puts far back)
ALTER TABLE templates ADD COLUMN recorded_at INTEGER NOT NULL DEFAULT 0;
UPDATE templates SET recorded_at = last_seen;
-- a service's templates, least recently seen first: the bound's evictions
CREATE INDEX templates_by_last_seen ON templates (service_id, last_seen, id);
-- every template, oldest recording first: retention's work
CREATE INDEX templates_by_recorded ON templates (recorded_at);
