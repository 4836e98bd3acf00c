//! One agent per host (ADR 0011): every router placed on the host, each converged in its own charon, over the host API.
//!
//! Four activities, as for one router (`sync`), but for the whole host: the heartbeat
//! (`PUT .../hosts/{host}/agent`), the poller (`GET .../hosts/{host}/state`, a long poll with a
//! cursor) that hands each changed router's state to that router's converger only, one
//! converger per router (the same loop and engine as `vpnaas agent --router`, each with its
//! own charon), and one reporter that batches every router's statuses into one
//! `POST .../hosts/{host}/status` (changes promptly, everything every status interval). A
//! router no longer in the host's list is stopped and its charon released. When the server
//! is unreachable every converger keeps working on the last state it has: tunnels stay up.

use std::collections::{BTreeMap, BTreeSet};
use std::future::Future;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{mpsc, watch, Notify};
use tokio::task::JoinHandle;
use tracing::{info, warn};
use uuid::Uuid;
use vpnaas_core::contract::{
    AgentConfig, AgentHello, ConnectionStatus, GatewayState, HostState, HostStatusReport, RouterStatus,
};

use crate::charon::{Charon, ViciCharon};
use crate::engine::Engine;
use crate::managed::{ManagedCharons, StartError, Supervisor};
use crate::sync::{
    converge_loop, poll_loop, report_entries, report_loop, AckedMap, Api, Backoff, Beats, Credential, Polls, Reports,
    SetupError, Speaks, SyncError, IO_TIMEOUT,
};
use vpnaas_core::tunnel::DownReason;
use vpnaas_keystone::outgoing::ClientTls;
use vpnaas_strongswan::vici::ViciError;

/// After a status change, wait this long for other routers' changes to travel in the same report.
pub const BATCH_DELAY: Duration = Duration::from_millis(200);
/// How often a managed charon is checked for life.
pub const CHECK_CHARON_EVERY: Duration = Duration::from_secs(1);
/// How long releasing a router (unloading its connections, or stopping its charon) may take.
const RELEASE_TIMEOUT: Duration = Duration::from_secs(30);

/// Where each router's charon is.
#[derive(Debug, Clone)]
pub enum HostCharons {
    /// Attach to a charon someone else runs: its VICI socket, `{router_id}` replaced.
    Attach { vici_template: String },
    /// Start and supervise one charon per router in the router's network namespace.
    Managed(ManagedCharons),
}

/// How `vpnaas agent --host` runs.
/// `Debug` shows everything but the credential's secret (see [`Credential`]).
#[derive(Debug, Clone)]
pub struct HostOptions {
    /// The host's name, as routers' `binding:host_id` gives it.
    pub host: String,
    /// The server's base URL (`http://` only to loopback unless `tls.allow_plaintext`).
    pub server: String,
    pub credential: Credential,
    pub charons: HostCharons,
    /// Every connection's status is reported at least this often (changes at once).
    pub status_interval: Duration,
    /// The CA it trusts besides the system's, its client certificate, plain HTTP (ADR 0016).
    pub tls: ClientTls,
}

/// The HTTP client of one host's gateway API (ADR 0011).
#[derive(Clone)]
pub struct HostClient {
    api: Api,
    /// `<server>/v2.0/gateway/hosts/<host>`
    base: reqwest::Url,
    host: String,
}

impl HostClient {
    pub fn new(server: &str, host: &str, credential: Credential) -> Result<HostClient, SetupError> {
        HostClient::with_tls(server, host, credential, &ClientTls::default())
    }

    /// [`HostClient::new`] with TLS settings.
    pub fn with_tls(
        server: &str,
        host: &str,
        credential: Credential,
        tls: &ClientTls,
    ) -> Result<HostClient, SetupError> {
        let (api, mut base) = Api::new(server, credential, tls)?;
        if host.is_empty() {
            return Err(SetupError::EmptyHost);
        }
        base.path_segments_mut()
            .map_err(|()| SetupError::NotABase(server.to_owned()))?
            .pop_if_empty()
            .extend(["v2.0", "gateway", "hosts", host]);
        Ok(HostClient { api, base, host: host.to_owned() })
    }

    fn url(&self, tail: &[&str]) -> reqwest::Url {
        let mut url = self.base.clone();
        if let Ok(mut segments) = url.path_segments_mut() {
            segments.extend(tail);
        }
        url
    }

    /// `PUT .../agent`: the host's heartbeat.
    pub async fn heartbeat(&self, hello: &AgentHello) -> Result<AgentConfig, SyncError> {
        let url = self.url(&["agent"]);
        let response = self.api.send(|| self.api.http.put(url.clone()).json(hello), IO_TIMEOUT).await?;
        response.json().await.map_err(|e| SyncError::Transport(format!("heartbeat answer: {e}")))
    }

    /// `GET .../state?cursor=N&wait=S`: without a cursor every router's state at once, else
    /// the routers changed after N, as soon as there are any or after `wait`.
    pub async fn state(&self, cursor: Option<i64>, wait: Duration) -> Result<HostState, SyncError> {
        let url = self.url(&["state"]);
        let mut query = Vec::new();
        query.extend(cursor.map(|c| ("cursor", c.to_string())));
        if !wait.is_zero() {
            query.push(("wait", wait.as_secs().to_string()));
        }
        let make = || self.api.http.get(url.clone()).query(&query);
        // Switched with a wait (ADR 0028), as the per-router client's polls are.
        let body = self.api.poll(make, !wait.is_zero(), wait + IO_TIMEOUT).await?;
        serde_json::from_slice(&body).map_err(|e| SyncError::Transport(format!("state answer: {e}")))
    }

    /// `GET .../routers/{id}/state`: one router of this host; another host's is a 404.
    pub async fn router_state(&self, router: Uuid) -> Result<GatewayState, SyncError> {
        let url = self.url(&["routers", &router.to_string(), "state"]);
        let response = self.api.send(|| self.api.http.get(url.clone()), IO_TIMEOUT).await?;
        response.json().await.map_err(|e| SyncError::Transport(format!("state answer: {e}")))
    }

    /// `POST .../status`: the statuses of any of the host's routers, in one request. A router
    /// not placed on the host makes it a 404 that changes nothing.
    pub async fn report(&self, report: &HostStatusReport) -> Result<(), SyncError> {
        let url = self.url(&["status"]);
        self.api.send(|| self.api.http.post(url.clone()).json(report), IO_TIMEOUT).await.map(|_| ())
    }
}

/// What the host agent needs of the charons behind its routers (real ones, or test doubles).
pub trait Runtime: Send + Sync + 'static {
    type Charon: Charon + 'static;
    /// The router's charon (a client; no I/O yet).
    fn charon(&self, router: Uuid) -> Result<Self::Charon, ViciError>;
    /// Before the router's converger starts: bring its charon up when that is ours to do.
    fn prepare(&self, router: Uuid) -> impl Future<Output = ()> + Send;
    /// Beside the router's converger until `stop` turns true: keep its charon alive.
    fn keep(&self, router: Uuid, stop: watch::Receiver<bool>) -> impl Future<Output = ()> + Send;
    /// After the router left the host: take its tunnels down.
    fn release(&self, router: Uuid) -> impl Future<Output = ()> + Send;
    /// Why the router's charon is not there, when that is known here (it could not be
    /// started): the status then says so instead of "unreachable".
    fn trouble(&self, _router: Uuid) -> Option<(DownReason, String)> {
        None
    }
}

/// Charons someone else runs, found by a socket template.
pub struct Attached {
    vici_template: String,
}

impl Attached {
    pub fn new(vici_template: &str) -> Result<Attached, SetupError> {
        // Every router's socket must be a valid VICI URI; check with any id.
        ViciCharon::new(&vici_template.replace("{router_id}", &Uuid::nil().to_string()), IO_TIMEOUT)
            .map_err(|source| SetupError::ViciTemplate { template: vici_template.to_owned(), source })?;
        Ok(Attached { vici_template: vici_template.to_owned() })
    }
}

impl Runtime for Attached {
    type Charon = ViciCharon;

    fn charon(&self, router: Uuid) -> Result<ViciCharon, ViciError> {
        ViciCharon::new(&self.vici_template.replace("{router_id}", &router.to_string()), IO_TIMEOUT)
    }

    async fn prepare(&self, _: Uuid) {}

    async fn keep(&self, _: Uuid, mut stop: watch::Receiver<bool>) {
        let _ = stop.wait_for(|s| *s).await;
    }

    /// The charon is not ours to stop: unload what we loaded into it.
    async fn release(&self, router: Uuid) {
        unload_all(self, router).await;
    }
}

/// One pass of a fresh engine with nothing desired: everything loaded over VICI is unloaded.
async fn unload_all<R: Runtime + ?Sized>(runtime: &R, router: Uuid) {
    let Ok(mut charon) = runtime.charon(router) else { return };
    let mut engine = Engine::new(Duration::ZERO);
    let pass = engine.step(&mut charon, &[]);
    match tokio::time::timeout(RELEASE_TIMEOUT, pass).await {
        Ok(Ok(_)) => info!(router.id = %router, "router left the host: its connections are unloaded"),
        Ok(Err(e)) => warn!(router.id = %router, error = %e, "router left the host; cannot unload its connections"),
        Err(_) => warn!(router.id = %router, "router left the host; unloading its connections timed out"),
    }
}

/// Charons this agent starts and supervises, one per router namespace.
pub struct Managed {
    supervisor: Supervisor,
}

impl Managed {
    pub fn new(spec: ManagedCharons) -> Result<Managed, SetupError> {
        if !spec.netns_template.contains("{router_id}") {
            return Err(SetupError::NetnsTemplate(spec.netns_template));
        }
        std::fs::create_dir_all(&spec.state_dir)
            .map_err(|source| SetupError::StateDir { path: spec.state_dir.clone(), source })?;
        Ok(Managed { supervisor: Supervisor::new(spec) })
    }

    pub fn supervisor(&self) -> &Supervisor {
        &self.supervisor
    }

    /// Starts the router's charon unless it runs; `Err` with why it could not.
    async fn ensure(&self, router: Uuid) -> Result<(), StartError> {
        if self.supervisor.running(router).is_some() {
            return Ok(());
        }
        let pid = self.supervisor.start(router).await?;
        info!(router.id = %router, pid, netns = %self.supervisor.spec.netns(router), "charon started");
        Ok(())
    }
}

impl Runtime for Managed {
    type Charon = ViciCharon;

    fn charon(&self, router: Uuid) -> Result<ViciCharon, ViciError> {
        ViciCharon::new(&self.supervisor.spec.vici(router), IO_TIMEOUT)
    }

    async fn prepare(&self, router: Uuid) {
        if let Some(pid) = self.supervisor.running(router) {
            info!(router.id = %router, pid, "adopting the running charon");
        } else if let Err(e) = self.ensure(router).await {
            warn!(router.id = %router, error = %e, "cannot start charon; retrying");
        }
    }

    async fn keep(&self, router: Uuid, mut stop: watch::Receiver<bool>) {
        let mut backoff = Backoff::new();
        let mut wait = CHECK_CHARON_EVERY;
        loop {
            tokio::select! {
                _ = stop.wait_for(|s| *s) => return,
                _ = tokio::time::sleep(wait) => {}
            }
            if self.supervisor.running(router).is_some() {
                continue;
            }
            warn!(router.id = %router, "charon is not running; starting it");
            match self.ensure(router).await {
                Ok(()) => {
                    backoff = Backoff::new();
                    wait = CHECK_CHARON_EVERY;
                }
                Err(e) => {
                    wait = backoff.next().max(CHECK_CHARON_EVERY);
                    warn!(router.id = %router, error = %e, retry_in = ?wait, "cannot start charon");
                }
            }
        }
    }

    fn trouble(&self, router: Uuid) -> Option<(DownReason, String)> {
        self.supervisor.failure(router)
    }

    /// The charon is ours: stop it (it deletes its SAs, telling the peers).
    async fn release(&self, router: Uuid) {
        self.supervisor.stop(router).await;
        info!(router.id = %router, "router left the host: its charon is stopped");
    }
}

/// Runs the host agent until `shutdown` completes. charons and their tunnels stay when it
/// stops; a restarted agent adopts them. Errors only for options that can never work.
pub async fn run_host<F>(opts: HostOptions, shutdown: F) -> Result<(), SetupError>
where
    F: Future<Output = ()> + Send,
{
    match &opts.charons {
        HostCharons::Attach { vici_template } => {
            let runtime = Arc::new(Attached::new(vici_template)?);
            run_host_with(opts, runtime, shutdown).await
        }
        HostCharons::Managed(spec) => {
            let runtime = Arc::new(Managed::new(spec.clone())?);
            run_host_with(opts, runtime, shutdown).await
        }
    }
}

/// One router's converger.
struct Running {
    version: String,
    state_tx: watch::Sender<Option<Arc<GatewayState>>>,
    stop_tx: watch::Sender<bool>,
    task: JoinHandle<()>,
}

/// Every router's latest statuses, by router.
type Statuses = BTreeMap<Uuid, Vec<ConnectionStatus>>;

/// `run_host` with any `Runtime` (tests use in-memory charons); `opts.charons` is not used.
pub async fn run_host_with<R, F>(opts: HostOptions, runtime: Arc<R>, shutdown: F) -> Result<(), SetupError>
where
    R: Runtime,
    F: Future<Output = ()> + Send,
{
    let client = HostClient::with_tls(&opts.server, &opts.host, opts.credential.clone(), &opts.tls)?;
    let hello = AgentHello { host: opts.host.clone(), version: env!("CARGO_PKG_VERSION").to_owned() };
    info!(host = %opts.host, server = %opts.server, charons = ?opts.charons, "host agent starting");

    let (updates_tx, mut updates_rx) = mpsc::channel::<HostState>(4);
    let resync = Arc::new(Notify::new());
    let (status_tx, status_rx) = watch::channel(Statuses::new());
    let tasks = [
        tokio::spawn(crate::sync::heartbeat_loop(client.clone(), hello)),
        tokio::spawn(poll_loop(
            HostPolls { client: client.clone(), tx: updates_tx, resync: resync.clone() },
            client.speaker(),
        )),
        tokio::spawn(report_loop(
            HostReports { client: client.clone(), resync: resync.clone() },
            client.speaker(),
            status_rx,
            opts.status_interval.max(Duration::from_secs(1)),
        )),
    ];
    let mut routers: BTreeMap<Uuid, Running> = BTreeMap::new();
    let mut releasing: BTreeMap<Uuid, JoinHandle<()>> = BTreeMap::new();
    tokio::pin!(shutdown);
    loop {
        let update = tokio::select! {
            _ = &mut shutdown => break,
            update = updates_rx.recv() => update,
        };
        let Some(update) = update else { break };
        let placed: BTreeSet<Uuid> = update.routers.iter().copied().collect();
        let gone: Vec<Uuid> = routers.keys().filter(|id| !placed.contains(id)).copied().collect();
        for id in gone {
            if let Some(running) = routers.remove(&id) {
                info!(router.id = %id, "router is no longer placed on this host: stopping it");
                stop(running).await;
                status_tx.send_modify(|s| {
                    s.remove(&id);
                });
                let runtime = runtime.clone();
                releasing.insert(id, tokio::spawn(async move { runtime.release(id).await }));
            }
        }
        releasing.retain(|_, h| !h.is_finished());
        for state in update.changed {
            let id = state.router_id;
            if !placed.contains(&id) {
                continue;
            }
            if let Some(running) = routers.get_mut(&id) {
                if running.version != state.version {
                    info!(router.id = %id, version = %state.version, connections = state.connections.len(), "new desired state");
                    running.version = state.version.clone();
                    running.state_tx.send_replace(Some(Arc::new(state)));
                }
                continue;
            }
            // A router that comes back while it is being released waits for the release.
            if let Some(release) = releasing.remove(&id) {
                let _ = release.await;
            }
            match start(runtime.clone(), state, status_tx.clone()) {
                Ok(running) => {
                    routers.insert(id, running);
                }
                Err(e) => warn!(router.id = %id, error = %e, "cannot run this router"),
            }
        }
        if placed.iter().any(|id| !routers.contains_key(id)) {
            // Placed here, but its state never came (it was being deleted?): ask for everything.
            resync.notify_one();
        }
    }
    for (_, running) in std::mem::take(&mut routers) {
        stop(running).await;
    }
    for task in tasks {
        task.abort();
    }
    info!(host = %opts.host, "host agent stopped");
    Ok(())
}

fn start<R: Runtime>(
    runtime: Arc<R>,
    state: GatewayState,
    statuses: watch::Sender<Statuses>,
) -> Result<Running, ViciError> {
    let id = state.router_id;
    let charon = runtime.charon(id)?;
    info!(router.id = %id, version = %state.version, connections = state.connections.len(), "running router");
    let version = state.version.clone();
    let (state_tx, state_rx) = watch::channel(Some(Arc::new(state)));
    let (stop_tx, stop_rx) = watch::channel(false);
    let task = tokio::spawn(async move {
        let mut stopped = stop_rx.clone();
        tokio::select! {
            _ = stopped.wait_for(|s| *s) => return,
            _ = runtime.prepare(id) => {}
        }
        let publish = move |list: Vec<ConnectionStatus>| {
            statuses.send_modify(|s| {
                s.insert(id, list);
            })
        };
        let mut until = stop_rx.clone();
        let trouble = {
            let runtime = runtime.clone();
            move || runtime.trouble(id)
        };
        let converge = converge_loop(charon, state_rx, publish, trouble, async move {
            let _ = until.wait_for(|s| *s).await;
        });
        tokio::join!(converge, runtime.keep(id, stop_rx));
    });
    Ok(Running { version, state_tx, stop_tx, task })
}

async fn stop(mut running: Running) {
    running.stop_tx.send_replace(true);
    if tokio::time::timeout(Duration::from_secs(5), &mut running.task).await.is_err() {
        running.task.abort();
    }
}

impl Speaks for HostClient {
    fn speaker(&self) -> String {
        format!("host {}", self.host)
    }
}

impl Beats for HostClient {
    fn heartbeat(&self, hello: &AgentHello) -> impl Future<Output = Result<AgentConfig, SyncError>> + Send {
        HostClient::heartbeat(self, hello)
    }
}

/// The host's polls: each answer goes to the loop that starts and stops the routers'
/// convergers; a report refused with 404 makes them start again from nothing.
struct HostPolls {
    client: HostClient,
    tx: mpsc::Sender<HostState>,
    resync: Arc<Notify>,
}

impl Polls for HostPolls {
    type State = HostState;
    /// The host's change cursor.
    type Cursor = Option<i64>;
    fn state(&self, from: &Option<i64>, wait: Duration) -> impl Future<Output = Result<HostState, SyncError>> + Send {
        self.client.state(*from, wait)
    }
    fn other(&self, state: &HostState) -> Option<String> {
        (state.host != self.client.host).then(|| format!("host {}", state.host))
    }
    async fn take(&self, state: HostState, cursor: &mut Option<i64>) -> Option<bool> {
        let news = !state.changed.is_empty();
        *cursor = Some(state.cursor);
        self.tx.send(state).await.ok().map(|()| news)
    }
    fn resync(&self) -> impl Future<Output = ()> + Send {
        self.resync.notified()
    }
}

/// The report to send now: per router, all its entries when a full report is due, else those
/// that differ from what the server acknowledged; routers with nothing to say are left out.
pub fn host_report(current: &Statuses, acked: &AckedMap, full: bool) -> Vec<RouterStatus> {
    current
        .iter()
        .filter_map(|(router, list)| {
            let connections = report_entries(list, acked, full);
            (!connections.is_empty()).then_some(RouterStatus { router_id: *router, connections })
        })
        .collect()
}

/// The host's reports: its client, and the poll loop's cue to learn the host's routers again.
struct HostReports {
    client: HostClient,
    resync: Arc<Notify>,
}

impl Reports for HostReports {
    type Snapshot = Statuses;
    type Report = HostStatusReport;
    const BATCH: Duration = BATCH_DELAY;
    fn holds(snapshot: &Statuses, id: Uuid) -> bool {
        snapshot.values().flatten().any(|s| s.id == id)
    }
    fn due(snapshot: &Statuses, acked: &AckedMap, full: bool) -> Option<(HostStatusReport, Vec<ConnectionStatus>)> {
        let routers = host_report(snapshot, acked, full);
        let sent: Vec<ConnectionStatus> = routers.iter().flat_map(|r| r.connections.clone()).collect();
        (!routers.is_empty()).then_some((HostStatusReport { routers }, sent))
    }
    fn send(&self, report: &HostStatusReport) -> impl Future<Output = Result<(), SyncError>> + Send {
        self.client.report(report)
    }
    fn refused(&self, error: &SyncError) {
        if matches!(error, SyncError::Status(404, _)) {
            // A router left the host meanwhile: learn the host's routers again.
            self.resync.notify_one();
        }
    }
}

/// `--state-dir`'s default.
pub fn default_state_dir() -> PathBuf {
    PathBuf::from("/var/lib/vpnaas/charons")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::tests::desired;
    use crate::sync::acknowledge;
    use crate::sync::tests::SharedCharon;
    use axum::extract::{Path, Query, State};
    use axum::http::StatusCode;
    use axum::routing::{get, post, put};
    use axum::{Json, Router};
    use std::sync::Mutex;
    use tokio::time::Instant;
    use vpnaas_core::algorithms::Status;

    /// A scripted host API: routers with a change marker each, the host's placement marker,
    /// the long poll, and every request recorded.
    #[derive(Default)]
    struct Script {
        seq: i64,
        placed_seq: i64,
        routers: Vec<Uuid>,
        states: BTreeMap<Uuid, (i64, GatewayState)>,
        reports: Vec<HostStatusReport>,
        paths: Vec<String>,
    }

    #[derive(Clone, Default)]
    struct Server(Arc<(Mutex<Script>, Notify)>);

    impl Server {
        fn edit(&self, f: impl FnOnce(&mut Script)) {
            {
                let mut s = self.0 .0.lock().unwrap();
                s.seq += 1;
                f(&mut s);
            }
            self.0 .1.notify_waiters();
        }
        fn set(&self, state: GatewayState) {
            self.edit(|s| {
                let seq = s.seq;
                if !s.routers.contains(&state.router_id) {
                    s.routers.push(state.router_id);
                    s.placed_seq = seq;
                }
                s.states.insert(state.router_id, (seq, state));
            })
        }
        fn unplace(&self, router: Uuid) {
            self.edit(|s| {
                s.routers.retain(|r| *r != router);
                s.placed_seq = s.seq;
            })
        }
        fn script(&self) -> std::sync::MutexGuard<'_, Script> {
            self.0 .0.lock().unwrap()
        }
        fn reported(&self, id: Uuid, revision: i64, status: Status) -> bool {
            self.script()
                .reports
                .iter()
                .flat_map(|r| &r.routers)
                .flat_map(|r| &r.connections)
                .any(|c| c.id == id && c.revision == revision && c.status == status)
        }
    }

    #[derive(serde::Deserialize)]
    struct Poll {
        cursor: Option<i64>,
        wait: Option<u64>,
    }

    async fn state(State(server): State<Server>, Path(host): Path<String>, Query(q): Query<Poll>) -> Json<HostState> {
        server.script().paths.push(format!("GET /hosts/{host}/state cursor={:?}", q.cursor));
        let deadline = Instant::now() + Duration::from_secs(q.wait.unwrap_or(0));
        loop {
            let woken = server.0 .1.notified();
            {
                let s = server.script();
                let changed: Vec<GatewayState> = s
                    .routers
                    .iter()
                    .filter_map(|r| s.states.get(r))
                    .filter(|(seq, _)| q.cursor.is_none_or(|c| *seq > c))
                    .map(|(_, st)| st.clone())
                    .collect();
                let moved = q.cursor.is_some_and(|c| s.placed_seq > c);
                if q.cursor.is_none() || !changed.is_empty() || moved || Instant::now() >= deadline {
                    return Json(HostState { host, cursor: s.seq, routers: s.routers.clone(), changed });
                }
            }
            let _ = tokio::time::timeout_at(deadline, woken).await;
        }
    }

    async fn status(
        State(server): State<Server>,
        Path(host): Path<String>,
        Json(report): Json<HostStatusReport>,
    ) -> StatusCode {
        let mut s = server.script();
        s.paths.push(format!("POST /hosts/{host}/status"));
        if report.routers.iter().any(|r| !s.routers.contains(&r.router_id)) {
            return StatusCode::NOT_FOUND;
        }
        s.reports.push(report);
        StatusCode::NO_CONTENT
    }

    async fn heartbeat(State(server): State<Server>, Path(host): Path<String>) -> Json<AgentConfig> {
        server.script().paths.push(format!("PUT /hosts/{host}/agent"));
        Json(AgentConfig { heartbeat_interval: 1, dead_after: 3 })
    }

    /// In-memory charons, one per router, and the routers released.
    #[derive(Default)]
    struct Fakes {
        charons: Mutex<BTreeMap<Uuid, SharedCharon>>,
        released: Mutex<Vec<Uuid>>,
    }

    impl Fakes {
        fn charon_of(&self, router: Uuid) -> SharedCharon {
            self.charons.lock().unwrap().entry(router).or_default().clone()
        }
    }

    impl Runtime for Fakes {
        type Charon = SharedCharon;
        fn charon(&self, router: Uuid) -> Result<SharedCharon, ViciError> {
            Ok(self.charon_of(router))
        }
        async fn prepare(&self, _: Uuid) {}
        async fn keep(&self, _: Uuid, mut stop: watch::Receiver<bool>) {
            let _ = stop.wait_for(|s| *s).await;
        }
        async fn release(&self, router: Uuid) {
            self.released.lock().unwrap().push(router);
        }
    }

    async fn eventually(what: &str, check: impl Fn() -> bool) {
        let deadline = Instant::now() + Duration::from_secs(10);
        while !check() {
            assert!(Instant::now() < deadline, "not within 10 s: {what}");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    fn router_state(router: Uuid, version: &str, c: vpnaas_core::contract::DesiredConnection) -> GatewayState {
        GatewayState { router_id: router, version: version.to_owned(), connections: vec![c] }
    }

    async fn mutations(charon: &SharedCharon) -> usize {
        charon.0.lock().await.mutations().len()
    }

    #[tokio::test]
    async fn one_agent_runs_each_router_of_its_host_in_its_own_charon_and_reports_in_batches() {
        let server = Server::default();
        let routers: Vec<Uuid> = (101..=103).map(Uuid::from_u128).collect();
        for (n, r) in routers.iter().enumerate() {
            server.set(router_state(*r, "v1", desired(n as u128 + 1)));
        }
        let app = Router::new()
            .route("/v2.0/gateway/hosts/{host}/agent", put(heartbeat))
            .route("/v2.0/gateway/hosts/{host}/state", get(state))
            .route("/v2.0/gateway/hosts/{host}/status", post(status))
            .with_state(server.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let serving = tokio::spawn(async move { axum::serve(listener, app).await });
        let fakes = Arc::new(Fakes::default());
        let opts = HostOptions {
            host: "net-1".into(),
            server: format!("http://{addr}/"),
            credential: Credential::Token("t".into()),
            charons: HostCharons::Attach { vici_template: "unused".into() },
            status_interval: Duration::from_secs(60),
            tls: ClientTls::default(),
        };
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let agent = tokio::spawn(run_host_with(opts, fakes.clone(), async move {
            let _ = stopped.await;
        }));
        let conn = |n: u128| Uuid::from_u128(n);

        eventually("all three ACTIVE", || (1..=3).all(|n| server.reported(conn(n), 1, Status::Active))).await;
        {
            let s = server.script();
            assert!(s.paths.iter().all(|p| p.contains("/hosts/net-1/")), "{:?}", s.paths);
            assert!(s.paths.iter().any(|p| p == "PUT /hosts/net-1/agent"));
            assert_eq!(s.paths.iter().filter(|p| p.contains("cursor=None")).count(), 1, "one full fetch at start");
            assert!(s.reports.iter().any(|r| r.routers.len() > 1), "reports are batched: {:?}", s.reports);
            assert!(s.reports.len() <= 3, "{} reports for three routers coming up", s.reports.len());
        }
        for (n, r) in routers.iter().enumerate() {
            let charon = fakes.charon_of(*r);
            let fake = charon.0.lock().await;
            let loaded: Vec<&String> = fake.conns.keys().collect();
            assert_eq!(loaded, vec![&conn(n as u128 + 1).to_string()], "each router in its own charon");
        }

        // One router changes: only its charon is touched.
        let before = [mutations(&fakes.charon_of(routers[0])).await, mutations(&fakes.charon_of(routers[2])).await];
        let mut disabled = desired(2);
        disabled.revision = 2;
        disabled.enabled = false;
        server.set(router_state(routers[1], "v2", disabled));
        eventually("router 2's connection DOWN at revision 2", || server.reported(conn(2), 2, Status::Down)).await;
        assert!(fakes.charon_of(routers[1]).0.lock().await.conns.is_empty());
        let after = [mutations(&fakes.charon_of(routers[0])).await, mutations(&fakes.charon_of(routers[2])).await];
        assert_eq!(before, after, "the other routers' charons saw no load, unload or initiate");

        // A router leaves the host: its converger stops and its charon is released.
        server.unplace(routers[2]);
        eventually("router 3 released", || fakes.released.lock().unwrap().contains(&routers[2])).await;
        assert_eq!(*fakes.released.lock().unwrap(), vec![routers[2]], "only the router that left");

        // The server goes away: every router keeps converging on what it has.
        serving.abort();
        let kept = mutations(&fakes.charon_of(routers[0])).await;
        tokio::time::sleep(crate::sync::RECONCILE_EVERY + Duration::from_millis(500)).await;
        {
            let charon = fakes.charon_of(routers[0]);
            let fake = charon.0.lock().await;
            assert!(fake.conns.contains_key(&conn(1).to_string()), "the tunnel stays loaded");
            assert_eq!(fake.mutations().len(), kept, "nothing unloaded while the server is away");
        }
        stop.send(()).unwrap();
        let result = tokio::time::timeout(Duration::from_secs(6), agent).await.unwrap().unwrap();
        assert!(result.is_ok(), "{result:?}");
    }

    #[test]
    fn host_urls_and_reports() {
        let c = HostClient::new("http://127.0.0.1:9696/", "net 1", Credential::Token("t".into())).unwrap();
        assert_eq!(c.url(&["state"]).as_str(), "http://127.0.0.1:9696/v2.0/gateway/hosts/net%201/state");
        assert!(HostClient::new("http://127.0.0.1:9696", "", Credential::Token("t".into())).is_err());
        assert!(HostClient::new("http://x", "h", Credential::Token("t".into())).is_err());
        let s = |n: u128, status: Status| ConnectionStatus {
            id: Uuid::from_u128(n),
            revision: 1,
            status,
            reason: None,
            counters: Default::default(),
            code: None,
            events: Vec::new(),
        };
        let current: Statuses =
            [(Uuid::from_u128(100), vec![s(1, Status::Active)]), (Uuid::from_u128(200), vec![s(2, Status::Down)])]
                .into();
        let mut acked = AckedMap::new();
        assert_eq!(host_report(&current, &acked, false).len(), 2, "one request, both routers");
        acknowledge(&mut acked, &[s(1, Status::Active)]);
        let only = host_report(&current, &acked, false);
        assert_eq!(only.len(), 1);
        assert_eq!(only[0].router_id, Uuid::from_u128(200), "routers with nothing new are left out");
        assert_eq!(host_report(&current, &acked, true).len(), 2, "a full report has everything");
    }
}
