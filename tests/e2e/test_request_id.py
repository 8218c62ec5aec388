"""X-Request-Id: every answer carries one, the request's own when it sent a sane one."""
import http.client
import re
import unittest

from harness import ServerTest

HEX16 = re.compile(r"^[0-9a-f]{16}$")


class RequestIdTest(ServerTest):
    def rid(self, method, path, headers=None, body=None):
        st, _, hdrs = self.srv.request(method, path, body, headers)
        self.assertIn("x-request-id", hdrs, (method, path, st))
        return hdrs["x-request-id"]

    def test_generated_when_absent(self):
        ids = {self.rid("GET", "/healthz") for _ in range(20)}
        self.assertEqual(len(ids), 20, ids)  # fresh per request
        for i in ids:
            self.assertRegex(i, HEX16)

    def test_echoed_when_sane(self):
        for sent in ["abc-123", "x" * 128, "a b:c/d=e~!", "0f8fad5b-d9cb-469f-a165-70867728950e"]:
            self.assertEqual(self.rid("GET", "/healthz", {"X-Request-Id": sent}), sent)
        # on error answers too, and on every kind of route
        self.assertEqual(self.rid("GET", "/nope", {"X-Request-Id": "r-404"}), "r-404")
        self.assertEqual(self.rid("DELETE", "/healthz", {"X-Request-Id": "r-405"}), "r-405")
        self.assertEqual(self.rid("POST", "/ingest", {"X-Request-Id": "r-400", "Content-Type": "application/json"},
                                  "{nope"), "r-400")
        self.assertEqual(self.rid("POST", "/ingest", {"X-Request-Id": "r-202", "Content-Type": "text/plain"},
                                  "2026-11-24T10:00:00 INFO api hello\n"), "r-202")
        self.assertEqual(self.rid("GET", "/metrics", {"X-Request-Id": "r-metrics"}), "r-metrics")

    def test_ignored_when_not_sane(self):
        for bad in ["x" * 129, "caf\u00e9".encode("utf-8").decode("latin-1"), "a\tb"]:
            got = self.rid("GET", "/healthz", {"X-Request-Id": bad})
            self.assertRegex(got, HEX16, repr(bad))
        # an empty header is no id either
        c = self.srv.conn()
        try:
            c.putrequest("GET", "/healthz")
            c.putheader("X-Request-Id", "")
            c.endheaders()
            r = c.getresponse()
            r.read()
            self.assertRegex(r.getheader("X-Request-Id") or "", HEX16)
        finally:
            c.close()

    def test_refused_before_the_body(self):
        # a 413 answered from the Content-Length alone carries the id as well
        c = http.client.HTTPConnection("127.0.0.1", self.srv.port, timeout=10)
        try:
            c.putrequest("POST", "/ingest")
            c.putheader("Content-Type", "text/plain")
            c.putheader("Content-Length", str(1 << 40))
            c.putheader("X-Request-Id", "big-one")
            c.endheaders()
            r = c.getresponse()
            r.read()
            self.assertEqual(r.status, 413)
            self.assertEqual(r.getheader("X-Request-Id"), "big-one")
        finally:
            c.close()


if __name__ == "__main__":
    unittest.main()
