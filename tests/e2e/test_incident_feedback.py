"""Feedback on an incident, on the real binary with the baseline alone
(incident_log.py's cascade and the credential stuffing beside it):
POST /incidents/{id}/feedback takes the body of the anomaly feedback, records
the verdict and note on the incident and gives them to every member anomaly
through the anomaly's own feedback (a false positive marks each member's
templates known-benign), leaving other incidents' anomalies alone. Unknown
incidents are 404, bad bodies 400 naming the field, and it needs the write
token like the anomaly feedback."""
import json
import unittest

import test_incidents as ti
from harness import db_rows

J = {"Content-Type": "application/json"}


class IncidentFeedbackTest(ti.IncidentBase):
    def feedback(self, srv, path, body, headers=J):
        return srv.request("POST", path, body if isinstance(body, str) else json.dumps(body), headers)

    def test_feedback_reaches_every_member_and_shows_on_the_incident(self):
        srv = self.serve()
        self.load(srv, ti.generate(seed=1, minutes=20, t0=ti.T0))
        cascade, stuffing = self.cascade_and_stuffing(self.incidents(srv))
        self.assertIsNone(cascade["feedback"])
        members = cascade["anomaly_ids"]
        self.assertGreater(len(members), 1)
        tids = [t for (x,) in db_rows(srv.db, "SELECT template_ids FROM anomalies WHERE incident_id = ?",
                                      (cascade["id"],)) for t in json.loads(x or "[]")]
        self.assertTrue(tids)
        self.assertEqual(db_rows(srv.db, "SELECT count(*) FROM templates WHERE benign = 1"), [(0,)])

        st, got = self.feedback(srv, "/incidents/%d/feedback" % cascade["id"],
                                {"verdict": "false_positive", "note": "db failover drill"})[:2]
        self.assertEqual(st, 200, got)
        self.assertEqual((got["id"], got["feedback"], got["feedback_note"], got["anomaly_ids"]),
                         (cascade["id"], "false_positive", "db failover drill", members))
        self.assertEqual(len(got["timeline"]), len(members))
        # every member carries it, no other anomaly does
        for a in self.anomalies(srv):
            want = ("false_positive", "db failover drill") if a["id"] in members else (None, None)
            self.assertEqual((a["feedback"], a["feedback_note"]), want, a)
        # through the anomaly's own step: each member's templates are known-benign now, and only theirs
        benign = {t for (t,) in db_rows(srv.db, "SELECT id FROM templates WHERE benign = 1")}
        self.assertEqual(benign, set(tids))
        # it shows on the incident, read back and listed; the other incident has none
        one = srv.get("/incidents/%d" % cascade["id"])[1]
        self.assertEqual((one["feedback"], one["feedback_note"]), ("false_positive", "db failover drill"))
        listed = {i["id"]: i for i in self.incidents(srv)}
        self.assertEqual(listed[cascade["id"]]["feedback"], "false_positive")
        self.assertIsNone(listed[stuffing["id"]]["feedback"])
        # a second verdict replaces the first, on the incident and its members; no note clears the note
        st, got = self.feedback(srv, "/incidents/%d/feedback" % cascade["id"], {"verdict": "true_positive"})[:2]
        self.assertEqual((st, got["feedback"], got["feedback_note"]), (200, "true_positive", None), got)
        self.assertEqual({(a["feedback"], a["feedback_note"]) for a in self.anomalies(srv) if a["id"] in members},
                         {("true_positive", None)})

    def test_unknown_incidents_bad_bodies_and_tokens_are_refused(self):
        srv = self.serve()
        self.load(srv, ti.generate(seed=1, minutes=14, t0=ti.T0))
        inc = self.incidents(srv)[0]
        path = "/incidents/%d/feedback" % inc["id"]
        self.assertError(self.feedback(srv, "/incidents/999999/feedback", {"verdict": "true_positive"}),
                         404, "not_found")
        self.assertError(self.feedback(srv, "/incidents/abc/feedback", {"verdict": "true_positive"}),
                         400, "invalid_parameter")
        for body, field in (({"verdict": "meh"}, "verdict"), ({"note": "x"}, "verdict"),
                            ({"verdict": "true_positive", "note": 3}, "note"),
                            ({"verdict": "true_positive", "note": "x" * 4097}, "note"), ([1], None)):
            with self.subTest(body=body):
                err = self.assertError(self.feedback(srv, path, body), 400, "invalid_entry", field=field)
                self.assertIn(field or "body", err["message"])
        self.assertError(self.feedback(srv, path, "{oops"), 400, "invalid_json")
        self.assertError(self.feedback(srv, path, {"verdict": "true_positive"}, {}), 415, "unsupported_media_type")
        # nothing of that changed the incident or its members
        self.assertIsNone(srv.get("/incidents/%d" % inc["id"])[1]["feedback"])
        self.assertTrue(all(a["feedback"] is None for a in self.anomalies(srv)))

    def test_it_needs_the_write_token(self):
        srv = self.start_server(args=["--llm-url", "none"],
                                env={"ANOMALOG_AUTH_READ_TOKEN": "rd-tok", "ANOMALOG_AUTH_WRITE_TOKEN": "wr-tok"})
        body = json.dumps({"verdict": "false_positive"})
        for token, want in ((None, 401), ("rd-tok", 401), ("bogus", 401), ("wr-tok", 404)):
            with self.subTest(token=token):
                h = dict(J, **({"Authorization": "Bearer " + token} if token else {}))
                st, b, _ = srv.request("POST", "/incidents/999999/feedback", body, h)
                self.assertEqual(st, want, b)
                if want == 401:
                    self.assertIn("needs the write token", b["error"]["message"])


if __name__ == "__main__":
    unittest.main()
