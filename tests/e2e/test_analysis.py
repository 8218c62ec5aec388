"""Windows close and the model reads them, against the fake OpenAI-compatible
server of tests/fake: the happy path, every failure mode of a model, recovery,
restarts, the scheduler's two closing rules, services' context, anomaly
queries, and replay."""
import json
import os
import signal
import time
import unittest

from harness import PG_URL, FakeLLM, ServerTest, db_rows, ndjson, run_cli, wait_for

T0 = 1795514400  # 2026-11-24T10:00:00Z


def lines(service, t, n_info=3, n_error=0, extra=()):
    rows = [{"ts": t + i, "service": service, "level": "info", "message": "GET /health 200 %dms" % i}
            for i in range(n_info)]
    rows += [{"ts": t + 10 + i, "service": service, "level": "error", "message": "upstream db timeout #%d" % i}
             for i in range(n_error)]
    return ndjson(list(rows) + list(extra))


class AnalysisTest(ServerTest):
    autostart = False

    def setUp(self):
        super().setUp()
        self.llm = FakeLLM().start()
        self.addCleanup(self.llm.stop)

    def serve(self, *extra, env=None, db=None):
        args = ["--llm-url", self.llm.url, "--llm-model", "fake-model", "--window", "1m", "--grace", "30s",
                "--llm-retries", "1", "--llm-timeout", "2s", "--analysis-retry-base", "1s", "--analysis-retry-max", "2s",
                "--analysis-schema-retries", "1", "--analysis-skip-quiet-windows", "false", "--analysis-on-model-failure", "retry"] + list(extra)
        return self.start_server(args=args, env=env, db=db)

    def window(self, srv, wid):
        st, w, _ = srv.get("/windows/%d" % wid)
        self.assertEqual(st, 200, w)
        return w

    def analyzed(self, srv, wid, timeout=20):
        return wait_for(lambda: (lambda w: w if w["status"] == "analyzed" else None)(self.window(srv, wid)),
                        timeout=timeout, what="window %d analyzed" % wid)

    def only_window(self, srv, service="api"):
        ws = srv.get("/windows?service=" + service)[1]["windows"]
        self.assertEqual(len(ws), 1, ws)
        return ws[0]["id"]

    def test_flush_analyses_and_anomalies_are_queryable(self):
        srv = self.serve(env={"ANOMALOG_LLM_API_KEY": "sk-test-123"})
        self.assertEqual(srv.ingest(lines("api", T0, n_error=4))[0], 202)
        self.assertEqual(srv.ingest(lines("db", T0))[0], 202)
        st, b, _ = srv.request("POST", "/windows/flush")
        self.assertEqual((st, b), (200, {"closed": 2}))
        api = self.analyzed(srv, self.only_window(srv, "api"))
        db = self.analyzed(srv, self.only_window(srv, "db"))
        self.assertEqual((api["health"], api["anomaly_count"], api["analyzer"], api["model"]),
                         ("degraded", 1, "llm", "fake-model"))
        self.assertGreater(api["prompt_tokens"], 0)
        self.assertGreater(api["completion_tokens"], 0)
        self.assertGreaterEqual(api["latency_ms"], 0)
        self.assertIsNone(api["error"])
        self.assertEqual((db["health"], db["anomaly_count"]), ("normal", 0))

        a = api["anomalies"][0]
        self.assertEqual((a["severity"], a["type"], a["service"], a["window_id"]), ("high", "error_spike", "api", api["id"]))
        self.assertEqual((a["window_start"], a["window_end"]), (api["start"], api["end"]))
        self.assertTrue(any("upstream db timeout" in e for e in a["evidence"]), a)
        self.assertTrue(a["recommended_action"])
        # the exact prompt is kept, with the window's lines between markers that log text cannot forge
        p = api["prompt"]
        self.assertIn("upstream db timeout #0", p["user"])
        self.assertIn("x4", p["user"])  # the digest counts every error line
        self.assertIn("<<<LOGS nonce=", p["user"])
        nonce = p["user"].split("<<<LOGS nonce=")[1].split(">>>")[0]
        self.assertIn(nonce, p["system"])

        st, b, _ = srv.get("/anomalies")
        self.assertEqual(st, 200)
        self.assertEqual([x["id"] for x in b["anomalies"]], [a["id"]])
        self.assertEqual(b["anomalies"][0], a)

        # what the model was sent: OpenAI-compatible, JSON schema, temperature 0.1, the bearer key
        reqs = [r for r in self.llm.requests() if r["path"].endswith("/chat/completions")]
        self.assertEqual(len(reqs), 2)
        body = reqs[0]["body"]
        self.assertEqual(reqs[0]["authorization"], "Bearer sk-test-123")
        self.assertEqual((body["model"], body["temperature"]), ("fake-model", 0.1))
        self.assertEqual([m["role"] for m in body["messages"]], ["system", "user"])
        self.assertEqual(body["response_format"]["type"], "json_schema")
        self.assertIn("anomalies", json.dumps(body["response_format"]["json_schema"]["schema"]))
        # nothing is analysed twice
        time.sleep(1.5)
        self.assertEqual(self.llm.chat_count(), 2)

    def test_lenient_answers_are_recovered(self):
        # a fenced answer and one in prose are each read on the first call: after them the fake answers
        # garbage forever, so a schema retry or a backoff retry could never end in "analyzed"
        srv = self.serve()
        self.llm.script([{"mode": "fenced"}, {"mode": "prose"}], then="garbage")
        srv.ingest(lines("api", T0, n_error=2) + lines("api", T0 + 60, n_error=2))
        srv.request("POST", "/windows/flush")
        ids = [w["id"] for w in srv.get("/windows?service=api")[1]["windows"]]
        self.assertEqual(len(ids), 2)

        def both_analyzed():  # and never failed on the way
            ws = [self.window(srv, wid) for wid in ids]
            failed = [w for w in ws if w["status"] == "failed"]
            self.assertEqual(failed, [], "a lenient answer failed its window (then a retry)")
            return ws if all(w["status"] == "analyzed" for w in ws) else None
        ws = wait_for(both_analyzed, timeout=20, interval=0.05, what="both windows analyzed")
        for w in ws:
            self.assertEqual((w["health"], w["anomaly_count"], w["error"]), ("degraded", 1, None), w)
        # exactly one model call per window, then none: no schema retry, no retry after --analysis-retry-base 1s
        self.assertEqual(self.llm.chat_count(), 2)
        time.sleep(1.5)
        self.assertEqual(self.llm.chat_count(), 2)
        self.assertEqual(srv.get("/windows?status=failed")[1]["windows"], [])

    def assert_fails_then_recovers(self, steps, reason, srv=None):
        srv = srv or self.serve()
        self.llm.script(steps)
        srv.ingest(lines("api", T0, n_error=3))
        srv.request("POST", "/windows/flush")
        wid = self.only_window(srv)
        failed = wait_for(lambda: (lambda w: w if w["status"] == "failed" else None)(self.window(srv, wid)),
                          what="window failed")
        self.assertEqual(failed["health"], "unknown")
        self.assertIn(reason, failed["error"])
        self.assertEqual(srv.get("/windows?status=failed")[1]["windows"][0]["id"], wid)
        # the model recovers (the script runs out into "good"): retried with backoff, analysed once
        w = self.analyzed(srv, wid, timeout=30)
        self.assertEqual((w["health"], w["anomaly_count"], w["error"]), ("degraded", 1, None))
        self.assertEqual(len(srv.get("/anomalies")[1]["anomalies"]), 1)
        return w

    def test_garbage_answer_fails_the_schema_then_recovers(self):
        # schema retries 1: two calls per analysis, both garbage -> failed
        self.assert_fails_then_recovers([{"mode": "garbage", "count": 2}], "schema")

    def test_wrong_schema_names_the_field(self):
        self.assert_fails_then_recovers([{"mode": "wrong_schema", "count": 2}], "health")

    def test_truncated_and_empty_answers(self):
        self.assert_fails_then_recovers([{"mode": "truncated"}, {"mode": "empty_choices"}], "")

    def test_server_errors_exhaust_retries_then_recover(self):
        # llm retries 1: two HTTP attempts per call
        self.assert_fails_then_recovers([{"mode": "status", "status": 500, "count": 2}], "500")

    def test_429_honours_retry_after(self):
        srv = self.serve()
        self.llm.script([{"mode": "status", "status": 429, "retry_after": 1}])
        srv.ingest(lines("api", T0, n_error=1))
        t0 = time.time()
        srv.request("POST", "/windows/flush")
        w = self.analyzed(srv, self.only_window(srv))
        self.assertGreaterEqual(time.time() - t0, 0.9)
        self.assertEqual(w["health"], "degraded")
        self.assertEqual(self.llm.chat_count(), 2)

    def test_unauthorized_is_not_retried_in_the_call(self):
        srv = self.serve("--llm-retries", "3")
        self.llm.script([{"mode": "status", "status": 401}])
        srv.ingest(lines("api", T0, n_error=1))
        srv.request("POST", "/windows/flush")
        wid = self.only_window(srv)
        wait_for(lambda: self.window(srv, wid)["status"] in ("failed", "analyzed"), what="first analysis")
        self.assertIn("401", self.window(srv, wid)["error"] or "")
        self.analyzed(srv, wid, timeout=30)

    def test_slow_model_past_the_timeout(self):
        self.assert_fails_then_recovers([{"mode": "slow", "delay_ms": 4000, "count": 2}], "model")

    def test_hung_connection_and_closed_connection(self):
        self.assert_fails_then_recovers([{"mode": "hang"}, {"mode": "close"}], "model")

    def test_refused_connection_then_model_comes_back(self):
        port = self.llm.port
        self.llm.stop()
        srv = self.serve()
        srv.ingest(lines("api", T0, n_error=3))
        srv.request("POST", "/windows/flush")
        wid = self.only_window(srv)
        failed = wait_for(lambda: (lambda w: w if w["status"] == "failed" else None)(self.window(srv, wid)),
                          what="window failed")
        self.assertIn("model", failed["error"])
        self.llm = FakeLLM(port).start()
        self.addCleanup(self.llm.stop)
        self.assertEqual(self.analyzed(srv, wid, timeout=30)["health"], "degraded")

    def test_restart_mid_analysis_analyses_exactly_once(self):
        db = os.path.join(self.dir, "anomalog.db")
        # PostgreSQL: replicas share the database, so a claim is only taken over once its lease runs out
        lease = ("--analysis-lease", "2s") if PG_URL else ()
        srv = self.serve(*lease)
        self.llm.script([{"mode": "hang"}])
        srv.ingest(lines("api", T0, n_error=2))
        srv.request("POST", "/windows/flush")
        wid = self.only_window(srv)
        wait_for(lambda: self.window(srv, wid)["status"] == "analyzing", what="analyzing")
        srv.proc.send_signal(signal.SIGKILL)
        srv.proc.wait()
        self.assertEqual(db_rows(db, "SELECT status FROM windows WHERE id = ?", (wid,)), [("analyzing",)])
        srv = self.serve(*lease)
        w = self.analyzed(srv, wid)
        self.assertEqual(w["anomaly_count"], 1)
        self.assertEqual(db_rows(db, "SELECT count(*) FROM anomalies"), [(1,)])
        # and a clean stop during analysis puts the window back, not failed
        self.llm.script([{"mode": "hang"}])
        srv.ingest(lines("api", T0 + 120, n_error=1))
        srv.request("POST", "/windows/flush")
        wait_for(lambda: srv.get("/windows?status=analyzing")[1]["windows"], what="second analyzing")
        self.assertEqual(srv.stop(), 0)
        self.assertEqual(db_rows(db, "SELECT status FROM windows ORDER BY start_ms"), [("analyzed",), ("closed",)])

    def test_failed_window_survives_a_restart_and_is_retried(self):
        db = os.path.join(self.dir, "anomalog.db")
        self.llm.script([], then="garbage")
        srv = self.serve("--analysis-retry-base", "3s")
        srv.ingest(lines("api", T0, n_error=2))
        srv.request("POST", "/windows/flush")
        wid = self.only_window(srv)
        wait_for(lambda: self.window(srv, wid)["status"] == "failed", what="failed")
        srv.proc.send_signal(signal.SIGKILL)
        srv.proc.wait()
        self.assertEqual(db_rows(db, "SELECT status, health FROM windows"), [("failed", "unknown")])
        self.llm.script([], then="good")
        srv = self.serve("--analysis-retry-base", "3s")
        w = self.analyzed(srv, wid, timeout=30)
        self.assertEqual((w["health"], w["anomaly_count"]), ("degraded", 1))

    def test_prompt_is_capped_by_max_lines_and_response_format_is_configurable(self):
        srv = self.serve("--analysis-max-lines", "5", "--llm-response-format", "json_object")
        srv.ingest(lines("api", T0, n_info=20))
        srv.request("POST", "/windows/flush")
        w = self.analyzed(srv, self.only_window(srv))
        user = w["prompt"]["user"]
        self.assertIn("20 lines (the first 5 summarised)", user)
        self.assertIn("x5 ", user)
        body = self.llm.requests()[-1]["body"]
        self.assertEqual(body["response_format"], {"type": "json_object"})

    def test_windows_close_by_watermark_and_by_quiet_time(self):
        # --ingest-max-future: the lines below are up to an hour ahead, which the default (10m) would clamp
        srv = self.serve("--grace", "2s", "--ingest-max-future", "2h")
        now = int(time.time())
        soon, later = (now + 600) // 60 * 60, (now + 3600) // 60 * 60
        # watermark: a line past end + grace closes the window before it, though its end is
        # still ahead in wall-clock time (so the quiet rule cannot be what closed it)
        srv.ingest(lines("wm", soon, n_error=1) + lines("wm", later, n_info=1))
        ws = wait_for(lambda: [w for w in srv.get("/windows?service=wm")[1]["windows"] if w["status"] != "open"],
                      timeout=5, what="closed by watermark")
        self.assertEqual([w["start"][:16] for w in ws], [time.strftime("%Y-%m-%dT%H:%M", time.gmtime(soon))])
        # ... and the newest window, whose end is ahead and past no watermark, stays open
        self.assertEqual([w["start"][:16] for w in srv.get("/windows?service=wm&status=open")[1]["windows"]],
                         [time.strftime("%Y-%m-%dT%H:%M", time.gmtime(later))])
        # quiet: a window whose end passed closes once nothing arrived for grace of wall-clock time
        srv.ingest(lines("quiet", (now - 180) // 60 * 60, n_info=2))
        self.assertEqual(srv.get("/windows?service=quiet")[1]["windows"][0]["status"], "open")
        wait_for(lambda: srv.get("/windows?service=quiet")[1]["windows"][0]["status"] == "analyzed",
                 timeout=10, what="closed by quiet time")

    def test_late_lines_are_stored_and_counted(self):
        srv = self.serve()
        srv.ingest(lines("api", T0))
        srv.request("POST", "/windows/flush")
        wid = self.only_window(srv)
        self.analyzed(srv, wid)
        st, b, _ = srv.ingest(lines("api", T0 + 5, n_info=2))
        self.assertEqual(st, 202)
        w = self.window(srv, wid)
        self.assertEqual((w["line_count"], w["late_count"], w["status"]), (5, 2, "analyzed"))

    def test_service_context_reaches_the_prompt(self):
        cfg = os.path.join(self.dir, "c.yaml")
        with open(cfg, "w") as f:
            f.write("services:\n  api:\n    context: nightly batch at 02:00 logs ERROR retries; that is normal\n"
                    "  db:\n    context: from the file\n")
        srv = self.serve("--config", cfg)
        svcs = {s["name"]: s for s in srv.get("/services")[1]["services"]}
        self.assertEqual((svcs["api"]["context"], svcs["api"]["context_source"]),
                         ("nightly batch at 02:00 logs ERROR retries; that is normal", "config"))
        st, b, _ = srv.request("PUT", "/services/db", json.dumps({"context": "primary postgres, 3 replicas"}),
                               {"Content-Type": "application/json"})
        self.assertEqual((st, b["name"], b["context"], b["context_source"]), (200, "db", "primary postgres, 3 replicas", "api"))
        self.assertError(srv.request("PUT", "/services/db", "{", {"Content-Type": "application/json"}), 400, "invalid_json")
        self.assertError(srv.request("PUT", "/services/db", '{"context": 5}', {"Content-Type": "application/json"}),
                         400, "invalid_entry")
        srv.ingest(lines("api", T0) + lines("db", T0))
        srv.request("POST", "/windows/flush")
        self.assertIn("nightly batch at 02:00", self.analyzed(srv, self.only_window(srv, "api"))["prompt"]["user"])
        self.assertIn("primary postgres", self.analyzed(srv, self.only_window(srv, "db"))["prompt"]["user"])
        # after a restart, the API's context still wins over the file's
        srv.stop()
        srv = self.serve("--config", cfg)
        svcs = {s["name"]: s for s in srv.get("/services")[1]["services"]}
        self.assertEqual(svcs["db"]["context"], "primary postgres, 3 replicas")

    def test_anomaly_filters_and_paging(self):
        srv = self.serve()
        fail = [{"ts": T0 + 600 + i, "service": "auth", "level": "warn",
                 "message": "Failed password for root from 10.0.0.%d port 22 ssh2" % i} for i in range(3)]
        body = "".join(lines("api", T0 + k * 60, n_error=2 if k % 2 else 12) for k in range(6)) + ndjson(fail)
        srv.ingest(body)
        srv.request("POST", "/windows/flush")
        wait_for(lambda: not srv.get("/windows?status=closed")[1]["windows"] and
                 not srv.get("/windows?status=analyzing")[1]["windows"], what="all analysed")
        allb = srv.get("/anomalies?limit=1000")[1]["anomalies"]
        self.assertEqual(len(allb), 7)
        self.assertEqual([a["severity"] for a in srv.get("/anomalies?severity=critical")[1]["anomalies"]], [])
        high = srv.get("/anomalies?severity=high")[1]["anomalies"]
        self.assertEqual(len(high), 7)
        self.assertEqual([a["type"] for a in srv.get("/anomalies?type=auth_failure")[1]["anomalies"]], ["auth_failure"])
        self.assertEqual(len(srv.get("/anomalies?service=api")[1]["anomalies"]), 6)
        self.assertEqual(len(srv.get("/anomalies?since=%d&until=%d" % (T0 + 60, T0 + 180))[1]["anomalies"]), 2)
        seen, cursor = [], None
        while True:
            b = srv.get("/anomalies?limit=3" + ("&cursor=" + cursor if cursor else ""))[1]
            seen += [a["id"] for a in b["anomalies"]]
            cursor = b["next_cursor"]
            if not cursor:
                break
        self.assertEqual(sorted(seen), sorted(a["id"] for a in allb))
        starts = [a["window_start"] for a in allb]
        self.assertEqual(starts, sorted(starts, reverse=True))
        crit = srv.get("/windows?health=critical")[1]["windows"]
        self.assertEqual(len(crit), 3)  # windows with 12 error lines
        for q, p in (("severity=urgent", "severity"), ("type=boom", "type"), ("limit=0", "limit")):
            self.assertError(srv.get("/anomalies?" + q), 400, "invalid_parameter", parameter=p)
        self.assertError(srv.get("/windows?health=sick"), 400, "invalid_parameter", parameter="health")


class ReplayTest(ServerTest):
    autostart = False

    def test_replay_prints_each_window_and_a_summary(self):
        llm = FakeLLM().start()
        self.addCleanup(llm.stop)
        # windows of a new service are never quiet (every template is new): the model reads both
        log = os.path.join(self.dir, "app.log")
        with open(log, "w") as f:
            f.write("2026-11-24T10:00:01Z INFO api started\n"
                    "2026-11-24T10:00:02Z ERROR api upstream timeout\n"
                    "java.net.SocketTimeoutException: read timed out\n"
                    "\tat com.acme.Client.call(Client.java:10)\n"
                    "2026-11-24T10:06:00Z INFO api all good\n")
        code, out, err = run_cli(["replay", log, "--window", "5m", "--llm-url", llm.url, "--llm-model", "m"])
        self.assertEqual(code, 1, err)  # 1: something was found
        self.assertEqual(out.splitlines(), [
            "api 2026-11-24T10:00:00.000Z .. 2026-11-24T10:05:00.000Z (2 lines)",
            "[DEGRADED] 1 anomaly(ies) detected",
            "  [high] error_spike: 1 error lines in window",
            "api 2026-11-24T10:05:00.000Z .. 2026-11-24T10:10:00.000Z (1 lines)",
            "[NORMAL] 0 anomaly(ies) detected",
            "summary: 2 window(s), 1 anomaly(ies), 0 critical, 0 window(s) not analysed",
        ])
        # no database left behind, nothing notified (no route exists that could)
        self.assertFalse(os.path.exists(os.path.join(self.dir, "anomalog.db")))

    def test_replay_without_a_model_says_unknown(self):
        log = os.path.join(self.dir, "app.ndjson")
        with open(log, "w") as f:
            f.write(ndjson([{"ts": T0, "message": "hello"}]))
        db = os.path.join(self.dir, "r.db")
        code, out, err = run_cli(["replay", log, "--service", "web", "--llm-url", "none", "--db", db])
        self.assertEqual(code, 0, err)
        self.assertIn("web 2026-11-24T10:00:00.000Z", out)
        self.assertIn("[NORMAL] 0 anomaly(ies) detected", out)  # the baseline alone: nothing to report
        self.assertIn("0 window(s) not analysed", out)
        self.assertEqual(db_rows(db, "SELECT analyzer, status FROM windows"), [("baseline", "analyzed")])
        self.assertEqual(db_rows(db, "SELECT count(*) FROM logs"), [(1,)])

    def test_replay_errors(self):
        self.assertEqual(run_cli(["replay"])[0], 2)
        code, _, err = run_cli(["replay", os.path.join(self.dir, "missing.log")])
        self.assertEqual(code, 2)
        self.assertIn("missing.log", err)


if __name__ == "__main__":
    unittest.main()
