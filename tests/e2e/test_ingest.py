"""POST /ingest end to end: every content type, aliases, continuation lines,
gzip, service precedence, atomic batches and every error path."""
import json
import os
import unittest

from harness import ServerTest, db_rows, ndjson

TRACE = (
    "2026-11-24T10:00:00Z ERROR api request failed\n"
    "java.lang.IllegalStateException: boom\n"
    "\tat com.acme.Api.handle(Api.java:42)\n"
    "\tat com.acme.Server.run(Server.java:7)\n"
    "Caused by: java.io.IOException: disk gone\n"
    "\t... 12 more\n"
    "2026-11-24T10:00:01Z INFO api recovered\n"
)

PYTRACE = (
    "2026-11-24T10:00:02Z ERROR worker job crashed\n"
    "Traceback (most recent call last):\n"
    "  File \"w.py\", line 3, in <module>\n"
    "    run()\n"
    "ValueError: bad input\n"
    "2026-11-24T10:00:03Z INFO worker next job\n"
)


class IngestTest(ServerTest):
    def logs(self):
        return db_rows(os.path.join(self.dir, "anomalog.db"),
                       "SELECT l.ts, l.level, s.name, l.message, l.attributes FROM logs l "
                       "JOIN windows w ON w.id = l.window_id JOIN services s ON s.id = w.service_id "
                       "ORDER BY l.id")

    def test_ndjson_with_aliases(self):
        body = ndjson([
            {"timestamp": "2026-11-24T10:00:00Z", "level": "info", "service": "api", "message": "a"},
            {"@timestamp": "2026-11-24T10:00:01.500+01:00", "severity": "WARNING", "app": "web", "msg": "b"},
            {"ts": 1795514400, "lvl": "ERR", "log": "c", "user": "bob"},
            {"time": 1795514400123, "message": "d", "attributes": {"k": 1}},
        ])
        st, b, _ = self.srv.ingest(body, "application/x-ndjson", "?service=fallback")
        self.assertEqual(st, 202, b)
        self.assertEqual(b["accepted"], 4)
        self.assertEqual(b["normalized"]["level_normalized"], 2)   # WARNING->warn, ERR->error
        self.assertEqual(b["normalized"]["service_defaulted"], 2)
        self.assertEqual(b["normalized"]["timestamp_defaulted"], 0)
        rows = self.logs()
        self.assertEqual(rows[0], (1795514400000, "info", "api", "a", None))
        self.assertEqual(rows[1][:4], (1795514401500 - 3600000, "warn", "web", "b"))
        self.assertEqual(rows[2][:4], (1795514400000, "error", "fallback", "c"))
        self.assertEqual(json.loads(rows[2][4]), {"user": "bob"})
        self.assertEqual(rows[3][0], 1795514400123)
        self.assertEqual(json.loads(rows[3][4]), {"k": 1})

    def test_json_object_and_array(self):
        st, b, _ = self.srv.ingest(json.dumps({"message": "one", "service": "s1"}), "application/json")
        self.assertEqual((st, b["accepted"]), (202, 1))
        st, b, _ = self.srv.ingest(json.dumps([{"message": "two"}, {"message": "three"}]),
                                   "application/json; charset=utf-8")
        self.assertEqual((st, b["accepted"]), (202, 2))
        self.assertEqual(b["normalized"]["timestamp_defaulted"], 2)
        self.assertEqual([r[3] for r in self.logs()], ["one", "two", "three"])
        self.assertEqual([r[2] for r in self.logs()], ["s1", "default", "default"])

    def test_text_line_format_and_plain_lines(self):
        body = "2026-11-24T10:00:00 WARN db slow query 1200ms\nsomething unstructured\n\n"
        st, b, _ = self.srv.ingest(body, "text/plain", headers={"X-Service": "from-header"})
        self.assertEqual(st, 202, b)
        self.assertEqual(b["accepted"], 2)
        rows = self.logs()
        self.assertEqual(rows[0][:4], (1795514400000, "warn", "db", "slow query 1200ms"))
        self.assertEqual(rows[1][1:4], (None, "from-header", "something unstructured"))

    def test_zone_less_timestamps_follow_configured_zone(self):
        srv = self.start_server(args=["--timezone", "+02:00", "--db", os.path.join(self.dir, "tz.db")])
        srv.ingest("2026-11-24T12:00:00 INFO api hello\n", "text/plain")
        rows = db_rows(os.path.join(self.dir, "tz.db"), "SELECT ts FROM logs")
        self.assertEqual(rows, [(1795514400000,)])

    def test_stack_traces_are_one_entry(self):
        st, b, _ = self.srv.ingest(TRACE + PYTRACE, "text/plain")
        self.assertEqual(st, 202, b)
        self.assertEqual(b["accepted"], 4)
        self.assertEqual(b["normalized"]["lines_joined"], 5 + 4)
        msgs = [r[3] for r in self.logs()]
        self.assertTrue(msgs[0].startswith("request failed\njava.lang.IllegalStateException: boom\n\tat com.acme"))
        self.assertTrue(msgs[0].endswith("Caused by: java.io.IOException: disk gone\n\t... 12 more"))
        self.assertEqual(msgs[1], "recovered")
        self.assertTrue(msgs[2].endswith("ValueError: bad input"), msgs[2])
        self.assertEqual(msgs[3], "next job")

    def test_service_precedence(self):
        self.srv.ingest(ndjson([{"message": "q"}]), query="?service=q", headers={"X-Service": "h"})
        self.srv.ingest(ndjson([{"message": "h"}]), headers={"X-Service": "h"})
        self.srv.ingest(ndjson([{"message": "d"}]))
        self.srv.ingest(ndjson([{"message": "e", "service": "entry"}]), query="?service=q")
        self.assertEqual([(r[2], r[3]) for r in self.logs()],
                         [("q", "q"), ("h", "h"), ("default", "d"), ("entry", "e")])

    def test_gzip_body(self):
        body = ndjson([{"message": "m%d" % i, "service": "gz"} for i in range(500)])
        st, b, _ = self.srv.ingest(body, gz=True)
        self.assertEqual((st, b["accepted"]), (202, 500))
        self.assertEqual(self.db_count(), 500)

    def test_empty_body_accepts_nothing(self):
        st, b, _ = self.srv.ingest("", "application/x-ndjson")
        self.assertEqual((st, b["accepted"]), (202, 0))

    def test_batch_with_one_bad_entry_stores_nothing(self):
        good = [{"message": "ok %d" % i} for i in range(50)]
        body = ndjson(good[:25]) + "{not json}\n" + ndjson(good[25:])
        self.assertError(self.srv.ingest(body), 400, "invalid_json", line=26)
        body = ndjson(good[:10] + [{"message": "x", "timestamp": "yesterday"}] + good[10:])
        err = self.assertError(self.srv.ingest(body), 400, "invalid_timestamp", line=11)
        self.assertIn("timestamp", err["message"])
        arr = json.dumps(good + [{"nomessage": 1}])
        self.assertError(self.srv.ingest(arr, "application/json"), 400, "missing_message", index=50)
        self.assertError(self.srv.ingest(json.dumps([1]), "application/json"), 400, "invalid_entry", index=0)
        self.assertEqual(self.db_count(), 0)
        # and what was accepted before a bad batch stays
        self.assertEqual(self.srv.ingest(ndjson(good))[0], 202)
        self.assertError(self.srv.ingest(ndjson([{"message": 1, "service": ""}, {"service": "x" * 200, "message": "m"}])),
                         400, "invalid_service", line=2)
        self.assertEqual(self.db_count(), 50)

    def test_unsupported_types_and_encodings(self):
        self.assertError(self.srv.ingest("x", "application/xml"), 415, "unsupported_media_type")
        self.assertError(self.srv.ingest("x", None), 415, "unsupported_media_type")
        self.assertError(self.srv.ingest("x", "text/plain", headers={"Content-Encoding": "br"}),
                         415, "unsupported_encoding")
        self.assertError(self.srv.ingest("not gzip", "text/plain", headers={"Content-Encoding": "gzip"}),
                         400, "invalid_gzip")
        self.assertError(self.srv.ingest("x\n", "text/plain", query="?service=%01bad"), 400, "invalid_parameter",
                         parameter="service")
        self.assertEqual(self.db_count(), 0)

    def test_routing_errors(self):
        self.assertError(self.srv.get("/nope"), 404, "not_found")
        st, body, hdrs = self.srv.request("GET", "/ingest")
        self.assertEqual(st, 405)
        self.assertEqual(hdrs.get("allow"), "POST")
        self.assertEqual(body["error"]["code"], "method_not_allowed")

    def test_invalid_utf8_is_stored_as_replacement(self):
        st, b, _ = self.srv.ingest(b"bad \xff\xfe bytes\n", "text/plain")
        self.assertEqual(st, 202, b)
        self.assertEqual(self.logs()[0][3], "bad \ufffd\ufffd bytes")


if __name__ == "__main__":
    unittest.main()
