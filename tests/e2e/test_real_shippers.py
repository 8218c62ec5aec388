"""Real shippers from Debian's packages, started here on loopback: syslog-ng's
http() destination (batched syslog lines to /ingest?format=syslog) and
rsyslog's omelasticsearch (bulk to /_bulk). Each delivers a known file of
lines; every line must be stored exactly once.

A shipper that is not installed skips its test locally and fails it in CI
(harness.needs; scripts/deps.sh installs syslog-ng; rsyslog runs unpacked,
scripts/deps.sh unpacks it under /opt/rsyslog)."""
import os
import shutil
import sys
import subprocess
import threading
import time
import unittest

from harness import Server, ServerTest, db_rows, needs, wait_for

N_LINES = 500


def write_lines(path, tag):
    with open(path, "w") as f:
        for i in range(N_LINES):
            f.write("%s line %04d user=u%d took %dms\n" % (tag, i, i % 7, i * 3 % 97))


class RealShipperTest(ServerTest):
    def stored(self):
        return db_rows(os.path.join(self.dir, "anomalog.db"),
                       "SELECT s.name, l.message, l.level FROM logs l JOIN windows w ON w.id = l.window_id "
                       "JOIN services s ON s.id = w.service_id ORDER BY l.id")

    def run_shipper(self, cmd, tag, service):
        proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, cwd=self.dir)
        try:
            wait_for(lambda: self.db_count() >= N_LINES or proc.poll() is not None, timeout=60,
                     what="%d lines from %s" % (N_LINES, cmd[0]))
            time.sleep(1.5)  # anything sent twice would arrive now
        finally:
            proc.terminate()
            try:
                out = proc.communicate(timeout=10)[0].decode(errors="replace")
            except subprocess.TimeoutExpired:
                proc.kill()
                out = proc.communicate()[0].decode(errors="replace")
        rows = self.stored()
        msgs = [r[1] for r in rows]
        self.assertEqual(len(rows), N_LINES, out[-3000:])
        self.assertEqual(len(set(msgs)), N_LINES, "a line was stored twice")
        self.assertEqual(sorted(msgs), ["%s line %04d user=u%d took %dms" % (tag, i, i % 7, i * 3 % 97)
                                        for i in range(N_LINES)])
        self.assertEqual({r[0] for r in rows}, {service})
        return rows

    @needs(shutil.which("syslog-ng"), "syslog-ng (Debian package syslog-ng-core)")
    def test_syslog_ng_http_destination(self):
        src = os.path.join(self.dir, "in.log")
        write_lines(src, "sng")
        conf = os.path.join(self.dir, "syslog-ng.conf")
        with open(conf, "w") as f:
            f.write("""@version: 3.38
options { stats-freq(0); };
source s_in { file("%(src)s" flags(no-parse) follow-freq(0.1)); };
rewrite r_app { set("checkout" value("PROGRAM")); };
destination d_anomalog {
  http(url("http://127.0.0.1:%(port)d/ingest?format=syslog")
       method("POST")
       headers("Content-Type: text/plain")
       body("<${PRI}>1 ${ISODATE} ${HOST} ${PROGRAM} ${PID:--} - - ${MSG}")
       batch-lines(64) batch-timeout(200) delimiter("\\n"));
};
log { source(s_in); rewrite(r_app); destination(d_anomalog); };
""" % {"src": src, "port": self.srv.port})
        d = self.dir
        rows = self.run_shipper(["syslog-ng", "-F", "-f", conf, "-R", d + "/persist", "-p", d + "/pid",
                                 "-c", d + "/ctl", "--no-caps"], "sng", "checkout")
        self.assertTrue(all(r[2] for r in rows), "every line has a level from PRI")

    @needs(shutil.which("syslog-ng"), "syslog-ng (Debian package syslog-ng-core)")
    def test_syslog_ng_disk_buffer_survives_two_restarts(self):
        """The syslog-ng snippet of docs/shippers.md (disk-buffer, retries, time-reopen) while anomalog is stopped and
        started again twice: every line sent arrives. syslog-ng sends no Idempotency-Key, so a batch whose
        answer was lost would be sent again: duplicates are counted and reported, lost lines fail the test."""
        n_batches, per_batch = 40, 500
        src = os.path.join(self.dir, "in.log")
        open(src, "w").close()
        conf = os.path.join(self.dir, "syslog-ng.conf")
        d = self.dir
        with open(conf, "w") as f:
            f.write("""@version: 3.38
options { stats-freq(0); time-reopen(1); };
source s_in { file("%(src)s" flags(no-parse) follow-freq(0.05)); };
rewrite r_app { set("checkout" value("PROGRAM")); };
destination d_anomalog {
  http(url("http://127.0.0.1:%(port)d/ingest?format=syslog")
       method("POST")
       headers("Content-Type: text/plain")
       body("<${PRI}>1 ${ISODATE} ${HOST} ${PROGRAM} ${PID:--} - - ${MSG}")
       batch-lines(100) batch-timeout(200) delimiter("\\n")
       retries(1000)
       disk-buffer(reliable(yes) dir("%(dir)s/buffer") disk-buf-size(104857600) mem-buf-size(10485760)));
};
log { source(s_in); rewrite(r_app); destination(d_anomalog); };
""" % {"src": src, "port": self.srv.port, "dir": d})
        os.makedirs(os.path.join(d, "buffer"))
        proc = subprocess.Popen(["syslog-ng", "-F", "-f", conf, "-R", d + "/persist", "-p", d + "/pid",
                                 "-c", d + "/ctl", "--no-caps"], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                cwd=d)
        out = []
        threading.Thread(target=lambda: out.extend(proc.stdout), daemon=True).start()

        def feed():
            with open(src, "a") as f:
                for b in range(n_batches):
                    f.write("".join("restart line %06d\n" % (b * per_batch + i) for i in range(per_batch)))
                    f.flush()
                    time.sleep(0.15)
        feeder = threading.Thread(target=feed)
        feeder.start()
        srv, port, restarts = self.srv, self.srv.port, 0
        try:
            for _ in range(2):  # twice: stopped (SIGTERM) while lines flow, down a while, started again
                time.sleep(1.5)
                srv.stop()
                time.sleep(2)
                srv = Server(self.dir, args=self.srv.args, env=self.srv.env, port=port).start()
                self.addCleanup(srv.stop)
                restarts += 1
            feeder.join()
            total = n_batches * per_batch
            wait_for(lambda: self.db_count() >= total, timeout=90, what="%d lines through two restarts" % total)
            time.sleep(1.5)  # anything sent twice would arrive now
        finally:
            proc.terminate()
            proc.wait(10)
        msgs = [r[1] for r in self.stored()]
        want = {"restart line %06d" % i for i in range(total)}
        lost, dup = len(want - set(msgs)), len(msgs) - len(set(msgs))
        print("syslog-ng across %d restarts: sent %d, stored %d, lost %d, duplicated %d" %
              (restarts, total, len(set(msgs) & want), lost, dup), file=sys.stderr)
        self.assertEqual(lost, 0, "".join(x.decode(errors="replace") for x in out)[-3000:])
        self.assertLessEqual(dup, 2 * 100, "at most a batch per restart is sent twice (no Idempotency-Key)")

    @needs(os.path.exists(os.environ.get("RSYSLOG_ROOT", "/opt/rsyslog") + "/usr/sbin/rsyslogd"),
           "rsyslog unpacked under $RSYSLOG_ROOT (scripts/deps.sh does it)")
    def test_rsyslog_omelasticsearch_bulk(self):
        root = os.environ.get("RSYSLOG_ROOT", "/opt/rsyslog")
        src = os.path.join(self.dir, "in.log")
        write_lines(src, "rsl")
        conf = os.path.join(self.dir, "rsyslog.conf")
        with open(conf, "w") as f:
            f.write("""global(workDirectory="%(dir)s")
module(load="imfile")
module(load="omelasticsearch")
template(name="doc" type="list" option.jsonf="on") {
  property(outname="@timestamp" name="timereported" dateFormat="rfc3339" format="jsonf")
  property(outname="message" name="msg" format="jsonf")
  property(outname="host" name="hostname" format="jsonf")
  property(outname="level" name="syslogseverity-text" format="jsonf")
}
input(type="imfile" File="%(src)s" Tag="billing" freshStartTail="off" Severity="warning")
action(type="omelasticsearch" server="127.0.0.1" serverport="%(port)d" template="doc"
       searchIndex="billing" bulkmode="on" maxbytes="20k" queue.type="linkedlist"
       queue.dequeuebatchsize="100" action.resumeRetryCount="-1")
""" % {"dir": self.dir, "src": src, "port": self.srv.port})
        rows = self.run_shipper([root + "/usr/sbin/rsyslogd", "-n", "-f", conf, "-M",
                                 root + "/usr/lib/x86_64-linux-gnu/rsyslog", "-i", self.dir + "/rsyslog.pid"],
                                "rsl", "billing")
        # the severity travels: the template's level field, from the input's (or the message's) severity
        self.assertEqual({r[2] for r in rows}, {"warn"})


if __name__ == "__main__":
    unittest.main()
