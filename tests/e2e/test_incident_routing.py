"""Routing by incident, end to end on the real binary with the baseline alone:
the generated cascade (db -> payments -> checkout -> edge) and the credential
stuffing beside it (incident_log.py) reach PagerDuty, Slack and a webhook (the
fake receivers of test_routing.py) as one alert per incident: one `open`,
updates under the same dedup key when a service joins or the severity rises,
one resolve once the incident is quiet; a cascade pages once. A real
Alertmanager lists the incident's alert while it is open and not after the
resolve (`endsAt`)."""
import json
import os
import unittest

from harness import ServerTest, ndjson, needs, slow, wait_for
from incident_log import generate
from test_routing import ALERTMANAGER, Receiver, start_alertmanager

T0 = 1795514400  # 2026-11-24T10:00:00Z
CASCADE = {"db", "payments", "checkout", "edge"}


class IncidentRoutingTest(ServerTest):
    autostart = False

    def serve(self, cfg_text, *extra):
        cfg = os.path.join(self.dir, "c.yaml")
        with open(cfg, "w") as f:
            f.write(cfg_text)
        return self.start_server(args=["--llm-url", "none", "--window", "1m", "--incident-quiet", "3m", "--config", cfg,
                                       "--notify-retry-base", "200ms", "--notify-retry-max", "1s"] + list(extra))

    def load(self, srv, rows):
        for i in range(0, len(rows), 2000):
            self.assertEqual(srv.ingest(ndjson(rows[i:i + 2000]))[0], 202)
        srv.request("POST", "/windows/flush")
        wait_for(lambda: all(w["status"] in ("analyzed", "failed")
                             for w in srv.get("/windows?limit=1000")[1]["windows"]), timeout=slow(60),
                 what="every window analysed")

    def settled(self, srv):
        """Waits until every incident is resolved and every notification delivered; returns the incidents."""
        wait_for(lambda: srv.get("/incidents?status=open")[1]["incidents"] == [], timeout=slow(20), what="resolved")
        wait_for(lambda: srv.get("/notifications?status=pending")[1]["notifications"] == [], timeout=slow(20),
                 what="delivered")
        return srv.get("/incidents?limit=1000")[1]["incidents"]

    def queued(self, srv, destination):
        """The bodies queued for a destination, oldest first."""
        n = srv.get("/notifications?limit=1000")[1]["notifications"]
        return [x["payload"] for x in reversed(n) if x["destination"] == destination]

    def test_a_cascade_pages_once_with_updates_and_a_resolve_under_one_key(self):
        pd, slack, hook = Receiver(default=202).start(), Receiver().start(), Receiver().start()
        for r in (pd, slack, hook):
            self.addCleanup(r.stop)
        srv = self.serve("destinations:\n"
                         "  pd: {type: pagerduty, url: '%s/v2/enqueue', routing_key: K3Y}\n"
                         "  chat: {type: slack, url: '%s/s'}\n"
                         "  hook: {type: webhook, url: '%s/h'}\n"
                         "routes:\n  - match: {severity_at_least: medium}\n    to: [pd, chat, hook]\n"
                         % (pd.url, slack.url, hook.url))
        self.load(srv, generate(seed=1, minutes=20, t0=T0))
        incs = self.settled(srv)
        cascade = [i for i in incs if set(i["services"]) == CASCADE]
        stuffing = [i for i in incs if i["services"] == ["auth"]]
        self.assertEqual((len(cascade), len(stuffing)), (1, 1), incs)
        cascade, stuffing = cascade[0], stuffing[0]
        key = "anomalog:incident:%d" % cascade["id"]

        # PagerDuty: the cascade is one alert: triggers under one key, then its resolve
        events = [b for _, _, b, _ in pd.got()]
        mine = [e for e in events if e["dedup_key"] == key]
        self.assertEqual(mine[-1], {"event_action": "resolve", "dedup_key": key, "routing_key": "K3Y"})
        self.assertEqual([e["event_action"] for e in mine[:-1]], ["trigger"] * (len(mine) - 1))
        self.assertTrue(mine[0]["payload"]["summary"].startswith("Incident #%d: " % cascade["id"]), mine[0])
        # every trigger for a cascade service is under the cascade's key: it paged once, unless an end of it
        # was analysed before its middle tied it in: that one paged under its own key and was resolved at
        # once, merged into the cascade
        cascade_keys = {e["dedup_key"] for e in events if e.get("payload", {}).get("component") in CASCADE}
        self.assertIn(key, cascade_keys)
        for other in cascade_keys - {key}:
            merged = srv.get("/incidents/%s" % other.rsplit(":", 1)[1])[1]
            self.assertEqual(merged["merged_into"], cascade["id"], merged)
            self.assertEqual([e["event_action"] for e in events if e["dedup_key"] == other][-1], "resolve")

        # the webhook: one open, updates only when a service joined or the severity rose, one resolve, last
        # (in the order they were queued: the senders deliver side by side)
        self.assertEqual(len(hook.got()), len(self.queued(srv, "hook")))
        hk = [b for b in self.queued(srv, "hook") if b["dedup_key"] == key]
        self.assertEqual([b["event"] for b in hk], ["open"] + ["update"] * (len(hk) - 2) + ["resolve"])
        for before, after in zip(hk, hk[1:-1]):
            grew = len(after["incident"]["services"]) > len(before["incident"]["services"])
            rose = ["low", "medium", "high", "critical"].index(after["incident"]["severity"]) > \
                ["low", "medium", "high", "critical"].index(before["incident"]["severity"])
            self.assertTrue(grew or rose, (before["incident"], after["incident"]))
        self.assertLessEqual(len(hk), 2 + 3 + 3)  # open, at most 3 services joining and 3 severity steps, resolve
        self.assertEqual(hk[-1]["incident"]["root_service"], "db")
        # the stuffing has its own key, opened and resolved
        sk = [b["event"] for b in self.queued(srv, "hook") if b["dedup_key"] == "anomalog:incident:%d" % stuffing["id"]]
        self.assertEqual((sk[0], sk[-1]), ("open", "resolve"))
        # Slack: the follow-up says it is resolved
        texts = [b["text"] for _, _, b, _ in slack.got()]
        self.assertTrue(any(t.startswith("*Incident #%d opened" % cascade["id"]) for t in texts), texts[:3])
        self.assertTrue(any(t.startswith("*Resolved* Incident #%d resolved" % cascade["id"]) for t in texts), texts)
        # far fewer notifications than findings
        self.assertLess(len(hk), len(cascade["anomaly_ids"]))

    def test_suppression_applies_to_incidents(self):
        hook = Receiver().start()
        self.addCleanup(hook.stop)
        srv = self.serve("suppress: 2h\ndestinations:\n  hook: {type: webhook, url: '%s/h'}\n" % hook.url)
        rows = generate(seed=1, minutes=20, t0=T0)
        self.load(srv, rows)
        self.settled(srv)
        # the same trouble again an hour later: new incidents, most of their pairs inside their interval
        self.load(srv, [dict(r, ts=r["ts"] + 3600) for r in rows])
        later = [i for i in self.settled(srv) if i["start"] >= "2026-11-24T11:00"]
        an = {a["id"]: a for a in srv.get("/anomalies?limit=1000")[1]["anomalies"]}
        keys = {b["dedup_key"] for b in self.queued(srv, "hook")}
        quiet = [i for i in later if all(an[x]["suppressed"] for x in i["anomaly_ids"])]
        self.assertTrue([i for i in quiet if set(i["services"]) == CASCADE], later)
        for i in later:  # an incident whose every member was suppressed notified nothing, not even a resolve
            self.assertEqual("anomalog:incident:%d" % i["id"] in keys, i not in quiet, i)

    @needs(os.path.exists(ALERTMANAGER), "prometheus-alertmanager")
    def test_a_real_alertmanager_lists_the_incident_until_it_is_resolved(self):
        port, get = start_alertmanager(self)
        srv = self.serve("destinations:\n  am: {type: alertmanager, url: 'http://127.0.0.1:%d/'}\n" % port,
                         "--incident-quiet", "1h")
        rows = generate(seed=1, minutes=20, t0=T0)
        self.load(srv, rows)
        incs = srv.get("/incidents?limit=1000")[1]["incidents"]
        cascade = [i for i in incs if set(i["services"]) == CASCADE][0]
        want = {"alertname": "AnomalogIncident", "incident": str(cascade["id"])}

        def listed():
            return [a for a in json.loads(get("/api/v2/alerts")[1] or b"[]") if a["labels"] == want]
        # the alert is listed from the first open on; the update that names db as the root follows once db's
        # findings have joined (analysed after checkout's and edge's, they change the root when they join)
        a = wait_for(lambda: [x for x in listed() if "likely root db" in x["annotations"].get("incident", "")],
                     timeout=slow(20), what="the incident's alert listed with its root, db")[0]
        self.assertEqual(a["status"]["state"], "active")
        # resolve it: restart with a short quiet period
        self.assertEqual(srv.stop(), 0)
        srv = self.serve("destinations:\n  am: {type: alertmanager, url: 'http://127.0.0.1:%d/'}\n" % port,
                         "--incident-quiet", "3m")
        self.settled(srv)
        wait_for(lambda: not [x for x in listed() if x["status"]["state"] == "active"], timeout=slow(20),
                 what="the alert resolved in Alertmanager")


if __name__ == "__main__":
    unittest.main()
