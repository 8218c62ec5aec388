"""anomalog's own logs: log.format json gives one JSON object per stderr line,
log.level filters, and the lifecycle lines (listening, draining, stopped) are
never filtered because the harness and supervisors read them."""
import json
import os
import re
import time
import unittest

from harness import ServerTest, ndjson, run_cli

# an unreachable model and on_model_failure: retry make every window fail: a warn line
FAILING = ["--dry-run", "--llm-url", "http://127.0.0.1:1/v1", "--llm-retries", "0",
           "--analysis-on-model-failure", "retry", "--window", "1s", "--grace", "1ms"]
OLD_LINE = ndjson([{"ts": "2024-01-01T00:00:00Z", "service": 'svc "quoted"\\x', "message": "boom\ttab"}])
TS = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")


class JsonLogs(ServerTest):
    server_args = ["--log-format", "json", "--log-level", "info"] + FAILING

    def records(self, srv):
        lines = srv.stderr().splitlines()
        self.assertTrue(lines)
        out = []
        for line in lines:
            rec = json.loads(line)  # every line is one JSON object
            self.assertEqual(set(rec), {"ts", "level", "component", "msg"}, line)
            self.assertRegex(rec["ts"], TS)
            self.assertIn(rec["level"], ("debug", "info", "warn", "error", "notice"))
            self.assertTrue(rec["component"])
            out.append(rec)
        return out

    def wait_for(self, srv, text, timeout=20):
        deadline = time.time() + timeout
        while time.time() < deadline:
            if text in srv.stderr():
                return
            time.sleep(0.1)
        self.fail("no %r in:\n%s" % (text, srv.stderr()))

    def test_every_line_is_json(self):
        st, _, _ = self.srv.ingest(OLD_LINE)
        self.assertEqual(st, 202)
        self.wait_for(self.srv, "failed: model")
        self.assertEqual(self.srv.stop(), 0)
        recs = self.records(self.srv)
        by_msg = {r["msg"].split(" ")[0]: r for r in recs}
        listening = [r for r in recs if r["msg"].startswith("listening on 127.0.0.1:%d (" % self.srv.port)]
        self.assertEqual(len(listening), 1, recs)
        self.assertEqual(listening[0]["level"], "notice")
        self.assertTrue(any(r["msg"].startswith("stopped after 1 entries") for r in recs), recs)
        self.assertEqual(by_msg["0"]["level"], "info")  # "0 destination(s), …" of --dry-run
        failed = [r for r in recs if "failed: model" in r["msg"]]
        self.assertTrue(failed, recs)
        self.assertEqual(failed[0]["level"], "warn")
        self.assertEqual(failed[0]["component"], "analysis")
        self.assertIn('(svc "quoted"\\x)', failed[0]["msg"])  # quotes and backslashes survive the escaping

    def test_error_level_keeps_the_lifecycle_lines(self):
        # its own database: the class's server holds the lock of the default one (one process per database)
        srv = self.start_server(args=["--log-format", "json", "--log-level", "error"] + FAILING,
                                db=os.path.join(self.dir, "second.db"))
        self.assertEqual(srv.ingest(OLD_LINE)[0], 202)
        time.sleep(2.5)  # the window closes and fails (a warn line, filtered)
        self.assertEqual(srv.stop(), 0)
        recs = self.records(srv)
        self.assertEqual([r["level"] for r in recs], ["notice"] * 3, recs)
        self.assertTrue(recs[0]["msg"].startswith("listening on "))
        self.assertEqual(recs[1]["msg"], "SIGTERM: draining")
        self.assertTrue(recs[2]["msg"].startswith("stopped after "))


class TextLogs(ServerTest):
    server_args = FAILING

    def test_text_lines_as_before(self):
        self.assertEqual(self.srv.stop(), 0)
        lines = self.srv.stderr().splitlines()
        self.assertTrue(lines[0].startswith("anomalog: 0 destination(s), 0 route(s)"), lines)
        self.assertRegex(lines[1], r"^anomalog \d+\.\d+\.\d+: listening on 127\.0\.0\.1:\d+ \(db ")
        self.assertEqual(lines[2], "anomalog: SIGTERM: draining")
        self.assertEqual(lines[3], "anomalog: stopped after 0 entries in 0 batches")

    def test_environment_selects_json(self):
        srv = self.start_server(env={"ANOMALOG_LOG_FORMAT": "json", "ANOMALOG_LOG_LEVEL": "warn"},
                                db=os.path.join(self.dir, "second.db"))
        self.assertEqual(srv.stop(), 0)
        recs = [json.loads(l) for l in srv.stderr().splitlines()]
        self.assertEqual([r["level"] for r in recs], ["notice"] * 3, recs)  # the info line is filtered


class BadValues(unittest.TestCase):
    def test_rejected(self):
        rc, _, err = run_cli(["serve", "--log-format", "xml"])
        self.assertEqual(rc, 2)
        self.assertIn("invalid log format", err)
        rc, _, err = run_cli(["serve", "--log-level", "verbose"])
        self.assertEqual(rc, 2)
        self.assertIn("invalid log level", err)


if __name__ == "__main__":
    unittest.main()
