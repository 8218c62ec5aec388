"""Event time within reason (issue 15, part 2): one bad clock must not blind a
service.

- A line stamped 9999-12-31 is stored at its receive time and counted
  (normalized.timestamp_clamped, anomalog_ingest_timestamps_clamped_total); the
  service's watermark does not jump to year 9999, so the FATAL lines that come
  after it, in batches seconds apart, land in an open window and are analysed.
  (Before: the watermark passed every window at once, each closed as soon as
  its first batch arrived, and every later line was late and never analysed.)
- Epoch numbers are read by magnitude in ranges that cannot overlap: a number
  in a gap or beyond them is refused by name; one whose only reading is before
  2000 (253402300800: year 10000 in seconds, 1978 in milliseconds) is clamped.
- A timestamp a little ahead (5 min) is kept; one beyond ingest.max_future is
  clamped, and the bound is configurable.
"""
import time
import unittest

from harness import ServerTest, db_rows, ndjson, wait_for


def metric(srv, name, **labels):
    text = srv.get("/metrics")[1]
    text = text.decode() if isinstance(text, bytes) else text
    want = name + ("{" + ",".join('%s="%s"' % kv for kv in sorted(labels.items())) + "}" if labels else "")
    for line in text.splitlines():
        if line.startswith(want + " "):
            return float(line.split()[-1])
    return None


class EventTimeTest(ServerTest):
    server_args = ["--llm-url", "none", "--window", "1m", "--grace", "2s", "--analysis-skip-quiet-windows", "false"]

    def test_a_line_from_year_9999_does_not_blind_the_service(self):
        srv = self.srv
        # every line in the window of the current minute, far from its end (the mad line is stored at its
        # receive time, so it lands there too)
        now = time.time()
        start = int(now) // 60 * 60
        if now - start > 30:
            time.sleep(61 - (now - start))
            now = time.time()
            start = int(now) // 60 * 60
        st, b, _ = srv.ingest(ndjson([{"timestamp": "9999-12-31T23:59:59Z", "service": "clock", "level": "info",
                                       "message": "clock went mad"}]))
        self.assertEqual(st, 202, b)
        self.assertEqual(b["normalized"]["timestamp_clamped"], 1)
        # then the lines of that minute, in batches more than a scheduler tick (1 s) apart
        st, b, _ = srv.ingest(ndjson([{"ts": start + 1 + i, "service": "clock", "level": "info",
                                       "message": "GET /health 200"} for i in range(5)]))
        self.assertEqual((st, b["normalized"]["timestamp_clamped"]), (202, 0))
        for k in range(3):
            time.sleep(1.5)
            st, b, _ = srv.ingest(ndjson([{"ts": start + 10 + k, "service": "clock", "level": "fatal",
                                           "message": "FATAL: database cluster unreachable, shard %d" % i}
                                          for i in range(10)]))
            self.assertEqual(st, 202, b)
        ws = srv.get("/windows?service=clock")[1]["windows"]
        self.assertEqual([(w["start"][:4], w["late_count"]) for w in ws],
                         [(time.strftime("%Y", time.gmtime(start)), 0)], ws)
        self.assertEqual(ws[0]["status"], "open", "the watermark must not have closed the window")
        self.assertEqual(srv.request("POST", "/windows/flush")[0], 200)
        w = wait_for(lambda: (lambda x: x if x["status"] == "analyzed" else None)(
            srv.get("/windows/%d" % ws[0]["id"])[1]), timeout=60, what="window analysed")
        self.assertEqual(w["line_count"], 36)
        self.assertEqual(w["late_count"], 0)
        self.assertNotEqual(w["health"], "normal", w)
        self.assertGreaterEqual(w["anomaly_count"], 1, w)
        self.assertTrue(any("FATAL" in " ".join(a["evidence"]) for a in w["anomalies"]), w["anomalies"])
        self.assertEqual(metric(srv, "anomalog_ingest_timestamps_clamped_total", endpoint="/ingest"), 1)
        # the mad line is stored, at its receive time
        (ts,), = db_rows(self.srv.db, "SELECT ts FROM logs WHERE message = 'clock went mad'")
        self.assertLess(abs(ts / 1000 - now), 120)

    def test_epoch_magnitudes(self):
        srv = self.srv
        now = int(time.time())
        cases = [  # (value, clamped?, stored ms or None)
            (now, 0, now * 1000),
            (now * 1000 + 123, 0, now * 1000 + 123),
            (now * 1000000, 0, now * 1000),
            (now * 1000000000, 0, now * 1000),
            (253402300800, 1, None),   # only reading: 1978 in ms; before 2000
            (946684799, 1, None),      # 1999-12-31T23:59:59Z in seconds
            (now + 300, 0, (now + 300) * 1000),  # 5 minutes ahead: within reason
            (now + 1200, 1, None),               # 20 minutes ahead: not
        ]
        for value, clamped, stored in cases:
            with self.subTest(value=value):
                msg = "epoch %r" % value
                st, b, _ = srv.ingest(ndjson([{"ts": value, "service": "epoch", "message": msg}]))
                self.assertEqual(st, 202, b)
                self.assertEqual(b["normalized"]["timestamp_clamped"], clamped)
                (ts,), = db_rows(srv.db, "SELECT ts FROM logs WHERE message = ?", (msg,))
                if stored is not None:
                    self.assertEqual(ts, stored)
                else:
                    self.assertLess(abs(ts / 1000 - time.time()), 60)
        for value in ("1e20", "\"100000000000000000000\"", "50000000000", "50000000000000", "\"50000000000\""):
            with self.subTest(value=value):
                err = self.assertError(srv.ingest('{"ts": %s, "message": "m"}\n' % value), 400, "invalid_timestamp")
                self.assertIn("line 1", err["message"])

    def test_max_future_is_configurable(self):
        srv = self.start_server(args=["--ingest-max-future", "1h", "--llm-url", "none"], db=self.dir + "/b.db")
        now = int(time.time())
        st, b, _ = srv.ingest(ndjson([{"ts": now + 1800, "message": "half an hour ahead"},
                                      {"ts": now + 7200, "message": "two hours ahead"}]))
        self.assertEqual((st, b["normalized"]["timestamp_clamped"]), (202, 1), b)


if __name__ == "__main__":
    unittest.main()
