"""Templates at rest are redacted (issue 15, part 6).

Lines carrying a JWT, an AWS access key, e-mail addresses and Bearer tokens
(the same values again and again, so the miner keeps them literally in its
templates, and changing ones) are ingested and analysed; then the templates
table is read directly: none of the secrets is in it, their placeholders are.
A restart (the miners restored from that table) and a second window keep it
so (the restored templates meet the raw values and generalise them to <*>). The raw lines themselves are kept as received (retention is what deletes
them).
"""
import unittest

from harness import ServerTest, db_rows, ndjson, wait_for

T0 = 1795514400  # 2026-11-24T10:00:00Z
JWT = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJhbGljZSJ9.c2lnbmF0dXJlLXNpZ25hdHVyZQ"
AWS = "AKIAIOSFODNN7EXAMPLE"
EMAIL = "alice.smith@example.com"
BEARER = "Zx9kQ2mP4rT8vW1yB6nL"
SECRETS = [JWT, AWS, EMAIL, BEARER, "bob.jones@example.org", "Qm3xR7tY2uI9oP5aS1dF", "AKIAJ7Q3EXAMPLEKEY99"]


def lines(t):
    rows = []
    for i in range(6):  # constant values: kept literally by the miner
        rows.append({"ts": t + i, "service": "auth", "level": "info",
                     "message": "session for %s token %s key %s" % (EMAIL, JWT, AWS)})
        rows.append({"ts": t + i, "service": "auth", "level": "warn",
                     "message": "upstream call Authorization: Bearer %s refused" % BEARER})
    rows += [  # one-offs: rare lines become templates of their own
        {"ts": t + 30, "service": "auth", "level": "error", "message": "reset mail to bob.jones@example.org failed"},
        {"ts": t + 31, "service": "auth", "level": "error",
         "message": "Authorization: Bearer Qm3xR7tY2uI9oP5aS1dF expired for AKIAJ7Q3EXAMPLEKEY99"},
    ]
    return ndjson(rows)


class TemplatesRedactedTest(ServerTest):
    server_args = ["--llm-url", "none", "--window", "1m", "--analysis-skip-quiet-windows", "false"]

    def analysed(self, srv, n):
        srv.request("POST", "/windows/flush")
        wait_for(lambda: len(srv.get("/windows?status=analyzed&service=auth")[1]["windows"]) == n,
                 timeout=30, what="%d window(s) analysed" % n)

    def check_templates(self, placeholders=True):
        rows = db_rows(self.srv.db, "SELECT text FROM templates")
        self.assertGreater(len(rows), 0)
        text = "\n".join(r[0] for r in rows)
        for s in SECRETS:
            self.assertNotIn(s, text)
        if placeholders:
            for placeholder in ("<jwt:", "<aws_key:", "<email:", "Bearer <secret:"):
                self.assertIn(placeholder, text)
        return text

    def test_no_secret_in_the_templates_table(self):
        self.assertEqual(self.srv.ingest(lines(T0))[0], 202)
        self.analysed(self.srv, 1)
        self.check_templates()
        # the miners are restored from the table at the next start; a second window records again
        self.srv.stop()
        self.srv = self.start_server()
        self.assertEqual(self.srv.ingest(lines(T0 + 60))[0], 202)
        self.analysed(self.srv, 2)
        # a restored template meets the raw values again and generalises them to <*>: still no secret
        self.check_templates(placeholders=False)
        # the raw lines are kept as received
        self.assertEqual(db_rows(self.srv.db, "SELECT count(*) FROM logs WHERE message LIKE ?",
                                 ("%" + JWT + "%",))[0][0], 12)


if __name__ == "__main__":
    unittest.main()
