"""The baseline detector alone (`anomalog replay` with no model) on logs made
for it: a service's first window judged on its own, attack shapes hidden in
the values of ordinary request lines, a configuration change logged at INFO
that keeps recurring, latency creeping up against a template's history, and
an ordinary quiet log that must give no finding."""
import os
import random
import re
import shutil
import tempfile
import unittest

from harness import db_rows, ndjson, run_cli

T0 = 1795514400  # 2026-11-24T10:00:00Z


def routine(t, n, rng, service):
    """n ordinary lines of a web service over one minute."""
    rows = []
    paths = ["/api/items", "/api/cart", "/api/users", "/health", "/api/search"]
    for i in range(n):
        k = rng.randrange(5)
        if k == 0:
            msg = "GET %s?id=%d 200 %dms" % (rng.choice(paths), rng.randrange(1, 99999), rng.randrange(1, 300))
        elif k == 1:
            msg = "POST /api/orders/%d 201 %dms" % (rng.randrange(1, 99999), rng.randrange(5, 400))
        elif k == 2:
            msg = "cache hit ratio %.2f for shard %d" % (rng.random(), rng.randrange(16))
        elif k == 3:
            msg = "request_id=%08x user=%s completed" % (rng.getrandbits(32), rng.choice(["alice", "bob", "carol"]))
        else:
            msg = "worker %d heartbeat ok" % rng.randrange(8)
        rows.append({"ts": t + i * 59.0 / n, "service": service, "level": "info", "message": msg})
    return rows


def window(t, n, rng, service, extra=()):
    rows = routine(t, n, rng, service)
    for off, level, msg in extra:
        rows.append({"ts": t + off, "service": service, "level": level, "message": msg})
    rows.sort(key=lambda r: r["ts"])
    return rows


def parse_replay(out):
    """[(window start HH:MM, health, [(severity, type, summary)])] from replay's output."""
    windows = []
    for line in out.splitlines():
        m = re.match(r"^\S+ \d{4}-\d\d-\d\dT(\d\d:\d\d)", line)
        if m:
            windows.append([m.group(1), None, []])
            continue
        m = re.match(r"^\[(\w+)\] \d+ anomaly", line)
        if m:
            windows[-1][1] = m.group(1)
            continue
        m = re.match(r"^  \[(\w+)\] (\w+): (.*)$", line)
        if m:
            windows[-1][2].append(m.groups())
    return windows


def findings_of(out):
    """[((service, window start HH:MM), type, summary)] from replay's output, in its order."""
    found, service = [], None
    for line in out.splitlines():
        m = re.match(r"^(\S+) \d{4}-\d\d-\d\dT(\d\d:\d\d)", line)
        if m:
            service = (m.group(1), m.group(2))
            continue
        m = re.match(r"^  \[(\w+)\] (\w+): (.*)$", line)
        if m:
            found.append((service, m.group(2), m.group(3)))
    return found


class BaselineAloneTest(unittest.TestCase):
    def setUp(self):
        self.dir = tempfile.mkdtemp(prefix="anomalog-baseline-")

    def tearDown(self):
        shutil.rmtree(self.dir, ignore_errors=True)

    def replay(self, rows):
        path = os.path.join(self.dir, "in.ndjson")
        with open(path, "w") as f:
            f.write(ndjson(rows))
        code, out, err = run_cli(["replay", path, "--window", "1m", "--llm-url", "none"], timeout=120)
        found = int(re.search(r"^summary: \d+ window\(s\), (\d+) anomaly", out, re.M).group(1))
        self.assertEqual(code, 1 if found else 0, err)  # replay's exit status: 1 when something was found
        return parse_replay(out), out

    def test_first_window_with_fatals_and_failed_passwords_is_flagged(self):
        rng = random.Random(1)
        extra = [(5 + i, "fatal", "database connection pool exhausted, giving up after %d attempts" % (3 + i % 4))
                 for i in range(30)]
        extra += [(2 + i * 3, "warn", "Failed password for root from 203.0.113.%d port %d ssh2"
                   % (rng.randrange(1, 250), rng.randrange(1024, 65535))) for i in range(12)]
        ws, out = self.replay(window(T0, 400, rng, "auth", extra))
        self.assertEqual(len(ws), 1, out)
        start, health, found = ws[0]
        self.assertEqual(health, "CRITICAL", out)
        types = [f[1] for f in found]
        self.assertIn("auth_failure", types, out)
        self.assertTrue(any(f[1] == "error_spike" and "30 fatal lines in the first window" in f[2] for f in found), out)
        self.assertLessEqual(len(found), 3, out)  # one finding per fact, not one per line

    def test_sql_injection_in_an_ordinary_request_is_a_security_finding(self):
        rng = random.Random(2)
        rows = []
        for k in range(4):
            extra = []
            if k == 2:
                extra = [(30, "info", "GET /api/items?id=1%27%20OR%20%271%27=%271 200 3ms"),
                         (41, "info", "GET /api/search?id=..%2f..%2f..%2fetc%2fpasswd 200 2ms")]
            rows += window(T0 + 60 * k, 300, rng, "web", extra)
        ws, out = self.replay(rows)
        self.assertEqual([w[0] for w in ws], ["10:00", "10:01", "10:02", "10:03"], out)
        sec = [(w[0], f) for w in ws for f in w[2] if f[1] == "security"]
        self.assertTrue(sec, out)
        self.assertEqual({w for w, _ in sec}, {"10:02"}, out)
        self.assertTrue(any("SQL injection" in f[2] for _, f in sec), out)
        self.assertTrue(any("path traversal" in f[2] for _, f in sec), out)
        # the other windows are ordinary: nothing
        self.assertEqual([len(w[2]) for w in ws if w[0] != "10:02"], [0, 0, 0], out)

    def test_recurring_config_info_template_is_a_config_finding(self):
        rng = random.Random(3)
        rows = []
        for k in range(5):
            extra = []
            if k >= 3:
                extra = [(5 + 10 * i, "info", "feature flag fast_checkout disabled, falling back to default pricing "
                          "engine v%d" % (1 + i % 2)) for i in range(5)]
            rows += window(T0 + 60 * k, 300, rng, "shop", extra)
        ws, out = self.replay(rows)
        cfg = [(w[0], f) for w in ws for f in w[2] if f[1] == "config"]
        self.assertTrue(cfg, out)
        self.assertEqual(cfg[0][0], "10:03", out)
        self.assertIn("feature flag fast_checkout disabled", cfg[0][1][2], out)
        self.assertEqual([len(w[2]) for w in ws[:3]], [0, 0, 0], out)

    def test_latency_creeping_up_is_a_latency_finding_and_a_steady_one_is_not(self):
        """Two services log the same `request took N ms` line: api's durations creep from ~20 ms to ~200 ms over
        windows, steady's stay at ~20 ms. Only api gets `latency` findings, naming the template, once its history
        has three windows; the summaries the store keeps stay bounded by the history the baseline reads."""
        rng = random.Random(6)
        medians = [20, 21, 20, 22, 30, 45, 70, 100, 140, 200]
        rows = []
        for k, med in enumerate(medians):
            t = T0 + 60 * k
            for svc, m in (("api", med), ("steady", 20)):
                extra = [(i * 0.5, "info", "request took %d ms" % max(1, round(rng.gauss(m, m * 0.15))))
                         for i in range(100)]
                rows += window(t, 150, rng, svc, extra)
        db = os.path.join(self.dir, "latency.db")
        path = os.path.join(self.dir, "in.ndjson")
        with open(path, "w") as f:
            f.write(ndjson(rows))
        code, out, err = run_cli(["replay", path, "--window", "1m", "--llm-url", "none", "--db", db,
                                  "--history-windows", "6"], timeout=300)
        self.assertEqual(code, 1, err)
        findings = findings_of(out)
        lat = {service: summary for service, kind, summary in findings if kind == "latency"}
        other = [f for f in findings if f[1] != "latency"]
        self.assertEqual({s for s, _ in lat}, {"api"}, out)  # never the steady service
        # api: found once the creep has doubled its lowest median (10:05 on, 45 ms against ~20), and not before
        self.assertTrue({"10:05", "10:06", "10:07", "10:08", "10:09"} <= {w for _, w in lat}, out)
        self.assertFalse({"10:00", "10:01", "10:02", "10:03", "10:04"} & {w for _, w in lat}, out)
        for summary in lat.values():
            self.assertIn('"request took <NUM> ms"', summary, out)
            self.assertIn("drifting up", summary, out)
        self.assertEqual(other, [], out)
        # summaries are kept only as far back as the history the baseline reads: the last window and 6 before it
        per = db_rows(db, "SELECT s.name, count(DISTINCT v.window_start), min(v.window_start), max(v.window_start) "
                          "FROM template_values v JOIN services s ON s.id = v.service_id GROUP BY s.name ORDER BY s.name")
        self.assertEqual(per, [(name, 7, (T0 + 180) * 1000, (T0 + 540) * 1000) for name in ("api", "steady")])

    def test_an_ordinary_quiet_log_gives_no_finding(self):
        rng = random.Random(4)
        rows = []
        for k in range(6):
            extra = []
            if k == 0:  # start-up: versions, defaults, one error and one failed login are ordinary
                extra = [(0.1, "info", "shop version 2.3.1 starting"),
                         (0.2, "info", "no config file given, using default settings"),
                         (0.3, "info", "feature flag beta_ui disabled"),
                         (1, "error", "could not reach metrics endpoint, will retry"),
                         (2, "warn", "Failed password for alice from 198.51.100.7 port 50022 ssh2")]
            if k == 4:
                extra = [(12, "info", "GET /api/items?q=o'brien 200 4ms")]  # a name with a quote, once
            rows += window(T0 + 60 * k, 300, rng, "shop", extra)
        ws, out = self.replay(rows)
        self.assertEqual(len(ws), 6, out)
        self.assertEqual([(w[1], w[2]) for w in ws], [("NORMAL", [])] * 6, out)

    def test_a_multi_service_log_every_incident_found_and_little_else(self):
        """Five services, six one-minute windows each, five incidents: the baseline alone finds each in
        its window, and at most two findings fall outside them."""
        rng = random.Random(5)
        rows = []
        incidents = {("auth", "10:00"), ("web", "10:03"), ("shop", "10:02"), ("db", "10:04"), ("pay", "10:03")}
        for k in range(6):
            t = T0 + 60 * k
            auth = []
            if k == 0:  # its first window: a crash loop and a password spray
                auth = [(1 + i, "fatal", "token signer failed to load key: permission denied") for i in range(30)]
                auth += [(2 + i, "warn", "Failed password for %s from 198.51.100.%d port %d ssh2"
                          % (rng.choice(["root", "admin", "oracle"]), rng.randrange(1, 250), rng.randrange(1024, 65535)))
                         for i in range(20)]
            rows += window(t, 200, rng, "auth", auth)
            web = [(20, "info", "GET /api/items?id=1%27%20UNION%20SELECT%20password%20FROM%20users 200 4ms")] if k == 3 else []
            rows += window(t, 200, rng, "web", web)
            shop = [(5 + 9 * i, "info", "pricing rules version changed to v%d, fallback to default tax table" % (7 + i % 2))
                    for i in range(4)] if k >= 2 else []
            rows += window(t, 200, rng, "shop", shop)
            db = [(10 + i * 0.2, "error", "could not serialize access due to concurrent update (xid %d)" % (900 + i))
                  for i in range(60)] if k == 4 else []
            rows += window(t, 200, rng, "db", db)
            pay = [(30, "error", "card processor returned malformed response for order %d" % rng.randrange(10 ** 6))] \
                if k == 3 else []
            rows += window(t, 200, rng, "pay", pay)
        path = os.path.join(self.dir, "in.ndjson")
        with open(path, "w") as f:
            f.write(ndjson(rows))
        code, out, err = run_cli(["replay", path, "--window", "1m", "--llm-url", "none"], timeout=300)
        self.assertEqual(code, 1, err)  # replay's exit status: 1, incidents were found
        found, outside = set(), []
        for service, kind, summary in findings_of(out):
            if service in incidents:
                found.add(service)
            elif service[0] == "shop" and service[1] > "10:02" and kind == "config":
                pass  # the configuration change goes on: the same incident
            else:
                outside.append((service, kind, summary))
        print("\nbaseline alone: %d of %d incidents found, %d finding(s) outside them %s"
              % (len(found), len(incidents), len(outside), outside))
        self.assertEqual(found, incidents, out)
        self.assertLessEqual(len(outside), 2, outside)


if __name__ == "__main__":
    unittest.main()
