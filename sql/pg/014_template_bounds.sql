-- 014_template_bounds (PostgreSQL twin of sql/012_template_bounds.sql): the
-- templates table bounded per service like the miner, templates pruned with
-- retention, and the highest template id a service ever recorded, so that a
-- rebuilt miner never gives a pruned id to another template.
ALTER TABLE services ADD COLUMN template_id_max BIGINT NOT NULL DEFAULT 0;
UPDATE services SET template_id_max =
    coalesce((SELECT max(t.id) FROM templates t WHERE t.service_id = services.id), 0);
ALTER TABLE templates ADD COLUMN recorded_at BIGINT NOT NULL DEFAULT 0;
UPDATE templates SET recorded_at = last_seen;
CREATE INDEX templates_by_last_seen ON templates (service_id, last_seen, id);
CREATE INDEX templates_by_recorded ON templates (recorded_at);
