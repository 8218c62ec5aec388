"""docker/grafana-anomalog.json cannot drift from GET /metrics: every metric a
panel or a variable queries, and every label it groups or filters by, appears
in a live scrape of the real server after real traffic (ingest, a refusal, an
analysis through the fake model, a notification to the alert file)."""
import json
import os
import re
import unittest

from harness import FakeLLM, ServerTest, ndjson, wait_for

T0 = 1795514400  # 2026-11-24T10:00:00Z
DASHBOARD = os.path.join(os.path.dirname(__file__), "..", "..", "docker", "grafana-anomalog.json")
METRIC = re.compile(r"\banomalog_[a-zA-Z0-9_]+")
SAMPLE = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? \S+$')
LABEL = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="(?:[^"\\]|\\.)*"')
BY = re.compile(r"\b(?:by|without)\s*\(([^)]*)\)")
MATCHER = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)\s*(?:=~|!~|!=|=)\s*"')
# labels Prometheus adds at scrape time, and the histogram bucket label
SCRAPE_LABELS = {"instance", "job", "le"}


def panels(dash):
    for p in dash["panels"]:
        yield p
        yield from p.get("panels", [])


class GrafanaDashboardTest(ServerTest):
    autostart = False

    @classmethod
    def setUpClass(cls):
        with open(DASHBOARD) as f:
            cls.dash = json.load(f)

    def queries(self):
        """(where, PromQL) of every panel target and every query variable."""
        out = []
        for p in panels(self.dash):
            for t in p.get("targets", []):
                out.append(("panel %r" % p["title"], t["expr"]))
        for v in self.dash.get("templating", {}).get("list", []):
            if v.get("type") == "query":
                q = v["query"]["query"] if isinstance(v["query"], dict) else v["query"]
                out.append(("variable %r" % v["name"], q))
        return out

    def test_shape(self):
        self.assertEqual([i["name"] for i in self.dash["__inputs"]], ["DS_PROMETHEUS"])
        self.assertEqual(self.dash["__inputs"][0]["pluginId"], "prometheus")
        ids = set()
        for p in panels(self.dash):
            self.assertNotIn(p["id"], ids, "duplicate panel id")
            ids.add(p["id"])
            if p["type"] == "row":
                continue
            self.assertEqual(p["datasource"]["uid"], "${DS_PROMETHEUS}", p["title"])
            self.assertTrue(p["targets"], p["title"])
            for t in p["targets"]:
                self.assertEqual(t["datasource"]["uid"], "${DS_PROMETHEUS}", p["title"])
                self.assertTrue(METRIC.search(t["expr"]), (p["title"], t["expr"]))
            g = p["gridPos"]
            self.assertLessEqual(g["x"] + g["w"], 24, p["title"])
        # what the issue asks the dashboard to chart
        exprs = " ".join(e for _, e in self.queries())
        for needed in ["anomalog_ingested_lines_total", "anomalog_ingest_rejected_batches_total",
                       "anomalog_writer_queue_depth", "anomalog_writer_commit_seconds_bucket", "anomalog_windows",
                       "anomalog_analysis_seconds_bucket", "anomalog_model_calls_total",
                       "anomalog_model_prompt_tokens_total", "anomalog_model_completion_tokens_total",
                       "anomalog_anomalies_total", "anomalog_notifications_total", "anomalog_database_size_bytes"]:
            self.assertRegex(exprs, r"\b%s\b" % needed)
        self.assertIn("histogram_quantile(0.99", exprs)

    def scrape_after_traffic(self):
        llm = FakeLLM().start()
        self.addCleanup(llm.stop)
        llm.script([], then={"mode": "fixed", "content": json.dumps({"health": "critical", "anomalies": [
            {"severity": "high", "type": "security", "summary": "many failed logins",
             "evidence": ["login failed for root"], "recommended_action": "Block the source"},
            # the alert file takes low severity under the default routes
            {"severity": "low", "type": "auth_failure", "summary": "root tries to log in",
             "evidence": ["login failed for root"], "recommended_action": "Check who"}]})})
        srv = self.start_server(args=["--llm-url", llm.url, "--window", "1m", "--analysis-skip-quiet-windows", "false"],
                                env={"ANOMALOG_ALERT_FILE": os.path.join(self.dir, "alerts.jsonl")})
        rows = [{"ts": T0 + i, "service": "auth", "level": "warn", "message": "login failed for root"}
                for i in range(5)]
        self.assertEqual(srv.ingest(ndjson(rows))[0], 202)
        self.assertEqual(srv.ingest("{nope", "application/json")[0], 400)
        self.assertEqual(srv.request("POST", "/windows/flush")[0], 200)
        wait_for(lambda: srv.get("/windows?status=analyzed")[1]["windows"], what="an analysed window")

        def scrape():
            st, body, _ = srv.get("/metrics")
            self.assertEqual(st, 200)
            text = body.decode()
            return text if "anomalog_notifications_total{" in text else None
        return wait_for(scrape, what="a notification in the scrape")

    def test_every_queried_metric_and_label_is_scraped(self):
        text = self.scrape_after_traffic()
        labels = {}  # metric name -> labels seen on its samples
        for ln in text.splitlines():
            if not ln or ln.startswith("#"):
                continue
            m = SAMPLE.match(ln)
            self.assertTrue(m, ln)
            labels.setdefault(m.group(1), set()).update(LABEL.findall(m.group(2) or ""))
        for where, q in self.queries():
            names = set(METRIC.findall(q))
            self.assertTrue(names, "%s: %s queries no anomalog metric" % (where, q))
            for n in names:
                self.assertTrue(n in labels, "%s: %s is not in a live /metrics scrape" % (where, n))
            have = set().union(*(labels[n] for n in names)) | SCRAPE_LABELS
            used = set(MATCHER.findall(q))
            for grp in BY.findall(q):
                used.update(x.strip() for x in grp.split(",") if x.strip())
            m = re.search(r"label_values\([^,]+,\s*([a-zA-Z_][a-zA-Z0-9_]*)\)", q)
            if m:
                used.add(m.group(1))
            self.assertFalse(used - have, "%s: labels %s are on no sample of %s" % (where, used - have, names))


if __name__ == "__main__":
    unittest.main()
