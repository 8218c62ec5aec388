"""Incidents end to end, on the real binary with the baseline alone: a
generated multi-service log (incident_log.py) with a cascade down a call graph
(db locks -> payments timeouts -> checkout fails -> edge 502s) and a
credential-stuffing run on auth at the same time. The cascade must come out as
one incident rooted at db, the stuffing as its own, every anomaly carrying its
incident; incidents stay open until a quiet period has passed in event time,
then resolve; the listing filters and pages like /anomalies. With the fake
OpenAI-compatible model, an incident of more than one member gets one model
call, delimited and checked; without a usable answer the correlation's
summary stands."""
import unittest

import json

from harness import FakeLLM, ServerTest, ndjson, slow, wait_for
from incident_log import generate

T0 = 1795514400  # 2026-11-24T10:00:00Z
CASCADE = {"db", "payments", "checkout", "edge"}


class IncidentBase(ServerTest):
    autostart = False

    def serve(self, *extra, db=None):
        return self.start_server(args=["--llm-url", "none", "--window", "1m"] + list(extra), db=db)

    def load(self, srv, rows):
        """Ingests rows in batches, closes every window and waits until all are analysed."""
        for i in range(0, len(rows), 2000):
            st, body, _ = srv.ingest(ndjson(rows[i:i + 2000]))
            self.assertEqual(st, 202, body)
        self.assertEqual(srv.request("POST", "/windows/flush")[0], 200)

        def done():
            w = srv.get("/windows?limit=1000")[1]["windows"]
            return w and all(x["status"] in ("analyzed", "failed") for x in w)
        wait_for(done, timeout=slow(60), what="every window analysed")

    def incidents(self, srv, query=""):
        st, body, _ = srv.get("/incidents?limit=1000" + query)
        self.assertEqual(st, 200, body)
        return body["incidents"]

    def anomalies(self, srv):
        return srv.get("/anomalies?limit=1000")[1]["anomalies"]

    def cascade_and_stuffing(self, incs):
        cascade = [i for i in incs if "db" in i["services"]]
        stuffing = [i for i in incs if "auth" in i["services"]]
        self.assertEqual(len(stuffing), 1, incs)
        big = [i for i in cascade if i["members"] > 1]
        self.assertEqual(len(big), 1, incs)
        return big[0], stuffing[0]



class IncidentTest(IncidentBase):
    def test_a_cascade_is_one_incident_rooted_at_db_and_the_stuffing_beside_it_is_another(self):
        srv = self.serve("--incident-quiet", "3m")
        self.load(srv, generate(seed=1, minutes=20, t0=T0))
        incs = self.incidents(srv)
        cascade, stuffing = self.cascade_and_stuffing(incs)
        # the cascade grouped whole, in the order it spread, the root named with its reason
        self.assertEqual(cascade["services"], ["db", "payments", "checkout", "edge"], cascade)
        self.assertEqual(cascade["root_service"], "db", cascade)
        self.assertIn("payments", cascade["root_reason"])
        self.assertIn("db", cascade["summary"])
        self.assertEqual(cascade["severity"], "high")
        # its span is that of its anomalous lines (12:05 .. about 14:50), not of its windows
        self.assertEqual(cascade["start"][:19], "2026-11-24T10:12:05")
        self.assertGreaterEqual(cascade["end"], "2026-11-24T10:14:40")
        self.assertLess(cascade["end"], "2026-11-24T10:15:00")
        # the unrelated trouble at the same time stays apart
        self.assertEqual(stuffing["services"], ["auth"], stuffing)
        self.assertEqual(stuffing["root_service"], "auth")
        self.assertLess(stuffing["start"], cascade["start"])
        self.assertGreater(stuffing["end"], cascade["start"])
        # no incident mixes the two, and no other incident holds a cascade service past its first minutes
        for i in incs:
            self.assertFalse("auth" in i["services"] and set(i["services"]) & CASCADE, i)
            if i["id"] != cascade["id"]:
                self.assertTrue(i["end"] < "2026-11-24T10:12" or not set(i["services"]) & CASCADE, i)
        # each anomaly carries its incident; an incident's anomaly_ids are exactly its members
        an = self.anomalies(srv)
        self.assertTrue(an)
        by_incident = {}
        for a in an:
            self.assertIsInstance(a["incident_id"], int, a)
            by_incident.setdefault(a["incident_id"], []).append(a["id"])
        for i in incs:
            self.assertEqual(i["anomaly_ids"], sorted(by_incident[i["id"]]), i)
            self.assertEqual(i["members"], len(i["anomaly_ids"]))
        # the timeline: every member once, by its first anomalous line
        st, one, _ = srv.get("/incidents/%d" % cascade["id"])
        self.assertEqual(st, 200, one)
        tl = one["timeline"]
        self.assertEqual(sorted(m["anomaly_id"] for m in tl), cascade["anomaly_ids"])
        self.assertEqual([m["first"] for m in tl], sorted(m["first"] for m in tl))
        self.assertEqual(tl[0]["service"], "db")
        self.assertTrue(all(m["service"] != "db" or m["mentions"] == [] for m in tl), tl)
        self.assertIn("db", [x for m in tl if m["service"] == "payments" for x in m["mentions"]])
        # quiet for 3 minutes of event time (the log runs to 10:20): resolved at the scheduler's next tick
        wait_for(lambda: self.incidents(srv, "&status=open") == [], timeout=slow(10), what="resolved")
        self.assertTrue(all(i["resolved_at"] for i in self.incidents(srv)))

    def test_incidents_stay_open_until_the_quiet_period_has_passed(self):
        srv = self.serve()  # the default quiet period, 15 minutes: the log ends 5 minutes after the cascade
        self.load(srv, generate(seed=1, minutes=20, t0=T0))
        cascade, stuffing = self.cascade_and_stuffing(self.incidents(srv))
        self.assertEqual((cascade["status"], stuffing["status"]), ("open", "open"))
        self.assertIsNone(cascade["resolved_at"])
        open_now = self.incidents(srv, "&status=open")
        self.assertEqual(srv.metric("anomalog_incidents_open"), len(open_now))
        self.assertEqual(srv.metric("anomalog_incident_members_open"), sum(i["members"] for i in open_now))
        # twelve more quiet minutes of every service's routine lines: past 15 minutes after the cascade
        more = [r for r in generate(seed=2, minutes=32, t0=T0) if r["ts"] >= T0 + 20 * 60 and
                r["level"] == "info"]
        self.load(srv, more)
        wait_for(lambda: self.incidents(srv, "&status=open") == [], timeout=slow(20), what="resolved")
        self.assertEqual((srv.metric("anomalog_incidents_open"), srv.metric("anomalog_incident_members_open")), (0, 0))
        got = srv.get("/incidents/%d" % cascade["id"])[1]
        self.assertEqual(got["status"], "resolved")
        self.assertIsNotNone(got["resolved_at"])
        # resolved incidents take no new member: a finding now opens a new incident
        self.assertEqual(got["members"], cascade["members"])

    def test_the_cascade_s_middle_arriving_last_merges_the_two_ends(self):
        srv = self.serve()
        rows = generate(seed=1, minutes=20, t0=T0)
        # db's and edge's windows are analysed first: nothing ties the two ends yet
        self.load(srv, [r for r in rows if r["service"] in ("db", "edge", "auth")])
        ends = [i for i in self.incidents(srv) if set(i["services"]) & {"db", "edge"} and i["members"] > 1]
        self.assertEqual(sorted(s for i in ends for s in i["services"]), ["db", "edge"], ends)
        # payments names db and shares trace ids with edge: it bridges them, and the older takes the other
        self.load(srv, [r for r in rows if r["service"] in ("payments", "checkout")])
        incs = self.incidents(srv)
        cascade, _ = self.cascade_and_stuffing(incs)
        self.assertEqual(set(cascade["services"]), CASCADE, cascade)
        self.assertEqual(cascade["root_service"], "db")
        self.assertEqual(cascade["id"], min(i["id"] for i in ends))
        gone = max(i["id"] for i in ends)
        self.assertNotIn(gone, [i["id"] for i in incs])  # listed no more
        st, merged, _ = srv.get("/incidents/%d" % gone)
        self.assertEqual(st, 200, merged)
        self.assertEqual((merged["merged_into"], merged["status"], merged["anomaly_ids"], merged["timeline"]),
                         (cascade["id"], "resolved", [], []))
        an = self.anomalies(srv)
        self.assertEqual(sorted(a["id"] for a in an if a["incident_id"] == cascade["id"]), cascade["anomaly_ids"])

    def flush(self, srv, service):
        """Closes one service's open windows and waits until every window of it is analysed."""
        self.assertEqual(srv.request("POST", "/windows/flush?service=" + service)[0], 200)

        def done():
            w = srv.get("/windows?limit=1000&service=" + service)[1]["windows"]
            return w and all(x["status"] in ("analyzed", "failed") for x in w)
        wait_for(done, timeout=slow(60), what="%s's windows analysed" % service)

    def test_an_incident_waits_for_every_service_s_windows_near_it_before_resolving_in_event_time(self):
        """a601ace: the members' watermarks are far past the cascade and their windows analysed, but edge's
        windows near it still wait: the incident stays open and edge joins it once analysed. A control
        incident far from edge's lines shows that the resolver ran after the members were analysed."""
        # a long grace: no window closes by itself; each service's are closed (flushed) in the test's order
        srv = self.serve("--incident-quiet", "3m", "--grace", "1h")
        rows = generate(seed=1, minutes=20, t0=T0)
        # edge's lines start at 10:00, more than the quiet period after the control (search, 10:05..10:06:40)
        rows = [r for r in rows if r["service"] != "edge" or r["ts"] >= T0 + 600]
        rows += [{"ts": T0 + 300 + i * 2.0, "service": "search", "level": "error",
                  "message": "shard %d unavailable: index segment read failed (I/O error)" % (i % 3)}
                 for i in range(50)]
        rows.sort(key=lambda r: r["ts"])
        for i in range(0, len(rows), 2000):
            self.assertEqual(srv.ingest(ndjson(rows[i:i + 2000]))[0], 202)
        for service in ("db", "payments", "checkout", "auth", "inventory"):
            self.flush(srv, service)
        cascade = [i for i in self.incidents(srv) if "payments" in i["services"]]
        self.assertEqual(len(cascade), 1, cascade)
        self.assertEqual(set(cascade[0]["services"]), {"db", "payments", "checkout"}, cascade)
        # search last: once its incident is resolved, the resolver has run with every member of the cascade
        # analysed and their watermarks (10:20) far past its end plus the quiet period
        self.flush(srv, "search")
        control = [i for i in self.incidents(srv) if i["services"] == ["search"]]
        self.assertEqual(len(control), 1, self.incidents(srv))
        wait_for(lambda: srv.get("/incidents/%d" % control[0]["id"])[1]["status"] == "resolved", timeout=slow(20),
                 what="the control incident resolved")
        got = srv.get("/incidents/%d" % cascade[0]["id"])[1]
        self.assertEqual(got["status"], "open", got)  # edge's windows near it wait for analysis
        # edge analysed: it joins the cascade instead of opening an incident of its own
        self.flush(srv, "edge")
        got = srv.get("/incidents/%d" % cascade[0]["id"])[1]
        self.assertEqual(set(got["services"]), CASCADE, got)
        self.assertFalse([i for i in self.incidents(srv) if i["services"] == ["edge"]], self.incidents(srv))
        wait_for(lambda: srv.get("/incidents/%d" % cascade[0]["id"])[1]["status"] == "resolved",
                 timeout=slow(20), what="the cascade resolved once edge was analysed")

    def test_listing_filters_pages_and_refuses_bad_parameters(self):
        srv = self.serve("--incident-quiet", "3m")
        self.load(srv, generate(seed=1, minutes=20, t0=T0))
        incs = self.incidents(srv)
        self.assertGreaterEqual(len(incs), 2)
        self.assertEqual([i["start"] for i in incs], sorted((i["start"] for i in incs), reverse=True))
        auth = self.incidents(srv, "&service=auth")
        self.assertEqual([i["services"] for i in auth], [["auth"]])
        high = self.incidents(srv, "&severity=high")
        self.assertTrue(high and all(i["severity"] in ("high", "critical") for i in high), high)
        self.assertEqual(self.incidents(srv, "&since=2026-11-24T10:30:00Z"), [])
        self.assertEqual(len(self.incidents(srv, "&until=2026-11-24T10:12:00Z")),
                         len([i for i in incs if i["start"] < "2026-11-24T10:12:00"]))
        # paging: one at a time, in the same order, nothing twice
        seen, cursor = [], None
        while True:
            st, body, _ = srv.get("/incidents?limit=1" + ("&cursor=" + cursor if cursor else ""))
            self.assertEqual(st, 200, body)
            seen += [i["id"] for i in body["incidents"]]
            cursor = body["next_cursor"]
            if not cursor:
                break
        self.assertEqual(seen, [i["id"] for i in incs])
        self.assertError(srv.get("/incidents?status=closed"), 400, "invalid_parameter")
        self.assertError(srv.get("/incidents?severity=huge"), 400, "invalid_parameter")
        self.assertError(srv.get("/incidents?cursor=x"), 400, "invalid_parameter")
        self.assertError(srv.get("/incidents/abc"), 400, "invalid_parameter")
        self.assertError(srv.get("/incidents/999999"), 404, "not_found")

    def test_incidents_off_leaves_anomalies_without_one(self):
        srv = self.serve("--incident-enabled", "false")
        self.load(srv, generate(seed=1, minutes=14, t0=T0))
        self.assertEqual(self.incidents(srv), [])
        an = self.anomalies(srv)
        self.assertTrue(an)
        self.assertTrue(all(a["incident_id"] is None for a in an))


ANSWER = {"health": "normal", "anomalies": [],  # a window's answer and an incident's at once: each takes its fields
          "summary": "Row locks in db stalled payments, then checkout and the edge.",
          "root_cause": "Lock contention on the orders table in db",
          "first_action": "Find the transaction holding the orders locks"}


class IncidentModelTest(IncidentBase):
    def setUp(self):
        super().setUp()
        self.llm = FakeLLM().start()
        self.addCleanup(self.llm.stop)

    def serve(self, *extra, db=None):
        return self.start_server(args=["--llm-url", self.llm.url, "--window", "1m", "--incident-quiet", "3m"] +
                                 list(extra), db=db)

    def incident_calls(self):
        calls = []
        for r in self.llm.requests():
            msgs = r["body"]["messages"] if isinstance(r["body"], dict) else []
            if msgs and msgs[0]["content"].startswith("You are a senior SRE reading one incident"):
                calls.append((msgs[0]["content"], msgs[1]["content"]))
        return calls

    def test_the_model_reads_an_incident_once_and_writes_its_summary(self):
        self.llm.script([], then={"mode": "fixed", "content": json.dumps(ANSWER)})
        srv = self.serve()
        self.load(srv, generate(seed=1, minutes=20, t0=T0))
        cascade, stuffing = self.cascade_and_stuffing(self.incidents(srv))

        def summarized():
            incs = self.incidents(srv)
            return all(i["summary_by"] == "llm" for i in incs if i["members"] > 1) and incs
        incs = wait_for(summarized, timeout=slow(30), what="the model's summaries")
        got = [i for i in incs if i["id"] == cascade["id"]][0]
        self.assertEqual((got["summary"], got["root_cause"], got["first_action"], got["summary_note"]),
                         (ANSWER["summary"], ANSWER["root_cause"], ANSWER["first_action"], None))
        self.assertEqual(got["root_service"], "db")  # the correlation's root is kept beside the model's words
        for i in incs:
            if i["members"] == 1:  # one finding: its summary is the finding's, no call
                self.assertEqual((i["summary_by"], i["root_cause"]), ("correlation", None))
        # one call per incident of more than one member, its findings delimited as data by a fresh nonce
        calls = self.incident_calls()
        self.assertEqual(len(calls), len([i for i in incs if i["members"] > 1]), [c[1][:200] for c in calls])
        cascade_call = [u for _, u in calls if "lock wait timeout exceeded" in u]
        self.assertEqual(len(cascade_call), 1)
        system, user = [c for c in calls if c[1] == cascade_call[0]][0]
        nonce = user.split("<<<INCIDENT nonce=")[1].split(">>>")[0]
        self.assertEqual(len(nonce), 32)
        self.assertIn("<<<END INCIDENT nonce=%s>>>" % nonce, system)
        body = user.split("<<<INCIDENT nonce=%s>>>" % nonce)[1].split("<<<END INCIDENT nonce=%s>>>" % nonce)[0]
        for service in CASCADE:
            self.assertIn(" %s " % service, body)
        self.assertIn("Correlation's root guess: db", body)
        # a window's answer went on as before: the baseline's findings stand beside the model's empty list
        self.assertTrue(srv.get("/anomalies?limit=1")[1]["anomalies"])

    def test_without_a_usable_answer_the_correlation_s_summary_stands(self):
        self.llm.script([], then={"mode": "fixed", "content": "I think the database is slow."})
        srv = self.serve("--analysis-schema-retries", "1")
        self.load(srv, generate(seed=1, minutes=20, t0=T0))
        cascade, _ = self.cascade_and_stuffing(self.incidents(srv))
        got = wait_for(lambda: (lambda i: i if i["summary_note"] else None)(
            srv.get("/incidents/%d" % cascade["id"])[1]), timeout=slow(30), what="the model's attempt")
        self.assertEqual((got["summary_by"], got["root_cause"]), ("correlation", None))
        self.assertEqual(got["summary"], cascade["summary"])
        self.assertIn("failed the check after 2 call(s)", got["summary_note"])
        self.assertEqual(len([u for _, u in self.incident_calls() if "lock wait timeout exceeded" in u]), 2)


if __name__ == "__main__":
    unittest.main()
