//! vpnaas-server: the Neutron VPNaaS v2.0 API over an embedded SQLite database.

pub mod api;
pub mod audit;
pub mod auth;
pub mod backup;
pub mod certs;
pub mod clock;
pub mod config;
pub mod error;
pub mod http;
pub mod metrics;
pub mod neutron;
pub mod notifications;
pub mod ops;
pub mod relay;
pub mod secrets;
pub mod service;
pub mod store;
pub mod tls;
pub mod watched;

use std::future::Future;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpListener;

use crate::api::AppState;
use crate::auth::{Auth, AuthSetupError};
use crate::config::{AuthStrategy, Config};
use crate::error::Error;
use crate::secrets::{KeyFileError, KeyRing};
use crate::service::Service;
use crate::store::{PoolSettings, Store, StoreError};

/// Why `serve`, `migrate` or `rotate-key` stopped.
#[derive(Debug)]
pub enum CommandError {
    CreateDataDir {
        dir: PathBuf,
        source: std::io::Error,
    },
    /// `database`: the SQLite path or the PostgreSQL URL without its password.
    Open {
        database: String,
        source: StoreError,
    },
    Migrate {
        database: String,
        source: StoreError,
    },
    /// PostgreSQL replicas must share a key file made beforehand.
    NoSharedKeyFile {
        path: PathBuf,
    },
    KeyFile(KeyFileError),
    /// Re-sealing stored secrets, or reading the change markers, failed.
    Reseal(Error),
    Markers(Error),
    /// This replica's release could not be recorded in the replicas table.
    Replica(Error),
    SourceMissing(PathBuf),
    SourceOutdated {
        path: PathBuf,
        source: StoreError,
    },
    TargetNotEmpty(&'static str),
    Store(StoreError),
    Auth(AuthSetupError),
    Tls(tls::TlsError),
    Neutron(neutron::NeutronSetupError),
    LocalAddress(std::io::Error),
    /// The connection layer's own account, as it gives it.
    Http(String),
    Backup(backup::BackupError),
    /// The notification or audit settings cannot be used: why, in words.
    Notifications(String),
}

impl std::fmt::Display for CommandError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            CommandError::CreateDataDir { dir, source } => {
                write!(f, "cannot create data directory {}: {source}", dir.display())
            }
            CommandError::Open { database, source } => write!(f, "cannot open {database}: {source}"),
            CommandError::Migrate { database, source } => write!(f, "cannot migrate {database}: {source}"),
            CommandError::NoSharedKeyFile { path } => write!(
                f,
                "the key file {} does not exist; with PostgreSQL or MariaDB every replica needs the same one: create it with \
                 `vpnaas rotate-key` and give its path as psk_key_file (VPNAAS_PSK_KEY_FILE)",
                path.display()
            ),
            CommandError::KeyFile(e) => e.fmt(f),
            CommandError::Reseal(e) => e.fmt(f),
            CommandError::Markers(e) => write!(f, "cannot read the change markers: {e}"),
            CommandError::Replica(e) => write!(f, "cannot record this replica in the database: {e}"),
            CommandError::SourceMissing(path) => write!(f, "{} does not exist", path.display()),
            CommandError::SourceOutdated { path, source } => {
                write!(f, "cannot bring {} up to date: {source}", path.display())
            }
            CommandError::TargetNotEmpty(table) => {
                write!(f, "the target database already holds {table}; copy into an empty one")
            }
            CommandError::Store(e) => e.fmt(f),
            CommandError::Auth(e) => e.fmt(f),
            CommandError::Tls(e) => e.fmt(f),
            CommandError::Neutron(e) => e.fmt(f),
            CommandError::LocalAddress(e) => e.fmt(f),
            CommandError::Http(e) => f.write_str(e),
            CommandError::Backup(e) => e.fmt(f),
            CommandError::Notifications(why) => f.write_str(why),
        }
    }
}

impl std::error::Error for CommandError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        // Wrappers that show their inner error's message pass on that error's source.
        match self {
            CommandError::CreateDataDir { source, .. } => Some(source),
            CommandError::Open { source, .. }
            | CommandError::Migrate { source, .. }
            | CommandError::SourceOutdated { source, .. } => Some(source),
            CommandError::Markers(e) | CommandError::Replica(e) => Some(e),
            CommandError::KeyFile(e) => e.source(),
            CommandError::Reseal(e) => e.source(),
            CommandError::Auth(e) => e.source(),
            CommandError::Tls(e) => e.source(),
            CommandError::Neutron(e) => e.source(),
            CommandError::LocalAddress(e) => e.source(),
            CommandError::Store(_)
            | CommandError::NoSharedKeyFile { .. }
            | CommandError::SourceMissing(_)
            | CommandError::TargetNotEmpty(_)
            | CommandError::Http(_)
            | CommandError::Backup(_)
            | CommandError::Notifications(_) => None,
        }
    }
}

impl From<StoreError> for CommandError {
    fn from(e: StoreError) -> Self {
        CommandError::Store(e)
    }
}

impl From<KeyFileError> for CommandError {
    fn from(e: KeyFileError) -> Self {
        CommandError::KeyFile(e)
    }
}

/// Opens the configured database (creating a SQLite file and its directory if needed)
/// and brings its schema up to date.
pub async fn open_store(config: &Config) -> Result<Store, CommandError> {
    let store = open_store_as_is(config).await?;
    let database = database_label(config);
    store.migrate().await.map_err(|source| CommandError::Migrate { database, source })?;
    Ok(store)
}

/// The SQLite file of the settings: `database_url` as a path or `sqlite://` URL, else
/// `<data_dir>/vpnaas.db` (only meaningful when the database is not PostgreSQL or MariaDB).
pub fn sqlite_path(config: &Config) -> PathBuf {
    match &config.database_url {
        Some(url) => PathBuf::from(url.expose().strip_prefix("sqlite://").unwrap_or(url.expose())),
        None => config.database_path(),
    }
}

/// Opens the configured database without applying any step (for `vpnaas migrate --status`);
/// a SQLite file's directory is created if needed.
pub async fn open_store_as_is(config: &Config) -> Result<Store, CommandError> {
    let settings = PoolSettings {
        max_connections: config.database_max_connections.max(1),
        acquire_timeout: Duration::from_secs(config.database_timeout_secs.max(1)),
    };
    let database = database_label(config);
    match &config.database_url {
        Some(url) if url.is_postgres() => Store::open_postgres(url.expose(), settings).await,
        Some(url) if url.is_mariadb() => Store::open_mariadb(url.expose(), settings).await,
        _ => {
            let path = sqlite_path(config);
            if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
                std::fs::create_dir_all(dir)
                    .map_err(|source| CommandError::CreateDataDir { dir: dir.to_owned(), source })?;
            }
            Store::open_sqlite(&path, settings).await
        }
    }
    .map_err(|source| CommandError::Open { database, source })
}

/// The key ring that seals pre-shared keys: the configured key file, or `<data_dir>/psk.key`.
/// With SQLite a missing file is created (one process owns the database); PostgreSQL
/// replicas must share one file, made beforehand with `vpnaas rotate-key`.
pub fn open_keys(config: &Config) -> Result<KeyRing, CommandError> {
    let path = config.key_file();
    let shared = config.database_url.as_ref().is_some_and(|u| u.is_shared());
    if shared && !path.exists() {
        return Err(CommandError::NoSharedKeyFile { path });
    }
    Ok(KeyRing::open(&path, !shared)?)
}

/// `vpnaas rotate-key`: adds a new key to the key file (creating the file if needed) and
/// re-seals every stored pre-shared key with it. Running servers learn the new key from
/// the file. Returns the new key's id and how many keys were re-sealed.
pub async fn rotate_key(config: &Config) -> Result<(String, usize), CommandError> {
    let path = config.key_file();
    let id = secrets::add_key(&path)?;
    let keys = KeyRing::open(&path, false)?;
    let store = open_store(config).await?;
    let resealed = service::reseal(&store, &keys).await;
    store.close().await;
    Ok((id, resealed.map_err(CommandError::Reseal)?))
}

/// Copies every row of a SQLite database into the configured (empty) database, such as a
/// new PostgreSQL one, in one transaction; returns how many rows were copied.
pub async fn copy_from_sqlite(config: &Config, from: &Path) -> Result<usize, CommandError> {
    use vpnaas_core::resources::{
        Certificate, EndpointGroup, IkePolicy, IpsecPolicy, Router, SiteConnection, Subnet, VpnService,
    };
    if !from.exists() {
        return Err(CommandError::SourceMissing(from.to_owned()));
    }
    let source = Store::open_sqlite(from, PoolSettings::default()).await?;
    source.migrate().await.map_err(|source| CommandError::SourceOutdated { path: from.to_owned(), source })?;
    let target = open_store(config).await?;
    // Rows move sealed as they are: the target needs the source's key file (psk_key_file).
    let keys = open_keys(config)?;
    service::reseal(&source, &keys).await.map_err(CommandError::Reseal)?;
    let mut read = source.begin_read().await?;
    let mut w = target.begin_write().await?;
    let mut copied = 0;
    // Referenced tables first, so every foreign key finds its row.
    copied += copy::<Router>(&mut read, &mut w).await?;
    copied += copy::<Subnet>(&mut read, &mut w).await?;
    copied += copy::<IkePolicy>(&mut read, &mut w).await?;
    copied += copy::<IpsecPolicy>(&mut read, &mut w).await?;
    copied += copy::<VpnService>(&mut read, &mut w).await?;
    copied += copy::<EndpointGroup>(&mut read, &mut w).await?;
    copied += copy::<Certificate>(&mut read, &mut w).await?;
    copied += copy::<SiteConnection>(&mut read, &mut w).await?;
    // Gateways' last heartbeats too, so a moved installation does not see every gateway as
    // new (and every connection's remembered role and counters came with its row above).
    for agent in store::gateway::agents(&mut read).await? {
        store::gateway::upsert_agent(w.conn(), &agent).await?;
        copied += 1;
    }
    let hosts = store::markers::host_beats(&mut read).await?;
    store::markers::record_host_beats(w.conn(), &hosts).await?;
    copied += hosts.len();
    // The change markers themselves only order changes within one database and are not
    // copied; the counter is, so that no agent's cursor is ahead of the new database.
    let seq = store::markers::current_seq(&mut read).await?;
    store::markers::set_seq(w.conn(), seq).await?;
    w.commit().await?;
    // A pool closes only once its connections are back: end the read first.
    read.commit().await?;
    source.close().await;
    target.close().await;
    Ok(copied)
}

async fn copy<T: store::Table>(read: &mut store::Conn, w: &mut store::WriteTx) -> Result<usize, CommandError> {
    let existing: Vec<T> =
        store::list(w.conn(), &vpnaas_core::listing::ListQuery { limit: Some(1), ..Default::default() }).await?;
    if !existing.is_empty() {
        return Err(CommandError::TargetNotEmpty(T::TABLE));
    }
    let rows: Vec<T> = store::list(read, &vpnaas_core::listing::ListQuery::default()).await?;
    for row in &rows {
        store::insert(w.conn(), row).await?;
    }
    Ok(rows.len())
}

/// Where the data is, for logs: the SQLite path or the PostgreSQL URL without its password.
pub fn database_label(config: &Config) -> String {
    match &config.database_url {
        Some(url) => url.to_string(),
        None => config.database_path().display().to_string(),
    }
}

/// The connection limits of the settings; the cap is lowered (and a warning logged) when the
/// process's open-file limit has no room for it (ADR 0013 §2).
fn http_limits(config: &Config) -> http::Limits {
    // Each waiting gateway holds a socket: the soft limit (often 1,024) would cap the fleet
    // long before memory does, so it is raised to the hard one, which the operator sets.
    if let Some((before, after)) = http::raise_open_file_limit() {
        tracing::info!(before, after, "open-file limit raised from {before} to {after} (the hard limit)");
    }
    let wanted = config.http_max_connections.max(1);
    let wanted_gateways = config.http_max_gateway_connections.max(1);
    let (max_connections, max_gateway_connections, limit) = http::fitting_caps(
        wanted,
        wanted_gateways,
        usize::try_from(config.database_max_connections).unwrap_or(usize::MAX),
    );
    if max_gateway_connections < wanted_gateways {
        tracing::warn!(
            http.max_gateway_connections = max_gateway_connections,
            wanted = wanted_gateways,
            open_file_limit = limit,
            "http_max_gateway_connections lowered to fit the open-file limit; raise the limit (ulimit -n, LimitNOFILE) to serve more"
        );
    }
    if max_connections < wanted {
        tracing::warn!(
            http.max_connections = max_connections,
            wanted,
            open_file_limit = limit,
            "http_max_connections lowered to fit the open-file limit; raise the limit (ulimit -n, LimitNOFILE) to serve more"
        );
    }
    http::Limits {
        max_connections,
        max_gateway_connections,
        header_timeout: Duration::from_secs(config.http_header_timeout_secs.max(1)),
        idle_timeout: Duration::from_secs(config.http_idle_timeout_secs.max(1)),
        body_timeout: Duration::from_secs(config.http_body_timeout_secs.max(1)),
    }
}

/// Serves the API on `listener` until `shutdown` completes.
pub async fn serve(
    config: Config,
    listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), CommandError> {
    let auth = Arc::new(Auth::from_config(&config).map_err(CommandError::Auth)?);
    let tls = tls::acceptor(&config).map_err(CommandError::Tls)?;
    let keys = Arc::new(open_keys(&config)?);
    let store = open_store(&config).await?;
    // Rows from before keys were sealed are sealed now (and any under an older key).
    let resealed = service::reseal(&store, &keys).await.map_err(CommandError::Reseal)?;
    if resealed > 0 {
        tracing::info!(resealed, key = %keys.current(), "secrets (pre-shared keys, private keys) sealed with the current key");
    }
    let addr = listener.local_addr().map_err(CommandError::LocalAddress)?;
    if !addr.ip().is_loopback() && config.auth_strategy == AuthStrategy::Noauth {
        // ADR 0001 D8: identity headers are trusted; only loopback or a trusted proxy may send them.
        tracing::warn!(listen = %addr, "noauth mode on a non-loopback address: anyone who can reach it can act as any project");
    }
    warn_about_plaintext(&config, addr, tls.is_some());
    tracing::info!(
        listen = %addr,
        database = %database_label(&config),
        backend = store.backend().name(),
        profile = config.profile.name,
        auth = auth.strategy(),
        "vpnaas listening on {}://{addr} with data in {} ({}), profile {}, auth {}",
        if tls.is_some() { "https" } else { "http" },
        database_label(&config),
        store.backend().name(),
        config.profile.name,
        auth.strategy()
    );
    let service = Service::new(store.clone(), config.profile, keys)
        .with_ha_hold_down(config.ha_hold_down_secs)
        .with_quota_defaults(config.quotas.limits())
        .with_algorithm_policy(config.algorithms.policy())
        .with_topology(topology(&config)?);
    // Notifications (ADR 0043): the outbox is written only when there is a broker to relay to.
    let publishing = config.publisher();
    let service = match &publishing {
        Some((_, publisher)) => service.with_publisher(publisher.clone()),
        None => service,
    };
    // The broker's TLS files are read now, so that a wrong one stops the start (and again at
    // each connection, so that renewed ones are used).
    if let Some(files) = publishing.as_ref().and_then(|(url, _)| url.tls.as_ref()) {
        relay::tls(files).map_err(|e| CommandError::Notifications(format!("transport_url: {e}")))?;
    }
    if config.audit_topic.is_some() && publishing.is_none() {
        return Err(CommandError::Notifications("audit_topic needs transport_url: a broker to publish to".into()));
    }
    let sink = audit::AuditSink::open(config.audit_file.as_deref(), config.audit_topic.clone()).map_err(|e| {
        let file = config.audit_file.as_deref().map(|p| p.display().to_string()).unwrap_or_default();
        CommandError::Notifications(format!("audit_file {file}: {e}"))
    })?;
    let service = service.with_audit(sink);
    let ops = Arc::new(ops::Ops::new(store.clone(), service.clone(), auth.clone(), &config));
    let state = AppState { service, config: Arc::new(config), auth, ops };
    state.service.load_markers().await.map_err(CommandError::Markers)?;
    let service = state.service.clone();
    let dead_after = i64::try_from(state.config.agent_dead_after_secs.saturating_mul(1_000_000)).unwrap_or(i64::MAX);
    // Every replica writes the heartbeats it received, and sweeps; the sweep is idempotent.
    // This replica in the replicas table (ADR 0033): at start, every 10 s, forgotten at the end.
    let replica = uuid::Uuid::new_v4().to_string();
    service::upgrade::register_replica(&store, &replica).await.map_err(CommandError::Replica)?;
    let (registrar_store, registrar_id) = (store.clone(), replica.clone());
    let registrar = tokio::spawn(async move {
        loop {
            tokio::time::sleep(service::upgrade::REPLICA_EVERY).await;
            if let Err(e) = service::upgrade::register_replica(&registrar_store, &registrar_id).await {
                tracing::warn!(error = %e, "could not record this replica's release in the database");
            }
        }
    });
    let sweeper = tokio::spawn(async move {
        loop {
            tokio::time::sleep(Duration::from_secs(1)).await;
            if let Err(e) = service.flush_heartbeats().await {
                tracing::warn!(error = ?e, "could not record heartbeats");
            }
            if let Err(e) = service.mark_dead_gateways(dead_after).await {
                tracing::warn!(error = ?e, "could not mark silent gateways down");
            }
        }
    });
    // Other replicas' change markers (ADR 0011): one cheap query per interval for all routers.
    let service = state.service.clone();
    let catch_up = tokio::spawn(async move {
        loop {
            tokio::time::sleep(service::CATCH_UP_EVERY).await;
            if let Err(e) = service.catch_up().await {
                tracing::debug!(error = ?e, "could not read change markers");
            }
        }
    });
    // neutron mode (ADR 0022): deleted routers and removed interfaces are found here.
    let service = state.service.clone();
    let recheck = tokio::spawn(async move {
        let Some(every) = service.topology().recheck_every() else { return };
        loop {
            tokio::time::sleep(every).await;
            if let Err(e) = service.recheck_topology().await {
                tracing::warn!(error = %e, "could not re-check routers with Neutron");
            }
        }
    });
    let relay = publishing.map(|(url, publisher)| {
        tracing::info!(broker = ?url, publisher_id = %publisher.publisher_id, exchange = %publisher.exchange,
            "notifications are published to RabbitMQ");
        tokio::spawn(relay::run(store.clone(), url, publisher, state.service.outbox_kick()))
    });
    let limits = http_limits(&state.config);
    let app = api::router(state);
    let result = http::serve_with_tls(listener, app, limits, tls, shutdown).await;
    registrar.abort();
    if let Some(relay) = relay {
        relay.abort();
    }
    if let Err(e) = service::upgrade::forget_replica(&store, &replica).await {
        tracing::warn!(error = %e, "could not remove this replica from the replicas table");
    }
    sweeper.abort();
    catch_up.abort();
    recheck.abort();
    store.close().await;
    result.map_err(CommandError::Http)
}

/// Where routers and subnets come from (`topology`, ADR 0022).
fn topology(config: &Config) -> Result<Arc<dyn service::Topology>, CommandError> {
    Ok(match config.topology {
        config::TopologyKind::Standalone => Arc::new(service::Standalone),
        config::TopologyKind::Neutron => {
            let neutron = Arc::new(neutron::Neutron::from_config(config).map_err(CommandError::Neutron)?);
            tracing::info!(
                neutron.url = config.neutron_url.as_deref().unwrap_or("the Keystone catalog's network service"),
                cache_secs = config.neutron_cache_secs,
                "topology neutron: routers and subnets come from Neutron; the local inventory API is off"
            );
            Arc::new(service::NeutronTopology::new(neutron, Duration::from_secs(config.neutron_cache_secs)))
        }
    })
}

/// The start's warnings about clear text (ADR 0016): plain HTTP on an address others can
/// reach, pre-shared keys allowed over it, a Keystone reached over plain HTTP.
fn warn_about_plaintext(config: &Config, addr: std::net::SocketAddr, tls: bool) {
    if !tls && !addr.ip().is_loopback() {
        tracing::warn!(listen = %addr, "plain HTTP on a non-loopback address: set tls_cert_file and tls_key_file");
    }
    if config.allow_plaintext_secrets {
        tracing::warn!(
            "allow_plaintext_secrets is set: pre-shared keys may be handed to gateway agents over plain HTTP"
        );
    }
    if let Some(url) = config.keystone.url.as_deref().filter(|_| config.auth_strategy == AuthStrategy::Keystone) {
        let loopback = reqwest::Url::parse(url).is_ok_and(|u| vpnaas_keystone::outgoing::is_loopback_host(&u));
        if url.starts_with("http://") && !loopback {
            tracing::warn!(keystone = %url, "Keystone over plain HTTP: tokens and the service password cross the network in clear");
        }
    }
}
