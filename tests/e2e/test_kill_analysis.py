"""Exactly-once analysis and at-least-once delivery with stable ids, under
SIGKILL.

Several services' windows are ingested and flushed; the fake model answers
slowly and a webhook receiver takes its time. The server is SIGKILLed again
and again while a model call is in flight and while the receiver holds a
notification (a kill between send and record), and restarted on the same
database each time. At the end every window is analysed exactly once (one
model finding per window, nothing recorded twice, every window in a final
status), every outbox row is delivered, and any notification the receiver
saw twice came with the same notification id and the same bytes, so the
receiver can drop the repeat. Prints what it measured."""
import http.server
import json
import os
import threading
import time
import unittest

from harness import PG_URL, FakeLLM, ServerTest, db_rows, ndjson, wait_for
from test_routing import bound_socket, serve_on

T0 = 1795514400  # 2026-11-24T10:00:00Z
SERVICES = ["api", "db", "web", "auth"]
WINDOWS_PER_SERVICE = 3
EVIDENCE = "disk latency 900ms on volume data"
ANSWER = json.dumps({"health": "degraded", "anomalies": [
    {"severity": "high", "type": "latency", "summary": "slow disk", "evidence": [EVIDENCE],
     "recommended_action": "Check the volume"}]})
KILLS_IN_ANALYSIS = 4
KILLS_IN_DELIVERY = 3


class SlowReceiver:
    """A webhook that records each request on arrival, then answers 200 after `delay` seconds.
    `waiting` counts the requests waiting for their answer."""

    def __init__(self, delay):
        self.sock = bound_socket()  # held from here on: no other process can take the port
        self.port = self.sock.getsockname()[1]
        self.delay = delay
        self.lock = threading.Lock()
        self.requests = []  # (notification id header, body bytes)
        self.waiting = 0

    @property
    def url(self):
        return "http://127.0.0.1:%d" % self.port

    def start(self):
        rcv = self

        class H(http.server.BaseHTTPRequestHandler):
            def do_POST(self):
                data = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                with rcv.lock:
                    rcv.requests.append((self.headers.get("X-Anomalog-Notification-Id"), data))
                    rcv.waiting += 1
                time.sleep(rcv.delay)
                with rcv.lock:
                    rcv.waiting -= 1
                try:
                    self.send_response(200)
                    self.send_header("Content-Length", "2")
                    self.end_headers()
                    self.wfile.write(b"ok")
                except OSError:
                    pass  # the sender was killed while we slept

            def log_message(self, *a):
                pass

        self.httpd = serve_on(self.sock, H)
        return self

    def stop(self):
        self.httpd.shutdown()
        self.httpd.server_close()

    def got(self):
        with self.lock:
            return list(self.requests)


def window_rows(service, t):
    rows = [{"ts": t + i, "service": service, "level": "info", "message": "GET /items/%d 200" % i} for i in range(5)]
    rows.append({"ts": t + 20, "service": service, "level": "error", "message": EVIDENCE})
    return rows


class KillAnalysisTest(ServerTest):
    autostart = False

    def test_sigkill_during_analysis_and_delivery(self):
        llm = FakeLLM().start()
        self.addCleanup(llm.stop)
        llm.script([], then={"mode": "fixed", "content": ANSWER, "delay_ms": 600})
        hook = SlowReceiver(delay=0.8).start()
        self.addCleanup(hook.stop)
        db = os.path.join(self.dir, "anomalog.db")
        args = ["--llm-url", llm.url, "--window", "1m", "--analysis-skip-quiet-windows", "false", "--analysis-workers", "2",
                "--llm-timeout", "5s", "--suppress", "0s", "--notify-retry-base", "100ms",
                "--notify-retry-max", "500ms", "--notify-timeout", "5s",
                "--incident-enabled", "false"]  # one notification per finding, so each is counted once
        if PG_URL:  # replicas share PostgreSQL: a dead process's claims are taken over when their lease ends
            args += ["--analysis-lease", "2s"]
        env = {"ANOMALOG_WEBHOOK_URL": hook.url + "/hook"}
        srv = self.start_server(args=args, env=env, db=db)
        rows = [r for k in range(WINDOWS_PER_SERVICE) for s in SERVICES for r in window_rows(s, T0 + 60 * k)]
        self.assertEqual(srv.ingest(ndjson(rows))[0], 202)
        self.assertEqual(srv.request("POST", "/windows/flush")[0], 200)
        n_windows = len(SERVICES) * WINDOWS_PER_SERVICE

        def count(sql):
            return db_rows(db, sql)[0][0]

        kills = {"analysis": 0, "delivery": 0}
        while kills["analysis"] < KILLS_IN_ANALYSIS or kills["delivery"] < KILLS_IN_DELIVERY:
            if kills["analysis"] < KILLS_IN_ANALYSIS:
                # a model call is in flight: a worker holds a window in 'analyzing'
                calls = llm.chat_count()
                wait_for(lambda: llm.chat_count() > calls, timeout=20, interval=0.02, what="a model call")
                time.sleep(0.2)
                self.assertGreater(count("SELECT count(*) FROM windows WHERE status = 'analyzing'"), 0)
                kind = "analysis"
            else:
                # the receiver holds a notification this server sent: it dies between send and record
                n0 = len(hook.got())
                wait_for(lambda: len(hook.got()) > n0, timeout=30, interval=0.02, what="a delivery")
                time.sleep(0.1)
                self.assertGreater(hook.waiting, 0)
                kind = "delivery"
            srv.kill()
            kills[kind] += 1
            srv = self.start_server(args=args, env=env, db=db)

        # let it finish undisturbed
        wait_for(lambda: count("SELECT count(*) FROM windows WHERE status = 'analyzed'") == n_windows,
                 timeout=60, what="every window analysed")
        wait_for(lambda: count("SELECT count(*) FROM outbox WHERE status <> 'sent'") == 0, timeout=60,
                 what="every notification delivered")

        # exactly once: one model finding per window, nothing recorded twice
        ws = srv.get("/windows?limit=1000")[1]["windows"]
        self.assertEqual(len(ws), n_windows)
        self.assertEqual({w["status"] for w in ws}, {"analyzed"})
        per_window = db_rows(db, "SELECT window_id, count(*), sum(CASE WHEN analyzer = 'llm' THEN 1 ELSE 0 END) "
                             "FROM anomalies GROUP BY window_id")
        self.assertEqual(len(per_window), n_windows, per_window)
        for wid, n, n_llm in per_window:
            self.assertEqual(n_llm, 1, (wid, n))
        self.assertEqual(count("SELECT count(*) FROM (SELECT window_id, type, analyzer FROM anomalies "
                               "GROUP BY 1, 2, 3 HAVING count(*) > 1) AS repeated"), 0)
        for w in ws:
            self.assertEqual(w["anomaly_count"], count("SELECT count(*) FROM anomalies WHERE window_id = %d" % w["id"]))
        self.assertEqual(count("SELECT count(*) FROM anomalies WHERE evidence_verified = 0"), 0)

        # every notification delivered; a repeat carries the same id and the same bytes
        outbox = dict(db_rows(db, "SELECT id, anomaly_id FROM outbox"))
        self.assertEqual(len(outbox), count("SELECT count(*) FROM anomalies"))  # one webhook row per anomaly
        got = hook.got()
        seen = {}
        for nid, body in got:
            self.assertIsNotNone(nid, "no X-Anomalog-Notification-Id")
            nid = int(nid)
            self.assertIn(nid, outbox)
            self.assertEqual(json.loads(body)["anomaly"]["id"], outbox[nid])
            if nid in seen:
                self.assertEqual(seen[nid], body, "a repeat of notification %d changed" % nid)
            seen[nid] = body
        self.assertEqual(set(seen), set(outbox))
        repeats = len(got) - len(seen)
        self.assertGreaterEqual(repeats, 1, "no kill fell between send and record")
        print("\nwindows analysed: %d (model calls: %d), notifications delivered: %d (receiver saw %d requests, "
              "%d repeat(s) with the same id), kills survived: %d (%d during analysis, %d during delivery)"
              % (n_windows, llm.chat_count(), len(outbox), len(got), repeats, sum(kills.values()),
                 kills["analysis"], kills["delivery"]))


if __name__ == "__main__":
    unittest.main()
