"""incident.group_wait end to end (test_incident_group_wait.py has the setting
and the helpers): an incident merged into another inside its wait, where the
other was already sent, gives it an update instead of an open of its own; a
held open is in the database, so a server killed (SIGKILL) during the wait
sends it after its restart, not before the wait ends."""
import time
import unittest

from harness import slow, wait_for
from test_incident_group_wait import GroupWaitBase


class GroupWaitMergeTest(GroupWaitBase):
    def test_a_merged_open_still_held_where_the_incident_was_sent_becomes_its_update(self):
        # PagerDuty hears of db and edge only, the webhook of everything
        wait = slow(12)
        srv = self.serve(wait, routes="  - match: {service: db}\n    to: [pd, hook]\n"
                                      "  - match: {service: edge}\n    to: [pd, hook]\n"
                                      "  - match: {}\n    to: hook\n")
        self.analyse(srv, ["db"])
        first = [i for i in self.incidents(srv) if "db" in i["services"] and i["members"] > 1][0]
        key = "anomalog:incident:%d" % first["id"]
        wait_for(lambda: self.pd_events(key), timeout=wait + slow(30), what="db's incident sent after the wait")
        # edge's incident opens (held), then payments ties it to db's inside its wait
        t0 = time.time()
        self.analyse(srv, ["edge", "auth"])
        later = [i for i in self.incidents(srv) if "edge" in i["services"] and i["members"] > 1][0]
        self.analyse(srv, ["payments"])
        self.assertLess(time.time() - t0, wait, "took longer than the group wait to analyse")
        self.assertEqual(srv.get("/incidents/%d" % later["id"])[1]["merged_into"], first["id"])
        self.delivered(srv)
        gone = "anomalog:incident:%d" % later["id"]
        self.assertEqual(self.pd_events(gone), [])
        # PagerDuty: payments routes not there, so edge's held open became the update of db's incident
        pd = self.pd_events(key)
        self.assertEqual([e["event_action"] for e in pd], ["trigger", "trigger"], pd)
        self.assertEqual(pd[1]["payload"]["custom_details"]["incident"]["event"], "update")
        self.assertEqual(pd[1]["payload"]["component"], "edge")
        self.assertLessEqual({"db", "edge", "payments"}, set(pd[1]["payload"]["custom_details"]["incident"]["services"]))
        # the webhook: payments' own update went there, so edge's held open was dropped
        hk = [b for _, _, b, _ in self.hook.got() if b["dedup_key"] == key]
        self.assertEqual([b["event"] for b in hk], ["open"] + ["update"] * (len(hk) - 1), hk)
        self.assertEqual([b["anomaly"]["service"] for b in hk[1:]], ["payments"] * (len(hk) - 1), hk)
        self.assertEqual([b for _, _, b, _ in self.hook.got() if b["dedup_key"] == gone], [])

    def test_a_held_open_survives_kill_9_and_is_sent_after_the_restart(self):
        wait = slow(10)
        srv = self.serve(wait)
        t0 = time.time()
        self.analyse(srv, ["db", "payments"])
        self.assertLess(time.time() - t0, wait, "took longer than the group wait to analyse")
        inc = [i for i in self.incidents(srv) if "payments" in i["services"]][0]
        key = "anomalog:incident:%d" % inc["id"]
        held = [n for n in srv.get("/notifications?status=pending&limit=1000")[1]["notifications"]
                if n["dedup_key"] == key]
        self.assertEqual(sorted(n["destination"] for n in held), ["hook", "pd"], held)
        self.assertEqual(self.pd_events(key), [])
        srv.kill()  # SIGKILL, inside the wait
        srv = self.restart(wait, db=srv.db)
        wait_for(lambda: self.pd_events(key), timeout=slow(60), what="the held open sent after the restart")
        self.assertEqual([e["event_action"] for e in self.pd_events(key)], ["trigger"])
        hk = [b for _, _, b, _ in self.hook.got() if b["dedup_key"] == key]
        self.assertEqual([b["event"] for b in hk], ["open"])
        self.assertEqual(set(hk[0]["incident"]["services"]), {"db", "payments"})
        # not before the wait: due when the incident was group_wait old
        due = min(n["next_attempt_at"] for n in held)
        sent = [n for n in srv.get("/notifications?status=sent&limit=1000")[1]["notifications"]
                if n["dedup_key"] == key]
        self.assertTrue(all(n["sent_at"] >= due for n in sent), (due, sent))


if __name__ == "__main__":
    unittest.main()
