"""incident.group_wait end to end, on the real binary with the baseline alone
and fake PagerDuty and webhook receivers (test_routing.py): an incident's open
is held for the group wait, so when a cascade's two ends (db, edge) are
analysed before its middle (payments) ties them, the later end's incident is
merged before anything of it was sent: its open is dropped, never sent, and no
resolve follows it; each destination gets one open, carrying the merged
incident as it is when the wait ends. With a group wait of 0 the old behaviour
stands (the later end pages under its own key and is resolved as merged).
test_incident_group_wait_merge.py has the merge into an incident already sent
and the restart during the wait.

The order of analysis is the test's: a long grace keeps every window open
until the test flushes it, one service at a time (POST /windows/flush?service=).
"""
import os
import time
import unittest

from harness import ServerTest, ndjson, slow, wait_for
from incident_log import generate
from test_routing import Receiver

T0 = 1795514400  # 2026-11-24T10:00:00Z
CASCADE = {"db", "payments", "checkout", "edge"}
ROWS = generate(seed=1, minutes=20, t0=T0)


class GroupWaitBase(ServerTest):
    """Helpers of the group-wait tests (this file and test_incident_group_wait_merge.py)."""
    autostart = False

    def serve(self, wait, db=None, routes="  - match: {}\n    to: [pd, hook]\n"):
        """A server routing every finding to PagerDuty and a webhook (or as routes say), opens held for wait
        seconds."""
        self.pd, self.hook = Receiver(default=202).start(), Receiver().start()
        self.addCleanup(self.pd.stop)
        self.addCleanup(self.hook.stop)
        self.routes = routes
        return self.restart(wait, db)

    def restart(self, wait, db=None):
        cfg = os.path.join(self.dir, "c.yaml")
        with open(cfg, "w") as f:
            f.write("destinations:\n"
                    "  pd: {type: pagerduty, url: '%s/v2/enqueue', routing_key: K3Y}\n"
                    "  hook: {type: webhook, url: '%s/h'}\n"
                    "routes:\n%s" % (self.pd.url, self.hook.url, self.routes))
        return self.start_server(args=["--llm-url", "none", "--window", "1m", "--grace", "1h", "--config", cfg,
                                       "--incident-group-wait", "%gs" % wait, "--notify-retry-base", "200ms",
                                       "--notify-retry-max", "1s"], db=db)

    def analyse(self, srv, services):
        """Ingests the services' lines, then closes their windows one service at a time, in that order,
        each analysed before the next is closed."""
        rows = [r for r in ROWS if r["service"] in services]
        for i in range(0, len(rows), 2000):
            self.assertEqual(srv.ingest(ndjson(rows[i:i + 2000]))[0], 202)
        for service in services:
            self.assertEqual(srv.request("POST", "/windows/flush?service=" + service)[0], 200)

            def done():
                w = srv.get("/windows?limit=1000&service=" + service)[1]["windows"]
                return w and all(x["status"] in ("analyzed", "failed") for x in w)
            wait_for(done, timeout=slow(60), what="%s's windows analysed" % service)

    def incidents(self, srv):
        return srv.get("/incidents?limit=1000")[1]["incidents"]

    def ends(self, srv):
        """The two incidents of the cascade's ends, db's first."""
        ends = [i for i in self.incidents(srv) if set(i["services"]) & {"db", "edge"} and i["members"] > 1]
        self.assertEqual(sorted(s for i in ends for s in i["services"]), ["db", "edge"], ends)
        return sorted(ends, key=lambda i: i["id"])

    def delivered(self, srv):
        wait_for(lambda: srv.get("/notifications?status=pending")[1]["notifications"] == [], timeout=slow(60),
                 what="every notification delivered")

    def pd_events(self, key):
        return [b for _, _, b, _ in self.pd.got() if b["dedup_key"] == key]


class GroupWaitTest(GroupWaitBase):
    def test_a_cascade_analysed_ends_first_pages_once_per_destination(self):
        wait = slow(20)
        srv = self.serve(wait)
        t0 = time.time()
        self.analyse(srv, ["db", "edge", "auth"])
        first, later = self.ends(srv)
        self.assertLess(time.time() - t0, wait, "the ends took longer than the group wait to analyse")
        # both ends' opens are held: queued, due when the wait ends, nothing sent
        pending = srv.get("/notifications?status=pending&limit=1000")[1]["notifications"]
        keys = {"anomalog:incident:%d" % i["id"] for i in (first, later)}
        self.assertTrue(keys <= {n["dedup_key"] for n in pending}, pending)
        self.assertEqual([n["payload"]["event"] for n in pending if n["destination"] == "hook"
                          and n["dedup_key"] in keys], ["open", "open"])
        self.assertEqual([b for _, _, b, _ in self.pd.got() if b["dedup_key"] in keys], [])
        # the middle ties them: the later end is merged into the first before either was sent
        self.analyse(srv, ["payments", "checkout"])
        self.assertLess(time.time() - t0, wait, "the cascade took longer than the group wait to analyse")
        cascade = srv.get("/incidents/%d" % first["id"])[1]
        self.assertEqual(set(cascade["services"]), CASCADE, cascade)
        self.assertEqual(srv.get("/incidents/%d" % later["id"])[1]["merged_into"], first["id"])
        self.delivered(srv)
        key, gone = "anomalog:incident:%d" % first["id"], "anomalog:incident:%d" % later["id"]
        # PagerDuty: one trigger for the cascade, as the wait ends; nothing ever under the merged key
        self.assertEqual(self.pd_events(gone), [])
        mine = self.pd_events(key)
        self.assertEqual([e["event_action"] for e in mine], ["trigger"], mine)
        self.assertEqual(set(mine[0]["payload"]["custom_details"]["incident"]["services"]), CASCADE)
        self.assertEqual(mine[0]["payload"]["custom_details"]["incident"]["root_service"], "db")
        triggers = [b["dedup_key"] for _, _, b, _ in self.pd.got() if b["event_action"] == "trigger"]
        self.assertEqual(len(triggers), len(set(triggers)), triggers)  # one trigger per incident
        # the webhook: one open for the cascade, carrying all of it; nothing under the merged key
        hk = [b for _, _, b, _ in self.hook.got() if b["dedup_key"] == key]
        self.assertEqual([b["event"] for b in hk], ["open"], hk)
        self.assertEqual(set(hk[0]["incident"]["services"]), CASCADE)
        self.assertEqual(hk[0]["incident"]["members"], cascade["members"])
        self.assertEqual([b for _, _, b, _ in self.hook.got() if b["dedup_key"] == gone], [])

    def test_group_wait_0_sends_at_once_and_the_later_end_pages_on_its_own(self):
        srv = self.serve(0)
        self.analyse(srv, ["db", "edge", "auth"])
        first, later = self.ends(srv)
        self.analyse(srv, ["payments", "checkout"])
        self.delivered(srv)
        key, gone = "anomalog:incident:%d" % first["id"], "anomalog:incident:%d" % later["id"]
        self.assertEqual(self.pd_events(key)[0]["event_action"], "trigger")
        # the old behaviour: the later end triggered under its own key, then was resolved as merged
        self.assertEqual([e["event_action"] for e in self.pd_events(gone)][0], "trigger")
        self.assertEqual([e["event_action"] for e in self.pd_events(gone)][-1], "resolve")
        hk = [b for _, _, b, _ in self.hook.got() if b["dedup_key"] == gone]
        self.assertEqual((hk[0]["event"], hk[-1]["event"]), ("open", "resolve"), hk)
        self.assertIn("merged into incident #%d" % first["id"], hk[-1]["message"])


if __name__ == "__main__":
    unittest.main()
