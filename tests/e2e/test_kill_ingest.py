"""kill -9 at random moments under load, with clients that retry: 4 client
threads send NDJSON batches whose every line carries a unique id, each batch
with its own Idempotency-Key, and send a batch that was not acknowledged
(connection refused or reset, 503, 409) again with the same key until it is.
Meanwhile the test SIGKILLs the server at random moments and restarts it on the
same SQLite file and port, at least KILLS times. At the end every acknowledged
line is stored exactly once and no line is stored twice: the key recorded in
the batch's own transaction turns a retry of a committed batch into a replay.

The figures (lines acknowledged and stored, kills, retries, replays) are
printed on stderr, and first the seed of the kill moments: KILL_SEED=<seed>
in the environment repeats them."""
import collections
import http.client
import os
import random
import signal
import sys
import threading
import time
import unittest

from harness import ServerTest, db_rows, ndjson

CLIENTS = 4
KILLS = 8
BATCH = 50


class Client(threading.Thread):
    """Sends batch after batch; a batch is sent again, same key, until it is acknowledged."""

    def __init__(self, k, port, stop):
        super().__init__(daemon=True)
        self.k, self.port, self.stop = k, port, stop
        self.acked = []  # ids of acknowledged lines
        self.retries = 0
        self.replays = 0
        self.failures = collections.Counter()
        self.unexpected = []

    def run(self):
        seq = 0
        conn = None
        while not self.stop.is_set():
            key = "c%d-b%d" % (self.k, seq)
            ids = ["%s-l%d" % (key, i) for i in range(BATCH)]
            body = ndjson([{"service": "kill", "message": i} for i in ids]).encode()
            attempt = 0
            while True:  # until acknowledged, even after stop: a batch is never left unanswered
                if attempt:
                    self.retries += 1
                    time.sleep(0.02)
                attempt += 1
                try:
                    conn = conn or http.client.HTTPConnection("127.0.0.1", self.port, timeout=20)
                    conn.request("POST", "/ingest", body=body, headers={
                        "Content-Type": "application/x-ndjson", "Idempotency-Key": key})
                    r = conn.getresponse()
                    r.read()
                except (OSError, http.client.HTTPException) as e:
                    self.failures[type(e).__name__] += 1
                    if conn:
                        conn.close()
                    conn = None
                    continue
                if r.status == 202:
                    self.acked += ids
                    self.replays += r.getheader("Idempotent-Replayed") == "true"
                    break
                self.failures[r.status] += 1
                if r.status not in (409, 503):
                    self.unexpected.append(r.status)
                    return
                if r.getheader("Connection", "").lower() == "close":
                    conn.close()
                    conn = None
            seq += 1
        if conn:
            conn.close()


class KillIngestTest(ServerTest):
    def restart(self, port):
        for _ in range(20):  # the port is free again as soon as the killed process is gone
            try:
                return self.start_server(port=port)
            except RuntimeError:
                time.sleep(0.1)
        self.fail("the server did not start again on port %d" % port)

    def test_kill9_with_retrying_clients_stores_every_line_once(self):
        seed = int(os.environ.get("KILL_SEED") or time.time_ns())
        # printed first, so a failing run can be repeated with KILL_SEED=<seed>
        print("\nkill test: seed %d (KILL_SEED=%d repeats these kill moments)" % (seed, seed), file=sys.stderr)
        rnd = random.Random(seed)
        port = self.srv.port
        stop = threading.Event()
        clients = [Client(k, port, stop) for k in range(CLIENTS)]
        for c in clients:
            c.start()
        srv, kills = self.srv, 0
        t0 = time.time()
        for kills in range(1, KILLS + 1):
            time.sleep(rnd.uniform(0.2, 1.0))
            srv.proc.send_signal(signal.SIGKILL)
            srv.proc.wait()
            time.sleep(rnd.uniform(0, 0.2))
            srv = self.restart(port)
        time.sleep(0.5)
        stop.set()
        for c in clients:
            c.join(60)
            self.assertFalse(c.is_alive(), "a client never got its batch acknowledged")
            self.assertEqual(c.unexpected, [], "answers that are neither 202 nor retryable")
        elapsed = time.time() - t0

        acked = [i for c in clients for i in c.acked]
        rows = db_rows(srv.db, "SELECT message FROM logs")
        stored = collections.Counter(m for (m,) in rows)
        twice = {m: n for m, n in stored.items() if n > 1}
        missing = set(acked) - set(stored)
        retries = sum(c.retries for c in clients)
        replays = sum(c.replays for c in clients)
        failures = sum((c.failures for c in clients), collections.Counter())
        print("\nkill test: %d lines acknowledged, %d lines stored (%d distinct), %d kills survived, "
              "%d retries, %d replayed answers, failures %s, %.1fs"
              % (len(acked), len(rows), len(stored), kills, retries, replays, dict(failures), elapsed),
              file=sys.stderr)
        self.assertEqual(kills, KILLS)
        self.assertGreater(len(acked), 0)
        self.assertGreater(retries, 0, "no request was ever cut off by a kill: the test tested nothing")
        self.assertEqual(len(acked), len(set(acked)), "a line acknowledged twice")
        self.assertEqual(twice, {}, "lines stored twice")
        self.assertEqual(missing, set(), "acknowledged lines lost")
        # every batch was eventually acknowledged, so nothing else is stored either
        self.assertEqual(set(stored), set(acked))
        # and the windows count exactly the stored lines
        ws = srv.get("/windows?service=kill&limit=1000")[1]["windows"]
        self.assertEqual(sum(w["line_count"] for w in ws), len(rows))


if __name__ == "__main__":
    unittest.main()
