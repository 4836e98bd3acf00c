//! vpnaas-server: the Neutron VPNaaS v2.0 API over an embedded SQLite database.

pub mod api;
pub mod auth;
pub mod clock;
pub mod config;
pub mod error;
pub mod service;
pub mod store;

use std::future::Future;
use std::sync::Arc;

use tokio::net::TcpListener;

use crate::api::AppState;
use crate::config::Config;
use crate::service::Service;
use crate::store::Store;

/// Opens the configured database, creating its directory, and brings its schema up to date.
pub async fn open_store(config: &Config) -> Result<Store, String> {
    std::fs::create_dir_all(&config.data_dir)
        .map_err(|e| format!("cannot create data directory {}: {e}", config.data_dir.display()))?;
    let path = config.database_path();
    let store = Store::open_sqlite(&path).await.map_err(|e| format!("cannot open {}: {e}", path.display()))?;
    store.migrate().await.map_err(|e| format!("cannot migrate {}: {e}", path.display()))?;
    Ok(store)
}

/// Serves the API on `listener` until `shutdown` completes.
pub async fn serve(
    config: Config,
    listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), String> {
    let store = open_store(&config).await?;
    let addr = listener.local_addr().map_err(|e| e.to_string())?;
    if !addr.ip().is_loopback() {
        // DECISIONS D8: identity headers are trusted; only loopback or a trusted proxy may send them.
        tracing::warn!(listen = %addr, "noauth mode on a non-loopback address: anyone who can reach it can act as any project");
    }
    tracing::info!(
        listen = %addr,
        database = %config.database_path().display(),
        backend = store.backend(),
        profile = config.profile.name,
        "vpnaas listening on http://{addr} with data in {}, profile {}",
        config.data_dir.display(),
        config.profile.name
    );
    let state = AppState { service: Service::new(store.clone(), config.profile), config: Arc::new(config) };
    let app = api::router(state);
    let result = axum::serve(listener, app).with_graceful_shutdown(shutdown).await.map_err(|e| e.to_string());
    store.close().await;
    result
}
