"""Per-service miners under analysis.max_services_in_memory (issue 16): with
room for one service in memory, two services take turns, so each window of
one evicts the other's miner; a service that returns is rebuilt from its
stored templates and mines the same messages into the same template ids,
with no template stored twice. (The cache's bound, LRU order and eviction
are proved in tests/unit/test_svccache.c; this is the analyzer wired to it.)"""
import unittest

from harness import ServerTest, db_rows, ndjson, wait_for

T0 = 1795514400  # 2026-11-24T10:00:00Z

MESSAGES = {
    "alpha": ["user %s logged in from 10.0.0.%d", "GET /api/v1/orders/%d took %dms", "cache miss for key k%d%d"],
    "beta": ["disk sda%d at %d%% capacity", "job %d finished in %ds", "retrying upstream %d after %dms"],
}


def window(service, start, n=60):
    rows = []
    for i in range(n):
        fmt = MESSAGES[service][i % 3]
        args = (["alice", "bob"][i % 2], i) if fmt.startswith("user") else (i, i * 7)
        rows.append({"ts": start + i * 0.5, "service": service, "level": "info", "message": fmt % args})
    return rows


class ServiceCacheTest(ServerTest):
    server_args = ["--llm-url", "none", "--window", "1m", "--analysis-max-services-in-memory", "1"]

    def analyzed(self):
        return len(self.srv.get("/windows?status=analyzed&limit=100")[1]["windows"])

    def template_ids(self, service, start_s):
        return sorted(r[0] for r in db_rows(self.srv.db,
                      "SELECT template_id FROM template_counts JOIN services ON services.id = service_id "
                      "WHERE services.name = ? AND window_start = ?", (service, start_s * 1000)))

    def test_evicted_service_returns_with_the_same_template_ids(self):
        for k in range(3):  # alpha, beta, alpha, beta, ...: every window reloads its service's miner
            for service in ("alpha", "beta"):
                st, b, _ = self.srv.ingest(ndjson(window(service, T0 + 60 * k)))
                self.assertEqual(st, 202, b)
                self.srv.request("POST", "/windows/flush")
                wait_for(lambda: self.analyzed() == 2 * k + (1 if service == "alpha" else 2),
                         what="%s window %d analysed" % (service, k))
        for service in ("alpha", "beta"):
            first = self.template_ids(service, T0)
            self.assertGreaterEqual(len(first), 3, (service, first))
            for k in (1, 2):
                self.assertEqual(self.template_ids(service, T0 + 60 * k), first, (service, k))
            stored = db_rows(self.srv.db, "SELECT count(*) FROM templates JOIN services ON services.id = service_id "
                             "WHERE services.name = ?", (service,))[0][0]
            self.assertEqual(stored, len(first), service)


if __name__ == "__main__":
    unittest.main()
