//! The fleet run's figures: JSON, and the table printed at the end with the goals beside them.

use std::fmt::Write;

use crate::fleet::agents::{Counts, StatusFigure};
use crate::fleet::options::Backend;
use crate::fleet::stats::Summary;

#[derive(Debug, Clone, serde::Serialize)]
pub struct SeedingFigure {
    pub routers: usize,
    pub connections: usize,
    pub requests: usize,
    pub seconds: f64,
    pub method: String,
}

#[derive(Debug, Clone, serde::Serialize)]
pub struct IdleFigure {
    pub seconds: f64,
    /// Per replica.
    pub server_cores: Vec<f64>,
    /// This process: every simulated agent.
    pub simulator_cores: f64,
    pub polls_per_second: f64,
    pub heartbeats_per_second: f64,
    pub status_posts_per_second: f64,
}

#[derive(Debug, Clone, serde::Serialize)]
pub struct ReplicaMemory {
    pub replica: usize,
    /// The largest VmRSS read during the run (after seeding, start, idle, changes, status, resync).
    pub rss_kib: u64,
    /// VmHWM at the end.
    pub hwm_kib: u64,
    /// VmRSS at the end of the idle window.
    pub idle_rss_kib: u64,
}

#[derive(Debug, Clone, serde::Serialize)]
pub struct ChangeFigure {
    pub requested: usize,
    /// Request sent -> the owning agent's poll returned a state showing it.
    pub latency: Summary,
    /// The change request alone.
    pub api: Summary,
    pub missed: usize,
    pub failed: usize,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub first_failure: Option<String>,
    pub kinds: Vec<(String, usize)>,
}

/// A tenant's GET (a new connection each) issued again and again while the fleet starts.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct TenantFigure {
    /// The answered (200) ones.
    pub latency: Summary,
    /// Refused (a 503, say) or not answered.
    pub failed: usize,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub first_failure: Option<String>,
}

#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct ResyncFigure {
    pub routers: usize,
    pub connections: usize,
    /// Five fresh polls (no cursor) while the fleet runs.
    pub warm: Summary,
    /// The same agent's first poll when the fleet started (states not built yet).
    pub first_poll_at_start_ms: f64,
}

#[derive(Debug, Clone, serde::Serialize)]
pub struct FleetReport {
    pub date: String,
    pub shape: String,
    pub backend: Backend,
    pub agents: usize,
    pub host_agents: bool,
    pub routers: usize,
    pub connections: usize,
    pub heartbeat_secs: u64,
    pub dead_after_secs: u64,
    pub wait_secs: u64,
    /// Waiting polls switched protocols (ADR 0028); `false` with `--plain-polls`.
    pub switched_polls: bool,
    pub server_log: String,
    pub cores: usize,
    pub seeding: SeedingFigure,
    /// Every agent started at once -> every agent had its state and its first report accepted.
    pub startup_seconds: f64,
    /// Every agent started at once -> every agent had its first state.
    pub first_state_seconds: f64,
    pub tenant: TenantFigure,
    pub first_polls: Summary,
    pub idle: IdleFigure,
    pub memory: Vec<ReplicaMemory>,
    pub changes: ChangeFigure,
    pub status: StatusFigure,
    pub resync: ResyncFigure,
    pub errors: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub first_error: Option<String>,
    pub counts: Counts,
}

/// Today's date (UTC), from `date`; `?` if it cannot be run.
pub fn today() -> String {
    std::process::Command::new("date")
        .args(["-u", "+%Y-%m-%d %H:%M UTC"])
        .output()
        .ok()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| "?".into())
}

fn mib(kib: u64) -> f64 {
    kib as f64 / 1024.0
}

fn latency(s: &Summary) -> String {
    format!("p50 {:.1} / p99 {:.1} / max {:.1} ms (n={})", s.p50_ms, s.p99_ms, s.max_ms, s.count)
}

/// The table: one figure a row, with its goal.
pub fn table(r: &FleetReport) -> String {
    let mut out = String::new();
    let replicas = r.memory.len();
    let _ = writeln!(
        out,
        "\nfleet: {} ({} agents, {} routers, {} connections) on {}; {} cores; {}",
        r.shape,
        r.agents,
        r.routers,
        r.connections,
        match r.backend {
            Backend::Sqlite => "one server, SQLite".to_owned(),
            Backend::Postgres2 => "two replicas on one PostgreSQL database (changes via 1, agents on 2)".to_owned(),
            Backend::Mariadb2 => "two replicas on one MariaDB database (changes via 1, agents on 2)".to_owned(),
        },
        r.cores,
        r.date
    );
    let _ = writeln!(
        out,
        "server: heartbeat {} s, dead after {} s, long-poll wait {} s ({}), log {}",
        r.heartbeat_secs,
        r.dead_after_secs,
        r.wait_secs,
        if r.switched_polls { "switched protocols" } else { "plain long polls" },
        r.server_log
    );
    let _ = writeln!(
        out,
        "seeding: {} routers, {} connections, {} requests in {:.1} s ({:.0}/s): {}\n",
        r.seeding.routers,
        r.seeding.connections,
        r.seeding.requests,
        r.seeding.seconds,
        r.seeding.requests as f64 / r.seeding.seconds.max(1e-9),
        r.seeding.method
    );
    let _ = writeln!(out, "| figure | measured | goal |");
    let _ = writeln!(out, "|---|---|---|");
    let cores: Vec<String> = r.idle.server_cores.iter().map(|c| format!("{c:.3}")).collect();
    let _ = writeln!(
        out,
        "| idle server CPU ({:.0} s; {:.0} polls/s, {:.0} heartbeats/s) | {} cores{} | < 0.1 core |",
        r.idle.seconds,
        r.idle.polls_per_second,
        r.idle.heartbeats_per_second,
        cores.join(" + "),
        if replicas > 1 { " (replica 1 + 2)" } else { "" }
    );
    let rss: Vec<String> = r
        .memory
        .iter()
        .map(|m| format!("{:.0} MiB (idle {:.0}, peak {:.0})", mib(m.rss_kib), mib(m.idle_rss_kib), mib(m.hwm_kib)))
        .collect();
    let _ = writeln!(
        out,
        "| server RSS{} | {} | < 200 MB |",
        if replicas > 1 { " per replica" } else { "" },
        rss.join("; ")
    );
    let goal = if replicas > 1 { "p99 < 2 s" } else { "p99 < 1 s" };
    let _ = writeln!(
        out,
        "| change -> gateway sees it ({} changes, {} missed, {} refused) | {} | {goal} |",
        r.changes.requested,
        r.changes.missed,
        r.changes.failed,
        latency(&r.changes.latency)
    );
    let _ = writeln!(out, "| the change request alone | {} | |", latency(&r.changes.api));
    let unit = if r.host_agents { "host reports" } else { "router reports" };
    let _ = writeln!(
        out,
        "| status reports absorbed ({} reporters, {:.0} s) | {:.0} {unit}/s = {:.0} connection statuses/s (p99 {:.1} ms) | |",
        r.status.concurrency,
        r.status.seconds,
        r.status.reports_per_second,
        r.status.connection_statuses_per_second,
        r.status.latency.p99_ms
    );
    let _ = writeln!(
        out,
        "| resync: fresh poll of an agent of {} routers ({} connections) | p50 {:.1} / max {:.1} ms (first poll at fleet start {:.1} ms) | < 5 s for 1,000 routers |",
        r.resync.routers, r.resync.connections, r.resync.warm.p50_ms, r.resync.warm.max_ms, r.resync.first_poll_at_start_ms
    );
    let _ = writeln!(
        out,
        "| fleet start: all {} agents have their state and reported | {:.1} s (first polls {}) | |",
        r.agents,
        r.startup_seconds,
        latency(&r.first_polls)
    );
    let _ = writeln!(
        out,
        "| fleet start: all {} agents have their first state | {:.1} s | < 10 s |",
        r.agents, r.first_state_seconds
    );
    let _ = writeln!(
        out,
        "| a tenant's GET during the fleet start ({} refused or unanswered) | {} | max < 2 s, none refused |",
        r.tenant.failed,
        latency(&r.tenant.latency)
    );
    let _ = writeln!(out, "| simulator CPU while idle (this process) | {:.3} cores | |", r.idle.simulator_cores);
    let _ = writeln!(out, "| agent request errors (each retried) | {} | 0 |", r.errors);
    if let Some(e) = &r.first_error {
        let _ = writeln!(out, "\nfirst agent error: {e}");
    }
    if let Some(e) = &r.tenant.first_failure {
        let _ = writeln!(out, "first refused tenant GET: {e}");
    }
    if let Some(e) = &r.changes.first_failure {
        let _ = writeln!(out, "first refused change: {e}");
    }
    out
}
