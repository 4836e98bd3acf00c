"""The HTTPS listener with unmodified clients (ADR 0016): run.sh's `https` pass.

A throwaway CA and a server certificate for 127.0.0.1 are made here (with `cryptography`,
which openstacksdk brings); the server runs with them, and the newest openstack CLI creates
and lists IKE policies through `--os-cacert`, openstacksdk lists them with `cacert`, and a
client that does not trust the CA is refused.
"""

from __future__ import annotations

import datetime
import ipaddress
import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID


def _name(cn: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])


def _make_ca_and_server(directory: Path) -> tuple[Path, Path, Path]:
    now = datetime.datetime.now(datetime.timezone.utc)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca = (
        x509.CertificateBuilder()
        .subject_name(_name("vpnaas clients test CA"))
        .issuer_name(_name("vpnaas clients test CA"))
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (
        x509.CertificateBuilder()
        .subject_name(_name("vpnaas"))
        .issuer_name(ca.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .sign(ca_key, hashes.SHA256())
    )
    paths = (directory / "ca.pem", directory / "server.pem", directory / "server.key")
    paths[0].write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    paths[1].write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    paths[2].write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    return paths


@pytest.fixture(scope="module")
def https_server(tmp_path_factory):
    binary = os.environ.get("VPNAAS_BINARY")
    if not binary:
        pytest.skip("VPNAAS_BINARY is not set (run.sh sets it)")
    directory = tmp_path_factory.mktemp("https")
    ca, cert, key = _make_ca_and_server(directory)
    env = dict(
        os.environ,
        VPNAAS_NOAUTH_TOKENS="notused=demo:member;admin-token=admin:admin",
        VPNAAS_TLS_CERT_FILE=str(cert),
        VPNAAS_TLS_KEY_FILE=str(key),
        VPNAAS_LOG="info",
    )
    log = open(directory / "server.log", "w")
    proc = subprocess.Popen(
        [binary, "serve", "--listen", "127.0.0.1:0", "--data-dir", str(directory / "data")],
        stdout=log,
        stderr=subprocess.STDOUT,
        env=env,
    )
    url = None
    for _ in range(300):
        found = re.search(r"listening on (https://[0-9.:]+)", (directory / "server.log").read_text())
        if found:
            url = found.group(1)
            break
        if proc.poll() is not None:
            break
        time.sleep(0.1)
    if url is None:
        proc.kill()
        pytest.fail("the HTTPS server did not start:\n" + (directory / "server.log").read_text())
    yield url, ca, directory
    proc.terminate()
    proc.wait(timeout=10)
    log.close()


def _openstack(url: str, ca: Path | None, *args: str) -> subprocess.CompletedProcess:
    cli = Path(sys.executable).parent / "openstack"
    common = ["--os-auth-type", "none", "--os-endpoint", url, "--os-interface", "public"]
    if ca is not None:
        common += ["--os-cacert", str(ca)]
    return subprocess.run([str(cli), *common, *args], capture_output=True, text=True, timeout=120)


def test_the_cli_creates_and_lists_ike_policies_over_https(https_server):
    url, ca, _ = https_server
    made = _openstack(url, ca, "vpn", "ike", "policy", "create", "tls-ike", "--ike-version", "v2", "-f", "json")
    assert made.returncode == 0, made.stderr
    assert json.loads(made.stdout)["Name"] == "tls-ike"
    listed = _openstack(url, ca, "vpn", "ike", "policy", "list", "-f", "json")
    assert listed.returncode == 0, listed.stderr
    assert [p["Name"] for p in json.loads(listed.stdout)] == ["tls-ike"]


def test_openstacksdk_lists_over_https_with_cacert(https_server):
    import openstack

    url, ca, _ = https_server
    conn = openstack.connect(auth_type="none", auth={"endpoint": url}, cacert=str(ca))
    assert [p.name for p in conn.network.vpn_ike_policies()] == ["tls-ike"]


def test_a_client_without_the_ca_is_refused(https_server):
    url, _, _ = https_server
    # keystoneauth words a failed verification as "unable to find a version discovery document".
    refused = _openstack(url, None, "vpn", "ike", "policy", "list", "-f", "json")
    assert refused.returncode != 0 and refused.stdout == "", refused.stdout
