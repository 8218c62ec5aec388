"""End-to-end harness: starts the real anomalog binary on a free loopback port
with a temporary SQLite file and talks HTTP to it.

PostgreSQL mode: when $ANOMALOG_TEST_PG_URL names a PostgreSQL server (ctest's
e2e-pg.* tests run under tests/pg/with-postgres.sh), every SQLite path a test
uses stands for a fresh PostgreSQL database of its own (pg_url_for), the server
and the CLI are given that database's URL instead, and db_rows() queries it
with psql. Tests about SQLite itself skip with sqlite_only().

The binary comes from $ANOMALOG_BIN (set by CTest). The server is started with
--listen 127.0.0.1:0 and the port is read from its "listening on" line, so
tests never race for a port. A test that restarts a server where its clients
expect it passes the port the first one got (start_server(port=...)).

Missing tools: a test that needs an outside program (promtool, strace, a real
shipper) says so with needs(); locally a missing one skips the test, in CI
($CI=true, or $ANOMALOG_TEST_STRICT=1 that .ci/run exports) it fails the test
with a message naming it. Time limits go through slow(): under the sanitizers
($ANOMALOG_TEST_SLOWDOWN, set by CMake for an ANOMALOG_SANITIZE build) they
scale.
"""
import functools
import glob
import gzip
import http.client
import json
import os
import re
import shutil
import signal
import sqlite3
import struct
import subprocess
import tempfile
import threading
import time
import unittest

PG_URL = os.environ.get("ANOMALOG_TEST_PG_URL") or None

# CI: a missing dependency is a failure, never a skip
STRICT = os.environ.get("ANOMALOG_TEST_STRICT", "") not in ("", "0") or os.environ.get("CI", "").lower() == "true"
# how much slower than a plain build the binary under test is (CMake sets it for sanitizer builds)
SLOWDOWN = max(1.0, float(os.environ.get("ANOMALOG_TEST_SLOWDOWN") or 1))


def slow(seconds):
    """A time limit for the binary under test, scaled for sanitizer builds."""
    return seconds * SLOWDOWN


def _missing(what):
    return "missing dependency: %s (scripts/deps.sh installs it)" % what


def need(available, what):
    """Inside a test: skips it locally when available is falsy, fails it in CI."""
    if available:
        return
    if STRICT:
        raise AssertionError(_missing(what))
    raise unittest.SkipTest(_missing(what) + "; a skip outside CI, a failure in CI")


def needs(available, what):
    """Decorator of a test or class that needs an outside tool: skipped locally when it is missing,
    failed in CI (STRICT) with a message naming it."""
    def decorate(test):
        if available:
            return test
        if not STRICT:
            return unittest.skip(_missing(what) + "; a skip outside CI, a failure in CI")(test)
        if isinstance(test, type):
            def failing_setup(self):
                raise AssertionError(_missing(what))
            test.setUp = failing_setup
            return test

        @functools.wraps(test)
        def failing(*args, **kwargs):
            raise AssertionError(_missing(what))
        return failing
    return decorate


def sqlite_only(test):
    """Marks a test (or class) that is about the SQLite file itself: skipped in PostgreSQL mode."""
    return unittest.skipIf(PG_URL, "about SQLite itself (PostgreSQL mode)")(test)


def _psql(url, sql, variables=()):
    cmd = ["psql", url, "-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1", "-F", "\x1f", "-R", "\x1e", "-P", "null=\x01"]
    for i, v in enumerate(variables):
        cmd += ["-v", "p%d=%s" % (i + 1, v)]
    p = subprocess.run(cmd, input=sql.encode(), capture_output=True, timeout=60)
    if p.returncode != 0:
        raise RuntimeError("psql: %s: %s" % (sql, p.stderr.decode(errors="replace")))
    return p.stdout.decode()


_pg_dbs = {}


def pg_url_for(path):
    """PostgreSQL mode: the URL of the database that stands for the SQLite file path (created on first use)."""
    if path.startswith("postgres"):
        return path
    key = os.path.abspath(path)
    if key not in _pg_dbs:
        name = "e2e_%d_%d" % (os.getpid(), len(_pg_dbs))
        _psql(PG_URL, "CREATE DATABASE %s" % name)
        _pg_dbs[key] = PG_URL.rsplit("/", 1)[0] + "/" + name
    return _pg_dbs[key]


def pg_drop_all():
    """Drops every database pg_url_for created (servers stopped first)."""
    for url in _pg_dbs.values():
        _psql(PG_URL, "DROP DATABASE IF EXISTS %s WITH (FORCE)" % url.rsplit("/", 1)[1])
    _pg_dbs.clear()


def _map_db_args(args):
    """PostgreSQL mode: the value of every --db in args becomes its database's URL."""
    out = list(args)
    for i in range(len(out) - 1):
        if out[i] == "--db" and PG_URL:
            out[i + 1] = pg_url_for(out[i + 1])
    return out


BIN = os.environ.get("ANOMALOG_BIN") or os.path.join(
    os.path.dirname(__file__), "..", "..", "build", "anomalog")


class Server:
    """One anomalog process. Its stderr is collected in self.log."""

    def __init__(self, workdir, args=(), env=None, db=None, port=0):
        self.workdir = workdir
        self.db = db or os.path.join(workdir, "anomalog.db")
        self.args = list(args)
        self.env = env or {}
        self.proc = None
        self.listen_port = port
        self.port = None
        self._pump = None
        self.log = []
        self._log_lock = threading.Lock()

    def start(self, timeout=15):
        env = {k: v for k, v in os.environ.items() if not k.startswith("ANOMALOG_")}
        # an incident's notifications go out at once unless a test holds them (--incident-group-wait,
        # test_incident_group_wait.py): the tests of routing read them as soon as they are queued
        env["ANOMALOG_INCIDENT_GROUP_WAIT"] = "0"
        env.update(self.env)
        cmd = _map_db_args([BIN, "serve", "--listen", "127.0.0.1:%d" % self.listen_port, "--db", self.db] + self.args)
        self.proc = subprocess.Popen(cmd, stderr=subprocess.PIPE, stdout=subprocess.DEVNULL,
                                     env=env, cwd=self.workdir)
        ready = threading.Event()

        def pump():
            for raw in self.proc.stderr:
                line = raw.decode("utf-8", "replace")
                with self._log_lock:
                    self.log.append(line)
                m = re.search(r"listening on [^ ]+:(\d+) ", line)
                if m:
                    self.port = int(m.group(1))
                    ready.set()
            ready.set()

        self._pump = threading.Thread(target=pump, daemon=True)
        self._pump.start()
        if not ready.wait(timeout) or self.port is None:
            self.kill()
            raise RuntimeError("server did not start: " + "".join(self.log))
        deadline = time.time() + timeout
        while time.time() < deadline:
            try:
                if self.request("GET", "/readyz")[0] == 200:
                    return self
            except OSError:
                pass
            time.sleep(0.05)
        raise RuntimeError("server not ready: " + "".join(self.log))

    def stderr(self):
        with self._log_lock:
            return "".join(self.log)

    def conn(self, timeout=30):
        return http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout)

    def request(self, method, path, body=None, headers=None, conn=None):
        """Returns (status, parsed JSON or raw bytes, headers dict with lowercase names)."""
        own = conn is None
        c = conn or self.conn()
        try:
            if isinstance(body, str):
                body = body.encode()
            c.request(method, path, body=body, headers=headers or {})
            r = c.getresponse()
            data = r.read()
            hdrs = {k.lower(): v for k, v in r.getheaders()}
            if hdrs.get("content-type", "").startswith("application/json"):
                data = json.loads(data)
            return r.status, data, hdrs
        finally:
            if own:
                c.close()

    def ingest(self, body, content_type="application/x-ndjson", query="", headers=None, gz=False, conn=None):
        h = {"Content-Type": content_type} if content_type else {}
        h.update(headers or {})
        if isinstance(body, str):
            body = body.encode()
        if gz:
            body = gzip.compress(body)
            h["Content-Encoding"] = "gzip"
        return self.request("POST", "/ingest" + query, body, h, conn=conn)

    def get(self, path):
        return self.request("GET", path)

    def signal(self, sig):
        self.proc.send_signal(sig)

    def metric(self, name, **labels):
        """The value of one sample of GET /metrics (labels must match exactly), or None when absent."""
        want = sorted(labels.items())
        for line in self.get("/metrics")[1].decode().splitlines():
            m = re.match(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$', line)
            if m and m.group(1) == name and \
                    sorted(re.findall(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"', m.group(2) or "")) == want:
                return float(m.group(3))
        return None

    def connections(self, source=None):
        """How many TCP connections the server process holds open on its port now (from the address
        source only, when given): the sockets it accepted and has not closed, read from /proc. What the
        server's own connection limits count: a test waits on it instead of sleeping."""
        inodes = set()
        fd_dir = "/proc/%d/fd" % self.proc.pid
        for fd in os.listdir(fd_dir):
            try:
                target = os.readlink(os.path.join(fd_dir, fd))
            except OSError:  # closed meanwhile
                continue
            if target.startswith("socket:["):
                inodes.add(target[8:-1])
        counted = set()  # by inode: a table read while other sockets come and go can list one row twice
        for table in ("/proc/%d/net/tcp" % self.proc.pid, "/proc/%d/net/tcp6" % self.proc.pid):
            try:
                with open(table) as f:
                    rows = f.read().splitlines()[1:]
            except FileNotFoundError:
                continue
            for row in rows:
                cols = row.split()
                local, remote, state, inode = cols[1], cols[2], cols[3], cols[9]
                if inode not in inodes or state == "0A" or int(local.rsplit(":", 1)[1], 16) != self.port:
                    continue  # not ours, or the listening socket
                addr = remote.rsplit(":", 1)[0]
                if len(addr) == 8:  # IPv4, little-endian hex
                    ip = ".".join(str(int(addr[i:i + 2], 16)) for i in (6, 4, 2, 0))
                else:  # IPv6 (an IPv4-mapped address shows its IPv4 part)
                    ip = ".".join(str(int(addr[i:i + 2], 16)) for i in (30, 28, 26, 24)) \
                        if addr[:24] == "0000000000000000FFFF0000" else addr
                if source is None or ip == source:
                    counted.add(inode)
        return len(counted)

    def stop(self, timeout=30):
        """SIGTERM and wait; returns the exit code."""
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
                raise AssertionError("server did not stop within %ss" % timeout)
        if self._pump:
            self._pump.join(10)  # every line the process wrote is in self.log
        return self.proc.returncode

    def finish(self, timeout=20):
        """Stops the process the way a supervisor does (SIGTERM, SIGKILL after timeout) and reads the
        rest of its stderr, so what it reports at exit (LeakSanitizer's leak report) is in stderr().
        Returns False when it had to be killed."""
        stopped = True
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                stopped = False
                self.proc.kill()
                self.proc.wait()
        if self._pump:
            self._pump.join(10)
        self.kill()
        return stopped

    def kill(self):
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        if self.proc and self.proc.stderr:
            self.proc.stderr.close()


def run_cli(args, env=None, cwd=None, timeout=30):
    """Runs the binary with args; returns (exit code, stdout, stderr)."""
    e = {k: v for k, v in os.environ.items() if not k.startswith("ANOMALOG_")}
    e.update(env or {})
    p = subprocess.run([BIN] + _map_db_args(args), env=e, cwd=cwd, capture_output=True, timeout=timeout)
    return p.returncode, p.stdout.decode(), p.stderr.decode()


def _pg_value(v):
    if v == "\x01":
        return None
    if re.fullmatch(r"-?\d+", v):
        return int(v)
    if re.fullmatch(r"-?\d+\.\d*", v):
        return float(v)
    return v


JOURNAL_HEADER = struct.Struct("=IIQII")  # magic, payload length, seq, CRC-32, zero (src/store/writer.c)


def journal_last_seq(path):
    """The seq of the last whole record in the newest ingest journal file of the SQLite database at path
    (0 when there is none): the last batch a running server acknowledged."""
    files = sorted(glob.glob(glob.escape(path) + "-ingest." + "[0-9a-f]" * 16))
    last = 0
    if files:
        try:
            with open(files[-1], "rb") as f:
                data = f.read()
        except FileNotFoundError:  # deleted by the writer meanwhile: everything in it is stored
            return 0
        off = 0
        while off + JOURNAL_HEADER.size <= len(data):
            magic, n, seq, _, _ = JOURNAL_HEADER.unpack_from(data, off)
            if magic != 0x314A4C41 or off + JOURNAL_HEADER.size + n > len(data):
                break
            last, off = seq, off + JOURNAL_HEADER.size + n
    return last


def journal_settle(path, timeout=None):
    """Waits until the database at path holds every batch its server acknowledged so far: a 202 means the
    batch is in the ingest journal, and the writer stores it a moment later (docs/operations.md, Durability).
    Fails (AssertionError) when they are not stored within timeout (default 10 s, scaled by slow())."""
    timeout = slow(10) if timeout is None else timeout
    want = journal_last_seq(path)
    deadline = time.monotonic() + timeout
    row = None
    while want:
        con = sqlite3.connect(path, timeout=10)
        try:
            row = con.execute("SELECT seq FROM journal_state WHERE id = 1").fetchone()
        except sqlite3.OperationalError:  # a database from before migration 009, or none yet
            return
        finally:
            con.close()
        if row and row[0] >= want:
            return
        if time.monotonic() >= deadline:
            raise AssertionError("journal_settle: %s stores batches up to seq %s, but the journal acknowledged "
                                 "up to %d (%.0f s waited)" % (path, row[0] if row else None, want, timeout))
        time.sleep(0.01)


def db_rows(path, sql, params=()):
    """Rows of sql (with ? placeholders) on the database of path, as tuples, once it holds every batch
    acknowledged so far."""
    if PG_URL:
        n = [0]

        def placeholder(_):
            n[0] += 1
            return ":'p%d'" % n[0]

        out = _psql(pg_url_for(path), re.sub(r"\?", placeholder, sql), [str(p) for p in params])
        out = out[:-1] if out.endswith("\n") else out
        return [tuple(_pg_value(v) for v in rec.split("\x1f")) for rec in out.split("\x1e") if rec != ""]
    journal_settle(path)
    con = sqlite3.connect(path, timeout=10)
    try:
        return con.execute(sql, params).fetchall()
    finally:
        con.close()


def db_exec(path, sql):
    """Runs a statement that changes the database of path (committed)."""
    if PG_URL:
        _psql(pg_url_for(path), sql)
        return
    con = sqlite3.connect(path, timeout=10)
    try:
        con.execute(sql)
        con.commit()
    finally:
        con.close()


class write_lock:
    """Holds the database's write lock (with ...:), so the writer waits: SQLite's BEGIN IMMEDIATE, or on
    PostgreSQL a session holding a lock on logs that the writer's COPY waits for."""

    def __init__(self, path):
        self.path = path

    def __enter__(self):
        if PG_URL:
            self.proc = subprocess.Popen(["psql", pg_url_for(self.path), "-X", "-q", "-v", "ON_ERROR_STOP=1"],
                                         stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
            self.proc.stdin.write(b"BEGIN; LOCK TABLE logs IN SHARE MODE; SELECT 'locked';\n")
            self.proc.stdin.flush()
            self.proc.stdout.readline()  # the lock is held once psql answers
        else:
            self.con = sqlite3.connect(self.path, isolation_level=None, timeout=10)
            self.con.execute("BEGIN IMMEDIATE")
        return self

    def __exit__(self, *exc):
        if PG_URL:
            self.proc.communicate(b"ROLLBACK;\n", timeout=10)
        else:
            self.con.execute("ROLLBACK")
            self.con.close()


class ServerTest(unittest.TestCase):
    """Each test gets a fresh directory and, unless it says otherwise, a running server."""

    server_args = ()
    server_env = {}
    autostart = True

    def setUp(self):
        self.dir = tempfile.mkdtemp(prefix="anomalog-e2e-")
        self.servers = []
        if self.autostart:
            self.srv = self.start_server()

    def tearDown(self):
        # each server still running is stopped with SIGTERM, so a leak shows up in its stderr
        hung = [s for s in self.servers if not s.finish()]
        shutil.rmtree(self.dir, ignore_errors=True)
        if PG_URL:
            pg_drop_all()
        if hung:
            self.fail("server did not stop within 20 s of SIGTERM:\n" + hung[0].stderr()[-4000:])
        # a sanitizer report in any server's stderr fails the test, even when the test passed
        for s in self.servers:
            log = s.stderr()
            for marker in ("ERROR: AddressSanitizer", "runtime error:", "ERROR: LeakSanitizer"):
                if marker in log:
                    self.fail("server reported %r:\n%s" % (marker, log[-4000:]))

    def start_server(self, args=None, env=None, db=None, port=0):
        s = Server(self.dir, args if args is not None else self.server_args,
                   env if env is not None else self.server_env, db=db, port=port)
        self.servers.append(s)
        return s.start()

    def db_count(self, sql="SELECT count(*) FROM logs", params=()):
        return db_rows(os.path.join(self.dir, "anomalog.db"), sql, params)[0][0]

    def assertError(self, resp, status, code, **fields):
        st, body, _ = resp
        self.assertEqual(st, status, body)
        self.assertIsInstance(body, dict, body)
        self.assertEqual(body["error"]["code"], code, body)
        self.assertTrue(body["error"]["message"], body)
        for k, v in fields.items():
            self.assertEqual(body["error"].get(k), v, body)
        return body["error"]


def ndjson(rows):
    return "".join(json.dumps(r) + "\n" for r in rows)


FAKE_LLM_BIN = os.environ.get("FAKE_LLM_BIN") or os.path.join(
    os.path.dirname(__file__), "..", "..", "build", "tests", "fake", "fake_llm")


class FakeLLM:
    """The fake OpenAI-compatible server of tests/fake, scripted per test."""

    def __init__(self, port=0):
        self.port = port
        self.proc = None

    def start(self, timeout=10):
        self.proc = subprocess.Popen([FAKE_LLM_BIN, "--port", str(self.port)], stderr=subprocess.PIPE,
                                     stdout=subprocess.DEVNULL)
        deadline = time.time() + timeout
        while time.time() < deadline:
            line = self.proc.stderr.readline().decode()
            m = re.search(r"listening on [^ ]+:(\d+)", line)
            if m:
                self.port = int(m.group(1))
                threading.Thread(target=lambda: [None for _ in self.proc.stderr], daemon=True).start()
                return self
            if not line and self.proc.poll() is not None:
                break
        raise RuntimeError("fake_llm did not start")

    @property
    def url(self):
        return "http://127.0.0.1:%d/v1" % self.port

    def _call(self, method, path, body=None):
        c = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
        try:
            c.request(method, path, body=json.dumps(body) if body is not None else None,
                      headers={"Content-Type": "application/json"})
            r = c.getresponse()
            data = r.read()
            if r.status >= 300:
                raise AssertionError("fake_llm %s %s: %d %s" % (method, path, r.status, data[:300]))
            return json.loads(data) if data else None
        finally:
            c.close()

    def script(self, steps, then="good"):
        self._call("POST", "/_script", {"steps": steps, "then": then})

    def requests(self):
        return self._call("GET", "/_requests")

    def chat_count(self):
        return self._call("GET", "/_stats")["chat_requests"]

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def wait_for(pred, timeout=20, interval=0.1, what="condition"):
    """Polls pred() until it returns a truthy value; returns it or fails."""
    deadline = time.time() + timeout
    last = None
    while time.time() < deadline:
        last = pred()
        if last:
            return last
        time.sleep(interval)
    raise AssertionError("timed out waiting for %s (last: %r)" % (what, last))
