#!/usr/bin/env python3
"""Incident figures on a generated multi-service log (tests/e2e/incident_log.py):
findings formed, incidents formed, notifications sent, roots named, with
incidents on and, for comparison, off (every finding routed on its own),
and on with incident.group_wait (30s, the default) instead of 0.

    nice -n 10 python3 bench/incident_figures.py [--bin build/anomalog] [--seed 1] [--minutes 40] [--cascades 2]

Runs the real binary with the baseline alone (no model), one-minute windows,
incident.quiet 3m, and one webhook destination taking every severity (a
receiver in this process); every window is closed at once, so services are
analysed in whatever order the workers take them. Prints one line per mode and the incidents of the
run with incidents on, each with its services and root, against the labels
of the generator (which problems it planted, and where each began)."""
import argparse
import http.server
import json
import os
import shutil
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tests", "e2e"))
from harness import Server, ndjson, wait_for  # noqa: E402
from incident_log import generate, labels  # noqa: E402


class Hook:
    def __init__(self):
        hook = self
        self.bodies = []

        class H(http.server.BaseHTTPRequestHandler):
            def do_POST(self):
                hook.bodies.append(json.loads(self.rfile.read(int(self.headers.get("Content-Length") or 0))))
                self.send_response(200)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"ok")

            def log_message(self, *a):
                pass
        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), H)
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()
        self.url = "http://127.0.0.1:%d/h" % self.httpd.server_address[1]


def run(binary, rows, incidents_on, group_wait):
    d = tempfile.mkdtemp(prefix="anomalog-incident-figures-")
    hook = Hook()
    os.environ["ANOMALOG_BIN"] = binary
    srv = Server(d, ["--llm-url", "none", "--window", "1m", "--incident-quiet", "3m",
                     "--incident-enabled", "true" if incidents_on else "false", "--incident-group-wait", group_wait],
                 env={"ANOMALOG_WEBHOOK_URL": hook.url}).start()
    try:
        for i in range(0, len(rows), 2000):
            srv.ingest(ndjson(rows[i:i + 2000]))
        srv.request("POST", "/windows/flush")
        wait_for(lambda: all(w["status"] in ("analyzed", "failed")
                             for w in srv.get("/windows?limit=1000")[1]["windows"]), timeout=300, what="analysed")
        if incidents_on:
            wait_for(lambda: srv.get("/incidents?status=open")[1]["incidents"] == [], timeout=60, what="resolved")
        wait_for(lambda: srv.get("/notifications?status=pending")[1]["notifications"] == [], timeout=60,
                 what="delivered")
        time.sleep(0.5)
        findings = srv.get("/anomalies?limit=1000")[1]["anomalies"]
        incs = srv.get("/incidents?limit=1000")[1]["incidents"]
        return findings, incs, list(hook.bodies)
    finally:
        srv.stop()
        hook.httpd.shutdown()
        shutil.rmtree(d, ignore_errors=True)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--bin", default=os.path.join(HERE, "..", "build", "anomalog"))
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--minutes", type=int, default=40)
    ap.add_argument("--cascades", type=int, default=2, choices=[1, 2])
    args = ap.parse_args()
    rows = generate(args.seed, args.minutes, cascades=args.cascades)
    planted = labels(args.cascades)
    print("log: %d lines, %d services, %d minutes, %d planted problems (%s)" % (
        len(rows), len({r["service"] for r in rows}), args.minutes, len(planted),
        ", ".join("%s root %s" % (p["id"], p["root"]) for p in planted)))
    for on, wait in ((False, "0s"), (True, "0s"), (True, "30s")):
        findings, incs, sent = run(os.path.abspath(args.bin), rows, on, wait)
        mode = "on, group wait %s" % wait if on else "off"
        line = "incidents %-19s: %d findings, %d notifications sent" % (mode, len(findings), len(sent))
        if on:
            multi = [i for i in incs if i["members"] > 1]
            named = []
            for p in planted:
                hit = [i for i in incs if set(p["services"]) <= set(i["services"])]
                named.append((p["id"], hit[0]["root_service"] if hit else None, p["root"], len(hit)))
            line += ", %d incidents (%d with more than one finding), roots named right %d of %d" % (
                len(incs), len(multi), sum(1 for _, got, want, _ in named if got == want), len(planted))
            print(line)
            for i in sorted(incs, key=lambda x: x["start"]):
                print("  #%-3d %s..%s %-8s %2d findings  %-40s root %s" % (
                    i["id"], i["start"][11:19], i["end"][11:19], i["severity"], i["members"],
                    ",".join(i["services"]), i["root_service"]))
            for pid, got, want, n in named:
                print("  planted %-20s root %-10s named %s%s" % (pid, want, got, "" if n == 1 else " (in %d incidents)" % n))
        else:
            print(line)


if __name__ == "__main__":
    main()
