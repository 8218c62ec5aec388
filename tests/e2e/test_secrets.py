"""Secrets stay secret: the service's own credentials (ingest and read tokens,
the model's API key, PagerDuty's routing key, the Slack webhook's secret path,
the webhook signing secret) and secrets written in log lines appear in no
HTTP answer, no line of the service's own log (at debug level, text and
JSON), no row of the database and no notification, through a run that uses
every one of them: wrong and right tokens, analysis, routing, shutdown."""
import json
import os
import signal
import unittest

from harness import FakeLLM, ServerTest, db_rows, ndjson, wait_for
from test_routing import Receiver

T0 = 1795514400  # 2026-11-24T10:00:00Z

INGEST_TOKEN = "ingest-Tok3n-7f1e2d"
READ_TOKEN = "read-Tok3n-a9b8c7"
WRITE_TOKEN = "write-Tok3n-3c4d5e"
FILE_TOKEN = "file-Tok3n-55aa66"
API_KEY = "sk-model-K3y-0011223344"
ROUTING_KEY = "PDR0UT1NGK3Y0099"
SLACK_PATH = "/services/T0/B0/SLACKS3CR3TPATH"
HOOK_SECRET = "w3bh00k-s1gn1ng-s3cr3t"
CREDENTIALS = [INGEST_TOKEN, READ_TOKEN, WRITE_TOKEN, FILE_TOKEN, API_KEY, ROUTING_KEY, "SLACKS3CR3TPATH", HOOK_SECRET]
# secrets inside log text: redacted before they leave the host or reach an answer about the window
LOG_SECRETS = ["hunter2-pass", "AKIAIOSFODNN7EXAMPLE"]


class SecretsTest(ServerTest):
    autostart = False

    def setUp(self):
        super().setUp()
        self.llm = FakeLLM().start()
        self.addCleanup(self.llm.stop)
        self.pd = Receiver(body=b'{"status":"success"}').start()
        self.slack = Receiver().start()
        self.hook = Receiver().start()
        for r in (self.pd, self.slack, self.hook):
            self.addCleanup(r.stop)

    def run_everything(self, log_format):
        cfg = os.path.join(self.dir, "c.yaml")
        with open(cfg, "w") as f:
            f.write("auth:\n  tokens:\n    - token: %s\n      service: billing\n" % FILE_TOKEN)
        env = {"ANOMALOG_AUTH_INGEST_TOKEN": INGEST_TOKEN, "ANOMALOG_AUTH_READ_TOKEN": READ_TOKEN, "ANOMALOG_AUTH_WRITE_TOKEN": WRITE_TOKEN,
               "ANOMALOG_LLM_API_KEY": API_KEY, "ANOMALOG_PAGERDUTY_ROUTING_KEY": ROUTING_KEY,
               "ANOMALOG_PAGERDUTY_URL": self.pd.url + "/v2/enqueue",
               "ANOMALOG_SLACK_WEBHOOK_URL": self.slack.url + SLACK_PATH,
               "ANOMALOG_WEBHOOK_URL": self.hook.url + "/hook", "ANOMALOG_WEBHOOK_SECRET": HOOK_SECRET}
        srv = self.start_server(args=["--config", cfg, "--llm-url", self.llm.url, "--window", "1m",
                                      "--analysis-skip-quiet-windows", "false", "--log-level", "debug",
                                      "--log-format", log_format], env=env)
        ing = {"Authorization": "Bearer " + INGEST_TOKEN}
        rd = {"Authorization": "Bearer " + READ_TOKEN}
        wr = {"Authorization": "Bearer " + WRITE_TOKEN}
        answers = []

        def call(method, path, body=None, headers=None):
            st, b, h = srv.request(method, path, body=body, headers=headers)
            answers.append(json.dumps(b) if not isinstance(b, (bytes, str)) else str(b))
            answers.append(json.dumps(dict(h)))
            return st, b

        # wrong tokens of every kind, in every form shippers use
        for bad in ("Bearer " + INGEST_TOKEN[:-1], "Bearer " + READ_TOKEN, "Basic eDp4", "ApiKey " + API_KEY):
            self.assertEqual(call("POST", "/ingest", b"x\n", {"Authorization": bad, "Content-Type": "text/plain"})[0],
                             401)
        self.assertEqual(call("GET", "/anomalies", headers={"Authorization": "Bearer " + INGEST_TOKEN})[0], 401)

        lines = [{"ts": T0 + i, "service": "pay", "level": "error",
                  "message": "login failed password=%s key=%s" % (LOG_SECRETS[0], LOG_SECRETS[1])} for i in range(3)]
        self.assertEqual(call("POST", "/ingest", ndjson(lines).encode(),
                              dict(ing, **{"Content-Type": "application/x-ndjson"}))[0], 202)
        self.assertEqual(call("POST", "/ingest", b"2026-11-24T10:00:05Z ERROR card declined\n",
                              {"Authorization": "Bearer " + FILE_TOKEN, "Content-Type": "text/plain"})[0], 202)
        # the model echoes a secret-looking evidence line (stored redacted; it is not the digest's
        # line, so it is unverified and routed nowhere) and writes secrets in findings whose evidence
        # is a line of the billing window (verified, routed); what leaves for the receivers is redacted
        self.llm.script([], then={"mode": "fixed", "content": json.dumps({"health": "critical", "anomalies": [
            {"severity": "critical", "type": "security", "summary": "credential stuffing",
             "evidence": ["login failed password=%s key=%s" % tuple(LOG_SECRETS)],
             "recommended_action": "Lock the account"},
            {"severity": "critical", "type": "error_spike", "summary": "logins fail with password=%s" % LOG_SECRETS[0],
             "evidence": ["2026-11-24T10:00:05Z ERROR declined"], "recommended_action": "Rotate key %s" % LOG_SECRETS[1]},
            {"severity": "high", "type": "latency", "summary": "slow after password=%s" % LOG_SECRETS[0],
             "evidence": ["2026-11-24T10:00:05Z ERROR declined"], "recommended_action": "Rotate key %s" % LOG_SECRETS[1]}]})})
        self.assertEqual(call("POST", "/windows/flush", headers=wr)[0], 200)
        wait_for(lambda: len(self.pd.got()) >= 1 and len(self.slack.got()) >= 1 and len(self.hook.got()) >= 1,
                 what="notifications delivered")
        for path in ("/healthz", "/readyz", "/metrics", "/services", "/windows", "/anomalies", "/notifications",
                     "/suppressions", "/", "/_license"):
            st, _ = call("GET", path, headers=rd)
            self.assertLess(st, 500, path)
        # the model got the key, as it must, and nothing else of ours
        reqs = self.llm.requests()
        self.assertTrue(reqs)
        received = json.dumps(reqs)
        for s in CREDENTIALS + LOG_SECRETS:
            if s != API_KEY:
                self.assertFalse(s in received, "%s: %s" % (s, "sent to the model"))
        srv.signal(signal.SIGTERM)
        srv.proc.wait(30)
        return srv, answers

    def check(self, srv, answers):
        log = srv.stderr()
        self.assertIn("listening on", log)
        dump = "\n".join("|".join(str(c) for c in row) for t in ("services", "windows", "window_prompts", "anomalies", "templates",
                                                                   "suppressions", "outbox", "delivery_attempts")
                         for row in db_rows(srv.db, "SELECT * FROM %s" % t))
        sent = json.dumps([r.got() for r in (self.pd, self.slack, self.hook)])
        for s in CREDENTIALS:
            self.assertFalse(s in log, "%s: %s" % (s, "in the service's log"))
            self.assertFalse(s in "\n".join(answers), "%s: %s" % (s, "in an HTTP answer"))
            self.assertFalse(s in dump, "%s: %s" % (s, "in the database"))
        for s in LOG_SECRETS:
            self.assertFalse(s in sent, "%s: %s" % (s, "in a notification"))
            self.assertFalse(s in dump, "%s: %s" % (s, "in the database outside the raw lines"))
            self.assertFalse(s in log, "%s: %s" % (s, "in the service's log"))
        # the routing key goes to PagerDuty, which needs it, and nowhere else
        self.assertEqual(self.pd.got()[0][2]["routing_key"], ROUTING_KEY)
        self.assertNotIn(ROUTING_KEY, json.dumps(self.slack.got() + self.hook.got()))

    def test_text_log(self):
        self.check(*self.run_everything("text"))

    def test_json_log(self):
        self.check(*self.run_everything("json"))


if __name__ == "__main__":
    unittest.main()
