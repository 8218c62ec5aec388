"""The command line and configuration: version, migrate, healthcheck, and
start-up errors that name the bad setting; precedence file < env < flags."""
import os
import shutil
import tempfile
import unittest

from harness import PG_URL, Server, ServerTest, db_exec, db_rows, run_cli, wait_for


MIGRATIONS = sorted(f for f in os.listdir(os.path.join(os.path.dirname(__file__), "..", "..", "sql"))
                    if f.endswith(".sql"))


class CliTest(unittest.TestCase):
    def setUp(self):
        self.dir = tempfile.mkdtemp(prefix="anomalog-cli-")

    def tearDown(self):
        shutil.rmtree(self.dir, ignore_errors=True)

    def test_version(self):
        code, out, _ = run_cli(["version"])
        self.assertEqual(code, 0)
        self.assertRegex(out, r"^anomalog \d+\.\d+\.\d+\n$")

    def test_migrate_creates_schema_and_is_idempotent(self):
        db = os.path.join(self.dir, "m.db")
        for _ in range(2):
            code, out, err = run_cli(["migrate", "--db", db])
            self.assertEqual(code, 0, err)
            # the highest number: numbers are handed out ahead of merging, so there may be gaps
            self.assertIn("schema version %d" % int(MIGRATIONS[-1][:3]), out)
        self.assertEqual(db_rows(db, "SELECT version, name FROM schema_version"),
                         [(int(m[:3]), m) for m in MIGRATIONS])
        if not PG_URL:
            self.assertEqual(db_rows(db, "PRAGMA journal_mode"), [("wal",)])

    def test_newer_database_is_refused(self):
        db = os.path.join(self.dir, "m.db")
        run_cli(["migrate", "--db", db])
        db_exec(db, "INSERT INTO schema_version VALUES (999, '999_future.sql', 0)")
        code, _, err = run_cli(["migrate", "--db", db])
        self.assertEqual(code, 1)
        self.assertIn("newer than this binary", err)

    def test_bad_values_name_their_source(self):
        cases = [
            ({"ANOMALOG_WINDOW": "abc"}, [], "ANOMALOG_WINDOW"),
            ({"ANOMALOG_GRACE": "-5s"}, [], "ANOMALOG_GRACE"),
            ({"ANOMALOG_LISTEN": "nohostport"}, [], "ANOMALOG_LISTEN"),
            ({"ANOMALOG_MAX_BODY": "lots"}, [], "ANOMALOG_MAX_BODY"),
            ({}, ["--window", "0s"], "--window"),
            ({}, ["--queue-depth", "0"], "--queue-depth"),
            ({}, ["--timezone", "Mars/Olympus"], "--timezone"),
            ({}, ["--durability", "maybe"], "--durability"),
            ({"ANOMALOG_RETENTION_LINES": "7x"}, [], "ANOMALOG_RETENTION_LINES"),
            ({}, ["--retention-windows", "-1d"], "--retention-windows"),
            ({}, ["--retention-batch", "99"], "--retention-batch"),
            ({}, ["--retention-batch", "100001"], "--retention-batch"),
            ({}, ["--window"], "--window: missing value"),
            ({}, ["--bogus"], "unknown argument"),
        ]
        for env, args, needle in cases:
            code, _, err = run_cli(["serve", "--db", os.path.join(self.dir, "x.db")] + args, env=env)
            self.assertEqual(code, 2, (env, args, err))
            self.assertIn(needle, err, (env, args))
        self.assertFalse(os.path.exists(os.path.join(self.dir, "x.db")), "a bad config must not touch the db")

    def test_config_file_errors_name_file_line_and_key(self):
        path = os.path.join(self.dir, "c.yaml")
        for text, needle in (("window: 5x\n", "c.yaml:1: window"),
                             ("listen: 127.0.0.1:1\nlimits:\n  max_lines: 5\n", "c.yaml:3: limits.max_lines: unknown"),
                             ("window: [1, 2\n", "c.yaml"),
                             ("destinations:\n  t: {type: file, path: /dev/null}\nroutes:\n"
                              "  - match: {service: a, service: b}\n    to: t\n",
                              "c.yaml:4: routes: match.service is given twice")):
            with open(path, "w") as f:
                f.write(text)
            code, _, err = run_cli(["serve", "--config", path])
            self.assertEqual(code, 2, err)
            self.assertIn(needle, err)
        code, _, err = run_cli(["serve", "--config", os.path.join(self.dir, "missing.yaml")])
        self.assertEqual((code, "missing.yaml" in err), (2, True))

    def test_unknown_command(self):
        self.assertEqual(run_cli(["frobnicate"])[0], 2)
        self.assertEqual(run_cli([])[0], 2)


class PrecedenceTest(ServerTest):
    autostart = False

    def test_file_then_env_then_flags(self):
        cfg = os.path.join(self.dir, "c.yaml")
        with open(cfg, "w") as f:
            f.write("window: 1m\ngrace: 10s\nlimits:\n  max_entries: 3\n")
        # file: window 1m; env overrides to 2m; flag overrides max_entries to 5
        srv = self.start_server(args=["--config", cfg, "--max-entries", "5"], env={"ANOMALOG_WINDOW": "2m"})
        self.assertIn("window 120s, grace 10s", srv.stderr())
        st, b, _ = srv.ingest("a\nb\nc\nd\ne\n", "text/plain")
        self.assertEqual((st, b["accepted"]), (202, 5))
        self.assertError(srv.ingest("a\n" * 6, "text/plain"), 413, "too_many_entries")

    def test_healthcheck_command(self):
        srv = self.start_server()
        code, _, err = run_cli(["healthcheck", "--listen", "127.0.0.1:%d" % srv.port])
        self.assertEqual(code, 0, err)
        srv.stop()
        code, _, err = run_cli(["healthcheck", "--listen", "127.0.0.1:%d" % srv.port])
        self.assertEqual(code, 1)
        self.assertIn("not ready", err)

    def test_health_endpoints(self):
        srv = self.start_server()
        st, b, _ = srv.get("/healthz")
        self.assertEqual((st, b["status"]), (200, "ok"))
        st, b, _ = srv.get("/readyz")
        self.assertEqual((st, b), (200, {"status": "ready", "checks": {"database": "ok", "writer": "ok"},
                                         "model": "ok"}))

    def test_database_refusing_writes_is_503_and_not_ready(self):
        srv = self.start_server()
        self.assertEqual(srv.ingest("before\n", "text/plain")[0], 202)
        db = os.path.join(self.dir, "anomalog.db")
        self.assertEqual(db_rows(db, "SELECT count(*) FROM logs"), [(1,)])  # stored (the writer gathers a moment)
        db_exec(db, "ALTER TABLE logs RENAME TO logs_gone")  # every insert now fails
        # acknowledged: with the ingest journal (SQLite) the batch is safe before the database takes it;
        # without one (PostgreSQL) the answer waits for the commit, which fails
        st, b, h = srv.ingest("after\n", "text/plain")
        journal = not PG_URL
        if journal:
            self.assertEqual(st, 202, b)
            wait_for(lambda: srv.get("/readyz")[0] == 503, what="not ready while the batch cannot be stored")
            st, b, h = srv.ingest("refused\n", "text/plain")  # nothing more is taken while the writer fails
        self.assertEqual((st, b["error"]["code"], h.get("retry-after")), (503, "storage_unavailable", "5"), b)
        st, b, _ = srv.get("/readyz")
        self.assertEqual((st, b["status"]), (503, "not_ready"))
        self.assertIn("logs", b["checks"]["writer"])
        db_exec(db, "ALTER TABLE logs_gone RENAME TO logs")  # the database heals: so does the service
        if journal:  # the writer retries the acknowledged batch on its own
            wait_for(lambda: srv.get("/readyz")[0] == 200, timeout=30, what="ready once the database takes writes")
        self.assertEqual(srv.ingest("again\n", "text/plain")[0], 202)
        self.assertEqual(srv.get("/readyz")[0], 200)
        rows = db_rows(db, "SELECT message FROM logs ORDER BY id")
        # the acknowledged batch was kept and stored once the database healed, before anything newer
        self.assertEqual(rows, [("before",), ("after",), ("again",)] if journal else [("before",), ("again",)])


if __name__ == "__main__":
    unittest.main()
