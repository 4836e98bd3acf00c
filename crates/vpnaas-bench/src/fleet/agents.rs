//! Simulated gateway agents speaking the real gateway API: a host agent (ADR 0011) or a per-router agent (ADR 0003) heartbeats, long-polls its state and reports what it runs; the change detector the latency figure reads.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use axum::body::Bytes;
use reqwest::header::{HeaderValue, AUTHORIZATION, CONTENT_TYPE};
use reqwest::{Method, StatusCode};
use serde::Deserialize;
use serde_json::{json, Value};
use tokio::sync::Notify;

use crate::fleet::stats::Summary;

/// One simulated agent.
#[derive(Debug, Clone)]
pub enum Agent {
    /// Runs every router placed on the host `name`.
    Host { index: usize, name: String },
    /// Runs one router.
    Router { index: usize, id: String },
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

    fn hello(&self) -> Bytes {
        let host = match self {
            Agent::Host { name, .. } => name.clone(),
            Agent::Router { index, .. } => format!("fleet-agent-{index}"),
        };
        Bytes::from(json!({"host": host, "version": "fleet-sim"}).to_string())
    }
}

/// A router's desired state, as much of it as the simulator reads.
#[derive(Debug, Deserialize)]
pub struct WireState {
    pub router_id: String,
    pub version: String,
    pub connections: Vec<WireConnection>,
}

#[derive(Debug, Deserialize)]
pub struct WireConnection {
    pub id: String,
    pub revision: i64,
    pub enabled: bool,
    pub mtu: i64,
}

#[derive(Debug, Deserialize)]
struct WireHost {
    cursor: i64,
    routers: Vec<String>,
    changed: Vec<WireState>,
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
    pub router: String,
    pub want: Vec<(String, Want)>,
    pub seen: Option<Instant>,
}

impl Pending {
    /// Whether `state` (of any router) shows this change.
    pub fn shown_by(&self, state: &WireState) -> bool {
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
    fn check(&self, states: &[WireState], at: Instant) {
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
fn statuses(state: &WireState) -> Value {
    let connections: Vec<Value> = state
        .connections
        .iter()
        .map(|c| json!({"id": c.id, "revision": c.revision, "status": if c.enabled { "ACTIVE" } else { "DOWN" }}))
        .collect();
    Value::Array(connections)
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
    let hello = agent.hello();
    let mut interval = sim.heartbeat_secs as f64;
    let mut first = true;
    loop {
        let permit = sim.side.acquire().await;
        let sent = sim.send(Method::PUT, &path, Some(hello.clone()), StatusCode::OK).await;
        drop(permit);
        match sent {
            Ok(body) => {
                sim.counters.heartbeats.fetch_add(1, Ordering::Relaxed);
                if let Some(s) =
                    serde_json::from_slice::<Value>(&body).ok().and_then(|v| v["heartbeat_interval"].as_f64())
                {
                    interval = s.max(0.1);
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
/// (`MAX_BODY`), and a host of 1,000 routers x 10 connections reports about 800 KB.
pub const MAX_STATUS_BODY: usize = 96 * 1024;

/// A host's per-router reports (`{"router_id", "connections"}`) as request bodies of at most
/// [`MAX_STATUS_BODY`] bytes (a single larger router goes alone), each with its count of
/// connection statuses.
pub fn host_bodies(routers: &[Value]) -> Vec<(Bytes, usize)> {
    let envelope = r#"{"routers":[]}"#.len();
    let mut out = Vec::new();
    let (mut batch, mut size, mut count) = (Vec::new(), envelope, 0);
    for r in routers {
        let len = r.to_string().len() + 1;
        if !batch.is_empty() && size + len > MAX_STATUS_BODY {
            out.push((Bytes::from(json!({"routers": batch}).to_string()), count));
            (batch, size, count) = (Vec::new(), envelope, 0);
        }
        batch.push(r.clone());
        size += len;
        count += r["connections"].as_array().map_or(0, Vec::len);
    }
    if !batch.is_empty() {
        out.push((Bytes::from(json!({"routers": batch}).to_string()), count));
    }
    out
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
    let mut running: HashMap<String, Value> = HashMap::new();
    loop {
        let path = match cursor {
            None => format!("{base}/state?wait={}", sim.wait_secs),
            Some(c) => format!("{base}/state?cursor={c}&wait={}", sim.wait_secs),
        };
        let Some((host, asked, now)) = poll::<WireHost>(sim, &path).await else { continue };
        sim.check(&host.changed, now);
        let first = cursor.is_none() && sim.first_poll(agent.index()).is_none();
        if first {
            sim.first_states.fetch_add(1, Ordering::Relaxed);
            if let Some(slot) = sim.first_poll_us.get(agent.index()) {
                slot.store((now - asked).as_micros().max(1) as u64, Ordering::Relaxed);
            }
        }
        cursor = Some(host.cursor);
        let placed: HashSet<&String> = host.routers.iter().collect();
        running.retain(|r, _| placed.contains(r));
        if host.changed.is_empty() {
            continue;
        }
        let mut changed = Vec::with_capacity(host.changed.len());
        for s in &host.changed {
            let report = statuses(s);
            changed.push(json!({"router_id": s.router_id, "connections": report.clone()}));
            running.insert(s.router_id.clone(), report);
        }
        let all: Vec<Value> = running.iter().map(|(r, c)| json!({"router_id": r, "connections": c})).collect();
        if let Some(slot) = lock(&sim.reports).get_mut(agent.index()) {
            *slot = host_bodies(&all);
        }
        post_status(sim, status_path.clone(), host_bodies(&changed), first);
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
        let Some((state, asked, now)) = poll::<WireState>(sim, &path).await else { continue };
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
        let body = (Bytes::from(json!({"connections": statuses(&state)}).to_string()), state.connections.len());
        if let Some(slot) = lock(&sim.reports).get_mut(agent.index()) {
            *slot = vec![body.clone()];
        }
        known = Some(state.version);
        post_status(sim, status_path.clone(), vec![body], first);
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
        Agent::Host { .. } => serde_json::from_slice::<WireHost>(&body)?.changed.len(),
        Agent::Router { .. } => {
            serde_json::from_slice::<WireState>(&body)?;
            1
        }
    };
    Ok((t.elapsed(), routers))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn state(router: &str, conns: &[(&str, i64, bool)]) -> WireState {
        WireState {
            router_id: router.into(),
            version: "v".into(),
            connections: conns
                .iter()
                .map(|(id, mtu, enabled)| WireConnection {
                    id: (*id).into(),
                    revision: 1,
                    enabled: *enabled,
                    mtu: *mtu,
                })
                .collect(),
        }
    }

    #[test]
    fn a_change_is_seen_only_in_its_router_with_every_wanted_value() {
        let p = Pending {
            router: "r1".into(),
            want: vec![("c1".into(), Want::Mtu(1400)), ("c2".into(), Want::Enabled(false))],
            seen: None,
        };
        assert!(p.shown_by(&state("r1", &[("c1", 1400, true), ("c2", 1500, false)])));
        assert!(!p.shown_by(&state("r2", &[("c1", 1400, true), ("c2", 1500, false)])));
        assert!(!p.shown_by(&state("r1", &[("c1", 1500, true), ("c2", 1500, false)])));
        assert!(!p.shown_by(&state("r1", &[("c1", 1400, true)])));
    }

    #[test]
    fn host_reports_are_split_under_the_body_limit() {
        let router = |k: usize| {
            let conns: Vec<Value> = (0..10)
                .map(|j| json!({"id": format!("{k:08}-0000-0000-0000-{j:012}"), "revision": 1, "status": "ACTIVE"}))
                .collect();
            json!({"router_id": format!("{k:08}-1111-1111-1111-111111111111"), "connections": conns})
        };
        let routers: Vec<Value> = (0..1000).map(router).collect();
        let bodies = host_bodies(&routers);
        assert!(bodies.len() > 1);
        assert!(bodies.iter().all(|(b, _)| b.len() <= MAX_STATUS_BODY), "a body is too large");
        assert_eq!(bodies.iter().map(|(_, n)| n).sum::<usize>(), 10_000);
        let back: usize = bodies
            .iter()
            .map(|(b, _)| serde_json::from_slice::<Value>(b).unwrap()["routers"].as_array().unwrap().len())
            .sum();
        assert_eq!(back, 1000);
        assert_eq!(host_bodies(&routers[..3]).len(), 1);
        assert!(host_bodies(&[]).is_empty());
    }

    #[test]
    fn wire_states_parse_what_the_server_sends() {
        let body = r#"{"host":"h","cursor":7,"routers":["r1"],"changed":[{"router_id":"r1","version":"abc",
            "connections":[{"id":"c1","revision":3,"enabled":true,"mtu":1500,"psk":"x","ha":null}]}]}"#;
        let h: WireHost = serde_json::from_str(body).unwrap();
        assert_eq!((h.cursor, h.changed[0].connections[0].revision), (7, 3));
        assert_eq!(statuses(&h.changed[0])[0]["status"], "ACTIVE");
    }
}
