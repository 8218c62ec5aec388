"""Live answers against openapi/openapi.yaml: runs the service, calls every
endpoint on its success and error paths, and validates each answer's body
against the schema the document gives for its path, method, status and media
type (OpenAPI 3.1 schemas are JSON Schema 2020-12). An endpoint, status or
media type the document does not describe fails, and so does a field it does
not allow (its schemas say additionalProperties: false). Every route of
src/http/server.c must be documented and exercised here."""
import json
import os
import re
import threading
import unittest

import yaml
from jsonschema import Draft202012Validator
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

from harness import PG_URL, FakeLLM, ServerTest, ndjson, wait_for, write_lock

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.join(HERE, "..", "..")
T0 = 1795514400


def pointer(*parts):
    return "/".join(str(p).replace("~", "~0").replace("/", "~1") for p in parts)


def server_routes():
    src = open(os.path.join(ROOT, "src", "http", "server.c")).read()
    return set(re.findall(r'\{"([A-Z]+)", "(/[^"]*)", http_\w+(?:, [A-Z]+)?\}', src))


class ContractTest(ServerTest):
    autostart = False

    @classmethod
    def setUpClass(cls):
        with open(os.path.join(ROOT, "openapi", "openapi.yaml")) as f:
            cls.doc = yaml.safe_load(f)
        cls.registry = Registry().with_resource(
            "urn:anomalog:openapi", Resource.from_contents(cls.doc, default_specification=DRAFT202012))

    def setUp(self):
        super().setUp()
        self.exercised = set()

    def template_of(self, path):
        path = path.split("?")[0]
        for tpl in self.doc["paths"]:
            rx = "^" + re.sub(r"\\\{[^}]+\\\}", "[^/]+", re.escape(tpl)) + "$"
            if re.match(rx, path):
                return tpl
        self.fail("path %s is not in openapi.yaml" % path)

    def check(self, method, path, status, body=None, headers=None, srv=None):
        """Calls, asserts the status, validates the body against the document; returns the parsed body."""
        srv = srv or self.srv
        st, data, hdrs = srv.request(method, path, body, headers)
        self.assertEqual(st, status, (method, path, data))
        self.assertTrue(hdrs.get("x-request-id"), "%s %s %d: no X-Request-Id" % (method, path, status))
        tpl = self.template_of(path)
        op = self.doc["paths"][tpl].get(method.lower())
        self.assertIsNotNone(op, "%s %s is not in openapi.yaml" % (method, tpl))
        responses = op["responses"]
        key = str(status) if str(status) in responses else "default"
        self.assertIn(key, responses, "%s %s answers %d, which openapi.yaml does not list" % (method, tpl, status))
        self.exercised.add((method, tpl))
        resp, base = responses[key], "/" + pointer("paths", tpl, method.lower(), "responses", key)
        while "$ref" in resp:  # a shared answer under components/responses
            base = resp["$ref"][1:]
            resp = self.doc
            for part in base.strip("/").split("/"):
                resp = resp[part.replace("~1", "/").replace("~0", "~")]
        content = resp.get("content")
        if method == "HEAD" or not content:
            self.assertFalse(data, "%s %s %d: body where the document has none" % (method, tpl, status))
            return data
        ctype = hdrs.get("content-type", "").split(";")[0].strip()
        self.assertIn(ctype, content, "%s %s %d: media type %s is not documented" % (method, tpl, status, ctype))
        if not isinstance(data, (dict, list)):
            data = data.decode()
        ref = "urn:anomalog:openapi#" + base + "/" + pointer("content", ctype, "schema")
        v = Draft202012Validator({"$ref": ref}, registry=self.registry)
        errs = sorted(v.iter_errors(data), key=lambda e: list(e.path))
        self.assertFalse(errs, "%s %s %d does not match openapi.yaml:\n%s\n%s" % (
            method, path, status, "\n".join("%s: %s" % (list(e.path), e.message) for e in errs[:5]),
            json.dumps(data)[:2000] if not isinstance(data, str) else data[:500]))
        return data

    def test_every_endpoint_answers_as_documented(self):
        llm = FakeLLM().start()
        self.addCleanup(llm.stop)
        llm.script([], then={"mode": "fixed", "content": json.dumps({"health": "critical", "anomalies": [
            {"severity": "low", "type": "security", "summary": "many failed logins",
             "evidence": ["login failed for root"], "recommended_action": "Block the source"}]})})
        self.srv = self.start_server(args=["--llm-url", llm.url, "--window", "1m", "--analysis-skip-quiet-windows", "false",
                                           "--limits-max-body", "65536"],
                                     env={"ANOMALOG_ALERT_FILE": os.path.join(self.dir, "alerts.jsonl")})
        j = {"Content-Type": "application/json"}
        rows = [{"ts": T0 + i, "service": "auth", "level": "warn", "message": "login failed for root"}
                for i in range(5)]
        self.check("POST", "/ingest", 202, ndjson(rows), {"Content-Type": "application/x-ndjson"})
        self.check("POST", "/ingest", 202, "2026-11-24T10:00:09 INFO auth started\n", {"Content-Type": "text/plain"})
        self.check("POST", "/ingest", 400, "{nope", j)
        self.check("POST", "/ingest", 415, "x", {"Content-Type": "image/png"})
        self.check("POST", "/ingest", 413, "x" * 70000, {"Content-Type": "text/plain"})
        self.check("POST", "/ingest?service=%01", 400, "hello", {"Content-Type": "text/plain"})
        # Idempotency-Key: the answer replayed, reused with another body, malformed, in flight
        keyed = {"Content-Type": "application/x-ndjson", "Idempotency-Key": "contract-1"}
        first = self.check("POST", "/ingest", 202, ndjson(rows[:1]), keyed)
        self.assertEqual(self.check("POST", "/ingest", 202, ndjson(rows[:1]), keyed), first)
        self.check("POST", "/ingest", 422, ndjson(rows[:2]), keyed)
        self.check("POST", "/ingest", 400, ndjson(rows[:1]), dict(keyed, **{"Idempotency-Key": "k" * 256}))
        with write_lock(os.path.join(self.dir, "anomalog.db")):  # nothing can be stored: the key stays in flight
            slow = [threading.Thread(target=self.srv.ingest, args=(ndjson(rows[:1]),),
                                     kwargs={"headers": {"Idempotency-Key": "contract-2"}}) for _ in range(2)]
            # the first waits in the writer, or (journal) is answered and its retry waits for it to be stored:
            # either way one of them holds the key, watched on the gauge of keys in flight
            slow[0].start()
            wait_for(lambda: self.srv.metric("anomalog_writer_queue_depth") == 1 and (
                PG_URL or self.srv.metric("anomalog_ingest_idempotency_keys_in_flight") == 0),
                what="the first batch queued (and, with the journal, answered)")
            slow[1].start()
            wait_for(lambda: self.srv.metric("anomalog_ingest_idempotency_keys_in_flight") == 1,
                     what="a request holding the key")
            self.check("POST", "/ingest", 409, ndjson(rows[:1]), dict(keyed, **{"Idempotency-Key": "contract-2"}))
        for t in slow:
            t.join()

        self.check("POST", "/windows/flush", 200)
        wait_for(lambda: self.srv.get("/windows?status=analyzed")[1]["windows"], what="analysed")
        windows = self.check("GET", "/windows", 200)["windows"]
        self.check("GET", "/windows?service=auth&health=critical&limit=1&since=2026-11-24T00:00:00Z", 200)
        self.check("GET", "/windows?limit=0", 400)
        self.check("GET", "/windows?health=purple", 400)
        self.check("GET", "/windows/%d" % windows[0]["id"], 200)
        self.check("GET", "/windows/999999", 404)
        self.check("GET", "/windows/abc", 400)
        self.check("GET", "/windows/%d" % windows[0]["id"], 200, headers={"Accept": "text/html"})  # the page
        self.check("GET", "/windows/%d/lines?limit=1" % windows[0]["id"], 200)
        self.check("GET", "/windows/999999/lines", 404)
        self.check("GET", "/windows/%d/lines?cursor=x" % windows[0]["id"], 400)

        anomalies = self.check("GET", "/anomalies", 200)["anomalies"]
        self.assertTrue(anomalies)
        self.check("GET", "/anomalies?severity=critical&type=security&service=auth&limit=5", 200)
        self.check("GET", "/anomalies?severity=huge", 400)
        aid = anomalies[0]["id"]
        self.check("POST", "/anomalies/%d/feedback" % aid, 200, '{"verdict": "false_positive", "note": "drill"}', j)
        self.check("POST", "/anomalies/%d/feedback" % aid, 400, '{"verdict": "maybe"}', j)
        self.check("POST", "/anomalies/%d/feedback" % aid, 400, '{oops', j)
        self.check("POST", "/anomalies/999999/feedback", 404, '{"verdict": "true_positive"}', j)
        self.check("POST", "/anomalies/x/feedback", 400, '{"verdict": "true_positive"}', j)

        incidents = self.check("GET", "/incidents", 200)["incidents"]
        self.assertTrue(incidents)
        self.check("GET", "/incidents?status=open&service=auth&severity=low&limit=5&since=2026-11-24T00:00:00Z", 200)
        self.check("GET", "/incidents?status=closed", 400)
        self.check("GET", "/incidents/%d" % incidents[0]["id"], 200)
        self.check("GET", "/incidents/%d" % incidents[0]["id"], 200, headers={"Accept": "text/html"})  # the page
        self.check("GET", "/incidents/999999", 404)
        self.check("GET", "/incidents/x", 400)
        self.check("POST", "/incidents/%d/feedback" % incidents[0]["id"], 200, '{"verdict": "true_positive"}', j)
        self.check("POST", "/incidents/%d/feedback" % incidents[0]["id"], 400, '{"verdict": "true_positive", "note": 1}', j)
        self.check("POST", "/incidents/%d/feedback" % incidents[0]["id"], 400, '[1]', j)
        self.check("POST", "/incidents/%d/feedback" % incidents[0]["id"], 415, '{}', {"Content-Type": "text/plain"})
        self.check("POST", "/incidents/999999/feedback", 404, '{"verdict": "true_positive"}', j)
        self.check("POST", "/incidents/x/feedback", 400, '{"verdict": "true_positive"}', j)

        wait_for(lambda: self.srv.get("/notifications")[1]["notifications"], what="a notification")
        self.check("GET", "/notifications", 200)
        self.check("GET", "/notifications?limit=-1", 400)
        self.check("GET", "/suppressions", 200)

        self.check("GET", "/services", 200)
        self.check("PUT", "/services/auth", 200, '{"context": "Logins fail a lot during the nightly audit."}', j)
        self.check("PUT", "/services/auth", 400, '{"context": 5}', j)
        self.check("PUT", "/services/auth", 400, 'nope', j)

        self.check("GET", "/healthz", 200)
        self.check("GET", "/readyz", 200)
        self.check("GET", "/metrics", 200)
        self.check("GET", "/", 200, headers={"Accept": "text/html"})  # the dashboard
        self.check("GET", "/", 200, headers={"Accept": "application/json"})  # the Elasticsearch probe
        self.check("GET", "/ui/app.js", 200)
        self.check("GET", "/ui/app.css", 200)
        self.check("GET", "/ui/nothing.txt", 404)

        # Shippers' own protocols.
        loki = json.dumps({"streams": [{"stream": {"service_name": "api"},
                                        "values": [["1795514460000000000", "shipped by loki"]]}]})
        self.check("POST", "/loki/api/v1/push", 204, loki, j)
        self.check("POST", "/loki/api/v1/push", 415, loki, {"Content-Type": "text/plain"})
        self.check("POST", "/loki/api/v1/push", 400, "{nope", j)
        self.check("POST", "/loki/api/v1/push", 204, loki, dict(j, **{"Idempotency-Key": "loki-1"}))
        self.check("POST", "/loki/api/v1/push", 204, loki, dict(j, **{"Idempotency-Key": "loki-1"}))
        self.check("POST", "/loki/api/v1/push", 422, loki + " ", dict(j, **{"Idempotency-Key": "loki-1"}))
        otlp = json.dumps({"resourceLogs": [{"scopeLogs": [{"logRecords": [
            {"timeUnixNano": "1795514461000000000", "body": {"stringValue": "shipped by otlp"}}]}]}]})
        self.check("POST", "/v1/logs", 200, otlp, j)
        self.check("POST", "/v1/logs", 415, otlp, {"Content-Type": "text/plain"})
        self.check("POST", "/v1/logs", 400, '{"resourceLogs": 3}', j)
        for _ in range(2):
            self.check("POST", "/v1/logs", 200, otlp, dict(j, **{"Idempotency-Key": "otlp-1"}))
        self.check("POST", "/v1/logs", 422, otlp + " ", dict(j, **{"Idempotency-Key": "otlp-1"}))
        nd = {"Content-Type": "application/x-ndjson"}
        doc = '{"create":{}}\n{"@timestamp":"2026-11-24T10:01:02Z","message":"shipped by es"}\n'
        self.check("POST", "/_bulk", 200, doc, nd)
        self.check("PUT", "/_bulk", 200, doc, nd)
        self.check("POST", "/_bulk", 400, '{"index": {}}\n', nd)
        self.check("POST", "/checkout/_bulk", 200, doc, nd)
        self.check("PUT", "/checkout/_bulk", 200, doc, nd)
        self.check("POST", "/_bulk", 413, "x" * 70000, nd)
        for _ in range(2):
            self.check("POST", "/_bulk", 200, doc, dict(nd, **{"Idempotency-Key": "bulk-1"}))
        self.check("PUT", "/checkout/_bulk", 422, doc, dict(nd, **{"Idempotency-Key": "bulk-1"}))
        self.check("GET", "/_license", 200)
        self.check("GET", "/_cluster/health", 200)

        missing = {(m, p) for m, p in server_routes()} - self.exercised
        self.assertFalse(missing, "routes of server.c not exercised here (or not in openapi.yaml): %s" % missing)
        undocumented = {(m, p) for m, p in server_routes() if m.lower() not in self.doc["paths"].get(p, {})}
        self.assertFalse(undocumented, "routes missing from openapi.yaml: %s" % undocumented)


if __name__ == "__main__":
    unittest.main()
