//! `vpnaas-bench fleet` options: the fleet's shape, the backend, the server's agent settings and the phases' lengths.

use std::path::PathBuf;
use std::time::Duration;

use clap::Args;

use crate::values::{positive, seconds};

/// What `fleet --help` says first.
pub const FLEET_ABOUT: &str =
    "Starts vpnaas (one server on SQLite, or two replicas on one PostgreSQL database), seeds a \
fleet through the API, then runs simulated gateway agents in this process: each heartbeats, long-polls \
its state with a cursor and reports ACTIVE for what it was told to run. Measures idle server CPU and \
RSS, change -> gateway-sees-it latency over a stream of random changes, status-report throughput and a \
host's resync time; prints a table (and JSON with --json). Thousands of agents need file descriptors: \
run under `ulimit -n 65536`.";

/// `vpnaas-bench fleet`'s flags; unset ones take the full or the `--smoke` preset's value.
#[derive(Args, Debug, Default)]
pub struct FleetArgs {
    /// Simulated hosts [default: 100]
    #[arg(long, value_name = "N", value_parser = positive, help_heading = "Fleet")]
    hosts: Option<usize>,
    /// Routers placed on each host (binding:host_id) [default: 10]
    #[arg(long, value_name = "R", value_parser = positive, help_heading = "Fleet")]
    routers_per_host: Option<usize>,
    /// Site connections of each router's VPN service [default: 10]
    #[arg(long, value_name = "C", value_parser = positive, help_heading = "Fleet")]
    connections_per_router: Option<usize>,
    /// N routers, each with its own per-router agent (/v2.0/gateway/routers/{id}/...) instead of
    /// host agents; R is 1
    #[arg(long, help_heading = "Fleet")]
    single_router_agents: bool,
    /// Add one more host with M routers, whose resync is timed [default: host 0's R routers are]
    #[arg(long, value_name = "M", value_parser = positive, help_heading = "Fleet")]
    resync_routers: Option<usize>,
    /// Random changes, one after the other [default: 200]
    #[arg(long, value_name = "K", help_heading = "Measurements")]
    changes: Option<usize>,
    /// The idle CPU window, in seconds [default: 20]
    #[arg(long = "idle-secs", value_name = "S", value_parser = seconds, help_heading = "Measurements")]
    idle: Option<Duration>,
    /// The status-report throughput run, in seconds [default: 10]
    #[arg(long = "status-secs", value_name = "S", value_parser = seconds, help_heading = "Measurements")]
    status: Option<Duration>,
    /// Concurrent reporters in that run [default: 32]
    #[arg(long, value_name = "N", value_parser = positive, help_heading = "Measurements")]
    status_concurrency: Option<usize>,
    /// The agents' long-poll wait in seconds, at most the server's 30 [default: 25]
    #[arg(long = "wait", value_name = "SECS", value_parser = clap::value_parser!(u64).range(1..=30), help_heading = "Measurements")]
    wait_secs: Option<u64>,
    /// Waiting polls stay ordinary long polls, as before the switch of ADR 0028 (to compare)
    #[arg(long, help_heading = "Measurements")]
    plain_polls: bool,
    /// The random changes' seed [default: 1]
    #[arg(long, value_name = "N", help_heading = "Measurements")]
    seed: Option<u64>,
    /// One server on SQLite, or two replicas on one PostgreSQL or MariaDB database: changes
    /// through replica 1, agents on 2
    #[arg(long, value_enum, default_value_t = Backend::Sqlite, help_heading = "Server")]
    backend: Backend,
    /// postgres2: an admin URL; a fresh database (C collation) is created in that cluster and
    /// dropped afterwards
    #[arg(long, value_name = "URL", help_heading = "Server")]
    postgres: Option<String>,
    /// mariadb2: an admin URL (`mysql://`; a Galera cluster's HAProxy, say); a fresh database
    /// (utf8mb4_bin) is created there and dropped afterwards
    #[arg(long, value_name = "URL", help_heading = "Server")]
    mariadb: Option<String>,
    /// VPNAAS_AGENT_HEARTBEAT_SECS [default: 10]
    #[arg(long, value_name = "S", value_parser = clap::value_parser!(u64).range(1..), help_heading = "Server")]
    heartbeat_secs: Option<u64>,
    /// VPNAAS_AGENT_DEAD_AFTER_SECS [default: 30]
    #[arg(long, value_name = "S", value_parser = clap::value_parser!(u64).range(1..), help_heading = "Server")]
    dead_after_secs: Option<u64>,
    /// The vpnaas binary [default: `vpnaas` next to this executable]
    #[arg(long, value_name = "PATH", help_heading = "Server")]
    vpnaas: Option<PathBuf>,
    /// VPNAAS_LOG for the servers [default: theirs, `info`]
    #[arg(long, value_name = "FILTER", help_heading = "Server")]
    server_log: Option<String>,
    /// Concurrent seeding workers, one router each [default: 32]
    #[arg(long, value_name = "N", value_parser = positive, help_heading = "Server")]
    seed_concurrency: Option<usize>,
    /// Per request, in seconds [default: 60]
    #[arg(long, value_name = "SECS", value_parser = seconds, help_heading = "Server")]
    timeout: Option<Duration>,
    /// Where the temporary data directories go
    #[arg(long, value_name = "DIR", help_heading = "Server")]
    data_root: Option<PathBuf>,
    /// Also write the results as JSON
    #[arg(long, value_name = "FILE", help_heading = "Server")]
    json: Option<PathBuf>,
    /// 3 hosts x 2 routers x 2 connections, 5 changes, seconds; exits 1 if a request failed or a
    /// change was not seen (flags still override it)
    #[arg(long, help_heading = "Server")]
    smoke: bool,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum Backend {
    #[default]
    Sqlite,
    Postgres2,
    Mariadb2,
}

#[derive(Debug, Clone)]
pub struct FleetOptions {
    pub hosts: usize,
    pub routers_per_host: usize,
    pub connections_per_router: usize,
    pub single_router_agents: bool,
    pub resync_routers: Option<usize>,
    pub changes: usize,
    pub idle: Duration,
    pub status: Duration,
    pub status_concurrency: usize,
    pub wait_secs: u64,
    pub plain_polls: bool,
    pub seed: u64,
    pub backend: Backend,
    pub postgres: Option<String>,
    pub mariadb: Option<String>,
    pub heartbeat_secs: u64,
    pub dead_after_secs: u64,
    pub vpnaas: Option<PathBuf>,
    pub server_log: Option<String>,
    pub seed_concurrency: usize,
    pub timeout: Duration,
    pub data_root: Option<PathBuf>,
    pub json: Option<PathBuf>,
    pub smoke: bool,
}

impl FleetOptions {
    fn full() -> FleetOptions {
        FleetOptions {
            hosts: 100,
            routers_per_host: 10,
            connections_per_router: 10,
            single_router_agents: false,
            resync_routers: None,
            changes: 200,
            idle: Duration::from_secs(20),
            status: Duration::from_secs(10),
            status_concurrency: 32,
            wait_secs: 25,
            plain_polls: false,
            seed: 1,
            backend: Backend::Sqlite,
            postgres: None,
            mariadb: None,
            heartbeat_secs: 10,
            dead_after_secs: 30,
            vpnaas: None,
            server_log: None,
            seed_concurrency: 32,
            timeout: Duration::from_secs(60),
            data_root: None,
            json: None,
            smoke: false,
        }
    }

    /// A tiny fleet for CI: every phase runs, in seconds.
    fn smoke() -> FleetOptions {
        FleetOptions {
            hosts: 3,
            routers_per_host: 2,
            connections_per_router: 2,
            changes: 5,
            idle: Duration::from_secs(2),
            status: Duration::from_secs(1),
            status_concurrency: 4,
            wait_secs: 5,
            heartbeat_secs: 1,
            dead_after_secs: 5,
            seed_concurrency: 4,
            timeout: Duration::from_secs(30),
            smoke: true,
            ..FleetOptions::full()
        }
    }

    /// Routers in the fleet, the resync host's included.
    pub fn routers(&self) -> usize {
        self.hosts * self.routers_per_host + self.resync_routers.unwrap_or(0)
    }

    pub fn shape(&self) -> String {
        let c = self.connections_per_router;
        if self.single_router_agents {
            format!("{} single-router agents x {c} connections", self.hosts)
        } else {
            let extra = self.resync_routers.map_or(String::new(), |m| format!(" + 1 host x {m} routers"));
            format!("{} hosts x {} routers x {c} connections{extra}", self.hosts, self.routers_per_host)
        }
    }
}

/// The most routers the seeded addresses allow: one local /24 of 10.0.0.0/8 each.
pub const MAX_ROUTERS: usize = 65_536;

/// The most connections: one peer /28 of 100.64.0.0/10 each (`workload::peer_cidr`).
pub const MAX_CONNECTIONS: usize = 262_144;

impl FleetArgs {
    /// The fleet's options: the preset, then every flag given, then the checks across flags.
    pub fn options(self) -> Result<FleetOptions, String> {
        let p = if self.smoke { FleetOptions::smoke() } else { FleetOptions::full() };
        let mut o = FleetOptions {
            hosts: self.hosts.unwrap_or(p.hosts),
            routers_per_host: self.routers_per_host.unwrap_or(p.routers_per_host),
            connections_per_router: self.connections_per_router.unwrap_or(p.connections_per_router),
            single_router_agents: self.single_router_agents,
            resync_routers: self.resync_routers,
            changes: self.changes.unwrap_or(p.changes),
            idle: self.idle.unwrap_or(p.idle),
            status: self.status.unwrap_or(p.status),
            status_concurrency: self.status_concurrency.unwrap_or(p.status_concurrency),
            wait_secs: self.wait_secs.unwrap_or(p.wait_secs),
            plain_polls: self.plain_polls,
            seed: self.seed.unwrap_or(p.seed),
            backend: self.backend,
            postgres: self.postgres,
            mariadb: self.mariadb,
            heartbeat_secs: self.heartbeat_secs.unwrap_or(p.heartbeat_secs),
            dead_after_secs: self.dead_after_secs.unwrap_or(p.dead_after_secs),
            vpnaas: self.vpnaas,
            server_log: self.server_log,
            seed_concurrency: self.seed_concurrency.unwrap_or(p.seed_concurrency),
            timeout: self.timeout.unwrap_or(p.timeout),
            data_root: self.data_root,
            json: self.json,
            smoke: self.smoke,
        };
        if o.single_router_agents {
            if self.routers_per_host.is_some_and(|r| r != 1) {
                return Err("--single-router-agents runs one router per agent: drop --routers-per-host".into());
            }
            if o.resync_routers.is_some() {
                return Err("--resync-routers is for host agents, not --single-router-agents".into());
            }
            o.routers_per_host = 1;
        }
        if o.routers() > MAX_ROUTERS {
            return Err(format!("at most {MAX_ROUTERS} routers (one local /24 of 10.0.0.0/8 each)"));
        }
        if o.routers() * o.connections_per_router > MAX_CONNECTIONS {
            return Err(format!("at most {MAX_CONNECTIONS} connections (one peer /28 of 100.64.0.0/10 each)"));
        }
        match (o.backend, &o.postgres, &o.mariadb) {
            (Backend::Postgres2, None, _) => return Err("--backend postgres2 needs --postgres URL".into()),
            (Backend::Mariadb2, _, None) => return Err("--backend mariadb2 needs --mariadb URL".into()),
            (Backend::Sqlite | Backend::Mariadb2, Some(_), _) => {
                return Err("--postgres goes with --backend postgres2".into())
            }
            (Backend::Sqlite | Backend::Postgres2, _, Some(_)) => {
                return Err("--mariadb goes with --backend mariadb2".into())
            }
            _ => {}
        }
        if let Some(url) = &o.mariadb {
            if !(url.starts_with("mysql://") || url.starts_with("mariadb://")) {
                return Err("--mariadb: a mysql:// URL".into());
            }
        }
        if let Some(url) = &o.postgres {
            if !(url.starts_with("postgres://") || url.starts_with("postgresql://")) {
                return Err("--postgres: a postgres:// URL".into());
            }
        }
        if o.dead_after_secs <= o.heartbeat_secs {
            return Err("--dead-after-secs must be longer than --heartbeat-secs".into());
        }
        Ok(o)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(s: &str) -> Result<FleetOptions, String> {
        let args = crate::options::tests::args(&format!("fleet {s}"));
        match crate::options::parse(args) {
            Ok(crate::options::Command::Fleet(o)) => Ok(*o),
            Ok(other) => Err(format!("not a fleet: {other:?}")),
            Err(e) => Err(e.to_string()),
        }
    }

    fn parsed(s: &str) -> FleetOptions {
        match parse(s) {
            Ok(o) => o,
            other => panic!("{s}: {other:?}"),
        }
    }

    #[test]
    fn shapes_and_defaults() {
        let o = parsed("--hosts 1000 --routers-per-host 10 --connections-per-router 10 --changes 300");
        assert_eq!((o.hosts, o.routers_per_host, o.connections_per_router, o.changes), (1000, 10, 10, 300));
        assert_eq!((o.heartbeat_secs, o.dead_after_secs, o.wait_secs), (10, 30, 25));
        assert_eq!(o.backend, Backend::Sqlite);
        assert_eq!(o.routers(), 10_000);
        assert_eq!(o.shape(), "1000 hosts x 10 routers x 10 connections");
        let o = parsed("--hosts 10 --resync-routers 1000");
        assert_eq!(o.routers(), 1100);
        let o = parsed("--single-router-agents --hosts 10000");
        assert_eq!((o.routers_per_host, o.routers()), (1, 10_000));
        assert_eq!(o.shape(), "10000 single-router agents x 10 connections");
    }

    #[test]
    fn smoke_is_tiny_and_flags_override_it() {
        let o = parsed("--changes 7 --smoke");
        assert!(o.smoke);
        assert_eq!((o.hosts, o.routers_per_host, o.connections_per_router, o.changes), (3, 2, 2, 7));
        assert!(o.idle < Duration::from_secs(5));
    }

    #[test]
    fn backends() {
        let o = parsed("--backend postgres2 --postgres postgres://postgres@127.0.0.1:5432/postgres");
        assert_eq!(o.backend, Backend::Postgres2);
        assert!(parse("--backend postgres2").is_err());
        assert!(parse("--postgres postgres://x/y").is_err());
        assert!(parse("--backend mysql").is_err());
        assert!(parse("--backend postgres2 --postgres mysql://x/y").is_err());
        let o = parsed("--backend mariadb2 --mariadb mysql://vpnaas:pw@127.0.0.1:3306");
        assert_eq!((o.backend, o.mariadb.as_deref()), (Backend::Mariadb2, Some("mysql://vpnaas:pw@127.0.0.1:3306")));
        assert!(parse("--backend mariadb2").is_err());
        assert!(parse("--backend mariadb2 --mariadb postgres://x/y").is_err());
        assert!(parse("--mariadb mysql://x/y").is_err());
    }

    #[test]
    fn refusals() {
        for bad in [
            "--hosts 0",
            "--hosts x",
            "--nope",
            "--hosts",
            "--idle-secs -1",
            "--wait 31",
            "--heartbeat-secs 30 --dead-after-secs 30",
            "--single-router-agents --routers-per-host 5",
            "--single-router-agents --resync-routers 5",
            "--hosts 70000 --routers-per-host 1",
            "--hosts 30000 --routers-per-host 1 --connections-per-router 10",
        ] {
            assert!(parse(bad).is_err(), "{bad}");
        }
        assert!(parse("--hosts 3 --help").is_err_and(|e| e.contains("Usage")));
    }
}
