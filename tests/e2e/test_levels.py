"""Levels from the line, end to end: 120 error lines of twelve shapes shippers
send (logfmt, JSON with word and pino levels, bracketed, glog, Python, Java,
Fluent Bit's {"log": ...} record) pushed through every ingest path
(/loki/api/v1/push as JSON and snappy protobuf, /_bulk, /v1/logs, /ingest as
text and NDJSON) are all stored as errors, and a JSON line's fields as
attributes, in the real SQLite file.

Run alone with ANOMALOG_BIN=... to measure another build: each path's count
of lines stored as errors is printed."""
import json
import os
import sys
import unittest

from harness import ServerTest, db_rows
from test_shippers import field_bytes, field_varint, snappy_literal

SEC = 1795514400  # 2026-11-24T10:00:00Z


def shapes(i):
    """Twelve shapes of an error line, numbered i; (line, fields its JSON carries or None)."""
    k = i % 12
    n = i
    if k == 0:
        return f'ts=2026-11-24T10:00:00Z caller=pay.go:42 level=error msg="payment failed" order={n}', None
    if k == 1:
        return f'time="2026-11-24T10:00:00Z" lvl=error msg="card declined" order={n}', None
    if k == 2:
        return f'severity=ERROR component=db query_ms={n} msg="deadlock"', None
    if k == 3:
        return json.dumps({"level": "error", "msg": "upstream timeout", "order": n}), {"order": n}
    if k == 4:
        return (json.dumps({"level": 50, "time": (SEC + 1) * 1000, "pid": n, "hostname": "h1", "msg": "pino boom"}),
                {"pid": n, "hostname": "h1"})
    if k == 5:
        return (json.dumps({"severity": "ERROR", "message": "gcp style", "httpRequest": {"status": 500 + n % 4}}),
                {"httpRequest": {"status": 500 + n % 4}})
    if k == 6:
        return f"[ERROR] disk full on /var/{n}", None
    if k == 7:
        return f"<E> cache miss storm {n}", None
    if k == 8:
        return f"2026-11-24 10:00:00,{n:03d} [http-nio-8080-exec-1] ERROR com.acme.Pay - charge {n} failed", None
    if k == 9:
        return f"E1124 10:00:00.{n:06d}   12345 server.cc:42] RPC {n} failed", None
    if k == 10:
        return f"ERROR:root:connection {n} refused", None
    return (json.dumps({"log": f"2026-11-24 10:00:00 ERROR worker {n} crashed\n", "stream": "stderr"}),
            {"stream": "stderr"})


LINES = [shapes(i) for i in range(120)]


def loki_json():
    return json.dumps({"streams": [{"stream": {"service_name": "lvl"},
                                    "values": [[str((SEC + i) * 10**9), l] for i, (l, _) in enumerate(LINES)]}]})


def loki_proto():
    s = field_bytes(1, '{service_name="lvl"}')
    for i, (l, _) in enumerate(LINES):
        ts = field_varint(1, SEC + i) + field_varint(2, 0)
        s += field_bytes(2, field_bytes(1, ts) + field_bytes(2, l))
    return snappy_literal(field_bytes(1, s))


def bulk():
    out = []
    for i, (l, _) in enumerate(LINES):
        out.append(json.dumps({"create": {"_index": "lvl"}}))
        # Fluent Bit's es output: the record, its line under "log", and @timestamp
        out.append(json.dumps({"@timestamp": f"2026-11-24T10:{i // 60:02d}:{i % 60:02d}Z", "log": l}))
    return "\n".join(out) + "\n"


def otlp():
    recs = [{"timeUnixNano": str((SEC + i) * 10**9), "body": {"stringValue": l}} for i, (l, _) in enumerate(LINES)]
    return json.dumps({"resourceLogs": [{"resource": {"attributes": [
        {"key": "service.name", "value": {"stringValue": "lvl"}}]}, "scopeLogs": [{"logRecords": recs}]}]})


def ndjson():
    return "".join(json.dumps({"log": l, "service": "lvl"}) + "\n" for l, _ in LINES)


PATHS = [
    ("loki-json", "/loki/api/v1/push", "application/json", loki_json),
    ("loki-proto", "/loki/api/v1/push", "application/x-protobuf", loki_proto),
    ("bulk", "/_bulk", "application/x-ndjson", bulk),
    ("otlp", "/v1/logs", "application/json", otlp),
    ("text", "/ingest?service=lvl", "text/plain", lambda: "\n".join(l for l, _ in LINES) + "\n"),
    ("ndjson", "/ingest", "application/x-ndjson", ndjson),
]


class LevelsTest(ServerTest):
    def push(self, path, ctype, body):
        st, b, _ = self.srv.request("POST", path, body, {"Content-Type": ctype})
        self.assertIn(st, (200, 202, 204), b)
        return b

    def rows(self):
        return db_rows(os.path.join(self.dir, "anomalog.db"),
                       "SELECT l.id, l.level, l.message, l.attributes, l.ts FROM logs l ORDER BY l.id")

    def test_every_path_stores_120_error_lines_as_errors(self):
        seen = 0
        counts = {}
        for name, path, ctype, make in PATHS:
            with self.subTest(path=name):
                self.push(path, ctype, make())
                rows = self.rows()[seen:]
                seen += len(rows)
                self.assertEqual(len(rows), 120, name)
                errors = sum(1 for r in rows if r[1] == "error")
                counts[name] = errors
                wrong = [(r[1], r[2][:60]) for r in rows if r[1] != "error"]
                self.assertEqual(wrong, [], f"{name}: {errors}/120 stored as errors")
                for (line, fields), (_, _, message, attrs, _) in zip(LINES, rows):
                    if fields is None:
                        self.assertEqual(message, line, name)
                        continue
                    got = json.loads(attrs or "{}")
                    for k, v in fields.items():
                        self.assertEqual(got.get(k), v, f"{name}: {k} of {line}")
                    inner = json.loads(line)
                    want = inner.get("msg") or inner.get("message") or inner.get("log")
                    self.assertEqual(message, want, name)
                    self.assertNotIn("level", got)
        sys.stderr.write("levels stored as error per path (of 120): " + json.dumps(counts) + "\n")

    def test_shipper_timestamp_and_level_win(self):
        # a pino line with its own time pushed to Loki: the entry's time is Loki's, the line's is an attribute
        line = json.dumps({"level": 50, "time": (SEC + 3600) * 1000, "msg": "late"})
        body = json.dumps({"streams": [{"stream": {"service_name": "lvl", "level": "warn"},
                                        "values": [[str(SEC * 10**9), line]]}]})
        self.push("/loki/api/v1/push", "application/json", body)
        (_, level, message, attrs, ts), = self.rows()
        self.assertEqual((level, message, ts), ("warn", "late", SEC * 1000))
        self.assertEqual(json.loads(attrs), {"level": 50, "time": (SEC + 3600) * 1000})
        # sent without a time (a text line), the line's own time is used
        self.push("/ingest?service=lvl", "text/plain", line + "\n")
        (_, level, message, attrs, ts) = self.rows()[1]
        self.assertEqual((level, message, ts, attrs), ("error", "late", (SEC + 3600) * 1000, None))


if __name__ == "__main__":
    unittest.main()
