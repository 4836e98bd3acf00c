//! The agent's loop and its HTTP client of the gateway API (ADR 0003): heartbeat, long-polled desired state, status reports.
//!
//! Four activities run side by side and meet in two watch channels: the heartbeat, the
//! state poller (server → latest desired state), the converger (desired state → charon →
//! statuses, on every new version and every few seconds), and the reporter (statuses →
//! server, changes at once and everything every `status_interval`). When the server is
//! unreachable the converger keeps working on the last state it has: tunnels stay up.

use std::collections::BTreeMap;
use std::fmt;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use tokio::io::AsyncReadExt;
use tokio::sync::watch;
use tokio::time::Instant;
use tracing::{info, warn};
use uuid::Uuid;
use vpnaas_core::algorithms::Status;
use vpnaas_core::contract::{
    parse_waited_answer, AgentConfig, AgentHello, ConnectionStatus, GatewayState, StatusReport, CONTRACT,
    CONTRACT_HEADER, WAIT_UPGRADE,
};
use vpnaas_core::tunnel::DownReason;

use crate::charon::{Charon, ViciCharon};
use crate::engine::Engine;
use vpnaas_keystone::outgoing::{describe, ClientTls, TlsSetupError, UrlError};
use vpnaas_keystone::Session;
use vpnaas_strongswan::vici::ViciError;

/// How often the converger looks at charon when nothing changed: status changes (a tunnel
/// that came up or died) and a restarted charon are noticed within this.
pub const RECONCILE_EVERY: Duration = Duration::from_secs(3);
/// After a pass that changed something, look this often for a while (`FOLLOW_FOR`): a
/// tunnel comes up in a fraction of a second (lab: 0.25 s) and its status should follow.
pub const FOLLOW_UP_EVERY: Duration = Duration::from_millis(500);
pub const FOLLOW_FOR: Duration = Duration::from_secs(5);
/// The next pass after one that held work back for the pace (`Step::more`).
pub const PACE_EVERY: Duration = Duration::from_millis(100);
/// How long a still-down bi-directional connection waits before it is initiated again.
pub const INITIATE_EVERY: Duration = Duration::from_secs(10);
/// The `wait` of the state long poll (the server waits at most 30 s).
pub const LONG_POLL: Duration = Duration::from_secs(25);
/// Any VICI command, and any short HTTP request, fails after this.
pub const IO_TIMEOUT: Duration = Duration::from_secs(10);
/// Heartbeat interval until the server has said otherwise.
pub const DEFAULT_HEARTBEAT: Duration = Duration::from_secs(10);
const MAX_BACKOFF: Duration = Duration::from_secs(30);

/// How `vpnaas agent` runs the agent of one router.
/// `Debug` shows everything but the credential's secret (see [`Credential`]).
#[derive(Debug, Clone)]
pub struct AgentOptions {
    pub router_id: Uuid,
    /// The server's base URL, e.g. `https://vpn.example.com:9696` (`http://` only to loopback,
    /// unless `tls.allow_plaintext`).
    pub server: String,
    /// charon's VICI socket, `unix:///path`.
    pub vici: String,
    /// What the agent presents to the gateway API.
    pub credential: Credential,
    /// This gateway's name, sent with every heartbeat.
    pub host: String,
    /// Every connection's status is reported at least this often (changes at once).
    pub status_interval: Duration,
    /// The CA it trusts besides the system's, its client certificate, plain HTTP (ADR 0016).
    pub tls: ClientTls,
}

/// What the agent presents to the gateway API.
#[derive(Clone)]
pub enum Credential {
    /// A fixed token: the server's agent credential, or a static-mode token holding the
    /// `service` role. Sent as `Authorization: Bearer` and as `X-Auth-Token`.
    Token(String),
    /// A Keystone user holding the `service` role: its token is sent as `X-Auth-Token`,
    /// renewed before it expires and when the server refuses it.
    Keystone(Arc<Session>),
    /// Only the client certificate of its TLS settings (mutual TLS, ADR 0016): no header.
    Certificate,
}

impl fmt::Debug for Credential {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Credential::Token(_) => f.write_str("Token(***)"),
            Credential::Keystone(s) => write!(f, "Keystone({:?})", s.auth()),
            Credential::Certificate => f.write_str("Certificate"),
        }
    }
}

/// Why a gateway API call failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SyncError {
    /// No answer: connection refused, timeout, broken body.
    Transport(String),
    /// An answer other than success: the HTTP status and the start of the body.
    Status(u16, String),
}

impl fmt::Display for SyncError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SyncError::Transport(e) => write!(f, "server unreachable: {e}"),
            SyncError::Status(code, body) => write!(f, "server answered {code}: {body}"),
        }
    }
}

/// Why an agent cannot start: settings that can never work, whatever the server or charon do.
#[derive(Debug, thiserror::Error)]
pub enum SetupError {
    #[error(transparent)]
    Url(#[from] UrlError),
    #[error("server URL {0:?}: a client certificate is presented only over https://")]
    CertificateOverPlainHttp(String),
    #[error(transparent)]
    Tls(#[from] TlsSetupError),
    #[error("HTTP client: {0}")]
    HttpClient(#[source] reqwest::Error),
    #[error("the host name is empty")]
    EmptyHost,
    #[error("server URL {0:?} cannot be a base")]
    NotABase(String),
    #[error(transparent)]
    Vici(#[from] ViciError),
    #[error("--vici-template {template:?}: {source}")]
    ViciTemplate { template: String, source: ViciError },
    #[error("--netns-template {0:?} must contain {{router_id}}")]
    NetnsTemplate(String),
    #[error("--state-dir {}: {source}", .path.display())]
    StateDir { path: std::path::PathBuf, source: std::io::Error },
}

/// An HTTP client of the gateway API with the agent's credential (shared by the per-router
/// client and the per-host one).
#[derive(Clone)]
pub(crate) struct Api {
    pub(crate) http: reqwest::Client,
    credential: Credential,
}

impl Api {
    /// Checks the server URL (`https://`, or `http://` to loopback or when plain HTTP is
    /// allowed) and builds the client with the TLS settings.
    pub(crate) fn new(
        server: &str,
        credential: Credential,
        tls: &ClientTls,
    ) -> Result<(Api, reqwest::Url), SetupError> {
        let url = tls.check_url("server URL", server)?;
        if matches!(credential, Credential::Certificate) && url.scheme() != "https" {
            return Err(SetupError::CertificateOverPlainHttp(server.to_owned()));
        }
        // Every request names the gateway contract this agent speaks (ADR 0034).
        let mut headers = reqwest::header::HeaderMap::new();
        headers.insert(CONTRACT_HEADER, reqwest::header::HeaderValue::from(CONTRACT));
        let http = tls
            .builder()?
            .connect_timeout(IO_TIMEOUT)
            .default_headers(headers)
            .build()
            .map_err(SetupError::HttpClient)?;
        Ok((Api { http, credential }, url))
    }

    /// Sends the request `make` builds with the credential; a Keystone token the server
    /// refuses (401) is renewed and the request sent once more.
    pub(crate) async fn send(
        &self,
        make: impl Fn() -> reqwest::RequestBuilder,
        timeout: Duration,
    ) -> Result<reqwest::Response, SyncError> {
        let mut renew = false;
        let response = loop {
            let request = match &self.credential {
                Credential::Token(token) => make().bearer_auth(token).header("X-Auth-Token", token),
                Credential::Keystone(session) => {
                    let token = session
                        .token(&self.http, renew)
                        .await
                        .map_err(|e| SyncError::Transport(format!("Keystone login: {e}")))?;
                    make().header("X-Auth-Token", token)
                }
                Credential::Certificate => make(),
            };
            let response = request.timeout(timeout).send().await.map_err(|e| SyncError::Transport(describe(&e)))?;
            if response.status().as_u16() == 401 && matches!(self.credential, Credential::Keystone(_)) && !renew {
                renew = true;
                continue;
            }
            break response;
        };
        let status = response.status();
        if status.is_success() || status == reqwest::StatusCode::SWITCHING_PROTOCOLS {
            return Ok(response);
        }
        let body = response.text().await.unwrap_or_default();
        Err(SyncError::Status(status.as_u16(), body.chars().take(300).collect()))
    }

    /// A poll (`make` builds it) and the body of its answer. One that `waits` asks to switch
    /// to the contract's wait protocol (ADR 0028), so that the server holds only the socket
    /// while it waits; a server that answers without switching is read as usual.
    pub(crate) async fn poll(
        &self,
        make: impl Fn() -> reqwest::RequestBuilder,
        waits: bool,
        timeout: Duration,
    ) -> Result<Vec<u8>, SyncError> {
        let switching = || match waits {
            true => switching(make()),
            false => make(),
        };
        let response = self.send(switching, timeout).await?;
        match answer_of(response, timeout).await? {
            (status, body) if (200..300).contains(&status) => Ok(body),
            (status, body) => {
                Err(SyncError::Status(status, String::from_utf8_lossy(&body).chars().take(300).collect()))
            }
        }
    }
}

/// `request`, asking to switch to [`WAIT_UPGRADE`] (ADR 0028); read its answer with [`answer_of`].
pub fn switching(request: reqwest::RequestBuilder) -> reqwest::RequestBuilder {
    request.header(reqwest::header::CONNECTION, "upgrade").header(reqwest::header::UPGRADE, WAIT_UPGRADE)
}

/// The status and body of a poll's answer: after a switch to [`WAIT_UPGRADE`] (`101`), what
/// the server writes before it closes, read within `timeout`; otherwise the response itself.
pub async fn answer_of(response: reqwest::Response, timeout: Duration) -> Result<(u16, Vec<u8>), SyncError> {
    let status = response.status();
    if status != reqwest::StatusCode::SWITCHING_PROTOCOLS {
        let body = response.bytes().await.map_err(|e| SyncError::Transport(format!("answer: {}", describe(&e))))?;
        return Ok((status.as_u16(), body.to_vec()));
    }
    let mut upgraded = response
        .upgrade()
        .await
        .map_err(|e| SyncError::Transport(format!("switching to {WAIT_UPGRADE}: {}", describe(&e))))?;
    let mut bytes = Vec::new();
    match tokio::time::timeout(timeout, upgraded.read_to_end(&mut bytes)).await {
        Ok(Ok(_)) => {}
        Ok(Err(e)) => return Err(SyncError::Transport(format!("waited answer: {e}"))),
        Err(_) => return Err(SyncError::Transport(format!("no waited answer within {} s", timeout.as_secs()))),
    }
    let (status, body) = parse_waited_answer(&bytes)
        .ok_or_else(|| SyncError::Transport("the connection ended before the waited answer".to_owned()))?;
    Ok((status, body.to_vec()))
}

/// The HTTP client of one router's gateway API.
#[derive(Clone)]
pub struct GatewayClient {
    api: Api,
    /// `<server>/v2.0/gateway/routers/<router_id>`
    base: String,
    router_id: Uuid,
}

impl GatewayClient {
    pub fn new(server: &str, router_id: Uuid, credential: Credential) -> Result<GatewayClient, SetupError> {
        GatewayClient::with_tls(server, router_id, credential, &ClientTls::default())
    }

    /// [`GatewayClient::new`] with TLS settings.
    pub fn with_tls(
        server: &str,
        router_id: Uuid,
        credential: Credential,
        tls: &ClientTls,
    ) -> Result<GatewayClient, SetupError> {
        let (api, _) = Api::new(server, credential, tls)?;
        let base = format!("{}/v2.0/gateway/routers/{router_id}", server.trim_end_matches('/'));
        Ok(GatewayClient { api, base, router_id })
    }

    async fn send(
        &self,
        make: impl Fn() -> reqwest::RequestBuilder,
        timeout: Duration,
    ) -> Result<reqwest::Response, SyncError> {
        self.api.send(make, timeout).await
    }

    /// `PUT .../agent`: registration and heartbeat.
    pub async fn heartbeat(&self, hello: &AgentHello) -> Result<AgentConfig, SyncError> {
        let url = format!("{}/agent", self.base);
        let response = self.send(|| self.api.http.put(&url).json(hello), IO_TIMEOUT).await?;
        response.json().await.map_err(|e| SyncError::Transport(format!("heartbeat answer: {e}")))
    }

    /// `GET .../state?known=V&wait=S`: the desired state, at once when `known` is not
    /// current, else when it changes or after `wait`. With a `wait`, the poll switches
    /// protocols (ADR 0028), its first one too: the server then holds no HTTP connection for
    /// it while the answer is built, nor while it waits.
    pub async fn state(&self, known: Option<&str>, wait: Duration) -> Result<GatewayState, SyncError> {
        let url = format!("{}/state", self.base);
        let wait_secs = wait.as_secs().to_string();
        let mut query = Vec::new();
        query.extend(known.map(|v| ("known", v)));
        if !wait.is_zero() {
            query.push(("wait", wait_secs.as_str()));
        }
        let make = || self.api.http.get(&url).query(&query);
        let body = self.api.poll(make, !wait.is_zero(), wait + IO_TIMEOUT).await?;
        serde_json::from_slice(&body).map_err(|e| SyncError::Transport(format!("state answer: {e}")))
    }

    /// `POST .../status`.
    pub async fn report(&self, report: &StatusReport) -> Result<(), SyncError> {
        let url = format!("{}/status", self.base);
        self.send(|| self.api.http.post(&url).json(report), IO_TIMEOUT).await.map(|_| ())
    }
}

/// Retry waits: a ceiling doubling from 1 s up to 30 s, and each wait drawn at random
/// between a tenth of the ceiling and the ceiling ("full jitter"), so that agents which lost
/// the server together (a restart) do not come back together.
pub(crate) struct Backoff(Duration);

impl Backoff {
    pub(crate) fn new() -> Backoff {
        Backoff(Duration::from_secs(1))
    }
    pub(crate) fn next(&mut self) -> Duration {
        let ceiling = self.0;
        self.0 = (self.0 * 2).min(MAX_BACKOFF);
        jitter(ceiling)
    }
}

/// A loop's runs of failure talking to the server: its backoff, and one log line when a run
/// starts and one when it ends, so that a server away for an hour is not a line a second.
pub(crate) struct Failures {
    backoff: Backoff,
    failing: bool,
    /// Whom the loop speaks for (`router <id>`, `host <name>`).
    agent: String,
}

impl Failures {
    pub(crate) fn new(agent: String) -> Failures {
        Failures { backoff: Backoff::new(), failing: false, agent }
    }

    /// The server answered: `again` is logged if it had not, and the backoff starts over.
    pub(crate) fn passed(&mut self, again: &str) {
        if self.failing {
            info!(agent = %self.agent, "{again}");
        }
        self.failing = false;
        self.backoff = Backoff::new();
    }

    /// It did not: `what` is logged for the first failure of a run. How long to wait.
    pub(crate) fn failed(&mut self, what: &str, e: &SyncError) -> Duration {
        if !self.failing {
            warn!(agent = %self.agent, error = %e, "{what}");
        }
        self.failing = true;
        self.backoff.next()
    }

    /// How long to wait after an answer that cannot be used.
    pub(crate) fn pause(&mut self) -> Duration {
        self.backoff.next()
    }
}

/// A duration drawn uniformly from `[max / 10, max]`.
pub(crate) fn jitter(max: Duration) -> Duration {
    let floor = max / 10;
    floor + (max - floor).mul_f64(random_fraction())
}

/// A number in `[0, 1)`. std's hasher keys are random per process and per call, which is
/// all the randomness a retry spread needs (no generator dependency).
fn random_fraction() -> f64 {
    use std::hash::{BuildHasher, Hasher};
    let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
    hasher
        .write_u128(std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default().as_nanos());
    (hasher.finish() >> 11) as f64 / (1u64 << 53) as f64
}

/// Runs the agent of `opts.router_id` until `shutdown` completes. Tunnels stay up when it
/// stops (charon keeps them); a restarted agent adopts them without tearing them down.
/// Errors only for options that can never work (a bad URL or VICI URI).
pub async fn run<F>(opts: AgentOptions, shutdown: F) -> Result<(), SetupError>
where
    F: Future<Output = ()> + Send,
{
    let charon = ViciCharon::new(&opts.vici, IO_TIMEOUT)?;
    run_with(opts, charon, shutdown).await
}

/// `run` with any `Charon` (tests use an in-memory one); `opts.vici` is not used.
pub async fn run_with<C, F>(opts: AgentOptions, charon: C, shutdown: F) -> Result<(), SetupError>
where
    C: Charon,
    F: Future<Output = ()> + Send,
{
    let client = GatewayClient::with_tls(&opts.server, opts.router_id, opts.credential.clone(), &opts.tls)?;
    let hello = AgentHello { host: opts.host.clone(), version: env!("CARGO_PKG_VERSION").to_owned() };
    info!(router.id = %opts.router_id, server = %opts.server, vici = %opts.vici, host = %opts.host, "agent starting");

    let (state_tx, state_rx) = watch::channel::<Option<Arc<GatewayState>>>(None);
    let (status_tx, status_rx) = watch::channel::<Option<Vec<ConnectionStatus>>>(None);
    let tasks = [
        tokio::spawn(heartbeat_loop(client.clone(), hello)),
        tokio::spawn(poll_loop(RouterPolls { client: client.clone(), tx: state_tx }, client.speaker())),
        tokio::spawn(report_loop(
            client.clone(),
            client.speaker(),
            status_rx,
            opts.status_interval.max(Duration::from_secs(1)),
        )),
    ];
    converge_loop(
        charon,
        state_rx,
        move |statuses| {
            status_tx.send_replace(Some(statuses));
        },
        // Someone else runs this charon: only that it does not answer is known here.
        || None,
        shutdown,
    )
    .await;
    for task in tasks {
        task.abort();
    }
    info!(router.id = %opts.router_id, "agent stopped");
    Ok(())
}

/// An agent's client: whom its requests speak for, for the log (`router <id>`, `host <name>`).
pub(crate) trait Speaks {
    fn speaker(&self) -> String;
}

/// A client that sends an agent's heartbeats: a router's agent's or a host's.
pub(crate) trait Beats: Speaks + Send + Sync + 'static {
    fn heartbeat(&self, hello: &AgentHello) -> impl Future<Output = Result<AgentConfig, SyncError>> + Send;
}

impl Speaks for GatewayClient {
    fn speaker(&self) -> String {
        format!("router {}", self.router_id)
    }
}

impl Beats for GatewayClient {
    fn heartbeat(&self, hello: &AgentHello) -> impl Future<Output = Result<AgentConfig, SyncError>> + Send {
        GatewayClient::heartbeat(self, hello)
    }
}

/// Sends heartbeats until its task is dropped, at the interval the server answers with,
/// backing off while they fail; one line when they start failing and one when they pass again.
pub(crate) async fn heartbeat_loop<C: Beats>(client: C, hello: AgentHello) {
    let mut interval = DEFAULT_HEARTBEAT;
    let mut failures = Failures::new(client.speaker());
    loop {
        match client.heartbeat(&hello).await {
            Ok(config) => {
                failures.passed("heartbeat accepted again");
                interval = Duration::from_secs(config.heartbeat_interval.clamp(1, 3600));
                tokio::time::sleep(interval).await;
            }
            Err(e) => {
                let pause = failures.failed("heartbeat failed; retrying", &e);
                tokio::time::sleep(pause.min(interval)).await;
            }
        }
    }
}

/// A client that polls for its desired state: a router's agent's (its router's state, known by
/// version) or a host's (the host's changes since a cursor). [`poll_loop`] serves both.
pub(crate) trait Polls: Send + Sync + 'static {
    /// What the server answers.
    type State: Send + 'static;
    /// Where the next poll resumes (`Default`: from nothing, everything).
    type Cursor: Default + Send + Sync;
    /// The next state, waiting up to `wait` for one newer than `from`.
    fn state(&self, from: &Self::Cursor, wait: Duration)
        -> impl Future<Output = Result<Self::State, SyncError>> + Send;
    /// The state's owner, when it is not this agent's: it is ignored.
    fn other(&self, state: &Self::State) -> Option<String>;
    /// Moves the cursor past `state` and hands it on. Whether it was news (an unchanged answer
    /// given at once must not make the loop spin), or `None` once nobody takes states any more.
    fn take(&self, state: Self::State, cursor: &mut Self::Cursor) -> impl Future<Output = Option<bool>> + Send;
    /// Completes when the agent must learn everything again from nothing (never by default).
    fn resync(&self) -> impl Future<Output = ()> + Send {
        std::future::pending()
    }
}

/// A router's agent's polls: the newest state goes to its converger.
struct RouterPolls {
    client: GatewayClient,
    tx: watch::Sender<Option<Arc<GatewayState>>>,
}

impl Polls for RouterPolls {
    type State = GatewayState;
    /// The version the converger has.
    type Cursor = Option<String>;
    fn state(
        &self,
        from: &Option<String>,
        wait: Duration,
    ) -> impl Future<Output = Result<GatewayState, SyncError>> + Send {
        self.client.state(from.as_deref(), wait)
    }
    fn other(&self, state: &GatewayState) -> Option<String> {
        (state.router_id != self.client.router_id).then(|| format!("router {}", state.router_id))
    }
    async fn take(&self, state: GatewayState, cursor: &mut Option<String>) -> Option<bool> {
        if cursor.as_deref() == Some(state.version.as_str()) {
            return Some(false);
        }
        info!(router.id = %self.client.router_id, version = %state.version, connections = state.connections.len(), "new desired state");
        *cursor = Some(state.version.clone());
        self.tx.send_replace(Some(Arc::new(state)));
        Some(true)
    }
}

/// Polls for the desired state until its receiver is gone: long polls that resume where the
/// last answer left off, and backoff while they fail, with one line when failures start and
/// one when they end.
/// `speaker` names the agent in the log.
pub(crate) async fn poll_loop<P: Polls>(polls: P, speaker: String) {
    let mut cursor = P::Cursor::default();
    let mut failures = Failures::new(speaker.clone());
    loop {
        let asked = Instant::now();
        let answer = tokio::select! {
            answer = polls.state(&cursor, LONG_POLL) => answer,
            () = polls.resync() => {
                cursor = P::Cursor::default();
                continue;
            }
        };
        match answer {
            Ok(state) => {
                if let Some(other) = polls.other(&state) {
                    warn!(agent = %speaker, other = %other, "the server sent another agent's state; ignored");
                    tokio::time::sleep(failures.pause()).await;
                    continue;
                }
                failures.passed("server reachable again");
                match polls.take(state, &mut cursor).await {
                    None => return,
                    // A server that answers nothing new at once must not make us spin.
                    Some(false) if asked.elapsed() < Duration::from_secs(1) => {
                        tokio::time::sleep(jitter(Duration::from_secs(1))).await;
                    }
                    Some(_) => {}
                }
            }
            Err(e) => {
                tokio::time::sleep(failures.failed("cannot fetch the desired state; keeping the current one", &e))
                    .await;
            }
        }
    }
}

/// Converges one charon on the newest state of `state_rx` (on every new state and every few
/// seconds) and hands each pass's statuses to `publish`, until `shutdown` completes. While
/// charon does not answer, `trouble` says why when the agent knows (it could not start it).
pub(crate) async fn converge_loop<C, P, T, F>(
    mut charon: C,
    mut state_rx: watch::Receiver<Option<Arc<GatewayState>>>,
    mut publish: P,
    trouble: T,
    shutdown: F,
) where
    C: Charon,
    P: FnMut(Vec<ConnectionStatus>) + Send,
    T: Fn() -> Option<(DownReason, String)> + Send,
    F: Future<Output = ()> + Send,
{
    let mut engine = Engine::new(INITIATE_EVERY);
    // charon's events feed the engine's journal (ADR 0018); the listener ends with the loop.
    let _listener =
        charon.events_uri().map(|uri| AbortOnDrop(tokio::spawn(crate::events::listen(uri, engine.journal()))));
    let mut next_pass = Instant::now();
    let mut follow_until = Instant::now();
    let mut poller_alive = true;
    let mut charon_failures = 0u32;
    tokio::pin!(shutdown);
    loop {
        tokio::select! {
            _ = &mut shutdown => return,
            changed = state_rx.changed(), if poller_alive => poller_alive = changed.is_ok(),
            _ = tokio::time::sleep_until(next_pass) => {}
        }
        let now = Instant::now();
        next_pass = now + if now < follow_until { FOLLOW_UP_EVERY } else { RECONCILE_EVERY };
        // Before the first state arrives nothing is touched: what charon runs stays.
        let Some(state) = state_rx.borrow_and_update().clone() else { continue };
        let result = tokio::select! {
            _ = &mut shutdown => return,
            result = engine.step(&mut charon, &state.connections) => result,
        };
        match result {
            Ok(step) => {
                if charon_failures > 0 {
                    info!(router.id = %state.router_id, "charon reachable again");
                }
                charon_failures = 0;
                if !step.actions.is_empty() {
                    follow_until = Instant::now() + FOLLOW_FOR;
                    next_pass = Instant::now() + FOLLOW_UP_EVERY;
                }
                if step.more {
                    // Loads or starts were held back by the pace: go on with them shortly.
                    next_pass = Instant::now() + PACE_EVERY;
                }
                publish(step.statuses);
            }
            Err(e) => {
                charon_failures += 1;
                // charon died or restarts: look again soon, so that its tunnels show DOWN (and
                // come back) within a second or two, not at the next periodic pass.
                next_pass = Instant::now() + FOLLOW_UP_EVERY;
                let known = trouble();
                if charon_failures == 1 && known.is_none() {
                    warn!(router.id = %state.router_id, error = %e, "cannot converge: charon is unreachable");
                    // One failed pass (a timeout, charon restarting) reports nothing yet.
                    continue;
                }
                // Still no IKE daemon, so no tunnel: every connection is down, and says why:
                // the cause of a failed start when the agent knows it (a missing namespace,
                // charon exiting), else that charon does not answer.
                let (code, reason) = known.unwrap_or_else(|| {
                    (DownReason::IkeDaemonDown, format!("the gateway's IKE daemon is unreachable: {e}"))
                });
                publish(engine.all_down(&state.connections, &reason, code));
            }
        }
    }
}

/// Aborts a task when dropped.
struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// What the server acknowledged of a connection: what makes a status a change worth
/// reporting at once (counters are not: they move all the time and travel with the
/// periodic full report), and the newest event it stored (ADR 0018).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Acked {
    key: (i64, Status, Option<String>, Option<DownReason>),
    events_upto: u64,
}

/// Acknowledgements by connection.
pub type AckedMap = BTreeMap<Uuid, Acked>;

fn change_key(s: &ConnectionStatus) -> (i64, Status, Option<String>, Option<DownReason>) {
    (s.revision, s.status, s.reason.clone(), s.code)
}

/// The entries to send now: all of them when a full report is due, else those that
/// differ from what the server acknowledged or have events it has not; each with only
/// the events the server has not acknowledged.
pub fn report_entries(current: &[ConnectionStatus], acked: &AckedMap, full: bool) -> Vec<ConnectionStatus> {
    current
        .iter()
        .filter_map(|s| {
            let known = acked.get(&s.id);
            let upto = known.map_or(0, |a| a.events_upto);
            let fresh: Vec<_> = s.events.iter().filter(|e| e.seq > upto).cloned().collect();
            let changed = known.is_none_or(|a| a.key != change_key(s));
            (full || changed || !fresh.is_empty()).then(|| ConnectionStatus { events: fresh, ..s.clone() })
        })
        .collect()
}

/// Records that the server took `sent`.
pub fn acknowledge(acked: &mut AckedMap, sent: &[ConnectionStatus]) {
    for s in sent {
        let before = acked.get(&s.id).map_or(0, |a| a.events_upto);
        let upto = s.events.iter().map(|e| e.seq).max().unwrap_or(0).max(before);
        acked.insert(s.id, Acked { key: change_key(s), events_upto: upto });
    }
}

/// A client that reports statuses: a router's agent's (its router's list) or a host's (every
/// router's). [`report_loop`] serves both.
pub(crate) trait Reports: Send + Sync + 'static {
    /// What the converging loops publish: one router's statuses (none before its first pass),
    /// or the host's, by router.
    type Snapshot: Clone + Send + Sync + 'static;
    /// One report request.
    type Report: Send + Sync;
    /// How long a change waits for the other routers' passes of the same moment to join it.
    const BATCH: Duration;
    /// Whether connection `id` is still in `snapshot`.
    fn holds(snapshot: &Self::Snapshot, id: Uuid) -> bool;
    /// The report due now (every entry when `full`, else those the server has not acknowledged)
    /// and the statuses it carries; `None` when there is nothing to say.
    fn due(snapshot: &Self::Snapshot, acked: &AckedMap, full: bool) -> Option<(Self::Report, Vec<ConnectionStatus>)>;
    fn send(&self, report: &Self::Report) -> impl Future<Output = Result<(), SyncError>> + Send;
    /// What a refused report means besides a retry.
    fn refused(&self, _error: &SyncError) {}
}

impl Reports for GatewayClient {
    type Snapshot = Option<Vec<ConnectionStatus>>;
    type Report = StatusReport;
    const BATCH: Duration = Duration::ZERO;
    fn holds(snapshot: &Self::Snapshot, id: Uuid) -> bool {
        snapshot.iter().flatten().any(|s| s.id == id)
    }
    fn due(snapshot: &Self::Snapshot, acked: &AckedMap, full: bool) -> Option<(StatusReport, Vec<ConnectionStatus>)> {
        let entries = report_entries(snapshot.as_deref()?, acked, full);
        (!entries.is_empty()).then(|| (StatusReport { connections: entries.clone() }, entries))
    }
    fn send(&self, report: &StatusReport) -> impl Future<Output = Result<(), SyncError>> + Send {
        self.report(report)
    }
}

/// Reports the statuses of `rx` until its sender is gone: what changed at once (after
/// [`Reports::BATCH`]), everything every `every`, and after a failure the same again with
/// backoff, until the server acknowledges it.
pub(crate) async fn report_loop<R: Reports>(
    client: R,
    speaker: String,
    mut rx: watch::Receiver<R::Snapshot>,
    every: Duration,
) {
    let mut acked = AckedMap::new();
    let mut next_full = Instant::now();
    let mut retry_at: Option<Instant> = None;
    let mut failures = Failures::new(speaker);
    loop {
        tokio::select! {
            changed = rx.changed() => {
                if changed.is_err() {
                    return;
                }
                if !R::BATCH.is_zero() {
                    tokio::time::sleep(R::BATCH).await;
                }
            }
            _ = tokio::time::sleep_until(retry_at.unwrap_or(next_full)) => {}
        }
        if retry_at.is_some_and(|r| Instant::now() < r) {
            continue;
        }
        let current = rx.borrow_and_update().clone();
        acked.retain(|id, _| R::holds(&current, *id));
        let full = Instant::now() >= next_full;
        let Some((report, sent)) = R::due(&current, &acked, full) else {
            if full {
                next_full = Instant::now() + every;
            }
            continue;
        };
        match client.send(&report).await {
            Ok(()) => {
                failures.passed("status reports accepted again");
                retry_at = None;
                acknowledge(&mut acked, &sent);
                if full {
                    next_full = Instant::now() + every;
                }
            }
            Err(e) => {
                client.refused(&e);
                retry_at = Some(Instant::now() + failures.failed("status report failed; retrying", &e));
            }
        }
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::charon::{CharonError, IkeSa};
    use crate::engine::tests::{desired, FakeCharon};
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::{TcpListener, TcpStream};
    use vpnaas_core::contract::DesiredConnection;
    use vpnaas_strongswan::vici::Message;

    fn status(n: u128, revision: i64, status: Status, bytes: u64) -> ConnectionStatus {
        ConnectionStatus {
            id: Uuid::from_u128(n),
            revision,
            status,
            reason: None,
            counters: vpnaas_core::contract::Counters { bytes_in: bytes, ..Default::default() },
            code: None,
            events: Vec::new(),
        }
    }

    #[test]
    fn only_changes_are_reported_between_full_reports() {
        let current = vec![status(1, 1, Status::Active, 10), status(2, 1, Status::Down, 0)];
        let mut acked = AckedMap::new();
        assert_eq!(report_entries(&current, &acked, false).len(), 2, "nothing acknowledged yet");
        acknowledge(&mut acked, &current);
        let moved = vec![status(1, 1, Status::Active, 99), status(2, 1, Status::Down, 0)];
        assert!(report_entries(&moved, &acked, false).is_empty(), "counters alone are no change");
        assert_eq!(report_entries(&moved, &acked, true).len(), 2, "a full report carries everything");
        let bumped = vec![status(1, 2, Status::Active, 99), status(2, 1, Status::Active, 0)];
        let ids: Vec<u128> = report_entries(&bumped, &acked, false).iter().map(|s| s.id.as_u128()).collect();
        assert_eq!(ids, vec![1, 2], "a new revision and a new status are changes");
    }

    #[test]
    fn events_are_sent_until_acknowledged_and_then_never_again() {
        use vpnaas_core::tunnel::{EventKind, TunnelEvent};
        let event = |seq| TunnelEvent { seq, at: 1, kind: EventKind::Log, reason: None, message: "m".into() };
        let mut s = status(1, 1, Status::Down, 0);
        s.events = vec![event(1), event(2)];
        let mut acked = AckedMap::new();
        let sent = report_entries(&[s.clone()], &acked, false);
        assert_eq!(sent[0].events.len(), 2);
        acknowledge(&mut acked, &sent);
        assert!(report_entries(&[s.clone()], &acked, false).is_empty(), "nothing new");
        assert!(report_entries(&[s.clone()], &acked, true)[0].events.is_empty(), "a full report resends no event");
        s.events.push(event(3));
        let sent = report_entries(&[s.clone()], &acked, false);
        assert_eq!(sent[0].events.iter().map(|e| e.seq).collect::<Vec<_>>(), vec![3], "a new event is a change");
        acknowledge(&mut acked, &sent);
        let full = report_entries(&[s.clone()], &acked, true);
        acknowledge(&mut acked, &full);
        assert!(report_entries(&[s], &acked, false).is_empty(), "a full report without events forgets nothing");
    }

    #[test]
    fn the_client_builds_adr_0003_paths_and_refuses_what_it_cannot_speak() {
        let id = Uuid::from_u128(5);
        let c = GatewayClient::new("http://127.0.0.1:9696/", id, Credential::Token("t".into())).unwrap();
        assert_eq!(c.base, format!("http://127.0.0.1:9696/v2.0/gateway/routers/{id}"));
        assert!(GatewayClient::new("https://vpn.example.com", id, Credential::Token("t".into())).is_ok());
        let err =
            GatewayClient::new("http://vpn.example.com", id, Credential::Token("t".into())).err().unwrap().to_string();
        assert!(err.contains("in clear"), "{err}");
        let allowed = ClientTls { allow_plaintext: true, ..ClientTls::default() };
        assert!(GatewayClient::with_tls("http://vpn.example.com", id, Credential::Token("t".into()), &allowed).is_ok());
        assert!(GatewayClient::new("http://127.0.0.1:1", id, Credential::Certificate).is_err());
        assert!(GatewayClient::new("not a url", id, Credential::Token("t".into())).is_err());
    }

    #[test]
    fn options_never_print_the_token() {
        let opts = AgentOptions {
            router_id: Uuid::nil(),
            server: "http://127.0.0.1:9696".into(),
            vici: "unix:///run/charon.vici".into(),
            credential: Credential::Token("agent-secret".into()),
            host: "gw1".into(),
            status_interval: Duration::from_secs(30),
            tls: ClientTls::default(),
        };
        assert!(!format!("{opts:?}").contains("agent-secret"));
    }

    /// The in-memory charon of the engine tests, shared so the test can look inside.
    #[derive(Clone, Default)]
    pub(crate) struct SharedCharon(pub(crate) Arc<tokio::sync::Mutex<FakeCharon>>);

    impl Charon for SharedCharon {
        async fn capabilities(&mut self) -> Result<vpnaas_strongswan::render::Capabilities, CharonError> {
            self.0.lock().await.capabilities().await
        }
        async fn conns(&mut self) -> Result<Vec<String>, CharonError> {
            self.0.lock().await.conns().await
        }
        async fn shared(&mut self) -> Result<Vec<String>, CharonError> {
            self.0.lock().await.shared().await
        }
        async fn load_conn(&mut self, conn: &Message) -> Result<(), CharonError> {
            self.0.lock().await.load_conn(conn).await
        }
        async fn unload_conn(&mut self, name: &str) -> Result<(), CharonError> {
            self.0.lock().await.unload_conn(name).await
        }
        async fn load_shared(&mut self, secret: &Message) -> Result<(), CharonError> {
            self.0.lock().await.load_shared(secret).await
        }
        async fn unload_shared(&mut self, id: &str) -> Result<(), CharonError> {
            self.0.lock().await.unload_shared(id).await
        }
        async fn initiate(&mut self, ike: &str, child: &str) -> Result<(), CharonError> {
            self.0.lock().await.initiate(ike, child).await
        }
        async fn terminate(&mut self, ike: &str) -> Result<(), CharonError> {
            self.0.lock().await.terminate(ike).await
        }
        async fn list_sas(&mut self) -> Result<Vec<IkeSa>, CharonError> {
            self.0.lock().await.list_sas().await
        }
    }

    /// A gateway API stand-in: HTTP/1.1 by hand, keep-alive, every request recorded.
    /// A request as the fake server saw it: method, target, and the `authorization` and
    /// contract headers.
    type Seen = (String, String, Option<String>, Option<String>);

    struct FakeServer {
        state: std::sync::Mutex<GatewayState>,
        requests: std::sync::Mutex<Vec<Seen>>,
        reports: std::sync::Mutex<Vec<ConnectionStatus>>,
    }

    impl FakeServer {
        fn set_state(&self, state: GatewayState) {
            *self.state.lock().unwrap() = state;
        }
        fn reported(&self, id: Uuid, revision: i64, status: Status) -> bool {
            self.reports.lock().unwrap().iter().any(|r| r.id == id && r.revision == revision && r.status == status)
        }
    }

    async fn serve(listener: TcpListener, server: Arc<FakeServer>) {
        // Dropping the set (when this task is aborted) aborts every open connection too.
        let mut connections = tokio::task::JoinSet::new();
        loop {
            let Ok((socket, _)) = listener.accept().await else { return };
            connections.spawn(handle(socket, server.clone()));
        }
    }

    async fn handle(mut socket: TcpStream, server: Arc<FakeServer>) {
        let mut buf: Vec<u8> = Vec::new();
        loop {
            let head_end = loop {
                if let Some(p) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                    break p + 4;
                }
                match socket.read_buf(&mut buf).await {
                    Ok(0) | Err(_) => return,
                    Ok(_) => {}
                }
            };
            let head = String::from_utf8_lossy(&buf[..head_end]).to_string();
            let header = |name: &str| {
                head.lines().find_map(|l| {
                    let (k, v) = l.split_once(':')?;
                    k.eq_ignore_ascii_case(name).then(|| v.trim().to_owned())
                })
            };
            let length: usize = header("content-length").and_then(|v| v.parse().ok()).unwrap_or(0);
            while buf.len() < head_end + length {
                match socket.read_buf(&mut buf).await {
                    Ok(0) | Err(_) => return,
                    Ok(_) => {}
                }
            }
            let body = buf[head_end..head_end + length].to_vec();
            buf.drain(..head_end + length);
            let mut first = head.lines().next().unwrap_or_default().split(' ');
            let (method, target) =
                (first.next().unwrap_or_default().to_owned(), first.next().unwrap_or_default().to_owned());
            server.requests.lock().unwrap().push((
                method.clone(),
                target.clone(),
                header("authorization"),
                header(CONTRACT_HEADER),
            ));
            let (code, answer) = if method == "PUT" && target.ends_with("/agent") {
                (200, r#"{"heartbeat_interval": 1, "dead_after": 3}"#.to_owned())
            } else if method == "GET" && target.contains("/state") {
                let version = server.state.lock().unwrap().version.clone();
                if target.contains(&format!("known={version}")) {
                    tokio::time::sleep(Duration::from_millis(200)).await;
                }
                (200, serde_json::to_string(&*server.state.lock().unwrap()).unwrap())
            } else if method == "POST" && target.ends_with("/status") {
                let report: StatusReport = serde_json::from_slice(&body).unwrap();
                server.reports.lock().unwrap().extend(report.connections);
                (204, String::new())
            } else {
                (404, "{}".to_owned())
            };
            let response = format!(
                "HTTP/1.1 {code} X\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n{answer}",
                answer.len()
            );
            if socket.write_all(response.as_bytes()).await.is_err() {
                return;
            }
        }
    }

    async fn eventually(what: &str, check: impl Fn() -> bool) {
        let deadline = Instant::now() + Duration::from_secs(10);
        while !check() {
            assert!(Instant::now() < deadline, "not within 10 s: {what}");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    use std::sync::atomic::{AtomicUsize, Ordering};

    /// A reporter whose first `fail` sends are refused; it records whether each report the
    /// loop asked for was full, and which connections it held.
    struct Scripted {
        fail: AtomicUsize,
        sent: Sent,
    }

    /// Each report asked for: whether full, and its connections.
    type Sent = Arc<std::sync::Mutex<Vec<(bool, Vec<Uuid>)>>>;

    impl Reports for Scripted {
        type Snapshot = Vec<ConnectionStatus>;
        type Report = (bool, Vec<Uuid>);
        const BATCH: Duration = Duration::ZERO;
        fn holds(snapshot: &Self::Snapshot, id: Uuid) -> bool {
            snapshot.iter().any(|s| s.id == id)
        }
        fn due(
            snapshot: &Self::Snapshot,
            acked: &AckedMap,
            full: bool,
        ) -> Option<(Self::Report, Vec<ConnectionStatus>)> {
            let entries = report_entries(snapshot, acked, full);
            (!entries.is_empty()).then(|| ((full, entries.iter().map(|e| e.id).collect()), entries))
        }
        fn send(&self, report: &Self::Report) -> impl Future<Output = Result<(), SyncError>> + Send {
            self.sent.lock().unwrap().push(report.clone());
            let refused = self.fail.fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1)).is_ok();
            async move {
                if refused {
                    Err(SyncError::Status(503, "busy".into()))
                } else {
                    Ok(())
                }
            }
        }
    }

    #[tokio::test]
    async fn a_refused_full_report_is_sent_again_in_full_and_changes_alone_after() {
        let sent = Arc::new(std::sync::Mutex::new(Vec::new()));
        let client = Scripted { fail: AtomicUsize::new(1), sent: sent.clone() };
        let (tx, rx) = watch::channel(vec![status(1, 1, Status::Active, 0), status(2, 1, Status::Active, 0)]);
        // A full report is due at once, then not for a minute: any later one is a retry's.
        let looping = tokio::spawn(report_loop(client, "router r".into(), rx, Duration::from_secs(60)));
        let wait_for = |n: usize| {
            let sent = sent.clone();
            async move {
                let deadline = Instant::now() + Duration::from_secs(5);
                while sent.lock().unwrap().len() < n {
                    assert!(Instant::now() < deadline, "{n} reports not sent: {:?}", sent.lock().unwrap());
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
            }
        };
        wait_for(2).await;
        let both = vec![Uuid::from_u128(1), Uuid::from_u128(2)];
        assert_eq!(sent.lock().unwrap()[..2], [(true, both.clone()), (true, both)], "refused, then again in full");
        // Once the server took it, a change goes alone.
        tx.send_modify(|s| s[1].status = Status::Down);
        wait_for(3).await;
        assert_eq!(sent.lock().unwrap()[2], (false, vec![Uuid::from_u128(2)]));
        looping.abort();
    }

    /// A server that answers every poll at once with nothing new, its own or another agent's.
    struct Unchanged {
        polls: Arc<AtomicUsize>,
        other: bool,
    }

    impl Polls for Unchanged {
        type State = ();
        type Cursor = ();
        fn state(&self, _: &(), _: Duration) -> impl Future<Output = Result<(), SyncError>> + Send {
            self.polls.fetch_add(1, Ordering::SeqCst);
            async { Ok(()) }
        }
        fn other(&self, _: &()) -> Option<String> {
            self.other.then(|| "host elsewhere".to_owned())
        }
        async fn take(&self, _: (), _: &mut ()) -> Option<bool> {
            Some(false)
        }
    }

    #[tokio::test]
    async fn a_server_answering_nothing_new_at_once_does_not_make_either_mode_spin() {
        let (own, others) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
        let loops = [
            tokio::spawn(poll_loop(Unchanged { polls: own.clone(), other: false }, "router r".into())),
            tokio::spawn(poll_loop(Unchanged { polls: others.clone(), other: true }, "host h".into())),
        ];
        tokio::time::sleep(Duration::from_millis(1500)).await;
        loops.iter().for_each(|l| l.abort());
        // Each pause is at least a tenth of a second: at most 16 polls in 1.5 s, where a loop
        // that did not wait would have made thousands.
        for (what, polls) in [("unchanged answers", &own), ("another agent's states", &others)] {
            let n = polls.load(Ordering::SeqCst);
            assert!((1..=16).contains(&n), "{n} polls in 1.5 s of {what}");
        }
    }

    #[tokio::test]
    async fn the_agent_converges_reports_and_keeps_its_tunnels_when_the_server_goes_away() {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let router = Uuid::from_u128(42);
        let state = |version: &str, c: DesiredConnection| GatewayState {
            router_id: router,
            version: version.to_owned(),
            connections: vec![c],
        };
        let server = Arc::new(FakeServer {
            state: std::sync::Mutex::new(state("v1", desired(1))),
            requests: Default::default(),
            reports: Default::default(),
        });
        let serving = tokio::spawn(serve(listener, server.clone()));
        let charon = SharedCharon::default();
        let opts = AgentOptions {
            router_id: router,
            server: format!("http://{addr}"),
            vici: "unix:///unused".into(),
            credential: Credential::Token("agent-token".into()),
            host: "gw-test".into(),
            status_interval: Duration::from_secs(60),
            tls: ClientTls::default(),
        };
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let agent = tokio::spawn(run_with(opts, charon.clone(), async move {
            let _ = stopped.await;
        }));
        let id = Uuid::from_u128(1);

        eventually("ACTIVE for revision 1", || server.reported(id, 1, Status::Active)).await;
        {
            let requests = server.requests.lock().unwrap();
            assert!(requests.iter().all(|(_, _, auth, _)| auth.as_deref() == Some("Bearer agent-token")));
            // Every request names the gateway contract the agent speaks (ADR 0034).
            let spoken = CONTRACT.to_string();
            assert!(requests.iter().all(|(.., contract)| contract.as_deref() == Some(spoken.as_str())), "{requests:?}");
            assert!(requests
                .iter()
                .any(|(m, t, ..)| m == "PUT" && t == &format!("/v2.0/gateway/routers/{router}/agent")));
            assert!(requests.iter().any(|(m, t, ..)| m == "GET" && t.contains("/state?known=v1&wait=25")));
        }

        let mut disabled = desired(1);
        disabled.revision = 2;
        disabled.enabled = false;
        server.set_state(state("v2", disabled));
        eventually("DOWN for revision 2", || server.reported(id, 2, Status::Down)).await;
        assert!(charon.0.lock().await.conns.is_empty(), "a disabled connection is unloaded");

        let mut enabled = desired(1);
        enabled.revision = 3;
        server.set_state(state("v3", enabled));
        eventually("ACTIVE for revision 3", || server.reported(id, 3, Status::Active)).await;

        // The server goes away: the agent keeps converging on what it has, unloading nothing.
        serving.abort();
        let calls_before = charon.0.lock().await.calls.len();
        tokio::time::sleep(RECONCILE_EVERY + Duration::from_millis(500)).await;
        {
            let fake = charon.0.lock().await;
            assert!(fake.calls.len() > calls_before, "still reconciling");
            assert!(fake.conns.contains_key(&id.to_string()), "the tunnel stays loaded");
            assert!(!fake.calls[calls_before..].iter().any(|c| c.starts_with("unload") || c.starts_with("terminate")));
        }

        stop.send(()).unwrap();
        let result = tokio::time::timeout(Duration::from_secs(2), agent).await.unwrap().unwrap();
        assert!(result.is_ok(), "{result:?}");
    }

    #[test]
    fn backoff_doubles_up_to_thirty_seconds_with_jitter() {
        let mut b = Backoff::new();
        for ceiling in [1, 2, 4, 8, 16, 30, 30] {
            let wait = b.next();
            let max = Duration::from_secs(ceiling);
            assert!(wait >= max / 10 && wait <= max, "{wait:?} outside [{:?}, {max:?}]", max / 10);
        }
        // Agents that failed together spread out: 100 first retries are not all alike.
        let firsts: std::collections::BTreeSet<Duration> = (0..100).map(|_| Backoff::new().next()).collect();
        assert!(firsts.len() > 90, "{} distinct waits of 100", firsts.len());
        let spread = firsts.last().copied().unwrap_or_default() - firsts.first().copied().unwrap_or_default();
        assert!(spread > Duration::from_millis(500), "first retries spread over {spread:?}");
    }
}
