"""The command line and configuration: version, migrate, healthcheck, and
start-up errors that name the bad setting; precedence file < env < flags;
per-command help and flags, the naming rule (key a.b_c = ANOMALOG_A_B_C =
--a-b-c) with the old names as warned aliases, units on durations; replay,
digest and templates reading gzip and stdin, replay --json, its exit status
and progress; IANA time zones."""
import gzip
import json
import os
import re
import shutil
import subprocess
import tempfile
import unittest

from harness import BIN, PG_URL, FakeLLM, Server, ServerTest, db_exec, db_rows, run_cli, wait_for

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..")


def settings_table():
    """(key, env, flag or None) of every row of config.c's settings table."""
    with open(os.path.join(ROOT, "src", "config", "config.c"), encoding="utf-8") as f:
        code = f.read()
    return re.findall(r'\{"([a-z_.]+)", "(ANOMALOG_[A-Z_]+)", (?:"(--[a-z-]+)"|NULL)', code)


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

    def test_word_settings_take_their_words_and_name_them_when_refused(self):
        # the settings that are one of a few words: each word is taken, and anything else is refused
        # with the setting, the value and the words it takes
        cases = [
            ("ANOMALOG_DURABILITY", "durability", "normal or full", ["normal", "full"]),
            ("ANOMALOG_LLM_RESPONSE_FORMAT", "response format", "json_schema, json_object or none",
             ["json_schema", "json_object", "none"]),
            ("ANOMALOG_ANALYSIS_SKIP_QUIET_WINDOWS", "switch", "true or false",
             ["true", "on", "yes", "1", "false", "off", "no", "0"]),
            ("ANOMALOG_INGEST_TEXT_FORMAT", "text format", "plain or syslog", ["plain", "syslog"]),
            ("ANOMALOG_LOG_FORMAT", "log format", "text or json", ["text", "json"]),
            ("ANOMALOG_LOG_LEVEL", "log level", "debug, info, warn or error", ["debug", "info", "warn", "error"]),
            ("ANOMALOG_ANALYSIS_ON_MODEL_FAILURE", "choice", "baseline or retry", ["baseline", "retry"]),
            ("ANOMALOG_ROUTE_MODE", "route mode", "first or all", ["first", "all"]),
        ]
        db = os.path.join(self.dir, "w.db")
        for env, what, expected, words in cases:
            for word in words:
                code, _, err = run_cli(["migrate", "--db", db], env={env: word})
                self.assertEqual(code, 0, (env, word, err))
            for bad in ("maybe", words[0].upper()):  # words are matched exactly
                code, _, err = run_cli(["migrate", "--db", db], env={env: bad})
                self.assertEqual(code, 2, (env, bad, err))
                self.assertIn('%s: invalid %s "%s" (expected %s)' % (env, what, bad, expected), err)

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

    def test_healthcheck_address_forms(self):
        srv = self.start_server()
        # 0.0.0.0 (every address) is asked on loopback
        code, _, err = run_cli(["healthcheck", "--listen", "0.0.0.0:%d" % srv.port])
        self.assertEqual(code, 0, err)
        # an IPv6 host in brackets is asked there (nothing serves on ::1 here) and named in the error
        code, _, err = run_cli(["healthcheck", "--listen", "[::1]:%d" % srv.port])
        self.assertEqual(code, 1)
        self.assertIn("not ready: [::1]:%d" % srv.port, err)
        # an address that is not host:port is refused before any request
        code, _, err = run_cli(["healthcheck", "--listen", "::1:80"])
        self.assertEqual(code, 2)
        self.assertIn("invalid address", err)

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


class HelpAndNamesTest(unittest.TestCase):
    def setUp(self):
        self.dir = tempfile.mkdtemp(prefix="anomalog-cli-")
        self.addCleanup(shutil.rmtree, self.dir, True)

    def test_help_anywhere(self):
        for args in (["serve", "--help"], ["serve", "--listen", "x", "-h"], ["help", "serve"]):
            code, out, err = run_cli(args)
            self.assertEqual(code, 0, (args, err))
            self.assertTrue(out.startswith("usage: anomalog serve"), out[:200])
            self.assertIn("--dry-run", out)
        code, out, _ = run_cli(["serve", "--help"])
        for key, env, flag in settings_table():  # every setting, described, under its one name
            self.assertIn(env, out, key)
            if flag:
                self.assertRegex(out, r"\n  %s \S+\n      [^(]" % re.escape(flag), key)
        self.assertNotIn("(no description)", out)
        code, out, _ = run_cli(["replay", "x.log", "--help"])
        self.assertEqual(code, 0)
        self.assertIn("--json", out)
        self.assertIn("Exit status: 0", out)
        self.assertNotIn("--limits-max-body", out)  # replay's flags only
        code, out, _ = run_cli(["migrate", "--help"])
        self.assertEqual(code, 0)
        self.assertIn("--db", out)
        self.assertNotIn("--analysis-workers", out)
        code, out, _ = run_cli(["--help"])
        self.assertEqual(code, 0)
        for c in ("serve", "replay", "digest", "templates", "migrate", "healthcheck", "version"):
            self.assertRegex(out, r"\n  %s +\S" % c)
        self.assertEqual(run_cli(["help", "nope"])[0], 2)

    def test_flags_belong_to_their_command(self):
        code, _, err = run_cli(["migrate", "--db", os.path.join(self.dir, "m.db"), "--analysis-workers", "3"])
        self.assertEqual(code, 2)
        self.assertIn("--analysis-workers: not a flag of `anomalog migrate`", err)
        path = os.path.join(self.dir, "t.log")
        with open(path, "w") as f:
            f.write("a\n")
        code, _, err = run_cli(["templates", path, "--window", "5m"])
        self.assertEqual(code, 2, err)
        self.assertIn("--window", err)
        self.assertEqual(run_cli(["version", "--db", "x"])[0], 2)

    def test_one_naming_rule(self):
        rows = settings_table()
        self.assertGreater(len(rows), 40)
        for key, env, flag in rows:
            self.assertEqual(env, "ANOMALOG_" + key.replace(".", "_").upper(), key)
            if flag:
                self.assertEqual(flag, "--" + key.replace(".", "-").replace("_", "-"), key)

    def test_old_names_still_work_with_a_warning(self):
        db = os.path.join(self.dir, "m.db")
        code, _, err = run_cli(["migrate", "--db", db], env={"ANOMALOG_MAX_BODY": "1MiB"})
        self.assertEqual(code, 0, err)
        self.assertIn("ANOMALOG_MAX_BODY is the old name of ANOMALOG_LIMITS_MAX_BODY (limits.max_body)", err)
        code, _, err = run_cli(["migrate", "--db", db], env={"ANOMALOG_MAX_BODY": "lots"})
        self.assertEqual(code, 2)
        self.assertIn("ANOMALOG_MAX_BODY: invalid size", err)  # a bad value still names where it was
        code, _, err = run_cli(["migrate", "--db", db],
                               env={"ANOMALOG_REDACT_IPS": "true", "ANOMALOG_REDACTION_IP_ADDRESSES": "false"})
        self.assertEqual(code, 0, err)
        self.assertIn("ANOMALOG_REDACT_IPS is ignored: ANOMALOG_REDACTION_IP_ADDRESSES is set", err)
        code, _, err = run_cli(["migrate", "--db", db], env={"ANOMALOG_LOG_FORMAT": "json", "ANOMALOG_WORKERS": "3"})
        self.assertEqual(code, 0, err)
        warn = [json.loads(l) for l in err.splitlines() if "old name" in l]
        self.assertEqual((len(warn), warn[0]["level"]), (1, "warn"), err)  # through the log, in its format

    def test_durations_need_a_unit(self):
        db = os.path.join(self.dir, "m.db")
        for env, args, needle in (({"ANOMALOG_WINDOW": "5"}, [], "ANOMALOG_WINDOW: duration \"5\" has no unit"),
                                  ({}, ["--grace", "30"], "--grace: duration \"30\" has no unit"),
                                  ({"ANOMALOG_LLM_TIMEOUT": "120"}, [], "ANOMALOG_LLM_TIMEOUT")):
            code, _, err = run_cli(["serve", "--db", db] + args, env=env)
            self.assertEqual(code, 2, (env, args, err))
            self.assertIn(needle, err)
        with open(os.path.join(self.dir, "c.yaml"), "w") as f:
            f.write("window: 300\n")
        code, _, err = run_cli(["serve", "--db", db, "--config", os.path.join(self.dir, "c.yaml")])
        self.assertEqual(code, 2)
        self.assertIn("c.yaml:1: window: duration \"300\" has no unit", err)
        self.assertFalse(os.path.exists(db))
        code, _, err = run_cli(["migrate", "--db", db], env={"ANOMALOG_SUPPRESS": "0", "ANOMALOG_WINDOW": "5m"})
        self.assertEqual(code, 0, err)  # zero needs no unit


def text_log(path, rows, compress=False):
    data = "".join("%s %s api %s\n" % r for r in rows).encode()
    with open(path, "wb") as f:
        f.write(gzip.compress(data) if compress else data)
    return data


class ReplayInputTest(unittest.TestCase):
    def setUp(self):
        self.dir = tempfile.mkdtemp(prefix="anomalog-cli-")
        self.addCleanup(shutil.rmtree, self.dir, True)

    def replay(self, args, stdin=None):
        e = {k: v for k, v in os.environ.items() if not k.startswith("ANOMALOG_")}
        p = subprocess.run([BIN] + args, input=stdin, env=e, capture_output=True, timeout=60)
        return p.returncode, p.stdout.decode(), p.stderr.decode()

    def test_gzip_stdin_json_and_exit_status(self):
        llm = FakeLLM().start()
        self.addCleanup(llm.stop)
        rows = [("2026-11-24T10:00:01Z", "INFO", "started"), ("2026-11-24T10:00:02Z", "ERROR", "upstream timeout"),
                ("2026-11-24T10:06:00Z", "INFO", "all good")]
        plain, gz = os.path.join(self.dir, "a.log"), os.path.join(self.dir, "a.log.gz")
        data = text_log(plain, rows)
        text_log(gz, rows, compress=True)
        model = ["--llm-url", llm.url, "--llm-model", "m", "--window", "5m"]
        code, ref, err = self.replay(["replay", plain] + model)
        self.assertEqual(code, 1, err)  # found something
        self.assertIn("[high] error_spike", ref)
        for args, stdin in ((["replay", gz], None), (["replay", "-"], data), (["replay", "-"], gzip.compress(data)),
                            (["replay", "-"], gzip.compress(data[:40]) + gzip.compress(data[40:]))):
            code, out, err = self.replay(args + model, stdin)
            self.assertEqual((code, out), (1, ref), (args, err))
        code, out, err = self.replay(["replay", gz, "--json"] + model)
        self.assertEqual(code, 1, err)
        doc = json.loads(out)
        self.assertEqual(doc["summary"], {"windows": 2, "anomalies": 1, "critical": 0, "not_analysed": 0})
        w = doc["windows"]
        self.assertEqual([(x["service"], x["start"], x["lines"]) for x in w],
                         [("api", "2026-11-24T10:00:00.000Z", 2), ("api", "2026-11-24T10:05:00.000Z", 1)])
        self.assertEqual([(a["severity"], a["type"]) for a in w[0]["anomalies"]], [("high", "error_spike")])
        self.assertEqual(w[1]["anomalies"], [])
        # nothing found: 0
        text_log(plain, rows[:1])
        code, out, err = self.replay(["replay", plain, "--llm-url", "none", "--json"])
        self.assertEqual(code, 0, err)
        self.assertEqual(json.loads(out)["summary"]["anomalies"], 0)
        # errors: 2, naming the input
        code, _, err = self.replay(["replay", os.path.join(self.dir, "missing.log")])
        self.assertEqual(code, 2)
        self.assertIn("missing.log", err)
        with open(gz, "wb") as f:
            f.write(gzip.compress(data)[:30])  # cut short
        code, _, err = self.replay(["replay", gz, "--llm-url", "none"])
        self.assertEqual(code, 2)
        self.assertIn("a.log.gz", err)
        self.assertEqual(self.replay(["replay", plain, "other.log"])[0], 2)

    def test_digest_and_templates_read_gzip_and_stdin(self):
        rows = [("2026-11-24T10:00:0%dZ" % i, "INFO", "user %d logged in" % i) for i in range(5)]
        gz = os.path.join(self.dir, "a.log.gz")
        data = text_log(gz, rows, compress=True)
        code, out, err = self.replay(["digest", gz, "--llm-url", "none"])
        self.assertEqual(code, 0, err)
        self.assertIn("(5 lines)", out)
        code, out2, err = self.replay(["digest", "-", "--llm-url", "none"], data)
        self.assertEqual((code, out2), (0, out), err)
        code, out, err = self.replay(["templates", gz, "--summary"])
        self.assertEqual(code, 0, err)
        self.assertEqual(out.split("\t")[1], "5")
        code, out2, err = self.replay(["templates", "-", "--summary"], gzip.compress(data))
        self.assertEqual((code, out2), (0, out), err)

    def test_progress_on_request(self):
        rows = [("2026-11-24T%02d:%02d:00Z" % (10 + m // 60, m % 60), "INFO", "tick %d" % m) for m in range(120)]
        path = os.path.join(self.dir, "long.log")
        text_log(path, rows)
        code, _, err = self.replay(["replay", path, "--llm-url", "none", "--window", "1m"])
        self.assertEqual(code, 0, err)
        self.assertNotIn("storing", err)  # stderr is not a terminal: quiet unless asked
        code, _, err = self.replay(["replay", path, "--llm-url", "none", "--window", "1m", "--progress"])
        self.assertEqual(code, 0, err)
        self.assertIn("reading %s" % path, err)
        self.assertIn("storing 120 entries", err)

    def test_iana_time_zones(self):
        rows = [("2026-07-01T12:00:00", "INFO", "summer"), ("2026-01-15T12:00:00", "INFO", "winter"),
                ("2026-03-29T02:30:00", "INFO", "skipped hour"), ("2026-10-25T02:30:00", "INFO", "hour twice")]
        path = os.path.join(self.dir, "tz.log")
        text_log(path, rows)

        def starts(zone):
            code, out, err = self.replay(["replay", path, "--llm-url", "none", "--window", "1m", "--json",
                                          "--timezone", zone])
            self.assertEqual(code, 0, err)
            return sorted(w["start"][:16] for w in json.loads(out)["windows"])
        self.assertEqual(starts("Europe/Berlin"), ["2026-01-15T11:00", "2026-03-29T01:30", "2026-07-01T10:00",
                                                   "2026-10-25T00:30"])
        self.assertEqual(starts("America/New_York")[:1], ["2026-01-15T17:00"])
        self.assertEqual(starts("+02:00"), ["2026-01-15T10:00", "2026-03-29T00:30", "2026-07-01T10:00",
                                            "2026-10-25T00:30"])
        for bad in ("Mars/Olympus", "../etc/passwd", "Europe/../../etc/passwd"):
            code, _, err = self.replay(["replay", path, "--timezone", bad])
            self.assertEqual(code, 2, bad)
            self.assertIn("--timezone", err)


if __name__ == "__main__":
    unittest.main()
