"""Three replicas behind one PostgreSQL database (PostgreSQL mode only: the
e2e-pg.test_replicas ctest): ingestion spread over all three lands in the same
windows, every window is analysed exactly once, every (service, type) notifies
once, and the window a replica was analysing when it was killed (SIGKILL) is
analysed by another once that replica's lease has run out.

The fake model answers one anomaly per window (the baseline may add more), slowly, so that windows are in
analysis when the replica dies."""
import json
import os
import signal
import time
import unittest

from harness import PG_URL, FakeLLM, ServerTest, db_rows, ndjson, wait_for
from test_routing import Receiver

T0 = 1795514400  # 2026-11-24T10:00:00Z
SERVICES = ["svc%d" % i for i in range(6)]
WINDOWS = 2          # per service, one minute each
LINES = 3            # per window, per replica
LEASE_S = 5
MODEL_DELAY_MS = 1500
MESSAGE = "upstream timeout after 30000ms"
# one finding per window, quoting a line every window has (evidence that is not in the window is never routed)
VERDICT = json.dumps({"health": "degraded", "anomalies": [
    {"severity": "high", "type": "error_spike", "summary": "upstream timeouts", "evidence": [MESSAGE],
     "recommended_action": "Check the upstream"}]})


@unittest.skipUnless(PG_URL, "replicas share a PostgreSQL database (run as e2e-pg.test_replicas)")
class ReplicasTest(ServerTest):
    autostart = False

    def setUp(self):
        super().setUp()
        self.llm = FakeLLM().start()
        self.addCleanup(self.llm.stop)
        self.llm.script([], then={"mode": "fixed", "content": VERDICT,
                                  "delay_ms": MODEL_DELAY_MS})
        self.hook = Receiver().start()
        self.addCleanup(self.hook.stop)

    def replica(self, db):
        args = ["--llm-url", self.llm.url, "--window", "1m", "--grace", "1h", "--analysis-skip-quiet-windows", "false",
                "--llm-retries", "0", "--llm-timeout", "20s", "--analysis-lease", "%ds" % LEASE_S, "--suppress", "1h",
                "--notify-retry-base", "200ms", "--notify-retry-max", "1s"]
        return self.start_server(args=args, env={"ANOMALOG_WEBHOOK_URL": self.hook.url + "/hook"}, db=db)

    def test_three_replicas_share_the_work_and_survive_a_kill(self):
        db = os.path.join(self.dir, "shared.db")  # one PostgreSQL database for all three
        replicas = [self.replica(db) for _ in range(3)]
        # every window gets lines through every replica
        sent = 0
        for w in range(WINDOWS):
            for k, srv in enumerate(replicas):
                rows = [{"ts": T0 + 60 * w + k * 10 + i, "service": s, "level": "error", "message": MESSAGE}
                        for s in SERVICES for i in range(LINES)]
                st, b, _ = srv.ingest(ndjson(rows))
                self.assertEqual(st, 202, b)
                sent += len(rows)
        self.assertEqual(db_rows(db, "SELECT count(*) FROM logs"), [(sent,)])
        ws = db_rows(db, "SELECT line_count, late_count FROM windows")
        self.assertEqual(sorted(ws), [(3 * LINES, 0)] * (len(SERVICES) * WINDOWS))

        st, b, _ = replicas[0].request("POST", "/windows/flush")
        self.assertEqual((st, b), (200, {"closed": len(SERVICES) * WINDOWS}))
        # the flush on one replica closed them for all: no replica closes them again
        self.assertEqual(replicas[1].request("POST", "/windows/flush")[1], {"closed": 0})
        # two workers per replica, one window per service at a time: with five or more in analysis,
        # the victim holds at least one of them
        victim = replicas[0]
        wait_for(lambda: db_rows(db, "SELECT count(*) FROM windows WHERE status = 'analyzing'")[0][0] >= 5,
                 timeout=20, what="every replica analysing")
        victim.proc.send_signal(signal.SIGKILL)
        victim.proc.wait()
        killed_ms = int(time.time() * 1000)

        total = len(SERVICES) * WINDOWS
        wait_for(lambda: db_rows(db, "SELECT count(*) FROM windows WHERE status = 'analyzed'")[0][0] == total,
                 timeout=90, interval=0.3, what="every window analysed")
        # each window analysed exactly once: the model's one anomaly each, and every window's anomalies
        # (the baseline may add its own) recorded by a single finish
        self.assertEqual(db_rows(db, "SELECT count(*), count(DISTINCT window_id) FROM anomalies WHERE analyzer = 'llm'"),
                         [(total, total)])
        self.assertEqual(db_rows(db, "SELECT max(n) FROM (SELECT count(DISTINCT created_at) AS n FROM anomalies "
                                     "GROUP BY window_id) x"), [(1,)])
        self.assertEqual(db_rows(db, "SELECT sum(anomaly_count) FROM windows"),
                         db_rows(db, "SELECT count(*) FROM anomalies"))
        # the victim's windows were taken over, and only after its lease ran out
        taken = db_rows(db, "SELECT id, analyzed_at FROM windows WHERE attempts = 2")
        self.assertTrue(taken, "no window was taken over from the killed replica")
        self.assertEqual(db_rows(db, "SELECT max(attempts) FROM windows"), [(2,)])
        for wid, analyzed_at in taken:
            # claimed before the kill, so its lease ended at the earliest LEASE_S after that claim,
            # which the slow model puts at most MODEL_DELAY_MS before the kill
            self.assertGreaterEqual(analyzed_at, killed_ms + LEASE_S * 1000 - MODEL_DELAY_MS - 500, wid)

        # one notification per (service, type) per suppression interval, delivered once
        self.assertEqual(db_rows(db, "SELECT count(*) FROM anomalies WHERE analyzer = 'llm' AND evidence_verified = 1"),
                         [(total,)])
        pairs = db_rows(db, "SELECT s.name, a.type FROM anomalies a JOIN services s ON s.id = a.service_id "
                            "WHERE a.evidence_verified = 1 GROUP BY s.name, a.type ORDER BY 1, 2")
        self.assertIn(("svc0", "error_spike"), pairs)
        wait_for(lambda: len(self.hook.got()) >= len(pairs), timeout=30, what="notifications")
        time.sleep(1.5)
        got = sorted((b["anomaly"]["service"], b["anomaly"]["type"]) for _, _, b, _ in self.hook.got())
        self.assertEqual(got, pairs)
        self.assertEqual(db_rows(db, "SELECT status, count(*) FROM outbox GROUP BY status"), [("sent", len(pairs))])
        self.assertEqual(db_rows(db, "SELECT count(*) FROM anomalies WHERE suppressed = 0 AND evidence_verified = 1"),
                         [(len(pairs),)])
        # and the survivors agree on what happened
        for srv in replicas[1:]:
            st, b, _ = srv.get("/anomalies?limit=100")
            self.assertEqual((st, len(b["anomalies"])), (200, db_rows(db, "SELECT count(*) FROM anomalies")[0][0]))


if __name__ == "__main__":
    unittest.main()
