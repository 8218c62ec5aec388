"""Soak: steady ingest at a fixed rate for about half a minute, with short
windows closed and analysed by the fake model and very short retention, so
that several retention cycles pass. The database stops growing once
retention keeps up, the server's resident memory levels off, and nothing
fails: every batch is accepted, every window analysed, nothing logged at
warn or error.

The run is split in thirds; the first is warm-up. "Stops growing" and
"levels off" compare the last third with the middle one. Under
AddressSanitizer the quarantine of freed memory is kept small for this
server, or freed memory would count as growth."""
import json
import os
import time
import unittest

from harness import SLOWDOWN, FakeLLM, ServerTest, db_rows, ndjson, sqlite_only
from test_metrics import parse, val

RATE_POSTS = 10        # per second
LINES_PER_POST = 100   # 1000 lines per second
DURATION = 27          # seconds of ingest


def rss_kib(pid):
    with open("/proc/%d/status" % pid) as f:
        for ln in f:
            if ln.startswith("VmRSS:"):
                return int(ln.split()[1])
    raise AssertionError("no VmRSS for %d" % pid)


@sqlite_only  # the level it watches is the SQLite file's pages and free list
class SoakTest(ServerTest):
    autostart = False

    def test_database_and_memory_level_off_under_steady_ingest(self):
        llm = FakeLLM().start()
        self.addCleanup(llm.stop)
        asan = os.environ.get("ASAN_OPTIONS", "")
        srv = self.start_server(args=["--llm-url", llm.url, "--window", "2s", "--grace", "500ms",
                                      "--analysis-skip-quiet-windows", "false", "--log-format", "json",
                                      "--retention-lines", "3s", "--retention-windows", "8s"],
                                env={"ASAN_OPTIONS": (asan + ":" if asan else "") + "quarantine_size_mb=4"})
        db = os.path.join(self.dir, "anomalog.db")
        conn = srv.conn()
        samples = []  # (t, page_count, freelist_count, rss KiB)
        statuses = {}
        t0 = time.monotonic()
        n = 0
        next_sample = t0
        while True:
            now = time.monotonic()
            if now - t0 >= DURATION:
                break
            if now >= next_sample:
                pages, free = db_rows(db, "SELECT * FROM pragma_page_count(), pragma_freelist_count()")[0]
                samples.append((now - t0, pages, free, rss_kib(srv.proc.pid)))
                next_sample += 1
            ts = time.time()
            rows = [{"ts": ts, "service": "svc%d" % (n % 3),
                     "level": "error" if i == 0 and n % 7 == 0 else "info",
                     "message": "request %d took %d ms" % (n * LINES_PER_POST + i, (n + i) % 97)}
                    for i in range(LINES_PER_POST)]
            st = srv.ingest(ndjson(rows), conn=conn)[0]
            statuses[st] = statuses.get(st, 0) + 1
            n += 1
            # a fixed rate: the next post is due at its slot, whatever this one took
            delay = t0 + n / RATE_POSTS - time.monotonic()
            if delay > 0:
                time.sleep(delay)
        conn.close()

        self.assertEqual(statuses, {202: n}, statuses)
        # each post waits for its answer: under the sanitizers the answers, and so the rate, are slower
        self.assertGreaterEqual(n, DURATION * RATE_POSTS * 0.8 / SLOWDOWN, "the client kept its rate")
        third = len(samples) // 3
        middle, last = samples[third:2 * third], samples[2 * third:]
        report = "\n".join("t=%5.1fs pages=%d free=%d rss=%d KiB" % s for s in samples)

        # the file stops growing: the last third needs no more pages than the middle one (plus slack
        # for a window or two of lines in flight), and freed pages are being reused
        self.assertLessEqual(max(s[1] for s in last), max(s[1] for s in middle) * 1.15 + 16, report)
        # resident memory levels off (within 5% + 2 MiB: this catches growth of the order of the
        # lines stored; bench/soak.sh runs longer for slower leaks)
        self.assertLessEqual(max(s[3] for s in last), max(s[3] for s in middle) * 1.05 + 2048, report)

        m = parse(srv.get("/metrics")[1].decode())
        self.assertGreater(val(m, "anomalog_retention_deleted_rows_total", table="logs"), 5000, report)
        self.assertGreater(val(m, "anomalog_retention_deleted_rows_total", table="windows"), 0, report)
        self.assertEqual(val(m, "anomalog_windows", status="failed"), 0)
        self.assertGreater(val(m, "anomalog_model_calls_total", outcome="ok"), 10)
        self.assertEqual(sum(v for (name, labels), v in m.items()
                             if name == "anomalog_model_calls_total" and dict(labels)["outcome"] != "ok"), 0)
        self.assertGreater(val(m, "anomalog_anomalies_total", severity="high", type="error_spike"), 0)
        bad = [ln for ln in srv.stderr().splitlines()
               if ln.startswith("{") and json.loads(ln)["level"] in ("warn", "error")]
        self.assertEqual(bad, [])
        print("\n" + report)


if __name__ == "__main__":
    unittest.main()
