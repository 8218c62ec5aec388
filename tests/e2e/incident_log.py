#!/usr/bin/env python3
"""A generated multi-service log with a cascade down a call graph and
unrelated trouble at the same time, for the incident tests and for measuring
incidents (README: "Incidents").

    tests/e2e/incident_log.py [--seed 1] [--minutes 20] [--cascades 1] > log.ndjson

Services and calls: edge -> checkout -> payments -> db, checkout ->
inventory, edge -> auth; search stands beside them. Routine lines name the
service they call (so the call graph is learned from history), carry a
trace_id, and a trickle of ordinary warnings.

Problems (minutes from the start, for --minutes 20):
- cascade at 12:00: db's row locks pile up (lock wait timeouts, deadlocks),
  20 s later payments' queries to db-primary time out, 35 s later checkout's
  orders fail (payments returned 504), 50 s later edge answers 502 for
  checkout. The failing requests share trace ids down the chain. Root: db.
- credential stuffing at 11:30..14:00 on auth: failed logins for many users
  from a few addresses. Nothing ties it to the cascade.
With --cascades 2 a second cascade (inventory's disk fills, checkout's stock
checks fail) starts 10 minutes after the first (use --minutes 40), root inventory.

labels() says which services each problem touches and its root.
"""
import argparse
import json
import random
import sys

USERS = ["alice", "bob", "carol", "dave", "erin", "frank", "grace", "heidi"]
RATES = {"edge": 2.0, "checkout": 1.0, "payments": 1.0, "db": 1.5, "inventory": 0.5, "auth": 0.5, "search": 0.5}


def tid(rng):
    return "%016x" % rng.getrandbits(64)


def routine(rng, service):
    t = tid(rng)
    if service == "edge":
        k = rng.randrange(3)
        if k == 0:
            return "info", "POST /checkout -> checkout 200 %dms trace_id=%s" % (rng.randrange(20, 90), t)
        if k == 1:
            return "info", "POST /login -> auth 200 %dms trace_id=%s" % (rng.randrange(5, 30), t)
        return "info", "GET /search?q=%d -> search 200 %dms trace_id=%s" % (rng.randrange(999), rng.randrange(5, 40), t)
    if service == "checkout":
        if rng.random() < 0.5:
            return "info", "order %d placed: payments charge ok in %dms trace_id=%s" % (
                rng.randrange(10000, 99999), rng.randrange(20, 60), t)
        return "info", "stock reserved via inventory for sku %d trace_id=%s" % (rng.randrange(1000, 9999), t)
    if service == "payments":
        return "info", "charge %d authorised, db query on db-primary took %dms trace_id=%s" % (
            rng.randrange(10000, 99999), rng.randrange(1, 9), t)
    if service == "db":
        if rng.random() < 0.02:
            return "warn", "slow statement took %dms on table orders" % rng.randrange(200, 400)
        return "info", "statement ok rows=%d in %dms" % (rng.randrange(1, 50), rng.randrange(1, 9))
    if service == "inventory":
        return "info", "sku %d stock level %d" % (rng.randrange(1000, 9999), rng.randrange(0, 500))
    if service == "auth":
        return "info", "login ok for user=%s from 10.0.%d.%d" % (rng.choice(USERS), rng.randrange(256), rng.randrange(256))
    return "info", "query %d answered with %d hits in %dms" % (rng.randrange(999), rng.randrange(100), rng.randrange(2, 30))


def line(ts, service, level, message):
    return {"ts": round(ts, 3), "service": service, "level": level, "message": message}


def cascade(rng, rows, t, steps):
    """steps: [(service, delay s, level, message format with %(t)s for a shared trace id)] over 150 s."""
    traces = [tid(rng) for _ in range(40)]
    for service, delay, level, fmt in steps:
        for i in range(60):
            ts = t + delay + i * 2.0 + rng.random()
            rows.append(line(ts, service, level, fmt % {"t": traces[i % len(traces)], "n": rng.randrange(1000, 9999)}))


def generate(seed=1, minutes=20, t0=1795514400, cascades=1):
    rng = random.Random(seed)
    rows = []
    dur = minutes * 60.0
    for service, rate in RATES.items():
        n = int(dur * rate)
        for i in range(n):
            level, msg = routine(rng, service)
            rows.append(line(t0 + i / rate + rng.random() / rate, service, level, msg))
    start = t0 + dur * 0.6
    cascade(rng, rows, start, [
        ("db", 5, "error", "lock wait timeout exceeded on table orders, transaction %(n)d rolled back"),
        ("payments", 20, "error", "charge failed: query to db-primary timed out after 5000ms trace_id=%(t)s"),
        ("checkout", 35, "error", "order failed: payments returned 504 trace_id=%(t)s"),
        ("edge", 50, "error", "POST /checkout -> checkout 502 upstream failed trace_id=%(t)s"),
    ])
    if cascades > 1:
        cascade(rng, rows, start + 600, [
            ("inventory", 5, "error", "write of stock journal failed: no space left on device (%(n)d)"),
            ("checkout", 25, "error", "stock check failed: inventory returned 507 trace_id=%(t)s"),
        ])
    # credential stuffing on auth, overlapping the cascade
    s0 = start - 30
    for i in range(150):
        rows.append(line(s0 + i * 1.0 + rng.random(), "auth", "warn",
                         "login failed for user=%s%d from 203.0.113.%d: invalid password" % (
                             rng.choice(USERS), rng.randrange(100), rng.randrange(1, 6))))
    rows.sort(key=lambda r: r["ts"])
    return rows


def labels(cascades=1):
    out = [{"id": "db-cascade", "services": ["db", "payments", "checkout", "edge"], "root": "db"},
           {"id": "credential-stuffing", "services": ["auth"], "root": "auth"}]
    if cascades > 1:
        out.append({"id": "inventory-disk", "services": ["inventory", "checkout"], "root": "inventory"})
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--minutes", type=int, default=20)
    ap.add_argument("--cascades", type=int, default=1, choices=[1, 2])
    args = ap.parse_args()
    for r in generate(args.seed, args.minutes, cascades=args.cascades):
        sys.stdout.write(json.dumps(r) + "\n")


if __name__ == "__main__":
    main()
