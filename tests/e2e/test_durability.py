"""What is acknowledged is on disk: kill -9 right after a 202, SIGTERM under
load, restarts. Each batch carries a unique tag so that the database can be
checked batch by batch: every acknowledged batch is there whole, and no batch
is there in part."""
import collections
import os
import shutil
import signal
import subprocess
import threading
import time
import unittest

import glob
import sqlite3

from harness import JOURNAL_HEADER, ServerTest, db_rows, ndjson, needs, sqlite_only, write_lock

BATCH = 200


def batch_body(tag):
    return ndjson([{"service": "dur", "message": "%s line %d" % (tag, i)} for i in range(BATCH)])


class Clients:
    """N threads posting tagged batches until stopped; records acknowledged tags."""

    def __init__(self, srv, n=4, prefix="r"):
        self.srv, self.n, self.prefix = srv, n, prefix
        self.acked, self.other = [], collections.Counter()
        self.stop = threading.Event()
        self.lock = threading.Lock()
        self.threads = [threading.Thread(target=self.run, args=(k,)) for k in range(n)]

    def run(self, k):
        seq = 0
        conn = None
        while not self.stop.is_set():
            tag = "%s-c%d-b%d" % (self.prefix, k, seq)
            seq += 1
            try:
                conn = conn or self.srv.conn(timeout=10)
                st, b, _ = self.srv.ingest(batch_body(tag), conn=conn)
            except Exception as e:  # connection refused / reset while the server goes away
                with self.lock:
                    self.other[type(e).__name__] += 1
                if conn:
                    conn.close()
                conn = None
                time.sleep(0.01)
                continue
            with self.lock:
                if st == 202 and b["accepted"] == BATCH:
                    self.acked.append(tag)
                else:
                    self.other[st] += 1
        if conn:
            conn.close()

    def __enter__(self):
        for t in self.threads:
            t.start()
        return self

    def __exit__(self, *a):
        self.stop.set()
        for t in self.threads:
            t.join()


class DurabilityTest(ServerTest):
    def stored_batches(self):
        rows = db_rows(os.path.join(self.dir, "anomalog.db"), "SELECT message FROM logs")
        per = collections.Counter(m.split(" line ")[0] for (m,) in rows)
        return per

    def assert_whole(self, acked):
        per = self.stored_batches()
        partial = {t: n for t, n in per.items() if n != BATCH}
        self.assertEqual(partial, {}, "batches stored in part")
        missing = [t for t in acked if t not in per]
        self.assertEqual(missing, [], "acknowledged batches lost")
        return per

    def test_kill9_right_after_202(self):
        acked = []
        for i in range(20):
            st, b, _ = self.srv.ingest(batch_body("seq-%d" % i))
            self.assertEqual(st, 202, b)
            acked.append("seq-%d" % i)
        self.srv.proc.send_signal(signal.SIGKILL)  # no time to flush anything after the answer
        self.srv.proc.wait()
        srv = self.start_server()  # stores what the ingest journal holds beyond the database, before it is ready
        self.assert_whole(acked)
        ws = srv.get("/windows?service=dur")[1]["windows"]
        self.assertEqual(sum(w["line_count"] for w in ws), 20 * BATCH)

    def test_kill9_under_load_loses_nothing_acknowledged(self):
        total_acked = []
        srv = self.srv
        for round_ in range(3):
            with Clients(srv, prefix="r%d" % round_) as cl:
                time.sleep(0.7)
                srv.proc.send_signal(signal.SIGKILL)
                srv.proc.wait()
                time.sleep(0.1)
            self.assertGreater(len(cl.acked), 0)
            total_acked += cl.acked
            srv = self.start_server()  # the journal's batches are stored before it is ready
            per = self.assert_whole(total_acked)
        # window counts agree with the rows
        ws = srv.get("/windows?service=dur")[1]["windows"]
        self.assertEqual(sum(w["line_count"] for w in ws), sum(per.values()))

    def test_sigterm_under_load_drains_and_exits_0(self):
        with Clients(self.srv, n=8) as cl:  # keep-alive clients that never pause
            time.sleep(0.7)
            t0 = time.time()
            self.srv.proc.send_signal(signal.SIGTERM)
            code = self.srv.proc.wait(30)
            stop_s = time.time() - t0
        self.assertEqual(code, 0, self.srv.stderr())
        # kept-alive connections are told to go away (503 stopping) instead of
        # holding the drain open until its timeout cuts requests mid-flight
        self.assertLess(stop_s, 5, "drain waited for its timeout")
        self.assertGreater(len(cl.acked), 0)
        per = self.assert_whole(cl.acked)
        # a clean stop stores exactly what was acknowledged: nothing committed goes unanswered
        self.assertEqual(sorted(per), sorted(cl.acked))
        self.assertIn("stopped after", self.srv.stderr())

    def test_sigterm_finishes_requests_in_progress_and_turns_new_ones_away(self):
        import socket
        idle = self.srv.conn()
        self.assertEqual(self.srv.request("GET", "/healthz", conn=idle)[0], 200)  # kept alive
        body = batch_body("slow").encode()
        slow = socket.create_connection(("127.0.0.1", self.srv.port))
        slow.sendall(b"POST /ingest HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-ndjson\r\n"
                     b"Content-Length: %d\r\n\r\n" % len(body) + body[:100])
        time.sleep(0.2)
        self.srv.proc.send_signal(signal.SIGTERM)
        time.sleep(0.3)
        # a new request on a kept-alive connection is turned away, told to close
        st, b, h = self.srv.request("POST", "/ingest", batch_body("late"), {"Content-Type": "application/x-ndjson"},
                                    conn=idle)
        self.assertEqual((st, b["error"]["code"], h.get("connection")), (503, "stopping", "close"), b)
        self.assertIsNone(self.srv.proc.poll(), "exited with a request in progress")
        slow.sendall(body[100:])  # the request in progress completes and is answered
        slow.settimeout(10)
        answer = slow.recv(65536)
        slow.close()
        idle.close()
        self.assertTrue(answer.startswith(b"HTTP/1.1 202"), answer[:200])
        self.assertEqual(self.srv.proc.wait(10), 0)
        self.assertEqual(sorted(self.stored_batches()), ["slow"])


@sqlite_only  # PostgreSQL answers after the commit and keeps no journal
class JournalTest(ServerTest):
    """A 202 means the batch is in the ingest journal (<db>-ingest.<seq>). With the database locked nothing
    can be stored, yet batches are acknowledged; after kill -9 the next start stores exactly those, once,
    before it is ready, and ignores a record the crash cut short."""

    def test_acknowledged_while_locked_are_stored_by_the_next_start(self):
        db = os.path.join(self.dir, "anomalog.db")
        with write_lock(db):
            for i in range(5):
                st, b, _ = self.srv.ingest(batch_body("locked-%d" % i))
                self.assertEqual(st, 202, b)
            self.srv.proc.send_signal(signal.SIGKILL)
            self.srv.proc.wait()
        con = sqlite3.connect(db)
        self.assertEqual(con.execute("SELECT count(*) FROM logs").fetchone()[0], 0, "the writer stored nothing")
        con.close()
        files = sorted(glob.glob(db + "-ingest.*"))
        self.assertTrue(files, "no journal file")
        with open(files[-1], "ab") as f:  # the start of a record the crash cut short
            f.write(JOURNAL_HEADER.pack(0x314A4C41, 1000, 99, 0, 0) + b"x" * 10)
        srv = self.start_server()
        self.assertIn("journal: stored 5 batches (%d lines) acknowledged before the last stop" % (5 * BATCH),
                      srv.stderr())
        self.assertIn("a record cut short", srv.stderr())
        self.assertFalse(set(files) & set(glob.glob(db + "-ingest.*")), "the replayed journal files were kept")
        per = DurabilityTest.stored_batches(self)
        self.assertEqual(per, {"locked-%d" % i: BATCH for i in range(5)})
        srv.stop()  # a clean stop deletes the journal; the next start stores nothing twice
        self.assertEqual(glob.glob(db + "-ingest.*"), [])
        srv = self.start_server()
        self.assertNotIn("journal: stored", srv.stderr())
        self.assertEqual(self.db_count(), 5 * BATCH)

    def test_reads_see_what_was_acknowledged(self):
        # the writer gathers small batches for a few ms before it commits; a read made after a 202 waits
        # for that batch (and an Idempotency-Key retry finds it)
        for i in range(1, 31):
            st, b, _ = self.srv.ingest(ndjson([{"service": "raw", "message": "read %d" % i}]),
                                       headers={"Idempotency-Key": "raw-%d" % i})
            self.assertEqual(st, 202, b)
            ws = self.srv.get("/windows?service=raw")[1]["windows"]
            self.assertEqual(sum(w["line_count"] for w in ws), i)
            st, _, h = self.srv.ingest(ndjson([{"service": "raw", "message": "read %d" % i}]),
                                       headers={"Idempotency-Key": "raw-%d" % i})
            self.assertEqual((st, h.get("idempotent-replayed")), (202, "true"))


STRACE = shutil.which("strace")


class DurabilityModeTest(ServerTest):
    """`durability: full` syncs the database file at every group commit (survives power loss);
    `normal` does not (WAL, synchronous=NORMAL: survives a crash of the process). Counted with strace
    attached to the running server, one batch at a time so that each batch is its own commit."""
    autostart = False

    def syncs(self, mode, batches=12):
        # LeakSanitizer cannot run in a traced process: leaks are checked by every other test
        db = os.path.join(self.dir, "%s.db" % mode)
        srv = self.start_server(args=["--durability", mode], env={"ASAN_OPTIONS": "detect_leaks=0"}, db=db)
        trace = os.path.join(self.dir, "%s.trace" % mode)
        st = subprocess.Popen([STRACE, "-f", "-qq", "-p", str(srv.proc.pid), "-e", "trace=fsync,fdatasync",
                               "-o", trace], stderr=subprocess.PIPE)
        try:
            time.sleep(1.0)  # strace attaches to every thread
            for i in range(batches):
                self.assertEqual(srv.ingest(batch_body("%s-%d" % (mode, i)))[0], 202)
        finally:
            st.terminate()
            st.wait(10)
        self.assertEqual(db_rows(db, "SELECT count(*) FROM logs")[0][0], batches * BATCH)
        with open(trace) as f:
            return sum(1 for line in f if "fsync(" in line or "fdatasync(" in line)

    @needs(STRACE, "strace")
    @sqlite_only  # counts fsync calls on the SQLite file
    def test_full_syncs_every_commit_and_normal_does_not(self):
        full = self.syncs("full")
        self.assertGreaterEqual(full, 12, "one sync per group commit at least")
        normal = self.syncs("normal")
        self.assertLess(normal, 3, "normal mode syncs at checkpoints only")


if __name__ == "__main__":
    unittest.main()
