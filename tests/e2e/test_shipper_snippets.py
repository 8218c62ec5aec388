"""The snippets of docs/shippers.md for shippers that no Debian package runs
here, each read from the page itself and checked against the real binary:

- the OpenTelemetry SDK: the real one (Node.js, pinned, from npm), configured
  by exactly the page's OTEL_* variables, also across a restart of anomalog;
- Logstash (http output, json_batch), Fluentd (out_http), Docker's Loki
  logging driver, Fluent Bit (loki, drop_single_key raw): none installs from
  Debian, so each test sends what that shipper sends with the page's settings,
  as its documentation and source describe it (body, Content-Type,
  authentication, labels), and asserts every line stored once, with the
  service and level the page promises.
syslog-ng and rsyslog run for real in test_real_shippers.py."""
import base64
import json
import os
import re
import shutil
import subprocess
import threading
import time
import unittest
import urllib.parse

from harness import BIN, Server, ServerTest, db_rows, needs, slow, wait_for
from test_shippers import loki_proto, snappy_literal

HERE = os.path.dirname(os.path.abspath(__file__))
DOC = os.path.join(HERE, "..", "..", "docs", "shippers.md")
TOKEN = "ingest-4b1d"
OTEL_TOOLS = os.path.join(os.path.dirname(BIN), "test-tools-otel")
T0 = 1795514400  # 2026-11-24T10:00:00Z

# (text a program writes, the message anomalog stores, the level it reads from the text);
# a line that is a JSON object is read like an NDJSON entry (docs/api.md)
LINES = [
    ("2026-11-24T10:00:01Z ERROR payment declined order=%d", None, "error"),
    ('level=warn msg="slow query" took_ms=%d', None, "warn"),
    ("GET /orders/%d 200 12ms", None, None),  # no level in the text, none from the shipper
    ('{"level":"info","msg":"order %d shipped"}', "order %d shipped", "info"),
    ("[FATAL] out of memory in worker %d", None, "fatal"),
]


def snippet(marker):
    """The fenced code block of docs/shippers.md that contains marker."""
    with open(DOC, encoding="utf-8") as f:
        blocks = re.findall(r"^```[a-z]*\n(.*?)^```", f.read(), re.M | re.S)
    found = [b for b in blocks if marker in b]
    assert len(found) == 1, "docs/shippers.md: %d blocks contain %r" % (len(found), marker)
    return found[0]


class Line(str):
    """A line as sent (the str itself), with the message and level anomalog should store."""

    def __new__(cls, sent, stored, level):
        s = super().__new__(cls, sent)
        s.stored, s.level = sent if stored is None else stored, level
        return s


def lines(n):
    """n lines cycling through LINES, each unique."""
    out = []
    for i in range(n):
        sent, stored, level = LINES[i % len(LINES)]
        out.append(Line(sent % i, (stored or sent) % i, level))
    return out


class ShipperTest(ServerTest):
    """A server that wants the ingest token, and what it stored."""
    server_env = {"ANOMALOG_AUTH_INGEST_TOKEN": TOKEN}
    server_args = ["--llm-url", "none"]

    def stored(self):
        return db_rows(os.path.join(self.dir, "anomalog.db"),
                       "SELECT s.name, l.level, l.message, l.ts FROM logs l JOIN windows w ON w.id = l.window_id "
                       "JOIN services s ON s.id = w.service_id ORDER BY l.id")

    def assert_stored(self, sent, service, what):
        """Every Line of sent stored once, of service, with its message and level."""
        rows = self.stored()
        print("%s: sent %d, stored %d, lost %d" % (what, len(sent), len(rows),
                                                   len({l.stored for l in sent} - {r[2] for r in rows})))
        self.assertEqual(sorted(r[2] for r in rows), sorted(l.stored for l in sent))
        want = {l.stored: l.level for l in sent}
        for svc, level, text, _ in rows:
            self.assertEqual(svc, service, text)
            self.assertEqual(level, want[text], text)
        return rows

    def post(self, url, body, headers):
        """POSTs to the path and query of url (its host stands for the test server)."""
        u = urllib.parse.urlsplit(url)
        self.assertEqual((u.hostname, u.port), ("anomalog", 8080), url)
        path = u.path + ("?" + u.query if u.query else "")
        return self.srv.request("POST", path, body, headers)


class SnippetTest(ShipperTest):
    def test_logstash_http_json_batch(self):
        s = snippet("# Logstash")
        url = re.search(r'url\s*=>\s*"([^"]+)"', s).group(1)
        self.assertRegex(s, r'format\s*=>\s*"json_batch"')
        self.assertRegex(s, r'http_method\s*=>\s*"post"')
        auth = re.search(r'"Authorization"\s*=>\s*"([^"]+)"', s).group(1).replace("${ANOMALOG_AUTH_INGEST_TOKEN}",
                                                                                  TOKEN)
        service = re.search(r'"service"\s*=>\s*"([^"]+)"', s).group(1)
        self.assertIn('"[event][original]"', s)
        sent = lines(50)
        # what logstash-output-http sends for json_batch: one JSON array of the events' hashes
        # (Logstash 8, ECS: @timestamp with milliseconds, @version, host.name, log.file.path), with
        # Content-Type application/json, the configured headers; event.original removed by the filter
        events = [{"@timestamp": "2026-11-24T10:00:%02d.%03dZ" % (i % 60, i), "@version": "1", "message": text,
                   "host": {"name": "web-1"}, "log": {"file": {"path": "/var/log/checkout/app.log"}},
                   "service": service}
                  for i, text in enumerate(sent)]
        st, body, _ = self.post(url, json.dumps(events), {"Content-Type": "application/json", "Authorization": auth})
        self.assertEqual(st, 202, body)
        rows = self.assert_stored(sent, service, "logstash")
        self.assertEqual(rows[1][3], (T0 + 1) * 1000 + 1)  # @timestamp is the event time

    def test_fluentd_out_http(self):
        s = snippet("# Fluentd")
        endpoint = re.search(r"^\s*endpoint (\S+)", s, re.M).group(1)
        self.assertIn("${tag[1]}", endpoint)
        self.assertRegex(s, r"<format>\s*@type json\s*</format>")
        codes = [int(c) for c in re.search(r"retryable_response_codes \[([^]]+)\]", s).group(1).split(",")]
        self.assertIn(503, codes)  # what anomalog answers under pressure and while it stops
        user = re.search(r"username (\S+)", s).group(1)
        self.assertIn("#{ENV['ANOMALOG_AUTH_INGEST_TOKEN']}", s)
        # the filter before the match adds the event time (out_http sends the record alone, no <inject>)
        self.assertRegex(s, r"@type record_transformer\s+enable_ruby true")
        fmt = re.search(r"^\s*time \$\{time\.utc\.strftime\('([^']+)'\)\}$", s, re.M).group(1)
        self.assertEqual(fmt, "%Y-%m-%dT%H:%M:%S.%NZ")  # Ruby: %N is nanoseconds, 9 digits
        self.assertNotIn("<inject>", s)
        sent = lines(40)
        # out_http: the chunk's records, each formatted by the json formatter (one object and "\n"),
        # Content-Type application/x-ndjson (json without json_array), basic auth; each record holds
        # the "time" the filter added, in the format above
        tag = "app.checkout"
        url = endpoint.replace("${tag[1]}", tag.split(".")[1])
        body = "".join(json.dumps({"message": text, "time": "2026-11-24T10:00:%02d.%09dZ" % (i % 60, i * 1000001)}) +
                       "\n" for i, text in enumerate(sent))
        basic = base64.b64encode(("%s:%s" % (user, TOKEN)).encode()).decode()
        st, out, _ = self.post(url, body, {"Content-Type": "application/x-ndjson", "Authorization": "Basic " + basic})
        self.assertEqual(st // 100, 2, out)  # out_http: any 2xx is success
        rows = self.assert_stored(sent, "checkout", "fluentd")
        self.assertEqual(rows[3][3], (T0 + 3) * 1000 + 3)

    def test_docker_loki_driver(self):
        opts = json.loads(snippet('"log-driver": "loki"'))
        self.assertEqual(opts["log-driver"], "loki")
        o = opts["log-opts"]
        url = urllib.parse.urlsplit(o["loki-url"])
        self.assertEqual(url.password, "INGEST_TOKEN")
        label, template = o["loki-external-labels"].split("=")
        self.assertEqual(template, "{{.Name}}")
        self.assertGreaterEqual(int(o["loki-retries"]), 10)
        container = "checkout"
        sent = lines(60)
        # the driver (Promtail's client): snappy-compressed protobuf PushRequest, Content-Type
        # application/x-protobuf, basic auth from the URL's user info; the stream's labels are the
        # external labels (the template expanded), host and filename; each entry one line of the
        # container's output, without its newline, stamped with the time Docker read it
        labels = '{%s="%s", filename="/var/lib/docker/containers/3f2a/3f2a-json.log", host="docker-1"}' % (
            label, container)
        entries = [(T0 + i, 500000000, text, {}) for i, text in enumerate(sent)]
        body = snappy_literal(loki_proto([(labels, entries)]))
        basic = base64.b64encode(("%s:%s" % (url.username, TOKEN)).encode()).decode()
        target = urllib.parse.urlunsplit((url.scheme, "anomalog:8080", url.path, url.query, ""))
        st, out, _ = self.post(target, body, {"Content-Type": "application/x-protobuf",
                                              "Authorization": "Basic " + basic})
        self.assertEqual(st, 204, out)
        rows = self.assert_stored(sent, container, "docker loki driver")
        self.assertEqual(rows[2][3], (T0 + 2) * 1000 + 500)

    def test_fluent_bit_loki_raw_line(self):
        s = snippet("# Fluent Bit")
        conf = dict(re.findall(r"^\s+(\w+)\s+(.+?)\s*$", s, re.M))
        self.assertEqual(conf["Name"], "loki")
        self.assertEqual(conf["drop_single_key"], "raw")
        self.assertEqual(conf["Retry_Limit"], "no_limits")
        self.assertEqual((conf["Host"], conf["Port"]), ("anomalog", "8080"))
        labels = dict(kv.strip().split("=", 1) for kv in conf["labels"].split(","))
        sent = lines(30)
        # out_loki with line_format json: labels from the record ($key: record accessor; those keys
        # leave the record), remove_keys dropped, and with one key left and drop_single_key raw its
        # string value is the line, unquoted (on would send it as a JSON string, quotes included)
        streams = {}
        for text in sent:
            record = {"log": str(text), "service": "checkout", "level": text.level or "", "stream": "stdout"}
            stream = {k: record[v[1:]] if v.startswith("$") else v for k, v in labels.items()}
            stream = {k: v for k, v in stream.items() if v}  # an empty accessor adds no label
            for k in [v[1:] for v in labels.values() if v.startswith("$")] + \
                     [k.strip() for k in conf["remove_keys"].split(",")]:
                record.pop(k, None)
            self.assertEqual(list(record), ["log"])
            streams.setdefault(json.dumps(stream, sort_keys=True), []).append(record["log"])
        body = {"streams": [{"stream": json.loads(k), "values": [["%d" % ((T0 + i) * 10**9), v]
                                                                 for i, v in enumerate(vals)]}
                            for k, vals in streams.items()]}
        st, out, _ = self.srv.request("POST", "/loki/api/v1/push", json.dumps(body),
                                      {"Content-Type": "application/json", "Authorization": "Bearer " + TOKEN})
        self.assertEqual(st, 204, out)
        self.assert_stored(sent, "checkout", "fluent bit")


def otel_env(port):
    """The OTEL_* variables of docs/shippers.md, pointed at the test server."""
    env = {}
    for line in snippet("OTEL_EXPORTER_OTLP_LOGS_ENDPOINT").splitlines():
        m = re.match(r"^(OTEL_[A-Z_]+)=(\S+)", line)
        if m:
            env[m.group(1)] = m.group(2).replace("anomalog:8080", "127.0.0.1:%d" % port) \
                .replace("${ANOMALOG_AUTH_INGEST_TOKEN}", TOKEN)
    return env


@needs(shutil.which("node") and shutil.which("npm"), "node and npm (Debian packages nodejs, npm)")
class OtelSdkTest(ShipperTest):
    """The real OpenTelemetry SDK for Node.js, configured by the page's variables only."""

    @classmethod
    def setUpClass(cls):
        subprocess.run([os.path.join(HERE, "..", "shippers", "otel_setup.sh"), OTEL_TOOLS], check=True, timeout=300)

    def emitter(self, port, count, interval_ms=0):
        env = {k: v for k, v in os.environ.items() if not k.startswith("OTEL_")}
        env.update(otel_env(port))
        env.update({"OTEL_TRACES_EXPORTER": "none", "OTEL_METRICS_EXPORTER": "none",  # logs only here
                    "NODE_PATH": os.path.join(OTEL_TOOLS, "node_modules")})
        return subprocess.Popen(["node", os.path.join(HERE, "..", "shippers", "otel_emit.js"), str(count),
                                 str(interval_ms)], env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)

    def expected(self, n):
        return [Line("otel line %04d" % i, None, "error" if i % 5 == 0 else "info") for i in range(n)]

    def test_sdk_environment(self):
        env = otel_env(self.srv.port)
        self.assertEqual(env["OTEL_EXPORTER_OTLP_LOGS_PROTOCOL"], "http/protobuf")
        self.assertEqual(env["OTEL_EXPORTER_OTLP_LOGS_ENDPOINT"], "http://127.0.0.1:%d/v1/logs" % self.srv.port)
        p = self.emitter(self.srv.port, 100)
        out = p.communicate(timeout=120)[0].decode(errors="replace")
        self.assertEqual(p.returncode, 0, out)
        self.assertIn("shutdown ok", out)
        self.assert_stored(self.expected(100), env["OTEL_SERVICE_NAME"], "otel sdk")
        attrs = json.loads(db_rows(os.path.join(self.dir, "anomalog.db"), "SELECT attributes FROM logs LIMIT 1")[0][0])
        self.assertEqual(attrs.get("telemetry.sdk.language"), "nodejs")  # it was the SDK that sent them

    def test_sdk_across_a_restart(self):
        """anomalog stopped (SIGTERM) for 1 s while the SDK emits: its exporter retries a refused
        connection 5 times over about 8 s, so a short restart loses nothing."""
        port, n = self.srv.port, 300
        p = self.emitter(port, n, 20)  # about 6 s of records, exported every second
        wait_for(lambda: self.db_count() > 0, timeout=slow(30), what="the first export")
        self.srv.stop()
        time.sleep(1)
        self.start_server(port=port)
        out = p.communicate(timeout=120)[0].decode(errors="replace")
        self.assertEqual(p.returncode, 0, out)
        wait_for(lambda: self.db_count() >= n, timeout=slow(30), what="%d records" % n)
        # the restart fell inside the emission: each server stored a part
        before = int(re.search(r"stopped after (\d+) entries", self.servers[0].stderr()).group(1))
        self.assertTrue(0 < before < n, before)
        self.assert_stored(self.expected(n), "checkout", "otel sdk across a restart (%d before it)" % before)


if __name__ == "__main__":
    unittest.main()
