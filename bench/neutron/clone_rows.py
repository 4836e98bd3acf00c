#!/usr/bin/env python3
"""Seed hook for the reference: copies rows in Neutron's SQLite database directly.

The reference creates about 5 site connections a second, so seeding its 11,000 rows through
the API would take most of an hour; the measured operations still all go through its API.
vpnaas-bench calls this (`--seed-command "python3 clone_rows.py DB"`) as

    clone_rows.py DB connections TEMPLATE_ID FIRST COUNT NAME
        COUNT copies of connection TEMPLATE_ID named NAME, each with its own copy of the
        template's peer endpoint group, whose one CIDR is peer_cidr(FIRST + k)
    clone_rows.py DB groups TEMPLATE_ID FIRST COUNT [NAME]
        COUNT copies of peer endpoint group TEMPLATE_ID with CIDRs peer_cidr(FIRST + k)

and reads the new ids, one a line, from stdout. Numbering and values are the ones the
benchmark sends through the API (crates/vpnaas-bench/src/workload.rs).
"""

import ipaddress
import sqlite3
import sys
import uuid


def peer_cidr(n):
    """Connection n's own /28 in 100.64.0.0/10, as workload::peer_cidr."""
    return "%s/28" % ipaddress.IPv4Address(0x64400000 | ((n & 0x3FFFF) << 4))


def columns(db, table):
    return [row[1] for row in db.execute("PRAGMA table_info(%s)" % table)]


def copy_row(db, table, template_id, new_values):
    """INSERT a copy of row template_id of table with some columns replaced."""
    cols = columns(db, table)
    select = ", ".join("?" if c in new_values else c for c in cols)
    params = [new_values[c] for c in cols if c in new_values] + [template_id]
    db.execute(
        "INSERT INTO %s (%s) SELECT %s FROM %s WHERE id = ?" % (table, ", ".join(cols), select, table),
        params,
    )


def copy_group(db, template_id, n):
    gid = str(uuid.uuid4())
    copy_row(db, "vpn_endpoint_groups", template_id, {"id": gid, "name": "peer-%d" % n})
    db.execute("INSERT INTO vpn_endpoints (endpoint, endpoint_group_id) VALUES (?, ?)", (peer_cidr(n), gid))
    return gid


def main(argv):
    if len(argv) < 6:
        sys.exit(__doc__)
    path, kind, template, first, count = argv[1], argv[2], argv[3], int(argv[4]), int(argv[5])
    name = argv[6] if len(argv) > 6 else ""
    db = sqlite3.connect(path, timeout=30)
    ids = []
    with db:  # one transaction
        if kind == "groups":
            ids = [copy_group(db, template, first + k) for k in range(count)]
        elif kind == "connections":
            (group,) = db.execute(
                "SELECT peer_ep_group_id FROM ipsec_site_connections WHERE id = ?", (template,)
            ).fetchone()
            for k in range(count):
                n = first + k
                cid = str(uuid.uuid4())
                copy_row(
                    db,
                    "ipsec_site_connections",
                    template,
                    {
                        "id": cid,
                        "name": name,
                        "description": "bench connection %d" % n,
                        "psk": "bench-secret-%08d" % n,
                        "peer_ep_group_id": copy_group(db, group, n),
                    },
                )
                ids.append(cid)
            # The reference refuses to update a connection in PENDING_CREATE, and without an
            # L3 agent its connections never leave it: mark these ACTIVE, as the agent would.
            # (vpnaas accepts updates in any status, so both sides then take the same PUTs.)
            for cid in [template] + ids:
                db.execute("UPDATE ipsec_site_connections SET status = 'ACTIVE' WHERE id = ?", (cid,))
        else:
            sys.exit("unknown kind %r" % kind)
    print("\n".join(ids))


if __name__ == "__main__":
    main(sys.argv)
