"""Idempotency-Key on every ingest endpoint: a retry with the same key after
the commit stores nothing and gets the first answer again (Idempotent-Replayed:
true), also across kill -9; the same key while the first request is in flight
is 409; with another body or endpoint 422; a malformed key 400; keys expire
after ingest.idempotency_ttl and are pruned; keys are scoped per ingest token."""
import json
import os
import signal
import threading
import time
import unittest

from harness import PG_URL, ServerTest, db_rows, ndjson, wait_for, write_lock
from test_shippers import any_string, field_bytes, field_fixed64, otlp_proto

ROWS = [{"service": "idem", "message": "line %d" % i} for i in range(5)]


def loki_body(tag):
    return json.dumps({"streams": [{"stream": {"service": "idem"},
                                    "values": [["1795514400000000000", "%s a" % tag],
                                               ["1795514401000000000", "%s b" % tag]]}]})


def otlp_json(tag):
    return json.dumps({"resourceLogs": [{"scopeLogs": [{"logRecords": [
        {"timeUnixNano": "1795514400000000000", "body": {"stringValue": tag}},
        {"timeUnixNano": "yesterday", "body": {"stringValue": "rejected"}}]}]}]})


def otlp_pb(tag):
    good = field_fixed64(1, 1795514400500000000) + field_bytes(5, any_string(tag))
    bad = field_bytes(5, field_bytes(1, b"\xff\xfe"))  # not UTF-8: a partial success in protobuf
    return otlp_proto([({"service.name": "idem"}, [good, bad])])


def bulk_body(tag):
    return "".join(json.dumps(x) + "\n" for x in [{"create": {}}, {"message": tag + " 1"},
                                                  {"create": {}}, {"message": tag + " 2"}])


# every ingest route of src/http/server.c: (method, path, content type, body of a tag, lines stored)
ENDPOINTS = [
    ("POST", "/ingest", "application/x-ndjson", lambda t: ndjson([{"message": t + " %d" % i} for i in range(3)]), 3),
    ("POST", "/loki/api/v1/push", "application/json", loki_body, 2),
    ("POST", "/v1/logs", "application/json", otlp_json, 1),
    ("POST", "/v1/logs", "application/x-protobuf", otlp_pb, 1),
    ("POST", "/_bulk", "application/x-ndjson", bulk_body, 2),
    ("PUT", "/_bulk", "application/x-ndjson", bulk_body, 2),
    ("POST", "/web/_bulk", "application/x-ndjson", bulk_body, 2),
    ("PUT", "/web/_bulk", "application/x-ndjson", bulk_body, 2),
]


class IdempotencyTest(ServerTest):
    def post(self, body, key=None, path="/ingest", ctype="application/x-ndjson", method="POST", headers=None,
             srv=None):
        h = {"Content-Type": ctype}
        if key is not None:
            h["Idempotency-Key"] = key
        h.update(headers or {})
        return (srv or self.srv).request(method, path, body, h)

    def test_every_ingest_endpoint_replays_a_committed_key(self):
        stored = 0
        for n, (method, path, ctype, body_of, lines) in enumerate(ENDPOINTS):
            with self.subTest(method=method, path=path, ctype=ctype):
                body = body_of("e%d" % n)
                first = self.post(body, "key-%d" % n, path, ctype, method)
                self.assertLess(first[0], 300, first)
                self.assertNotIn("idempotent-replayed", first[2])
                stored += lines
                self.assertEqual(self.db_count(), stored)
                again = self.post(body, "key-%d" % n, path, ctype, method)
                self.assertEqual(again[:2], first[:2])  # same status, same body byte for byte
                self.assertEqual(again[2].get("idempotent-replayed"), "true")
                self.assertEqual(again[2].get("content-type"), first[2].get("content-type"))
                if "_bulk" in path:
                    self.assertEqual(again[2].get("x-elastic-product"), "Elasticsearch")
                self.assertEqual(self.db_count(), stored, "a replay stored lines")
                # without a key the same body is a new batch
                self.assertLess(self.post(body, None, path, ctype, method)[0], 300)
                stored += lines
                self.assertEqual(self.db_count(), stored)
                # a malformed key is refused here too, before anything is stored
                self.assertError(self.post(body, "k" * 256, path, ctype, method), 400, "invalid_parameter",
                                 parameter="Idempotency-Key")
                self.assertEqual(self.db_count(), stored)
        # each replay counted once, under the endpoint it came to (/{index}/_bulk as /_bulk)
        st, body, _ = self.srv.get("/metrics")
        self.assertEqual(st, 200)
        metrics = body.decode()
        for endpoint in ("/ingest", "/loki/api/v1/push", "/v1/logs", "/_bulk"):
            n = sum(1 for e in ENDPOINTS if e[1].endswith(endpoint))
            self.assertIn('anomalog_ingest_replayed_batches_total{endpoint="%s"} %d\n' % (endpoint, n), metrics)

    def test_key_bounds(self):
        body = ndjson(ROWS)
        st, b, _ = self.post(body, "k" * 255)  # the longest key
        self.assertEqual((st, b["accepted"]), (202, 5), b)
        for bad in ("k" * 256, "a\tb", "caf\u00e9", " "):
            with self.subTest(key=bad):
                err = self.assertError(self.post(body, bad), 400, "invalid_parameter", parameter="Idempotency-Key")
                self.assertIn("Idempotency-Key", err["message"])
        self.assertEqual(self.db_count(), 5)

    def test_same_key_with_another_body_or_endpoint_is_422(self):
        self.assertEqual(self.post(ndjson(ROWS), "order-1")[0], 202)
        err = self.assertError(self.post(ndjson(ROWS[:2]), "order-1"), 422, "idempotency_key_reused")
        self.assertIn("body", err["message"])
        err = self.assertError(self.post(bulk_body("x"), "order-1", "/_bulk"), 422, "idempotency_key_reused")
        self.assertIn("/ingest", err["message"])
        self.assertEqual(self.db_count(), 5)
        # the first answer is still there for the first body
        self.assertEqual(self.post(ndjson(ROWS), "order-1")[2].get("idempotent-replayed"), "true")
        self.assertIn('idempotency_key_reused', self.srv.get("/metrics")[1].decode())

    def test_a_refused_batch_leaves_its_key_free(self):
        self.assertError(self.post("{not json}\n", "k-bad"), 400, "invalid_json")
        st, b, h = self.post(ndjson(ROWS), "k-bad")  # not 422: nothing was recorded for the refusal
        self.assertEqual((st, b["accepted"]), (202, 5), b)
        self.assertNotIn("idempotent-replayed", h)

    def test_same_key_in_flight_is_409(self):
        # Hold the database's write lock, so the writer cannot store anything. With the ingest journal
        # (SQLite) the first request is answered at once, and a retry of its key waits, key in hand, until
        # the batch is stored, to replay the answer; without one (PostgreSQL) the first request itself
        # waits in the writer. Either way a third request with the key finds it in flight.
        # Who holds the key is observed, never left to a sleep: the gauge of keys in flight.
        first, second = [], []
        t2 = None

        def in_flight():
            return self.srv.metric("anomalog_ingest_idempotency_keys_in_flight")
        with write_lock(os.path.join(self.dir, "anomalog.db")):
            t1 = threading.Thread(target=lambda: first.append(self.post(ndjson(ROWS), "slow-key")))
            t1.start()
            if PG_URL:
                wait_for(lambda: in_flight() == 1, what="the first request holding its key")
            else:
                t1.join(10)
                self.assertEqual(first and first[0][0], 202, "the journal answers while the database is locked")
                self.assertEqual(in_flight(), 0)
                t2 = threading.Thread(target=lambda: second.append(self.post(ndjson(ROWS), "slow-key")))
                t2.start()
                wait_for(lambda: in_flight() == 1, what="the retry holding its key")
            st, b, h = self.post(ndjson(ROWS), "slow-key")
            self.assertEqual((st, b["error"]["code"]), (409, "idempotency_key_in_use"), b)
            self.assertEqual(h.get("retry-after"), "1")
            if PG_URL:
                self.assertTrue(t1.is_alive(), "the first request did not wait for the lock")
            else:
                self.assertTrue(t2.is_alive(), "the retry did not wait for the first batch to be stored")
        t1.join(10)
        if t2:
            t2.join(10)
        self.assertEqual(in_flight(), 0)
        self.assertEqual(first[0][0], 202, first)
        if not PG_URL:
            st, b, h = second[0]
            self.assertEqual((st, b, h.get("idempotent-replayed")), (202, first[0][1], "true"))
        st, b, h = self.post(ndjson(ROWS), "slow-key")
        self.assertEqual((st, b, h.get("idempotent-replayed")), (202, first[0][1], "true"))
        self.assertEqual(self.db_count(), 5)

    def test_replay_survives_kill9(self):
        first = self.post(ndjson(ROWS), "before-crash")
        self.assertEqual(first[0], 202)
        self.srv.proc.send_signal(signal.SIGKILL)
        self.srv.proc.wait()
        srv = self.start_server()
        again = self.post(ndjson(ROWS), "before-crash", srv=srv)
        self.assertEqual(again[:2], first[:2])
        self.assertEqual(again[2].get("idempotent-replayed"), "true")
        self.assertEqual(self.db_count(), 5)

    def keys_stored(self):
        return db_rows(os.path.join(self.dir, "anomalog.db"), "SELECT count(*) FROM idempotency_keys")[0][0]


class ExpiryTest(ServerTest):
    server_args = ["--ingest-idempotency-ttl", "1s"]
    post = IdempotencyTest.post
    keys_stored = IdempotencyTest.keys_stored

    def test_keys_expire_and_are_pruned(self):
        self.assertEqual(self.post(ndjson(ROWS), "k1")[0], 202)
        self.assertEqual(self.post(ndjson(ROWS), "k1")[2].get("idempotent-replayed"), "true")
        for i in range(2, 5):
            self.assertEqual(self.post(ndjson(ROWS), "k%d" % i)[0], 202)
        self.assertEqual(self.keys_stored(), 4)
        time.sleep(1.2)
        # expired: the same key is a new batch (even before the pruner got to it)
        st, b, h = self.post(ndjson(ROWS), "k1")
        self.assertEqual((st, b["accepted"]), (202, 5))
        self.assertNotIn("idempotent-replayed", h)
        self.assertEqual(self.db_count(), 25)  # k1, k2..k4, k1 again
        # and expired keys are deleted
        wait_for(lambda: self.keys_stored() == 0, timeout=10, what="expired keys pruned")

    def test_ttl_is_validated(self):
        with self.assertRaises(RuntimeError) as cm:
            self.start_server(args=["--ingest-idempotency-ttl", "10ms"])
        self.assertIn("--ingest-idempotency-ttl", str(cm.exception))


class TenantTest(ServerTest):
    autostart = False
    post = IdempotencyTest.post

    def test_keys_are_scoped_per_token(self):
        conf = os.path.join(self.dir, "anomalog.yaml")
        with open(conf, "w") as f:
            f.write("auth:\n  ingest_token: main\n  tokens:\n    - token: team-a\n      service: a\n"
                    "    - token: team-b\n      service: b\n")
        self.srv = self.start_server(args=["--config", conf])
        answers = {}
        for token, rows in (("team-a", ROWS[:1]), ("team-b", ROWS[:2]), ("main", ROWS[:3])):
            st, b, h = self.post(ndjson(rows), "shared-key", headers={"Authorization": "Bearer " + token})
            self.assertEqual((st, b["accepted"]), (202, len(rows)), (token, b))  # no 422: another scope
            self.assertNotIn("idempotent-replayed", h)
            answers[token] = b
        for token, rows in (("team-a", ROWS[:1]), ("team-b", ROWS[:2]), ("main", ROWS[:3])):
            st, b, h = self.post(ndjson(rows), "shared-key", headers={"Authorization": "Bearer " + token})
            self.assertEqual((st, b, h.get("idempotent-replayed")), (202, answers[token], "true"))
        self.assertEqual(self.db_count(), 6)
        scopes = sorted(r[0] for r in db_rows(os.path.join(self.dir, "anomalog.db"),
                                              "SELECT scope FROM idempotency_keys"))
        self.assertEqual(scopes, ["auth.ingest_token", "auth.tokens[0]", "auth.tokens[1]"])  # never the token
        # no token: 401 before any key is looked at
        self.assertEqual(self.post(ndjson(ROWS), "shared-key")[0], 401)


if __name__ == "__main__":
    unittest.main()
