"""The templates table is bounded per service and pruned with retention
(issues 15 and 16).

- A service with more distinct templates than digest.max_templates keeps at
  most that many rows (the least recently seen go, as in the miner).
- A template not recorded for retention.windows is deleted by the retention
  pass; analysis of its service goes on: the live miner records the
  template again under its id when a later window sees it, and after a
  restart (the miner rebuilt from the table) a new template gets an id above
  every id the service ever had, never a pruned one.
"""
import time
import unittest

from harness import ServerTest, db_rows, ndjson, wait_for

T0 = 1795514400  # 2026-11-24T10:00:00Z
BASE = ["--llm-url", "none", "--window", "1m", "--analysis-skip-quiet-windows", "false"]


def message(k):
    """A message of its own template: the miner keeps messages of different token counts apart."""
    return "worker reported " + " ".join(["phase"] * k) + " done"


def rows(t, ks, service="batch"):
    return ndjson([{"ts": t + i % 50, "service": service, "level": "info", "message": message(k)}
                   for i, k in enumerate(ks)])


class TemplateBoundsTest(ServerTest):
    autostart = False

    def analysed(self, srv, n, service="batch", query=""):
        srv.request("POST", "/windows/flush")
        wait_for(lambda: len(srv.get("/windows?status=analyzed&service=" + service + query)[1]["windows"]) >= n,
                 timeout=30, what="%d window(s) of %s analysed" % (n, service))

    def templates(self, srv, service="batch"):
        """{text: id} of the service's rows in the templates table."""
        return {text: tid for tid, text in db_rows(
            srv.db, "SELECT t.id, t.text FROM templates t JOIN services s ON s.id = t.service_id WHERE s.name = ?",
            (service,))}

    def test_table_holds_at_most_the_bound(self):
        srv = self.start_server(args=BASE + ["--digest-max-templates", "10", "--digest-max-window-templates", "10"])
        # three windows of 8 new templates each: 24 templates, 10 kept
        for w in range(3):
            self.assertEqual(srv.ingest(rows(T0 + 60 * w, range(8 * w + 1, 8 * w + 9)))[0], 202)
            self.analysed(srv, w + 1)
        kept = self.templates(srv)
        self.assertEqual(len(kept), 10, kept)
        # the last window's eight are all there (most recently seen), the first window's are gone
        for k in range(17, 25):
            self.assertIn(message(k), kept)
        for k in range(1, 9):
            self.assertNotIn(message(k), kept)
        # another service has a bound of its own
        self.assertEqual(srv.ingest(rows(T0, range(1, 9), service="other"))[0], 202)
        self.analysed(srv, 1, service="other")
        self.assertEqual(len(self.templates(srv, "other")), 8)
        self.assertEqual(len(self.templates(srv)), 10)

    def test_retention_prunes_templates_and_analysis_goes_on(self):
        srv = self.start_server(args=BASE + ["--retention-windows", "4s", "--retention-lines", "0"])
        minute = int(time.time()) // 60 * 60  # every batch's lines in one window
        self.assertEqual(srv.ingest(rows(minute - 120, [1, 2, 3]))[0], 202)
        self.analysed(srv, 1)
        first = self.templates(srv)
        self.assertEqual(len(first), 3, first)
        top = max(first.values())
        # retention.windows later, the templates are gone (with the window)
        wait_for(lambda: not self.templates(srv), timeout=30, what="templates pruned by retention")
        self.assertGreaterEqual(srv.metric("anomalog_retention_deleted_rows_total", table="templates"), 3)

        # the live miner still holds them: a later window records them again under the same ids
        self.assertEqual(srv.ingest(rows(minute - 60, [1, 2, 3, 4]))[0], 202)
        srv.request("POST", "/windows/flush")
        seen = {}

        def recorded():
            seen.update(self.templates(srv))
            return len(seen) == 4
        wait_for(recorded, timeout=30, what="the second window's templates recorded")
        for k in (1, 2, 3):
            self.assertEqual(seen[message(k)], first[message(k)])
        self.assertGreater(seen[message(4)], top)
        top = max(seen.values())
        self.assertEqual(srv.get("/windows?status=failed")[1]["windows"], [])
        wait_for(lambda: not self.templates(srv), timeout=30, what="templates pruned again")
        srv.stop()

        # restarted, the miner is rebuilt from a table retention emptied: no id the service ever had is given to
        # a template again (the old ones' counts and feedback must not carry over to another template)
        srv = self.start_server(args=BASE + ["--retention-windows", "0"])
        self.assertEqual(srv.ingest(rows(T0, [1, 2, 3, 4, 5]))[0], 202)
        self.analysed(srv, 1, query="&until=%d" % (T0 + 60))
        again = self.templates(srv)
        self.assertEqual(len(again), 5, again)
        self.assertEqual(sorted(again.values()), list(range(top + 1, top + 6)))
        self.assertEqual(db_rows(srv.db, "SELECT status, health FROM windows WHERE start_ms = ?", (T0 * 1000,)),
                         [("analyzed", "normal")])


if __name__ == "__main__":
    unittest.main()
