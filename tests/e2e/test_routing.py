"""Routing end to end: suppression of repeats (also across a restart),
routes by severity, the outbox surviving a receiver that is down, answers 500
or 429, dry runs and replays that send nothing, and a real Prometheus
Alertmanager that lists our alert.

Findings come from the fake model answering a fixed verdict, so each window
gives exactly the anomalies a test wants; the receivers are small HTTP servers
in this process, scripted per test."""
import hashlib
import hmac
import http.server
import json
import os
import shutil
import socket
import subprocess
import threading
import time
import unittest

from harness import FakeLLM, ServerTest, db_rows, ndjson, needs, run_cli, slow, wait_for

T0 = 1795514400  # 2026-11-24T10:00:00Z
ALERTMANAGER = "/usr/bin/prometheus-alertmanager"


def free_port():
    """A port free now, for a program that binds it itself (alertmanager): another process may take it
    before then, so its user retries with another (Receiver holds its socket instead)."""
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def bound_socket(port=0):
    """A TCP socket bound to 127.0.0.1:port (0: any free port) and not listening yet: the port is held,
    and a connection to it is refused until listen()."""
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind(("127.0.0.1", port))
    return s


def serve_on(sock, handler):
    """A ThreadingHTTPServer on the bound socket sock, listening and serving in a daemon thread."""
    httpd = http.server.ThreadingHTTPServer(sock.getsockname(), handler, bind_and_activate=False)
    httpd.socket.close()
    httpd.socket = sock
    httpd.server_activate()
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    return httpd


class Receiver:
    """A webhook-style receiver. Answers from `script` (status, headers) in order, then `default`.
    Its port is held from the start, but not listening until start(): a sender sees connection refused."""

    def __init__(self, default=200, body=b"ok", port=None, delay=0):
        self.sock = bound_socket(port or 0)
        self.port = self.sock.getsockname()[1]
        self.delay = delay  # seconds before each answer
        self.default = default
        self.body = body
        self.script = []
        self.requests = []  # (path, headers dict lowercased, body bytes, status answered)
        self.lock = threading.Lock()
        self.httpd = None

    @property
    def url(self):
        return "http://127.0.0.1:%d" % self.port

    def start(self):
        rcv = self

        class H(http.server.BaseHTTPRequestHandler):
            def do_POST(self):
                n = int(self.headers.get("Content-Length") or 0)
                data = self.rfile.read(n)
                time.sleep(rcv.delay)
                with rcv.lock:
                    status, hdrs = rcv.script.pop(0) if rcv.script else (rcv.default, {})
                    rcv.requests.append((self.path, {k.lower(): v for k, v in self.headers.items()}, data, status))
                self.send_response(status)
                for k, v in hdrs.items():
                    self.send_header(k, v)
                self.send_header("Content-Length", str(len(rcv.body)))
                self.end_headers()
                self.wfile.write(rcv.body)

            def log_message(self, *a):
                pass

        self.httpd = serve_on(self.sock, H)
        return self

    def stop(self):
        if self.httpd:
            self.httpd.shutdown()
            self.httpd.server_close()
            self.httpd = None
        self.sock.close()

    def got(self, status=None):
        with self.lock:
            return [(p, h, json.loads(b), s) for p, h, b, s in self.requests if status is None or s == status]


def start_alertmanager(test):
    """A real prometheus-alertmanager on a free port, stopped at the test's cleanup: (port, get(path) ->
    (status, body bytes))."""
    import urllib.request
    d = os.path.join(test.dir, "am")
    os.makedirs(d)
    with open(os.path.join(d, "am.yml"), "w") as f:
        f.write('route:\n  receiver: "null"\nreceivers:\n  - name: "null"\n')

    def get(path):
        try:
            with urllib.request.urlopen("http://127.0.0.1:%d%s" % (port, path), timeout=2) as r:
                return r.status, r.read()
        except OSError:
            return None, b""

    def stop(am):
        am.terminate()
        try:
            am.wait(10)
        except subprocess.TimeoutExpired:
            am.kill()
            am.wait()
    # alertmanager binds its port itself: one picked free may be taken meanwhile, then it exits and
    # another port is tried (ready means it answers, so it is ours)
    for attempt in range(3):
        port = free_port()
        log = os.path.join(d, "am-%d.log" % attempt)
        with open(log, "wb") as errf:
            am = subprocess.Popen([ALERTMANAGER, "--config.file=" + os.path.join(d, "am.yml"),
                                   "--storage.path=" + os.path.join(d, "data"),
                                   "--web.listen-address=127.0.0.1:%d" % port, "--cluster.listen-address="],
                                  stdout=subprocess.DEVNULL, stderr=errf)
        test.addCleanup(stop, am)
        wait_for(lambda: am.poll() is not None or get("/-/ready")[0] == 200, timeout=slow(30),
                 what="alertmanager ready")
        if am.poll() is None:
            return port, get
        with open(log, errors="replace") as f:
            err = f.read()
        if "address already in use" not in err:
            test.fail("alertmanager exited: " + err[-2000:])
    test.fail("alertmanager found no free port in 3 tries")


def verdict(*anomalies):
    return json.dumps({"health": "degraded", "anomalies": [
        {"severity": sev, "type": typ, "summary": "%s %s in window" % (sev, typ),
         "evidence": ["request 1 served"],  # a line of every window_lines() window
         "recommended_action": "Check the upstream"} for sev, typ in anomalies]})


def window_lines(service, t):
    return ndjson([{"ts": t + i, "service": service, "level": "info", "message": "request %d served" % i}
                   for i in range(3)])


class RoutingTest(ServerTest):
    autostart = False

    def setUp(self):
        super().setUp()
        self.llm = FakeLLM().start()
        self.addCleanup(self.llm.stop)

    def serve(self, *extra, env=None, db=None):
        # routing one anomaly at a time, as it goes with incidents off; by incident: test_incident_routing.py
        args = ["--incident-enabled", "false",
                "--llm-url", self.llm.url, "--window", "1m", "--analysis-skip-quiet-windows", "false",
                "--notify-retry-base", "200ms", "--notify-retry-max", "1s", "--notify-timeout", "2s"] + list(extra)
        return self.start_server(args=args, env=env, db=db)

    def answer(self, *anomalies):
        self.llm.script([], then={"mode": "fixed", "content": verdict(*anomalies)})

    def analyse(self, srv, service, starts):
        """Ingests one small window per start time, flushes, waits until all are analysed."""
        before = len(srv.get("/windows?status=analyzed&limit=1000")[1]["windows"])
        for t in starts:
            self.assertEqual(srv.ingest(window_lines(service, t))[0], 202)
        srv.request("POST", "/windows/flush")
        wait_for(lambda: len(srv.get("/windows?status=analyzed&limit=1000")[1]["windows"]) == before + len(starts),
                 what="windows analysed")

    def notifications(self, srv, status=None):
        q = "/notifications?limit=1000" + ("&status=" + status if status else "")
        st, b, _ = srv.get(q)
        self.assertEqual(st, 200, b)
        return b["notifications"]

    def test_a_cascade_notifies_once_per_pair_and_a_restart_keeps_suppressing(self):
        hook = Receiver().start()
        self.addCleanup(hook.stop)
        env = {"ANOMALOG_WEBHOOK_URL": hook.url + "/hook", "ANOMALOG_WEBHOOK_SECRET": "s3cret"}
        srv = self.serve(env=env)
        self.answer(("high", "latency"))
        self.analyse(srv, "api", [T0 + 60 * k for k in range(6)])  # six windows, one root cause
        wait_for(lambda: self.notifications(srv, "sent"), what="sent")
        time.sleep(0.5)
        got = hook.got()
        self.assertEqual(len(got), 1, got)
        path, headers, body, _ = got[0]
        self.assertEqual(path, "/hook")
        raw = hook.requests[0][2]
        self.assertEqual(headers["x-anomalog-signature"],
                         "sha256=" + hmac.new(b"s3cret", raw, hashlib.sha256).hexdigest())
        self.assertIn("suppressing repeats until", body["message"])
        self.assertTrue(body["link"].endswith("/windows/%d" % body["anomaly"]["window_id"]), body)
        an = srv.get("/anomalies?type=latency&limit=100")[1]["anomalies"]
        self.assertEqual(len(an), 6)
        first = [a for a in an if not a["suppressed"]]
        self.assertEqual(len(first), 1, an)
        self.assertEqual(first[0]["id"], body["anomaly"]["id"])
        self.assertEqual({a["suppressed_by"] for a in an if a["suppressed"]}, {first[0]["id"]})
        sup = srv.get("/suppressions")[1]["suppressions"]
        self.assertEqual([(s["service"], s["type"], s["opened_by"], s["suppressed"]) for s in sup],
                         [("api", "latency", first[0]["id"], 5)])
        # another pair of the same cascade notifies on its own
        self.answer(("high", "latency"), ("medium", "resource"))
        self.analyse(srv, "api", [T0 + 360])
        wait_for(lambda: len(hook.got()) == 2, what="second pair")
        self.assertEqual(hook.got()[1][2]["anomaly"]["type"], "resource")

        # a restart inside the interval still suppresses
        self.assertEqual(srv.stop(), 0)
        srv = self.serve(env=env, db=srv.db)
        self.answer(("high", "latency"))
        self.analyse(srv, "api", [T0 + 420])
        time.sleep(0.6)
        self.assertEqual(len(hook.got()), 2)
        last = srv.get("/anomalies?limit=1")[1]["anomalies"][0]
        self.assertEqual((last["suppressed"], last["suppressed_by"]), (True, first[0]["id"]))
        # a higher severity breaks through
        self.answer(("critical", "latency"))
        self.analyse(srv, "api", [T0 + 480])
        wait_for(lambda: len(hook.got()) == 3, what="breakthrough")
        b3 = hook.got()[2][2]
        self.assertEqual((b3["anomaly"]["severity"], b3["anomaly"]["type"]), ("critical", "latency"))
        self.assertNotEqual(b3["dedup_key"], body["dedup_key"])

    def test_default_routes_send_each_severity_where_they_belong(self):
        pd = Receiver(default=202, body=b'{"status":"success"}').start()
        slack = Receiver().start()
        self.addCleanup(pd.stop)
        self.addCleanup(slack.stop)
        alerts = os.path.join(self.dir, "alerts.jsonl")
        srv = self.serve(env={"ANOMALOG_PAGERDUTY_ROUTING_KEY": "R0UT1NGKEY", "ANOMALOG_PAGERDUTY_URL": pd.url + "/v2/enqueue",
                              "ANOMALOG_SLACK_WEBHOOK_URL": slack.url + "/services/T/B/X", "ANOMALOG_ALERT_FILE": alerts,
                              "ANOMALOG_PUBLIC_URL": "https://anomalog.example"})
        self.answer(("critical", "security"), ("high", "latency"), ("medium", "resource"), ("low", "config"))
        self.analyse(srv, "pay", [T0])
        wait_for(lambda: len(self.notifications(srv, "sent")) == 4, what="four sent")
        p = pd.got()
        self.assertEqual(len(p), 1, p)
        ev = p[0][2]
        self.assertEqual((p[0][0], ev["routing_key"], ev["event_action"]), ("/v2/enqueue", "R0UT1NGKEY", "trigger"))
        self.assertEqual((ev["payload"]["severity"], ev["payload"]["source"], ev["payload"]["class"]),
                         ("critical", "anomalog/pay", "security"))
        self.assertTrue(ev["dedup_key"].startswith("anomalog:pay:security:"), ev)
        self.assertIn("suppressing repeats until", ev["payload"]["summary"])
        self.assertEqual(ev["payload"]["custom_details"]["recommended_action"], "Check the upstream")
        self.assertTrue(ev["payload"]["custom_details"]["evidence"])
        self.assertTrue(ev["links"][0]["href"].startswith("https://anomalog.example/windows/"), ev)
        s = slack.got()
        self.assertEqual(sorted(x[2]["text"].split("]")[0] for x in s), ["*[HIGH", "*[MEDIUM"])
        self.assertIn("```", s[0][2]["text"])
        self.assertIn("Recommended action", s[0][2]["text"])
        with open(alerts) as f:
            lines = [json.loads(l) for l in f]
        self.assertEqual([(l["anomaly"]["severity"], l["anomaly"]["type"]) for l in lines], [("low", "config")])
        # no secret reaches the database
        self.assertNotIn("R0UT1NGKEY", json.dumps(db_rows(srv.db, "SELECT payload FROM outbox")))
        c = srv.get("/notifications")[1]["counters"]
        self.assertEqual((c["sent"], c["pending"], c["failed"]), (4, 0, 0))

    def test_config_routes_first_match_and_severity_filters(self):
        hook = Receiver().start()
        slack = Receiver().start()
        self.addCleanup(hook.stop)
        self.addCleanup(slack.stop)
        cfg = os.path.join(self.dir, "c.yaml")
        with open(cfg, "w") as f:
            f.write("route_mode: first\nsuppress: 30m\nsuppress_per_type:\n  config: 0s\n"
                    "destinations:\n  team-hook: {type: webhook, url: '%s/h'}\n  chat: {type: slack, url: '%s/s'}\n"
                    "routes:\n  - match: {service: billing}\n    to: [team-hook]\n"
                    "  - match: {severity_at_least: high}\n    to: [chat, team-hook]\n"
                    "  - match: {severity: low, type: config}\n    to: chat\n" % (hook.url, slack.url))
        srv = self.serve("--config", cfg)
        self.answer(("critical", "security"), ("medium", "resource"), ("low", "config"))
        self.analyse(srv, "billing", [T0])
        self.analyse(srv, "web", [T0])
        wait_for(lambda: len(self.notifications(srv, "sent")) == 6, what="six sent")
        hk = sorted((b["anomaly"]["service"], b["anomaly"]["severity"]) for _, _, b, _ in hook.got())
        self.assertEqual(hk, [("billing", "critical"), ("billing", "low"), ("billing", "medium"), ("web", "critical")])
        sl = sorted(b["text"].split("*")[1] for _, _, b, _ in slack.got())
        self.assertEqual(sl, ["[CRITICAL] web: security", "[LOW] web: config"])
        # a zero interval for one type: its repeats notify, the others stay suppressed
        self.analyse(srv, "web", [T0 + 60])
        wait_for(lambda: len(slack.got()) == 3, what="config repeat")
        time.sleep(0.5)
        self.assertEqual(len(slack.got()), 3)

    def test_a_hung_receiver_does_not_hold_up_the_others(self):
        hang = slow(4)  # under the sanitizers everything is slower: the hang is as much longer
        hook = Receiver(delay=hang).start()  # answers, but only after 4 s
        slack = Receiver().start()
        self.addCleanup(hook.stop)
        self.addCleanup(slack.stop)
        srv = self.serve("--notify-timeout", "%ds" % (2 * hang + 1),
                         env={"ANOMALOG_WEBHOOK_URL": hook.url + "/h", "ANOMALOG_SLACK_WEBHOOK_URL": slack.url + "/s"})
        self.answer(("high", "resource"), ("high", "latency"), ("medium", "config"))
        t0 = time.time()
        self.analyse(srv, "db", [T0])
        # three webhook deliveries hang; the Slack ones go out meanwhile, on the other senders
        wait_for(lambda: len(slack.got()) == 3, timeout=hang - 0.5, what="Slack notified while the webhook hangs")
        self.assertLess(time.time() - t0, hang - 0.1)
        self.assertEqual(len(hook.got()), 0)
        wait_for(lambda: len(hook.got()) == 3, timeout=15, what="the webhook's deliveries complete")
        wait_for(lambda: len(self.notifications(srv, "sent")) == 6, what="all six sent")
        self.assertEqual(len(slack.got()), 3)  # each delivered once

    def test_a_receiver_that_is_down_gets_the_notification_once_it_is_back(self):
        pd = Receiver(default=202, body=b'{"status":"success"}')  # not listening yet: refused
        self.addCleanup(pd.stop)
        srv = self.serve(env={"ANOMALOG_PAGERDUTY_ROUTING_KEY": "k", "ANOMALOG_PAGERDUTY_URL": pd.url + "/v2/enqueue"})
        self.answer(("critical", "resource"))
        self.analyse(srv, "db", [T0])
        wait_for(lambda: db_rows(srv.db, "SELECT count(*) FROM delivery_attempts")[0][0] >= 2, what="refused twice")
        n = self.notifications(srv)[0]
        self.assertEqual(n["status"], "pending")
        self.assertIn("onnect", n["last_error"])
        pd.script = [(500, {}), (429, {"Retry-After": "1"})]
        pd.start()
        t_start = time.time()
        sent = wait_for(lambda: self.notifications(srv, "sent"), what="delivered")[0]
        got = pd.got()
        self.assertEqual([s for _, _, _, s in got], [500, 429, 202])
        self.assertEqual(len({b["dedup_key"] for _, _, b, _ in got}), 1)
        t429 = [i for i, r in enumerate(got) if r[3] == 429][0]
        self.assertGreaterEqual(time.time() - t_start, 0.9)  # Retry-After: 1 was honoured
        self.assertEqual(t429, 1)
        attempts = db_rows(srv.db, "SELECT outcome, http_status FROM delivery_attempts ORDER BY id")
        self.assertEqual(sent["attempts"], len(attempts))
        self.assertEqual(attempts[-3:], [("retry", 500), ("retry", 429), ("sent", 202)])
        self.assertTrue(all(o == "retry" and s is None for o, s in attempts[:-3]), attempts)
        time.sleep(0.5)
        self.assertEqual(len(pd.got()), 3)  # delivered once, never again

    def test_a_refusal_fails_at_once_and_an_outage_past_the_give_up_age_fails(self):
        bad = Receiver(default=400, body=b"invalid payload").start()
        self.addCleanup(bad.stop)
        down = Receiver()  # never listening
        self.addCleanup(down.stop)
        cfg = os.path.join(self.dir, "c.yaml")
        with open(cfg, "w") as f:
            f.write("destinations:\n  bad: {type: webhook, url: '%s'}\n  down: {type: slack, url: '%s'}\n"
                    "routes:\n  - match: {type: security}\n    to: bad\n  - match: {type: latency}\n    to: down\n"
                    % (bad.url, down.url))
        srv = self.serve("--config", cfg, "--notify-give-up", "1s")
        self.answer(("critical", "security"), ("high", "latency"))
        self.analyse(srv, "api", [T0])
        failed = wait_for(lambda: (lambda f: f if len(f) == 2 else None)(self.notifications(srv, "failed")),
                          what="both failed")
        by = {n["destination"]: n for n in failed}
        self.assertEqual(by["bad"]["attempts"], 1)
        self.assertIn("HTTP 400", by["bad"]["last_error"])
        self.assertGreaterEqual(by["down"]["attempts"], 2)
        self.assertIn("gave up after", by["down"]["last_error"])
        self.assertEqual(len(bad.got()), 1)
        c = srv.get("/notifications")[1]["counters"]
        self.assertEqual((c["failed"], c["sent"], c["pending"]), (2, 0, 0))
        self.assertGreaterEqual(c["attempts"]["retry"], 1)
        st, b, _ = srv.get("/notifications?status=bogus")
        self.assertEqual(st, 400)

    def test_pending_notifications_survive_a_restart(self):
        hook = Receiver()  # down
        self.addCleanup(hook.stop)
        env = {"ANOMALOG_WEBHOOK_URL": hook.url}
        srv = self.serve(env=env)
        self.answer(("high", "error_spike"))
        self.analyse(srv, "api", [T0])
        wait_for(lambda: db_rows(srv.db, "SELECT count(*) FROM delivery_attempts")[0][0] >= 1, what="an attempt")
        srv.kill()
        hook.start()
        srv = self.serve(env=env, db=srv.db)
        wait_for(lambda: self.notifications(srv, "sent"), what="delivered after restart")
        self.assertEqual(len(hook.got()), 1)

    def test_evidence_not_in_the_window_is_recorded_but_pages_nobody(self):
        hook = Receiver().start()
        self.addCleanup(hook.stop)
        srv = self.serve(env={"ANOMALOG_WEBHOOK_URL": hook.url + "/hook"})

        def answer(*evidence):
            self.llm.script([], then={"mode": "fixed", "content": json.dumps({"health": "critical", "anomalies": [
                {"severity": "critical", "type": "security", "summary": "admin dropped the database",
                 "evidence": list(evidence), "recommended_action": "Restore the backup"}]})})

        def last_anomaly():
            return srv.get("/anomalies?limit=1")[1]["anomalies"][0]

        # invented evidence, evidence with one invented line among real ones, and no evidence at all
        for k, ev in enumerate([["2026-11-24T10:00:01Z ERROR DROP DATABASE orders; by admin"],
                                ["request 1 served", "request 9 served"],
                                []]):
            answer(*ev)
            self.analyse(srv, "api", [T0 + 60 * k])
            a = last_anomaly()
            self.assertEqual((a["analyzer"], a["severity"], a["evidence_verified"], a["suppressed"]),
                             ("llm", "critical", False, False), a)
            self.assertEqual(a["evidence"], ev)
        time.sleep(0.6)  # the sender polls: give it time to send what it should not
        self.assertEqual(hook.got(), [])
        self.assertEqual(self.notifications(srv), [])
        self.assertEqual(srv.get("/suppressions")[1]["suppressions"], [])  # no interval opened
        metrics = srv.get("/metrics")[1].decode()
        self.assertIn("\nanomalog_evidence_unverified_total 3\n", metrics)

        # the same finding quoting its window's lines (timestamp and level as the digest shows them,
        # or left out) is verified and routed: nothing above held it back
        answer("2026-11-24T10:03:01.000Z info request 1 served", "request 2 served")
        self.analyse(srv, "api", [T0 + 180])
        a = last_anomaly()
        self.assertEqual((a["evidence_verified"], a["suppressed"]), (True, False), a)
        got = wait_for(lambda: hook.got(), what="the verified anomaly notified")
        self.assertEqual(len(got), 1, got)
        self.assertEqual(got[0][2]["anomaly"]["id"], a["id"])
        self.assertEqual(got[0][2]["anomaly"]["evidence"], a["evidence"])
        self.assertIn("\nanomalog_evidence_unverified_total 3\n", srv.get("/metrics")[1].decode())
        # a quote whose timestamp is not the line's is not evidence
        answer("2026-11-24T10:04:02.000Z info request 1 served")
        self.analyse(srv, "api", [T0 + 240])
        self.assertFalse(last_anomaly()["evidence_verified"])
        # replay says so beside the finding
        path = os.path.join(self.dir, "r.ndjson")
        with open(path, "w") as f:
            f.write(window_lines("api", T0))
        code, out, err = run_cli(["replay", path, "--llm-url", self.llm.url, "--window", "1m",
                                  "--analysis-skip-quiet-windows", "false"])
        self.assertEqual(code, 1, err)  # 1: something was found
        self.assertIn("[critical] security: admin dropped the database (evidence not found in the window)\n", out)

    def test_dry_run_and_replay_send_nothing(self):
        hook = Receiver().start()
        self.addCleanup(hook.stop)
        env = {"ANOMALOG_WEBHOOK_URL": hook.url}
        srv = self.serve("--dry-run", env=env)
        self.answer(("critical", "security"))
        self.analyse(srv, "api", [T0])
        dry = wait_for(lambda: self.notifications(srv, "dry_run"), what="dry run recorded")
        self.assertEqual((len(dry), dry[0]["kind"], dry[0]["payload"]["anomaly"]["severity"]), (1, "webhook", "critical"))
        srv.stop()
        path = os.path.join(self.dir, "r.ndjson")
        with open(path, "w") as f:
            f.write(window_lines("api", T0))
        code, out, err = run_cli(["replay", path, "--llm-url", self.llm.url, "--window", "1m",
                                  "--analysis-skip-quiet-windows", "false"], env=env)
        self.assertEqual(code, 1, err)  # 1: something was found
        self.assertIn("[critical] security", out)
        time.sleep(0.5)
        self.assertEqual(hook.got(), [])

    @needs(os.access(ALERTMANAGER, os.X_OK), "prometheus-alertmanager")
    def test_a_real_alertmanager_lists_our_alert(self):
        port, get = start_alertmanager(self)
        srv = self.serve(env={"ANOMALOG_ALERTMANAGER_URL": "http://127.0.0.1:%d/" % port})
        self.answer(("high", "auth_failure"))
        self.analyse(srv, "sshd", [T0])
        n = wait_for(lambda: self.notifications(srv, "sent"), what="sent to alertmanager")[0]
        self.assertEqual(n["kind"], "alertmanager")
        alerts = wait_for(lambda: json.loads(get("/api/v2/alerts")[1] or b"[]"), what="alert listed")
        labels = [a["labels"] for a in alerts]
        self.assertIn({"alertname": "AnomalogAnomaly", "service": "sshd", "severity": "high", "type": "auth_failure"},
                      labels)
        a = alerts[0]
        self.assertIn("suppressing repeats until", a["annotations"]["suppression"])
        self.assertEqual(a["status"]["state"], "active")


if __name__ == "__main__":
    unittest.main()
