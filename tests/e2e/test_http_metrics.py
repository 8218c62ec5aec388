"""GET /metrics: HTTP requests by route pattern and status with a latency
histogram per route, items of bulk requests and records of OTLP exports
refused while the rest was stored; and GET /_cluster/health, which Vector's
elasticsearch sink asks at start-up. The text is checked by promtool when it
is installed."""
import json
import re
import shutil
import subprocess
import unittest

from harness import ServerTest


def series(text, name):
    """{labels string: value} of one metric's samples."""
    out = {}
    for m in re.finditer(r"^%s(\{.*\})? (\S+)$" % re.escape(name), text, re.M):
        out[m.group(1) or ""] = float(m.group(2))
    return out


class HttpMetricsTest(ServerTest):
    def metrics(self):
        st, body, _ = self.srv.get("/metrics")
        self.assertEqual(st, 200)
        return body.decode() if isinstance(body, bytes) else body

    def test_requests_by_route_and_status_with_latency(self):
        srv = self.srv
        before = series(self.metrics(), "anomalog_http_requests_total")  # the harness waited on /readyz
        ready0 = before.get('{route="/readyz",status="200"}', 0)
        for _ in range(3):
            self.assertEqual(srv.get("/readyz")[0], 200)
        self.assertEqual(srv.get("/windows/999999")[0], 404)  # a route, answered 404
        self.assertEqual(srv.get("/no/such/thing")[0], 404)  # no route
        self.assertEqual(srv.get("/no/such/thing2")[0], 404)  # made-up paths never become labels
        self.assertEqual(srv.ingest("a line\n", "text/plain")[0], 202)
        text = self.metrics()
        req = series(text, "anomalog_http_requests_total")
        self.assertEqual(req['{route="/readyz",status="200"}'], ready0 + 3)
        self.assertEqual(req['{route="/metrics",status="200"}'], 1)  # the scrape before; this one is not yet answered
        self.assertEqual(req['{route="/windows/{id}",status="404"}'], 1)
        self.assertEqual(req['{route="unmatched",status="404"}'], 2)
        self.assertEqual(req['{route="/ingest",status="202"}'], 1)
        self.assertNotIn("thing", text)
        count = series(text, "anomalog_http_request_duration_seconds_count")
        self.assertEqual(count['{route="/readyz"}'], ready0 + 3)
        buckets = [(m.group(1), float(m.group(2))) for m in re.finditer(
            r'^anomalog_http_request_duration_seconds_bucket\{route="/readyz",le="([^"]+)"\} (\S+)$', text, re.M)]
        self.assertEqual(buckets[-1], ("+Inf", ready0 + 3))
        self.assertEqual([v for _, v in buckets], sorted(v for _, v in buckets), "cumulative")
        self.assertGreater(series(text, "anomalog_http_request_duration_seconds_sum")['{route="/readyz"}'], 0)
        promtool = shutil.which("promtool")
        if promtool:
            p = subprocess.run([promtool, "check", "metrics"], input=text.encode(), capture_output=True)
            self.assertNotIn(b"error", p.stdout + p.stderr, p.stdout + p.stderr)

    def test_refused_items_and_records(self):
        srv = self.srv
        deep = "[" * 1000 + "]" * 1000
        nd = {"Content-Type": "application/x-ndjson"}
        body = '{"create":{}}\n{"message": "bulk ok"}\n{"create":{}}\n{"message": %s}\n' % deep
        st, b, _ = srv.request("POST", "/_bulk", body, nd)
        self.assertEqual((st, [i["create"]["status"] for i in b["items"]]), (200, [201, 400]), b)
        records = [{"timeUnixNano": "1795514400000000000", "body": {"stringValue": "fine"}},
                   {"timeUnixNano": "1795514400000000000", "body": {"arrayValue": {"values": [
                       {"arrayValue": {"values": []}}]}}}]
        for _ in range(60):  # nest the second record's body past the bound
            records[1]["body"] = {"arrayValue": {"values": [records[1]["body"]]}}
        body = json.dumps({"resourceLogs": [{"scopeLogs": [{"logRecords": records}]}]})
        st, b, _ = srv.request("POST", "/v1/logs", body, {"Content-Type": "application/json"})
        self.assertEqual(st, 200, b)
        rejected = b.get("partialSuccess", {}).get("rejectedLogRecords", 0)
        items = series(self.metrics(), "anomalog_ingest_rejected_items_total")
        self.assertEqual(items['{endpoint="/_bulk"}'], 1)
        self.assertEqual(items['{endpoint="/v1/logs"}'], rejected)
        self.assertEqual(rejected, 1, b)

    def test_cluster_health_for_vector(self):
        st, b, h = self.srv.get("/_cluster/health")
        self.assertEqual((st, b["status"], b["number_of_nodes"]), (200, "green", 1), b)
        self.assertEqual(h.get("x-elastic-product"), "Elasticsearch")


if __name__ == "__main__":
    unittest.main()
