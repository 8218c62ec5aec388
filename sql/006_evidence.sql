-- 006_evidence: whether an anomaly's evidence was found in its window.

-- 1 when the anomaly has evidence and every line of it quotes a line of the window (as the digest
-- showed it, redacted), or when the baseline built it from the window's lines; 0 when a model's
-- evidence is missing or not in the window: such an anomaly is recorded but never routed.
-- Anomalies recorded before this migration were not checked and keep 1 (they were routed as such).
ALTER TABLE anomalies ADD COLUMN evidence_verified INTEGER NOT NULL DEFAULT 1;
