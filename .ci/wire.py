#!/usr/bin/env python3
"""Every wire name is written once (ADR 0044): each constant of `crates/vpnaas-core/src/wire.rs`
appears as a string literal in no other non-test source of the server or core, except where
the same word is not our attribute: a key of another format, a value, a resource's name.
Those places are listed below with the reason; a new one fails until it uses the constant or
is listed. Test modules (from `#[cfg(test)]` on) and migrations (SQL) are left out.
"""
import pathlib
import re
import sys

ROOT = pathlib.Path(__file__).resolve().parent.parent / "crates"
WIRE = ROOT / "vpnaas-core/src/wire.rs"

# (name, file under src/): why the literal there is not the attribute.
ALLOWED = {
    ("id", "audit.rs"): "a CADF event's keys",
    ("project_id", "audit.rs"): "a CADF event's keys",
    ("name", "audit.rs"): "a CADF event's keys",
    ("initiator", "audit.rs"): "a CADF event's keys",
    ("id", "api/discovery.rs"): "the version and extension documents' keys",
    ("name", "api/discovery.rs"): "the version and extension documents' keys",
    ("description", "api/discovery.rs"): "the version and extension documents' keys",
    ("status", "api/discovery.rs"): "the version and extension documents' keys",
    ("status", "api/ops.rs"): "the health documents' keys",
    ("name", "api/detail.rs"): "a gateway agent's name in /gateway-agents",
    ("name", "api/view.rs"): "a doc comment",
    ("name", "auth/policy.rs"): "a doc comment",
    ("project_id", "auth/policy.rs"): "oslo.policy's credential keys",
    ("tenant_id", "auth/policy.rs"): "oslo.policy's credential keys",
    ("certificate", "auth/policy.rs"): "a resource name (policy targets)",
    ("certificate", "service/mod.rs"): "a resource name",
    ("certificate", "quota.rs"): "a resource name (quota keys)",
    ("certificate", "certs.rs"): "the PEM tag's word in a message",
    ("project_id", "notifications.rs"): "oslo.context's keys",
    ("tenant_id", "notifications.rs"): "oslo.context's keys",
    ("type", "error.rs"): "the NeutronError envelope's key",
    ("type", "neutron.rs"): "Keystone's catalog keys",
    ("endpoints", "neutron.rs"): "Keystone's catalog keys",
    ("lifetime", "contract.rs"): "the gateway contract's serde key (attributes take literals)",
    ("psk", "profile.rs"): "a value of auth_mode",
    ("psk", "resources.rs"): "a value of auth_mode",
    ("tunnel", "algorithms.rs"): "a value of encapsulation_mode",
    ("cidr", "algorithms.rs"): "a value of an endpoint group's type",
    ("cidr", "rules.rs"): "a value of an endpoint group's type",
    ("cidr", "api/schemas.rs"): "an example value of an endpoint group's type",
}


def main():
    names = re.findall(r'pub const \w+: &str = "([^"]+)";', WIRE.read_text())
    found = set()
    for src in (ROOT / "vpnaas-server/src", ROOT / "vpnaas-core/src"):
        for f in sorted(src.rglob("*.rs")):
            if f == WIRE or f.name == "migrations.rs":
                continue
            text = f.read_text()
            text = text.split("#[cfg(test)]")[0]
            rel = str(f.relative_to(src))
            for name in names:
                if f'"{name}"' in text:
                    found.add((name, rel))
    bad = sorted(found - ALLOWED.keys())
    for name, rel in bad:
        print(f'{rel}: "{name}" is a wire name: use vpnaas_core::wire\'s constant (ADR 0044)')
    stale = sorted(ALLOWED.keys() - found)
    for name, rel in stale:
        print(f'.ci/wire.py: ({name!r}, {rel!r}) is allowed but no longer found: remove it')
    if bad or stale:
        sys.exit(1)
    print(f"{len(names)} wire names, each written once ({len(ALLOWED)} listed uses of the same words)")


main()
