"""scripts/deps.sh installs two sets: `run` (what building and running need, for
./dev run) and `test` (that and what the tests need, for ./dev test and .ci/run).

- `run` holds the Debian package of every library the build asks pkg-config
  (or find_library) for, found through dpkg from the library's own files, so
  a new dependency added to CMakeLists.txt without its package fails here;
- `run` holds none of the tests' heavy tools (Chromium, PostgreSQL,
  Prometheus, syslog-ng, podman...), and `test` holds the package of every
  outside program the tests call;
- docker/Dockerfile's build stage installs the same build packages as `run`;
- ./dev run and ./dev build plain install `run`, ./dev test `test`, and
  .ci/run is ./dev test.
Needs dpkg and the packages installed (they are wherever the suite builds)."""
import os
import re
import shutil
import subprocess
import unittest

ROOT = os.path.realpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))
HEAVY = {"chromium", "postgresql", "prometheus", "prometheus-alertmanager", "syslog-ng-core", "syslog-ng-mod-http",
         "podman", "debootstrap", "clang", "libclang-rt-14-dev", "nodejs", "npm", "strace", "jq"}


def read(path):
    with open(os.path.join(ROOT, path), encoding="utf-8") as f:
        return f.read()


def deps_list(mode):
    out = subprocess.run([os.path.join(ROOT, "scripts", "deps.sh"), "--list", mode], capture_output=True, text=True,
                         check=True).stdout
    return set(out.split())


def package_of(path):
    """The Debian package that owns a file (following symbolic links), or None."""
    for p in (path, os.path.realpath(path)):
        r = subprocess.run(["dpkg", "-S", p], capture_output=True, text=True)
        if r.returncode == 0:
            return r.stdout.split(":")[0].strip()
    return None


def covered(pkg, pkgs):
    """pkg is one of pkgs, or a direct dependency of one (postgresql -> postgresql-15, clang -> clang-14)."""
    if pkg in pkgs:
        return True
    for p in pkgs:
        dep = subprocess.run(["dpkg-query", "-W", "-f=${Depends}", p], capture_output=True, text=True).stdout
        if re.search(r"(^|[ ,|])%s([ ,:(]|$)" % re.escape(pkg), dep):
            return True
    return False


@unittest.skipUnless(shutil.which("dpkg") and shutil.which("pkg-config"), "needs dpkg and pkg-config")
class DepsTest(unittest.TestCase):
    def setUp(self):
        self.run_pkgs = deps_list("run")
        self.test_pkgs = deps_list("test")

    def test_modes(self):
        self.assertTrue(self.run_pkgs < self.test_pkgs, "run must be a part of test")
        self.assertEqual(sorted(self.run_pkgs & HEAVY), [], "./dev run would install the tests' tools")
        self.assertTrue({"chromium", "postgresql", "prometheus", "podman"} <= self.test_pkgs)
        r = subprocess.run([os.path.join(ROOT, "scripts", "deps.sh"), "bogus"], capture_output=True, text=True)
        self.assertEqual(r.returncode, 2)
        self.assertIn("usage", r.stderr)

    def test_run_covers_what_the_build_links(self):
        cmake = read("CMakeLists.txt") + read("tests/CMakeLists.txt")
        modules = re.findall(r"pkg_check_modules\(\w+ REQUIRED IMPORTED_TARGET ([\w.+-]+)\)", cmake)
        self.assertGreater(len(modules), 10)
        for mod in modules:
            pcdir = subprocess.run(["pkg-config", "--variable=pcfiledir", mod], capture_output=True,
                                   text=True).stdout.strip()
            self.assertTrue(pcdir, "pkg-config does not know %s" % mod)
            pkg = package_of(os.path.join(pcdir, mod + ".pc"))
            self.assertTrue(pkg in self.run_pkgs, "the build needs %s (package %s); deps.sh run lacks it" % (mod, pkg))
        for lib in re.findall(r"find_library\(\w+ (\w+) REQUIRED\)", cmake):
            found = [os.path.join(d, "lib%s.so" % lib) for d in ("/usr/lib/x86_64-linux-gnu", "/usr/lib/aarch64-linux-gnu",
                                                                 "/usr/lib")]
            path = next((p for p in found if os.path.exists(p)), None)
            self.assertTrue(path, "lib%s.so not found" % lib)
            pkg = package_of(path)
            self.assertTrue(pkg in self.run_pkgs, "the build links lib%s (package %s); deps.sh run lacks it" % (lib, pkg))
        for prog in ("cmake", "pkg-config", "python3", "cc"):
            self.assertTrue(shutil.which(prog), prog)
        self.assertTrue({"cmake", "pkg-config", "python3", "build-essential"} <= self.run_pkgs)

    def test_test_covers_the_programs_the_tests_call(self):
        programs = ["promtool", "strace", "syslog-ng", "sqlite3", "curl", "jq", "podman", "debootstrap", "chromium",
                    "/usr/bin/prometheus-alertmanager", "clang"]
        pg = sorted(p for p in os.listdir("/usr/lib/postgresql") if os.path.isdir("/usr/lib/postgresql/" + p)) \
            if os.path.isdir("/usr/lib/postgresql") else []
        if pg:
            programs.append("/usr/lib/postgresql/%s/bin/initdb" % pg[-1])
        for prog in programs:
            path = prog if prog.startswith("/") else shutil.which(prog)
            if not path or not os.path.exists(path):
                continue  # not installed on this machine: deps.sh test would install it; CI has it
            pkg = package_of(path)
            self.assertTrue(pkg is None or covered(pkg, self.test_pkgs), "the tests call %s (package %s); deps.sh test lacks it" %
                            (prog, pkg))

    def test_dockerfile_builds_with_the_run_set(self):
        docker = read("docker/Dockerfile")
        build_stage = docker.split(" AS runtime", 1)[0]
        installed = set(re.findall(r"^\s+([a-z0-9][a-z0-9.+-]+) \\$", build_stage, re.M))
        self.assertGreater(len(installed), 10)
        # the image needs no tzdata or CA certificates to build; everything else is the same set
        self.assertEqual(sorted(installed ^ (self.run_pkgs - {"tzdata", "ca-certificates"})), [],
                         "docker/Dockerfile's build stage and scripts/deps.sh run differ")

    def test_dev_and_ci_install_the_right_set(self):
        dev = read("dev")
        arms = dict(re.findall(r"^  (\w+)\)\s*\n?(.*?)(?=^  \w+\)|^  \*\)|\Z)", dev.split('case "${1:-}" in', 1)[1],
                               re.M | re.S))
        self.assertIn("./scripts/deps.sh run", arms["run"])
        self.assertNotIn("deps.sh test", arms["run"])
        self.assertIn("./scripts/deps.sh test", arms["test"])
        self.assertRegex(arms["build"], r"plain\|release\) \./scripts/deps\.sh run")
        for arm in ("fuzz", "bench"):
            self.assertIn("./scripts/deps.sh test", arms[arm])
        self.assertRegex(read(".ci/run"), r"(?m)^exec \./dev test$")


if __name__ == "__main__":
    unittest.main()
