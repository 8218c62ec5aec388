"""The backlog gauges of GET /metrics: anomalog_analysis_oldest_waiting_seconds
(how long the oldest window without a result has waited since it closed) and
anomalog_outbox_pending (notifications not delivered yet). Each is made
non-zero by a slow model and a webhook that refuses connections, then seen to
go back to zero once the window is analysed and the webhook takes the
delivery. Runs on SQLite and (e2e-pg.test_backlog_metrics) on PostgreSQL."""
import http.server
import json
import socket
import threading
import time
import unittest

from harness import FakeLLM, ServerTest, ndjson, slow, wait_for

T0 = 1795514400  # 2026-11-24T10:00:00Z
LINE = "login failed for root from 10.0.0.9"


class Hook:
    """A webhook whose port is bound from the start but listens only after start(): until then a delivery
    is refused and stays pending in the outbox."""

    def __init__(self):
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", 0))
        self.url = "http://127.0.0.1:%d/hook" % self.sock.getsockname()[1]
        self.got = []
        self.httpd = None

    def start(self):
        hook = self

        class H(http.server.BaseHTTPRequestHandler):
            def do_POST(self):
                hook.got.append(json.loads(self.rfile.read(int(self.headers.get("Content-Length") or 0))))
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *a):
                pass

        self.httpd = http.server.HTTPServer(("127.0.0.1", 0), H, bind_and_activate=False)
        self.httpd.socket.close()
        self.httpd.socket = self.sock
        self.httpd.server_activate()
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def stop(self):
        if self.httpd:
            self.httpd.shutdown()
        self.sock.close()


class BacklogMetricsTest(ServerTest):
    autostart = False

    def test_backlog_gauges_rise_and_fall(self):
        delay = slow(3)
        llm = FakeLLM().start()
        self.addCleanup(llm.stop)
        verdict = json.dumps({"health": "critical", "anomalies": [
            {"severity": "high", "type": "auth_failure", "summary": "failed logins for root",
             "evidence": [LINE], "recommended_action": "Block the source"}]})
        llm.script([{"mode": "slow", "delay_ms": int(delay * 1000)}], then={"mode": "fixed", "content": verdict})
        hook = Hook()
        self.addCleanup(hook.stop)
        srv = self.start_server(
            args=["--llm-url", llm.url, "--window", "1m", "--analysis-skip-quiet-windows", "false",
                  "--llm-retries", "0", "--notify-retry-base", "1s", "--notify-retry-max", "1s"],
            env={"ANOMALOG_WEBHOOK_URL": hook.url})
        # nothing waits: both gauges are there, at zero
        self.assertEqual(srv.metric("anomalog_analysis_oldest_waiting_seconds"), 0)
        self.assertEqual(srv.metric("anomalog_outbox_pending"), 0)

        rows = [{"ts": T0 + i, "service": "auth", "level": "warn", "message": LINE} for i in range(5)]
        self.assertEqual(srv.ingest(ndjson(rows))[0], 202)
        self.assertEqual(srv.metric("anomalog_analysis_oldest_waiting_seconds"), 0, "an open window is not waiting")
        self.assertEqual(srv.request("POST", "/windows/flush")[0], 200)
        flushed = time.time()
        # the model takes `delay` to answer: the window waits, and the gauge grows with the time since it closed
        first = wait_for(lambda: srv.metric("anomalog_analysis_oldest_waiting_seconds") or None,
                         what="the closed window counted as waiting")
        time.sleep(1)
        second = srv.metric("anomalog_analysis_oldest_waiting_seconds")
        if time.time() - flushed < delay:  # still waiting for the model (a loaded machine may have taken longer)
            self.assertGreater(second, first)
            self.assertLessEqual(second, time.time() - flushed + 0.5)
        wait_for(lambda: srv.get("/windows?status=analyzed")[1]["windows"], timeout=slow(30), what="analysed")
        self.assertEqual(srv.metric("anomalog_analysis_oldest_waiting_seconds"), 0)

        # the finding's notification is refused by the webhook: pending until it listens
        wait_for(lambda: srv.get("/notifications")[1]["notifications"], what="a notification in the outbox")
        wait_for(lambda: any(n["attempts"] > 0 for n in srv.get("/notifications")[1]["notifications"]),
                 what="a delivery tried and refused")
        self.assertEqual(srv.metric("anomalog_outbox_pending"), 1)
        self.assertEqual(srv.get("/notifications")[1]["counters"]["pending"], 1)
        hook.start()
        wait_for(lambda: hook.got, timeout=slow(20), what="the webhook's delivery")
        wait_for(lambda: srv.metric("anomalog_outbox_pending") == 0, what="the outbox emptied")
        self.assertEqual(srv.get("/notifications")[1]["counters"]["sent"], 1)
        self.assertEqual(hook.got[0]["anomaly"]["type"], "auth_failure")


if __name__ == "__main__":
    unittest.main()
