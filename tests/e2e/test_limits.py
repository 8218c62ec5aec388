"""Every configured bound of ingestion, each at its edge: body size (declared,
chunked and after gunzip), line length, entries per batch, writer queue depth."""
import gzip
import http.client
import json
import threading
import time
import unittest

from harness import ServerTest, ndjson, slow, wait_for


class LimitsTest(ServerTest):
    server_args = ["--limits-max-body", "64KiB", "--limits-max-line", "100", "--limits-max-entries", "1000"]

    def test_body_at_limit_passes_and_over_is_413(self):
        line = json.dumps({"message": "x" * 50}) + "\n"
        n = 65536 // len(line)
        body = line * n
        body += " " * (65536 - len(body))  # exactly the limit
        st, b, _ = self.srv.ingest(body)
        self.assertEqual((st, b["accepted"]), (202, n))
        self.assertError(self.srv.ingest(body + " "), 413, "body_too_large")
        self.assertEqual(self.db_count(), n)

    def test_chunked_body_over_limit_is_413(self):
        c = http.client.HTTPConnection("127.0.0.1", self.srv.port, timeout=30)
        chunk = (json.dumps({"message": "y" * 80}) + "\n").encode() * 100

        def chunks():
            for _ in range(20):  # ~190 KiB, three times the limit
                yield chunk

        try:
            c.request("POST", "/ingest", body=chunks(), headers={"Content-Type": "application/x-ndjson"},
                      encode_chunked=True)
            r = c.getresponse()
            body = json.loads(r.read())
            self.assertEqual(r.status, 413)
            self.assertEqual(body["error"]["code"], "body_too_large")
        except (BrokenPipeError, ConnectionResetError):
            pass  # the server may close before the client has sent everything
        finally:
            c.close()
        self.assertEqual(self.db_count(), 0)

    def test_gzip_bomb_is_413(self):
        body = gzip.compress(b"\n" * (10 << 20))  # 10 MiB of blank lines, ~10 KiB compressed
        self.assertLess(len(body), 65536)
        self.assertError(self.srv.ingest(body, "text/plain", headers={"Content-Encoding": "gzip"}),
                         413, "body_too_large")

    def test_long_lines_are_truncated_and_counted(self):
        st, b, _ = self.srv.ingest(ndjson([{"message": "a" * 100}, {"message": "b" * 101}, {"message": "é" * 60}]))
        self.assertEqual(st, 202, b)
        self.assertEqual(b["normalized"]["truncated"], 2)
        rows = [r[0] for r in self.srv_rows("SELECT message FROM logs ORDER BY id")]
        self.assertEqual(rows[0], "a" * 100)
        self.assertEqual(rows[1], "b" * 100)
        self.assertEqual(rows[2], "é" * 50)  # 100 bytes, cut on a character boundary

    def test_entries_per_batch(self):
        st, b, _ = self.srv.ingest(ndjson([{"message": str(i)} for i in range(1000)]))
        self.assertEqual((st, b["accepted"]), (202, 1000))
        self.assertError(self.srv.ingest("x\n" * 1001, "text/plain"), 413, "too_many_entries", line=1001)
        self.assertEqual(self.db_count(), 1000)

    def srv_rows(self, sql):
        from harness import db_rows
        import os
        return db_rows(os.path.join(self.dir, "anomalog.db"), sql)


class QueueTest(ServerTest):
    server_args = ["--limits-queue-depth", "1", "--limits-max-txn-entries", "2000"]

    def test_full_queue_answers_503_with_retry_after_and_loses_nothing_accepted(self):
        body = ndjson([{"message": "load line %d with some text to store" % i, "service": "q"}
                       for i in range(20000)]).encode()
        accepted = []
        refused = []
        lock = threading.Lock()

        def client():
            st, b, h = self.srv.ingest(body)
            with lock:
                if st == 202:
                    accepted.append(b["accepted"])
                else:
                    refused.append((st, b, h))

        for _ in range(5):  # load is statistical; a few rounds make a refusal certain in practice
            threads = [threading.Thread(target=client) for _ in range(12)]
            for t in threads:
                t.start()
            for t in threads:
                t.join()
            if refused:
                break
        self.assertTrue(refused, "a queue of depth 1 never filled under 12 concurrent batches")
        for st, b, h in refused:
            self.assertEqual(st, 503, b)
            self.assertEqual(b["error"]["code"], "queue_full")
            self.assertEqual(h.get("retry-after"), "1")
        self.assertEqual(self.db_count(), sum(accepted))


class ConnectionLimitsTest(ServerTest):
    server_args = ["--limits-max-connections", "2", "--limits-connection-timeout", "1s"]

    def test_connections_over_the_limit_are_refused_until_one_closes(self):
        wait_for(lambda: self.srv.connections() == 0, timeout=slow(10), interval=0.02,
                 what="the readiness probe's connection closed by the server")
        held = []
        for _ in range(2):  # two keep-alive connections that were served, so surely counted
            c = self.srv.conn()
            self.assertEqual(self.srv.request("GET", "/healthz", conn=c)[0], 200)
            held.append(c)
        try:
            # over the limit a connection is not served: refused, or left in the backlog (timeout)
            with self.assertRaises((ConnectionError, http.client.HTTPException, OSError)):
                self.srv.request("GET", "/healthz", conn=self.srv.conn(timeout=0.5))
        finally:
            for s in held:
                s.close()
        wait_for(lambda: self.srv.connections() == 0, timeout=slow(10), interval=0.02,
                 what="the held connections closed by the server")

        # served again (a table of sockets read while others come and go can miss one: asked until served)
        def served():
            try:
                return self.srv.get("/healthz")[0] == 200
            except (ConnectionError, http.client.HTTPException, OSError):
                return False
        wait_for(served, timeout=slow(10), interval=0.1, what="/healthz served once the held connections closed")

    def test_slow_sender_is_cut_off_after_the_timeout(self):
        import socket
        s = socket.create_connection(("127.0.0.1", self.srv.port))
        s.sendall(b"POST /ingest HTTP/1.1\r\nHost: x\r\nContent-Type: text/plain\r\nContent-Length: 100\r\n\r\nabc")
        s.settimeout(10)
        t0 = time.time()
        data = s.recv(4096)  # the server closes the connection: recv returns b"" (or an error answer)
        waited = time.time() - t0
        s.close()
        self.assertLess(waited, 5)
        self.assertNotIn(b"202", data)
        self.assertEqual(self.db_count(), 0)


if __name__ == "__main__":
    unittest.main()
