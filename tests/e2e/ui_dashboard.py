"""The built-in dashboard in headless Chromium (Debian's chromium, driven by
playwright-core from tests/ui/). Seeds windows and anomalies through the
fake model, then tests/ui/dashboard.mjs checks the page: no console errors,
timelines coloured by health, the anomalies, filters, a window's digest,
feedback, and log text with HTML in it shown as text. The screenshot lands
at $UI_SCREENSHOT (build/dashboard.png)."""
import json
import os
import re
import shutil
import subprocess
import unittest

from harness import FakeLLM, ServerTest, ndjson, needs, wait_for

T0 = 1795514400  # 2026-11-24T10:00:00Z
HERE = os.path.dirname(os.path.abspath(__file__))
TOOLS = os.environ.get("UI_TOOLS") or os.path.join(HERE, "..", "..", "build", "test-tools-ui")
SHOT = os.environ.get("UI_SCREENSHOT") or os.path.join(HERE, "..", "..", "build", "dashboard.png")
HTML = '<img src=x onerror="window.__xss=1"><b>bold</b>'


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
        srv = self.start_server(args=["--llm-url", llm.url, "--window", "1m", "--analysis-skip-quiet-windows", "false"])

        def window(service, k, health, *anomalies):
            llm.script([], then={"mode": "fixed", "content": verdict(health, *anomalies)})
            t = T0 + 60 * k
            rows = [{"ts": t + i, "service": service, "level": "info", "message": "GET /orders %d 200" % i}
                    for i in range(4)]
            rows.append({"ts": t + 30, "service": service, "level": "error", "message": "user agent " + HTML})
            self.assertEqual(srv.ingest(ndjson(rows))[0], 202)
            srv.request("POST", "/windows/flush")
            wait_for(lambda: srv.get("/windows?status=analyzed&service=%s&limit=1000" % service)[1]["windows"]
                     and len(srv.get("/windows?status=analyzed&limit=1000")[1]["windows"]) == self.n + 1,
                     what="window analysed")
            self.n += 1

        self.n = 0
        window("api", 0, "normal")
        window("api", 1, "degraded", ("medium", "latency", "p99 went from 80ms to 900ms", ["GET /orders took 912ms"]))
        window("api", 2, "critical", ("critical", "security", "Script tags in user agents <b>probe</b>",
                                      ["user agent " + HTML]))
        window("api", 3, "normal")
        window("db", 0, "degraded", ("low", "config", "pool size changed", ["max_connections=50"]))
        window("db", 1, "normal")
        # the security finding quotes a line of its window; the other two quote lines that are not there
        expect = {"services": {"api": 4, "db": 2}, "anomalies": 3, "critical": 1, "html_evidence": HTML,
                  "unverified": ["low", "medium"]}
        p = subprocess.run(["node", os.path.join(HERE, "..", "ui", "dashboard.mjs"), TOOLS,
                            "http://127.0.0.1:%d" % srv.port, SHOT, json.dumps(expect)],
                           capture_output=True, timeout=120)
        out = p.stdout.decode() + p.stderr.decode()
        print(out)
        self.assertEqual(p.returncode, 0, out)
        self.assertTrue(os.path.getsize(SHOT) > 10000, SHOT)
        m = re.search(r"feedback-sent (\d+)", out)
        self.assertTrue(m, out)
        st, a, _ = srv.get("/anomalies?limit=100")
        fb = {x["id"]: x["feedback"] for x in a["anomalies"]}
        self.assertEqual(fb[int(m.group(1))], "false_positive", fb)


if __name__ == "__main__":
    unittest.main()
