-- 016_template_values: the durations a template's lines carry, one summary
-- per window and token position, so that the baseline sees latency creep up
-- against the template's own history (analyze/latency.c). Written when a
-- window is analysed (at most 64 rows a window: its templates with the most
-- lines), read for the windows after it; rows older than the history the
-- baseline reads are pruned on each write, and retention deletes a window's
-- rows with the window. Values are thousandths of the unit (milliseconds
-- when the line gave a unit): 20.5 ms is 20500.
CREATE TABLE template_values (
    service_id   INTEGER NOT NULL,
    window_start INTEGER NOT NULL,   -- the window's start, ms
    template_id  INTEGER NOT NULL,
    pos          INTEGER NOT NULL,   -- token index within the template
    count        INTEGER NOT NULL,   -- durations seen at that position in the window
    mean_milli   INTEGER NOT NULL,
    median_milli INTEGER NOT NULL,
    p95_milli    INTEGER NOT NULL,
    PRIMARY KEY (service_id, window_start, template_id, pos)
) WITHOUT ROWID;
