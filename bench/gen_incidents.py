#!/usr/bin/env python3
"""Labelled multi-service logs for `anomalog eval`: routine traffic of five
services with our own incidents in it, and the labels saying where they are.

    bench/gen_incidents.py --out /tmp/inc [--seed 1] [--minutes 60] [--start 2026-11-24T10:00:00Z]
    anomalog eval /tmp/inc/log.ndjson /tmp/inc/labels.json [--json] [--llm-url none]

Writes log.ndjson (one {"ts","service","level","message"} object per line, by
time) and labels.json ({"incidents": [{id, services, first, last, type,
what}]}). The same seed gives the same files. Services: web -> api -> db,
api -> cache, auth beside them. Routine lines are templated with varying
values (request paths, ids, durations) and a trickle of ordinary warnings,
so the baseline has a normal to learn in the first windows. Incidents (times
relative to the start, scaled to --minutes):

- db-cascade (35%..47%): db's connection pool runs out (errors), then api's
  calls to db time out a little later, then web answers 502: one problem
  seen in three services, root db. type error_spike.
- auth-slow-probe (55%..70%): failed logins for many user names from a few
  addresses, a handful a minute (a slow brute force, no burst). type
  auth_failure.
- api-latency-drift (75%..95%): a config reload lowers api's worker pool,
  then its request latency creeps up, slow-request warnings growing each
  minute. type latency (the config line is the cause).
- cache-evictions (20%..24%): the cache reports memory pressure and evicts.
  type resource.
"""
import argparse
import json
import os
import random
from datetime import datetime, timezone


def iso(t):
    return datetime.fromtimestamp(t, timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def parse_start(s):
    return datetime.strptime(s, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=timezone.utc).timestamp()


PATHS = ["/api/v1/orders", "/api/v1/users", "/api/v1/cart", "/api/v1/search", "/health", "/api/v1/payments"]
USERS = ["alice", "bob", "carol", "dave", "erin", "frank", "grace", "heidi"]


def routine(rng, service, t):
    """One ordinary line of a service at t."""
    if service == "web":
        p = rng.choice(PATHS)
        return "info", "%s %s 200 %dms" % (rng.choice(["GET", "POST"]), p, rng.randrange(3, 90))
    if service == "api":
        k = rng.randrange(3)
        if k == 0:
            return "info", "handled order %d in %dms" % (rng.randrange(10000, 99999), rng.randrange(5, 60))
        if k == 1:
            return "info", "user %s fetched profile" % rng.choice(USERS)
        return "debug", "cache lookup key=order:%d hit=%s" % (rng.randrange(10000, 99999), rng.choice(["true", "false"]))
    if service == "db":
        if rng.random() < 0.02:
            return "warn", "slow query took %dms: SELECT * FROM orders WHERE id = ?" % rng.randrange(200, 400)
        return "info", "query ok rows=%d in %dms" % (rng.randrange(1, 50), rng.randrange(1, 15))
    if service == "cache":
        return "info", "get key=order:%d hit ratio %.2f" % (rng.randrange(10000, 99999), 0.8 + rng.random() * 0.15)
    # auth
    if rng.random() < 0.01:
        return "warn", "Failed password for %s from 10.0.%d.%d port %d ssh2" % (
            rng.choice(USERS), rng.randrange(256), rng.randrange(256), rng.randrange(30000, 60000))
    return "info", "Accepted password for %s from 10.0.%d.%d port %d ssh2" % (
        rng.choice(USERS), rng.randrange(256), rng.randrange(256), rng.randrange(30000, 60000))


RATES = {"web": 3.0, "api": 2.0, "db": 2.0, "cache": 1.0, "auth": 0.3}  # lines per second


def generate(seed, minutes, start):
    rng = random.Random(seed)
    dur = minutes * 60.0
    rows = []
    for service, rate in RATES.items():
        t = start
        while True:
            t += rng.expovariate(rate)
            if t >= start + dur:
                break
            level, msg = routine(rng, service, t)
            rows.append((t, service, level, msg))

    def at(frac):
        return start + dur * frac

    incidents = []

    def add(id_, services, first, last, type_, what):
        incidents.append({"id": id_, "services": services, "first": iso(first), "last": iso(last), "type": type_,
                          "what": what})

    # cache memory pressure
    a, b = at(0.20), at(0.24)
    t = a
    while t < b:
        rows.append((t, "cache", "warn", "memory usage %d%% of maxmemory, evicting %d keys" % (
            rng.randrange(92, 99), rng.randrange(500, 5000))))
        t += rng.uniform(2, 6)
    rows.append((a + 1, "cache", "error", "OOM command not allowed when used memory > maxmemory"))
    add("cache-evictions", ["cache"], a, b, "resource", "cache memory pressure and evictions")

    # db -> api -> web cascade
    a, b = at(0.35), at(0.47)
    t = a
    while t < b:
        rows.append((t, "db", "error", "connection pool exhausted: 100 of 100 in use, waited %dms" % rng.randrange(
            1000, 5000)))
        t += rng.uniform(0.5, 2)
    t = a + 45
    while t < b:
        rows.append((t, "api", "error", "upstream db timeout after %dms calling orders repository" % rng.randrange(
            3000, 3100)))
        t += rng.uniform(0.3, 1.5)
    t = a + 90
    while t < b:
        rows.append((t, "web", "error", "%s %s 502 upstream api unavailable" % (
            rng.choice(["GET", "POST"]), rng.choice(PATHS))))
        t += rng.uniform(0.3, 1.5)
    add("db-cascade", ["db", "api", "web"], a, b, "error_spike",
        "db pool exhausted, api times out calling db, web answers 502")

    # slow brute force on auth
    a, b = at(0.55), at(0.70)
    t = a
    attackers = ["203.0.113.%d" % rng.randrange(2, 250) for _ in range(3)]
    while t < b:
        user = "".join(rng.choice("abcdefghijklmnopqrstuvwxyz") for _ in range(rng.randrange(4, 9)))
        rows.append((t, "auth", "warn", "Failed password for invalid user %s from %s port %d ssh2" % (
            user, rng.choice(attackers), rng.randrange(30000, 60000))))
        t += rng.uniform(6, 14)
    add("auth-slow-probe", ["auth"], a, b, "auth_failure", "slow brute force: failed logins for many user names")

    # config drift, then latency creep on api
    a, b = at(0.75), at(0.95)
    rows.append((a, "api", "info", "config reloaded: worker_pool_size changed 64 -> 8 (source: /etc/api/api.yaml)"))
    t = a + 10
    while t < b:
        progress = (t - a) / (b - a)
        if rng.random() < 0.2 + 0.7 * progress:
            rows.append((t, "api", "warn", "slow request %s took %dms (threshold 500ms)" % (
                rng.choice(PATHS), int(500 + 4000 * progress + rng.randrange(0, 300)))))
        t += rng.uniform(0.5, 2)
    add("api-latency-drift", ["api"], a, b, "latency", "config change shrank the worker pool; latency creeps up")

    rows.sort(key=lambda r: r[0])
    return rows, incidents


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", required=True, help="directory for log.ndjson and labels.json")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--minutes", type=int, default=60)
    ap.add_argument("--start", default="2026-11-24T10:00:00Z")
    args = ap.parse_args()
    if args.minutes < 10:
        ap.error("--minutes must be at least 10")
    rows, incidents = generate(args.seed, args.minutes, parse_start(args.start))
    os.makedirs(args.out, exist_ok=True)
    with open(os.path.join(args.out, "log.ndjson"), "w") as f:
        for t, service, level, msg in rows:
            f.write(json.dumps({"ts": iso(t), "service": service, "level": level, "message": msg}) + "\n")
    with open(os.path.join(args.out, "labels.json"), "w") as f:
        json.dump({"incidents": incidents}, f, indent=2)
        f.write("\n")
    print("%d lines, %d incidents in %s" % (len(rows), len(incidents), args.out))


if __name__ == "__main__":
    main()
