"""Shipper-native endpoints end to end: bodies built exactly as each shipper's
documentation specifies (Loki push JSON and snappy protobuf), answered the
way those clients expect."""
import gzip
import json
import os
import unittest

from harness import ServerTest, db_rows


def varint(v):
    out = bytearray()
    while True:
        b = v & 0x7F
        v >>= 7
        out.append(b | (0x80 if v else 0))
        if not v:
            return bytes(out)


def field_bytes(num, data):
    if isinstance(data, str):
        data = data.encode()
    return varint(num << 3 | 2) + varint(len(data)) + data


def field_varint(num, v):
    return varint(num << 3) + varint(v)


def snappy_literal(data):
    """A valid raw snappy block made only of literals (what a compressor may emit)."""
    out = bytearray(varint(len(data)))
    for i in range(0, len(data), 60):
        chunk = data[i:i + 60]
        out.append((len(chunk) - 1) << 2)
        out += chunk
    return bytes(out)


def loki_proto(streams):
    """streams: [(label text, [(sec, nanos, line, {metadata})])] -> PushRequest bytes."""
    req = b""
    for labels, entries in streams:
        s = field_bytes(1, labels)
        for sec, nanos, line, meta in entries:
            ts = field_varint(1, sec) + field_varint(2, nanos)
            e = field_bytes(1, ts) + field_bytes(2, line)
            for k, v in meta.items():
                e += field_bytes(3, field_bytes(1, k) + field_bytes(2, v))
            s += field_bytes(2, e)
        req += field_bytes(1, s)
    return req


class LokiPushTest(ServerTest):
    def logs(self):
        return db_rows(os.path.join(self.dir, "anomalog.db"),
                       "SELECT l.ts, l.level, s.name, l.message, l.attributes FROM logs l "
                       "JOIN windows w ON w.id = l.window_id JOIN services s ON s.id = w.service_id "
                       "ORDER BY l.id")

    def push(self, body, ctype, headers=None):
        h = {"Content-Type": ctype}
        h.update(headers or {})
        return self.srv.request("POST", "/loki/api/v1/push", body, h)

    def test_json_as_fluent_bit_sends_it(self):
        body = {"streams": [{"stream": {"job": "fluent-bit", "service_name": "api", "level": "error", "host": "h1"},
                             "values": [["1795514400000000000", "disk full"],
                                        ["1795514401500000000", "retrying", {"trace_id": "abc"}]]}]}
        st, b, _ = self.push(json.dumps(body), "application/json")
        self.assertEqual(st, 204, b)
        self.assertEqual(b, b"")
        rows = self.logs()
        self.assertEqual(len(rows), 2)
        self.assertEqual(rows[0][:4], (1795514400000, "error", "api", "disk full"))
        self.assertEqual(json.loads(rows[0][4]), {"job": "fluent-bit", "host": "h1"})
        self.assertEqual(rows[1][0], 1795514401500)
        self.assertEqual(json.loads(rows[1][4]), {"job": "fluent-bit", "host": "h1", "trace_id": "abc"})

    def test_json_gzip(self):
        body = {"streams": [{"stream": {"app": "web"}, "values": [["1795514400000000000", "gz"]]}]}
        st, b, _ = self.push(gzip.compress(json.dumps(body).encode()), "application/json",
                             {"Content-Encoding": "gzip"})
        self.assertEqual(st, 204, b)
        self.assertEqual(self.logs()[0][2:4], ("web", "gz"))

    def test_protobuf_snappy_as_promtail_sends_it(self):
        req = loki_proto([('{job="varlogs", service_name="auth", level="warn", filename="/var/log/auth.log"}',
                           [(1795514400, 250000000, "failed password for bob", {"pid": "42"}),
                            (1795514402, 0, "accepted password for alice", {})])])
        st, b, _ = self.push(snappy_literal(req), "application/x-protobuf")
        self.assertEqual(st, 204, b)
        rows = self.logs()
        self.assertEqual(rows[0][:4], (1795514400250, "warn", "auth", "failed password for bob"))
        self.assertEqual(json.loads(rows[0][4]), {"job": "varlogs", "filename": "/var/log/auth.log", "pid": "42"})
        self.assertEqual(rows[1][3], "accepted password for alice")

    def test_errors_are_atomic(self):
        bad = {"streams": [{"stream": {"app": "a"}, "values": [["1795514400000000000", "ok"], ["soon", "bad"]]}]}
        self.assertError(self.push(json.dumps(bad), "application/json"), 400, "invalid_timestamp")
        self.assertError(self.push(b"\x05\x00garbage", "application/x-protobuf"), 400, "invalid_snappy")
        self.assertError(self.push(snappy_literal(b"\x0a\x05\x01"), "application/x-protobuf"), 400,
                         "invalid_protobuf")
        self.assertError(self.push("{}", "text/plain"), 415, "unsupported_media_type",
                         message='Content-Type "text/plain" is not understood '
                                 '(use application/x-protobuf with snappy, or application/json)')
        self.assertEqual(self.db_count(), 0)


class LokiLabelsTest(ServerTest):
    server_env = {"ANOMALOG_LOKI_SERVICE_LABELS": "team,app"}

    def test_configured_service_labels(self):
        body = {"streams": [{"stream": {"service_name": "ignored", "team": "payments"},
                             "values": [["1795514400000000000", "x"]]}]}
        st, _, _ = self.srv.request("POST", "/loki/api/v1/push", json.dumps(body), {"Content-Type": "application/json"})
        self.assertEqual(st, 204)
        rows = LokiPushTest.logs(self)
        self.assertEqual(rows[0][2], "payments")
        self.assertEqual(json.loads(rows[0][4]), {"service_name": "ignored"})


class LokiLimitsTest(ServerTest):
    server_args = ("--limits-max-body", "4096")

    def test_snappy_bomb_is_refused_before_inflating(self):
        # declares 1 MiB decompressed: over max_body, refused without allocating it
        body = varint(1 << 20) + b"\x00a"
        st, b, _ = self.srv.request("POST", "/loki/api/v1/push", body, {"Content-Type": "application/x-protobuf"})
        self.assertEqual(st, 413, b)
        self.assertEqual(b["error"]["code"], "body_too_large")


def field_fixed64(num, v):
    return varint(num << 3 | 1) + v.to_bytes(8, "little")


def any_string(s):
    return field_bytes(1, s)


def kv(key, anyvalue):
    return field_bytes(1, key) + field_bytes(2, anyvalue)


def otlp_proto(resources):
    """resources: [({attr: str}, [record bytes])] -> ExportLogsServiceRequest bytes."""
    req = b""
    for attrs, records in resources:
        res = b"".join(field_bytes(1, kv(k, any_string(v))) for k, v in attrs.items())
        scope = field_bytes(1, field_bytes(1, "my.scope")) + b"".join(field_bytes(2, r) for r in records)
        req += field_bytes(1, field_bytes(1, res) + field_bytes(2, scope))
    return req


def read_fields(data):
    """Top-level protobuf fields of data as {number: value} (varints and bytes only)."""
    out, i = {}, 0
    while i < len(data):
        key, i = read_varint(data, i)
        if key & 7 == 0:
            out[key >> 3], i = read_varint(data, i)
        else:
            n, i = read_varint(data, i)
            out[key >> 3] = data[i:i + n]
            i += n
    return out


def read_varint(data, i):
    v = shift = 0
    while True:
        b = data[i]
        i += 1
        v |= (b & 0x7F) << shift
        shift += 7
        if not b & 0x80:
            return v, i


class OtlpTest(ServerTest):
    logs = LokiPushTest.logs

    def post(self, body, ctype, gz=False):
        h = {"Content-Type": ctype}
        if gz:
            body = gzip.compress(body if isinstance(body, bytes) else body.encode())
            h["Content-Encoding"] = "gzip"
        return self.srv.request("POST", "/v1/logs", body, h)

    def test_json_as_the_spec_shows(self):
        body = {"resourceLogs": [{
            "resource": {"attributes": [{"key": "service.name", "value": {"stringValue": "checkout"}},
                                        {"key": "host.name", "value": {"stringValue": "h1"}}]},
            "scopeLogs": [{"scope": {"name": "s"}, "logRecords": [
                {"timeUnixNano": "1795514400123000000", "severityNumber": 17, "severityText": "Error",
                 "body": {"stringValue": "payment declined"},
                 "attributes": [{"key": "order", "value": {"intValue": "42"}},
                                {"key": "tags", "value": {"arrayValue": {"values": [{"stringValue": "a"}]}}}],
                 "traceId": "5b8efff798038103d269b633813fc60c", "spanId": "eee19b7ec3c1b174"},
                {"observedTimeUnixNano": "1795514401000000000", "severityNumber": 13,
                 "body": {"kvlistValue": {"values": [{"key": "k", "value": {"boolValue": True}}]}}}]}]}]}
        st, b, _ = self.post(json.dumps(body), "application/json")
        self.assertEqual((st, b), (200, {}))
        rows = self.logs()
        self.assertEqual(rows[0][:4], (1795514400123, "error", "checkout", "payment declined"))
        self.assertEqual(json.loads(rows[0][4]), {"host.name": "h1", "order": 42, "tags": ["a"],
                                                  "trace_id": "5b8efff798038103d269b633813fc60c",
                                                  "span_id": "eee19b7ec3c1b174"})
        self.assertEqual(rows[1][:4], (1795514401000, "warn", "checkout", '{"k":true}'))

    def test_json_partial_success(self):
        body = {"resourceLogs": [{"scopeLogs": [{"logRecords": [
            {"timeUnixNano": "1795514400000000000", "body": {"stringValue": "kept"}},
            {"timeUnixNano": "yesterday", "body": {"stringValue": "bad time"}},
            {"body": "not an AnyValue"}]}]}]}
        st, b, _ = self.post(json.dumps(body), "application/json", gz=True)
        self.assertEqual(st, 200, b)
        self.assertEqual(b["partialSuccess"]["rejectedLogRecords"], 2)
        self.assertIn("timeUnixNano", b["partialSuccess"]["errorMessage"])
        self.assertEqual([r[2:4] for r in self.logs()], [("default", "kept")])

    def test_protobuf_gzip_as_the_collector_sends_it(self):
        rec = (field_fixed64(1, 1795514400500000000) + field_varint(2, 9) + field_bytes(3, "INFO")
               + field_bytes(5, any_string("user logged in"))
               + field_bytes(6, kv("user", any_string("bob")))
               + field_bytes(6, kv("n", field_varint(3, 7)))
               + field_bytes(9, bytes.fromhex("5b8efff798038103d269b633813fc60c")))
        bad = field_bytes(5, field_bytes(1, b"\xff\xfe"))  # a body string that is not UTF-8
        st, b, h = self.post(otlp_proto([({"service.name": "auth"}, [rec, bad])]), "application/x-protobuf",
                             gz=True)
        self.assertEqual(st, 200, b)
        self.assertEqual(h["content-type"], "application/x-protobuf")
        partial = read_fields(read_fields(b)[1])
        self.assertEqual(partial[1], 1)
        self.assertIn(b"UTF-8", partial[2])
        rows = self.logs()
        self.assertEqual(rows[0][:4], (1795514400500, "info", "auth", "user logged in"))
        self.assertEqual(json.loads(rows[0][4]), {"user": "bob", "n": 7,
                                                  "trace_id": "5b8efff798038103d269b633813fc60c"})
        st, b, h = self.post(otlp_proto([({"service.name": "auth"}, [rec])]), "application/x-protobuf")
        self.assertEqual((st, b), (200, b""))

    def test_refusals(self):
        self.assertError(self.post("{", "application/json"), 400, "invalid_json")
        self.assertError(self.post('{"resourceLogs": 3}', "application/json"), 400, "invalid_otlp")
        self.assertError(self.post(b"\x0a\x05\x01", "application/x-protobuf"), 400, "invalid_protobuf")
        self.assertError(self.post("x", "text/plain"), 415, "unsupported_media_type",
                         message='Content-Type "text/plain" is not understood '
                                 '(use application/x-protobuf or application/json)')
        self.assertEqual(self.db_count(), 0)


class ElasticTest(ServerTest):
    logs = LokiPushTest.logs

    def bulk(self, lines, path="/_bulk", ctype="application/x-ndjson"):
        body = "".join(json.dumps(x) + "\n" for x in lines)
        return self.srv.request("POST", path, body, {"Content-Type": ctype})

    def test_bulk_as_fluent_bit_and_filebeat_send_it(self):
        st, b, h = self.bulk([
            {"create": {"_index": "payments"}},
            {"@timestamp": "2026-11-24T10:00:00.250Z", "log": "card declined", "level": "warn", "k8s": {"pod": "p"}},
            {"index": {"_index": "logs-x", "_type": "_doc"}},
            {"@timestamp": "2026-11-24T10:00:01Z", "message": "ok", "service": "api"},
            {"delete": {"_index": "payments", "_id": "1"}},
            {"index": {}},
            ["not", "an", "object"],
        ], path="/fallback/_bulk")
        self.assertEqual(st, 200, b)
        self.assertEqual(h["x-elastic-product"], "Elasticsearch")
        self.assertTrue(b["errors"])
        self.assertIsInstance(b["took"], int)
        self.assertEqual([list(i)[0] for i in b["items"]], ["create", "index", "delete", "index"])
        self.assertEqual([list(i.values())[0]["status"] for i in b["items"]], [201, 201, 400, 400])
        self.assertEqual(b["items"][3]["index"]["error"]["type"], "mapper_parsing_exception")
        rows = self.logs()
        self.assertEqual(rows[0][:4], (1795514400250, "warn", "payments", "card declined"))
        self.assertEqual(json.loads(rows[0][4]), {"k8s": {"pod": "p"}})
        self.assertEqual(rows[1][2:4], ("api", "ok"))
        self.assertEqual(len(rows), 2)

    def test_bulk_as_rsyslog_sends_it(self):
        # omelasticsearch: Content-Type application/json, "_type" in the action line, no index in the URL
        st, b, _ = self.bulk([{"index": {"_index": "system", "_type": "events"}},
                              {"message": " sshd[1]: hello", "host": "h"}], ctype="application/json")
        self.assertEqual(st, 200, b)
        self.assertFalse(b["errors"])
        self.assertEqual(b["items"], [{"index": {"_index": "system", "status": 201}}])
        self.assertEqual(self.logs()[0][2], "system")

    def test_bad_action_lines_refuse_the_body(self):
        self.assertError(self.bulk([{"index": {}, "create": {}}, {"message": "x"}]), 400, "invalid_bulk")
        self.assertError(self.srv.request("POST", "/_bulk", "{nope\n", {"Content-Type": "application/x-ndjson"}),
                         400, "invalid_json")
        self.assertError(self.bulk([{"index": {}}]), 400, "invalid_bulk")
        self.assertEqual(self.db_count(), 0)

    def test_probes(self):
        st, b, h = self.srv.request("GET", "/", headers={"Accept": "application/json"})
        self.assertEqual(st, 200)
        self.assertEqual(b["version"]["number"], "8.11.0")
        self.assertEqual(b["tagline"], "You Know, for Search")
        self.assertEqual(h["x-elastic-product"], "Elasticsearch")
        st, b, h = self.srv.request("GET", "/_license")
        self.assertEqual((st, b["license"]["status"], h["x-elastic-product"]), (200, "active", "Elasticsearch"))
        st, page, h = self.srv.request("GET", "/", headers={"Accept": "text/html,application/xhtml+xml"})
        self.assertEqual(st, 200)  # a browser gets the dashboard on the same route
        self.assertTrue(h["content-type"].startswith("text/html"), h)
        self.assertNotIn("x-elastic-product", h)
        self.assertIn(b"<html", page.lower() if isinstance(page, bytes) else page.encode().lower())


class SyslogTest(ServerTest):
    logs = LokiPushTest.logs

    def test_syslog_lines_as_syslog_ng_batches_them(self):
        body = ("<165>1 2026-11-24T10:00:00Z web1 nginx 12 - - GET /health 200\n"
                "<34>Nov 24 10:00:01 host1 sshd[42]: Failed password for bob\n")
        st, b, _ = self.srv.ingest(body, "text/plain", "?format=syslog")
        self.assertEqual((st, b["accepted"]), (202, 2), b)
        rows = self.logs()
        self.assertEqual(rows[0][:4], (1795514400000, "info", "nginx", "GET /health 200"))
        self.assertEqual(json.loads(rows[0][4]), {"host": "web1", "pid": "12", "facility": "local4"})
        self.assertEqual(rows[1][1:4], ("fatal", "sshd", "Failed password for bob"))

    def test_unknown_format(self):
        self.assertError(self.srv.ingest("x", "text/plain", "?format=gelf"), 400, "invalid_parameter")


class SyslogByConfigTest(ServerTest):
    server_args = ["--ingest-text-format", "syslog"]

    def test_text_bodies_are_syslog_when_configured(self):
        st, b, _ = self.srv.ingest("<34>Nov 24 10:00:01 host1 sshd[42]: Failed password for bob\n", "text/plain")
        self.assertEqual((st, b["accepted"]), (202, 1), b)
        rows = db_rows(os.path.join(self.dir, "anomalog.db"), "SELECT message FROM logs")
        self.assertEqual(rows, [("Failed password for bob",)])
        # NDJSON is untouched by the setting
        self.assertEqual(self.srv.ingest('{"message": "plain json"}\n')[0], 202)


class AuthTest(ServerTest):
    server_env = {"ANOMALOG_AUTH_INGEST_TOKEN": "in-tok", "ANOMALOG_AUTH_READ_TOKEN": "rd-tok"}

    def test_tokens(self):
        body = '{"message": "x"}'
        st, b, h = self.srv.ingest(body, "application/json")
        self.assertEqual((st, b["error"]["code"]), (401, "unauthorized"))
        self.assertIn("Bearer", h["www-authenticate"])
        self.assertEqual(self.srv.ingest(body, "application/json", headers={"Authorization": "Bearer rd-tok"})[0], 401)
        self.assertEqual(self.srv.ingest(body, "application/json", headers={"Authorization": "Bearer in-tok"})[0], 202)
        # Loki and Elasticsearch clients send basic auth: the token is the password
        loki = {"streams": [{"stream": {}, "values": [["1795514400000000000", "y"]]}]}
        st, _, _ = self.srv.request("POST", "/loki/api/v1/push", json.dumps(loki),
                                    {"Content-Type": "application/json", "Authorization": "Basic dTppbi10b2s="})
        self.assertEqual(st, 204)
        st, _, _ = self.srv.request("POST", "/_bulk", '{"index":{}}\n{"message":"z"}\n',
                                    {"Content-Type": "application/x-ndjson"})
        self.assertEqual(st, 401)
        self.assertEqual(self.srv.get("/windows")[0], 401)
        self.assertEqual(self.srv.request("GET", "/windows", headers={"Authorization": "Bearer rd-tok"})[0], 200)
        for path in ("/healthz", "/readyz", "/_license", "/", "/ui/app.js", "/ui/app.css"):
            self.assertEqual(self.srv.get(path)[0], 200, path)
        st, _, h = self.srv.request("GET", "/", headers={"Accept": "text/html"})  # the page is open; its API calls
        self.assertEqual((st, h["content-type"].split(";")[0]), (200, "text/html"))  # send the read token
        self.assertEqual(self.srv.get("/metrics")[0], 401)  # scrapers send the read token
        self.assertEqual(self.srv.request("GET", "/metrics", headers={"Authorization": "Bearer rd-tok"})[0], 200)
        self.assertEqual(self.srv.request("GET", "/metrics", headers={"Authorization": "Bearer in-tok"})[0], 401)
        self.assertEqual(self.db_count(), 2)


class BoundTokenTest(ServerTest):
    autostart = False

    def test_a_bound_token_writes_only_its_service(self):
        conf = os.path.join(self.dir, "anomalog.yaml")
        with open(conf, "w") as f:
            f.write("auth:\n  tokens:\n    - token: team-a\n      service: payments\n    - token: shared\n")
        self.srv = self.start_server(args=["--config", conf])
        rows = [{"message": "a", "service": "someone-else"}]
        h = {"Authorization": "Bearer team-a"}
        self.assertEqual(self.srv.ingest(json.dumps(rows), "application/json", headers=h)[0], 202)
        h = {"Authorization": "Bearer shared"}
        self.assertEqual(self.srv.ingest(json.dumps(rows), "application/json", headers=h)[0], 202)
        self.assertEqual(self.srv.ingest(json.dumps(rows), "application/json")[0], 401)
        self.assertEqual([r[2] for r in LokiPushTest.logs(self)], ["payments", "someone-else"])

    def test_bad_token_list_is_a_startup_error(self):
        conf = os.path.join(self.dir, "anomalog.yaml")
        with open(conf, "w") as f:
            f.write("auth:\n  tokens:\n    - service: payments\n")
        with self.assertRaises(RuntimeError) as cm:
            self.start_server(args=["--config", conf])
        self.assertIn("auth.tokens", str(cm.exception))


if __name__ == "__main__":
    unittest.main()
