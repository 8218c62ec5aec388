"""The built-in dashboard in headless Chromium (Debian's chromium, driven by
playwright-core from tests/ui/). Seeds windows, anomalies and notifications
through the fake model (one PagerDuty delivery stays pending: its port refuses),
then tests/ui/dashboard.mjs checks the page: no console errors; one time axis
with ticks shared by every service's row; bar heights that follow line counts;
health colours; the anomalies; a window's view with its lines (paged) and
digest; deep links (/windows/{id}, /incidents/{id}, #window-N) and filters
kept in the URL across a reload; the incidents, suppressions and
notifications views; feedback; incidents drawn as bands on the overview (a
second server, the baseline alone, fed incident_log.py's cascade: its band
spans the incident's start..end on the axis, lies on exactly the rows of its
services, also on the row of a service whose windows are gone, and opens the
incident when clicked); feedback on that incident from its view, which asks
for the write token on the 401 and reaches every member anomaly; and log
text with HTML in it shown as text. Screenshots of the five views and the bands land at
$UI_SCREENSHOTS-{overview,window,incident,suppressions,notifications,bands}.png
(build/dashboard-*.png), each decoded in the browser and checked not blank."""
import json
import os
import re
import shutil
import socket
import subprocess
import unittest

from harness import PG_URL, FakeLLM, ServerTest, db_exec, ndjson, needs, slow, wait_for
from incident_log import generate

T0 = 1795514400  # 2026-11-24T10:00:00Z
HERE = os.path.dirname(os.path.abspath(__file__))
TOOLS = os.environ.get("UI_TOOLS") or os.path.join(HERE, "..", "..", "build", "test-tools-ui")
# the screenshots: PREFIX-overview.png, -window.png, -suppressions.png, -notifications.png
PREFIX = os.environ.get("UI_SCREENSHOTS") or os.path.join(HERE, "..", "..", "build", "dashboard")
HTML = '<img src=x onerror="window.__xss=1"><b>bold</b>'
WRITE_TOKEN = "w-7c1e-cascade"  # the cascade server's write token, typed into the page's prompt


def verdict(health, *anomalies):
    return json.dumps({"health": health, "anomalies": [
        {"severity": sev, "type": typ, "summary": summary, "evidence": evidence,
         "recommended_action": "Look at " + typ} for sev, typ, summary, evidence in anomalies]})


@needs(os.access("/usr/bin/chromium", os.X_OK) and shutil.which("node"), "Debian's chromium and node")
class DashboardTest(ServerTest):
    autostart = False

    def test_dashboard_in_chromium(self):
        subprocess.run([os.path.join(HERE, "..", "ui", "setup.sh"), TOOLS], check=True, timeout=240)
        llm = FakeLLM().start()
        self.addCleanup(llm.stop)
        pd = socket.socket()  # PagerDuty's port, bound but never listening: its delivery stays pending
        pd.bind(("127.0.0.1", 0))
        self.addCleanup(pd.close)
        free = socket.socket()  # a port known before the start, for the links in notifications
        free.bind(("127.0.0.1", 0))
        port = free.getsockname()[1]
        free.close()
        srv = self.start_server(args=["--llm-url", llm.url, "--window", "1m", "--analysis-skip-quiet-windows", "false",
                                      "--public-url", "http://127.0.0.1:%d" % port], port=port,
                                env={"ANOMALOG_ALERT_FILE": os.path.join(self.dir, "alerts.jsonl"),
                                     "ANOMALOG_PAGERDUTY_ROUTING_KEY": "R0UT1NGKEY",
                                     "ANOMALOG_PAGERDUTY_URL": "http://127.0.0.1:%d/v2/enqueue" % pd.getsockname()[1]})

        def window(service, k, health, *anomalies, lines=4):
            llm.script([], then={"mode": "fixed", "content": verdict(health, *anomalies)})
            t = T0 + 60 * k
            rows = [{"ts": t + i * 50 // lines, "service": service, "level": "info", "message": "GET /orders %d 200" % i}
                    for i in range(lines)]
            rows.append({"ts": t + 30, "service": service, "level": "error", "message": "user agent " + HTML,
                         "attributes": {"ua": HTML}})
            self.assertEqual(srv.ingest(ndjson(rows))[0], 202)
            srv.request("POST", "/windows/flush")
            wait_for(lambda: srv.get("/windows?status=analyzed&service=%s&limit=1000" % service)[1]["windows"]
                     and len(srv.get("/windows?status=analyzed&limit=1000")[1]["windows"]) == self.n + 1,
                     what="window analysed")
            self.n += 1

        self.n = 0
        window("api", 0, "normal")
        window("api", 1, "degraded", ("medium", "latency", "p99 went from 80ms to 900ms", ["GET /orders took 912ms"]),
               lines=130)  # more than a page of lines (100) in the window's view, and the tallest bar
        window("api", 2, "critical", ("critical", "security", "Script tags in user agents <b>probe</b>",
                                      ["user agent " + HTML]))
        window("api", 3, "normal")
        window("db", 0, "degraded", ("low", "config", "pool size changed", ["max_connections=50"]))
        window("db", 1, "normal", ("low", "resource", "orders slow", ["GET /orders 1 200"]))
        # the security finding and db's resource one quote lines of their windows (so they are routed: the
        # critical one to PagerDuty, the low one to the alert file); the other two quote lines that are not there
        wait_for(lambda: sorted(n["status"] for n in srv.get("/notifications")[1]["notifications"]) ==
                 ["pending", "sent"], what="the file's notification sent, PagerDuty's pending")
        windows = {(w["service"], w["start"][11:16]): w for w in srv.get("/windows?limit=100")[1]["windows"]}
        notes = srv.get("/notifications?limit=100")[1]["notifications"]
        supp = srv.get("/suppressions")[1]["suppressions"]
        self.assertTrue(notes and supp, (notes, supp))
        with open(os.path.join(self.dir, "alerts.jsonl")) as f:  # the file destination's notification
            alert = json.loads(f.readline())
        incidents = srv.get("/incidents?limit=100")[1]["incidents"]
        self.assertTrue(incidents, "the seeded findings make no incident")
        incident = srv.get("/incidents/%d" % max(incidents, key=lambda i: i["members"])["id"])[1]
        anomalies = srv.get("/anomalies?limit=100")[1]["anomalies"]  # the model's four and the baseline's
        expect = {"services": {"api": 4, "db": 2}, "anomalies": len(anomalies), "critical": 1, "html_evidence": HTML,
                  "unverified": ["low", "medium"],
                  "critical_window": windows[("api", "10:02")]["id"], "big_window": windows[("api", "10:01")]["id"],
                  "big_lines": windows[("api", "10:01")]["line_count"],
                  "small_window": windows[("api", "10:00")]["id"],
                  "same_start": [windows[("api", "10:01")]["id"], windows[("db", "10:01")]["id"]],
                  "notifications": len(notes), "notification_statuses": sorted({n["status"] for n in notes}),
                  "suppressions": len(supp),
                  "alert_link": alert["link"], "alert_window": windows[("db", "10:01")]["id"],
                  "incidents": len(incidents), "incident": incident["id"], "incident_root": incident["root_service"],
                  "incident_timeline": [t["window_id"] for t in incident["timeline"]],
                  "critical_suppressions": len([x for x in supp if x["severity"] == "critical"])}
        expect["bands"] = self.cascade_server()
        p = subprocess.run(["node", os.path.join(HERE, "..", "ui", "dashboard.mjs"), TOOLS,
                            "http://127.0.0.1:%d" % srv.port, PREFIX, json.dumps(expect)],
                           capture_output=True, timeout=slow(180))
        out = p.stdout.decode() + p.stderr.decode()
        print(out)
        self.assertEqual(p.returncode, 0, out)
        for view in ("overview", "window", "incident", "suppressions", "notifications", "bands"):
            self.assertIn("screenshot %s-%s.png" % (PREFIX, view), out)
            self.assertTrue(os.path.getsize("%s-%s.png" % (PREFIX, view)) > 10000, view)
        m = re.search(r"feedback-sent (\d+)", out)
        self.assertTrue(m, out)
        st, a, _ = srv.get("/anomalies?limit=100")
        fb = {x["id"]: x["feedback"] for x in a["anomalies"]}
        self.assertEqual(fb[int(m.group(1))], "false_positive", fb)
        # the incident's feedback reached the store: on it, and on each of its members (no other anomaly)
        m = re.search(r"incident-feedback-sent (\d+)", out)
        self.assertTrue(m, out)
        cas = self.cascade
        self.assertEqual(int(m.group(1)), expect["bands"]["incident"]["id"])
        members = set(expect["bands"]["incident"]["anomaly_ids"])
        got = {x["id"]: x["feedback"] for x in cas.get("/anomalies?limit=1000")[1]["anomalies"]}
        self.assertTrue(members and members <= set(got), (members, got))
        self.assertEqual({i: f for i, f in got.items() if f}, {i: "false_positive" for i in members})
        self.assertEqual(cas.get("/incidents/%s" % m.group(1))[1]["feedback"], "false_positive")

    def cascade_server(self):
        """A second server, the baseline alone, fed the generated cascade (db -> payments -> checkout -> edge)
        and the credential stuffing beside it: what the page's bands are checked against."""
        srv = self.start_server(args=["--llm-url", "none", "--window", "1m", "--incident-quiet", "3m"],
                                db=os.path.join(self.dir, "cascade.db"),
                                env={"ANOMALOG_AUTH_WRITE_TOKEN": WRITE_TOKEN})
        self.cascade = srv
        rows = generate(seed=1, minutes=20, t0=T0)
        for i in range(0, len(rows), 2000):
            self.assertEqual(srv.ingest(ndjson(rows[i:i + 2000]))[0], 202)
        self.assertEqual(srv.request("POST", "/windows/flush", headers={"Authorization": "Bearer " + WRITE_TOKEN})[0],
                         200)

        def analysed():
            w = srv.get("/windows?limit=1000")[1]["windows"]
            return w and all(x["status"] in ("analyzed", "failed") for x in w)
        wait_for(analysed, timeout=slow(60), what="every window of the cascade analysed")
        incs = srv.get("/incidents?limit=1000")[1]["incidents"]
        cascade = [i for i in incs if i["root_service"] == "db" and i["members"] > 1]
        self.assertEqual(len(cascade), 1, incs)
        services = sorted(x["name"] for x in srv.get("/services?limit=1000")[1]["services"])
        # edge's windows gone (as when its row's windows are older than the range shown, or expired), its
        # incidents not: its row has no window, and still its bands
        # (on PostgreSQL its lines, prompts and anomalies still point at those windows: the foreign keys are
        # switched off for this one statement, as SQLite does not check them)
        drop = "DELETE FROM windows WHERE service_id = (SELECT id FROM services WHERE name = 'edge')"
        db_exec(srv.db, "SET session_replication_role = replica; " + drop if PG_URL else drop)
        self.assertFalse(srv.get("/windows?service=edge")[1]["windows"])
        return {"base": "http://127.0.0.1:%d" % srv.port, "incident": cascade[0], "services": services,
                "incidents": incs, "bare": "edge", "write_token": WRITE_TOKEN}


if __name__ == "__main__":
    unittest.main()
