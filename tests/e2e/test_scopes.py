"""Token scopes (issue 15, part 3): ingest, read and write.

A table of (token, request, expected status) against a server with all three
tokens set, plus scoped tokens from the config file: the ingest token only
ingests; the read token reads and never changes state (service context,
feedback, flush); the write token does both of those but does not ingest. A
read token alone closes writing too (nobody changes state without a write
token); with no token configured everything is open. The figures (what each
token may do) are printed on stderr.
"""
import json
import os
import sys
import unittest

from harness import ServerTest

J = {"Content-Type": "application/json"}
REQUESTS = {  # name: (method, path, body, headers); an authorized call gets the status in brackets
    "ingest": ("POST", "/ingest", '{"message": "m"}', J),                           # [202]
    "read windows": ("GET", "/windows", None, {}),                                  # [200]
    "read metrics": ("GET", "/metrics", None, {}),                                  # [200]
    "context": ("PUT", "/services/api", '{"context": "everything here is normal"}', J),  # [200]
    "feedback": ("POST", "/anomalies/999999/feedback", '{"verdict": "false_positive"}', J),  # [404: no such]
    "flush": ("POST", "/windows/flush", None, {}),                                  # [200]
}
OK = {"ingest": 202, "read windows": 200, "read metrics": 200, "context": 200, "feedback": 404, "flush": 200}


class ScopesTest(ServerTest):
    autostart = False

    def call(self, srv, name, token):
        method, path, body, h = REQUESTS[name]
        h = dict(h)
        if token:
            h["Authorization"] = "Bearer " + token
        return srv.request(method, path, body, h)

    def check(self, srv, table, label):
        allowed = {}
        for token, name, want in table:
            with self.subTest(token=token, request=name):
                st, b, _ = self.call(srv, name, token)
                self.assertEqual(st, want, b)
                if st == 401:
                    self.assertEqual(b["error"]["code"], "unauthorized")
                    need = "write" if name in ("context", "feedback", "flush") else \
                        "ingest" if name == "ingest" else "read"
                    self.assertIn("needs the %s token" % need, b["error"]["message"])
                allowed.setdefault(token or "(none)", []).extend([name] if st != 401 else [])
        for tok, names in allowed.items():
            print("%s: %s may %s" % (label, tok, ", ".join(names) or "nothing"), file=sys.stderr)

    def test_three_tokens(self):
        conf = os.path.join(self.dir, "c.yaml")
        with open(conf, "w") as f:
            f.write("auth:\n  tokens:\n"
                    "    - token: file-ingest\n"
                    "    - token: file-read\n      scopes: [read]\n"
                    "    - token: file-write\n      scopes: [write]\n"
                    "    - token: file-all\n      scopes: [ingest, read, write]\n")
        srv = self.start_server(args=["--config", conf], env={
            "ANOMALOG_AUTH_INGEST_TOKEN": "in-tok", "ANOMALOG_AUTH_READ_TOKEN": "rd-tok", "ANOMALOG_AUTH_WRITE_TOKEN": "wr-tok"})
        scopes = {None: (), "bogus": (), "in-tok": ("ingest",), "file-ingest": ("ingest",),
                  "rd-tok": ("read windows", "read metrics"), "file-read": ("read windows", "read metrics"),
                  "wr-tok": ("read windows", "read metrics", "context", "feedback", "flush"),
                  "file-write": ("read windows", "read metrics", "context", "feedback", "flush"),
                  "file-all": tuple(REQUESTS)}
        table = [(tok, name, OK[name] if name in may else 401) for tok, may in scopes.items() for name in REQUESTS]
        self.check(srv, table, "ingest+read+write tokens")
        # the context written by the write token is there; the read token's attempt changed nothing
        st, b, _ = self.call(srv, "read windows", "rd-tok")
        self.assertEqual(st, 200)
        svcs = srv.request("GET", "/services", headers={"Authorization": "Bearer rd-tok"})[1]["services"]
        self.assertEqual([s.get("context") for s in svcs if s["name"] == "api"], ["everything here is normal"])

    def test_a_read_token_alone_closes_writing(self):
        srv = self.start_server(env={"ANOMALOG_AUTH_READ_TOKEN": "rd-tok"})
        table = [(None, "ingest", 202), (None, "read windows", 401), ("rd-tok", "read windows", 200)]
        table += [(tok, name, 401) for tok in (None, "rd-tok") for name in ("context", "feedback", "flush")]
        self.check(srv, table, "read token only")

    def test_a_write_token_alone_leaves_reading_open(self):
        srv = self.start_server(env={"ANOMALOG_AUTH_WRITE_TOKEN": "wr-tok"})
        table = [(None, "read windows", 200), (None, "flush", 401), ("wr-tok", "flush", 200),
                 ("wr-tok", "context", 200), (None, "context", 401), (None, "ingest", 202)]
        self.check(srv, table, "write token only")

    def test_no_tokens_everything_open(self):
        srv = self.start_server()
        self.check(srv, [(None, name, OK[name]) for name in REQUESTS], "no tokens")

    def test_bad_scope_is_a_startup_error(self):
        conf = os.path.join(self.dir, "c.yaml")
        with open(conf, "w") as f:
            f.write("auth:\n  tokens:\n    - token: t\n      scopes: [admin]\n")
        with self.assertRaises(RuntimeError) as cm:
            self.start_server(args=["--config", conf])
        self.assertIn("auth.tokens.scopes", str(cm.exception))


if __name__ == "__main__":
    unittest.main()
