"""The window digest end to end: template mining from the command line, the
digest's budget and what it must keep, the baseline detector on its own,
redaction before the model, feedback, and quiet windows that skip the model."""
import json
import os
import random
import re
import time
import unittest

from harness import FakeLLM, ServerTest, db_rows, ndjson, run_cli, wait_for

T0 = 1795514400  # 2026-11-24T10:00:00Z


def busy_window(t, n, rng, service="api", extra=()):
    """n routine lines over one minute, plus extra (ts offset, level, message) lines."""
    rows = []
    for i in range(n):
        k = rng.randrange(4)
        if k == 0:
            msg = "GET /api/v1/users/%d 200 %dms" % (rng.randrange(1, 99999), rng.randrange(1, 300))
        elif k == 1:
            msg = "cache hit ratio %.2f for shard %d" % (rng.random(), rng.randrange(16))
        elif k == 2:
            msg = "request_id=%08x user=%s completed" % (rng.getrandbits(32), rng.choice(["alice", "bob", "carol"]))
        else:
            msg = "worker %d heartbeat ok" % rng.randrange(8)
        rows.append({"ts": t + (i * 59.0 / n), "service": service, "level": "info", "message": msg})
    for off, level, msg in extra:
        rows.append({"ts": t + off, "service": service, "level": level, "message": msg})
    rows.sort(key=lambda r: r["ts"])
    return rows


class TemplatesCliTest(unittest.TestCase):
    def test_templates_per_line_and_summary(self):
        import tempfile
        d = tempfile.mkdtemp()
        path = os.path.join(d, "in.log")
        with open(path, "w") as f:
            f.write("Failed password for root from 10.0.0.1 port 22 ssh2\n"
                    "Accepted password for bob from 10.0.0.2 port 2222 ssh2\n"
                    "Failed password for admin from 10.0.0.3 port 23 ssh2\n"
                    "Failed password for u1001 from 10.0.0.4 port 24 ssh2\n")
        code, out, err = run_cli(["templates", path])
        self.assertEqual(code, 0, err)
        ids = [l.split()[0] for l in out.splitlines()]
        self.assertEqual(len(ids), 4)
        # two plain words at one position may be two events: kept apart ...
        self.assertNotEqual(ids[0], ids[2])
        self.assertNotEqual(ids[0], ids[1])
        # ... until a value of another shape comes there: a value, the three lines are one template
        self.assertEqual(ids[3], ids[0])
        code, out, err = run_cli(["templates", path, "--summary"])
        self.assertEqual(code, 0, err)
        first = out.splitlines()[0].split("\t")
        self.assertEqual(first, [ids[0], "3", "Failed password for <*> from <IP> port <NUM> ssh2"])
        self.assertEqual(len(out.splitlines()), 2)


class DigestTest(ServerTest):
    autostart = False

    def test_digest_command_keeps_every_notable_template_within_budget(self):
        rng = random.Random(7)
        rows = busy_window(T0, 20000, rng, extra=[
            (5, "warn", "disk usage 91% on /var/lib/data"),
            (7, "error", "payment gateway returned 502 for order 1234"),
            (30, "info", "GET /api/v1/users/../../../../etc/passwd 200 3ms"),
        ])
        path = os.path.join(self.dir, "busy.ndjson")
        with open(path, "w") as f:
            f.write(ndjson(rows))
        code, out, err = run_cli(["digest", path, "--window", "1m", "--digest-token-budget", "1500", "--llm-url", "none"])
        self.assertEqual(code, 0, err)
        self.assertIn("20003 lines", out)
        self.assertLess(len(out), 1500 * 3 + 400)  # the budget, estimated at 3 bytes a token, plus the header
        for needle in ("disk usage 91% on /var/lib/data", "payment gateway returned 502 for order 1234",
                       "../../../../etc/passwd"):
            self.assertIn(needle, out)

    def test_baseline_alone_finds_new_errors_bursts_and_slow_recurring_failures(self):
        srv = self.start_server(args=["--llm-url", "none", "--window", "1m"])
        rng = random.Random(1)
        body = []
        for k in range(6):  # six calm windows of history, one failed login in two of them
            extra = [(20, "warn", "Failed password for admin from 203.0.113.9 port 4242 ssh2")] if k in (1, 3) else []
            body += busy_window(T0 + 60 * k, 300, rng, extra=extra)
        srv.ingest(ndjson(body))
        srv.request("POST", "/windows/flush")
        wait_for(lambda: len(srv.get("/windows?status=analyzed")[1]["windows"]) == 6, what="history analysed")
        an = srv.get("/anomalies")[1]["anomalies"]
        # the first window has nothing to compare against; the first failed login is new in window 2
        self.assertEqual([(a["window_start"][11:16], a["type"], a["severity"]) for a in an], [("10:01", "auth_failure", "low")])
        # window 7: a new error template, a burst of errors, and the failed login again
        extra = [(10 + i * 0.1, "error", "connection to db-primary:5432 refused (attempt %d)" % i) for i in range(40)]
        extra += [(25, "warn", "Failed password for admin from 203.0.113.9 port 4243 ssh2")]
        srv.ingest(ndjson(busy_window(T0 + 360, 300, rng, extra=extra)))
        srv.request("POST", "/windows/flush")
        w7 = wait_for(lambda: [w for w in srv.get("/windows?status=analyzed")[1]["windows"]
                               if w["start"].startswith("2026-11-24T10:06")], what="window 7 analysed")[0]
        detail = srv.get("/windows/%d" % w7["id"])[1]
        self.assertEqual((detail["analyzer"], detail["health"]), ("baseline", "degraded"))
        self.assertIsNone(detail["prompt"])  # no model: nothing was sent anywhere
        self.assertIn("connection to db-primary", detail["digest"])
        kinds = {(a["type"], a["analyzer"]) for a in detail["anomalies"]}
        summaries = " | ".join(a["summary"] for a in detail["anomalies"])
        self.assertIn("Burst of 40 error lines", summaries)
        self.assertIn("New error message", summaries)
        self.assertIn("keeps recurring", summaries)
        self.assertIn(("auth_failure", "baseline"), kinds)
        for a in detail["anomalies"]:
            self.assertTrue(a["evidence"], a)

    def test_secrets_never_reach_the_model(self):
        llm = FakeLLM().start()
        self.addCleanup(llm.stop)
        cfg = os.path.join(self.dir, "c.yaml")
        with open(cfg, "w") as f:
            f.write("redaction:\n  ip_addresses: true\n  patterns:\n    - 'customer=CUST-[0-9]+'\n")
        srv = self.start_server(args=["--config", cfg, "--llm-url", llm.url, "--window", "1m"])
        secrets = ["hunter2", "AKIAIOSFODNN7EXAMPLE", "alice@example.com", "4111 1111 1111 1111", "198.51.100.23",
                   "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0In0.c2lnbmF0dXJlLXZhbHVl", "CUST-99812"]
        rows = [{"ts": T0 + 1, "level": "error", "service": "pay",
                 "message": "login failed password=hunter2 for alice@example.com from 198.51.100.23"},
                {"ts": T0 + 2, "level": "warn", "service": "pay", "message": "aws key AKIAIOSFODNN7EXAMPLE used"},
                {"ts": T0 + 3, "level": "error", "service": "pay", "message": "card 4111 1111 1111 1111 declined"},
                {"ts": T0 + 4, "level": "info", "service": "pay", "message": "Authorization: Bearer "
                 "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0In0.c2lnbmF0dXJlLXZhbHVl"},
                {"ts": T0 + 5, "level": "info", "service": "pay", "message": "order for customer=CUST-99812 ok"},
                {"ts": T0 + 6, "level": "error", "service": "pay", "message": "retry password=hunter2 for alice@example.com"}]
        srv.ingest(ndjson(rows))
        srv.request("POST", "/windows/flush")
        wid = srv.get("/windows?service=pay")[1]["windows"][0]["id"]
        w = wait_for(lambda: (lambda x: x if x["status"] == "analyzed" else None)(srv.get("/windows/%d" % wid)[1]),
                     what="analysed")
        sent = json.dumps(llm.requests())
        for s in secrets:
            self.assertNotIn(s, sent)
            self.assertNotIn(s, w["digest"])
            self.assertNotIn(s, json.dumps(w["anomalies"]))
        self.assertIn("<secret:1>", w["digest"])
        self.assertIn("<email:1>", w["digest"])
        self.assertEqual(w["redactions"]["secret"] >= 2, True, w["redactions"])
        # the same value keeps its placeholder: both lines show <email:1>
        self.assertEqual(len(re.findall(r"<email:1>", w["digest"])) >= 1, True)
        # feedback on the model's anomaly reaches its template, though the model quoted redacted text
        a = [x for x in w["anomalies"] if x["analyzer"] == "llm"][0]
        st, b, _ = srv.request("POST", "/anomalies/%d/feedback" % a["id"], json.dumps({"verdict": "false_positive"}),
                               {"Content-Type": "application/json"})
        self.assertEqual(st, 200, b)
        benign = db_rows(os.path.join(self.dir, "anomalog.db"), "SELECT text FROM templates WHERE benign = 1")
        self.assertTrue(benign, "no template marked benign")
        # stored raw lines stay as received
        self.assertIn(("login failed password=hunter2 for alice@example.com from 198.51.100.23",),
                      db_rows(os.path.join(self.dir, "anomalog.db"), "SELECT message FROM logs"))

    def test_salient_attributes_reach_the_model_redacted(self):
        """A fact only an attribute states (JSON logs put them in alert, error, reason... fields) reaches the
        model under the line's exemplar, redacted; attributes that say nothing of the kind stay out."""
        llm = FakeLLM().start()
        self.addCleanup(llm.stop)
        srv = self.start_server(args=["--llm-url", llm.url, "--window", "1m"])
        rows = [{"ts": T0 + i, "level": "info", "service": "edge", "message": "health check ok on port %d" % (i % 4)}
                for i in range(20)]
        rows.append({"ts": T0 + 30, "level": "warn", "service": "edge", "message": "link state changed on port 7",
                     "alert": "network flapping on uplink-3", "user_agent": "probe-agent/9.9",
                     "attributes": {"error": "switch login refused password=hunter2 key AKIAIOSFODNN7EXAMPLE"}})
        self.assertNotIn("flapping", json.dumps([r["message"] for r in rows]))
        self.assertEqual(srv.ingest(ndjson(rows))[0], 202)
        srv.request("POST", "/windows/flush")
        wid = srv.get("/windows?service=edge")[1]["windows"][0]["id"]
        w = wait_for(lambda: (lambda x: x if x["status"] == "analyzed" else None)(srv.get("/windows/%d" % wid)[1]),
                     what="analysed")
        prompts = [m["content"] for r in llm.requests() if isinstance(r.get("body"), dict)
                   for m in r["body"].get("messages", []) if m.get("role") == "user"]
        self.assertTrue(prompts, llm.requests())
        user = prompts[-1]
        self.assertIn("field alert:", user)
        self.assertIn("network flapping on uplink-3", user)
        self.assertIn("field error:", user)
        self.assertIn("switch login refused password=<secret:", user)
        for s in ("hunter2", "AKIAIOSFODNN7EXAMPLE"):
            self.assertNotIn(s, json.dumps(llm.requests()))
            self.assertNotIn(s, w["digest"])
        self.assertNotIn("probe-agent", user)  # not salient: neither by name nor by shape
        self.assertIn("network flapping on uplink-3", w["digest"])

    def test_feedback_silences_the_baseline_for_that_template(self):
        srv = self.start_server(args=["--llm-url", "none", "--window", "1m"])
        rng = random.Random(3)
        body = []
        for k in range(3):
            body += busy_window(T0 + 60 * k, 100, rng)
        srv.ingest(ndjson(body))
        srv.request("POST", "/windows/flush")
        wait_for(lambda: len(srv.get("/windows?status=analyzed")[1]["windows"]) == 3, what="history")
        srv.ingest(ndjson(busy_window(T0 + 180, 100, rng, extra=[(5, "warn", "nightly reindex started on shard 3")])))
        srv.request("POST", "/windows/flush")
        a = wait_for(lambda: srv.get("/anomalies")[1]["anomalies"], what="baseline anomaly")[0]
        self.assertEqual(a["analyzer"], "baseline")
        st, b, _ = srv.request("POST", "/anomalies/%d/feedback" % a["id"],
                               json.dumps({"verdict": "false_positive", "note": "expected every night"}),
                               {"Content-Type": "application/json"})
        self.assertEqual((st, b["feedback"], b["feedback_note"]), (200, "false_positive", "expected every night"))
        self.assertError(srv.request("POST", "/anomalies/999/feedback", json.dumps({"verdict": "true_positive"}),
                                     {"Content-Type": "application/json"}), 404, "not_found")
        self.assertError(srv.request("POST", "/anomalies/%d/feedback" % a["id"], json.dumps({"verdict": "meh"}),
                                     {"Content-Type": "application/json"}), 400, "invalid_entry")
        # the same message at an unusual rate later: known-benign, not raised again
        srv.ingest(ndjson(busy_window(T0 + 240, 100, rng, extra=[(5 + i, "warn", "nightly reindex started on shard %d" % i)
                                                                  for i in range(30)])))
        srv.request("POST", "/windows/flush")
        wait_for(lambda: len(srv.get("/windows?status=analyzed")[1]["windows"]) == 5, what="window 5")
        self.assertEqual([x["id"] for x in srv.get("/anomalies")[1]["anomalies"]], [a["id"]])
        last = srv.get("/windows?limit=1")[1]["windows"][0]
        self.assertIn("known-benign", srv.get("/windows/%d" % last["id"])[1]["digest"])

    def test_quiet_windows_skip_the_model_and_findings_stand_when_it_says_all_is_well(self):
        llm = FakeLLM().start()
        self.addCleanup(llm.stop)
        srv = self.start_server(args=["--llm-url", llm.url, "--window", "1m"])
        rng = random.Random(5)
        srv.ingest(ndjson(busy_window(T0, 200, rng)))
        srv.request("POST", "/windows/flush")
        wait_for(lambda: srv.get("/windows?status=analyzed")[1]["windows"], what="first")
        self.assertEqual(llm.chat_count(), 1)  # a new service: everything is new, the model reads it
        srv.ingest(ndjson(busy_window(T0 + 60, 200, rng)))
        srv.request("POST", "/windows/flush")
        wait_for(lambda: len(srv.get("/windows?status=analyzed")[1]["windows"]) == 2, what="second")
        w = srv.get("/windows?limit=1")[1]["windows"][0]
        self.assertEqual((w["analyzer"], w["health"], llm.chat_count()), ("baseline", "normal", 1))
        # the model says all is well, the baseline sees a burst: the finding stands
        llm.script([], then={"mode": "fixed", "content": '{"health":"normal","anomalies":[]}'})
        srv.ingest(ndjson(busy_window(T0 + 120, 200, rng, extra=[(3 + i * 0.1, "error", "upstream timeout calling inventory")
                                                                  for i in range(50)])))
        srv.request("POST", "/windows/flush")
        wait_for(lambda: len(srv.get("/windows?status=analyzed")[1]["windows"]) == 3, what="third")
        self.assertEqual(llm.chat_count(), 2)
        an = srv.get("/anomalies")[1]["anomalies"]
        self.assertTrue(an)
        self.assertEqual({a["analyzer"] for a in an}, {"baseline"})
        self.assertTrue(any("Burst" in a["summary"] for a in an), an)
        # and the window's health is the baseline's, not the model's "normal"
        third = srv.get("/windows?limit=1")[1]["windows"][0]
        self.assertEqual((third["analyzer"], third["health"]), ("llm", "degraded"))

    def test_model_reads_again_what_the_baseline_covered_once_it_is_back(self):
        llm = FakeLLM().start()
        self.addCleanup(llm.stop)
        llm.script([], then={"mode": "status", "status": 503})
        srv = self.start_server(args=["--llm-url", llm.url, "--window", "1m", "--analysis-reanalyze", "true",
                                      "--llm-retries", "0", "--analysis-retry-base", "1s", "--analysis-retry-max", "1s"])
        rng = random.Random(11)
        srv.ingest(ndjson(busy_window(T0, 100, rng, extra=[(5 + i * 0.1, "error", "ledger write failed: deadlock")
                                                            for i in range(5)])))
        srv.request("POST", "/windows/flush")
        wid = srv.get("/windows")[1]["windows"][0]["id"]
        w = wait_for(lambda: (lambda x: x if x["status"] == "analyzed" else None)(srv.get("/windows/%d" % wid)[1]),
                     what="baseline analysis")
        self.assertEqual(w["analyzer"], "baseline")
        self.assertIn("503", w["error"])
        first = len(w["anomalies"])
        llm.script([], then="good")  # the model is back
        w = wait_for(lambda: (lambda x: x if x["analyzer"] == "llm" else None)(srv.get("/windows/%d" % wid)[1]),
                     timeout=20, what="re-analysis by the model")
        self.assertEqual((w["status"], w["health"], w["error"]), ("analyzed", "degraded", None))
        self.assertEqual(len([a for a in w["anomalies"] if a["analyzer"] == "llm"]), 1)
        self.assertEqual(len([a for a in w["anomalies"] if a["analyzer"] == "baseline"]), first)
        time.sleep(1.5)
        self.assertEqual(srv.get("/windows/%d" % wid)[1]["anomaly_count"], first + 1)  # read once more, not again

    def test_prompt_tokens_stay_bounded_as_volume_grows(self):
        llm = FakeLLM().start()
        self.addCleanup(llm.stop)
        srv = self.start_server(args=["--llm-url", llm.url, "--window", "1m", "--analysis-skip-quiet-windows", "false"])
        rng = random.Random(9)
        for k, n in enumerate((500, 5000, 50000)):
            srv.ingest(ndjson(busy_window(T0 + 60 * k, n, rng)))
        srv.request("POST", "/windows/flush")
        wait_for(lambda: len(srv.get("/windows?status=analyzed")[1]["windows"]) == 3, timeout=60, what="analysed")
        ws = sorted(srv.get("/windows")[1]["windows"], key=lambda w: w["line_count"])
        self.assertEqual([w["line_count"] for w in ws], [500, 5000, 50000])
        tokens = [w["prompt_tokens"] for w in ws]
        # the fake counts a token per 4 bytes; the digest's budget is 3000 tokens at 3 bytes a token
        self.assertLess(max(tokens), 7000, tokens)
        self.assertLess(tokens[2], tokens[0] * 3, tokens)


if __name__ == "__main__":
    unittest.main()
