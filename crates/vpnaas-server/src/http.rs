//! The HTTP connections: the accept loop, the header-read and idle timeouts, the connection cap with its fast 503s, and the envelope for what hyper answers by itself (ADR 0013); TLS when configured (ADR 0016).

use std::convert::Infallible;
use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{ready, Context, Poll};
use std::time::Duration;

use axum::body::Bytes;
use axum::http::{Request, StatusCode};
use axum::Router;
use hyper::body::{Frame, Incoming, SizeHint};
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{watch, Notify, OwnedSemaphorePermit, Semaphore};
use tokio::time::Instant;
use tokio_rustls::TlsAcceptor;
use tower_service::Service;

use crate::api::BodyTimeout;
use crate::error::{envelope_text, status_words};
use crate::tls::{ClientIdentity, Peer};

/// What a connection may cost the server (the `http_*` settings).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// API clients' connections served at once; more are answered 503 (ADR 0023).
    pub max_connections: usize,
    /// Gateway agents' connections (`/v2.0/gateway/...`, long polls mostly) served at once,
    /// apart from the API clients' ones, so that neither takes the other's (ADR 0023).
    pub max_gateway_connections: usize,
    /// From the moment the server waits for a request (a new connection, or the first byte
    /// after an idle spell) until its whole head has arrived.
    pub header_timeout: Duration,
    /// How long a kept-alive connection may sit between requests.
    pub idle_timeout: Duration,
    /// How long a handler waits for a request's body.
    pub body_timeout: Duration,
}

/// Connections being refused at once (each holds a descriptor for up to a second while it is
/// answered); beyond them a connection over the cap is answered without waiting.
const REFUSING: usize = 32;

/// Descriptors kept free of connections besides the database's: the listener, logs, the key
/// file, Keystone's and the refusals' sockets.
const SPARE_DESCRIPTORS: usize = 32;

/// How often a repeated condition (the cap reached, accept failing) is logged at most.
const REPORT_EVERY: Duration = Duration::from_secs(10);

/// The cap that fits the process's open-file limit: `wanted`, or less when the soft limit
/// (`/proc/self/limits`) leaves no room for it beside the database's connections (SQLite
/// holds three descriptors per connection) and the spare ones. A cap above the limit would
/// turn an overload into a silent stall: `accept` fails and clients wait in the backlog.
pub fn fitting_cap(wanted: usize, database_connections: usize) -> (usize, Option<u64>) {
    let Some(limit) = open_file_limit() else {
        return (wanted, None);
    };
    let reserved = (database_connections.saturating_mul(3) + SPARE_DESCRIPTORS + REFUSING) as u64;
    let room = usize::try_from(limit.saturating_sub(reserved)).unwrap_or(usize::MAX).max(1);
    (wanted.min(room), Some(limit))
}

/// Both caps fitted to the open-file limit ([`fitting_cap`] for their sum): API clients keep
/// theirs whole as long as one descriptor is left for a gateway; the gateways' cap gives way
/// first. Returns (API clients' cap, gateways' cap, the limit).
pub fn fitting_caps(tenants: usize, gateways: usize, database_connections: usize) -> (usize, usize, Option<u64>) {
    let (room, limit) = fitting_cap(tenants.saturating_add(gateways), database_connections);
    let tenants = tenants.min(room.saturating_sub(1)).max(1);
    (tenants, room.saturating_sub(tenants).max(1), limit)
}

/// Raises the soft open-file limit to the hard one (each waiting gateway holds a socket);
/// returns (before, after) when it moved. Not every system lets a process do this: then the
/// limit stays, and the caps are fitted to it.
pub fn raise_open_file_limit() -> Option<(u64, u64)> {
    let (soft, hard) = rlimit::Resource::NOFILE.get().ok()?;
    if soft >= hard {
        return None;
    }
    rlimit::Resource::NOFILE.set(hard, hard).ok()?;
    Some((soft, hard))
}

fn open_file_limit() -> Option<u64> {
    let text = std::fs::read_to_string("/proc/self/limits").ok()?;
    let line = text.lines().find(|l| l.starts_with("Max open files"))?;
    line.trim_start_matches("Max open files").split_whitespace().next()?.parse().ok()
}

/// Connections the kernel may queue before `accept` (it caps this at `net.core.somaxconn`,
/// 4,096 on current kernels). tokio's `bind` asks for 1,024: when 10,000 gateways connect at
/// once the queue overflows, SYNs are dropped, and every client, an API client too, waits for
/// a retransmit (1 s, then 3 s) before the server even sees it (ADR 0023).
const BACKLOG: u32 = 16_384;

/// A listener on `addr` with room for a fleet's connections arriving at once ([`BACKLOG`]).
pub fn listen(addr: std::net::SocketAddr) -> io::Result<TcpListener> {
    let socket = if addr.is_ipv4() { tokio::net::TcpSocket::new_v4()? } else { tokio::net::TcpSocket::new_v6()? };
    // As tokio's `bind`: a restarted server binds while old connections sit in TIME_WAIT.
    socket.set_reuseaddr(true)?;
    socket.bind(addr)?;
    socket.listen(BACKLOG)
}

/// Serves `app` on `listener` until `shutdown` completes; then stops accepting and waits for
/// the connections to finish their requests, as axum's graceful shutdown does, for at most
/// [`DRAIN`].
pub async fn serve(
    listener: TcpListener,
    app: Router,
    limits: Limits,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), String> {
    serve_with_tls(listener, app, limits, None, shutdown).await
}

/// [`serve`], over TLS when `tls` is given: each connection's handshake must end within the
/// header timeout; a failed one is logged at debug and the connection closed.
pub async fn serve_with_tls(
    listener: TcpListener,
    app: Router,
    limits: Limits,
    tls: Option<TlsAcceptor>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), String> {
    // Every connection holds a slot from accept to close (each is a descriptor); what it
    // serves decides which budget's seat it takes besides (`Seats`), at its first request.
    let slots = Arc::new(Semaphore::new(limits.max_connections.saturating_add(limits.max_gateway_connections).max(1)));
    let seats = Seats::new(limits);
    let refusing = Arc::new(Semaphore::new(REFUSING));
    // Each connection, and each connection taken over (ADR 0028), holds a receiver; the
    // server is done when all are dropped.
    let (stop, stopping) = watch::channel(false);
    let mut over_cap = Report::default();
    let mut accept_failed = Report::default();
    tokio::pin!(shutdown);
    loop {
        let accepted = tokio::select! {
            () = &mut shutdown => break,
            accepted = listener.accept() => accepted,
        };
        let (stream, addr) = match accepted {
            Ok(accepted) => accepted,
            Err(e) => {
                // Out of descriptors, or the peer gave up: try again shortly, say so now and then.
                if let Some(missed) = accept_failed.due() {
                    tracing::error!(error = %e, missed, "cannot accept connections");
                }
                tokio::time::sleep(Duration::from_millis(20)).await;
                continue;
            }
        };
        let _ = stream.set_nodelay(true);
        match slots.clone().try_acquire_owned() {
            Ok(slot) => {
                let stopping = stopping.clone();
                let app = app.clone();
                let tls = tls.clone();
                let seats = seats.clone();
                tokio::spawn(async move {
                    let peer = Peer { addr, tls: false, client: None };
                    let held = Held { slot: Some(slot), seat: Seat::default(), stopping };
                    // Each variant boxed on its own: the task would otherwise be as large as
                    // the TLS one (a rustls connection inline) for every plain connection,
                    // and 10,000 waiting gateways hold one each (ADR 0023).
                    match tls {
                        None => Box::pin(connection(stream, peer, app, limits, seats, held)).await,
                        Some(acceptor) => {
                            Box::pin(secure_connection(acceptor, stream, addr, app, limits, seats, held)).await;
                        }
                    }
                });
            }
            Err(_) => {
                if let Some(refused) = over_cap.due() {
                    tracing::warn!(
                        http.max_connections = limits.max_connections,
                        http.max_gateway_connections = limits.max_gateway_connections,
                        refused,
                        "connection limit reached: new connections are answered 503 ({refused} since the last report)"
                    );
                }
                match (refusing.clone().try_acquire_owned(), &tls) {
                    (Ok(permit), None) => drop(tokio::spawn(refuse(stream, permit))),
                    (Ok(permit), Some(acceptor)) => drop(tokio::spawn(refuse_tls(acceptor.clone(), stream, permit))),
                    (Err(_), None) => refuse_now(stream),
                    // Without a handshake there is no way to answer: the connection is closed.
                    (Err(_), Some(_)) => drop(stream),
                }
            }
        }
    }
    drop(listener);
    drop(stopping);
    let _ = stop.send(true);
    if tokio::time::timeout(DRAIN, stop.closed()).await.is_err() {
        tracing::warn!(
            connections = stop.receiver_count(),
            "connections still busy {} s after the stop began: closing them",
            DRAIN.as_secs()
        );
    }
    Ok(())
}

/// How long a stopping server lets requests in flight finish: under the 30 s that
/// orchestrators commonly wait between SIGTERM and SIGKILL (Kubernetes' grace period; systemd
/// waits 90 s).
const DRAIN: Duration = Duration::from_secs(25);

/// What a connection serves, by the path of its requests: gateway agents
/// (`/v2.0/gateway/...`: heartbeats, long polls, status reports) or API clients.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Tenant,
    Gateway,
}

impl Kind {
    fn of(path: &str) -> Kind {
        if path.starts_with("/v2.0/gateway/") {
            Kind::Gateway
        } else {
            Kind::Tenant
        }
    }
}

/// The two budgets (ADR 0023): a connection takes a seat of the kind its request needs and
/// keeps it while it serves that kind; a waiting long poll never holds an API client's seat.
#[derive(Clone)]
struct Seats {
    tenant: Arc<Semaphore>,
    gateway: Arc<Semaphore>,
    limits: Limits,
    /// Budgets found full, reported at most every [`REPORT_EVERY`] each.
    full: Arc<Mutex<[Report; 2]>>,
}

/// A connection's seat: none before its first request.
#[derive(Default)]
struct Seat(Option<(Kind, OwnedSemaphorePermit)>);

/// What a connection holds while it lives: its slot (a descriptor), its seat, and the
/// server's stop signal, whose receivers the server waits for when it stops.
struct Held {
    slot: Option<OwnedSemaphorePermit>,
    seat: Seat,
    stopping: watch::Receiver<bool>,
}

/// The connection a request came on, in the request's extensions: a handler that switches
/// protocols (`101`, ADR 0028) takes the connection's slot, seat and stop signal with it, as
/// the connection itself ends with the switch.
#[derive(Clone)]
pub struct Connection(Arc<Mutex<Held>>);

impl Connection {
    /// Takes over what the connection holds; the connection keeps its stop signal only.
    pub fn take_over(&self) -> TakenOver {
        let mut held = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        TakenOver(Held {
            slot: held.slot.take(),
            seat: std::mem::take(&mut held.seat),
            stopping: held.stopping.clone(),
        })
    }
}

/// A connection's slot, seat and stop signal, held by what took it over until it is dropped.
pub struct TakenOver(Held);

impl TakenOver {
    /// Ready when the server stops.
    pub async fn stopping(&mut self) {
        let _ = self.0.stopping.wait_for(|stop| *stop).await;
    }
}

impl Seats {
    fn new(limits: Limits) -> Seats {
        Seats {
            tenant: Arc::new(Semaphore::new(limits.max_connections.max(1))),
            gateway: Arc::new(Semaphore::new(limits.max_gateway_connections.max(1))),
            limits,
            full: Arc::new(Mutex::new([Report::default(), Report::default()])),
        }
    }

    /// Seats the connection for a request of `kind`: its own seat if it has that kind, else a
    /// new one (the old one given back). `false` when that budget is full: the request is
    /// answered 503 and the connection keeps what it had.
    fn take(&self, held: &Mutex<Held>, kind: Kind) -> bool {
        let mut held = held.lock().unwrap_or_else(PoisonError::into_inner);
        let seat = &mut held.seat;
        if seat.0.as_ref().is_some_and(|(k, _)| *k == kind) {
            return true;
        }
        let budget = match kind {
            Kind::Tenant => &self.tenant,
            Kind::Gateway => &self.gateway,
        };
        match budget.clone().try_acquire_owned() {
            Ok(permit) => {
                seat.0 = Some((kind, permit));
                true
            }
            Err(_) => {
                let mut full = self.full.lock().unwrap_or_else(PoisonError::into_inner);
                let (report, cap, what) = match kind {
                    Kind::Tenant => (&mut full[0], self.limits.max_connections, "API clients' (http_max_connections)"),
                    Kind::Gateway => (
                        &mut full[1],
                        self.limits.max_gateway_connections,
                        "gateway agents' (http_max_gateway_connections)",
                    ),
                };
                if let Some(refused) = report.due() {
                    tracing::warn!(
                        cap,
                        refused,
                        "{what} connection limit reached: their requests are answered 503 ({refused} since the last report)"
                    );
                }
                false
            }
        }
    }
}

/// A condition counted every time and reported at most every [`REPORT_EVERY`].
#[derive(Default)]
struct Report {
    count: u64,
    last: Option<Instant>,
}

impl Report {
    /// Counts one; the count since the last report when a report is due.
    fn due(&mut self) -> Option<u64> {
        self.count += 1;
        if self.last.is_some_and(|t| t.elapsed() < REPORT_EVERY) {
            return None;
        }
        self.last = Some(Instant::now());
        Some(std::mem::take(&mut self.count))
    }
}

/// A TLS connection: the handshake (within the header timeout), then [`connection`] with the
/// peer's verified client certificate, if any.
async fn secure_connection(
    acceptor: TlsAcceptor,
    stream: TcpStream,
    addr: std::net::SocketAddr,
    app: Router,
    limits: Limits,
    seats: Seats,
    held: Held,
) {
    match tokio::time::timeout(limits.header_timeout, acceptor.accept(stream)).await {
        Ok(Ok(stream)) => {
            let client = stream
                .get_ref()
                .1
                .peer_certificates()
                .and_then(|chain| chain.first())
                .map(|cert| Arc::new(ClientIdentity::from_der(cert)));
            connection(stream, Peer { addr, tls: true, client }, app, limits, seats, held).await;
        }
        Ok(Err(e)) => tracing::debug!(peer = %addr, error = %e, "TLS handshake failed"),
        Err(_) => tracing::debug!(peer = %addr, "TLS handshake took too long"),
    }
}

/// One connection, until it ends, its client is too slow or idle too long, or the server
/// shuts down.
async fn connection<S>(stream: S, peer: Peer, app: Router, limits: Limits, seats: Seats, held: Held)
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let activity = Arc::new(Activity::new());
    let io = TokioIo::new(Guarded::new(stream, activity.clone()));
    let seen = activity.clone();
    let mut stopping = held.stopping.clone();
    // Dropped with the connection, and with it the slot and seat, unless taken over.
    let held = Connection(Arc::new(Mutex::new(held)));
    let service = hyper::service::service_fn(move |req: Request<Incoming>| {
        let admitted = seats.take(&held.0, Kind::of(req.uri().path()));
        let mut app = app.clone();
        let in_flight = InFlight::begin(seen.clone());
        let mut req = req.map(axum::body::Body::new);
        req.extensions_mut().insert(BodyTimeout(limits.body_timeout));
        req.extensions_mut().insert(peer.clone());
        req.extensions_mut().insert(held.clone());
        async move {
            let resp = if admitted {
                match app.call(req).await {
                    Ok(resp) => resp,
                    Err(never) => match never {},
                }
            } else {
                busy_answer()
            };
            Ok::<_, Infallible>(resp.map(|inner| Tracked { inner, _in_flight: in_flight }))
        }
    });
    let mut builder = hyper::server::conn::http1::Builder::new();
    // Our own timers below: hyper's header timer would also count the idle wait.
    builder.header_read_timeout(None);
    let conn = builder.serve_connection(io, service).with_upgrades();
    tokio::pin!(conn);
    let mut stopped = false;
    loop {
        tokio::select! {
            result = conn.as_mut() => {
                if let Err(e) = result {
                    tracing::debug!(error = %e, "connection ended");
                }
                break;
            }
            // Requests under way are finished; an idle connection closes at once.
            _ = stopping.wait_for(|stop| *stop), if !stopped => {
                stopped = true;
                conn.as_mut().graceful_shutdown();
            }
            why = activity.expired(limits) => {
                tracing::debug!(why, "connection closed");
                break;
            }
        }
    }
}

/// The answer to a request whose budget is full: a 503 in the envelope saying the service is
/// busy, `Retry-After`, and the connection closed (its descriptor is wanted).
fn busy_answer() -> axum::response::Response {
    use axum::response::IntoResponse;
    let mut resp = crate::error::Error::Busy.into_response();
    let id = format!("req-{}", uuid::Uuid::new_v4());
    if let Ok(v) = axum::http::HeaderValue::from_str(&id) {
        resp.headers_mut().insert("x-openstack-request-id", v);
    }
    resp.headers_mut().insert(axum::http::header::CONNECTION, axum::http::HeaderValue::from_static("close"));
    resp
}

/// Where a connection is: waiting for a request's head (since when), idle between requests
/// (since when), or serving requests.
#[derive(Debug, Clone, Copy)]
enum Phase {
    Head(Instant),
    Idle(Instant),
    Busy(usize),
}

struct Activity {
    phase: Mutex<Phase>,
    changed: Notify,
}

impl Activity {
    fn new() -> Activity {
        Activity { phase: Mutex::new(Phase::Head(Instant::now())), changed: Notify::new() }
    }

    fn update(&self, f: impl FnOnce(Phase) -> Phase) {
        let mut phase = self.phase.lock().unwrap_or_else(PoisonError::into_inner);
        *phase = f(*phase);
        self.changed.notify_one();
    }

    /// Bytes arrived: an idle connection starts a request's head.
    fn read_some(&self) {
        let idle = matches!(*self.phase.lock().unwrap_or_else(PoisonError::into_inner), Phase::Idle(_));
        if idle {
            self.update(|p| if let Phase::Idle(_) = p { Phase::Head(Instant::now()) } else { p });
        }
    }

    fn deadline(&self, limits: Limits) -> Option<(Instant, &'static str)> {
        match *self.phase.lock().unwrap_or_else(PoisonError::into_inner) {
            Phase::Head(since) => Some((since + limits.header_timeout, "the request head took too long")),
            Phase::Idle(since) => Some((since + limits.idle_timeout, "idle")),
            Phase::Busy(_) => None,
        }
    }

    /// Completes when the connection's current deadline passes.
    async fn expired(&self, limits: Limits) -> &'static str {
        loop {
            let Some((deadline, why)) = self.deadline(limits) else {
                self.changed.notified().await;
                continue;
            };
            tokio::select! {
                () = tokio::time::sleep_until(deadline) => {
                    if self.deadline(limits).is_some_and(|(d, _)| d <= Instant::now()) {
                        return why;
                    }
                }
                () = self.changed.notified() => {}
            }
        }
    }
}

/// A request being served: from its head's arrival until its response's body is written
/// (or dropped). Meanwhile no connection timer runs: handlers bound their own waits.
struct InFlight(Arc<Activity>);

impl InFlight {
    fn begin(activity: Arc<Activity>) -> InFlight {
        activity.update(|p| match p {
            Phase::Busy(n) => Phase::Busy(n + 1),
            _ => Phase::Busy(1),
        });
        InFlight(activity)
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.update(|p| match p {
            Phase::Busy(n) if n > 1 => Phase::Busy(n - 1),
            _ => Phase::Idle(Instant::now()),
        });
    }
}

/// A response body that ends its request's [`InFlight`] when hyper is done with it.
struct Tracked {
    inner: axum::body::Body,
    _in_flight: InFlight,
}

impl hyper::body::Body for Tracked {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, axum::Error>>> {
        Pin::new(&mut self.inner).poll_frame(cx)
    }
    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }
    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

/// The socket as hyper sees it: reads tell the connection's [`Activity`]; hyper's automatic
/// answer to a request it cannot parse (400, 414 URI too long, 431 headers too large, with
/// an empty body) is replaced by the same status in the NeutronError envelope.
struct Guarded<S> {
    stream: S,
    activity: Arc<Activity>,
    /// The replacement answer, and how much of it is written.
    pending: Vec<u8>,
    written: usize,
}

impl<S: AsyncWrite + Unpin> Guarded<S> {
    fn new(stream: S, activity: Arc<Activity>) -> Guarded<S> {
        Guarded { stream, activity, pending: Vec::new(), written: 0 }
    }

    fn drain(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        while self.written < self.pending.len() {
            let n = ready!(Pin::new(&mut self.stream).poll_write(cx, &self.pending[self.written..]))?;
            if n == 0 {
                return Poll::Ready(Err(io::ErrorKind::WriteZero.into()));
            }
            self.written += n;
        }
        Poll::Ready(Ok(()))
    }
}

/// The longest head of one of hyper's automatic answers.
const AUTOMATIC_HEAD_MAX: usize = 1024;

/// The status of hyper's automatic answer, if `bytes` is one: an error status line with a
/// whole head and no request id. Every answer of the API carries `x-openstack-request-id`,
/// and no JSON body holds a raw line break, so neither can look like this.
fn automatic_answer(bytes: &[u8]) -> Option<StatusCode> {
    // Most writes are bodies, or heads of successes: only an error status line is looked
    // into, and only its head (hyper's answers are a few lines).
    if !(bytes.starts_with(b"HTTP/1.1 4") || bytes.starts_with(b"HTTP/1.1 5")) {
        return None;
    }
    let bytes = &bytes[..bytes.len().min(AUTOMATIC_HEAD_MAX)];
    let head_end = bytes.windows(4).position(|w| w == b"\r\n\r\n")?;
    let head = std::str::from_utf8(&bytes[..head_end]).ok()?;
    let code: u16 = head.strip_prefix("HTTP/1.1 ")?.get(..3)?.parse().ok()?;
    let status = StatusCode::from_u16(code).ok()?;
    let ours = head.lines().any(|l| l.to_ascii_lowercase().starts_with("x-openstack-request-id:"));
    ((status.is_client_error() || status.is_server_error()) && !ours).then_some(status)
}

/// A whole HTTP/1.1 answer in the envelope, ending the connection.
fn enveloped_answer(status: StatusCode, extra_headers: &str) -> Vec<u8> {
    let (type_name, message) = status_words(status);
    let body = envelope_text(type_name, message);
    let id = format!("req-{}", uuid::Uuid::new_v4());
    format!(
        "HTTP/1.1 {} {}\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\
         x-openstack-request-id: {id}\r\n{extra_headers}\r\n{body}",
        status.as_u16(),
        status.canonical_reason().unwrap_or(""),
        body.len()
    )
    .into_bytes()
}

impl<S: AsyncRead + AsyncWrite + Unpin> AsyncRead for Guarded<S> {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        ready!(Pin::new(&mut self.stream).poll_read(cx, buf))?;
        if buf.filled().len() > before {
            self.activity.read_some();
        }
        Poll::Ready(Ok(()))
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Guarded<S> {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        ready!(self.drain(cx))?;
        if self.pending.is_empty() {
            if let Some(status) = automatic_answer(buf) {
                tracing::info!(http.status = status.as_u16(), "request refused before it was parsed");
                self.pending = enveloped_answer(status, "");
                // Taken: it goes out in the envelope's place on the next flush.
                return Poll::Ready(Ok(buf.len()));
            }
        }
        Pin::new(&mut self.stream).poll_write(cx, buf)
    }
    /// Vectored, as the socket is: without it hyper copies every response body into its own
    /// buffer before writing (a second copy of an 800 KB list per response in flight).
    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        ready!(self.drain(cx))?;
        if self.pending.is_empty() {
            if let Some(status) = bufs.iter().find(|b| !b.is_empty()).and_then(|b| automatic_answer(b)) {
                tracing::info!(http.status = status.as_u16(), "request refused before it was parsed");
                self.pending = enveloped_answer(status, "");
                return Poll::Ready(Ok(bufs.iter().map(|b| b.len()).sum()));
            }
        }
        Pin::new(&mut self.stream).poll_write_vectored(cx, bufs)
    }
    fn is_write_vectored(&self) -> bool {
        self.stream.is_write_vectored()
    }
    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        ready!(self.drain(cx))?;
        Pin::new(&mut self.stream).poll_flush(cx)
    }
    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        ready!(self.drain(cx))?;
        Pin::new(&mut self.stream).poll_shutdown(cx)
    }
}

/// Answers a connection over the cap: a 503 in the envelope at once, then what the client
/// sends is read (briefly) and dropped, so that closing does not reset the connection before
/// the client has read the answer.
async fn refuse(stream: TcpStream, _permit: OwnedSemaphorePermit) {
    let _ = tokio::time::timeout(Duration::from_secs(1), answer_over_cap(stream)).await;
}

/// [`refuse`] over TLS: the handshake and the answer within the same second.
async fn refuse_tls(acceptor: TlsAcceptor, stream: TcpStream, _permit: OwnedSemaphorePermit) {
    let _ = tokio::time::timeout(Duration::from_secs(1), async {
        let stream = acceptor.accept(stream).await?;
        answer_over_cap(stream).await
    })
    .await;
}

async fn answer_over_cap<S: AsyncRead + AsyncWrite + Unpin>(mut stream: S) -> io::Result<()> {
    let answer = enveloped_answer(StatusCode::SERVICE_UNAVAILABLE, "retry-after: 1\r\n");
    stream.write_all(&answer).await?;
    stream.shutdown().await?;
    let mut buf = [0u8; 4096];
    while stream.read(&mut buf).await? > 0 {}
    Ok(())
}

/// [`refuse`] without waiting, when too many refusals are under way: what has arrived is
/// read, the answer written if the socket takes it, and the connection closed.
fn refuse_now(stream: TcpStream) {
    let mut buf = [0u8; 4096];
    while matches!(stream.try_read(&mut buf), Ok(n) if n > 0) {}
    let _ = stream.try_write(&enveloped_answer(StatusCode::SERVICE_UNAVAILABLE, "retry-after: 1\r\n"));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hypers_automatic_answers_are_recognised_and_ours_are_not() {
        let hyper = b"HTTP/1.1 414 URI Too Long\r\ncontent-length: 0\r\ndate: x\r\n\r\n";
        assert_eq!(automatic_answer(hyper), Some(StatusCode::URI_TOO_LONG));
        let ours =
            b"HTTP/1.1 404 Not Found\r\ncontent-type: application/json\r\nx-openstack-request-id: req-1\r\n\r\n{}";
        assert_eq!(automatic_answer(ours), None);
        assert_eq!(automatic_answer(b"HTTP/1.1 200 OK\r\n\r\n"), None);
        assert_eq!(automatic_answer(b"{\"a\": \"HTTP/1.1 400 x\"}"), None);
    }

    #[test]
    fn the_cap_leaves_room_for_the_database_and_the_refusals() {
        let (cap, limit) = fitting_cap(usize::MAX, 16);
        if let Some(limit) = limit {
            assert_eq!(cap as u64, limit.saturating_sub(16 * 3 + 64).max(1));
        }
        assert!(fitting_cap(10, 16).0 <= 10);
    }
}
