"""Retention end to end: raw lines older than retention.lines go in small
batches while ingestion keeps being answered; their windows stay; windows
with their anomalies, notifications, delivery attempts and ended suppression
intervals go after retention.windows; 0 disables either. A resolved incident
goes once its members have gone with their windows, and a newer one stays.

Ages are seconds here so that a test sees several retention cycles; lines
are old by their event time (an hour ago), so their windows are due as soon
as they are analysed."""
import json
import os
import threading
import time
import unittest

from harness import FakeLLM, ServerTest, db_rows, ndjson, slow, wait_for
from incident_log import generate
from test_incidents import IncidentBase, T0
from test_metrics import parse, val


def old_rows(service, now, n, windows=4, level="info"):
    """n lines an hour old, spread over `windows` windows of one second."""
    base = now - 3600
    return [{"ts": base + (i % windows), "service": service, "level": level, "message": "request %d served" % i}
            for i in range(n)]


class RetentionTest(ServerTest):
    autostart = False

    def db(self, sql, params=()):
        return db_rows(os.path.join(self.dir, "anomalog.db"), sql, params)

    def lines_of(self, service):
        return self.db("SELECT count(*) FROM logs l JOIN windows w ON w.id = l.window_id "
                       "JOIN services s ON s.id = w.service_id WHERE s.name = ?", (service,))[0][0]

    def metrics(self, srv):
        st, body, _ = srv.get("/metrics")
        self.assertEqual(st, 200)
        return parse(body.decode())

    def windows(self, srv, service):
        st, body, _ = srv.get("/windows?limit=100&service=" + service)
        self.assertEqual(st, 200, body)
        return body["windows"]

    def test_old_lines_go_in_batches_while_ingest_answers_and_their_windows_stay(self):
        srv = self.start_server(args=["--llm-url", "none", "--window", "1s", "--grace", "1s",
                                      "--retention-lines", "12s", "--retention-windows", "0",
                                      "--retention-batch", "500"])
        now = int(time.time())
        fresh = [{"ts": now - 1, "service": "fresh", "message": "fresh line %d" % i} for i in range(200)]
        self.assertEqual(srv.ingest(ndjson(fresh))[0], 202)
        rows = old_rows("old", now, 20000)
        for k in range(0, len(rows), 5000):
            self.assertEqual(srv.ingest(ndjson(rows[k:k + 5000]))[0], 202)

        # a client keeps sending while retention works through the backlog
        latencies, stop = [], threading.Event()

        def probe():
            c = srv.conn(timeout=30)
            i = 0
            while not stop.is_set():
                t0 = time.monotonic()
                st = srv.ingest(ndjson([{"service": "probe", "message": "probe %d" % i}]), conn=c)[0]
                latencies.append((time.monotonic() - t0, st))
                i += 1
                time.sleep(0.02)
            c.close()
        th = threading.Thread(target=probe)
        th.start()
        try:
            wait_for(lambda: self.lines_of("old") == 0, timeout=30, what="old lines deleted")
        finally:
            stop.set()
            th.join()
        self.assertEqual(self.lines_of("fresh"), 200, "lines younger than retention.lines are kept")
        # the windows stay, with their counts; only their lines went
        old = self.windows(srv, "old")
        self.assertEqual(sorted(w["line_count"] for w in old), [5000] * 4, old)
        self.assertTrue(all(w["status"] == "analyzed" for w in old), old)
        self.assertEqual(self.db("SELECT count(*) FROM windows w JOIN services s ON s.id = w.service_id "
                                 "WHERE s.name = 'old' AND lines_expired = 1")[0][0], 4)
        m = self.metrics(srv)
        self.assertGreaterEqual(val(m, "anomalog_retention_deleted_rows_total", table="logs"), 20000)
        self.assertEqual(val(m, "anomalog_retention_deleted_rows_total", table="windows"), 0)
        # 20000 lines at 500 per transaction: at least 40 batches, each short
        batches = val(m, "anomalog_retention_batch_seconds_count")
        self.assertGreaterEqual(batches, 40, m)
        self.assertEqual(val(m, "anomalog_retention_batch_seconds_bucket", le="+Inf"), batches)
        self.assertIn("retention: deleted", srv.stderr())
        # ingestion was answered all along, and quickly
        self.assertGreaterEqual(len(latencies), 10, latencies)
        self.assertEqual({st for _, st in latencies}, {202}, latencies)
        self.assertLess(max(t for t, _ in latencies), slow(2.0), sorted(latencies)[-5:])

    def test_windows_anomalies_and_notifications_go_after_retention_windows(self):
        llm = FakeLLM().start()
        self.addCleanup(llm.stop)
        llm.script([], then={"mode": "fixed", "content": json.dumps({"health": "degraded", "anomalies": [
            {"severity": "low", "type": "config", "summary": "a setting changed", "evidence": ["request 0 served"],
             "recommended_action": "Check the change"}]})})
        alerts = os.path.join(self.dir, "alerts.jsonl")
        srv = self.start_server(args=["--llm-url", llm.url, "--window", "1s", "--grace", "1s",
                                      "--analysis-skip-quiet-windows", "false", "--suppress", "1s",
                                      "--retention-lines", "2s", "--retention-windows", "8s"],
                                env={"ANOMALOG_ALERT_FILE": alerts})
        now = int(time.time())
        self.assertEqual(srv.ingest(ndjson(old_rows("api", now, 40, windows=2)))[0], 202)
        srv.request("POST", "/windows/flush")
        wait_for(lambda: len([w for w in self.windows(srv, "api") if w["status"] == "analyzed"]) == 2,
                 what="windows analysed")
        wait_for(lambda: srv.get("/notifications?status=sent")[1]["notifications"], what="notification sent")
        # lines go first; the windows, their anomalies and notifications are still there
        wait_for(lambda: self.lines_of("api") == 0, timeout=6, what="lines deleted")
        self.assertEqual(len(self.windows(srv, "api")), 2)
        self.assertEqual(len(srv.get("/anomalies?service=api")[1]["anomalies"]), 2)
        self.assertTrue(srv.get("/notifications")[1]["notifications"])
        self.assertEqual(self.db("SELECT count(*) FROM suppressions")[0][0], 1)
        # then everything of the windows
        wait_for(lambda: not self.windows(srv, "api"), timeout=20, what="windows deleted")
        self.assertEqual(srv.get("/anomalies?service=api")[1]["anomalies"], [])
        self.assertEqual(srv.get("/notifications")[1]["notifications"], [])
        for table in ("anomalies", "outbox", "delivery_attempts", "window_prompts", "template_counts"):
            self.assertEqual(self.db("SELECT count(*) FROM " + table)[0][0], 0, table)
        # the suppression interval (1s) ended after its anomaly: it goes retention.windows after its end
        wait_for(lambda: self.db("SELECT count(*) FROM suppressions")[0][0] == 0, timeout=10,
                 what="suppression deleted")
        m = self.metrics(srv)
        self.assertEqual(val(m, "anomalog_retention_deleted_rows_total", table="windows"), 2)
        self.assertEqual(val(m, "anomalog_retention_deleted_rows_total", table="anomalies"), 2)
        self.assertEqual(val(m, "anomalog_retention_deleted_rows_total", table="outbox"), 1)
        self.assertEqual(val(m, "anomalog_retention_deleted_rows_total", table="delivery_attempts"), 1)
        self.assertEqual(val(m, "anomalog_retention_deleted_rows_total", table="suppressions"), 1)
        self.assertEqual(val(m, "anomalog_retention_deleted_rows_total", table="logs"), 40)
        # a line for a deleted window (the writer had it cached) is stored in a new one
        st, body, _ = srv.ingest(ndjson(old_rows("api", now, 1)))
        self.assertEqual(st, 202, body)
        self.assertEqual([w["line_count"] for w in self.windows(srv, "api")], [1])
        self.assertEqual(self.lines_of("api"), 1)

    def test_zero_disables_line_retention_and_window_retention_takes_the_lines_along(self):
        srv = self.start_server(args=["--llm-url", "none", "--window", "1s", "--grace", "1s",
                                      "--retention-lines", "0", "--retention-windows", "5s"])
        now = int(time.time())
        self.assertEqual(srv.ingest(ndjson(old_rows("api", now, 100, windows=2)))[0], 202)
        srv.request("POST", "/windows/flush")
        wait_for(lambda: len([w for w in self.windows(srv, "api") if w["status"] == "analyzed"]) == 2,
                 what="windows analysed")
        # lines an hour old, and retention cycles every second: line retention is off, so they stay
        time.sleep(3)
        self.assertEqual(self.lines_of("api"), 100)
        wait_for(lambda: not self.windows(srv, "api"), timeout=15, what="windows deleted")
        self.assertEqual(self.db("SELECT count(*) FROM logs")[0][0], 0)
        m = self.metrics(srv)
        self.assertEqual(val(m, "anomalog_retention_deleted_rows_total", table="logs"), 100)
        self.assertEqual(val(m, "anomalog_retention_deleted_rows_total", table="windows"), 2)


class IncidentRetentionTest(IncidentBase):
    def test_an_incident_goes_once_resolved_and_its_members_gone_and_a_newer_one_stays(self):
        keep = slow(30)  # retention.windows: longer than loading a log takes, so no window goes mid-load
        srv = self.serve("--incident-quiet", "3m", "--retention-lines", "1s", "--retention-windows", "%ds" % keep)
        db = lambda sql: db_rows(srv.db, sql)[0][0]  # noqa: E731

        def resolved():
            return self.incidents(srv) and not self.incidents(srv, "&status=open")
        # an old cascade (and the credential stuffing beside it), resolved: quiet for 3 minutes of event time
        self.load(srv, generate(seed=1, minutes=20, t0=T0))
        wait_for(resolved, timeout=slow(20), what="the old incidents resolved")
        old = self.incidents(srv)
        old_rows = db("SELECT count(*) FROM incidents")  # with those merged into them
        cascade, _ = self.cascade_and_stuffing(old)
        # the same a day later, well after: its windows expire later than the old ones
        time.sleep(slow(8))
        self.load(srv, generate(seed=1, minutes=20, t0=T0 + 86400))
        wait_for(lambda: len(self.incidents(srv)) > len(old) and resolved(), timeout=slow(20),
                 what="the new incidents resolved")
        new = [i for i in self.incidents(srv) if i["id"] not in {o["id"] for o in old}]
        new_cascade = max(new, key=lambda i: i["members"])
        # the old windows go with their anomalies, and then the old incidents
        wait_for(lambda: not {o["id"] for o in old} & {i["id"] for i in self.incidents(srv)},
                 timeout=keep + slow(30), what="the old incidents deleted")
        st, body, _ = srv.get("/incidents/%d" % cascade["id"])
        self.assertEqual(st, 404, body)
        self.assertEqual(db("SELECT count(*) FROM incidents WHERE start_ms < %d" % ((T0 + 86400) * 1000)), 0)
        self.assertEqual(srv.metric("anomalog_retention_deleted_rows_total", table="incidents"), old_rows)
        # the newer ones stay, whole, members and all
        self.assertEqual(sorted(i["id"] for i in self.incidents(srv)), sorted(i["id"] for i in new))
        st, body, _ = srv.get("/incidents/%d" % new_cascade["id"])
        self.assertEqual((st, body["anomaly_ids"]), (200, new_cascade["anomaly_ids"]), body)
        self.assertTrue(all(a["incident_id"] in {i["id"] for i in new} for a in self.anomalies(srv)))


if __name__ == "__main__":
    unittest.main()
