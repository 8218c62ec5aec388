"""docker/Dockerfile cannot drift: no Docker engine runs here, so this test
reads the Dockerfile, checks the directives an operator relies on, and then
does what an image build and a container start would do, on the host:

- the build context is a copy of the source tree filtered by .dockerignore;
- each stage gets its own root directory; WORKDIR, COPY (and COPY --from)
  and VOLUME act on it, and absolute image paths in commands are mapped into
  it;
- every RUN is executed with `sh -c` in its WORKDIR, except the ones that
  need root or the network (apt-get: the packages come from scripts/deps.sh
  on this machine; groupadd/useradd; chown of the user's directories);
- the final stage's ENTRYPOINT + CMD starts with the image's ENV, its listen
  address moved from 0.0.0.0:8080 to a free loopback port, and its
  HEALTHCHECK command must succeed; the STOPSIGNAL then stops it cleanly.

`$(nproc)` is 2 here (a shim on PATH) to keep the build's footprint the one
of the rest of the suite. ANOMALOG_DOCKERFILE_SKIP_CTEST=1 drops the build
stage's `ctest` step (and only that step) for a quicker run.
"""
import fnmatch
import http.client
import json
import os
import re
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import unittest

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
DOCKERFILE = os.path.join(ROOT, "docker", "Dockerfile")
SKIP_CTEST = os.environ.get("ANOMALOG_DOCKERFILE_SKIP_CTEST") == "1"
# RUN steps the host cannot or must not do; everything else runs
HOST_SKIPS = (re.compile(r"^\s*apt-get\b"), re.compile(r"^\s*(groupadd|useradd)\b"))


def instructions(text):
    """[(KEYWORD, args)] with continuations joined and comments dropped."""
    out, cur = [], ""
    for line in text.splitlines():
        s = line.strip()
        if not cur and (not s or s.startswith("#")):
            continue
        if cur and s.startswith("#"):  # a comment inside a continued instruction
            continue
        if s.endswith("\\"):
            cur += s[:-1] + " "
            continue
        cur += s
        kw, _, rest = cur.partition(" ")
        out.append((kw.upper(), rest.strip()))
        cur = ""
    return out


def substitute(s, args):
    return re.sub(r"\$\{?([A-Za-z_][A-Za-z0-9_]*)\}?", lambda m: args.get(m.group(1), m.group(0)), s)


def parse_env(rest):
    toks = shlex.split(rest)
    if len(toks) >= 2 and "=" not in toks[0]:  # ENV key value
        return {toks[0]: " ".join(toks[1:])}
    return dict(t.split("=", 1) for t in toks)


def exec_form(rest):
    rest = rest.strip()
    if rest.startswith("["):
        return json.loads(rest)
    return ["/bin/sh", "-c", rest]


def stages(text):
    """[{name, base, steps: [(KEYWORD, args)]}] with ARG defaults before the first FROM applied to FROM."""
    global_args, out = {}, []
    for kw, rest in instructions(text):
        if kw == "ARG" and not out:
            k, _, v = rest.partition("=")
            global_args[k.strip()] = v.strip()
        elif kw == "FROM":
            toks = rest.split()
            toks = [t for t in toks if not t.startswith("--")]
            name = toks[2] if len(toks) >= 3 and toks[1].upper() == "AS" else str(len(out))
            out.append({"name": name, "base": substitute(toks[0], global_args), "steps": []})
        else:
            out[-1]["steps"].append((kw, rest))
    return out


def dockerignore(root):
    path = os.path.join(root, ".dockerignore")
    pats = []
    if os.path.exists(path):
        for ln in open(path):
            ln = ln.strip()
            if ln and not ln.startswith("#"):
                pats.append(ln)

    def ignored(rel, is_dir):
        for p in pats:
            dir_only = p.endswith("/")
            p = p.rstrip("/")
            if dir_only and not is_dir:
                continue
            if p.startswith("**/"):
                if fnmatch.fnmatch(os.path.basename(rel), p[3:]) or fnmatch.fnmatch(rel, p[3:]):
                    return True
            elif fnmatch.fnmatch(rel, p):
                return True
        return False
    return ignored


def copy_context(src, dst):
    ignored = dockerignore(src)
    for dirpath, dirnames, filenames in os.walk(src):
        rel_dir = os.path.relpath(dirpath, src)
        rel_dir = "" if rel_dir == "." else rel_dir
        dirnames[:] = [d for d in dirnames if not ignored(os.path.join(rel_dir, d), True)]
        os.makedirs(os.path.join(dst, rel_dir), exist_ok=True)
        for f in filenames:
            rel = os.path.join(rel_dir, f)
            if not ignored(rel, os.path.isdir(os.path.join(src, rel))):
                shutil.copy2(os.path.join(src, rel), os.path.join(dst, rel), follow_symlinks=False)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Stage:
    """One stage's filesystem as a directory on the host."""

    def __init__(self, root):
        self.root = root
        self.workdir = "/"
        self.env = {}

    def host(self, p):
        return os.path.join(self.root, p.lstrip("/"))

    def map_paths(self, s):
        """Absolute image paths whose directory exists in the stage, rewritten into it."""
        def one(m):
            p = m.group(0)
            return self.host(p) if os.path.exists(os.path.dirname(self.host(p))) and p != "/" else p
        return re.sub(r"(?<![\w$.-])/[A-Za-z0-9_./-]+", one, s)


class DockerfileTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        with open(DOCKERFILE) as f:
            cls.text = f.read()
        cls.stages = stages(cls.text)
        cls.final = cls.stages[-1]

    def directives(self, kw, stage=None):
        return [rest for k, rest in (stage or self.final)["steps"] if k == kw]

    def test_directives(self):
        self.assertGreaterEqual(len(self.stages), 2, "multi-stage")
        for s in self.stages:
            self.assertEqual(s["base"], "debian:bookworm-slim", s["name"])
        users = self.directives("USER")
        self.assertTrue(users, "the runtime stage sets USER")
        user = users[-1].split(":")[0]
        self.assertNotIn(user, ("root", "0"), "the runtime stage runs as non-root")
        self.assertIn("8080", " ".join(self.directives("EXPOSE")).split())
        volumes = self.directives("VOLUME")
        self.assertTrue(volumes)
        env = {}
        for e in self.directives("ENV"):
            env.update(parse_env(e))
        self.assertEqual(env.get("ANOMALOG_LISTEN"), "0.0.0.0:8080")
        self.assertTrue(env.get("ANOMALOG_DB", "").startswith(tuple(v.strip('[]" ') for v in volumes)),
                        "the database lives on the volume")
        hc = self.directives("HEALTHCHECK")
        self.assertEqual(len(hc), 1)
        self.assertIn("CMD", hc[0])
        self.assertEqual(self.directives("STOPSIGNAL"), ["SIGTERM"])
        self.assertTrue(self.directives("ENTRYPOINT") or self.directives("CMD"))

    def run_step(self, stage, cmd, timeout):
        env = dict(os.environ)
        env.update(stage.env)
        env["PATH"] = self.shims + os.pathsep + env.get("PATH", "")
        p = subprocess.run(["sh", "-c", stage.map_paths(cmd)], cwd=stage.host(stage.workdir), env=env,
                           capture_output=True, timeout=timeout)
        self.assertEqual(p.returncode, 0, "RUN %s\n%s\n%s" % (cmd, p.stdout.decode()[-3000:],
                                                             p.stderr.decode()[-3000:]))

    def build(self, tmp):
        """Runs every stage; returns the final one."""
        self.shims = os.path.join(tmp, "shims")
        os.makedirs(self.shims)
        with open(os.path.join(self.shims, "nproc"), "w") as f:
            f.write("#!/bin/sh\necho 2\n")
        os.chmod(os.path.join(self.shims, "nproc"), 0o755)
        context = os.path.join(tmp, "context")
        copy_context(ROOT, context)
        done = {}
        ran = []
        for i, s in enumerate(self.stages):
            st = Stage(os.path.join(tmp, "stage-%d" % i))
            os.makedirs(st.root)
            args = {}
            for kw, rest in s["steps"]:
                rest = substitute(rest, {**args, **st.env})
                if kw == "ARG":
                    k, _, v = rest.partition("=")
                    args[k.strip()] = v.strip()
                elif kw == "ENV":
                    st.env.update(parse_env(rest))
                elif kw == "WORKDIR":
                    st.workdir = os.path.join(st.workdir, rest)
                    os.makedirs(st.host(st.workdir), exist_ok=True)
                elif kw == "VOLUME":
                    for v in (json.loads(rest) if rest.startswith("[") else rest.split()):
                        os.makedirs(st.host(v), exist_ok=True)
                elif kw in ("COPY", "ADD"):
                    toks = rest.split()
                    frm = [t.split("=", 1)[1] for t in toks if t.startswith("--from=")]
                    toks = [t for t in toks if not t.startswith("--")]
                    srcs, dst = toks[:-1], toks[-1]
                    dst = os.path.join(st.workdir, dst)
                    for src in srcs:
                        if frm:
                            origin = done[frm[0]]
                            sp = origin.host(os.path.join(origin.workdir, src))
                        else:
                            sp = os.path.join(context, src)
                        dp = st.host(dst)
                        if os.path.isdir(sp):
                            shutil.copytree(sp, dp, dirs_exist_ok=True, symlinks=True)
                        else:
                            os.makedirs(os.path.dirname(dp), exist_ok=True)
                            shutil.copy2(sp, dp)
                elif kw == "RUN":
                    if any(r.search(rest) for r in HOST_SKIPS):
                        continue
                    steps = [rest]
                    if SKIP_CTEST:  # only the ctest step of an && chain goes
                        steps = [" && ".join(p for p in re.split(r"\s*&&\s*", rest)
                                             if not p.strip().startswith("ctest"))]
                    for cmd in steps:
                        t0 = time.time()
                        self.run_step(st, cmd, timeout=240)
                        ran.append((s["name"], cmd, round(time.time() - t0, 1)))
            done[s["name"]] = st
        for name, cmd, secs in ran:
            print("stage %s: RUN %s (%.1fs)" % (name, cmd[:100], secs), file=sys.stderr)
        self.assertTrue(any("cmake --build" in c for _, c, _ in ran), "the build stage's cmake step ran: %s" % ran)
        return done[self.stages[-1]["name"]]

    def test_build_start_and_healthcheck(self):
        tmp = tempfile.mkdtemp(prefix="anomalog-dockerfile-")
        self.addCleanup(shutil.rmtree, tmp, True)
        st = self.build(tmp)
        steps = self.final["steps"]
        entry = [exec_form(r) for k, r in steps if k == "ENTRYPOINT"]
        cmd = [exec_form(r) for k, r in steps if k == "CMD"]
        argv = (entry[-1] if entry else []) + (cmd[-1] if cmd else [])
        argv = [st.map_paths(a) for a in argv]
        self.assertTrue(os.access(argv[0], os.X_OK), argv)

        port = free_port()
        self.assertEqual(st.env.get("ANOMALOG_LISTEN"), "0.0.0.0:8080")
        env = {k: v for k, v in os.environ.items() if not k.startswith("ANOMALOG_")}
        env.update({k: st.map_paths(v) for k, v in st.env.items()})
        env["ANOMALOG_LISTEN"] = "127.0.0.1:%d" % port
        env["ANOMALOG_LLM_URL"] = "http://127.0.0.1:9/v1"  # no model here: the baseline analyses alone
        self.assertTrue(env["ANOMALOG_DB"].startswith(st.root), env["ANOMALOG_DB"])
        log = open(os.path.join(tmp, "server.log"), "w+")
        self.addCleanup(log.close)
        proc = subprocess.Popen(argv, cwd=st.host(st.workdir), env=env, stdout=subprocess.DEVNULL, stderr=log)

        def stop():
            if proc.poll() is None:
                proc.kill()
                proc.wait()
        self.addCleanup(stop)

        hc = self.directives("HEALTHCHECK")[0]
        m = re.search(r"--start-period=(\d+)s", hc)
        start_period = int(m.group(1)) if m else 30
        check = [st.map_paths(a) for a in exec_form(hc[hc.index("CMD") + 3:])]

        def healthy():
            return subprocess.run(check, env=env, capture_output=True, timeout=10).returncode == 0
        deadline = time.time() + start_period
        while not healthy():
            log.seek(0)
            self.assertIsNone(proc.poll(), "the server exited: " + log.read())
            self.assertLess(time.time(), deadline, "HEALTHCHECK failing after the start period: " + log.read())
            time.sleep(0.2)

        c = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        c.request("POST", "/ingest", body=b"2026-11-24T10:00:00 INFO api hello from the image\n",
                  headers={"Content-Type": "text/plain"})
        self.assertEqual(c.getresponse().status, 202)
        c.close()
        self.assertTrue(os.path.exists(env["ANOMALOG_DB"]), "the database is on the volume")

        sig = getattr(signal, self.directives("STOPSIGNAL")[0])
        proc.send_signal(sig)
        self.assertEqual(proc.wait(30), 0, "exit status after STOPSIGNAL")
        self.assertFalse(healthy(), "HEALTHCHECK fails once the server is gone")


if __name__ == "__main__":
    unittest.main()
