"""Windows: assignment by event time, alignment, listing filters, cursor
paging, one window by id, and parameter errors."""
import unittest

from harness import ServerTest, ndjson

T0 = 1795514400  # 2026-11-24T10:00:00Z


class WindowsTest(ServerTest):
    # grace of an hour: the api windows are already past their end + the default 30 s of grace by the
    # watermark (10:12), so the scheduler's next tick (every second) would close them mid-test
    server_args = ["--window", "5m", "--grace", "1h"]

    def seed(self):
        rows = []
        # api: 3 windows (10:00, 10:05, 10:10); db: 1 window (10:00)
        for minute, n in ((0, 3), (4, 2), (5, 4), (12, 1)):
            rows += [{"ts": T0 + minute * 60 + i, "service": "api", "message": "m"} for i in range(n)]
        rows += [{"ts": T0 + 59, "service": "db", "message": "q"}]
        st, b, _ = self.srv.ingest(ndjson(rows))
        self.assertEqual(st, 202, b)

    def test_lines_fall_into_aligned_windows(self):
        self.seed()
        st, b, _ = self.srv.get("/windows")
        self.assertEqual(st, 200, b)
        ws = b["windows"]
        self.assertIsNone(b["next_cursor"])
        got = [(w["service"], w["start"], w["end"], w["line_count"], w["status"], w["late_count"]) for w in ws]
        self.assertEqual(got[0], ("api", "2026-11-24T10:10:00.000Z", "2026-11-24T10:15:00.000Z", 1, "open", 0))
        self.assertEqual(got[1], ("api", "2026-11-24T10:05:00.000Z", "2026-11-24T10:10:00.000Z", 4, "open", 0))
        self.assertEqual(sorted(got[2:]), [
            ("api", "2026-11-24T10:00:00.000Z", "2026-11-24T10:05:00.000Z", 5, "open", 0),
            ("db", "2026-11-24T10:00:00.000Z", "2026-11-24T10:05:00.000Z", 1, "open", 0),
        ])
        st, one, _ = self.srv.get("/windows/%d" % ws[1]["id"])
        self.assertEqual((st, one.pop("anomalies"), one.pop("prompt"), one.pop("digest"), one.pop("redactions")),
                         (200, [], None, None, None))
        self.assertEqual(one, ws[1])

    def test_counts_grow_across_batches(self):
        for _ in range(3):
            self.srv.ingest(ndjson([{"ts": T0 + 1, "service": "api", "message": "x"}] * 7))
        ws = self.srv.get("/windows?service=api")[1]["windows"]
        self.assertEqual([w["line_count"] for w in ws], [21])

    def test_filters(self):
        self.seed()
        api = self.srv.get("/windows?service=api")[1]["windows"]
        self.assertEqual(len(api), 3)
        self.assertTrue(all(w["service"] == "api" for w in api))
        self.assertEqual(self.srv.get("/windows?service=nosuch")[1]["windows"], [])
        since = self.srv.get("/windows?since=2026-11-24T10:05:00Z")[1]["windows"]
        self.assertEqual([w["start"][11:16] for w in since], ["10:10", "10:05"])
        until = self.srv.get("/windows?until=%d" % (T0 + 300))[1]["windows"]
        self.assertEqual(sorted(w["service"] for w in until), ["api", "db"])
        self.assertEqual(len(self.srv.get("/windows?status=open")[1]["windows"]), 4)
        self.assertEqual(self.srv.get("/windows?status=analyzed")[1]["windows"], [])

    def test_cursor_paging_visits_every_window_once(self):
        rows = [{"ts": T0 + k * 300, "service": "s%d" % (k % 3), "message": "m"} for k in range(23)]
        self.srv.ingest(ndjson(rows))
        seen, cursor, pages = [], None, 0
        while True:
            path = "/windows?limit=5" + ("&cursor=" + cursor if cursor else "")
            st, b, _ = self.srv.get(path)
            self.assertEqual(st, 200, b)
            seen += b["windows"]
            pages += 1
            cursor = b["next_cursor"]
            if not cursor:
                break
        self.assertEqual(pages, 5)
        self.assertEqual(len(seen), 23)
        self.assertEqual(len({w["id"] for w in seen}), 23)
        starts = [w["start"] for w in seen]
        self.assertEqual(starts, sorted(starts, reverse=True))

    def test_parameter_errors(self):
        for q, p in (("limit=0", "limit"), ("limit=1001", "limit"), ("limit=x", "limit"),
                     ("since=notatime", "since"), ("until=2026-13-01T00:00:00Z", "until"),
                     ("status=sleepy", "status"), ("cursor=garbage", "cursor")):
            self.assertError(self.srv.get("/windows?" + q), 400, "invalid_parameter", parameter=p)
        self.assertError(self.srv.get("/windows/abc"), 400, "invalid_parameter", parameter="id")
        self.assertError(self.srv.get("/windows/999999"), 404, "not_found")

    def test_lists_check_their_parameters_in_one_order(self):
        # /windows, /anomalies and /incidents read their parameters alike: the list's two word filters, then
        # since, until, limit and cursor; with several bad ones, the first in that order is named
        bad = {"since": "notatime", "until": "never", "limit": "0", "cursor": "garbage", "status": "sleepy",
               "health": "sick", "severity": "huge", "type": "boom"}
        orders = {"/windows": ["status", "health"], "/anomalies": ["severity", "type"],
                  "/incidents": ["severity", "status"]}
        for path, words in orders.items():
            order = words + ["since", "until", "limit", "cursor"]
            for i, first in enumerate(order):
                query = "&".join("%s=%s" % (p, bad[p]) for p in reversed(order[i:]))
                err = self.assertError(self.srv.get(path + "?service=api&" + query), 400, "invalid_parameter",
                                       parameter=first)
                self.assertTrue(err["message"].startswith('%s: "%s" ' % (first, bad[first])), (path, err))
        err = self.assertError(self.srv.get("/windows?status=sleepy"), 400, "invalid_parameter")
        self.assertEqual(err["message"], 'status: "sleepy" is not one of open, closed, analyzing, analyzed, failed')
        for path in orders:
            st, body, _ = self.srv.get(path + "?service=&limit=1")
            self.assertEqual(st, 200, body)
            self.assertIn("next_cursor", body)


class WindowLengthTest(ServerTest):
    server_args = ["--window", "1m"]

    def test_configured_length(self):
        self.srv.ingest(ndjson([{"ts": T0 + s, "message": "m"} for s in (0, 59, 60, 61, 125)]))
        ws = self.srv.get("/windows")[1]["windows"]
        self.assertEqual([(w["start"][11:19], w["end"][11:19], w["line_count"]) for w in ws],
                         [("10:02:00", "10:03:00", 1), ("10:01:00", "10:02:00", 2), ("10:00:00", "10:01:00", 2)])


if __name__ == "__main__":
    unittest.main()
