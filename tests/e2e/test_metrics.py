"""GET /metrics end to end: counters move with real traffic (ingest, refusals,
analysis through the fake model, a notification to the alert file), the
gauges read the database, service labels stay bounded, and Prometheus' own
promtool accepts the exposition."""
import json
import os
import re
import shutil
import subprocess
import time
import unittest

from harness import STRICT, FakeLLM, ServerTest, ndjson, needs, slow, sqlite_only, wait_for, write_lock

T0 = 1795514400  # 2026-11-24T10:00:00Z
PROMTOOL = shutil.which("promtool")
LINE = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})? (\S+)$')
LABEL = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"')


def parse(text):
    """{(name, frozenset of (label, value)): float} of every sample."""
    out = {}
    for ln in text.splitlines():
        if not ln or ln.startswith("#"):
            continue
        m = LINE.match(ln)
        assert m, "not a sample line: %r" % ln
        labels = frozenset(LABEL.findall(m.group(3) or ""))
        out[(m.group(1), labels)] = float(m.group(4))
    return out


def val(samples, name, **labels):
    return samples.get((name, frozenset(labels.items())), 0.0)


class MetricsTest(ServerTest):
    autostart = False

    def test_shipper_endpoints_count_under_their_own_label(self):
        srv = self.start_server(args=["--limits-max-body", "65536"])
        j = {"Content-Type": "application/json"}
        loki = {"streams": [{"stream": {"service_name": "api"}, "values": [["1795514400000000000", "from loki"]]}]}
        self.assertEqual(srv.request("POST", "/loki/api/v1/push", json.dumps(loki), j)[0], 204)
        self.assertEqual(srv.request("POST", "/loki/api/v1/push", "x", {"Content-Type": "text/plain"})[0], 415)
        otlp = {"resourceLogs": [{"resource": {"attributes": [{"key": "service.name", "value": {"stringValue": "api"}}]},
                                  "scopeLogs": [{"logRecords": [{"timeUnixNano": "1795514401000000000",
                                                                 "body": {"stringValue": "from otlp"}}]}]}]}
        self.assertEqual(srv.request("POST", "/v1/logs", json.dumps(otlp), j)[0], 200)
        self.assertEqual(srv.request("POST", "/v1/logs", '{"resourceLogs": 3}', j)[0], 400)
        nd = {"Content-Type": "application/x-ndjson"}
        doc = '{"create":{}}\n{"@timestamp":"2026-11-24T10:00:02Z","message":"from es","service":"api"}\n'
        self.assertEqual(srv.request("POST", "/_bulk", doc, nd)[0], 200)
        self.assertEqual(srv.request("PUT", "/logs-2026/_bulk", doc, nd)[0], 200)
        self.assertEqual(srv.request("POST", "/logs-2026/_bulk", "x" * 70000, nd)[0], 413)  # refused while arriving
        self.assertEqual(srv.request("POST", "/windows", "x" * 70000, nd)[0], 413)  # not an ingest route
        text, m = self.scrape(srv)
        for endpoint, lines in (("/loki/api/v1/push", 1), ("/v1/logs", 1), ("/_bulk", 2)):
            self.assertEqual(val(m, "anomalog_ingested_lines_total", endpoint=endpoint, service="api"), lines, text)
        self.assertEqual(val(m, "anomalog_ingest_rejected_batches_total", endpoint="/loki/api/v1/push",
                             reason="unsupported_media_type"), 1, text)
        self.assertEqual(val(m, "anomalog_ingest_rejected_batches_total", endpoint="/v1/logs",
                             reason="invalid_otlp"), 1, text)
        self.assertEqual(val(m, "anomalog_ingest_rejected_batches_total", endpoint="/_bulk",
                             reason="body_too_large"), 1, text)
        self.assertEqual(sum(v for (n, l), v in m.items() if n == "anomalog_ingest_rejected_batches_total"), 3, text)
        self.assertFalse([l for (n, l) in m if n.startswith("anomalog_ingest") and ("endpoint", "/ingest") in l
                          and n != "anomalog_ingest_rejected_batches_total" and m[(n, l)]], text)

    def scrape(self, srv):
        st, body, hdrs = srv.get("/metrics")
        self.assertEqual(st, 200)
        self.assertTrue(hdrs["content-type"].startswith("text/plain; version=0.0.4"), hdrs)
        text = body.decode()
        if PROMTOOL:
            p = subprocess.run([PROMTOOL, "check", "metrics"], input=text.encode(), capture_output=True, timeout=30)
            self.assertEqual(p.returncode, 0, (p.stdout + p.stderr).decode() + "\n" + text)
        elif STRICT:
            self.fail("missing dependency: promtool (Debian package prometheus): the format check cannot run")
        return text, parse(text)

    @needs(PROMTOOL, "promtool (Debian package prometheus)")
    def test_promtool_is_there(self):
        self.assertTrue(os.access(PROMTOOL, os.X_OK))

    def test_counters_follow_traffic_and_promtool_accepts_them(self):
        llm = FakeLLM().start()
        self.addCleanup(llm.stop)
        alerts = os.path.join(self.dir, "alerts.jsonl")
        srv = self.start_server(args=["--llm-url", llm.url, "--window", "1m", "--analysis-skip-quiet-windows", "false"],
                                env={"ANOMALOG_ALERT_FILE": alerts})
        llm.script([], then={"mode": "fixed", "content": json.dumps({"health": "degraded", "anomalies": [
            {"severity": "low", "type": "config", "summary": "a setting changed",
             "evidence": ["config reloaded 1"], "recommended_action": "Check the change"}]})})
        _, before = self.scrape(srv)
        self.assertEqual(val(before, "anomalog_ingested_lines_total", endpoint="/ingest", service="api"), 0)

        rows = [{"ts": T0 + i, "service": "api", "level": "info", "message": "config reloaded %d" % i} for i in range(3)]
        rows.append({"ts": T0 + 5, "service": "db", "level": "warn", "message": "slow query"})
        self.assertEqual(srv.ingest(ndjson(rows))[0], 202)
        self.assertEqual(srv.ingest("{not json", content_type="application/json")[0], 400)
        self.assertEqual(srv.ingest("x", content_type="image/png")[0], 415)
        self.assertEqual(srv.ingest("x", content_type="image/png")[0], 415)
        srv.request("POST", "/windows/flush")
        wait_for(lambda: len(srv.get("/windows?status=analyzed")[1]["windows"]) == 2, what="windows analysed")
        wait_for(lambda: os.path.exists(alerts) and open(alerts).read().strip(), what="alert file written")

        def notified():
            return val(self.scrape(srv)[1], "anomalog_notifications_total", destination="file", outcome="sent")
        wait_for(lambda: notified() >= 1, what="notification counted")
        text, m = self.scrape(srv)
        api_bytes = sum(len(r["message"]) for r in rows[:3])
        self.assertEqual(val(m, "anomalog_ingested_lines_total", endpoint="/ingest", service="api"), 3)
        self.assertEqual(val(m, "anomalog_ingested_bytes_total", endpoint="/ingest", service="api"), api_bytes)
        self.assertEqual(val(m, "anomalog_ingested_lines_total", endpoint="/ingest", service="db"), 1)
        self.assertEqual(val(m, "anomalog_ingest_rejected_batches_total", endpoint="/ingest",
                             reason="unsupported_media_type"), 2)
        self.assertEqual(sum(v for (n, l), v in m.items()
                             if n == "anomalog_ingest_rejected_batches_total"), 3, text)
        self.assertGreaterEqual(val(m, "anomalog_writer_commit_seconds_count"), 1)
        self.assertEqual(val(m, "anomalog_writer_commit_seconds_bucket", le="+Inf"),
                         val(m, "anomalog_writer_commit_seconds_count"))
        self.assertEqual(val(m, "anomalog_writer_queue_depth"), 0)
        self.assertEqual(val(m, "anomalog_windows", status="analyzed"), 2)
        self.assertEqual(val(m, "anomalog_windows", status="open"), 0)
        self.assertEqual(val(m, "anomalog_analysis_seconds_count"), 2)
        self.assertEqual(val(m, "anomalog_model_calls_total", outcome="ok"), 2)
        self.assertGreater(val(m, "anomalog_model_prompt_tokens_total"), 0)
        self.assertEqual(val(m, "anomalog_anomalies_total", severity="low", type="config"), 2)
        # the same answer for the db window quotes a line that is not in it: recorded, counted, not routed
        self.assertEqual(val(m, "anomalog_evidence_unverified_total"), 1)
        self.assertEqual(val(m, "anomalog_notifications_total", destination="file", outcome="sent"), 1)
        self.assertGreater(val(m, "anomalog_database_size_bytes"), 4096)
        self.assertEqual(val(m, "anomalog_build_info", version=srv.get("/healthz")[1]["version"]), 1)

    def test_service_labels_are_capped_and_overflow_into_other(self):
        srv = self.start_server()
        rows = [{"ts": T0, "service": "svc-%03d" % i, "message": "hello"} for i in range(100)]
        self.assertEqual(srv.ingest(ndjson(rows))[0], 202)
        _, m = self.scrape(srv)
        services = {dict(l)["service"]: v for (n, l), v in m.items() if n == "anomalog_ingested_lines_total"}
        self.assertLessEqual(len(services), 65, services)
        self.assertEqual(sum(services.values()), 100)
        self.assertEqual(services["_other"], 100 - (len(services) - 1))

    def test_label_values_are_escaped(self):
        srv = self.start_server()
        self.assertEqual(srv.ingest(ndjson([{"ts": T0, "service": 'we"ird\\svc', "message": "x"}]))[0], 202)
        _, m = self.scrape(srv)
        self.assertEqual(val(m, "anomalog_ingested_lines_total", endpoint="/ingest", service='we\\"ird\\\\svc'), 1)

    @sqlite_only  # acknowledged before it is stored: the ingest journal is SQLite's
    def test_scrape_during_a_writer_stall_shows_the_queue_at_once(self):
        srv = self.start_server()
        body = ndjson([{"ts": T0, "service": "api", "message": "waiting %d" % i} for i in range(50)])
        with write_lock(os.path.join(self.dir, "anomalog.db")):
            self.assertEqual(srv.ingest(body)[0], 202)
            t0 = time.monotonic()
            text, m = self.scrape(srv)
            took = time.monotonic() - t0
            # scaled under the sanitizers, but always under the 5 s an API read waits for the writer
            self.assertLess(took, min(slow(2.0), 4.0), "a scrape waited for the writer (API reads wait up to 5 s)")
            self.assertEqual(val(m, "anomalog_writer_queue_depth"), 1, text)
            self.assertGreater(val(m, "anomalog_writer_queue_bytes"), len(body) / 2, text)
        wait_for(lambda: val(self.scrape(srv)[1], "anomalog_writer_queue_bytes") == 0, what="queue drained")
        self.assertEqual(val(self.scrape(srv)[1], "anomalog_writer_queue_depth"), 0)

    def test_head_and_wrong_method(self):
        srv = self.start_server()
        st, body, hdrs = srv.request("HEAD", "/metrics")
        self.assertEqual(st, 200)
        self.assertError(srv.request("POST", "/metrics"), 405, "method_not_allowed")


if __name__ == "__main__":
    unittest.main()
