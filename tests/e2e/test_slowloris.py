"""Slowloris and connection floods from one address (issue 16), at default
settings unless a test says otherwise, on loopback: the attacker's sockets are
bound to 127.0.0.2, the well-behaved client connects from 127.0.0.1.

What is proved:
- a slowloris of 600 connections from one address, each sending one header
  byte every few seconds and reconnecting when cut, leaves >= 95% of another
  address's ingest requests answered (202) within 2 s, and /healthz with them;
- a connection over the per-address limit gets 503 too_many_connections with
  Retry-After and a JSON body once its headers arrive, not a reset; beyond
  twice the limit the address's connections are closed at once;
- headers that trickle in are cut after limits.header_timeout however often a
  byte comes, while an idle kept-alive connection is left alone;
- when all but the reserve (max_connections / 16) are open, /healthz and
  /readyz are still served and other requests get 503 server_busy;
- /metrics shows anomalog_http_connections_open and the busiest address's
  count, which these tests poll instead of sleeping.
Every loop is bounded by a deadline scaled for sanitizer builds."""
import json
import os
import re
import select
import socket
import threading
import time
import unittest

from harness import BIN, ServerTest, ndjson, wait_for

# sanitizer builds run several times slower: deadlines about timing scale with it
SCALE = 3.0 if "asan" in os.path.basename(os.path.dirname(os.path.abspath(BIN))) else 1.0
ATTACKER = "127.0.0.2"


def connect_from(port, source, timeout=5):
    s = socket.socket()
    s.settimeout(timeout)
    s.bind((source, 0))
    s.connect(("127.0.0.1", port))
    return s


def read_answer(sock, timeout=5):
    """Bytes the server sends until it closes (or timeout); b"" when it closed without a word."""
    sock.settimeout(timeout)
    data = b""
    try:
        while True:
            chunk = sock.recv(65536)
            if not chunk:
                break
            data += chunk
    except (ConnectionResetError, socket.timeout):
        pass
    return data


def parse_answer(data):
    """(status, headers with lowercase names, body) of one raw HTTP answer."""
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split()[1])
    headers = {}
    for line in lines[1:]:
        k, _, v = line.partition(":")
        headers[k.strip().lower()] = v.strip()
    return status, headers, body


def gauge(srv, name):
    st, body, _ = srv.get("/metrics")
    if st != 200:
        return None
    m = re.search(r"^%s (\d+)$" % re.escape(name), body.decode(), re.M)
    return int(m.group(1)) if m else None


class Slowloris:
    """n connections from ATTACKER, each sending one header byte every `every` seconds, reopened when the
    server closes one (at most `reopen` per tick), until stop()."""

    def __init__(self, port, n, every):
        self.port, self.n, self.every = port, n, every
        self.socks = {}
        self.opened = self.closed_by_server = 0
        self.stopping = threading.Event()
        self.thread = threading.Thread(target=self.run, daemon=True)

    def open_one(self):
        try:
            s = socket.socket()
            s.setblocking(False)
            s.bind((ATTACKER, 0))
            try:
                s.connect(("127.0.0.1", self.port))
            except BlockingIOError:
                pass
            self.socks[s] = time.time() + self.every * (len(self.socks) % 10) / 10  # staggered
            self.opened += 1
            return s
        except OSError:
            return None

    def run(self, reopen=60, tick=0.1):
        for _ in range(self.n):
            self.open_one()
        started = set()
        deadline = time.time() + 600  # bounded whatever the test does
        while not self.stopping.is_set() and time.time() < deadline:
            now = time.time()
            gone = []
            readable = select.select(list(self.socks), [], [], 0)[0] if self.socks else []
            for s in readable:
                try:
                    if not s.recv(4096):
                        gone.append(s)
                except BlockingIOError:
                    pass
                except OSError:
                    gone.append(s)
            for s, due in list(self.socks.items()):
                if s in gone or due > now:
                    continue
                try:
                    s.send(b"X" if s in started else b"POST /ingest HTTP/1.1\r\nHost: x\r\nX-Slow: ")
                    started.add(s)
                    self.socks[s] = now + self.every
                except BlockingIOError:
                    self.socks[s] = now + self.every
                except OSError:
                    gone.append(s)
            for s in set(gone):
                self.socks.pop(s, None)
                started.discard(s)
                s.close()
                self.closed_by_server += 1
            for _ in range(min(reopen, self.n - len(self.socks))):
                self.open_one()
            time.sleep(tick)
        for s in self.socks:
            s.close()

    def start(self):
        self.thread.start()
        return self

    def stop(self):
        self.stopping.set()
        self.thread.join(30)


class SlowlorisDefaultsTest(ServerTest):
    server_args = ["--llm-url", "none"]

    def test_slowloris_from_one_address_leaves_the_others_served(self):
        attack = Slowloris(self.srv.port, 600, every=3).start()
        try:
            # the attack holds what one address may hold (64 served + 64 answered 503) before the client starts
            wait_for(lambda: (gauge(self.srv, "anomalog_http_connections_open_busiest_address") or 0) >= 120,
                     timeout=30 * SCALE, what="the attacker holding its connections")
            answered, accepted, total, slowest = 0, 0, 80, 0.0
            # paced over 12 s: past the 10 s header deadline, so the attack is cut and reconnects meanwhile
            begin = time.time()
            for i in range(total):
                time.sleep(max(0.0, begin + i * 0.15 - time.time()))
                t0 = time.time()
                try:
                    c = self.srv.conn(timeout=10 * SCALE)
                    st, b, _ = self.srv.ingest(ndjson([{"service": "victim", "message": "victim line %d" % i}]), conn=c)
                    c.close()
                except OSError:
                    st = None
                took = time.time() - t0
                slowest = max(slowest, took)
                accepted += st == 202
                if st == 202 and took <= 2.0 * SCALE:
                    answered += 1
                if i % 20 == 0:  # probes too, from the client's address
                    self.assertEqual(self.srv.get("/healthz")[0], 200)
                    self.assertEqual(self.srv.get("/readyz")[0], 200)
            busiest = gauge(self.srv, "anomalog_http_connections_open_busiest_address")
        finally:
            attack.stop()
        share = answered / total
        print("slowloris: %d/%d (%.1f%%) of 127.0.0.1's requests answered within %.1f s, slowest %.2f s; "
              "attacker opened %d connections, %d closed by the server, busiest address held %s"
              % (answered, total, 100 * share, 2.0 * SCALE, slowest, attack.opened, attack.closed_by_server, busiest))
        self.assertGreaterEqual(share, 0.95)
        self.assertLessEqual(busiest, 128, "one address held more than twice max_connections_per_ip")
        self.assertGreater(attack.closed_by_server, 0, "nothing of the attack was ever cut")
        metrics = self.srv.get("/metrics")[1].decode()
        for reason in ("header_timeout", "address_limit_closed"):
            m = re.search(r'anomalog_http_connections_refused_total\{reason="%s"\} (\d+)' % reason, metrics)
            self.assertTrue(m and int(m.group(1)) > 0, reason)
        self.assertEqual(self.db_count("SELECT count(*) FROM logs WHERE message LIKE 'victim line %'"), accepted)
        # once the attack stops the attacker's address is served again
        wait_for(lambda: (gauge(self.srv, "anomalog_http_connections_open_busiest_address") or 0) <= 2,
                 timeout=20 * SCALE, what="the attacker's connections gone")
        s = connect_from(self.srv.port, ATTACKER)
        s.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        self.assertEqual(parse_answer(read_answer(s))[0], 200)
        s.close()


class PerAddressLimitTest(ServerTest):
    server_args = ["--llm-url", "none", "--limits-max-connections-per-ip", "4", "--limits-header-timeout", "30s"]

    def hold(self, n):
        held = []
        for _ in range(n):
            s = connect_from(self.srv.port, ATTACKER)
            s.sendall(b"POST /ingest HTTP/1.1\r\nHost: x\r\n")
            held.append(s)
        return held

    def test_over_the_limit_is_503_with_retry_after_then_closed_at_twice(self):
        held = self.hold(4)
        try:
            wait_for(lambda: gauge(self.srv, "anomalog_http_connections_open_busiest_address") == 4,
                     timeout=10 * SCALE, what="4 connections from the attacker counted")
            # the fifth: accepted and answered once its headers are in, with a JSON body naming the limit
            s = connect_from(self.srv.port, ATTACKER)
            s.sendall(b"POST /ingest HTTP/1.1\r\nHost: x\r\nContent-Type: text/plain\r\nContent-Length: 2\r\n\r\nx\n")
            status, headers, body = parse_answer(read_answer(s, timeout=10 * SCALE))
            s.close()
            self.assertEqual(status, 503)
            self.assertEqual(headers.get("retry-after"), "5")
            err = json.loads(body)["error"]
            self.assertEqual(err["code"], "too_many_connections")
            self.assertIn("max_connections_per_ip", err["message"])
            # health probes from that address are refused the same way (the limit is the address's)
            s = connect_from(self.srv.port, ATTACKER)
            s.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
            self.assertEqual(parse_answer(read_answer(s, timeout=10 * SCALE))[0], 503)
            s.close()
            # while 4 more are held over the limit, a ninth is closed at once, without an answer. The 4 are
            # cut 2 s after their accept, so the check counts only when the ninth came within 1 s of the
            # first of them connecting (a loaded machine may take longer): a fresh 4 are held for another try
            for attempt in range(8):
                # the refused connections above closed: 8 below means these four, not a leftover
                wait_for(lambda: gauge(self.srv, "anomalog_http_connections_open_busiest_address") == 4,
                         timeout=10 * SCALE, what="only the 4 held connections open")
                started = time.monotonic()
                held += self.hold(4)
                while (gauge(self.srv, "anomalog_http_connections_open_busiest_address") != 8
                       and time.monotonic() - started < 1.0):
                    time.sleep(0.02)
                s = connect_from(self.srv.port, ATTACKER)
                s.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
                came = time.monotonic() - started
                answer = read_answer(s, timeout=10 * SCALE)
                s.close()
                if came < 1.0:
                    break
                print(f"attempt {attempt + 1}: the ninth came {came:.1f} s after the four; again")
            else:
                self.fail("the ninth connection never came within 1 s of the four over the limit")
            self.assertEqual(answer, b"")
            # the other address is served throughout
            self.assertEqual(self.srv.get("/healthz")[0], 200)
            st, b, _ = self.srv.ingest(ndjson([{"message": "from 127.0.0.1"}]))
            self.assertEqual(st, 202, b)
            # the 4 over the limit (idle, headers unfinished) are cut 2 s after they were accepted
            wait_for(lambda: gauge(self.srv, "anomalog_http_connections_open_busiest_address") == 4,
                     timeout=10 * SCALE, what="the connections over the limit cut")
        finally:
            for s in held:
                s.close()
        wait_for(lambda: gauge(self.srv, "anomalog_http_connections_open_busiest_address") <= 1,
                 timeout=10 * SCALE, what="the held connections gone")


class HeaderDeadlineTest(ServerTest):
    server_args = ["--llm-url", "none", "--limits-header-timeout", "1s", "--limits-connection-timeout", "30s"]

    def test_trickling_headers_are_cut_and_idle_keep_alive_is_not(self):
        # an idle kept-alive connection, served once
        keep = self.srv.conn(timeout=10 * SCALE)
        self.assertEqual(self.srv.request("GET", "/healthz", conn=keep)[0], 200)
        s = connect_from(self.srv.port, ATTACKER)
        t0 = time.time()
        s.sendall(b"GET /healthz HTTP/1.1\r\n")
        s.settimeout(0.2)
        sent, closed = 0, False
        while time.time() - t0 < 10 * SCALE and not closed:  # a byte every 0.2 s: never idle for 30 s
            try:
                if s.recv(4096) == b"":
                    closed = True
                    break
            except socket.timeout:
                pass
            except OSError:
                closed = True
                break
            try:
                s.send(b"X")
                sent += 1
            except OSError:
                closed = True
        waited = time.time() - t0
        s.close()
        self.assertTrue(closed, "trickling headers were never cut")
        self.assertGreaterEqual(waited, 0.9)
        self.assertLess(waited, 3 * SCALE)
        # the idle connection, older than the header timeout now, still serves its next request
        self.assertEqual(self.srv.request("GET", "/healthz", conn=keep)[0], 200)
        keep.close()
        m = re.search(r'anomalog_http_connections_refused_total\{reason="header_timeout"\} (\d+)',
                      self.srv.get("/metrics")[1].decode())
        self.assertEqual(int(m.group(1)), 1)


class ReserveTest(ServerTest):
    # 64 connections, 4 of them kept for probes; no limit per address, so one address can take the rest
    server_args = ["--llm-url", "none", "--limits-max-connections", "64", "--limits-max-connections-per-ip", "0"]

    def test_probes_are_served_when_all_but_the_reserve_are_held(self):
        held = []

        def hold():
            s = connect_from(self.srv.port, ATTACKER)
            s.sendall(b"GET /windows HTTP/1.1\r\nHost: x\r\n")
            held.append(s)

        try:
            for _ in range(59):
                hold()
            # the scrape is the 60th connection, still served; nothing else is open
            wait_for(lambda: gauge(self.srv, "anomalog_http_connections_open_busiest_address") == 59 and
                     gauge(self.srv, "anomalog_http_connections_open") == 60,
                     timeout=10 * SCALE, what="59 held connections counted, nothing else open")
            hold()  # the 60th held: only the reserve is left
            # one kept-alive connection asks for the probes, then for something else (until the server has
            # taken the 60th in: a connection accepted before it is an ordinary one)
            deadline, seen = time.time() + 10 * SCALE, None
            while time.time() < deadline:
                c = self.srv.conn(timeout=10 * SCALE)
                try:
                    seen = [self.srv.request("GET", p, conn=c) for p in ("/healthz", "/readyz", "/windows")]
                except OSError:
                    seen = None
                c.close()
                if seen and seen[2][0] == 503:
                    break
                time.sleep(0.05)
            self.assertTrue(seen, "no answer on a reserved connection")
            self.assertEqual([x[0] for x in seen], [200, 200, 503])
            self.assertEqual(seen[2][1]["error"]["code"], "server_busy")
            self.assertEqual(seen[2][2].get("retry-after"), "5")
        finally:
            for s in held:
                s.close()

        def served():
            try:
                return self.srv.get("/windows")[0] == 200
            except OSError:  # the closed ones may still count for a moment: at the hard limit, refused
                return False
        wait_for(served, timeout=10 * SCALE, what="/windows served again")


if __name__ == "__main__":
    unittest.main()
