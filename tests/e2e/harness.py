"""End-to-end harness: starts the real anomalog binary on a free loopback port
with a temporary SQLite file and talks HTTP to it.

The binary comes from $ANOMALOG_BIN (set by CTest). The server is started with
--listen 127.0.0.1:0 and the port is read from its "listening on" line, so
tests never race for a port. A test that restarts a server where its clients
expect it passes the port the first one got (start_server(port=...)).
"""
import gzip
import http.client
import json
import os
import re
import shutil
import signal
import sqlite3
import subprocess
import tempfile
import threading
import time
import unittest

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
        env.update(self.env)
        cmd = [BIN, "serve", "--listen", "127.0.0.1:%d" % self.listen_port, "--db", self.db] + self.args
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
    p = subprocess.run([BIN] + list(args), env=e, cwd=cwd, capture_output=True, timeout=timeout)
    return p.returncode, p.stdout.decode(), p.stderr.decode()


def db_rows(path, sql, params=()):
    con = sqlite3.connect(path, timeout=10)
    try:
        return con.execute(sql, params).fetchall()
    finally:
        con.close()


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
