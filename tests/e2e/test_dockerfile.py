"""docker/Dockerfile, built and started for real with podman.

No registry is reachable here, so the base image is made: `debootstrap
--variant=minbase` of the suite the Dockerfile's base names, imported into
podman as localhost/debian:<tag>. It is cached between runs: the rootfs tarball
under /var/cache/anomalog (ANOMALOG_IMAGE_CACHE) and the imported image, both
keyed by the base and the ISO week, so a second run the same week imports
nothing and debootstraps nothing (a new week picks up Debian's updates).

Then `podman build --isolation=chroot --network host --format docker` builds
the Dockerfile as it is (build stage, unit tests inside it, runtime stage);
podman's layer cache keeps the apt steps between runs. `podman run` cannot
start containers here (cgroups), so the image's binary is started as the
image would start it: `podman create` + `podman mount`, /proc and /dev bound
into the mount, `chroot --userspec` as the image's USER, in its WORKDIR with
its ENV (the listen address moved to a free loopback port, the same network
namespace as the test), ENTRYPOINT + CMD as argv. The test checks the
HEALTHCHECK command (GET /readyz), an ingest that lands in /data, the
database owned by the image's user, SIGTERM (the STOPSIGNAL) exiting 0; and
that the runtime stage installs exactly the packages that hold the binary's
DT_NEEDED libraries (objdump -p, ldd and dpkg -S inside the image).

Needs root, podman, debootstrap (scripts/deps.sh installs them). Missing
any: a skip on a workstation, a failure in CI (CI=true).
The build takes minutes: tests/CMakeLists.txt registers this test in the
plain pass only, and first, so it runs beside the rest of the suite.
"""
import datetime
import fcntl
import hashlib
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
CACHE = os.environ.get("ANOMALOG_IMAGE_CACHE", "/var/cache/anomalog")
MIRROR = os.environ.get("ANOMALOG_DEBIAN_MIRROR", "http://deb.debian.org/debian")
IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")


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


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def run(argv, timeout=600, check=True, **kw):
    p = subprocess.run(argv, capture_output=True, timeout=timeout, **kw)
    if check and p.returncode != 0:
        raise AssertionError("%s: exit %d\n%s\n%s" % (" ".join(argv), p.returncode, p.stdout.decode()[-3000:],
                                                      p.stderr.decode()[-3000:]))
    return p.stdout.decode()


def apt_packages(steps):
    """Package names of the `apt-get install` in a stage's RUN steps."""
    pkgs = []
    for kw, rest in steps:
        if kw != "RUN":
            continue
        for part in re.split(r"&&|;", rest):
            toks = shlex.split(part)
            if toks[:2] == ["apt-get", "install"]:
                pkgs += [t for t in toks[2:] if not t.startswith("-")]
    return pkgs


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


def need_tools():
    """The reason this machine cannot build the image, or None."""
    if os.geteuid() != 0:
        return "needs root (podman build, mount, chroot)"
    for tool in ("podman", "debootstrap", "chroot", "objdump"):
        if not shutil.which(tool):
            return "%s is not installed (scripts/deps.sh installs it)" % tool
    return None


def base_image(base):
    """localhost/<base>, debootstrapped and imported once per ISO week; returns its name."""
    name, _, tag = base.partition(":")
    suite = tag.split("-")[0]
    year, week, _ = datetime.date.today().isocalendar()
    key = "%s-%s-minbase-%d-w%02d" % (name.replace("/", "_"), suite, year, week)
    local = "localhost/%s:%s" % (name.split("/")[-1], tag)
    os.makedirs(CACHE, exist_ok=True)
    with open(os.path.join(CACHE, "base.lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # two suites at once debootstrap once
        have = subprocess.run(["podman", "image", "inspect", "--format", '{{index .Labels "anomalog.base"}}', local],
                              capture_output=True).stdout.decode().strip()
        if have == key:
            return local, "cached image"
        tarball = os.path.join(CACHE, key + ".tar")
        how = "cached tarball"
        if not os.path.exists(tarball):
            how = "debootstrap"
            rootfs = tempfile.mkdtemp(prefix="anomalog-rootfs-", dir=CACHE)
            try:
                t0 = time.time()
                run(["debootstrap", "--variant=minbase", suite, rootfs, MIRROR], timeout=1200)
                run(["tar", "-C", rootfs, "-cf", tarball + ".part", "."], timeout=600)
                os.rename(tarball + ".part", tarball)
                print("debootstrap %s: %.0fs" % (suite, time.time() - t0), file=sys.stderr)
            finally:
                shutil.rmtree(rootfs, ignore_errors=True)
            for old in os.listdir(CACHE):  # last week's tarballs of this base
                if old.startswith(key.rsplit("-", 2)[0]) and old.endswith(".tar") and old != key + ".tar":
                    os.unlink(os.path.join(CACHE, old))
        run(["podman", "import", "--change", "LABEL anomalog.base=" + key, tarball, local], timeout=600)
        return local, how


class ImageTest(unittest.TestCase):
    """The image built by podman, its binary started as the image's user."""

    @classmethod
    def setUpClass(cls):
        why = need_tools()
        if why:
            if IN_CI:
                raise AssertionError("CI must build the image: " + why)
            raise unittest.SkipTest(why)
        with open(DOCKERFILE) as f:
            cls.stages = stages(f.read())
        t0 = time.time()
        cls.base, how = base_image(cls.stages[0]["base"])
        cls.base_secs = time.time() - t0
        # one tag per checkout, so that worktrees building at once do not retag each other's image
        cls.image = "localhost/anomalog-e2e:%s" % hashlib.sha1(ROOT.encode()).hexdigest()[:10]
        t0 = time.time()
        run(["podman", "build", "--isolation=chroot", "--network", "host", "--format", "docker",
             "--build-arg", "DEBIAN_IMAGE=" + cls.base, "-t", cls.image, "-f", DOCKERFILE, ROOT], timeout=1800)
        cls.build_secs = time.time() - t0
        # images left untagged by earlier builds (each rebuild of the tag leaves one) go after two days
        run(["podman", "image", "prune", "-f", "--filter", "until=48h"], check=False)
        print("base image (%s): %.0fs; podman build: %.0fs" % (how, cls.base_secs, cls.build_secs), file=sys.stderr)
        cls.inspect = json.loads(run(["podman", "image", "inspect", cls.image]))[0]
        cls.config = cls.inspect["Config"]

    def setUp(self):
        self.cid = run(["podman", "create", self.image]).strip()
        self.addCleanup(run, ["podman", "rm", "-f", self.cid], check=False)
        self.mnt = run(["podman", "mount", self.cid]).strip()
        self.addCleanup(run, ["podman", "umount", self.cid], check=False)
        for d in ("proc", "dev"):
            run(["mount", "--bind", "/" + d, os.path.join(self.mnt, d)])
            self.addCleanup(run, ["umount", "-l", os.path.join(self.mnt, d)], check=False)

    def inside(self, argv, user=None, check=True, timeout=60):
        """argv run chrooted into the container's filesystem."""
        spec = ["--userspec=%s" % user] if user else []
        return run(["chroot"] + spec + [self.mnt] + argv, check=check, timeout=timeout)

    def user_ids(self):
        user, _, group = self.config["User"].partition(":")
        with open(os.path.join(self.mnt, "etc/passwd")) as f:
            passwd = [ln.split(":") for ln in f.read().splitlines()]
        with open(os.path.join(self.mnt, "etc/group")) as f:
            groups = [ln.split(":") for ln in f.read().splitlines()]
        uid = next(int(p[2]) for p in passwd if user in (p[0], p[2]))
        gid = next(int(g[2]) for g in groups if group in (g[0], g[2])) if group else \
            next(int(p[3]) for p in passwd if int(p[2]) == uid)
        return uid, gid

    def test_runtime_packages_are_the_binarys_libraries(self):
        binary = os.path.join(self.mnt, "usr/local/bin/anomalog")
        needed = re.findall(r"NEEDED\s+(\S+)", run(["objdump", "-p", binary]))
        self.assertIn("libsnappy.so.1", needed)
        ldd = self.inside(["ldd", "/usr/local/bin/anomalog"])
        self.assertNotIn("not found", ldd)
        paths = dict(re.findall(r"^\s*(\S+) => (\S+)", ldd, re.M))
        owners = set()
        for lib in needed:
            self.assertIn(lib, paths, ldd)
            real = self.inside(["readlink", "-f", paths[lib]]).strip()
            cands = {paths[lib], real} | {p.replace("/usr/lib/", "/lib/") for p in (paths[lib], real)}
            out = self.inside(["dpkg", "-S"] + sorted(cands), check=False)
            pkgs = {ln.split(":")[0] for ln in out.splitlines() if ": " in ln}
            self.assertEqual(len(pkgs), 1, "%s: %s" % (lib, out))
            owners |= pkgs
        owners.discard("libc6")  # in every base image
        listed = set(apt_packages(self.stages[-1]["steps"])) - {"ca-certificates", "tzdata"}  # data, not libraries
        self.assertEqual(listed, owners, "runtime apt-get install list vs the packages of the binary's libraries")

    def test_serves_as_the_images_user(self):
        cfg = self.config
        uid, gid = self.user_ids()
        self.assertNotEqual(uid, 0)
        env = dict(e.split("=", 1) for e in cfg["Env"])
        self.assertEqual(env["ANOMALOG_LISTEN"], "0.0.0.0:8080")
        port = free_port()
        env["ANOMALOG_LISTEN"] = "127.0.0.1:%d" % port  # the host's network: a free loopback port
        env["ANOMALOG_LLM_URL"] = "http://127.0.0.1:9/v1"  # no model here: the baseline analyses alone
        volume = next(iter(cfg["Volumes"]))
        self.assertTrue(env["ANOMALOG_DB"].startswith(volume + "/"), env)
        st = os.stat(os.path.join(self.mnt, volume.lstrip("/")))
        self.assertEqual((st.st_uid, st.st_gid), (uid, gid), "the volume belongs to the image's user")
        argv = (cfg.get("Entrypoint") or []) + (cfg.get("Cmd") or [])
        envargs = ["%s=%s" % kv for kv in sorted(env.items())]
        log = open(os.path.join(tempfile.mkdtemp(prefix="anomalog-image-"), "server.log"), "w+")
        self.addCleanup(log.close)
        proc = subprocess.Popen(["chroot", "--userspec=%d:%d" % (uid, gid), self.mnt, "/usr/bin/env", "-i", "-C",
                                 cfg.get("WorkingDir") or "/"] + envargs + argv,
                                stdout=subprocess.DEVNULL, stderr=log)

        def stop():
            if proc.poll() is None:
                proc.kill()
                proc.wait()
        self.addCleanup(stop)

        hc = self.inspect["Healthcheck"]["Test"]  # --format docker keeps HEALTHCHECK (OCI has none)
        self.assertEqual(hc[0], "CMD", hc)
        start_period = self.inspect["Healthcheck"].get("StartPeriod", 30 * 10**9) / 1e9

        def healthy():
            return subprocess.run(["chroot", "--userspec=%d:%d" % (uid, gid), self.mnt, "/usr/bin/env", "-i"] +
                                  envargs + hc[1:], capture_output=True, timeout=10).returncode == 0
        deadline = time.time() + start_period
        while not healthy():
            log.seek(0)
            self.assertIsNone(proc.poll(), "the server exited: " + log.read())
            self.assertLess(time.time(), deadline, "HEALTHCHECK failing after the start period: " + log.read())
            time.sleep(0.2)

        c = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        c.request("GET", "/readyz")
        r = c.getresponse()
        self.assertEqual(r.status, 200, r.read())
        r.read()
        c.request("POST", "/ingest", body=b"2026-11-24T10:00:00 INFO api hello from the image\n",
                  headers={"Content-Type": "text/plain"})
        r = c.getresponse()
        self.assertEqual(r.status, 202, r.read())
        r.read()
        c.request("GET", "/services")
        r = c.getresponse()
        body = json.loads(r.read())
        self.assertEqual(r.status, 200, body)
        self.assertIn("api", json.dumps(body))
        c.close()
        db = os.path.join(self.mnt, env["ANOMALOG_DB"].lstrip("/"))
        self.assertTrue(os.path.exists(db), "the database is on the volume")
        self.assertEqual(os.stat(db).st_uid, uid, "written by the image's user")
        # tzdata is there: a tz database zone is accepted by the image's binary
        code = subprocess.run(["chroot", "--userspec=%d:%d" % (uid, gid), self.mnt, "/usr/bin/env", "-i"] + envargs +
                              ["ANOMALOG_TIMEZONE=Europe/Berlin", argv[0], "migrate", "--db", "/tmp/tz.db"],
                              capture_output=True, timeout=30)
        self.assertEqual(code.returncode, 0, code.stderr)

        self.assertEqual(cfg.get("StopSignal"), "SIGTERM")
        proc.send_signal(signal.SIGTERM)
        self.assertEqual(proc.wait(30), 0, "exit status after STOPSIGNAL")
        self.assertFalse(healthy(), "HEALTHCHECK fails once the server is gone")


if __name__ == "__main__":
    unittest.main()
