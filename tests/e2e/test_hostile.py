"""Hostile HTTP against the ingest endpoints, beyond the limits test_limits.py
and test_ingest.py already cover: stalled and trickling senders while others
are served, the connection limit held by stalled clients, truncated and
corrupt gzip on every endpoint, a 1000:1 gzip bomb with the server's memory
measured, deeply nested and oversized JSON, invalid UTF-8 and NUL bytes in
every body format (and the JSON API showing such lines), enormous lines.
After each, the service still answers /healthz and every line accepted
before is still there."""
import gzip
import http.client
import json
import os
import socket
import sys
import threading
import time
import unittest
import zlib

from harness import ServerTest, db_rows, ndjson, slow, wait_for

BASE = 100
REPL = "\ufffd"


def gzip_bomb(mib):
    """mib MiB of zeros, gzip-compressed (about 1000:1)."""
    c = zlib.compressobj(9, zlib.DEFLATED, 31)
    zeros = b"\0" * (1 << 20)
    return b"".join(c.compress(zeros) for _ in range(mib)) + c.flush()


def peak_rss_kib(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    raise AssertionError("no VmHWM for %d" % pid)


def read_until_closed(sock, timeout=10):
    """What the server sends before it closes the connection, and when it closed (s)."""
    sock.settimeout(timeout)
    t0, data = time.time(), b""
    try:
        while True:
            chunk = sock.recv(65536)
            if not chunk:
                break
            data += chunk
    except ConnectionResetError:
        pass
    return data, time.time() - t0


class HostileTest(ServerTest):
    server_args = ["--llm-url", "none", "--limits-connection-timeout", "1s", "--limits-request-timeout", "2s",
                   "--limits-max-connections", "8", "--analysis-skip-quiet-windows", "false"]

    @classmethod
    def setUpClass(cls):
        cls.bomb = gzip_bomb(512)

    def setUp(self):
        super().setUp()
        st, b, _ = self.srv.ingest(ndjson([{"service": "base", "message": "base %d" % i} for i in range(BASE)]))
        self.assertEqual(st, 202, b)

    def tearDown(self):
        try:
            self.assert_still_serving()
        finally:
            super().tearDown()

    def assert_still_serving(self):
        if self.srv.proc.poll() is not None:
            self.fail("the server died: %s" % self.srv.stderr()[-3000:])
        wait_for(lambda: self.healthz() == 200, timeout=10, what="/healthz answering")
        self.assertEqual(self.count("SELECT count(*) FROM logs WHERE message LIKE 'base %'"), BASE)
        self.assertEqual(self.srv.ingest(ndjson([{"service": "after", "message": "after"}]))[0], 202)

    def healthz(self):
        c = self.srv.conn(timeout=2)
        try:
            return self.srv.request("GET", "/healthz", conn=c)[0]
        except (OSError, http.client.HTTPException):
            return None
        finally:
            c.close()

    def count(self, sql, params=()):
        return db_rows(self.srv.db, sql, params)[0][0]

    def messages(self, service):
        return [m for (m,) in db_rows(self.srv.db, "SELECT l.message FROM logs l JOIN windows w ON w.id = l.window_id "
                                                   "JOIN services s ON s.id = w.service_id WHERE s.name = ? "
                                                   "ORDER BY l.id", (service,))]

    def raw(self, data):
        s = socket.create_connection(("127.0.0.1", self.srv.port))
        s.sendall(data)
        return s

    # ---- slow senders ------------------------------------------------------

    def test_stalled_and_trickling_senders_are_cut_off_while_others_are_served(self):
        head = b"POST /ingest HTTP/1.1\r\nHost: x\r\nContent-Type: text/plain\r\nContent-Length: 1000\r\n\r\n"
        stalled_headers = self.raw(b"POST /ingest HTTP/1.1\r\nHost: x\r\nContent-Le")
        stalled_body = self.raw(head + b"slow line\n")
        trickler = self.raw(head)
        sent = [0]

        def trickle():  # never idle for the connection timeout, but never done either
            try:
                for _ in range(40):
                    trickler.sendall(b"t")
                    sent[0] += 1
                    time.sleep(0.25)
            except OSError:
                pass

        results = {}

        def watch(name, sock):
            results[name] = read_until_closed(sock)

        threads = [threading.Thread(target=trickle)] + [
            threading.Thread(target=watch, args=a) for a in
            (("headers", stalled_headers), ("body", stalled_body), ("trickle", trickler))]
        for t in threads:
            t.start()
        # meanwhile everyone else is served at once
        for i in range(10):
            t0 = time.time()
            st, b, _ = self.srv.ingest("meanwhile %d\n" % i, "text/plain", query="?service=meanwhile")
            self.assertEqual(st, 202, b)
            # under the connection timeout (1s): not held up behind the stalled ones (slack for a loaded CI)
            self.assertLess(time.time() - t0, slow(0.9))
            time.sleep(0.1)
        for t in threads:
            t.join(15)
        for s in (stalled_headers, stalled_body, trickler):
            s.close()
        for name in ("headers", "body"):  # idle for connection_timeout (1s): closed, never answered 202
            data, waited = results[name]
            self.assertNotIn(b"202", data, name)
            self.assertLess(waited, 4, name)
        data, waited = results["trickle"]  # busy, but past request_timeout (2s): cut off
        self.assertNotIn(b"202", data)
        self.assertGreaterEqual(waited, 1.9)
        self.assertLess(waited, 5)
        self.assertLess(sent[0], 40, "the trickler was never cut off")
        self.assertEqual(len(self.messages("meanwhile")), 10)
        self.assertEqual(self.count("SELECT count(*) FROM logs WHERE message LIKE 'slow%' OR message LIKE 't%'"), 0)
        self.assertIn("took longer than 2s to arrive", self.srv.stderr())
        self.assertNotIn("internal error", self.srv.stderr())
        metrics = self.srv.get("/metrics")[1].decode()
        self.assertIn('anomalog_ingest_rejected_batches_total{endpoint="/ingest",reason="request_timeout"} 1',
                      metrics)

    def test_connection_limit_held_by_stalled_clients_recovers_by_itself(self):
        time.sleep(0.3)  # the setup's connections are gone
        held = [self.raw(b"GET /healthz HTTP/1.1\r\n") for _ in range(8)]  # the limit, all stalled
        try:
            time.sleep(0.2)
            self.assertIsNone(self.healthz(), "a connection over the limit was served")
            # nobody closes the stalled ones: the connection timeout does, and service resumes
            t0 = time.time()
            wait_for(lambda: self.healthz() == 200, timeout=10, what="service after the stalled clients")
            self.assertLess(time.time() - t0, 5)
            for s in held:
                self.assertEqual(read_until_closed(s, timeout=5)[0][:12].count(b"200"), 0)
        finally:
            for s in held:
                s.close()

    def test_request_timeout_is_validated(self):
        with self.assertRaises(RuntimeError) as cm:
            self.start_server(args=["--limits-request-timeout", "500ms"])
        self.assertIn("--limits-request-timeout", str(cm.exception))

    # ---- gzip ----------------------------------------------------------------

    GZIP_ENDPOINTS = [
        ("/ingest", "application/x-ndjson", ndjson([{"service": "gz", "message": "gz %d" % i} for i in range(200)])),
        ("/loki/api/v1/push", "application/json", json.dumps({"streams": [{"stream": {"service": "gz"}, "values": [
            ["1795514400000000000", "gz %d" % i] for i in range(200)]}]})),
        ("/v1/logs", "application/json", json.dumps({"resourceLogs": [{"scopeLogs": [{"logRecords": [
            {"timeUnixNano": "1795514400000000000", "body": {"stringValue": "gz %d" % i}} for i in range(200)]}]}]})),
        ("/_bulk", "application/x-ndjson", "".join('{"create":{}}\n' + json.dumps({"message": "gz %d" % i}) + "\n"
                                                   for i in range(200))),
    ]

    def test_truncated_and_corrupt_gzip_is_400_on_every_endpoint(self):
        for path, ctype, plain in self.GZIP_ENDPOINTS:
            z = gzip.compress(plain.encode())
            bad_crc = z[:-8] + bytes([z[-8] ^ 0xFF]) + z[-7:]
            cases = {"header only": z[:10], "half": z[:len(z) // 2], "no size": z[:-4], "no trailer": z[:-8],
                     "bad crc": bad_crc, "trailing garbage": z + b"garbage"}
            for name, body in cases.items():
                with self.subTest(path=path, case=name):
                    self.assertError(self.srv.request("POST", path, body, {"Content-Type": ctype,
                                                                           "Content-Encoding": "gzip"}),
                                     400, "invalid_gzip")
            # the whole stream is fine
            st, b, _ = self.srv.request("POST", path, z, {"Content-Type": ctype, "Content-Encoding": "gzip"})
            self.assertLess(st, 300, (path, b))
        self.assertEqual(self.count("SELECT count(*) FROM logs WHERE message LIKE 'gz %'"), 4 * 200)

    def test_gzip_bomb_is_413_with_bounded_memory(self):
        self.assertLess(len(self.bomb), 1 << 20)  # 512 MiB of zeros in ~0.5 MiB: under max_body
        gz = {"Content-Encoding": "gzip"}
        before = peak_rss_kib(self.srv.proc.pid)
        self.assertError(self.srv.ingest(self.bomb, "text/plain", headers=gz), 413, "body_too_large")
        grown_mib = (peak_rss_kib(self.srv.proc.pid) - before) / 1024
        print("\ngzip bomb: peak memory grew by %.1f MiB" % grown_mib, file=sys.stderr)
        # inflating stops one byte past max_body (16 MiB): the peak grows by a few times that (more under
        # AddressSanitizer, which keeps freed buffers in quarantine), never by the 512 MiB of the bomb
        self.assertLess(grown_mib, 128)
        for path, ctype, _ in self.GZIP_ENDPOINTS[1:]:  # and every other endpoint inflates the same way
            with self.subTest(path=path):
                self.assertError(self.srv.request("POST", path, self.bomb, dict(gz, **{"Content-Type": ctype})),
                                 413, "body_too_large")

    # ---- JSON ----------------------------------------------------------------

    def test_deeply_nested_and_oversized_json(self):
        deep = "[" * 100000 + "]" * 100000
        deep_attrs = '{"message": "x", "attributes": ' + '{"a": ' * 5000 + "1" + "}" * 5000 + "}"
        otlp_deep = {"kvlistValue": {"values": [{"key": "k", "value": {"stringValue": "leaf"}}]}}
        for _ in range(20):  # valid JSON, but deeper than OTLP AnyValues may nest
            otlp_deep = {"arrayValue": {"values": [otlp_deep]}}
        j, nd = {"Content-Type": "application/json"}, {"Content-Type": "application/x-ndjson"}
        table = [
            ("/ingest", deep, j, 400, "invalid_json", {"line": 1}),
            ("/ingest", '{"message": "ok"}\n' + deep_attrs + "\n", nd, 400, "invalid_json", {"line": 2}),
            ("/ingest", '{"message": "x", "timestamp": 123456789012345678901234567890}', j, 400, "invalid_json", {}),
            ("/ingest", '{"message": "x", "timestamp": 1e999}', j, 400, "invalid_json", {}),
            ("/ingest", json.dumps([{"message": "m"}] * 100001), j, 413, "too_many_entries", {"index": 100000}),
            ("/loki/api/v1/push", deep, j, 400, "invalid_json", {}),
            ("/v1/logs", deep, j, 400, "invalid_json", {}),
        ]
        for path, body, h, status, code, fields in table:
            with self.subTest(path=path, body=body[:60]):
                self.assertError(self.srv.request("POST", path, body, h), status, code, **fields)
        # OTLP: the over-deep record is rejected alone, as partial success
        body = json.dumps({"resourceLogs": [{"scopeLogs": [{"logRecords": [
            {"timeUnixNano": "1795514400000000000", "body": {"stringValue": "shallow"}},
            {"timeUnixNano": "1795514400000000000", "body": otlp_deep}]}]}]})
        st, b, _ = self.srv.request("POST", "/v1/logs", body, j)
        self.assertEqual((st, b["partialSuccess"]["rejectedLogRecords"]), (200, 1), b)
        self.assertIn("nested", b["partialSuccess"]["errorMessage"])
        # bulk: the over-deep document is a failed item, its neighbour stored
        body = '{"create":{}}\n{"message": "bulk ok"}\n{"create":{}}\n' + deep + "\n"
        st, b, _ = self.srv.request("POST", "/_bulk", body, nd)
        self.assertEqual((st, b["errors"], [i["create"]["status"] for i in b["items"]]), (200, True, [201, 400]))
        self.assertIn("depth", b["items"][1]["create"]["error"]["reason"])
        # a wide object is fine (bounded by max_body, not refused)
        wide = {"message": "wide", "service": "wide", "attributes": {"k%d" % i: i for i in range(100000)}}
        st, b, _ = self.srv.ingest(json.dumps(wide), "application/json")
        self.assertEqual((st, b["accepted"]), (202, 1), b)
        attrs = db_rows(self.srv.db, "SELECT attributes FROM logs WHERE message = 'wide'")[0][0]
        self.assertEqual(len(json.loads(attrs)), 100000)
        self.assertEqual(self.count("SELECT count(*) FROM logs WHERE message IN ('shallow', 'bulk ok', 'wide')"), 3)

    # ---- bytes that are not text -------------------------------------------

    def test_invalid_utf8_and_nul_bytes_in_every_format(self):
        line = b"bad \xff\xfe nul \x00 esc \x1b[31m caf\xe9 end"
        want = "bad %s%s nul %s esc \x1b[31m caf%s end" % (REPL, REPL, REPL, REPL)
        # text is taken as it comes: each bad byte and NUL becomes U+FFFD
        self.assertEqual(self.srv.ingest(line + b"\n", "text/plain", query="?service=text")[0], 202)
        self.assertEqual(self.srv.ingest(b"<11>1 2026-11-24T10:00:00Z h syslog - - - " + line + b"\n", "text/plain",
                                         query="?format=syslog")[0], 202)
        self.assertEqual(self.messages("text"), [want])
        self.assertEqual(self.messages("syslog"), [want])
        # structured bodies must be valid: the batch is refused, naming where
        j, nd = {"Content-Type": "application/json"}, {"Content-Type": "application/x-ndjson"}
        ok = b'{"message": "fine"}\n'
        table = [
            ("/ingest", ok + b'{"message": "' + line.replace(b"\x00", b"") + b'"}\n', nd, {"line": 2}),
            ("/ingest", ok + b'{"message": "a\\u0000b"}\n', nd, {"line": 2}),
            ("/ingest", b'[{"message": "fine"}, {"message": "\xc3"}]', j, {}),
            ("/loki/api/v1/push", b'{"streams": [{"values": [["1", "a\\u0000b"]]}]}', j, {}),
            ("/v1/logs", b'{"resourceLogs": [{"scopeLogs": [{"logRecords": [{"body": {"stringValue": "\xff"}}]}]}]}',
             j, {}),
        ]
        for path, body, h, fields in table:
            with self.subTest(path=path, body=body[:50]):
                self.assertError(self.srv.request("POST", path, body, h), 400, "invalid_json", **fields)
        self.assertEqual(self.count("SELECT count(*) FROM logs WHERE message = 'fine'"), 0)
        # the JSON API shows such lines as valid JSON (the window's digest quotes them)
        self.assertEqual(self.srv.request("POST", "/windows/flush", b"")[0], 200)
        wait_for(lambda: self.srv.get("/windows?service=syslog")[1]["windows"][0]["status"] == "analyzed",
                 what="the syslog window analysed")
        wid = self.srv.get("/windows?service=syslog")[1]["windows"][0]["id"]
        st, raw, h = self.srv.request("GET", "/windows/%d" % wid, headers={"Accept-Encoding": "identity"})
        self.assertEqual(st, 200)
        self.assertIn(want, raw["digest"])  # parsed as JSON by the harness: it is valid

    def test_enormous_lines_are_cut_and_counted(self):
        big = 15 << 20  # under max_body (16 MiB), far over max_line (64 KiB)
        cases = [
            ("text", b"t" * big, "text/plain", ""),
            ("ndjson", json.dumps({"message": "n" * big}).encode() + b"\n", "application/x-ndjson", ""),
            ("syslog", b"<14>1 - h app - - - " + b"s" * big, "text/plain", "&format=syslog"),
            ("trace", b"Exception in thread main\n" + b"\tat x.y(Z.java:1)\n" * (big // 18),
             "text/plain", ""),
        ]
        for name, body, ctype, query in cases:
            with self.subTest(case=name):
                st, b, _ = self.srv.ingest(body, ctype, query="?service=huge-" + name + query)
                self.assertEqual((st, b["accepted"], b["normalized"]["truncated"]), (202, 1, 1), b)
        for name in ("text", "ndjson", "trace"):
            lens = [len(m.encode()) for m in self.messages("huge-" + name)]
            self.assertEqual(lens, [64 << 10], name)
        self.assertEqual([len(m) for m in self.messages("app")], [64 << 10])



class PerAddressTest(ServerTest):
    # 3, not 2: the test waits until the server counts a connection out (anomalog_http_connections_open),
    # and the margin keeps the harness's own scrape from tipping 127.0.0.1 over
    server_args = ["--llm-url", "none", "--limits-max-connections-per-ip", "3"]

    def connect_from(self, source):
        s = socket.socket()
        s.bind((source, 0))
        s.connect(("127.0.0.1", self.srv.port))
        return s

    def healthz_from(self, source):
        s = self.connect_from(source)
        try:
            s.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            return read_until_closed(s, timeout=5)[0]
        finally:
            s.close()

    def test_one_address_cannot_hold_every_connection(self):
        # the server's own count of open connections is watched, never a sleep (a scrape counts itself):
        # the readiness probe's connection is gone
        def open_now():
            return self.srv.metric("anomalog_http_connections_open")
        wait_for(lambda: open_now() == 1, timeout=slow(10), interval=0.02,
                 what="the readiness probe's connection closed by the server")
        # headers trickling in from 127.0.0.2: no deadline but the idle timeout, so a limit per address
        held = [self.connect_from("127.0.0.2") for _ in range(3)]
        try:
            for s in held:
                s.sendall(b"POST /ingest HTTP/1.1\r\nHost: x\r\n")
            wait_for(lambda: self.srv.metric("anomalog_http_connections_open_busiest_address") == 3,
                     timeout=slow(10), interval=0.02, what="the server counting the three connections of 127.0.0.2")
            self.assertEqual(self.srv.connections("127.0.0.2"), 3)
            self.assertNotIn(b"200 OK", self.healthz_from("127.0.0.2"))  # its fourth is not served
            for _ in range(3):  # everyone else is
                wait_for(lambda: open_now() == 4, timeout=slow(10), interval=0.02,
                         what="the last connection of 127.0.0.1 closed by the server (3 held + the scrape)")
                self.assertIn(b"200 OK", self.healthz_from("127.0.0.1"))
            st, b, _ = self.srv.ingest(ndjson([{"message": "from another address"}]))
            self.assertEqual(st, 202, b)
        finally:
            for s in held:
                s.close()
        wait_for(lambda: b"200 OK" in self.healthz_from("127.0.0.2"), timeout=5, what="127.0.0.2 served again")


if __name__ == "__main__":
    unittest.main()
