"""Late lines: lines that reach a window after its analysis are analysed too
(the late part only, debounced by the grace), their findings recorded once;
the ingest answer and /metrics count them."""
import time
import unittest

from harness import FakeLLM, ServerTest, db_rows, ndjson, wait_for

T0 = 1795514400  # 2026-11-24T10:00:00Z, long past: windows close on the wall clock after the grace


def info_lines(n=20):
    return [{"ts": T0 + i, "service": "api", "level": "info", "message": "GET /health 200 %dms" % i}
            for i in range(n)]


def fatal_lines(n=50):
    return [{"ts": T0 + 30, "service": "api", "level": "fatal",
             "message": "database connection lost: shard %d unreachable" % (i % 3)} for i in range(n)]


class LateTest(ServerTest):
    # no model: the baseline analyses; grace 2 s closes the window 2 s after its last line and spaces
    # the late re-analyses of one window
    server_args = ["--window", "1m", "--grace", "2s"]

    def late_metric(self):
        v = self.srv.metric("anomalog_ingest_late_lines_total", endpoint="/ingest")
        self.assertIsNotNone(v, "no late lines counter in /metrics")
        return int(float(v))

    def window(self, wid):
        st, w, _ = self.srv.get("/windows/%d" % wid)
        self.assertEqual(st, 200, w)
        return w

    def only_window(self):
        ws = self.srv.get("/windows?service=api")[1]["windows"]
        self.assertEqual(len(ws), 1, ws)
        return ws[0]["id"]

    def analyzed_normal(self):
        st, b, _ = self.srv.ingest(ndjson(info_lines()))
        self.assertEqual(st, 202, b)
        wid = self.only_window()
        w = wait_for(lambda: (lambda w: w if w["status"] == "analyzed" else None)(self.window(wid)),
                     timeout=30, what="window analysed")
        self.assertEqual((w["health"], w["anomaly_count"], w["late_count"]), ("normal", 0, 0), w)
        self.assertEqual(b["late"], 0, b)
        return wid

    def test_late_fatal_lines_are_analysed_once(self):
        wid = self.analyzed_normal()
        self.assertEqual(self.late_metric(), 0)
        st, b, _ = self.srv.ingest(ndjson(fatal_lines()))
        self.assertEqual((st, b["accepted"], b["late"]), (202, 50, 50), b)
        self.assertEqual(self.late_metric(), 50)
        w = wait_for(lambda: (lambda w: w if w["anomaly_count"] > 0 and w["status"] == "analyzed" else None)(
            self.window(wid)), timeout=30, what="late lines analysed")
        self.assertEqual((w["line_count"], w["late_count"]), (70, 50), w)
        self.assertNotEqual(w["health"], "normal", w)
        found = w["anomaly_count"]
        self.assertEqual(len(w["anomalies"]), found)
        self.assertTrue(any("database connection lost" in e for a in w["anomalies"] for e in a["evidence"]), w)
        # once: another grace and more passes record nothing again
        time.sleep(5)
        w2 = self.window(wid)
        self.assertEqual((w2["anomaly_count"], w2["status"], w2["health"]), (found, "analyzed", w["health"]))
        self.assertEqual(len(self.srv.get("/anomalies?service=api")[1]["anomalies"]), found)

    def test_more_late_lines_add_only_their_findings(self):
        wid = self.analyzed_normal()
        self.srv.ingest(ndjson(fatal_lines()))
        w = wait_for(lambda: (lambda w: w if w["anomaly_count"] > 0 and w["status"] == "analyzed" else None)(
            self.window(wid)), timeout=30, what="late lines analysed")
        first = w["anomaly_count"]
        # a few more harmless lines: read once more (after the grace), the earlier findings not recorded again
        st, b, _ = self.srv.ingest(ndjson(info_lines(3) + [{"ts": T0 + 3600, "service": "api", "message": "x"}]))
        self.assertEqual((st, b["accepted"], b["late"]), (202, 4, 3), b)  # a new window's line is not late
        wait_for(lambda: self.window(wid)["late_count"] == 53, timeout=10, what="late lines counted")
        time.sleep(5)
        w2 = self.window(wid)
        self.assertEqual((w2["status"], w2["anomaly_count"], w2["health"]), ("analyzed", first, w["health"]), w2)

    def test_a_late_pass_adds_to_the_windows_history(self):
        # the window's error lines and template counts are the baseline's history for later windows: the late
        # pass adds its lines to them rather than putting its own in their place
        st, b, _ = self.srv.ingest(ndjson(info_lines() + fatal_lines(10)))
        self.assertEqual(st, 202, b)
        wid = self.only_window()
        wait_for(lambda: self.window(wid)["status"] == "analyzed", timeout=30, what="window analysed")
        counts = lambda: db_rows(self.srv.db, "SELECT w.error_lines, (SELECT sum(c.count) FROM template_counts c "
                                 "WHERE c.service_id = w.service_id AND c.window_start = w.start_ms) "
                                 "FROM windows w WHERE w.id = ?", (wid,))[0]
        self.assertEqual(counts(), (10, 30))
        st, b, _ = self.srv.ingest(ndjson(fatal_lines(5)))
        self.assertEqual((st, b["late"]), (202, 5), b)
        wait_for(lambda: counts() == (15, 35), timeout=30, what="the late lines counted in the window's history")
        self.assertEqual(self.window(wid)["line_count"], 35)

    def test_lines_for_an_open_window_are_not_late(self):
        # the watermark is far ahead of these lines, but their window is still open: not late
        st, b, _ = self.srv.ingest(ndjson(info_lines(5) + [{"ts": T0 + 50, "service": "api", "message": "later"}]))
        self.assertEqual((st, b["late"]), (202, 0), b)
        st, b, _ = self.srv.ingest(ndjson(info_lines(5)))
        self.assertEqual((st, b["late"]), (202, 0), b)
        ws = self.srv.get("/windows?service=api")[1]["windows"]
        self.assertEqual([(w["status"], w["late_count"]) for w in ws], [("open", 0)])
        self.assertEqual(self.late_metric(), 0)


class LateModelTest(ServerTest):
    autostart = False

    def test_late_pass_keeps_the_models_reread(self):
        # the model is down for the first analysis: the baseline covers the window and the model is due to
        # read it again in 6 s; the late pass in between (the model back) must not cancel that re-read
        llm = FakeLLM().start()
        self.addCleanup(llm.stop)
        llm.script([], then={"mode": "status", "status": 503})
        srv = self.start_server(args=["--llm-url", llm.url, "--window", "1m", "--grace", "1s",
                                      "--analysis-reanalyze", "true", "--analysis-skip-quiet-windows", "false",
                                      "--llm-retries", "0", "--analysis-retry-base", "6s",
                                      "--analysis-retry-max", "6s"])
        srv.ingest(ndjson(info_lines()))
        srv.request("POST", "/windows/flush")
        wid = srv.get("/windows")[1]["windows"][0]["id"]
        w = wait_for(lambda: (lambda x: x if x["status"] == "analyzed" else None)(srv.get("/windows/%d" % wid)[1]),
                     what="baseline analysis")
        self.assertEqual(w["analyzer"], "baseline")
        llm.script([], then="good")
        srv.ingest(ndjson(fatal_lines(5)))
        wait_for(lambda: srv.get("/windows/%d" % wid)[1]["analyzer"] == "llm", timeout=15, what="late pass")
        calls = llm.chat_count()
        wait_for(lambda: llm.chat_count() > calls, timeout=20, what="the model's re-read of the whole window")
        w = wait_for(lambda: (lambda x: x if x["status"] == "analyzed" else None)(srv.get("/windows/%d" % wid)[1]),
                     what="re-read recorded")
        self.assertEqual(w["error"], None, w)


if __name__ == "__main__":
    unittest.main()
