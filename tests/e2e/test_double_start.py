"""Double start (issue 15, part 1): a second `anomalog serve` on the same SQLite
database, or on the same port, must not start.

- One database: while a client streams batches into the first instance, a
  second is started on the same file five times; each exits at once, non-zero,
  naming the first one's pid, and leaves its journal alone. At the end the
  database holds every acknowledged line exactly once (the figures are printed
  on stderr: lines acknowledged vs stored).
- One port: a second instance on the first one's port (its own database) fails
  to start with a clear error, and every request still reaches the first.
- `anomalog migrate` on a served database is refused the same way (the serve
  migrates it when it starts); once the serve has stopped it runs.
- The lock goes with the process: after the first is killed with SIGKILL the
  database can be served again at once.
"""
import os
import subprocess
import sys
import threading
import time
import unittest

from harness import BIN, ServerTest, _map_db_args, db_rows, ndjson, sqlite_only


def start_second(args, timeout=15):
    """Runs a serve that is expected to refuse to start; returns (exit code, stderr, seconds taken)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("ANOMALOG_")}
    t0 = time.monotonic()
    p = subprocess.run(_map_db_args([BIN, "serve"] + args), env=env, capture_output=True, timeout=timeout)
    return p.returncode, p.stderr.decode(errors="replace"), time.monotonic() - t0


class DoubleStartTest(ServerTest):

    @sqlite_only
    def test_second_instance_on_one_database_exits_naming_the_holder(self):
        db = self.srv.db
        acked, stop, errors = [], threading.Event(), []

        def client():
            n = 0
            while not stop.is_set():
                rows = [{"service": "dbl", "message": "line b%d-%d" % (n, i)} for i in range(20)]
                try:
                    st, body, _ = self.srv.ingest(ndjson(rows))
                except OSError as e:
                    errors.append(repr(e))
                    continue
                if st == 202:
                    acked.extend(r["message"] for r in rows)
                else:
                    errors.append((st, body))
                n += 1

        t = threading.Thread(target=client, daemon=True)
        t.start()
        pid = self.srv.proc.pid
        tries = 0
        for _ in range(5):
            time.sleep(0.3)
            rc, err, took = start_second(["--listen", "127.0.0.1:0", "--db", db])
            tries += 1
            self.assertNotEqual(rc, 0, err)
            self.assertIn("pid %d" % pid, err)
            self.assertIn("in use", err)
            self.assertLess(took, 5, "the second instance must exit at once")
            self.assertNotIn("listening on", err)
        time.sleep(0.3)
        stop.set()
        t.join(30)
        self.assertEqual(errors, [])
        self.assertIsNone(self.srv.proc.poll(), "the first instance must keep running")
        self.assertEqual(self.srv.stop(), 0)
        stored = db_rows(db, "SELECT count(*), count(DISTINCT message) FROM logs WHERE message LIKE 'line b%'")[0]
        print("double start: %d second instance(s) refused; %d lines acknowledged, %d stored (%d distinct)"
              % (tries, len(acked), stored[0], stored[1]), file=sys.stderr)
        self.assertGreater(len(acked), 0)
        self.assertEqual(stored[0], len(acked))
        self.assertEqual(stored[1], len(acked))

    @sqlite_only
    def test_migrate_waits_for_the_serve_that_holds_the_database(self):
        env = {k: v for k, v in os.environ.items() if not k.startswith("ANOMALOG_")}
        migrate = lambda: subprocess.run([BIN, "migrate", "--db", self.srv.db], env=env, capture_output=True,
                                         timeout=15)
        p = migrate()
        self.assertNotEqual(p.returncode, 0, p.stdout)
        self.assertIn("pid %d" % self.srv.proc.pid, p.stderr.decode())
        self.assertEqual(p.stdout, b"")
        self.assertEqual(self.srv.stop(), 0)
        p = migrate()
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertIn(b"schema version", p.stdout)

    @sqlite_only
    def test_lock_goes_with_a_killed_process(self):
        self.srv.kill()  # SIGKILL: no clean stop
        again = self.start_server()
        self.assertEqual(again.ingest(ndjson([{"service": "dbl", "message": "after kill"}]))[0], 202)

    def test_second_instance_on_one_port_fails_to_start(self):
        port = self.srv.port
        rc, err, took = start_second(["--listen", "127.0.0.1:%d" % port, "--db", os.path.join(self.dir, "other.db")])
        self.assertNotEqual(rc, 0, err)
        self.assertIn("cannot listen on 127.0.0.1:%d" % port, err)
        self.assertIn("in use", err)
        self.assertNotIn("listening on", err)
        # every request still reaches the first instance, and its database
        for i in range(20):
            self.assertEqual(self.srv.ingest(ndjson([{"service": "port", "message": "m%d" % i}]))[0], 202)
        self.assertEqual(self.db_count("SELECT count(*) FROM logs"), 20)


if __name__ == "__main__":
    unittest.main()
