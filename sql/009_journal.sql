-- 009_journal: how far the ingest journal has been written into the database.
-- A batch is acknowledged once it is in the journal (writer.c); the writer
-- then stores it with this row raised to the batch's journal number in the
-- same transaction, so at start-up the journal's records above `seq` are
-- exactly the acknowledged batches the database does not hold yet.
CREATE TABLE journal_state (
    id   INTEGER PRIMARY KEY CHECK (id = 1),
    seq  INTEGER NOT NULL              -- the highest journal number stored
);
