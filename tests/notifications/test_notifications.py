"""Notifications as a stock oslo.messaging listener receives them (ADR 0043).

run.sh starts a throwaway RabbitMQ node and vpnaas with `transport_url` set to it; here an
unmodified oslo.messaging notification listener (exchange `neutron`, topic `notifications`)
receives what vpnaas publishes. The tests create, update and delete each of the six resources
and check every event type and its envelope, that no secret is ever in a message, and that
nothing is lost when the broker is down during writes or the server is killed after them.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import threading
import time
import urllib.request
import uuid

import oslo_messaging as om
import pytest
from oslo_config import cfg

RABBIT = os.environ["VPNAAS_TEST_RABBITMQ"]
RABBIT_DIR = os.environ["VPNAAS_TEST_RABBITMQ_DIR"]
BINARY = os.environ["VPNAAS_BINARY"]
HERE = os.path.dirname(os.path.abspath(__file__))
RABBITMQ_SH = os.path.join(HERE, "..", "..", ".ci", "rabbitmq.sh")
PSK = "psk-" + uuid.uuid4().hex  # a secret no message may carry
AGENT_TOKEN = "agent-" + uuid.uuid4().hex
RESOURCES = ["ikepolicy", "ipsecpolicy", "vpnservice", "endpoint_group", "ipsec_site_connection", "certificate"]


class Received:
    """What the listener got, in order; waits for what a test expects."""

    def __init__(self):
        self.messages = []
        self.cond = threading.Condition()

    def info(self, ctxt, publisher_id, event_type, payload, metadata):
        with self.cond:
            self.messages.append(
                {"ctxt": ctxt, "publisher_id": publisher_id, "event_type": event_type,
                 "payload": payload, "metadata": metadata})
            self.cond.notify_all()

    def wait(self, predicate, seconds=60, what="messages"):
        deadline = time.time() + seconds
        with self.cond:
            while not predicate(self.messages):
                left = deadline - time.time()
                if left <= 0:
                    types = [m["event_type"] for m in self.messages[-20:]]
                    pytest.fail(f"{what} did not arrive within {seconds} s; the last ones: {types}")
                self.cond.wait(left)
            return list(self.messages)


@pytest.fixture(scope="session")
def received():
    conf = cfg.ConfigOpts()
    conf([])
    transport = om.get_notification_transport(conf, url=RABBIT)
    got = Received()
    listener = om.get_notification_listener(
        transport, [om.Target(topic="notifications", exchange="neutron")], [got], executor="threading")
    listener.start()
    yield got
    listener.stop()
    listener.wait()


class Server:
    """`vpnaas serve` with transport_url, on a data directory that outlives a restart."""

    def __init__(self, tmp, transport_url=RABBIT, env=None):
        self.transport_url = transport_url
        self.env = env or {}
        os.makedirs(tmp, exist_ok=True)
        self.data = os.path.join(tmp, "data")
        self.log = os.path.join(tmp, "server.log")
        self.proc = None
        self.url = None

    def start(self):
        self.audit_file = os.path.join(os.path.dirname(self.log), "audit.jsonl")
        env = dict(os.environ, VPNAAS_TRANSPORT_URL=self.transport_url, VPNAAS_NOTIFICATION_HOST="vpn-test",
                   VPNAAS_LOG="info", VPNAAS_AGENT_TOKEN=AGENT_TOKEN, VPNAAS_AUDIT_FILE=self.audit_file,
                   VPNAAS_AUDIT_TOPIC="notifications", **self.env)
        seen = self.listening()
        out = open(self.log, "a")
        self.proc = subprocess.Popen([BINARY, "serve", "--listen", "127.0.0.1:0", "--data-dir", self.data],
                                     env=env, stdout=out, stderr=subprocess.STDOUT)
        deadline = time.time() + 30
        while time.time() < deadline:
            lines = self.listening()
            if len(lines) > len(seen):
                addr = lines[-1].split("listening on http://")[1].split()[0]
                self.url = f"http://{addr}"
                return self
            time.sleep(0.1)
        pytest.fail("the server did not start:\n" + open(self.log).read()[-2000:])

    def listening(self):
        """The log's "listening on" lines so far (a restart appends its own)."""
        if not os.path.exists(self.log):
            return []
        with open(self.log) as f:
            return [l for l in f if "listening on http://" in l]

    def kill(self):
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait()

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            self.proc.wait(timeout=30)

    def call(self, method, path, body=None, project="p1", admin=False, agent=False):
        headers = {"X-Project-Id": "admin" if admin else project, "Content-Type": "application/json"}
        if admin:
            headers["X-Roles"] = "admin"
        if agent:
            headers = {"Authorization": f"Bearer {AGENT_TOKEN}", "Content-Type": "application/json"}
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request(self.url + path, data=data, method=method, headers=headers)
        try:
            with urllib.request.urlopen(req, timeout=30) as r:
                text = r.read()
                return r.status, json.loads(text) if text else None
        except urllib.error.HTTPError as e:
            return e.code, json.loads(e.read() or b"null")


@pytest.fixture(scope="session")
def server(tmp_path_factory):
    s = Server(str(tmp_path_factory.mktemp("vpnaas"))).start()
    yield s
    s.stop()


def rabbit(action):
    port = RABBIT.rsplit(":", 1)[1].strip("/")
    args = ["bash", RABBITMQ_SH, action, RABBIT_DIR] + ([port] if action == "start" else [])
    subprocess.run(args, check=True, capture_output=True)


def created(server, path, body, **kw):
    status, answer = server.call("POST", path, body, **kw)
    assert status == 201, (path, status, answer)
    return next(iter(answer.values()))["id"]


def certificate():
    """A self-signed certificate and its key (PKCS#8), made with openssl."""
    key = subprocess.run(["openssl", "genpkey", "-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048"],
                         check=True, capture_output=True, text=True).stdout
    cert = subprocess.run(["openssl", "req", "-new", "-x509", "-key", "/dev/stdin", "-subj", "/CN=site.example",
                           "-days", "30", "-addext", "subjectAltName=DNS:site.example"],
                          input=key, check=True, capture_output=True, text=True).stdout
    return cert, key


def test_every_write_of_the_six_resources_publishes_neutrons_start_and_end(server, received):
    before = len(received.messages)
    router = created(server, "/v2.0/routers", {"router": {"name": "r", "tenant_id": "p1",
                     "external_gateway_info": {"external_fixed_ips": [{"ip_address": "172.24.4.10"}]}}}, admin=True)
    subnet = created(server, "/v2.0/subnets", {"subnet": {"name": "s", "tenant_id": "p1", "cidr": "10.1.0.0/24"}},
                     admin=True)
    server.call("PUT", f"/v2.0/routers/{router}/add_router_interface", {"subnet_id": subnet}, admin=True)
    ids = {
        "ikepolicy": created(server, "/v2.0/vpn/ikepolicies", {"ikepolicy": {"name": "ike"}}),
        "ipsecpolicy": created(server, "/v2.0/vpn/ipsecpolicies", {"ipsecpolicy": {"name": "ipsec"}}),
        "vpnservice": created(server, "/v2.0/vpn/vpnservices", {"vpnservice": {"name": "vpn", "router_id": router}}),
    }
    ids["endpoint_group"] = created(server, "/v2.0/vpn/endpoint-groups",
                                    {"endpoint_group": {"name": "peer", "type": "cidr", "endpoints": ["10.2.0.0/24"]}})
    local = created(server, "/v2.0/vpn/endpoint-groups",
                    {"endpoint_group": {"name": "local", "type": "subnet", "endpoints": [subnet]}})
    ids["ipsec_site_connection"] = created(server, "/v2.0/vpn/ipsec-site-connections", {"ipsec_site_connection": {
        "name": "conn", "psk": PSK, "peer_address": "172.24.4.233", "peer_id": "172.24.4.233",
        "vpnservice_id": ids["vpnservice"], "ikepolicy_id": ids["ikepolicy"], "ipsecpolicy_id": ids["ipsecpolicy"],
        "local_ep_group_id": local, "peer_ep_group_id": ids["endpoint_group"]}})
    cert, key = certificate()
    ids["certificate"] = created(server, "/v2.0/vpn/certificates",
                                 {"certificate": {"name": "c", "certificate": cert, "private_key": key}})
    paths = {"ikepolicy": "ikepolicies", "ipsecpolicy": "ipsecpolicies", "vpnservice": "vpnservices",
             "endpoint_group": "endpoint-groups", "ipsec_site_connection": "ipsec-site-connections",
             "certificate": "certificates"}
    for r in RESOURCES:
        body = {r: {"description": "changed"}}
        if r == "ipsec_site_connection":
            body[r]["psk"] = PSK + "-2"
        status, answer = server.call("PUT", f"/v2.0/vpn/{paths[r]}/{ids[r]}", body)
        assert status == 200, answer
    for r in ["ipsec_site_connection", "certificate", "vpnservice", "ikepolicy", "ipsecpolicy", "endpoint_group"]:
        status, _ = server.call("DELETE", f"/v2.0/vpn/{paths[r]}/{ids[r]}")
        assert status == 204

    expected = {f"{r}.{a}.{p}" for r in RESOURCES for a in ("create", "update", "delete") for p in ("start", "end")}
    got = received.wait(lambda ms: expected <= {m["event_type"] for m in ms[before:]}, what="every event type")[before:]
    by_type = {}
    for m in got:
        by_type.setdefault(m["event_type"], []).append(m)
    for r in RESOURCES:
        ends = [m for m in by_type[f"{r}.create.end"] if m["payload"][r]["id"] == ids[r]]
        assert ends, f"no {r}.create.end for {ids[r]}"
        end = ends[0]
        assert end["publisher_id"] == "network.vpn-test"
        assert end["ctxt"]["project_id"] == "p1" and end["ctxt"]["auth_token"] is None, end["ctxt"]
        assert end["ctxt"]["request_id"].startswith("req-"), end["ctxt"]
        assert end["metadata"]["message_id"] and end["metadata"]["timestamp"], end["metadata"]
        upd = [m for m in by_type[f"{r}.update.start"] if m["payload"].get("id") == ids[r]]
        assert upd and upd[0]["payload"][r]["description"] == "changed", upd
        dels = [m for m in by_type[f"{r}.delete.start"] if m["payload"] == {f"{r}_id": ids[r]}]
        assert dels, by_type[f"{r}.delete.start"]
        dend = [m for m in by_type[f"{r}.delete.end"] if m["payload"].get(f"{r}_id") == ids[r]]
        assert dend and dend[0]["payload"][r]["id"] == ids[r], by_type[f"{r}.delete.end"]
    # The create's start payload is the request, minus its secrets.
    start = [m for m in by_type["ipsec_site_connection.create.start"]
             if m["payload"]["ipsec_site_connection"].get("peer_address") == "172.24.4.233"][0]
    assert "psk" not in start["payload"]["ipsec_site_connection"], start
    # No message carries a pre-shared key, a private key or a token, wherever it could hide.
    text = json.dumps(got)
    for secret in (PSK, "PRIVATE KEY", key.splitlines()[1]):
        assert secret not in text


def test_fifty_writes_while_the_broker_is_down_all_arrive_when_it_is_back(server, received):
    rabbit("stop")
    try:
        names = [f"down-{uuid.uuid4().hex[:8]}" for _ in range(50)]
        for name in names:
            created(server, "/v2.0/vpn/ikepolicies", {"ikepolicy": {"name": name}})  # the API does not wait
        status, metrics = None, ""
        with urllib.request.urlopen(server.url + "/metrics", timeout=10) as r:
            metrics = r.read().decode()
        backlog = [l for l in metrics.splitlines() if l.startswith("vpnaas_notification_backlog ")]
        assert backlog and int(float(backlog[0].split()[1])) >= 50, backlog
    finally:
        rabbit("start")
    want = set(names)
    received.wait(lambda ms: want <= {m["payload"]["ikepolicy"]["name"] for m in ms
                                      if m["event_type"] == "ikepolicy.create.end"},
                  seconds=90, what="the 50 .create.end written while the broker was down")


def test_writes_acknowledged_before_a_sigkill_are_published_after_the_restart(server, received):
    rabbit("stop")  # so that nothing of them can go out before the kill
    names = [f"killed-{uuid.uuid4().hex[:8]}" for _ in range(20)]
    try:
        for name in names:
            created(server, "/v2.0/vpn/ipsecpolicies", {"ipsecpolicy": {"name": name}})
        server.kill()
    finally:
        rabbit("start")
    server.start()
    want = set(names)
    received.wait(lambda ms: want <= {m["payload"]["ipsecpolicy"]["name"] for m in ms
                                      if m["event_type"] == "ipsecpolicy.create.end"},
                  seconds=90, what="the 20 .create.end acknowledged before the SIGKILL")
    ids = [m["metadata"]["message_id"] for m in received.messages]
    dupes = len(ids) - len(set(ids))
    print(f"notifications: {len(ids)} received, {dupes} duplicates (at-least-once)")


def test_two_replicas_on_one_database_lose_nothing_when_one_is_killed(tmp_path, received):
    """Replicas share the outbox: writes acknowledged by a replica killed while the broker was
    down are published by the other one, each message once or (at least once) again with its id."""
    shared, _, _ = shared_database("postgres", tmp_path)
    one = Server(str(tmp_path / "one"), env=shared).start()
    two = Server(str(tmp_path / "two"), env=shared).start()
    rabbit("stop")
    names = [f"replica-{uuid.uuid4().hex[:8]}" for _ in range(40)]
    try:
        for i, name in enumerate(names):
            created(one if i % 2 else two, "/v2.0/vpn/ikepolicies", {"ikepolicy": {"name": name}})
        one.kill()
    finally:
        rabbit("start")
    try:
        want = set(names)
        ms = received.wait(lambda ms: want <= {m["payload"]["ikepolicy"]["name"] for m in ms
                                               if m["event_type"] == "ikepolicy.create.end"},
                           seconds=90, what="the 40 .create.end of both replicas, one of them killed")
        ends = [m for m in ms if m["event_type"] == "ikepolicy.create.end" and m["payload"]["ikepolicy"]["name"] in want]
        by_name = {}
        for m in ends:
            by_name.setdefault(m["payload"]["ikepolicy"]["name"], set()).add(m["metadata"]["message_id"])
        assert all(len(ids) == 1 for ids in by_name.values()), "a duplicate is the same message, with its id"
    finally:
        two.stop()


def legacy_message(name):
    """A message as the previous release wrote it: one row, in its envelope. Its id and body."""
    message_id = str(uuid.uuid4())
    inner = {"message_id": message_id, "publisher_id": "network.previous", "event_type": "ikepolicy.create.end",
             "priority": "INFO", "payload": {"ikepolicy": {"name": name}}, "timestamp": "2026-12-07 10:00:00.000001",
             "_unique_id": uuid.uuid4().hex, "_context_project_id": "p1", "_context_tenant_id": "p1",
             "_context_auth_token": None}
    return message_id, json.dumps({"oslo.version": "2.0", "oslo.message": json.dumps(inner)})


def published_and_removed(server, received, message_id, name):
    ms = received.wait(lambda ms: any(m["metadata"]["message_id"] == message_id for m in ms),
                       what="the previous release's message")
    got = [m for m in ms if m["metadata"]["message_id"] == message_id][0]
    assert (got["publisher_id"], got["payload"]) == ("network.previous", {"ikepolicy": {"name": name}})
    deadline = time.time() + 30
    while True:
        with urllib.request.urlopen(server.url + "/metrics", timeout=10) as r:
            backlog = [l for l in r.read().decode().splitlines() if l.startswith("vpnaas_notification_backlog ")]
        if backlog and float(backlog[0].split()[1]) == 0:
            return
        assert time.time() < deadline, f"the old row was not removed once confirmed: {backlog}"
        time.sleep(0.5)


LEGACY_INSERT = ("INSERT INTO notification_outbox (message_id, created_at, body, routing_key, claimed_until) "
                 "VALUES ({}, 1, {}, NULL, 0)")


def test_what_the_previous_release_left_in_its_outbox_is_published_after_the_upgrade(tmp_path, received):
    """The previous release kept one row per message, in its envelope, in `notification_outbox`;
    this release writes one row per write elsewhere (ADR 0047). A message the old release wrote
    and never relayed (its broker was down when it stopped) goes out from the new one, as it was."""
    import sqlite3

    server = Server(str(tmp_path / "old")).start()
    server.stop()
    name = f"left-{uuid.uuid4().hex[:8]}"
    message_id, body = legacy_message(name)
    db = sqlite3.connect(os.path.join(server.data, "vpnaas.db"))
    with db:
        db.execute(LEGACY_INSERT.format("?", "?"), (message_id, body))
    db.close()
    server.start()
    try:
        published_and_removed(server, received, message_id, name)
    finally:
        server.stop()


def shared_database(backend, tmp_path):
    """A fresh database on the test PostgreSQL or MariaDB server, its key made: the servers'
    settings, a function that runs one SQL statement in it, and one that quotes a text for it
    (MariaDB reads a backslash in a literal as an escape; PostgreSQL does not). Skips without
    the server."""
    variable = {"postgres": "VPNAAS_TEST_POSTGRES", "mariadb": "VPNAAS_TEST_MARIADB"}[backend]
    admin = os.environ.get(variable)
    if not admin:
        pytest.skip(f"{variable} is not set (.ci/run starts the server for this)")
    database = f"vpnaas_notify_{uuid.uuid4().hex[:8]}"
    if backend == "postgres":
        url = admin.rsplit("/", 1)[0] + "/" + database
        run = lambda sql, db=database: subprocess.run(  # noqa: E731
            ["psql", admin.rsplit("/", 1)[0] + "/" + db, "-q", "-v", "ON_ERROR_STOP=1", "-c", sql],
            check=True, capture_output=True)
        run(f"CREATE DATABASE {database}", db="postgres")
    else:
        # mysql://user:pass@host:port
        auth, hostport = admin.split("://", 1)[1].rstrip("/").rsplit("@", 1)
        user, password = auth.split(":", 1)
        host, port = hostport.rsplit(":", 1)
        url = f"{admin.rstrip('/')}/{database}"
        run = lambda sql, db=database: subprocess.run(  # noqa: E731
            ["mysql", "-h", host, "-P", port, "-u", user, f"-p{password}", *([db] if db else []), "-e", sql],
            check=True, capture_output=True)
        run(f"CREATE DATABASE {database} CHARACTER SET utf8mb4 COLLATE utf8mb4_bin", db=None)
    shared = dict(VPNAAS_DATABASE_URL=url, VPNAAS_PSK_KEY_FILE=str(tmp_path / "psk.key"))
    subprocess.run([BINARY, "rotate-key"], env=dict(os.environ, **shared), check=True, capture_output=True)
    quote = lambda text: "'" + (text if backend == "postgres" else text.replace("\\", "\\\\")).replace("'", "''") + "'"  # noqa: E731
    return shared, run, quote


@pytest.mark.parametrize("backend", ["postgres", "mariadb"])
def test_the_previous_releases_outbox_is_claimed_and_published_by_replicas(backend, tmp_path, received):
    """The same where replicas claim rows (PostgreSQL, MariaDB): the old table's are claimed too."""
    shared, run, quote = shared_database(backend, tmp_path)
    server = Server(str(tmp_path / backend), env=shared).start()
    server.stop()
    name = f"left-{backend}-{uuid.uuid4().hex[:8]}"
    message_id, body = legacy_message(name)
    run(LEGACY_INSERT.format(quote(message_id), quote(body)))
    server.start()
    try:
        published_and_removed(server, received, message_id, name)
    finally:
        server.stop()


def connection_on_a_router(server, project, address, lan, peer_lan):
    """A router (placed nowhere), its subnet and a connection of `project` on it: (router, connection)."""
    router = created(server, "/v2.0/routers", {"router": {"name": "r-" + project, "tenant_id": project,
                     "external_gateway_info": {"external_fixed_ips": [{"ip_address": address}]}}}, admin=True)
    subnet = created(server, "/v2.0/subnets", {"subnet": {"name": "s-" + project, "tenant_id": project, "cidr": lan}},
                     admin=True)
    server.call("PUT", f"/v2.0/routers/{router}/add_router_interface", {"subnet_id": subnet}, admin=True)
    mine = dict(project=project)
    conn = created(server, "/v2.0/vpn/ipsec-site-connections", {"ipsec_site_connection": {
        "psk": PSK, "peer_address": "172.24.4.99", "peer_id": "172.24.4.99",
        "vpnservice_id": created(server, "/v2.0/vpn/vpnservices", {"vpnservice": {"router_id": router}}, **mine),
        "ikepolicy_id": created(server, "/v2.0/vpn/ikepolicies", {"ikepolicy": {}}, **mine),
        "ipsecpolicy_id": created(server, "/v2.0/vpn/ipsecpolicies", {"ipsecpolicy": {}}, **mine),
        "local_ep_group_id": created(server, "/v2.0/vpn/endpoint-groups",
                                     {"endpoint_group": {"type": "subnet", "endpoints": [subnet]}}, **mine),
        "peer_ep_group_id": created(server, "/v2.0/vpn/endpoint-groups",
                                    {"endpoint_group": {"type": "cidr", "endpoints": [peer_lan]}}, **mine),
    }}, **mine)
    return router, conn


def status_changes(ms, conn):
    return [m["payload"]["ipsec_site_connection"] for m in ms
            if m["event_type"] == "ipsec_site_connection.status.update"
            and m["payload"]["ipsec_site_connection"]["id"] == conn]


def test_a_connections_changes_of_status_are_published_with_the_reason(server, received):
    """What Neutron does not publish: one `ipsec_site_connection.status.update` per change of
    status a gateway reports, naming the old and the new status and the reason (ADR 0043)."""
    router, conn = connection_on_a_router(server, "p2", "172.24.4.20", "10.5.0.0/24", "10.6.0.0/24")
    for status, code in (("ACTIVE", None), ("ACTIVE", None), ("DOWN", "peer_unreachable")):
        report = {"id": conn, "revision": 1, "status": status}
        if code:
            report["code"] = code
        answer, _ = server.call("POST", f"/v2.0/gateway/routers/{router}/status", {"connections": [report]}, agent=True)
        assert answer == 204, answer

    ms = received.wait(lambda ms: len(status_changes(ms, conn)) >= 2, what="two status changes")
    got = status_changes(ms, conn)
    seen = [(c["previous_status"], c["status"], c["reason"]) for c in got]
    assert seen == [("PENDING_CREATE", "ACTIVE", None), ("ACTIVE", "DOWN", "peer_unreachable")], seen
    assert got[1]["project_id"] == "p2" and "reason_description" in got[1]
    down = [m for m in ms if m["event_type"] == "ipsec_site_connection.status.update"
            and m["payload"]["ipsec_site_connection"] == got[1]][0]
    assert down["publisher_id"] == "network.vpn-test" and down["ctxt"]["auth_token"] is None
    assert PSK not in json.dumps(ms)


def test_a_gateway_that_falls_silent_publishes_its_connections_going_down(server, received):
    """No report says so when a gateway dies: the server's sweep shows its ACTIVE connections
    DOWN (`gateway_silent`) after `agent_dead_after_secs` (10 s by default) without a
    heartbeat, and publishes each change like a reported one."""
    router, conn = connection_on_a_router(server, "p4", "172.24.4.30", "10.7.0.0/24", "10.8.0.0/24")
    hello = {"host": "gw-silent", "version": "test"}
    assert server.call("PUT", f"/v2.0/gateway/routers/{router}/agent", hello, agent=True)[0] == 200
    report = {"connections": [{"id": conn, "revision": 1, "status": "ACTIVE"}]}
    assert server.call("POST", f"/v2.0/gateway/routers/{router}/status", report, agent=True)[0] == 204
    # The agent now says nothing more.
    ms = received.wait(lambda ms: len(status_changes(ms, conn)) >= 2, seconds=40, what="the silent gateway's change")
    seen = [(c["previous_status"], c["status"], c["reason"]) for c in status_changes(ms, conn)]
    assert seen == [("PENDING_CREATE", "ACTIVE", None), ("ACTIVE", "DOWN", "gateway_silent")], seen
    assert status_changes(ms, conn)[1]["project_id"] == "p4"
    status, shown = server.call("GET", f"/v2.0/vpn/ipsec-site-connections/{conn}", project="p4")
    assert shown["ipsec_site_connection"]["status"] == "DOWN", shown


def test_over_tls_as_oslo_messaging_spells_it(tmp_path, received):
    """`?ssl=1&ssl_ca_file=...&ssl_cert_file=...&ssl_key_file=...`: the broker's TLS listener,
    its certificate checked against the CA file, which demands a client certificate; the
    listener (plain, on the same broker) receives what went over TLS. Without the client
    certificate the broker refuses the connection and nothing is published."""
    url = os.environ["VPNAAS_TEST_RABBITMQ_TLS"]
    anonymous = Server(str(tmp_path / "anonymous"), transport_url=url.split("&ssl_cert_file=")[0]).start()
    try:
        created(anonymous, "/v2.0/vpn/ikepolicies", {"ikepolicy": {"name": "no-client-certificate"}})
        deadline = time.time() + 20
        while time.time() < deadline and "cannot reach the broker" not in open(anonymous.log).read():
            time.sleep(0.2)
        log = open(anonymous.log).read()
        assert "cannot reach the broker" in log and "notifications: connected" not in log, log[-2000:]
    finally:
        anonymous.stop()
    tls = Server(str(tmp_path), transport_url=url).start()
    try:
        name = f"tls-{uuid.uuid4().hex[:8]}"
        created(tls, "/v2.0/vpn/ikepolicies", {"ikepolicy": {"name": name}})
        received.wait(lambda ms: any(m["event_type"] == "ikepolicy.create.end" and
                                     m["payload"]["ikepolicy"]["name"] == name for m in ms),
                      what="the create published over TLS")
        with open(tls.log) as f:
            log = f.read()
        assert "notifications: connected" in log and "guest:guest" not in log, log[-2000:]
    finally:
        tls.stop()


def test_every_write_is_audited_in_cadf_to_the_file_and_the_topic_whatever_its_outcome(server, received):
    """A CADF event per create, update and delete (keystonemiddleware's audit shape): the
    initiator's project and user, the target's type and id, the action, the outcome with the
    HTTP status, and the request id; appended to audit_file and published as
    `audit.http.response` on audit_topic. A refused write is audited as a failure."""
    ike = created(server, "/v2.0/vpn/ikepolicies", {"ikepolicy": {"name": "audited"}}, project="p3")
    missing = str(uuid.uuid4())
    status, _ = server.call("DELETE", f"/v2.0/vpn/ikepolicies/{missing}", project="p3")
    assert status == 404

    def audits(ms):
        return [m["payload"] for m in ms if m["event_type"] == "audit.http.response"
                and m["payload"]["initiator"]["project_id"] == "p3"]
    got = audits(received.wait(lambda ms: len(audits(ms)) >= 2, what="two audit events"))
    create, delete = got[0], got[1]
    assert (create["action"], create["outcome"], create["reason"]["reasonCode"]) == ("create", "success", "201")
    assert create["target"] == {"typeURI": "service/network/vpn/ikepolicy", "id": ike}, create
    assert create["requestPath"] == "/v2.0/vpn/ikepolicies"
    assert create["tags"][0].startswith("correlation_id?value=req-"), create
    assert (delete["action"], delete["outcome"], delete["reason"]["reasonCode"]) == ("delete", "failure", "404")
    assert delete["target"]["id"] == missing
    with open(server.audit_file) as f:
        lines = [json.loads(line) for line in f]
    ids = {e["id"] for e in lines}
    assert create["id"] in ids and delete["id"] in ids, "the file has the same events"
    assert all("token" not in json.dumps(e).lower() for e in lines)
    assert oct(os.stat(server.audit_file).st_mode & 0o777) == "0o600"


def test_writes_outside_the_vpn_collections_are_audited_too(server, received):
    """Quotas and the inventory's sub-actions are writes like any other: a quota's update names
    the project as its target, a router's `add_router_interface` is `update/add_router_interface`."""
    project = f"p-{uuid.uuid4().hex[:8]}"
    assert server.call("PUT", f"/v2.0/vpn/quotas/{project}", {"quota": {"ikepolicy": 50}}, admin=True)[0] == 200
    router = created(server, "/v2.0/routers", {"router": {"name": "audited", "tenant_id": project}}, admin=True)
    subnet = created(server, "/v2.0/subnets", {"subnet": {"tenant_id": project, "cidr": "10.9.0.0/24"}}, admin=True)
    assert server.call("PUT", f"/v2.0/routers/{router}/add_router_interface", {"subnet_id": subnet},
                       admin=True)[0] == 200

    def audits(ms):
        return {(m["payload"]["target"]["typeURI"], m["payload"]["target"]["id"], m["payload"]["action"])
                for m in ms if m["event_type"] == "audit.http.response"}
    wanted = {("service/network/vpn/quota", project, "update"),
              ("service/network/vpn/router", router, "create"),
              ("service/network/vpn/router", router, "update/add_router_interface")}
    received.wait(lambda ms: wanted <= audits(ms), what="the quota's and the router's audit events")


def test_ceilometer_turns_them_into_events_with_project_and_resource(received):
    """Ceilometer's own event converter, with its stock event definitions, reads every VPN
    notification received so far as the event a cloud bills from: the project (from the
    context's `tenant_id`, as Neutron sends it), the resource id, and the name where the
    definition takes one. A status change is one of those events too."""
    from ceilometer import service
    from ceilometer.event import converter
    from stevedore import extension

    conf = service.prepare_service([], [])
    events = converter.setup_events(conf, extension.ExtensionManager(namespace="ceilometer.event.trait_plugin"))
    defined = ["ikepolicy", "ipsecpolicy", "vpnservice", "ipsec_site_connection"]
    seen = set()
    for m in received.messages:
        resource = m["event_type"].split(".")[0]
        if resource not in defined:
            continue
        event = events.to_event("info", m)
        traits = {t.name: t.value for t in event.traits}
        item = m["payload"].get(resource, {})
        assert traits.get("project_id") == m["ctxt"]["project_id"], (m["event_type"], traits)
        if "id" in item:
            assert traits.get("resource_id") == item["id"], (m["event_type"], traits)
        if resource != "ipsec_site_connection" and "name" in item:
            assert traits.get("name") == item["name"], (m["event_type"], traits)
        seen.add(m["event_type"])
    wanted = {f"{r}.{a}.end" for r in defined for a in ("create", "update", "delete")}
    wanted.add("ipsec_site_connection.status.update")
    assert wanted <= seen, sorted(wanted - seen)
