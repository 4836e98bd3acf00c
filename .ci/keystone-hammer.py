#!/usr/bin/env python3
"""Hammers a test Keystone (.ci/keystone.sh) with the test suites' pattern of calls, from
several threads at once, and counts every answer that is not the expected 2xx.

    python3 .ci/keystone-hammer.py ENV_FILE [--threads N] [--seconds S]

The pattern, per thread, in a loop: a password login of one of the test users (the API suite,
the client suite and the agents log in concurrently), a validation of that token with the
service user's token (what vpnaas does for every new token), now and then a revocation of it
(the API suite revokes one), and now and then an admin creating and deleting a user (what
upstream's tempest does for every test class). Exits 1 and prints the first failures' bodies
and the tail of Keystone's log when any call failed.
"""
import argparse
import collections
import json
import os
import random
import sys
import threading
import time
import urllib.error
import urllib.request


def read_env(path):
    env = {}
    with open(path) as f:
        for line in f:
            line = line.strip()
            if line.startswith("export ") and "=" in line:
                key, _, value = line[len("export "):].partition("=")
                env[key] = value
    return env


class Hammer:
    def __init__(self, env):
        self.url = env["KEYSTONE_URL"] + "/v3"
        self.env = env
        self.lock = threading.Lock()
        self.counts = collections.Counter()
        self.failures = []
        self.run_id = os.getpid()

    def call(self, what, method, path, body=None, headers=None, ok=(200, 201, 204)):
        hdrs = {"Content-Type": "application/json", "Accept": "application/json"}
        hdrs.update(headers or {})
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request(self.url + path, data=data, headers=hdrs, method=method)
        try:
            with urllib.request.urlopen(req, timeout=30) as resp:
                status, raw, rhdrs = resp.status, resp.read(), resp.headers
        except urllib.error.HTTPError as err:
            status, raw, rhdrs = err.code, err.read(), err.headers
        except OSError as err:
            status, raw, rhdrs = "error", repr(err).encode(), {}
        with self.lock:
            self.counts[(what, status)] += 1
            if status not in ok and len(self.failures) < 10:
                self.failures.append(f"{what}: {method} {path} -> {status} {raw[:400]!r}")
        return status, raw, rhdrs

    def login(self, user, project, password):
        body = {"auth": {"identity": {"methods": ["password"], "password": {"user": {
            "name": user, "domain": {"id": "default"}, "password": password}}},
            "scope": {"project": {"name": project, "domain": {"id": "default"}}}}}
        status, _, hdrs = self.call("login", "POST", "/auth/tokens?nocatalog", body, ok=(201,))
        return hdrs.get("X-Subject-Token") if status == 201 else None

    def run(self, seconds, seed):
        rng = random.Random(seed)
        env = self.env
        users = [("demo-member", "demo"), ("demo-reader", "demo"), ("other-member", "other"),
                 ("vpnaas-agent", "service")]
        service = self.login("vpnaas", "service", env["KEYSTONE_PASSWORD"])
        admin = self.login("admin", "admin", env["KEYSTONE_ADMIN_PASSWORD"])
        deadline = time.monotonic() + seconds
        n = 0
        while time.monotonic() < deadline and service and admin:
            n += 1
            user, project = rng.choice(users)
            token = self.login(user, project, env["KEYSTONE_PASSWORD"])
            if token:
                self.call("validate", "GET", "/auth/tokens?nocatalog",
                          headers={"X-Auth-Token": service, "X-Subject-Token": token})
                if n % 5 == 0:
                    self.call("revoke", "DELETE", "/auth/tokens",
                              headers={"X-Auth-Token": token, "X-Subject-Token": token})
            if n % 7 == 0:
                name = f"hammer-{self.run_id}-{seed}-{n}"
                status, raw, _ = self.call("create user", "POST", "/users", {"user": {
                    "name": name, "domain_id": "default", "password": "hammer-password"}},
                    headers={"X-Auth-Token": admin}, ok=(201,))
                if status == 201:
                    uid = json.loads(raw)["user"]["id"]
                    self.call("delete user", "DELETE", f"/users/{uid}", headers={"X-Auth-Token": admin})


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("env_file")
    ap.add_argument("--threads", type=int, default=8)
    ap.add_argument("--seconds", type=float, default=10)
    ap.add_argument("--log", help="Keystone's log, whose tail is printed on failure")
    args = ap.parse_args()
    hammer = Hammer(read_env(args.env_file))
    started = time.monotonic()
    threads = [threading.Thread(target=hammer.run, args=(args.seconds, i)) for i in range(args.threads)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    took = time.monotonic() - started
    total = sum(hammer.counts.values())
    bad = sum(c for (what, status), c in hammer.counts.items()
              if not (isinstance(status, int) and 200 <= status < 300))
    for (what, status), c in sorted(hammer.counts.items(), key=str):
        print(f"keystone-hammer: {what:12} {status}: {c}")
    print(f"keystone-hammer: {total} calls from {args.threads} threads in {took:.1f} s, {bad} not 2xx")
    if bad:
        for f in hammer.failures:
            print(f"keystone-hammer: {f}", file=sys.stderr)
        if args.log and os.path.exists(args.log):
            with open(args.log, errors="replace") as f:
                tail = f.readlines()[-40:]
            print("keystone-hammer: the tail of Keystone's log:\n" + "".join(tail), file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    main()
