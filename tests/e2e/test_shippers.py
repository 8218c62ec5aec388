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
        self.assertError(self.push("{}", "text/plain"), 415, "unsupported_media_type")
        self.assertEqual(self.db_count(), 0)


class LokiLimitsTest(ServerTest):
    server_args = ("--max-body", "4096")

    def test_snappy_bomb_is_refused_before_inflating(self):
        # declares 1 MiB decompressed: over max_body, refused without allocating it
        body = varint(1 << 20) + b"\x00a"
        st, b, _ = self.srv.request("POST", "/loki/api/v1/push", body, {"Content-Type": "application/x-protobuf"})
        self.assertEqual(st, 413, b)
        self.assertEqual(b["error"]["code"], "body_too_large")


if __name__ == "__main__":
    unittest.main()
