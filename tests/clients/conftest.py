"""Fixtures of the client conformance suite. run.sh starts the server and sets VPNAAS_URL
(and, for its keystone pass, VPNAAS_CLIENTS_AUTH=keystone, the KEYSTONE_* variables and
VPNAAS_CLIENTS_PROXY_PORT, the port the catalog names for the proxy)."""

from __future__ import annotations

import os
import secrets
from importlib import metadata

import pytest

from harness import KEYSTONE, Api, Osc, RecordingProxy


def _version(dist: str) -> str:
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return "-"


def pytest_report_header(config):
    clients = ", ".join(
        f"{d} {_version(d)}"
        for d in ("python-openstackclient", "python-neutronclient", "openstacksdk")
    )
    return [
        f"vpnaas server: {os.environ.get('VPNAAS_URL', '(VPNAAS_URL not set)')}",
        f"clients ({os.environ.get('VPNAAS_CLIENT', 'new')}): {clients}",
        "authentication: "
        + (f"Keystone at {os.environ.get('KEYSTONE_URL')}, the server found in its catalog"
           if KEYSTONE else "noauth (tokens of the server's noauth map)"),
    ]


@pytest.fixture(scope="session")
def server_url() -> str:
    url = os.environ.get("VPNAAS_URL")
    if not url:
        pytest.exit("VPNAAS_URL is not set: run the suite with tests/clients/run.sh", returncode=2)
    return url.rstrip("/")


@pytest.fixture(scope="session")
def proxy(server_url, kind):
    # with Keystone the catalog names the proxy: run.sh registered this port
    relay = RecordingProxy(server_url, port=int(os.environ.get("VPNAAS_CLIENTS_PROXY_PORT") or 0))
    yield relay
    relay.close()
    trace = os.environ.get("VPNAAS_CLIENTS_TRACE")  # a directory: keep every exchange
    if trace:
        os.makedirs(trace, exist_ok=True)
        with open(os.path.join(trace, f"{os.environ.get('VPNAAS_CLIENTS_RUN') or kind}.log"), "w") as f:
            for e in relay.exchanges:
                f.write(e.describe(limit=100_000) + "\n")


@pytest.fixture(scope="session")
def api(server_url) -> Api:
    return Api(server_url)


@pytest.fixture(scope="session")
def osc(proxy, tmp_path_factory):
    runner = Osc(proxy, tmp_path_factory.mktemp("home"))
    yield runner
    runner.close()


@pytest.fixture(scope="session")
def kind() -> str:
    """Which client set this run uses: `new` (newest CLI) or `old` (OSC 7.5.0 + neutronclient)."""
    return os.environ.get("VPNAAS_CLIENT", "new")


@pytest.fixture(scope="session")
def state() -> dict:
    """What earlier steps of a workflow created (ids by role), shared by the later steps."""
    return {}


def unique(kind: str) -> str:
    """A name prefix that does not collide with other runs against the same server."""
    return f"{kind}-{secrets.token_hex(2)}"
