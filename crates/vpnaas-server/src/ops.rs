//! Operating a server (ADR 0015): the readiness checks (database, schema, Keystone) and the metrics scrape's snapshot, for `/readyz` and `/metrics`.

use std::sync::Arc;

use serde::Serialize;

use crate::auth::Auth;
use crate::clock::now_micros;
use crate::config::{Config, Secret};
use crate::metrics::{Metrics, Snapshot};
use crate::service::Service;
use crate::store::Store;

/// What `/readyz`, `/metrics` and the request counters need.
pub struct Ops {
    pub metrics: Metrics,
    store: Store,
    service: Service,
    auth: Arc<Auth>,
    /// Microseconds without a heartbeat before a gateway counts as dead.
    dead_after: i64,
    /// The credential a scrape presents, if one is configured.
    metrics_token: Option<Secret>,
}

/// One readiness check: `ok`, or why not in words that name nothing internal.
#[derive(Debug, Clone, Serialize)]
pub struct Check {
    pub name: &'static str,
    pub ok: bool,
    pub detail: String,
}

impl Ops {
    pub fn new(store: Store, service: Service, auth: Arc<Auth>, config: &Config) -> Ops {
        let metrics = Metrics::new(store.stats(), auth.keystone().map(|k| &k.stats));
        let dead_after = i64::try_from(config.agent_dead_after_secs.saturating_mul(1_000_000)).unwrap_or(i64::MAX);
        Ops { metrics, store, service, auth, dead_after, metrics_token: config.metrics_token.clone() }
    }

    /// Whether a scrape with this `Authorization` header may read the metrics.
    pub fn may_scrape(&self, authorization: Option<&str>) -> bool {
        match &self.metrics_token {
            None => true,
            Some(token) => authorization
                .and_then(|v| v.strip_prefix("Bearer "))
                .is_some_and(|offered| token.matches(offered.trim())),
        }
    }

    /// The readiness checks, in order: the database answers `SELECT 1`, its schema is the
    /// one this server expects, and (keystone mode) Keystone answers. Causes are logged.
    pub async fn readiness(&self) -> Vec<Check> {
        let mut checks = Vec::with_capacity(3);
        let reached = match self.store.ping().await {
            Ok(()) => true,
            Err(e) => {
                tracing::warn!(error = %e, "readiness: the database cannot be reached");
                false
            }
        };
        checks.push(check("database", reached, "the database cannot be reached"));
        if reached {
            let detail = match self.store.schema_versions().await {
                Ok((at, needed)) if at >= needed => None,
                Ok((at, needed)) => Some(format!("the database schema is at version {at}; this server needs {needed}")),
                Err(e) => {
                    tracing::warn!(error = %e, "readiness: the schema version cannot be read");
                    Some("the schema version cannot be read".to_owned())
                }
            };
            checks.push(Check { name: "migrations", ok: detail.is_none(), detail: detail.unwrap_or_else(ok) });
            // A Galera node out of the primary component, or not synced, must not take
            // requests: a balancer moves them to a replica on a node that is (ADR 0030).
            let trouble = match self.store.cluster_trouble().await {
                Ok(trouble) => trouble,
                Err(e) => {
                    tracing::warn!(error = %e, "readiness: the cluster state cannot be read");
                    Some("the cluster state cannot be read".to_owned())
                }
            };
            if self.store.backend() == crate::store::Backend::Mariadb {
                checks.push(Check { name: "cluster", ok: trouble.is_none(), detail: trouble.unwrap_or_else(ok) });
            }
        } else {
            checks.push(Check { name: "migrations", ok: false, detail: "not checked: no database".to_owned() });
        }
        if let Some(keystone) = self.auth.keystone() {
            checks.push(check("keystone", keystone.reachable().await, "Keystone cannot be reached"));
        }
        checks
    }

    /// The exposition: the request counters, and the gauges read now.
    pub async fn scrape(&self) -> Result<String, std::fmt::Error> {
        let connections = self.store.connections_by_status().await;
        // A database that does not answer is asked once, not twice (each ask may wait
        // `database_timeout_secs`).
        let gateways = match &connections {
            Ok(_) => self.store.gateways_alive(now_micros() - self.dead_after).await,
            Err(_) => Err(crate::store::StoreError::Unavailable("not asked".into())),
        };
        if let Err(e) = connections.as_ref().map(|_| ()).and(gateways.as_ref().map(|_| ())) {
            tracing::warn!(error = %e, "metrics: the database could not be read");
        }
        let quotas = match &connections {
            Ok(_) => match self.service.quota_pressure().await {
                Ok(p) => Some(p),
                Err(e) => {
                    tracing::warn!(error = %e, "metrics: the quotas could not be read");
                    None
                }
            },
            Err(_) => None,
        };
        let not_allowed = match &connections {
            Ok(_) => self.service.connections_not_allowed().await.map_err(|e| {
                tracing::warn!(error = %e, "metrics: the algorithm policy's count could not be read");
            }),
            Err(_) => Err(()),
        };
        let outbox = match (&connections, self.service.publisher()) {
            (Ok(_), Some(_)) => match self.store.outbox_backlog().await {
                Ok((n, oldest)) => {
                    let age = oldest.map_or(0.0, |t| (now_micros() - t).max(0) as f64 / 1e6);
                    Some((n, age))
                }
                Err(e) => {
                    tracing::warn!(error = %e, "metrics: the notification outbox could not be read");
                    None
                }
            },
            _ => None,
        };
        let now = Snapshot {
            outbox,
            quotas,
            not_allowed: not_allowed.ok(),
            connections: connections.ok(),
            gateways: gateways.ok(),
            waiters: self.service.hub().waiters(),
            pool: self.store.pool_use(),
        };
        self.metrics.render(&now)
    }
}

fn ok() -> String {
    "ok".to_owned()
}

fn check(name: &'static str, passed: bool, why: &str) -> Check {
    Check { name, ok: passed, detail: if passed { ok() } else { why.to_owned() } }
}
