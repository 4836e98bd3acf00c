//! Simulated gateway agents speaking the real gateway API: a host agent (ADR 0011) or a per-router agent (ADR 0003) heartbeats, long-polls its state and reports what it runs; the change detector the latency figure reads.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use axum::body::Bytes;
use reqwest::header::{HeaderValue, AUTHORIZATION, CONTENT_TYPE};
use reqwest::{Method, StatusCode};
use serde::Serialize;
use tokio::sync::Notify;
use uuid::Uuid;
use vpnaas_core::algorithms::Status;
use vpnaas_core::contract::{
    self, AgentConfig, AgentHello, ConnectionStatus, GatewayState, HostState, HostStatusReport, RouterStatus,
    StatusReport,
};

use crate::fleet::stats::Summary;

/// One simulated agent.
#[derive(Debug, Clone)]
pub enum Agent {
    /// Runs every router placed on the host `name`.
    Host { index: usize, name: String },
    /// Runs one router.
    Router { index: usize, id: Uuid },
}

impl Agent {
    fn index(&self) -> usize {
        match self {
            Agent::Host { index, .. } | Agent::Router { index, .. } => *index,
        }
    }

    fn base(&self) -> String {
        match self {
            Agent::Host { name, .. } => format!("/v2.0/gateway/hosts/{name}"),
            Agent::Router { id, .. } => format!("/v2.0/gateway/routers/{id}"),
        }
    }

    fn hello(&self) -> AgentHello {
        let host = match self {
            Agent::Host { name, .. } => name.clone(),
            Agent::Router { index, .. } => format!("fleet-agent-{index}"),
        };
        AgentHello { host, version: "fleet-sim".to_owned() }
    }
}

/// `value` as a JSON request body.
fn encode<T: Serialize>(value: &T) -> anyhow::Result<Bytes> {
    serde_json::to_vec(value).map(Bytes::from).map_err(|e| anyhow::anyhow!("cannot encode a request body: {e}"))
}

/// What a change should make a connection look like.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Want {
    Mtu(i64),
    Enabled(bool),
}

/// The change in flight, and when its router's agent saw it.
#[derive(Debug)]
pub struct Pending {
    pub router: Uuid,
    pub want: Vec<(Uuid, Want)>,
    pub seen: Option<Instant>,
}

impl Pending {
    /// Whether `state` (of any router) shows this change.
    pub fn shown_by(&self, state: &GatewayState) -> bool {
        state.router_id == self.router
            && self.want.iter().all(|(id, want)| {
                state.connections.iter().any(|c| {
                    &c.id == id
                        && match want {
                            Want::Mtu(m) => c.mtu == *m,
                            Want::Enabled(e) => c.enabled == *e,
                        }
                })
            })
    }
}

/// Request counts by kind.
#[derive(Default)]
pub struct Counters {
    pub polls: AtomicU64,
    pub heartbeats: AtomicU64,
    pub status_posts: AtomicU64,
    pub errors: AtomicU64,
}

/// A snapshot of [`Counters`].
#[derive(Debug, Clone, Copy, Default, serde::Serialize)]
pub struct Counts {
    pub polls: u64,
    pub heartbeats: u64,
    pub status_posts: u64,
    pub errors: u64,
}

/// Everything the agents share: the client, the change in flight, counters and each
/// agent's newest full status report (replayed by the throughput run).
pub struct Sim {
    http: reqwest::Client,
    base: String,
    auth: HeaderValue,
    wait_secs: u64,
    /// Waiting polls ask to switch protocols (ADR 0028), as the agent does.
    switch: bool,
    heartbeat_secs: u64,
    pub pending: Mutex<Option<Pending>>,
    pub seen: Notify,
    pub counters: Counters,
    first_error: Mutex<Option<String>>,
    /// Per agent: its newest full report, in request bodies (body, connection statuses in it).
    reports: Mutex<Vec<Vec<(Bytes, usize)>>>,
    /// Per agent: how long its first poll (everything, no cursor) took, in microseconds; 0 before.
    first_poll_us: Vec<AtomicU64>,
    /// Agents whose first status report was accepted.
    pub reported: AtomicUsize,
    /// Agents that have their first state (their first poll answered).
    pub first_states: AtomicUsize,
    /// Heartbeats and status posts in flight at once, fleet-wide (see [`SIDE_REQUESTS`]).
    side: tokio::sync::Semaphore,
}

/// At most this many heartbeats and status posts in flight at once. Each long poll holds a
/// socket on both sides; without a bound, 10,000 agents starting together would open
/// 10,000 more for their first heartbeats and as many for their first reports, past the
/// usual descriptor limit (20,000 here).
pub const SIDE_REQUESTS: usize = 256;

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

impl Sim {
    pub fn new(
        base: &str,
        token: &str,
        agents: usize,
        wait_secs: u64,
        heartbeat_secs: u64,
        timeout: Duration,
        switch: bool,
    ) -> anyhow::Result<Sim> {
        let http = reqwest::Client::builder()
            .no_proxy()
            .timeout(timeout)
            .connect_timeout(Duration::from_secs(10))
            .tcp_nodelay(true)
            .build()
            .map_err(|e| anyhow::anyhow!("cannot build the agents' HTTP client: {e}"))?;
        let auth = HeaderValue::from_str(&format!("Bearer {token}")).map_err(|_| anyhow::anyhow!("bad agent token"))?;
        Ok(Sim {
            http,
            base: base.to_owned(),
            auth,
            wait_secs,
            switch,
            heartbeat_secs,
            pending: Mutex::new(None),
            seen: Notify::new(),
            counters: Counters::default(),
            first_error: Mutex::new(None),
            reports: Mutex::new(vec![Vec::new(); agents]),
            first_poll_us: (0..agents).map(|_| AtomicU64::new(0)).collect(),
            reported: AtomicUsize::new(0),
            first_states: AtomicUsize::new(0),
            side: tokio::sync::Semaphore::new(SIDE_REQUESTS),
        })
    }

    pub fn counts(&self) -> Counts {
        let c = &self.counters;
        Counts {
            polls: c.polls.load(Ordering::Relaxed),
            heartbeats: c.heartbeats.load(Ordering::Relaxed),
            status_posts: c.status_posts.load(Ordering::Relaxed),
            errors: c.errors.load(Ordering::Relaxed),
        }
    }

    pub fn first_error(&self) -> Option<String> {
        lock(&self.first_error).clone()
    }

    fn error(&self, e: impl std::fmt::Display) {
        self.counters.errors.fetch_add(1, Ordering::Relaxed);
        lock(&self.first_error).get_or_insert(e.to_string());
    }

    /// The first polls' durations of the agents that have made one.
    pub fn first_polls(&self) -> Vec<Duration> {
        self.first_poll_us
            .iter()
            .map(|us| us.load(Ordering::Relaxed))
            .filter(|us| *us > 0)
            .map(Duration::from_micros)
            .collect()
    }

    pub fn first_poll(&self, agent: usize) -> Option<Duration> {
        let us = self.first_poll_us.get(agent)?.load(Ordering::Relaxed);
        (us > 0).then(|| Duration::from_micros(us))
    }

    /// One agent request; an answer other than `expect` is an error.
    async fn send(&self, method: Method, path: &str, body: Option<Bytes>, expect: StatusCode) -> anyhow::Result<Bytes> {
        let mut rb =
            self.http.request(method.clone(), format!("{}{path}", self.base)).header(AUTHORIZATION, self.auth.clone());
        if let Some(b) = body {
            rb = rb.header(CONTENT_TYPE, "application/json").body(b);
        }
        let resp = rb.send().await.map_err(|e| anyhow::anyhow!("{method} {path}: {e}"))?;
        let status = resp.status();
        let bytes = resp.bytes().await.map_err(|e| anyhow::anyhow!("{method} {path}: {e}"))?;
        self.expect(&method, path, status, bytes, expect)
    }

    /// A waiting poll, switching protocols as the agent does (ADR 0028) unless `--plain-polls`.
    async fn wait(&self, path: &str) -> anyhow::Result<Bytes> {
        if !self.switch {
            return self.send(Method::GET, path, None, StatusCode::OK).await;
        }
        let request = self.http.get(format!("{}{path}", self.base)).header(AUTHORIZATION, self.auth.clone());
        let resp =
            vpnaas_agent::sync::switching(request).send().await.map_err(|e| anyhow::anyhow!("GET {path}: {e}"))?;
        let (status, body) = vpnaas_agent::sync::answer_of(resp, Duration::from_secs(self.wait_secs + 30))
            .await
            .map_err(|e| anyhow::anyhow!("GET {path}: {e}"))?;
        let status = StatusCode::from_u16(status).map_err(|e| anyhow::anyhow!("GET {path}: {e}"))?;
        self.expect(&Method::GET, path, status, Bytes::from(body), StatusCode::OK)
    }

    fn expect(
        &self,
        method: &Method,
        path: &str,
        status: StatusCode,
        bytes: Bytes,
        expect: StatusCode,
    ) -> anyhow::Result<Bytes> {
        if status != expect {
            let text: String = String::from_utf8_lossy(&bytes).chars().take(300).collect();
            return Err(anyhow::anyhow!("{method} {path}: {status}: {text}"));
        }
        Ok(bytes)
    }

    /// Marks the change in flight seen if one of `states` shows it.
    fn check(&self, states: &[GatewayState], at: Instant) {
        let mut pending = lock(&self.pending);
        if let Some(p) = pending.as_mut() {
            if p.seen.is_none() && states.iter().any(|s| p.shown_by(s)) {
                p.seen = Some(at);
                self.seen.notify_one();
            }
        }
    }
}

/// The statuses an agent reports for a state: ACTIVE for what it runs, DOWN for what it was
/// told to keep down.
fn statuses(state: &GatewayState) -> Vec<ConnectionStatus> {
    state
        .connections
        .iter()
        .map(|c| ConnectionStatus {
            id: c.id,
            revision: c.revision,
            status: if c.enabled { Status::Active } else { Status::Down },
            reason: None,
            counters: contract::Counters::default(),
            code: None,
            events: Vec::new(),
        })
        .collect()
}

/// Runs `agent` until the task is aborted: heartbeats beside a long-poll loop.
pub async fn run(sim: Arc<Sim>, agent: Agent, jitter: f64) {
    // Aborting this task aborts its heartbeats too.
    let _beats = AbortOnDrop(tokio::spawn(heartbeats(sim.clone(), agent.clone(), jitter)));
    match &agent {
        Agent::Host { .. } => host_loop(&sim, &agent).await,
        Agent::Router { .. } => router_loop(&sim, &agent).await,
    }
}

struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// A heartbeat at once, then one per `heartbeat_interval` (as the server says), the first
/// after a `jitter` fraction of it so that the fleet's heartbeats spread out.
async fn heartbeats(sim: Arc<Sim>, agent: Agent, jitter: f64) {
    let path = format!("{}/agent", agent.base());
    let hello = match encode(&agent.hello()) {
        Ok(hello) => hello,
        Err(e) => return sim.error(e),
    };
    let mut interval = sim.heartbeat_secs as f64;
    let mut first = true;
    loop {
        let permit = sim.side.acquire().await;
        let sent = sim.send(Method::PUT, &path, Some(hello.clone()), StatusCode::OK).await;
        drop(permit);
        match sent {
            Ok(body) => {
                sim.counters.heartbeats.fetch_add(1, Ordering::Relaxed);
                if let Ok(config) = serde_json::from_slice::<AgentConfig>(&body) {
                    interval = (config.heartbeat_interval as f64).max(0.1);
                }
            }
            Err(e) => sim.error(e),
        }
        let pause = if first { interval * jitter.clamp(0.0, 1.0) } else { interval };
        first = false;
        tokio::time::sleep(Duration::from_secs_f64(pause.max(0.01))).await;
    }
}

/// The largest status body a host agent sends: the server takes at most 112 KiB
/// (`MAX_BODY`), and a host of 1,000 routers x 10 connections reports about 1.7 MB.
pub const MAX_STATUS_BODY: usize = 96 * 1024;

/// A host's per-router reports as [`HostStatusReport`] request bodies of at most
/// [`MAX_STATUS_BODY`] bytes (a single larger router goes alone), each with its count of
/// connection statuses.
pub fn host_bodies(routers: &[RouterStatus]) -> anyhow::Result<Vec<(Bytes, usize)>> {
    let envelope = r#"{"routers":[]}"#.len();
    let mut out = Vec::new();
    let (mut batch, mut size, mut count) = (Vec::new(), envelope, 0);
    for r in routers {
        let len = serde_json::to_vec(r)?.len() + 1;
        if !batch.is_empty() && size + len > MAX_STATUS_BODY {
            out.push((encode(&HostStatusReport { routers: std::mem::take(&mut batch) })?, count));
            (size, count) = (envelope, 0);
        }
        batch.push(r.clone());
        size += len;
        count += r.connections.len();
    }
    if !batch.is_empty() {
        out.push((encode(&HostStatusReport { routers: batch })?, count));
    }
    Ok(out)
}

/// Posts a status report (one or more bodies, in order) in its own task, so the next poll
/// is not held up. `first`: the agent counts as reported once every body is accepted.
fn post_status(sim: &Arc<Sim>, path: String, bodies: Vec<(Bytes, usize)>, first: bool) {
    let sim = sim.clone();
    tokio::spawn(async move {
        let _permit = sim.side.acquire().await;
        for (body, _) in bodies {
            // As an agent would: a refused report (a 503 while the fleet starts, say) is
            // sent again, up to 10 times a second apart; each failure still counts.
            let mut attempts = 0;
            loop {
                match sim.send(Method::POST, &path, Some(body.clone()), StatusCode::NO_CONTENT).await {
                    Ok(_) => {
                        sim.counters.status_posts.fetch_add(1, Ordering::Relaxed);
                        break;
                    }
                    Err(e) => {
                        sim.error(e);
                        attempts += 1;
                        if attempts >= 10 {
                            return;
                        }
                        tokio::time::sleep(Duration::from_secs(1)).await;
                    }
                }
            }
        }
        if first {
            sim.reported.fetch_add(1, Ordering::Relaxed);
        }
    });
}

/// One long poll: the decoded answer with when it was asked and when it came, counted; or
/// `None` after an error was recorded and a second's pause, as an agent would retry.
async fn poll<T: serde::de::DeserializeOwned>(sim: &Arc<Sim>, path: &str) -> Option<(T, Instant, Instant)> {
    let asked = Instant::now();
    let reply = match path.contains("wait=") {
        true => sim.wait(path).await,
        false => sim.send(Method::GET, path, None, StatusCode::OK).await,
    };
    let reply = reply.and_then(|b| serde_json::from_slice::<T>(&b).map_err(|e| anyhow::anyhow!("GET {path}: {e}")));
    match reply {
        Ok(answer) => {
            sim.counters.polls.fetch_add(1, Ordering::Relaxed);
            Some((answer, asked, Instant::now()))
        }
        Err(e) => {
            sim.error(e);
            tokio::time::sleep(Duration::from_secs(1)).await;
            None
        }
    }
}

async fn host_loop(sim: &Arc<Sim>, agent: &Agent) {
    let base = agent.base();
    let status_path = format!("{base}/status");
    let mut cursor: Option<i64> = None;
    let mut running: HashMap<Uuid, Vec<ConnectionStatus>> = HashMap::new();
    loop {
        let path = match cursor {
            None => format!("{base}/state?wait={}", sim.wait_secs),
            Some(c) => format!("{base}/state?cursor={c}&wait={}", sim.wait_secs),
        };
        let Some((host, asked, now)) = poll::<HostState>(sim, &path).await else { continue };
        sim.check(&host.changed, now);
        let first = cursor.is_none() && sim.first_poll(agent.index()).is_none();
        if first {
            sim.first_states.fetch_add(1, Ordering::Relaxed);
            if let Some(slot) = sim.first_poll_us.get(agent.index()) {
                slot.store((now - asked).as_micros().max(1) as u64, Ordering::Relaxed);
            }
        }
        cursor = Some(host.cursor);
        let placed: HashSet<&Uuid> = host.routers.iter().collect();
        running.retain(|r, _| placed.contains(r));
        if host.changed.is_empty() {
            continue;
        }
        let mut changed = Vec::with_capacity(host.changed.len());
        for s in &host.changed {
            let report = statuses(s);
            changed.push(RouterStatus { router_id: s.router_id, connections: report.clone() });
            running.insert(s.router_id, report);
        }
        let all: Vec<RouterStatus> =
            running.iter().map(|(r, c)| RouterStatus { router_id: *r, connections: c.clone() }).collect();
        let (all, changed) = match (host_bodies(&all), host_bodies(&changed)) {
            (Ok(all), Ok(changed)) => (all, changed),
            (Err(e), _) | (_, Err(e)) => {
                sim.error(e);
                continue;
            }
        };
        if let Some(slot) = lock(&sim.reports).get_mut(agent.index()) {
            *slot = all;
        }
        post_status(sim, status_path.clone(), changed, first);
    }
}

async fn router_loop(sim: &Arc<Sim>, agent: &Agent) {
    let base = agent.base();
    let status_path = format!("{base}/status");
    let mut known: Option<String> = None;
    let mut started = false;
    loop {
        let path = match &known {
            None => format!("{base}/state?wait={}", sim.wait_secs),
            Some(v) => format!("{base}/state?known={v}&wait={}", sim.wait_secs),
        };
        let Some((state, asked, now)) = poll::<GatewayState>(sim, &path).await else { continue };
        let first = !started;
        if first {
            started = true;
            sim.first_states.fetch_add(1, Ordering::Relaxed);
            if let Some(slot) = sim.first_poll_us.get(agent.index()) {
                slot.store((now - asked).as_micros().max(1) as u64, Ordering::Relaxed);
            }
        }
        if known.as_deref() == Some(state.version.as_str()) {
            continue;
        }
        let state = [state];
        sim.check(&state, now);
        let [state] = state;
        let report = match encode(&StatusReport { connections: statuses(&state) }) {
            Ok(bytes) => (bytes, state.connections.len()),
            Err(e) => {
                sim.error(e);
                continue;
            }
        };
        if let Some(slot) = lock(&sim.reports).get_mut(agent.index()) {
            *slot = vec![report.clone()];
        }
        known = Some(state.version);
        post_status(sim, status_path.clone(), vec![report], first);
    }
}

/// What the status-report run measured.
#[derive(Debug, Clone, serde::Serialize)]
pub struct StatusFigure {
    pub concurrency: usize,
    pub seconds: f64,
    pub reports: u64,
    pub reports_per_second: f64,
    pub connection_statuses_per_second: f64,
    pub errors: u64,
    pub latency: Summary,
}

/// Every agent's newest full report, posted again and again by `concurrency` reporters
/// (round-robin over the agents) for `duration`: what the server absorbs.
pub async fn status_run(sim: &Arc<Sim>, agents: &[Agent], concurrency: usize, duration: Duration) -> StatusFigure {
    let bodies: Arc<Vec<(String, Bytes, usize)>> = Arc::new({
        let reports = lock(&sim.reports);
        agents
            .iter()
            .flat_map(|a| {
                let path = format!("{}/status", a.base());
                reports.get(a.index()).cloned().unwrap_or_default().into_iter().map(move |(b, n)| (path.clone(), b, n))
            })
            .collect()
    });
    let next = Arc::new(AtomicUsize::new(0));
    let started = Instant::now();
    let deadline = started + duration;
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..concurrency.min(bodies.len()) {
        let (sim, bodies, next) = (sim.clone(), bodies.clone(), next.clone());
        tasks.spawn(async move {
            let (mut latencies, mut statuses, mut errors) = (Vec::new(), 0u64, 0u64);
            while Instant::now() < deadline {
                let i = next.fetch_add(1, Ordering::Relaxed) % bodies.len();
                let Some((path, body, n)) = bodies.get(i) else { break };
                let t = Instant::now();
                match sim.send(Method::POST, path, Some(body.clone()), StatusCode::NO_CONTENT).await {
                    Ok(_) => statuses += *n as u64,
                    Err(e) => {
                        errors += 1;
                        sim.error(e);
                    }
                }
                latencies.push(t.elapsed());
            }
            (latencies, statuses, errors)
        });
    }
    let (mut latencies, mut statuses, mut errors) = (Vec::new(), 0u64, 0u64);
    while let Some(Ok((l, s, e))) = tasks.join_next().await {
        latencies.extend(l);
        statuses += s;
        errors += e;
    }
    let seconds = started.elapsed().as_secs_f64();
    let reports = latencies.len() as u64;
    StatusFigure {
        concurrency,
        seconds,
        reports,
        reports_per_second: reports as f64 / seconds.max(1e-9),
        connection_statuses_per_second: statuses as f64 / seconds.max(1e-9),
        errors,
        latency: Summary::of(latencies),
    }
}

/// A restarted agent's first poll (no cursor, no known version): how long until every
/// state is in hand, and how many routers came.
pub async fn resync(sim: &Sim, agent: &Agent) -> anyhow::Result<(Duration, usize)> {
    let path = format!("{}/state", agent.base());
    let t = Instant::now();
    let body = sim.send(Method::GET, &path, None, StatusCode::OK).await?;
    let routers = match agent {
        Agent::Host { .. } => serde_json::from_slice::<HostState>(&body)?.changed.len(),
        Agent::Router { .. } => {
            serde_json::from_slice::<GatewayState>(&body)?;
            1
        }
    };
    Ok((t.elapsed(), routers))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{json, Value};

    fn id(n: u128) -> Uuid {
        Uuid::from_u128(n)
    }

    /// A connection as the server sends it (`GET .../state`).
    fn connection(id: Uuid, revision: i64, mtu: i64, enabled: bool) -> Value {
        let lifetime = json!({"units": "seconds", "value": 3600});
        json!({
            "id": id, "vpnservice_id": Uuid::from_u128(99), "revision": revision, "enabled": enabled,
            "ike": {"auth_algorithm": "sha256", "encryption_algorithm": "aes-256", "phase1_negotiation_mode": "main",
                    "lifetime": lifetime, "ike_version": "v2", "pfs": "group14"},
            "ipsec": {"transform_protocol": "esp", "auth_algorithm": "sha256", "encryption_algorithm": "aes-256",
                      "encapsulation_mode": "tunnel", "lifetime": lifetime, "pfs": "group14"},
            "psk": "fleet-secret-0-0", "local_id": "172.16.0.10", "local_address": "172.16.0.10",
            "peer_address": "172.24.4.233", "peer_id": "172.24.4.233", "local_cidrs": ["10.0.0.0/24"],
            "peer_cidrs": ["100.64.0.0/28"], "dpd": {"action": "hold", "interval": 30, "timeout": 120},
            "mtu": mtu, "initiator": "bi-directional", "ha": null,
        })
    }

    fn state(router: u128, conns: &[(u128, i64, bool)]) -> GatewayState {
        let connections: Vec<Value> =
            conns.iter().map(|(c, mtu, enabled)| connection(id(*c), 1, *mtu, *enabled)).collect();
        serde_json::from_value(json!({"router_id": id(router), "version": "v", "connections": connections})).unwrap()
    }

    #[test]
    fn a_change_is_seen_only_in_its_router_with_every_wanted_value() {
        let p = Pending {
            router: id(1),
            want: vec![(id(11), Want::Mtu(1400)), (id(12), Want::Enabled(false))],
            seen: None,
        };
        assert!(p.shown_by(&state(1, &[(11, 1400, true), (12, 1500, false)])));
        assert!(!p.shown_by(&state(2, &[(11, 1400, true), (12, 1500, false)])));
        assert!(!p.shown_by(&state(1, &[(11, 1500, true), (12, 1500, false)])));
        assert!(!p.shown_by(&state(1, &[(11, 1400, true)])));
    }

    #[test]
    fn host_reports_are_split_under_the_body_limit() {
        let router = |k: u128| RouterStatus {
            router_id: id(k << 64),
            connections: (0..10)
                .map(|j| ConnectionStatus {
                    id: id((k << 64) + 1 + j),
                    revision: 1,
                    status: Status::Active,
                    reason: None,
                    counters: contract::Counters::default(),
                    code: None,
                    events: Vec::new(),
                })
                .collect(),
        };
        let routers: Vec<RouterStatus> = (0..1000).map(router).collect();
        let bodies = host_bodies(&routers).unwrap();
        assert!(bodies.len() > 1);
        assert!(bodies.iter().all(|(b, _)| b.len() <= MAX_STATUS_BODY), "a body is too large");
        assert_eq!(bodies.iter().map(|(_, n)| n).sum::<usize>(), 10_000);
        let back: Vec<RouterStatus> =
            bodies.iter().flat_map(|(b, _)| serde_json::from_slice::<HostStatusReport>(b).unwrap().routers).collect();
        assert_eq!(back, routers, "every router once, in order");
        assert_eq!(host_bodies(&routers[..3]).unwrap().len(), 1);
        assert!(host_bodies(&[]).unwrap().is_empty());
    }

    #[test]
    fn states_parse_what_the_server_sends_and_statuses_echo_them() {
        let body = json!({"host": "h", "cursor": 7, "routers": [id(1)],
            "changed": [{"router_id": id(1), "version": "abc",
                         "connections": [connection(id(11), 3, 1500, true), connection(id(12), 4, 1500, false)]}]});
        let h: HostState = serde_json::from_value(body).unwrap();
        assert_eq!((h.cursor, h.changed[0].connections[0].revision), (7, 3));
        let report = statuses(&h.changed[0]);
        assert_eq!(
            report.iter().map(|c| (c.id, c.revision, c.status)).collect::<Vec<_>>(),
            [(id(11), 3, Status::Active), (id(12), 4, Status::Down)]
        );
        let sent: Value = serde_json::from_slice(&encode(&StatusReport { connections: report }).unwrap()).unwrap();
        assert_eq!(sent["connections"][1]["status"], "DOWN");
        let hello: Value =
            serde_json::from_slice(&encode(&Agent::Router { index: 4, id: id(1) }.hello()).unwrap()).unwrap();
        assert_eq!(hello, json!({"host": "fleet-agent-4", "version": "fleet-sim"}));
    }
}
