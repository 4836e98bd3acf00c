//! `vpnaas-bench fleet` options: the fleet's shape, the backend, the server's agent settings and the phases' lengths.

use std::path::PathBuf;
use std::time::Duration;

pub const FLEET_USAGE: &str = "usage: vpnaas-bench fleet [options]

Starts vpnaas (one server on SQLite, or two replicas on one PostgreSQL database), seeds a
fleet through the API, then runs simulated gateway agents in this process: each heartbeats,
long-polls its state with a cursor and reports ACTIVE for what it was told to run. Measures
idle server CPU and RSS, change -> gateway-sees-it latency over a stream of random changes,
status-report throughput and a host's resync time; prints a table (and JSON with --json).
Thousands of agents need file descriptors: run under `ulimit -n 65536`.

fleet
  --hosts N                  simulated hosts (default 100)
  --routers-per-host R       routers placed on each host (binding:host_id; default 10)
  --connections-per-router C site connections of each router's VPN service (default 10)
  --single-router-agents     N routers, each with its own per-router agent
                             (/v2.0/gateway/routers/{id}/...) instead of host agents; R is 1
  --resync-routers M         add one more host with M routers, whose resync is timed
                             (default: host 0's R routers are)
measurements
  --changes K                random changes, one after the other (default 200)
  --idle-secs S              the idle CPU window (default 20)
  --status-secs S            the status-report throughput run (default 10)
  --status-concurrency N     concurrent reporters in that run (default 32)
  --wait SECS                the agents' long-poll wait (default 25)
  --seed N                   the random changes' seed (default 1)
server
  --backend sqlite|postgres2 one server on SQLite (default), or two replicas on one
                             PostgreSQL database: changes through replica 1, agents on 2
  --postgres URL             postgres2: an admin URL; a fresh database (C collation) is
                             created in that cluster and dropped afterwards
  --heartbeat-secs S         VPNAAS_AGENT_HEARTBEAT_SECS (default 10)
  --dead-after-secs S        VPNAAS_AGENT_DEAD_AFTER_SECS (default 30)
  --vpnaas PATH              the vpnaas binary (default: `vpnaas` next to this executable)
  --server-log FILTER        VPNAAS_LOG for the servers (default: theirs, `info`)
  --seed-concurrency N       concurrent seeding workers, one router each (default 32)
  --timeout SECS             per request (default 60)
  --data-root DIR            where the temporary data directories go
  --json FILE                also write the results as JSON
  --smoke                    3 hosts x 2 routers x 2 connections, 5 changes, seconds;
                             exits 1 if a request failed or a change was not seen";

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Backend {
    Sqlite,
    Postgres2,
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
    pub seed: u64,
    pub backend: Backend,
    pub postgres: Option<String>,
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
            seed: 1,
            backend: Backend::Sqlite,
            postgres: None,
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

fn number<T: std::str::FromStr>(flag: &str, v: &str) -> Result<T, String> {
    v.parse().map_err(|_| format!("{flag}: not a number: {v:?}"))
}

fn positive(flag: &str, v: &str) -> Result<usize, String> {
    match number::<usize>(flag, v)? {
        0 => Err(format!("{flag} must be at least 1")),
        n => Ok(n),
    }
}

fn seconds(flag: &str, v: &str) -> Result<Duration, String> {
    let s = number::<f64>(flag, v)?;
    if !(s.is_finite() && s > 0.0) {
        return Err(format!("{flag} must be a positive number of seconds"));
    }
    Ok(Duration::from_secs_f64(s))
}

/// The most routers the seeded addresses allow: one local /24 of 10.0.0.0/8 each.
pub const MAX_ROUTERS: usize = 65_536;

/// The most connections: one peer /28 of 100.64.0.0/10 each (`workload::peer_cidr`).
pub const MAX_CONNECTIONS: usize = 262_144;

/// Parses the arguments after `fleet`; `None` asks for the help text.
pub fn parse(args: &[String]) -> Result<Option<FleetOptions>, String> {
    if args.iter().any(|a| a == "--help" || a == "-h" || a == "help") {
        return Ok(None);
    }
    let mut o = if args.iter().any(|a| a == "--smoke") { FleetOptions::smoke() } else { FleetOptions::full() };
    let mut routers_given = false;
    let mut it = args.iter();
    while let Some(arg) = it.next() {
        let flag = arg.as_str();
        let mut value = || it.next().cloned().ok_or_else(|| format!("{flag} needs a value"));
        match flag {
            "--smoke" => {}
            "--single-router-agents" => o.single_router_agents = true,
            "--hosts" => o.hosts = positive(flag, &value()?)?,
            "--routers-per-host" => {
                o.routers_per_host = positive(flag, &value()?)?;
                routers_given = true;
            }
            "--connections-per-router" => o.connections_per_router = positive(flag, &value()?)?,
            "--resync-routers" => o.resync_routers = Some(positive(flag, &value()?)?),
            "--changes" => o.changes = number(flag, &value()?)?,
            "--idle-secs" => o.idle = seconds(flag, &value()?)?,
            "--status-secs" => o.status = seconds(flag, &value()?)?,
            "--status-concurrency" => o.status_concurrency = positive(flag, &value()?)?,
            "--wait" => o.wait_secs = positive(flag, &value()?)? as u64,
            "--seed" => o.seed = number(flag, &value()?)?,
            "--backend" => {
                o.backend = match value()?.as_str() {
                    "sqlite" => Backend::Sqlite,
                    "postgres2" => Backend::Postgres2,
                    other => return Err(format!("--backend: {other:?} is not sqlite or postgres2")),
                }
            }
            "--postgres" => o.postgres = Some(value()?),
            "--heartbeat-secs" => o.heartbeat_secs = positive(flag, &value()?)? as u64,
            "--dead-after-secs" => o.dead_after_secs = positive(flag, &value()?)? as u64,
            "--vpnaas" => o.vpnaas = Some(PathBuf::from(value()?)),
            "--server-log" => o.server_log = Some(value()?),
            "--seed-concurrency" => o.seed_concurrency = positive(flag, &value()?)?,
            "--timeout" => o.timeout = seconds(flag, &value()?)?,
            "--data-root" => o.data_root = Some(PathBuf::from(value()?)),
            "--json" => o.json = Some(PathBuf::from(value()?)),
            other => return Err(format!("fleet: unknown argument {other:?}")),
        }
    }
    if o.single_router_agents {
        if routers_given && o.routers_per_host != 1 {
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
    match (o.backend, &o.postgres) {
        (Backend::Postgres2, None) => return Err("--backend postgres2 needs --postgres URL".into()),
        (Backend::Sqlite, Some(_)) => return Err("--postgres goes with --backend postgres2".into()),
        _ => {}
    }
    if let Some(url) = &o.postgres {
        if !(url.starts_with("postgres://") || url.starts_with("postgresql://")) {
            return Err("--postgres: a postgres:// URL".into());
        }
    }
    if o.dead_after_secs <= o.heartbeat_secs {
        return Err("--dead-after-secs must be longer than --heartbeat-secs".into());
    }
    if o.wait_secs > 30 {
        return Err("--wait: the server waits at most 30 s".into());
    }
    Ok(Some(o))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(s: &str) -> Vec<String> {
        s.split_whitespace().map(String::from).collect()
    }

    fn parsed(s: &str) -> FleetOptions {
        match parse(&args(s)) {
            Ok(Some(o)) => o,
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
        assert!(parse(&args("--backend postgres2")).is_err());
        assert!(parse(&args("--postgres postgres://x/y")).is_err());
        assert!(parse(&args("--backend mysql")).is_err());
        assert!(parse(&args("--backend postgres2 --postgres mysql://x/y")).is_err());
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
            assert!(parse(&args(bad)).is_err(), "{bad}");
        }
        assert!(matches!(parse(&args("--hosts 3 --help")), Ok(None)));
    }
}
