"""The model's evidence is checked by a query of the millisecond it quotes
(issue 16: "evidence checks by query rather than a copy of the window").

A window whose lines arrive out of event-time order, several of them in the
quoted milliseconds, is analysed by a fake model that quotes two lines in
its middle with their timestamps, as the digest shows them: the anomaly is
verified, and feedback marks exactly the templates of those two lines
known-benign (the position the store gives each line is the digest's line:
one off and another template would be silenced). A quote with a timestamp
no line of the window has, or with a line of that millisecond of another
text, is not evidence. A late line, analysed in the window's late pass,
is found the same way among the late lines only.
"""
import json
import unittest

from harness import FakeLLM, ServerTest, db_rows, ndjson, wait_for

T0 = 1795514400  # 2026-11-24T10:00:00Z
J = {"Content-Type": "application/json"}


def lines():
    """120 lines, newest first: request N served (info), cache miss key=N (debug), and at 10:00:30.000 and
    10:00:45.000 one line of each kind plus a payment timeout (error) and a disk warning."""
    rows = []
    for i in range(60):
        rows.append({"ts": T0 + i + 0.25, "level": "info", "message": "request %d served" % i})
        rows.append({"ts": T0 + i + 0.5, "level": "debug", "message": "cache miss key=%d" % (i * 7)})
    for s in (30, 45):
        rows += [{"ts": T0 + s, "level": "info", "message": "request %d served" % (1000 + s)},
                 {"ts": T0 + s, "level": "error", "message": "payment gateway timeout after %dms for order %d"
                  % (3000 + s, 77 + s)},
                 {"ts": T0 + s, "level": "debug", "message": "cache miss key=%d" % (9000 + s)},
                 {"ts": T0 + s, "level": "warn", "message": "disk %d%% full on /var" % (80 + s % 7)}]
    for r in rows:
        r["service"] = "pay"
    return list(reversed(sorted(rows, key=lambda r: r["ts"])))


class EvidenceQueryTest(ServerTest):
    autostart = False

    def setUp(self):
        super().setUp()
        self.llm = FakeLLM().start()
        self.addCleanup(self.llm.stop)
        self.srv = self.start_server(args=["--llm-url", self.llm.url, "--window", "1m", "--grace", "1s",
                                           "--analysis-skip-quiet-windows", "false"])

    def answer(self, *evidence):
        self.llm.script([], then={"mode": "fixed", "content": json.dumps({"health": "degraded", "anomalies": [
            {"severity": "high", "type": "error_spike", "summary": "payments time out",
             "evidence": list(evidence), "recommended_action": "Check the gateway"}]})})

    def llm_anomalies(self):
        return [a for a in self.srv.get("/anomalies?limit=100")[1]["anomalies"] if a["analyzer"] == "llm"]

    def benign_after_feedback(self, anomaly):
        """The templates known-benign once the anomaly is marked a false positive."""
        st, b, _ = self.srv.request("POST", "/anomalies/%d/feedback" % anomaly["id"],
                                    json.dumps({"verdict": "false_positive"}), J)
        self.assertEqual(st, 200, b)
        return sorted(t for (t,) in db_rows(self.srv.db, "SELECT text FROM templates WHERE benign = 1"))

    def test_quoted_lines_are_found_by_their_millisecond(self):
        self.answer("2026-11-24T10:00:30.000Z error payment gateway timeout after 3030ms for order 107",
                    "2026-11-24T10:00:45.000Z WARN disk 83% full on /var")
        self.assertEqual(self.srv.ingest(ndjson(lines()))[0], 202)
        self.srv.request("POST", "/windows/flush")
        wait_for(lambda: self.llm_anomalies(), what="the model's anomaly recorded")
        a = self.llm_anomalies()[0]
        self.assertTrue(a["evidence_verified"], a)
        got = self.benign_after_feedback(a)
        self.assertEqual(len(got), 2, got)
        self.assertTrue(got[0].startswith("disk") and got[1].startswith("payment gateway timeout"), got)

    def test_a_quote_of_no_line_of_its_millisecond_is_not_evidence(self):
        for k, ev in enumerate(["2026-11-24T10:00:31.000Z error payment gateway timeout after 3030ms for order 107",
                                "2026-11-24T10:00:30.000Z error payment gateway timeout after 3045ms for order 122",
                                "2026-11-24T10:00:30.001Z error payment gateway timeout after 3030ms for order 107"]):
            self.answer(ev)
            self.assertEqual(self.srv.ingest(ndjson([dict(r, service="pay%d" % k) for r in lines()]))[0], 202)
            self.srv.request("POST", "/windows/flush")
            wait_for(lambda: len(self.llm_anomalies()) == k + 1, what="the model's anomaly %d" % k)
            a = self.llm_anomalies()[0]
            self.assertEqual(a["evidence"], [ev])
            self.assertFalse(a["evidence_verified"], a)

    def test_a_late_line_is_found_among_the_late_lines(self):
        self.answer("2026-11-24T10:00:30.000Z error payment gateway timeout after 3030ms for order 107")
        self.assertEqual(self.srv.ingest(ndjson(lines()))[0], 202)
        self.srv.request("POST", "/windows/flush")
        wait_for(lambda: self.llm_anomalies(), what="the first analysis")
        # late lines of the quoted millisecond: the late pass reads only them, and finds the quote at its place
        late = [{"ts": T0 + 50, "service": "pay", "level": "info", "message": "request %d served" % (2000 + i)}
                for i in range(5)]
        late.insert(2, {"ts": T0 + 50, "service": "pay", "level": "fatal",
                        "message": "ledger out of balance by 12 cents in batch 7"})
        self.answer("2026-11-24T10:00:50.000Z FATAL ledger out of balance by 12 cents in batch 7")
        self.assertEqual(self.srv.ingest(ndjson(late))[0], 202)
        wait_for(lambda: len(self.llm_anomalies()) == 2, timeout=60, what="the late pass's anomaly")
        a = self.llm_anomalies()[0]
        self.assertTrue(a["evidence_verified"], a)
        got = self.benign_after_feedback(a)
        self.assertEqual(len(got), 1, got)
        self.assertTrue(got[0].startswith("ledger out of balance"), got)
        # a line the first analysis read is not among the next late pass's lines
        self.answer("2026-11-24T10:00:30.000Z error payment gateway timeout after 3030ms for order 107")
        self.assertEqual(self.srv.ingest(ndjson([dict(r, message=r["message"] + " again") for r in late]))[0], 202)
        wait_for(lambda: len(self.llm_anomalies()) == 3, timeout=60, what="the second late pass's anomaly")
        self.assertFalse(self.llm_anomalies()[0]["evidence_verified"])

if __name__ == "__main__":
    unittest.main()
