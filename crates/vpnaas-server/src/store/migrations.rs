//! Schema migrations: numbered, forward-only, each applied once in the caller's transaction,
//! and each one half of an upgrade (ADR 0033): an *expand* step only adds, and is safe while
//! replicas of the previous release serve; a *contract* step removes what only the previous
//! release used, and runs only by `vpnaas migrate --contract`, once none of them is left. A
//! *data* step between them rewrites rows in batches while the new release serves (ADR 0035).

use std::future::Future;
use std::pin::Pin;

use super::{execute, fetch_all, Conn, StoreError, StoreResult};

/// Version 1: the inventory and the five VPNaaS resources.
const V1: &str = r#"
CREATE TABLE routers (
    id VARCHAR(36) PRIMARY KEY,
    project_id VARCHAR(255) NOT NULL,
    name VARCHAR(255) NOT NULL,
    description VARCHAR(255) NOT NULL,
    admin_state_up BIGINT NOT NULL,
    has_gateway BIGINT NOT NULL,
    gw_network_id VARCHAR(36),
    gw_v4_ip VARCHAR(64),
    gw_v6_ip VARCHAR(64),
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    revision_number BIGINT NOT NULL
);
CREATE INDEX routers_project ON routers (project_id);
CREATE INDEX routers_name ON routers (name);
CREATE TABLE subnets (
    id VARCHAR(36) PRIMARY KEY,
    project_id VARCHAR(255) NOT NULL,
    name VARCHAR(255) NOT NULL,
    description VARCHAR(255) NOT NULL,
    cidr VARCHAR(64) NOT NULL,
    ip_version BIGINT NOT NULL,
    network_id VARCHAR(36),
    router_id VARCHAR(36) REFERENCES routers (id),
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    revision_number BIGINT NOT NULL
);
CREATE INDEX subnets_project ON subnets (project_id);
CREATE INDEX subnets_name ON subnets (name);
CREATE INDEX subnets_router ON subnets (router_id);
CREATE TABLE ikepolicies (
    id VARCHAR(36) PRIMARY KEY,
    project_id VARCHAR(255) NOT NULL,
    name VARCHAR(255) NOT NULL,
    description VARCHAR(255) NOT NULL,
    auth_algorithm VARCHAR(32) NOT NULL,
    encryption_algorithm VARCHAR(32) NOT NULL,
    phase1_negotiation_mode VARCHAR(16) NOT NULL,
    lifetime_units VARCHAR(16) NOT NULL,
    lifetime_value BIGINT NOT NULL,
    ike_version VARCHAR(8) NOT NULL,
    pfs VARCHAR(16) NOT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    revision_number BIGINT NOT NULL
);
CREATE INDEX ikepolicies_project ON ikepolicies (project_id);
CREATE INDEX ikepolicies_name ON ikepolicies (name);
CREATE TABLE ipsecpolicies (
    id VARCHAR(36) PRIMARY KEY,
    project_id VARCHAR(255) NOT NULL,
    name VARCHAR(255) NOT NULL,
    description VARCHAR(255) NOT NULL,
    transform_protocol VARCHAR(16) NOT NULL,
    auth_algorithm VARCHAR(32) NOT NULL,
    encryption_algorithm VARCHAR(32) NOT NULL,
    encapsulation_mode VARCHAR(16) NOT NULL,
    lifetime_units VARCHAR(16) NOT NULL,
    lifetime_value BIGINT NOT NULL,
    pfs VARCHAR(16) NOT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    revision_number BIGINT NOT NULL
);
CREATE INDEX ipsecpolicies_project ON ipsecpolicies (project_id);
CREATE INDEX ipsecpolicies_name ON ipsecpolicies (name);
CREATE TABLE vpnservices (
    id VARCHAR(36) PRIMARY KEY,
    project_id VARCHAR(255) NOT NULL,
    name VARCHAR(255) NOT NULL,
    description VARCHAR(255) NOT NULL,
    router_id VARCHAR(36) NOT NULL REFERENCES routers (id),
    subnet_id VARCHAR(36) REFERENCES subnets (id),
    admin_state_up BIGINT NOT NULL,
    external_v4_ip VARCHAR(16),
    external_v6_ip VARCHAR(64),
    status VARCHAR(16) NOT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    revision_number BIGINT NOT NULL
);
CREATE INDEX vpnservices_project ON vpnservices (project_id);
CREATE INDEX vpnservices_name ON vpnservices (name);
CREATE INDEX vpnservices_router ON vpnservices (router_id);
CREATE INDEX vpnservices_subnet ON vpnservices (subnet_id);
CREATE TABLE endpoint_groups (
    id VARCHAR(36) PRIMARY KEY,
    project_id VARCHAR(255) NOT NULL,
    name VARCHAR(255) NOT NULL,
    description VARCHAR(255) NOT NULL,
    endpoint_type VARCHAR(16) NOT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    revision_number BIGINT NOT NULL
);
CREATE INDEX endpoint_groups_project ON endpoint_groups (project_id);
CREATE INDEX endpoint_groups_name ON endpoint_groups (name);
CREATE TABLE endpoint_group_endpoints (
    parent_id VARCHAR(36) NOT NULL REFERENCES endpoint_groups (id) ON DELETE CASCADE,
    position BIGINT NOT NULL,
    value VARCHAR(255) NOT NULL,
    PRIMARY KEY (parent_id, position)
);
CREATE INDEX endpoint_group_endpoints_value ON endpoint_group_endpoints (value);
CREATE TABLE ipsec_site_connections (
    id VARCHAR(36) PRIMARY KEY,
    project_id VARCHAR(255) NOT NULL,
    name VARCHAR(255) NOT NULL,
    description VARCHAR(255) NOT NULL,
    peer_address VARCHAR(255) NOT NULL,
    peer_id VARCHAR(255) NOT NULL,
    local_id VARCHAR(255) NOT NULL,
    route_mode VARCHAR(8) NOT NULL,
    mtu BIGINT NOT NULL,
    initiator VARCHAR(16) NOT NULL,
    auth_mode VARCHAR(16) NOT NULL,
    psk VARCHAR(255) NOT NULL,
    dpd_action VARCHAR(16) NOT NULL,
    dpd_interval BIGINT NOT NULL,
    dpd_timeout BIGINT NOT NULL,
    admin_state_up BIGINT NOT NULL,
    status VARCHAR(16) NOT NULL,
    vpnservice_id VARCHAR(36) NOT NULL REFERENCES vpnservices (id),
    ikepolicy_id VARCHAR(36) NOT NULL REFERENCES ikepolicies (id),
    ipsecpolicy_id VARCHAR(36) NOT NULL REFERENCES ipsecpolicies (id),
    local_ep_group_id VARCHAR(36) REFERENCES endpoint_groups (id),
    peer_ep_group_id VARCHAR(36) REFERENCES endpoint_groups (id),
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    revision_number BIGINT NOT NULL
);
CREATE INDEX ipsec_site_connections_project ON ipsec_site_connections (project_id);
CREATE INDEX ipsec_site_connections_name ON ipsec_site_connections (name);
CREATE INDEX ipsec_site_connections_service ON ipsec_site_connections (vpnservice_id);
CREATE INDEX ipsec_site_connections_ike ON ipsec_site_connections (ikepolicy_id);
CREATE INDEX ipsec_site_connections_ipsec ON ipsec_site_connections (ipsecpolicy_id);
CREATE INDEX ipsec_site_connections_local_eg ON ipsec_site_connections (local_ep_group_id);
CREATE INDEX ipsec_site_connections_peer_eg ON ipsec_site_connections (peer_ep_group_id);
CREATE TABLE ipsec_peer_cidrs (
    parent_id VARCHAR(36) NOT NULL REFERENCES ipsec_site_connections (id) ON DELETE CASCADE,
    position BIGINT NOT NULL,
    value VARCHAR(64) NOT NULL,
    PRIMARY KEY (parent_id, position)
)
"#;

/// Version 2: gateway agents (ADR 0003) and what they report about each connection.
const V2: &str = r#"
CREATE TABLE gateway_agents (
    router_id VARCHAR(36) PRIMARY KEY REFERENCES routers (id) ON DELETE CASCADE,
    host VARCHAR(255) NOT NULL,
    version VARCHAR(64) NOT NULL,
    last_seen BIGINT NOT NULL
);
CREATE INDEX gateway_agents_last_seen ON gateway_agents (last_seen);
ALTER TABLE ipsec_site_connections ADD COLUMN status_reason VARCHAR(255);
ALTER TABLE ipsec_site_connections ADD COLUMN bytes_in BIGINT NOT NULL DEFAULT 0;
ALTER TABLE ipsec_site_connections ADD COLUMN bytes_out BIGINT NOT NULL DEFAULT 0;
ALTER TABLE ipsec_site_connections ADD COLUMN packets_in BIGINT NOT NULL DEFAULT 0;
ALTER TABLE ipsec_site_connections ADD COLUMN packets_out BIGINT NOT NULL DEFAULT 0
"#;

/// Version 3: lists are keyset-paginated by id within a project (and often a name), so
/// the indexes lead with those columns and end with `id`: a page is an index range scan,
/// not a sort of every matching row.
const V3: &str = r#"
DROP INDEX routers_project;
DROP INDEX routers_name;
CREATE INDEX routers_project_id ON routers (project_id, id);
CREATE INDEX routers_project_name_id ON routers (project_id, name, id);
CREATE INDEX routers_name_id ON routers (name, id);
DROP INDEX subnets_project;
DROP INDEX subnets_name;
CREATE INDEX subnets_project_id ON subnets (project_id, id);
CREATE INDEX subnets_project_name_id ON subnets (project_id, name, id);
CREATE INDEX subnets_name_id ON subnets (name, id);
DROP INDEX ikepolicies_project;
DROP INDEX ikepolicies_name;
CREATE INDEX ikepolicies_project_id ON ikepolicies (project_id, id);
CREATE INDEX ikepolicies_project_name_id ON ikepolicies (project_id, name, id);
CREATE INDEX ikepolicies_name_id ON ikepolicies (name, id);
DROP INDEX ipsecpolicies_project;
DROP INDEX ipsecpolicies_name;
CREATE INDEX ipsecpolicies_project_id ON ipsecpolicies (project_id, id);
CREATE INDEX ipsecpolicies_project_name_id ON ipsecpolicies (project_id, name, id);
CREATE INDEX ipsecpolicies_name_id ON ipsecpolicies (name, id);
DROP INDEX vpnservices_project;
DROP INDEX vpnservices_name;
CREATE INDEX vpnservices_project_id ON vpnservices (project_id, id);
CREATE INDEX vpnservices_project_name_id ON vpnservices (project_id, name, id);
CREATE INDEX vpnservices_name_id ON vpnservices (name, id);
DROP INDEX endpoint_groups_project;
DROP INDEX endpoint_groups_name;
CREATE INDEX endpoint_groups_project_id ON endpoint_groups (project_id, id);
CREATE INDEX endpoint_groups_project_name_id ON endpoint_groups (project_id, name, id);
CREATE INDEX endpoint_groups_name_id ON endpoint_groups (name, id);
DROP INDEX ipsec_site_connections_project;
DROP INDEX ipsec_site_connections_name;
CREATE INDEX ipsec_site_connections_project_id ON ipsec_site_connections (project_id, id);
CREATE INDEX ipsec_site_connections_project_name_id ON ipsec_site_connections (project_id, name, id);
CREATE INDEX ipsec_site_connections_name_id ON ipsec_site_connections (name, id)
"#;

/// Version 4: which member of an active/standby pair stands by, and since when the active
/// one has been active (ADR 0002: a healthy standby reads DOWN, so roles are remembered).
const V4: &str = r#"
ALTER TABLE ipsec_site_connections ADD COLUMN ha_standby BIGINT NOT NULL DEFAULT 0;
ALTER TABLE ipsec_site_connections ADD COLUMN ha_since BIGINT NOT NULL DEFAULT 0
"#;

/// Version 5: the fleet (ADR 0011): routers placed on hosts, change markers in commit order,
/// and hosts' heartbeats.
const V5: &str = r#"
ALTER TABLE routers ADD COLUMN host VARCHAR(255);
CREATE INDEX routers_host ON routers (host);
CREATE TABLE gateway_seq (id BIGINT PRIMARY KEY, n BIGINT NOT NULL);
INSERT INTO gateway_seq (id, n) VALUES (1, 0);
CREATE TABLE router_changes (router_id VARCHAR(36) PRIMARY KEY, seq BIGINT NOT NULL, host VARCHAR(255));
CREATE INDEX router_changes_seq ON router_changes (seq);
CREATE TABLE host_changes (host VARCHAR(255) PRIMARY KEY, seq BIGINT NOT NULL);
CREATE INDEX host_changes_seq ON host_changes (seq);
CREATE TABLE gateway_hosts (host VARCHAR(255) PRIMARY KEY, version VARCHAR(64) NOT NULL, last_seen BIGINT NOT NULL);
CREATE INDEX gateway_hosts_last_seen ON gateway_hosts (last_seen)
"#;

/// Version 6: certificate authentication (ADR 0017): certificates with their private keys
/// (sealed), and a connection's mode, local certificate and the CAs trusted for its peer.
const V6: &str = r#"
CREATE TABLE certificates (
    id VARCHAR(36) PRIMARY KEY,
    project_id VARCHAR(255) NOT NULL,
    name VARCHAR(255) NOT NULL,
    description VARCHAR(255) NOT NULL,
    certificate TEXT NOT NULL,
    private_key TEXT NOT NULL,
    chain TEXT,
    subject TEXT NOT NULL,
    not_before BIGINT NOT NULL,
    not_after BIGINT NOT NULL,
    fingerprint VARCHAR(128) NOT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    revision_number BIGINT NOT NULL
);
CREATE INDEX certificates_project_id ON certificates (project_id, id);
CREATE INDEX certificates_project_name_id ON certificates (project_id, name, id);
CREATE INDEX certificates_name_id ON certificates (name, id);
ALTER TABLE ipsec_site_connections ADD COLUMN local_certificate_id VARCHAR(36) REFERENCES certificates (id);
ALTER TABLE ipsec_site_connections ADD COLUMN peer_ca TEXT;
CREATE INDEX ipsec_site_connections_certificate ON ipsec_site_connections (local_certificate_id)
"#;

/// Version 7: tunnel detail (ADR 0018): when a connection's gateway last reported, since
/// when it has had its status and why it is down, and its last negotiation events.
const V7: &str = r#"
ALTER TABLE ipsec_site_connections ADD COLUMN reported_at BIGINT NOT NULL DEFAULT 0;
ALTER TABLE ipsec_site_connections ADD COLUMN status_since BIGINT NOT NULL DEFAULT 0;
ALTER TABLE ipsec_site_connections ADD COLUMN down_reason VARCHAR(32);
CREATE TABLE connection_events (
    connection_id VARCHAR(36) NOT NULL REFERENCES ipsec_site_connections (id) ON DELETE CASCADE,
    at BIGINT NOT NULL,
    seq BIGINT NOT NULL,
    kind VARCHAR(16) NOT NULL,
    reason VARCHAR(32),
    message VARCHAR(255) NOT NULL,
    PRIMARY KEY (connection_id, at, seq)
)
"#;

/// Version 8: the replicas sharing the database say which release and schema they run, so
/// that a contract step can refuse while one of the previous release still serves (ADR 0033).
const V8: &str = r#"
CREATE TABLE replicas (
    id VARCHAR(36) PRIMARY KEY,
    release_name VARCHAR(64) NOT NULL,
    schema_version BIGINT NOT NULL,
    started_at BIGINT NOT NULL,
    last_seen BIGINT NOT NULL
);
CREATE INDEX replicas_last_seen ON replicas (last_seen)
"#;

/// Version 9: the subnet a router's gateway address is on, when the caller named it
/// (`external_fixed_ips[].subnet_id`), so that it is echoed as Neutron does.
const V9: &str = r#"
ALTER TABLE routers ADD COLUMN gw_v4_subnet_id VARCHAR(36);
ALTER TABLE routers ADD COLUMN gw_v6_subnet_id VARCHAR(36)
"#;

/// Version 10: quotas (ADR 0041). A project's own limits, one row per resource it has one
/// for (the settings' defaults hold elsewhere), and the row its creates lock while they
/// count, so that concurrent creates on any replica count one after another.
const V10: &str = r#"
CREATE TABLE quotas (
    project_id VARCHAR(255) NOT NULL,
    resource VARCHAR(64) NOT NULL,
    hard_limit BIGINT NOT NULL,
    PRIMARY KEY (project_id, resource)
);
CREATE TABLE quota_locks (
    project_id VARCHAR(255) PRIMARY KEY
)
"#;

/// Version 11: the notification outbox (ADR 0043). A message is written in the transaction of
/// the change it describes, with its final envelope (so its `message_id` never changes), and
/// removed once the broker confirmed it; `claimed_until` lets one relay hold it at a time.
const V11: &str = r#"
CREATE TABLE notification_outbox (
    message_id VARCHAR(36) PRIMARY KEY,
    created_at BIGINT NOT NULL,
    claimed_until BIGINT NOT NULL,
    body TEXT NOT NULL
);
CREATE INDEX notification_outbox_created ON notification_outbox (created_at)
"#;

/// Version 12: the topic of each outbox message, for audit events on a topic of their own
/// (ADR 0043); none means the notifications' topic.
const V12: &str = r#"
ALTER TABLE notification_outbox ADD COLUMN routing_key VARCHAR(255)
"#;

/// Version 13: the outbox as one row per write (ADR 0047), keyed by a version 7 UUID so that
/// rows go in at the end of the key's index, with no index besides. The previous release's
/// table stays until a later release contracts it: this release's relay drains it.
const V13: &str = r#"
CREATE TABLE notification_batches (
    batch_id VARCHAR(36) PRIMARY KEY,
    created_at BIGINT NOT NULL,
    claimed_until BIGINT NOT NULL,
    messages BIGINT NOT NULL,
    body TEXT NOT NULL,
    routing_key VARCHAR(255)
)
"#;

/// Which part of an upgrade a step belongs to, in the order they run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Phase {
    /// Adds tables, nullable or defaulted columns, indexes (or drops an index): safe while
    /// replicas of the previous release serve. Servers apply these at start.
    Expand,
    /// Rewrites existing rows, [`BATCH`] at a time, one transaction each, while this release
    /// serves: `vpnaas migrate --migrate` (ADR 0035). A server starting stops before one.
    Migrate,
    /// Removes what only the previous release used: `vpnaas migrate --contract`, once every
    /// replica runs a release that knows the step.
    Contract,
}

impl Phase {
    pub fn name(self) -> &'static str {
        match self {
            Phase::Expand => "expand",
            Phase::Migrate => "migrate",
            Phase::Contract => "contract",
        }
    }
}

/// The most rows one batch of a data step rewrites: short transactions, so that writers
/// (and a Galera cluster's certification) never wait long behind a data step. The first data
/// step's batch binds it.
#[allow(dead_code)]
const BATCH: i64 = 500;

/// One batch of a data step: rewrites at most [`BATCH`] rows that still need it and says how
/// many it did; 0 ends the step. It must be idempotent (a batch cut short by a crash is simply
/// done again) and valid on every dialect the store speaks.
type Batch = for<'c> fn(&'c mut Conn) -> Pin<Box<dyn Future<Output = StoreResult<u64>> + Send + 'c>>;

/// What a step does.
enum Work {
    /// Statements separated by `;`, run in order in one transaction.
    Sql(&'static str),
    /// A data step, one batch per transaction until a batch finds nothing left.
    Batches(Batch),
}

/// One schema change: its phase and its work.
pub(super) struct Step {
    pub phase: Phase,
    work: Work,
}

const fn expand(sql: &'static str) -> Step {
    Step { phase: Phase::Expand, work: Work::Sql(sql) }
}

/// No release has a contract step yet; the first one uses this.
#[allow(dead_code)]
const fn contract(sql: &'static str) -> Step {
    Step { phase: Phase::Contract, work: Work::Sql(sql) }
}

/// No release has a data step yet; the first one uses this.
#[allow(dead_code)]
const fn data(batch: Batch) -> Step {
    Step { phase: Phase::Migrate, work: Work::Batches(batch) }
}

/// Every step, version 1 first. A new one names its phase; `every_expand_step_only_adds`
/// refuses an expand step that removes or rewrites anything.
const STEPS: &[Step] = &[
    expand(V1),
    expand(V2),
    expand(V3),
    expand(V4),
    expand(V5),
    expand(V6),
    expand(V7),
    expand(V8),
    expand(V9),
    expand(V10),
    expand(V11),
    expand(V12),
    expand(V13),
];

/// A step's version: its place in the list, from 1.
fn version(i: usize) -> i64 {
    i64::try_from(i).unwrap_or(i64::MAX) + 1
}

/// The version the database is at (0 before the first step).
pub(super) async fn current(conn: &mut Conn) -> StoreResult<i64> {
    execute(
        conn,
        "CREATE TABLE IF NOT EXISTS schema_migrations (version BIGINT PRIMARY KEY, applied_at BIGINT NOT NULL)",
        &[],
    )
    .await?;
    let rows = fetch_all(conn, "SELECT version FROM schema_migrations ORDER BY version DESC", &[]).await?;
    match rows.first() {
        Some(r) => r.get(0),
        None => Ok(0),
    }
}

/// The steps after version `at`: version and phase.
pub(super) fn pending(at: i64) -> Vec<(i64, Phase)> {
    STEPS.iter().enumerate().map(|(i, s)| (version(i), s.phase)).filter(|(v, _)| *v > at).collect()
}

/// What one transaction of migrating did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Applied {
    /// The steps finished (and recorded).
    pub steps: usize,
    /// The rows data steps rewrote.
    pub rows: u64,
    /// A data step is under way: another transaction goes on with it.
    pub more: bool,
}

/// Applies the pending steps in order, up to `upto`: with [`Phase::Expand`] it stops before
/// the first data or contract step, with [`Phase::Migrate`] before the first contract step.
/// A data step runs one batch per call.
pub async fn run(conn: &mut Conn, upto: Phase) -> StoreResult<Applied> {
    apply(conn, STEPS, upto).await
}

async fn apply(conn: &mut Conn, steps: &[Step], upto: Phase) -> StoreResult<Applied> {
    let current = current(conn).await?;
    let mut applied = Applied::default();
    for (i, step) in steps.iter().enumerate() {
        let version = version(i);
        if version <= current {
            continue;
        }
        if step.phase > upto {
            break;
        }
        match &step.work {
            Work::Sql(sql) => {
                for statement in statements(sql) {
                    run_statement(conn, statement).await?;
                }
            }
            Work::Batches(batch) => {
                let rows = batch(conn).await?;
                if rows > 0 {
                    applied.rows += rows;
                    applied.more = true;
                    return Ok(applied);
                }
            }
        }
        execute(
            conn,
            "INSERT INTO schema_migrations (version, applied_at) VALUES ($1, $2)",
            &[version.into(), crate::clock::now_micros().into()],
        )
        .await?;
        applied.steps += 1;
    }
    Ok(applied)
}

/// The statements of a step, in order.
fn statements(sql: &str) -> impl Iterator<Item = &str> {
    sql.split(';').map(str::trim).filter(|s| !s.is_empty())
}

async fn run_statement(conn: &mut Conn, statement: &str) -> StoreResult<()> {
    match statement.strip_prefix("DROP INDEX ").filter(|_| conn.is_mariadb()) {
        // MariaDB names the table an index is dropped from; PostgreSQL and SQLite do not.
        Some(index) => {
            let found = fetch_all(
                conn,
                "SELECT DISTINCT table_name FROM information_schema.statistics \
                 WHERE table_schema = DATABASE() AND index_name = $1",
                &[index.into()],
            )
            .await?;
            let table: String =
                found.first().ok_or_else(|| StoreError::Corrupt(format!("no index {index} to drop")))?.get(0)?;
            execute(conn, &format!("DROP INDEX {index} ON {table}"), &[]).await?;
        }
        None => {
            execute(conn, statement, &[]).await?;
        }
    }
    Ok(())
}

/// The newest version this release has a step for: what `--version` names.
pub(super) fn newest() -> i64 {
    version(STEPS.len().saturating_sub(1))
}

/// The version this release's code needs: its newest expand step. Its contract steps may be
/// pending while it serves (for the readiness probe).
pub(super) fn latest() -> i64 {
    STEPS.iter().enumerate().filter(|(_, s)| s.phase == Phase::Expand).map(|(i, _)| version(i)).max().unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An expand step runs while the previous release serves: it may add tables, columns that
    /// are nullable or have a default, indexes and rows, and drop an index (which no statement
    /// needs to be right), but never drop, rename or change what exists.
    #[test]
    fn every_expand_step_only_adds() {
        for (i, step) in STEPS.iter().enumerate().filter(|(_, s)| s.phase == Phase::Expand) {
            let Work::Sql(sql) = step.work else {
                panic!("version {} is an expand step but runs batches: those are data steps", version(i));
            };
            for statement in statements(sql) {
                let upper = statement.to_ascii_uppercase();
                let first_line = upper.lines().next().unwrap_or_default();
                let additive = upper.starts_with("CREATE TABLE ")
                    || upper.starts_with("CREATE INDEX ")
                    || upper.starts_with("CREATE UNIQUE INDEX ")
                    || upper.starts_with("DROP INDEX ")
                    || upper.starts_with("INSERT INTO ")
                    || (upper.starts_with("ALTER TABLE ")
                        && upper.contains(" ADD COLUMN ")
                        && (!upper.contains("NOT NULL") || upper.contains(" DEFAULT ")));
                assert!(additive, "version {} is an expand step but does not only add: {first_line}", version(i));
            }
        }
    }

    /// A server applies expand steps only: it stops before the first contract step, and the
    /// steps after it wait for `migrate --contract`, which applies them all in order.
    #[tokio::test]
    async fn expand_stops_before_a_contract_step_and_contract_goes_on() {
        let dir = tempfile::tempdir().unwrap();
        let store = super::super::Store::open_sqlite(&dir.path().join("m.db"), Default::default()).await.unwrap();
        let steps = [
            expand("CREATE TABLE t (id BIGINT PRIMARY KEY, old_name VARCHAR(10), new_name VARCHAR(10))"),
            contract("ALTER TABLE t DROP COLUMN old_name"),
            expand("CREATE TABLE u (id BIGINT PRIMARY KEY)"),
        ];
        let mut w = store.begin_write().await.unwrap();
        assert_eq!(apply(w.conn(), &steps, Phase::Expand).await.unwrap().steps, 1);
        assert_eq!(apply(w.conn(), &steps, Phase::Expand).await.unwrap().steps, 0, "held at the contract step");
        assert_eq!(current(w.conn()).await.unwrap(), 1);
        assert_eq!(apply(w.conn(), &steps, Phase::Contract).await.unwrap().steps, 2);
        assert_eq!(current(w.conn()).await.unwrap(), 3);
        w.commit().await.unwrap();
    }

    /// Copies `old_name` into `new_name` where it is not yet: idempotent, and the `IN (SELECT
    /// ... LIMIT)` form SQLite and PostgreSQL take (MariaDB would need a derived table).
    fn copy_names(conn: &mut Conn) -> Pin<Box<dyn Future<Output = StoreResult<u64>> + Send + '_>> {
        Box::pin(async move {
            let sql = "UPDATE t SET new_name = old_name WHERE id IN \
                       (SELECT id FROM t WHERE new_name IS NULL ORDER BY id LIMIT $1)";
            execute(conn, sql, &[BATCH.into()]).await
        })
    }

    /// A data step waits for `--migrate` (a server starting stops before it), rewrites its
    /// rows 500 per transaction until a batch finds none, and holds `--migrate` before the
    /// contract step that follows; `--contract` then finishes.
    #[tokio::test]
    async fn a_data_step_runs_in_batches_between_expand_and_contract() {
        let dir = tempfile::tempdir().unwrap();
        let store = super::super::Store::open_sqlite(&dir.path().join("m.db"), Default::default()).await.unwrap();
        let steps = [
            expand("CREATE TABLE t (id BIGINT PRIMARY KEY, old_name VARCHAR(10), new_name VARCHAR(10))"),
            data(copy_names),
            contract("ALTER TABLE t DROP COLUMN old_name"),
        ];
        let mut w = store.begin_write().await.unwrap();
        assert_eq!(apply(w.conn(), &steps, Phase::Expand).await.unwrap().steps, 1);
        for id in 0..1008_i64 {
            execute(w.conn(), "INSERT INTO t (id, old_name) VALUES ($1, $2)", &[id.into(), format!("n{id}").into()])
                .await
                .unwrap();
        }
        assert_eq!(apply(w.conn(), &steps, Phase::Expand).await.unwrap(), Applied::default(), "held at the data step");
        w.commit().await.unwrap();

        let mut rounds = Vec::new();
        loop {
            let mut w = store.begin_write().await.unwrap();
            let round = apply(w.conn(), &steps, Phase::Migrate).await.unwrap();
            w.commit().await.unwrap();
            rounds.push((round.rows, round.steps));
            if !round.more {
                break;
            }
        }
        assert_eq!(rounds, [(500, 0), (500, 0), (8, 0), (0, 1)]);

        let mut w = store.begin_write().await.unwrap();
        assert_eq!(current(w.conn()).await.unwrap(), 2);
        let left = fetch_all(w.conn(), "SELECT COUNT(*) FROM t WHERE new_name IS NULL OR new_name <> old_name", &[]);
        assert_eq!(left.await.unwrap()[0].get::<i64>(0).unwrap(), 0);
        assert_eq!(apply(w.conn(), &steps, Phase::Migrate).await.unwrap().steps, 0, "held at the contract step");
        assert_eq!(apply(w.conn(), &steps, Phase::Contract).await.unwrap().steps, 1);
        assert_eq!(current(w.conn()).await.unwrap(), 3);
        w.commit().await.unwrap();
    }

    #[test]
    fn versions_count_from_one_and_this_release_needs_its_newest_expand_step() {
        assert_eq!(newest(), i64::try_from(STEPS.len()).unwrap());
        assert!(latest() <= newest() && latest() >= 8);
    }
}
