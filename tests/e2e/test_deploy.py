"""The deployment files of deploy/ against the real binary.

Kubernetes (deploy/kubernetes/*.yaml, parsed with PyYAML): the Deployment's
probes, port, volume and variables are the binary's own (every variable one
the binary reads; the binary started with the Deployment's environment and
arguments answers the probe paths on the port the Service targets); one
replica with Recreate (a second process on the SQLite file is refused); the
pod runs as the image's user. The Fluent Bit DaemonSet's output points at the
Service with the ingest token of the same Secret, and what Fluent Bit sends
with its configuration (labels from the kubernetes filter's record) lands
under the pod's service with the line's own level.

systemd (deploy/systemd/anomalog.service): `systemd-analyze verify` accepts
it without a warning; its ExecStart is `anomalog serve` with flags that
`anomalog serve --help` lists, and, run as written (paths moved into a
temporary directory) with its Environment=, the service is ready and stops
on its KillSignal with status 0 within TimeoutStopSec."""
import json
import os
import re
import shlex
import shutil
import signal
import subprocess
import tempfile
import unittest

import yaml

from harness import BIN, PG_URL, Server, ServerTest, db_rows, needs, run_cli

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.join(HERE, "..", "..")
T0 = 1795514400


def read(path):
    with open(os.path.join(ROOT, path), encoding="utf-8") as f:
        return f.read()


def known_variables():
    """Every ANOMALOG_ variable the binary reads (the settings table's file, wherever src/ keeps it)."""
    names = set()
    for d, _, files in os.walk(os.path.join(ROOT, "src")):
        for f in files:
            if f.endswith(".c"):
                with open(os.path.join(d, f), encoding="utf-8") as fh:
                    names |= set(re.findall(r'"(ANOMALOG_[A-Z0-9_]+)"', fh.read()))
    return names


def manifests(path):
    docs = [d for d in yaml.safe_load_all(read(path)) if d]
    return {(d["kind"], d["metadata"]["name"]): d for d in docs}


def ra(record, accessor):
    """Fluent Bit's record accessor $a['b']['c'] on a record; None when a key is missing."""
    m = re.match(r"^\$(\w+)((?:\['[^']+'\])*)$", accessor)
    assert m, accessor
    v = record.get(m.group(1))
    for key in re.findall(r"\['([^']+)'\]", m.group(2)):
        v = v.get(key) if isinstance(v, dict) else None
    return v


class KubernetesTest(ServerTest):
    autostart = False

    def setUp(self):
        super().setUp()
        self.k = manifests("deploy/kubernetes/anomalog.yaml")
        self.dep = self.k[("Deployment", "anomalog")]
        self.pod = self.dep["spec"]["template"]["spec"]
        self.c = self.pod["containers"][0]
        self.secret = self.k[("Secret", "anomalog-tokens")]["stringData"]
        self.svc = self.k[("Service", "anomalog")]

    def env(self):
        out = {}
        for e in self.c["env"]:
            if "value" in e:
                out[e["name"]] = str(e["value"])
            else:
                ref = e["valueFrom"]["secretKeyRef"]
                self.assertEqual(ref["name"], "anomalog-tokens")
                out[e["name"]] = self.secret[ref["key"]]
        return out

    def port_of(self, name_or_number):
        if isinstance(name_or_number, int):
            return name_or_number
        return next(p["containerPort"] for p in self.c["ports"] if p["name"] == name_or_number)

    def test_deployment_matches_the_binary(self):
        env = self.env()
        self.assertEqual(sorted(set(env) - known_variables()), [], "variables the binary does not read")
        self.assertEqual(self.dep["spec"]["replicas"], 1)  # SQLite: one process per file
        self.assertEqual(self.dep["spec"]["strategy"]["type"], "Recreate")
        self.assertEqual(self.dep["spec"]["selector"]["matchLabels"], self.dep["spec"]["template"]["metadata"]["labels"])
        listen_port = int(env["ANOMALOG_LISTEN"].rsplit(":", 1)[1])
        self.assertTrue(env["ANOMALOG_LISTEN"].startswith("0.0.0.0:"))  # reachable from the Service
        self.assertEqual(self.port_of("http"), listen_port)
        # the database sits on the claimed volume
        mount = {m["name"]: m["mountPath"] for m in self.c["volumeMounts"]}
        vols = {v["name"]: v for v in self.pod["volumes"]}
        data = next(n for n, p in mount.items() if env["ANOMALOG_DB"].startswith(p.rstrip("/") + "/"))
        claim = vols[data]["persistentVolumeClaim"]["claimName"]
        self.assertIn(("PersistentVolumeClaim", claim), self.k)
        # the image's user (docker/Dockerfile) owns /data
        uid = re.search(r"--uid (\d+)", read("docker/Dockerfile")).group(1)
        self.assertEqual(str(self.pod["securityContext"]["runAsUser"]), uid)
        self.assertEqual(str(self.pod["securityContext"]["fsGroup"]), uid)
        # the Service reaches the same port
        port = self.svc["spec"]["ports"][0]
        self.assertEqual(self.port_of(port["targetPort"]), listen_port)
        self.assertEqual(self.svc["spec"]["selector"], self.dep["spec"]["template"]["metadata"]["labels"])
        # the probes: answered by the binary started as the pod starts it
        probes = {k: self.c[k]["httpGet"] for k in ("startupProbe", "livenessProbe", "readinessProbe")}
        self.assertEqual(probes["readinessProbe"]["path"], "/readyz")
        self.assertEqual(probes["livenessProbe"]["path"], "/healthz")
        for p in probes.values():
            self.assertEqual(self.port_of(p["port"]), listen_port)
        self.assertEqual(self.c["args"][0], "serve")
        run_env = dict(env, ANOMALOG_LLM_URL="none")  # no model here; the rest as in the pod
        srv = self.start_server(args=self.c["args"][1:], env=run_env)  # the harness's --listen/--db stand in
        for name, p in probes.items():
            st, body, _ = srv.request("GET", p["path"])
            self.assertEqual(st, 200, "%s %s: %s" % (name, p["path"], body))
        self.assertTrue(any(line.startswith("{") for line in srv.stderr().splitlines()), "ANOMALOG_LOG_FORMAT=json")
        # the tokens of the Secret are the ones it wants
        st, _, _ = srv.request("POST", "/ingest", "x\n", {"Content-Type": "text/plain"})
        self.assertEqual(st, 401)
        st, _, _ = srv.request("POST", "/ingest", "x\n", {"Content-Type": "text/plain",
                                                          "Authorization": "Bearer " + self.secret["ingest-token"]})
        self.assertEqual(st, 202)
        # and a second process on the same SQLite file is refused: why one replica and Recreate
        # (replicas on PostgreSQL share a database: docs/operations.md)
        if PG_URL:
            return
        rc, _, err = run_cli(["serve", "--listen", "127.0.0.1:0", "--db", srv.db], env=run_env, timeout=20)
        self.assertEqual(rc, 1, err)
        self.assertIn("in use", err)

    def test_fluent_bit_daemonset(self):
        fb = manifests("deploy/kubernetes/fluent-bit.yaml")
        ds = fb[("DaemonSet", "fluent-bit")]
        conf = fb[("ConfigMap", "fluent-bit-config")]["data"]["fluent-bit.conf"]
        sections = re.split(r"^\[(\w+)\]\s*$", conf, flags=re.M)[1:]
        parsed = [(sections[i], dict(re.findall(r"^\s+(\S+)\s+(.+?)\s*$", sections[i + 1], re.M)))
                  for i in range(0, len(sections), 2)]
        out = next(s for name, s in parsed if name == "OUTPUT")
        inp = next(s for name, s in parsed if name == "INPUT")
        self.assertEqual(out["Name"], "loki")
        self.assertEqual(out["Host"], self.svc["metadata"]["name"])
        self.assertEqual(int(out["Port"]), self.svc["spec"]["ports"][0]["port"])
        self.assertEqual(out["Retry_Limit"], "no_limits")
        self.assertEqual(out["drop_single_key"], "raw")
        self.assertEqual(inp["storage.type"], "filesystem")
        # the token: the DaemonSet's variable, from the Secret key anomalog's ingest token comes from
        var = re.match(r"^\$\{(\w+)\}$", out["bearer_token"]).group(1)
        fb_env = {e["name"]: e["valueFrom"]["secretKeyRef"] for e in ds["spec"]["template"]["spec"]["containers"][0]["env"]}
        an_env = {e["name"]: e.get("valueFrom", {}).get("secretKeyRef") for e in self.c["env"]}
        self.assertEqual(fb_env[var], an_env["ANOMALOG_AUTH_INGEST_TOKEN"])
        token = self.secret[fb_env[var]["key"]]
        # what out_loki sends for two pods: one labelled app.kubernetes.io/name, one with a container name only
        labels = [kv.strip().split("=", 1) for kv in out["labels"].split(",")]
        remove = [k.strip() for k in out["remove_keys"].split(",")]
        pods = [({"app.kubernetes.io/name": "checkout", "pod-template-hash": "7d9"}, "app", "checkout"),
                ({}, "billing-worker", "billing-worker")]
        streams, sent = [], []
        for i, (pod_labels, container, service) in enumerate(pods):
            values = []
            for j in range(20):
                text = ["time=2026-11-24T10:00:%02dZ level=error msg=\"card declined\" n=%d" % (j, j),
                        "INFO started job %d" % j][j % 2]
                # the record after the cri multiline parser and the kubernetes filter
                record = {"time": "2026-11-24T10:00:%02d.000000000Z" % j, "stream": "stdout", "_p": "F", "log": text,
                          "kubernetes": {"pod_name": "%s-0" % container, "namespace_name": "default",
                                         "container_name": container, "labels": pod_labels}}
                stream = {}
                for k, v in labels:
                    val = ra(record, v) if v.startswith("$") else v
                    if val:
                        stream[k] = val
                for k in remove:
                    record.pop(k, None)
                self.assertEqual(list(record), ["log"])  # one key left: sent raw
                values.append(["%d" % ((T0 + j) * 10**9 + i), record["log"]])
                sent.append((service, text, "error" if j % 2 == 0 else "info"))
            streams.append({"stream": stream, "values": values})
        srv = self.start_server(env={"ANOMALOG_AUTH_INGEST_TOKEN": token, "ANOMALOG_LLM_URL": "none"})
        st, body, _ = srv.request("POST", "/loki/api/v1/push", json.dumps({"streams": streams}),
                                  {"Content-Type": "application/json", "Authorization": "Bearer " + token})
        self.assertEqual(st, 204, body)
        rows = db_rows(os.path.join(self.dir, "anomalog.db"),
                       "SELECT s.name, l.message, l.level FROM logs l JOIN windows w ON w.id = l.window_id "
                       "JOIN services s ON s.id = w.service_id ORDER BY l.id")
        print("fluent bit daemonset: sent %d, stored %d" % (len(sent), len(rows)))
        self.assertEqual(sorted(rows), sorted(sent))


@needs(shutil.which("systemd-analyze"), "systemd-analyze (Debian package systemd)")
class SystemdTest(unittest.TestCase):
    def setUp(self):
        self.text = read("deploy/systemd/anomalog.service")
        self.dir = tempfile.mkdtemp(prefix="anomalog-unit-")
        self.addCleanup(shutil.rmtree, self.dir, True)
        self.service = dict(re.findall(r"^(\w+)=(.*)$", self.text.split("[Service]")[1].split("[Install]")[0], re.M))
        self.env = dict(l.split("=", 1) for l in re.findall(r"^Environment=(.*)$", self.text, re.M))

    def test_systemd_accepts_it(self):
        exe = shlex.split(self.service["ExecStart"])[0]
        unit = os.path.join(self.dir, "anomalog.service")
        with open(unit, "w") as f:
            f.write(self.text.replace(exe, os.path.realpath(BIN)))  # the binary built here
        r = subprocess.run(["systemd-analyze", "verify", unit], capture_output=True, text=True, timeout=60)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(r.stderr.strip(), "", "systemd-analyze warns")

    def test_execstart_runs(self):
        argv = shlex.split(self.service["ExecStart"])
        self.assertEqual(argv[0], "/usr/local/bin/anomalog")
        self.assertEqual(argv[1], "serve")
        flags = [a for a in argv[2:] if a.startswith("--")]
        helptext = subprocess.run([BIN, "serve", "--help"], capture_output=True, text=True, timeout=30)
        self.assertEqual(helptext.returncode, 0, helptext.stderr)
        for f in flags:
            self.assertTrue(f.split("=")[0] + " " in helptext.stdout + helptext.stderr, "serve --help lacks " + f)
        self.assertEqual(sorted(set(self.env) - known_variables()), [])
        state = self.service["StateDirectory"]
        self.assertEqual(self.service["WorkingDirectory"], "/var/lib/" + state)
        self.assertEqual(self.service["KillSignal"], "SIGTERM")
        # as written, with /var/lib/<state> moved here and a free port
        args = [a.replace("/var/lib/" + state, self.dir) for a in argv[2:]]
        env = {k: v for k, v in os.environ.items() if not k.startswith("ANOMALOG_")}
        env.update(self.env)
        env["ANOMALOG_LISTEN"] = "127.0.0.1:0"
        proc = subprocess.Popen([BIN, "serve"] + args, env=env, cwd=self.dir, stderr=subprocess.PIPE)
        try:
            port = None
            for raw in proc.stderr:
                m = re.search(r"listening on [^ ]+:(\d+) ", raw.decode(errors="replace"))
                if m:
                    port = int(m.group(1))
                    break
            self.assertTrue(port, "no listening line")
            srv = Server(self.dir)
            srv.port = port
            self.assertEqual(srv.request("GET", "/readyz")[0], 200)
            self.assertTrue(os.path.exists(os.path.join(self.dir, "anomalog.db")))
            proc.send_signal(getattr(signal, self.service["KillSignal"]))
            self.assertEqual(proc.wait(timeout=int(self.service["TimeoutStopSec"])), 0)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
            proc.stderr.close()


if __name__ == "__main__":
    unittest.main()
