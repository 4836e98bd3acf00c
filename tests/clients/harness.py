"""Helpers for the client conformance suite: a recording proxy, a direct API client, and a
runner for the `openstack` CLI of the virtualenv the suite runs in.

Every client talks to the server through `RecordingProxy`, a transparent HTTP/1.1 relay on a
loopback port that remembers each exchange (method, path, headers, body, status, answer). A
failing step prints the exchanges of the command that failed, so a report names the exact
request the server got and what it answered. Server state is checked with `Api`, which goes
to the server directly (not through the proxy) with Neutron's noauth headers.

With VPNAAS_CLIENTS_AUTH=keystone (run.sh's keystone pass; the KEYSTONE_* variables of
.ci/keystone.sh's env file are set) the clients authenticate with passwords against a real
Keystone and find the server (the proxy) in its catalog, and `Api` sends Keystone tokens.
"""

from __future__ import annotations

import http.client
import json
import os
import shlex
import subprocess
import sys
import threading
import time
import urllib.parse
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

# Test values only: the noauth token map run.sh gives the server maps these to projects.
MEMBER_TOKEN = "notused"  # what `--os-auth-type none` sends; the server maps it to project demo
ADMIN_TOKEN = "admin-token"  # the server maps it to project admin with the admin role

KEYSTONE = os.environ.get("VPNAAS_CLIENTS_AUTH", "noauth") == "keystone"
if KEYSTONE:
    # project demo's and the admin project's ids, from .ci/keystone.sh's env file
    PROJECT = os.environ["KEYSTONE_DEMO_PROJECT_ID"]
    ADMIN_PROJECT = os.environ["KEYSTONE_ADMIN_PROJECT_ID"]
else:
    PROJECT = "demo"
    ADMIN_PROJECT = "admin"

HOP_BY_HOP = {
    "connection",
    "keep-alive",
    "proxy-connection",
    "transfer-encoding",
    "te",
    "trailer",
    "upgrade",
    "content-length",
}
SHOWN_HEADERS = ("x-auth-token", "x-project-id", "x-roles", "content-type")


@dataclass
class Exchange:
    method: str
    path: str
    headers: dict
    body: bytes
    status: int
    answer: bytes

    def request_json(self):
        return json.loads(self.body) if self.body else None

    def answer_json(self):
        return json.loads(self.answer) if self.answer else None

    def describe(self, limit: int = 1500) -> str:
        shown = {k: v for k, v in self.headers.items() if k.lower() in SHOWN_HEADERS}
        text = f"  > {self.method} {self.path} {json.dumps(shown)}"
        if self.body:
            text += f"\n    body={self.body.decode(errors='replace')[:limit]}"
        answer = self.answer.decode(errors="replace")
        if len(answer) > limit:
            answer = answer[:limit] + "..."
        return text + f"\n  < {self.status} {answer}"


class RecordingProxy:
    """A transparent HTTP relay to `upstream` that records every exchange."""

    def __init__(self, upstream: str, port: int = 0):
        parsed = urllib.parse.urlsplit(upstream)
        self.upstream_host = parsed.hostname
        self.upstream_port = parsed.port
        self.exchanges: list[Exchange] = []
        self.lock = threading.Lock()
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):  # keep pytest's output clean
                pass

            upstream = None  # one server connection per client connection, kept alive like the client's

            def finish(self):
                super().finish()
                if self.upstream is not None:
                    self.upstream.close()

            def relay(self):
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                headers = {
                    k: v for k, v in self.headers.items() if k.lower() not in HOP_BY_HOP
                }
                if body or self.command in ("POST", "PUT", "PATCH"):
                    headers["Content-Length"] = str(len(body))
                if self.upstream is None:
                    self.upstream = http.client.HTTPConnection(
                        proxy.upstream_host, proxy.upstream_port, timeout=60
                    )
                try:
                    self.upstream.request(self.command, self.path, body=body, headers=headers)
                    resp = self.upstream.getresponse()
                    answer = resp.read()
                    status, reason, resp_headers = resp.status, resp.reason, resp.getheaders()
                    if resp.will_close:
                        self.upstream.close()
                        self.upstream = None
                except (OSError, http.client.HTTPException) as err:  # died, refused, dropped
                    self.upstream.close()
                    self.upstream = None
                    answer = json.dumps({"proxy_error": repr(err)}).encode()
                    status, reason, resp_headers = 502, "Bad Gateway", []
                with proxy.lock:
                    proxy.exchanges.append(
                        Exchange(self.command, self.path, dict(self.headers), body, status, answer)
                    )
                self.send_response(status, reason)
                for k, v in resp_headers:
                    if k.lower() not in HOP_BY_HOP:
                        self.send_header(k, v)
                self.send_header("Content-Length", str(len(answer)))
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(answer)

            do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = do_HEAD = relay

        self.server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def mark(self) -> int:
        with self.lock:
            return len(self.exchanges)

    def since(self, mark: int) -> list[Exchange]:
        with self.lock:
            return list(self.exchanges[mark:])

    def close(self):
        self.server.shutdown()
        self.server.server_close()


def describe_exchanges(exchanges: list[Exchange]) -> str:
    if not exchanges:
        return "  (no HTTP request reached the server)"
    return "\n".join(e.describe() for e in exchanges)


def writes(exchanges: list[Exchange]) -> list[Exchange]:
    """The exchanges that are not GETs (version discovery and name look-ups)."""
    return [e for e in exchanges if e.method != "GET"]


class Keystone:
    """Password logins of the keystone pass: demo-member in project demo, admin in admin."""

    def __init__(self):
        self.url = os.environ["KEYSTONE_URL"].rstrip("/")
        self.member = {"username": os.environ.get("KEYSTONE_DEMO_MEMBER", "demo-member"),
                       "password": os.environ["KEYSTONE_PASSWORD"], "project_name": "demo"}
        self.admin = {"username": os.environ.get("KEYSTONE_ADMIN_USERNAME", "admin"),
                      "password": os.environ["KEYSTONE_ADMIN_PASSWORD"], "project_name": "admin"}
        self.tokens = {}
        self.lock = threading.Lock()

    def credentials(self, admin: bool = False) -> dict:
        """keystoneauth's password plugin options, as openstack.connect and clouds.yaml take them."""
        return {"auth_url": self.url + "/v3", "user_domain_name": "Default",
                "project_domain_name": "Default", **(self.admin if admin else self.member)}

    # CI's Keystone issues 30-second tokens (so the server's expiry handling and its own
    # token renewal are exercised): a token is reused for 10 s at most.
    TOKEN_REUSE_SECONDS = 10

    def token(self, admin: bool = False) -> str:
        """A project-scoped token, fetched again when the last is 10 s old."""
        with self.lock:
            fetched = self.tokens.get(admin)
            if fetched is None or time.monotonic() - fetched[1] > self.TOKEN_REUSE_SECONDS:
                who = self.admin if admin else self.member
                body = {"auth": {
                    "identity": {"methods": ["password"], "password": {"user": {
                        "name": who["username"], "domain": {"name": "Default"},
                        "password": who["password"]}}},
                    "scope": {"project": {"name": who["project_name"], "domain": {"name": "Default"}}},
                }}
                parsed = urllib.parse.urlsplit(self.url)
                conn = http.client.HTTPConnection(parsed.hostname, parsed.port, timeout=30)
                try:
                    conn.request("POST", "/v3/auth/tokens?nocatalog", body=json.dumps(body),
                                 headers={"Content-Type": "application/json"})
                    resp = conn.getresponse()
                    raw = resp.read()
                finally:
                    conn.close()
                assert resp.status == 201, f"Keystone login of {who['username']}: {resp.status} {raw[:500]!r}"
                self.tokens[admin] = (resp.getheader("X-Subject-Token"), time.monotonic())
            return self.tokens[admin][0]

    def clouds_yaml(self) -> str:
        """clouds.yaml (JSON is YAML) with the clouds `member` and `admin` for the CLI."""
        clouds = {
            name: {"auth_type": "password", "auth": self.credentials(admin=name == "admin"),
                   "identity_api_version": "3", "region_name": "RegionOne", "interface": "public"}
            for name in ("member", "admin")
        }
        return json.dumps({"clouds": clouds}, indent=2)


_keystone = None


def keystone() -> Keystone:
    global _keystone
    if _keystone is None:
        _keystone = Keystone()
    return _keystone


def sdk_connection(proxy: "RecordingProxy", admin: bool = False):
    """An openstacksdk connection as project demo's member, or as an admin. Without Keystone:
    auth type `none` or keystoneauth's `admin_token` plugin at the proxy; with Keystone: a
    password login that finds the proxy in the catalog."""
    import openstack

    if KEYSTONE:
        return openstack.connect(region_name="RegionOne", identity_api_version="3",
                                 **keystone().credentials(admin))
    if admin:
        return openstack.connect(
            auth_type="admin_token", auth={"endpoint": proxy.url, "token": ADMIN_TOKEN}
        )
    return openstack.connect(auth_type="none", auth={"endpoint": proxy.url})


@dataclass
class ApiResponse:
    status: int
    body: object
    raw: bytes
    method: str = ""
    path: str = ""

    def __repr__(self):
        return f"{self.method} {self.path} -> {self.status} {self.raw[:1500]!r}"


class Api:
    """Plain HTTP straight to the server (not through the proxy), as a project or as admin.
    With Keystone the server ignores the noauth headers: the admin's or demo-member's token."""

    def __init__(self, url: str):
        parsed = urllib.parse.urlsplit(url)
        self.host, self.port = parsed.hostname, parsed.port

    def request(self, method, path, body=None, project=PROJECT, admin=False) -> ApiResponse:
        headers = {"Accept": "application/json"}
        if KEYSTONE:
            assert project in (PROJECT, None), "with Keystone, Api acts as project demo or as admin"
            headers["X-Auth-Token"] = keystone().token(admin=admin)
        elif admin:
            headers.update({"X-Project-Id": "admin", "X-Roles": "admin"})
        elif project is not None:
            headers.update({"X-Project-Id": project, "X-Roles": "member"})
        data = None
        if body is not None:
            data = json.dumps(body).encode()
            headers["Content-Type"] = "application/json"
        conn = http.client.HTTPConnection(self.host, self.port, timeout=30)
        try:
            conn.request(method, path, body=data, headers=headers)
            resp = conn.getresponse()
            raw = resp.read()
        finally:
            conn.close()
        try:
            parsed = json.loads(raw) if raw else None
        except ValueError:
            parsed = None
        return ApiResponse(resp.status, parsed, raw, method, path)

    def get(self, path, **kw) -> ApiResponse:
        return self.request("GET", path, **kw)

    def show(self, collection: str, key: str, ident: str, **kw) -> dict:
        """GET /v2.0/<collection>/<id> and return the object; asserts a 200."""
        resp = self.get(f"/v2.0/{collection}/{ident}", **kw)
        assert resp.status == 200, f"server state: expected 200, got {resp!r}"
        return resp.body[key]

    def missing(self, collection: str, ident: str, **kw) -> ApiResponse:
        resp = self.get(f"/v2.0/{collection}/{ident}", **kw)
        assert resp.status == 404, f"server state: expected 404 (deleted), got {resp!r}"
        assert "NeutronError" in (resp.body or {}), f"404 without NeutronError envelope: {resp!r}"
        return resp

    def listing(self, collection: str, plural: str, query: str = "", **kw) -> list:
        resp = self.get(f"/v2.0/{collection}" + (f"?{query}" if query else ""), **kw)
        assert resp.status == 200, f"server state: expected 200, got {resp!r}"
        return resp.body[plural]


@dataclass
class CliResult:
    argv: list
    rc: int
    stdout: str
    stderr: str
    exchanges: list = field(default_factory=list)
    seconds: float = 0.0

    def describe(self) -> str:
        return (
            f"$ {shlex.join(self.argv)}\n"
            f"exit code {self.rc} ({self.seconds:.1f}s)\n"
            f"--- stdout\n{self.stdout.strip()[:3000]}\n--- stderr\n{self.stderr.strip()[:3000]}\n"
            f"--- HTTP exchanges\n{describe_exchanges(self.exchanges)}"
        )

    def ok(self) -> "CliResult":
        assert self.rc == 0, f"the command failed:\n{self.describe()}"
        return self

    @property
    def json(self):
        try:
            return json.loads(self.stdout)
        except ValueError:
            raise AssertionError(f"stdout is not JSON:\n{self.describe()}") from None

    def fails(self, *needles: str, rc: int = 1) -> "CliResult":
        """Asserts the exit code and that stderr (or stdout) contains every needle."""
        assert self.rc == rc, f"expected exit code {rc}:\n{self.describe()}"
        text = self.stderr + self.stdout
        for needle in needles:
            assert needle in text, f"expected {needle!r} in the output:\n{self.describe()}"
        return self

    def sent(self, method: str, path_prefix: str = "") -> list[Exchange]:
        return [
            e for e in self.exchanges if e.method == method and e.path.startswith(path_prefix)
        ]

    def last_write(self) -> Exchange:
        w = writes(self.exchanges)
        assert w, f"the command sent no write request:\n{self.describe()}"
        return w[-1]


class Osc:
    """Runs the `openstack` CLI of this virtualenv against the proxy.

    By default each command runs in a process forked from `osc_zygote.py`, which has the CLI
    imported already; VPNAAS_CLIENTS_NO_ZYGOTE=1 runs the `openstack` executable instead."""

    def __init__(self, proxy: RecordingProxy, home: Path):
        self.proxy = proxy
        self.home = home
        self.binary = str(Path(sys.executable).parent / "openstack")
        env = {k: v for k, v in os.environ.items() if not k.startswith("OS_")}
        env["HOME"] = str(home)  # no clouds.yaml or cache of the user's
        env["PYTHONWARNINGS"] = "ignore"
        self.env = env
        if KEYSTONE:  # `--os-cloud member` / `--os-cloud admin`; openstacksdk reads ~/.config
            config = Path(home) / ".config" / "openstack"
            config.mkdir(parents=True, exist_ok=True)
            (config / "clouds.yaml").write_text(keystone().clouds_yaml())
        self.zygote = None
        self.count = 0
        if os.environ.get("VPNAAS_CLIENTS_NO_ZYGOTE") != "1":
            self.zygote = subprocess.Popen(
                [sys.executable, str(Path(__file__).with_name("osc_zygote.py"))],
                stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env=env, cwd=home,
            )

    def close(self):
        if self.zygote is not None:
            self.zygote.stdin.close()
            self.zygote.wait(timeout=30)
            self.zygote = None

    def _run(self, argv: list, timeout: int):
        if self.zygote is None:
            proc = subprocess.run(
                [self.binary, *argv], capture_output=True, text=True, env=self.env,
                timeout=timeout, check=False, cwd=self.home,
            )
            return proc.returncode, proc.stdout, proc.stderr
        self.count += 1
        out, err = self.home / f"cmd{self.count}.out", self.home / f"cmd{self.count}.err"
        self.zygote.stdin.write(json.dumps({"argv": argv, "stdout": str(out), "stderr": str(err), "timeout": timeout}) + "\n")
        self.zygote.stdin.flush()
        line = self.zygote.stdout.readline()
        if not line:
            raise RuntimeError("the CLI runner (osc_zygote.py) died")
        rc = json.loads(line)["rc"]
        texts = out.read_text(errors="replace"), err.read_text(errors="replace")
        out.unlink()
        err.unlink()
        return rc, texts[0], texts[1]

    def __call__(self, *args: str, admin: bool = False, timeout: int = 90) -> CliResult:
        if KEYSTONE:  # password login; the catalog's network endpoint is the proxy
            auth = ["--os-cloud", "admin" if admin else "member"]
            endpoint = []
        else:
            if admin:
                auth = ["--os-auth-type", "admin_token", "--os-token", ADMIN_TOKEN]
            else:
                auth = ["--os-auth-type", "none"]
            endpoint = ["--os-endpoint", self.proxy.url]
        argv = [*auth, *endpoint, *args]
        mark = self.proxy.mark()
        started = time.monotonic()
        rc, stdout, stderr = self._run(argv, timeout)
        shown = ["openstack", *auth, *(endpoint and ["--os-endpoint", "URL"]), *args]
        result = CliResult(
            shown, rc, stdout, stderr, self.proxy.since(mark), time.monotonic() - started
        )
        trace = os.environ.get("VPNAAS_CLIENTS_TRACE")
        if trace:
            os.makedirs(trace, exist_ok=True)
            run = os.environ.get("VPNAAS_CLIENTS_RUN") or os.environ.get("VPNAAS_CLIENT", "new")
            with open(os.path.join(trace, f"{run}-cli.log"), "a") as f:
                f.write(result.describe() + "\n\n")
        return result
