"""GET /services pages: limit and next_cursor over thousands of services, a
keyset cursor that neither skips nor repeats a service while services are
created between pages, a page cut by its bytes when contexts are large, and
a 400 naming the parameter for a bad limit or cursor."""
import json
import unittest

from harness import ServerTest, ndjson

T0 = 1795514400  # 2026-11-24T10:00:00Z
J = {"Content-Type": "application/json"}
# names that sort differently by bytes than by a locale, and that need encoding in a query string
ODD = ["Zeta", "alpha beta", "a&b=c?d", "caf\u00e9", "\u00e9clair", "x/y%2Fz", "100%", "#hash", "~tilde"]


def byte_order(names):
    return sorted(names, key=lambda n: n.encode())


class ServicesPagingTest(ServerTest):
    server_args = ["--window", "5m", "--grace", "1h"]

    def add_services(self, names):
        for i in range(0, len(names), 1000):
            st, b, _ = self.srv.ingest(ndjson([{"ts": T0, "service": n, "message": "hello"} for n in names[i:i + 1000]]))
            self.assertEqual(st, 202, b)

    def walk(self, limit, between=None):
        """Every page of /services at this limit: (names in order, number of pages)."""
        names, cursor, pages = [], None, 0
        while True:
            st, b, _ = self.srv.get("/services?limit=%d" % limit + ("&cursor=" + cursor if cursor else ""))
            self.assertEqual(st, 200, b)
            self.assertLessEqual(len(b["services"]), limit)
            names += [s["name"] for s in b["services"]]
            pages += 1
            cursor = b["next_cursor"]
            if not cursor:
                return names, pages
            self.assertEqual(len(b["services"]), limit, "a page short of its limit said more follow")
            if between:
                between(pages)

    def test_many_services_page_in_byte_order(self):
        names = ["svc-%05d" % i for i in range(2500)] + ODD
        self.add_services(names)
        got, pages = self.walk(1000)
        self.assertEqual(pages, 3)
        self.assertEqual(got, byte_order(names))
        # the default page is 100, with a cursor to the rest
        st, b, _ = self.srv.get("/services")
        self.assertEqual((st, len(b["services"])), (200, 100))
        self.assertEqual([s["name"] for s in b["services"]], byte_order(names)[:100])
        self.assertIsInstance(b["next_cursor"], str)
        # the last page says no more
        st, b, _ = self.srv.get("/services?limit=1000&cursor=" + b["next_cursor"])
        self.assertEqual([s["name"] for s in b["services"]], byte_order(names)[100:1100])
        got, pages = self.walk(7)
        self.assertEqual((got, pages), (byte_order(names), (len(names) + 6) // 7))

    def test_cursor_is_stable_while_services_are_created(self):
        first = ["m-%04d" % i for i in range(0, 600, 2)]
        self.add_services(first)
        created = []

        def between(page):
            # after each page, one service sorts before everything read so far and one after
            new = ["a-%03d" % page, "z-%03d" % page, "m-%04d" % (page * 40 + 1)]
            created.extend(new)
            self.add_services(new)

        got, _ = self.walk(25, between)
        self.assertEqual(len(got), len(set(got)), "a service was listed twice")
        self.assertEqual(got, byte_order(got))
        self.assertTrue(set(first) <= set(got), set(first) - set(got))
        # those created above the cursor are seen, those below it are not
        self.assertTrue({n for n in created if n.startswith("z-")} <= set(got))
        self.assertFalse({n for n in created if n.startswith("a-")} & set(got))

    def test_page_is_bounded_by_bytes(self):
        # 80 contexts of 16 KiB of quotes, each escaped to 2 bytes in JSON: 2.6 MB in all
        names = ["big-%02d" % i for i in range(80)]
        ctx = '"' * 16384
        for n in names:
            st, b, _ = self.srv.request("PUT", "/services/" + n, json.dumps({"context": ctx}), J)
            self.assertEqual(st, 200, b)
        c = self.srv.conn()
        c.request("GET", "/services?limit=1000")
        r = c.getresponse()
        raw = r.read()
        c.close()
        self.assertEqual(r.status, 200)
        self.assertLessEqual(len(raw), (1 << 20) + 256)
        b = json.loads(raw)
        self.assertLess(len(b["services"]), 80)
        self.assertGreater(len(b["services"]), 10)
        self.assertIsInstance(b["next_cursor"], str)
        self.assertTrue(all(s["context"] == ctx for s in b["services"]))
        got, cursor = [s["name"] for s in b["services"]], b["next_cursor"]
        while cursor:
            st, b, _ = self.srv.get("/services?limit=1000&cursor=" + cursor)
            self.assertEqual(st, 200, b)
            got += [s["name"] for s in b["services"]]
            cursor = b["next_cursor"]
        self.assertEqual(got, names)

    def test_parameter_errors(self):
        self.add_services(["api"])
        long_name = ("ab" * 129)  # 129 bytes: longer than any name
        for q, p in (("limit=0", "limit"), ("limit=1001", "limit"), ("limit=x", "limit"), ("limit=-5", "limit"),
                     ("cursor=garbage", "cursor"), ("cursor=abc", "cursor"), ("cursor=00", "cursor"),
                     ("cursor=6100", "cursor"), ("cursor=ABCD", "cursor"), ("cursor=" + long_name, "cursor")):
            self.assertError(self.srv.get("/services?" + q), 400, "invalid_parameter", parameter=p)
        # a cursor past every name is an empty last page
        st, b, _ = self.srv.get("/services?cursor=" + "7e" * 10)
        self.assertEqual((st, b), (200, {"services": [], "next_cursor": None}))


if __name__ == "__main__":
    unittest.main()
