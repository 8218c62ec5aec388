-- 006_evidence (PostgreSQL twin of sql/006_evidence.sql): whether an
-- anomaly's evidence was found in its window (0: recorded, never routed).
ALTER TABLE anomalies ADD COLUMN evidence_verified INTEGER NOT NULL DEFAULT 1;
