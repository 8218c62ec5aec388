"""The model's circuit breaker (issue 15, part 4): a hung model must not stall
analysis.

With a 3 s timeout, the default 3 retries and the fake model hanging on every
call, ten windows (ten services, so none waits for another's order) are all
analysed within 40 s: after llm.breaker_failures consecutive failed calls the
breaker opens and windows go straight to the baseline (before: every window
paid timeout x attempts, 12 s and more each, two at a time). /readyz stays 200
and says "model": "down"; anomalog_model_up is 0. Once the model answers
again, after the cool-down one probe call closes the breaker and windows go
to the model again ("model": "ok"). The figure (windows analysed, seconds) is
printed on stderr.
"""
import sys
import time
import unittest

from harness import FakeLLM, ServerTest, ndjson, wait_for

T0 = 1795514400  # 2026-11-24T10:00:00Z


class ModelBreakerTest(ServerTest):
    autostart = False

    def setUp(self):
        super().setUp()
        self.llm = FakeLLM().start()
        self.addCleanup(self.llm.stop)

    def metric(self, srv, name):
        text = srv.get("/metrics")[1]
        text = text.decode() if isinstance(text, bytes) else text
        for line in text.splitlines():
            if line.startswith(name + " "):
                return float(line.split()[-1])
        return None

    def test_ten_windows_within_40s_with_a_hung_model(self):
        self.llm.script([], then={"mode": "hang"})
        srv = self.start_server(args=["--llm-url", self.llm.url, "--llm-model", "fake", "--window", "1m",
                                      "--llm-timeout", "3s", "--llm-breaker-failures", "3",
                                      "--llm-breaker-cooldown", "4s", "--analysis-skip-quiet-windows", "false",
                                      "--analysis-on-model-failure", "baseline"])
        self.assertEqual(srv.get("/readyz")[1]["model"], "ok")
        rows = []
        for k in range(10):
            rows += [{"ts": T0 + i, "service": "svc%d" % k, "level": "info", "message": "GET /health 200"}
                     for i in range(3)]
            rows += [{"ts": T0 + 20 + i, "service": "svc%d" % k, "level": "fatal",
                      "message": "FATAL: disk /data full"} for i in range(5)]
        self.assertEqual(srv.ingest(ndjson(rows))[0], 202)
        t0 = time.monotonic()
        self.assertEqual(srv.request("POST", "/windows/flush")[1], {"closed": 10})
        done = wait_for(lambda: (lambda ws: ws if len(ws) == 10 else None)(
            srv.get("/windows?status=analyzed&limit=100")[1]["windows"]), timeout=60, interval=0.2,
            what="ten windows analysed")
        took = time.monotonic() - t0
        print("hung model: %d windows analysed in %.1f s (3 s timeout, 3 retries, breaker after 3 failures)"
              % (len(done), took), file=sys.stderr)
        self.assertLess(took, 40)
        self.assertTrue(all(w["analyzer"] == "baseline" for w in done), done)
        self.assertTrue(all(w["health"] != "normal" for w in done), done)  # the baseline's findings stand
        st, b, _ = srv.get("/readyz")
        self.assertEqual((st, b["status"], b["model"]), (200, "ready", "down"), b)
        self.assertEqual(self.metric(srv, "anomalog_model_up"), 0)
        # the windows that skipped the model say why
        errors = [srv.get("/windows/%d" % w["id"])[1]["error"] or "" for w in done]
        self.assertTrue(any("circuit open" in e for e in errors), errors)
        # the model answers again: after the cool-down one probe closes the breaker
        self.llm.script([], then="good")
        time.sleep(4.5)
        self.assertEqual(srv.ingest(ndjson([{"ts": T0 + 120, "service": "after", "level": "error",
                                             "message": "upstream timeout"}]))[0], 202)
        srv.request("POST", "/windows/flush")
        w = wait_for(lambda: (lambda ws: ws[0] if ws else None)(
            srv.get("/windows?status=analyzed&service=after")[1]["windows"]), timeout=30, what="probe window")
        self.assertEqual(w["analyzer"], "llm", w)
        self.assertEqual(srv.get("/readyz")[1]["model"], "ok")
        self.assertEqual(self.metric(srv, "anomalog_model_up"), 1)

    def test_no_model_says_none(self):
        srv = self.start_server(args=["--llm-url", "none"])
        st, b, _ = srv.get("/readyz")
        self.assertEqual((st, b["model"]), (200, "none"))
        self.assertIsNone(self.metric(srv, "anomalog_model_up"))


if __name__ == "__main__":
    unittest.main()
