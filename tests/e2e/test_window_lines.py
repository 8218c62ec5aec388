"""GET /windows/{id}/lines: a window's stored lines, paged by event time, and
GET /windows/{id} (and /incidents/{id}) opened by a browser (the page) or an
API client (JSON).

Runs on SQLite and, as e2e-pg.test_window_lines, on PostgreSQL."""
import datetime
import unittest

from harness import ServerTest, ndjson

T0 = 1795514400  # 2026-11-24T10:00:00Z
WINDOW_ARGS = ["--window", "1m", "--analysis-skip-quiet-windows", "false"]


def iso(ms):
    return datetime.datetime.fromtimestamp(ms / 1000, datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.") + \
        "%03dZ" % (ms % 1000)


class WindowLinesTest(ServerTest):
    server_args = WINDOW_ARGS

    def window_id(self, service):
        st, body, _ = self.srv.get("/windows?service=%s" % service)
        self.assertEqual(st, 200, body)
        self.assertEqual(len(body["windows"]), 1, body)
        return body["windows"][0]["id"]

    def all_pages(self, wid, limit, full=True):
        lines, cursor, pages = [], None, 0
        while True:
            path = "/windows/%d/lines?limit=%d" % (wid, limit) + ("&cursor=" + cursor if cursor else "")
            st, body, _ = self.srv.get(path)
            self.assertEqual(st, 200, body)
            self.assertEqual(body["window_id"], wid)
            self.assertLessEqual(len(body["lines"]), limit)
            lines += body["lines"]
            pages += 1
            cursor = body["next_cursor"]
            if cursor is None:
                return lines, pages
            if full:
                self.assertEqual(len(body["lines"]), limit, "a page short of the limit must be the last")

    def test_pages_cover_the_window_once_in_event_time_order(self):
        # sent out of time order, in two batches, with an attribute object on some and no level on one;
        # another service's lines in the same minute must not show up
        rows = [{"ts": T0 + 50 - 3 * i, "service": "api", "level": "info", "message": "request %d" % i}
                for i in range(12)]
        rows[3]["attributes"] = {"host": "web-1", "status": 500}
        rows[4]["ts"] = rows[5]["ts"]  # two lines at the same millisecond: id breaks the tie
        del rows[7]["level"]
        self.assertEqual(self.srv.ingest(ndjson(rows[:7]))[0], 202)
        self.assertEqual(self.srv.ingest(ndjson(rows[7:]))[0], 202)
        self.assertEqual(self.srv.ingest(ndjson([{"ts": T0 + 1, "service": "db", "message": "other"}]))[0], 202)
        wid = self.window_id("api")

        lines, pages = self.all_pages(wid, 5)
        self.assertEqual(pages, 3)
        self.assertEqual(sorted(l["message"] for l in lines), sorted(r["message"] for r in rows))
        self.assertEqual(len({l["id"] for l in lines}), len(rows), "every line exactly once")
        keys = [(l["ts"], l["id"]) for l in lines]
        self.assertEqual(keys, sorted(keys), "ordered by event time, then id")
        by_msg = {l["message"]: l for l in lines}
        self.assertEqual(by_msg["request 0"]["ts"], iso((T0 + 50) * 1000))
        self.assertEqual(by_msg["request 3"]["attributes"], {"host": "web-1", "status": 500})
        self.assertIsNone(by_msg["request 2"]["attributes"])
        self.assertEqual(by_msg["request 1"]["level"], "info")
        self.assertEqual(set(by_msg["request 0"]), {"id", "ts", "level", "message", "attributes"})
        same = [l for l in lines if l["ts"] == iso(rows[5]["ts"] * 1000)]
        self.assertEqual(len(same), 2)
        self.assertLess(same[0]["id"], same[1]["id"])

        # one page of everything, the default limit; a limit of one gives one line a page
        st, body, _ = self.srv.get("/windows/%d/lines" % wid)
        self.assertEqual([l["id"] for l in body["lines"]], [l["id"] for l in lines])
        self.assertIsNone(body["next_cursor"])
        ones, pages = self.all_pages(wid, 1)
        self.assertEqual(pages, len(rows))
        self.assertEqual([l["id"] for l in ones], [l["id"] for l in lines])

        # a line arriving while paging, later in time than the cursor, appears on a later page; the page
        # already read does not change
        st, first, _ = self.srv.get("/windows/%d/lines?limit=6" % wid)
        self.assertEqual(self.srv.ingest(ndjson([{"ts": T0 + 59, "service": "api", "message": "newest"}]))[0], 202)
        st, rest, _ = self.srv.get("/windows/%d/lines?limit=100&cursor=%s" % (wid, first["next_cursor"]))
        self.assertEqual([l["message"] for l in first["lines"] + rest["lines"]],
                         [l["message"] for l in lines] + ["newest"])

    def test_late_lines_are_listed_and_an_empty_window_id_is_not_found(self):
        self.assertEqual(self.srv.ingest(ndjson([{"ts": T0 + 5, "service": "api", "message": "on time"}]))[0], 202)
        self.srv.request("POST", "/windows/flush")
        st, body, _ = self.srv.ingest(ndjson([{"ts": T0 + 2, "service": "api", "message": "late"}]))
        self.assertEqual(st, 202, body)
        wid = self.window_id("api")
        st, body, _ = self.srv.get("/windows/%d/lines" % wid)
        self.assertEqual([l["message"] for l in body["lines"]], ["late", "on time"])

        err = self.assertError(self.srv.get("/windows/%d/lines" % (wid + 1000)), 404, "not_found")
        self.assertIn(str(wid + 1000), err["message"])

    def test_a_page_stops_at_one_mebibyte(self):
        # 40 lines of 60 KiB: a page of limit=1000 would be 2.4 MB; it stops before 1 MiB of JSON, and the
        # cursor carries on from there, so the pages still hold every line once
        big = "x" * (60 * 1024)
        for b in range(4):
            rows = [{"ts": T0 + b * 10 + i, "service": "api", "message": "%02d %s" % (b * 10 + i, big)}
                    for i in range(10)]
            self.assertEqual(self.srv.ingest(ndjson(rows))[0], 202)
        wid = self.window_id("api")
        st, body, hdrs = self.srv.request("GET", "/windows/%d/lines?limit=1000" % wid)
        self.assertEqual(st, 200)
        self.assertLessEqual(int(hdrs["content-length"]), 1 << 20)
        self.assertEqual(len(body["lines"]), (1 << 20) // (60 * 1024 + 100))
        self.assertTrue(body["next_cursor"])
        lines, pages = self.all_pages(wid, 1000, full=False)
        self.assertEqual([l["message"][:2] for l in lines], ["%02d" % i for i in range(40)])
        self.assertEqual(pages, 3)

    def test_bad_parameters_name_themselves(self):
        self.assertEqual(self.srv.ingest(ndjson([{"ts": T0, "service": "api", "message": "x"}]))[0], 202)
        wid = self.window_id("api")
        for path, param in [("/windows/abc/lines", "id"), ("/windows/0/lines", "id"),
                            ("/windows/99999999999999999999/lines", "id"),
                            ("/windows/%d/lines?limit=0" % wid, "limit"),
                            ("/windows/%d/lines?limit=1001" % wid, "limit"),
                            ("/windows/%d/lines?limit=ten" % wid, "limit"),
                            ("/windows/%d/lines?cursor=abc" % wid, "cursor"),
                            ("/windows/%d/lines?cursor=1:2:3" % wid, "cursor")]:
            with self.subTest(path=path):
                self.assertError(self.srv.get(path), 400, "invalid_parameter", parameter=param)
        self.assertError(self.srv.request("POST", "/windows/%d/lines" % wid), 405, "method_not_allowed")


class WindowLinkTest(ServerTest):
    """A notification's /windows/{id} link: the page for a browser, JSON for an API client, with a read token."""
    server_args = WINDOW_ARGS
    server_env = {"ANOMALOG_AUTH_INGEST_TOKEN": "i-secret", "ANOMALOG_AUTH_READ_TOKEN": "r-secret"}

    def test_browser_gets_the_page_and_api_clients_json(self):
        st, body, _ = self.srv.ingest(ndjson([{"ts": T0, "service": "api", "message": "x"}]),
                                      headers={"Authorization": "Bearer i-secret"})
        self.assertEqual(st, 202, body)
        auth = {"Authorization": "Bearer r-secret"}
        st, body, _ = self.srv.request("GET", "/windows", headers=auth)
        wid = body["windows"][0]["id"]
        browser = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"
        # the page needs no token (its API calls do); it is the same page as /
        st, page, hdrs = self.srv.request("GET", "/windows/%d" % wid, headers={"Accept": browser})
        self.assertEqual(st, 200)
        self.assertTrue(hdrs["content-type"].startswith("text/html"), hdrs)
        self.assertEqual(hdrs.get("vary"), "Accept")
        self.assertEqual(page, self.srv.request("GET", "/", headers={"Accept": browser})[1])
        self.assertIn(b'src="/ui/app.js"', page)
        # an unknown window's link is the page too: it says there is no such window
        self.assertEqual(self.srv.request("GET", "/windows/999999", headers={"Accept": browser})[0], 200)
        # an incident's link as well; its JSON stays behind the token
        st, inc, hdrs = self.srv.request("GET", "/incidents/7", headers={"Accept": browser})
        self.assertEqual((st, inc, hdrs.get("vary")), (200, page, "Accept"))
        self.assertError(self.srv.request("GET", "/incidents/7"), 401, "unauthorized")
        self.assertError(self.srv.request("GET", "/incidents/7", headers=auth), 404, "not_found")
        # API clients: JSON (with the token), 401 without it
        for accept in ({}, {"Accept": "application/json"}, {"Accept": "*/*"},
                       {"Accept": "application/json, text/html"}):
            with self.subTest(accept=accept):
                st, body, hdrs = self.srv.request("GET", "/windows/%d" % wid, headers=dict(auth, **accept))
                self.assertEqual(st, 200, body)
                self.assertEqual(body["id"], wid)
                self.assertEqual(hdrs.get("vary"), "Accept")
                self.assertError(self.srv.request("GET", "/windows/%d" % wid, headers=accept), 401, "unauthorized")
        # the lines need the token whatever the Accept: only /windows/{id} has a page
        self.assertError(self.srv.request("GET", "/windows/%d/lines" % wid, headers={"Accept": browser}), 401,
                         "unauthorized")
        st, body, _ = self.srv.request("GET", "/windows/%d/lines" % wid, headers=auth)
        self.assertEqual([l["message"] for l in body["lines"]], ["x"])


if __name__ == "__main__":
    unittest.main()
