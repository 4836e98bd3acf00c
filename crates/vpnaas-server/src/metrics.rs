//! The Prometheus series of `/metrics` (ADR 0015): one registry per server (no global state), the request counters the HTTP layer feeds, and the gauges set from a [`Snapshot`] at scrape time.
//!
//! Labels carry route templates, methods, statuses and fixed words only: never a project, an
//! id, a name or a secret.

use std::time::Duration;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::{Registry, Unit};
use vpnaas_core::algorithms::Status;

use crate::auth::keystone::KeystoneStats;
use crate::store::health::{PoolUse, StoreStats};

/// The content type of the OpenMetrics text `prometheus-client` writes (Prometheus reads it).
pub const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// The route label of a request no route matched (so that scanners cannot add series).
pub const UNMATCHED: &str = "unmatched";

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RequestLabels {
    route: String,
    method: &'static str,
    status: u16,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RouteLabels {
    route: String,
    method: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct StatusLabels {
    status: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct QuotaLabels {
    resource: &'static str,
    level: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct GatewayLabels {
    kind: &'static str,
    state: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct StateLabels {
    state: &'static str,
}

fn latency_histogram() -> Histogram {
    // 250 µs (a show) .. 30 s (a gateway's long poll).
    Histogram::new([
        0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
    ])
}

/// What the database and the hub say at scrape time.
pub struct Snapshot {
    /// Site connections by status; `None` when the database could not be read.
    pub connections: Option<Vec<(String, i64)>>,
    /// `[(alive, total)]` of single-router agents and of host agents.
    pub gateways: Option<[(i64, i64); 2]>,
    pub waiters: usize,
    pub pool: PoolUse,
    /// Projects near and at their limit, per counted resource; `None` when not read.
    pub quotas: Option<Vec<crate::service::quotas::Pressure>>,
    /// Connections using an algorithm the algorithm policy no longer allows; `None` when not read.
    pub not_allowed: Option<i64>,
    /// Notifications waiting in the outbox, and the age in seconds of the oldest; `None` when
    /// the server publishes none (or the database could not be read).
    pub outbox: Option<(i64, f64)>,
}

/// The registry and the series this server feeds.
pub struct Metrics {
    registry: Registry,
    requests: Family<RequestLabels, Counter>,
    latency: Family<RouteLabels, Histogram, fn() -> Histogram>,
    connections: Family<StatusLabels, Gauge>,
    gateways: Family<GatewayLabels, Gauge>,
    quotas: Family<QuotaLabels, Gauge>,
    not_allowed: Gauge,
    outbox: Gauge,
    outbox_age: Gauge<f64, std::sync::atomic::AtomicU64>,
    waiters: Gauge,
    pool: Family<StateLabels, Gauge>,
    pool_max: Gauge,
    database_up: Gauge,
}

impl Metrics {
    /// The series, with the store's and (in keystone mode) Keystone's own counters.
    pub fn new(store: &StoreStats, keystone: Option<&KeystoneStats>) -> Metrics {
        let mut m = Metrics {
            registry: Registry::with_prefix("vpnaas"),
            requests: Family::default(),
            latency: Family::new_with_constructor(latency_histogram),
            connections: Family::default(),
            gateways: Family::default(),
            quotas: Family::default(),
            not_allowed: Gauge::default(),
            outbox: Gauge::default(),
            outbox_age: Gauge::default(),
            waiters: Gauge::default(),
            pool: Family::default(),
            pool_max: Gauge::default(),
            database_up: Gauge::default(),
        };
        let r = &mut m.registry;
        r.register("http_requests", "HTTP requests answered, by route template, method and status", m.requests.clone());
        r.register_with_unit(
            "http_request_duration",
            "Time to answer an HTTP request, by route template and method",
            Unit::Seconds,
            m.latency.clone(),
        );
        r.register(
            "connections",
            "IPsec site connections by status (all projects, from the database)",
            m.connections.clone(),
        );
        r.register("gateways", "Gateway agents by kind (router, host) and state (alive, dead)", m.gateways.clone());
        r.register(
            "quota_projects",
            "Projects holding at least 80 % of a finite limit (level near) or all of it (level full), by resource; \
             no project is named",
            m.quotas.clone(),
        );
        r.register(
            "connections_algorithm_not_allowed",
            "IPsec site connections whose IKE or IPsec policy uses an algorithm the algorithm policy no longer \
             allows (all projects)",
            m.not_allowed.clone(),
        );
        r.register(
            "notification_backlog",
            "Notifications in the outbox not yet confirmed by the broker (all replicas; 0 without transport_url)",
            m.outbox.clone(),
        );
        r.register_with_unit(
            "notification_backlog_age",
            "Age of the oldest notification in the outbox",
            Unit::Seconds,
            m.outbox_age.clone(),
        );
        r.register("long_poll_waiters", "Gateway long polls waiting on this server", m.waiters.clone());
        r.register(
            "db_pool_connections",
            "This server's pooled database connections by state (idle, in_use)",
            m.pool.clone(),
        );
        r.register(
            "db_pool_max_connections",
            "The most pooled database connections this server opens",
            m.pool_max.clone(),
        );
        r.register_with_unit(
            "db_acquire",
            "Time to begin a database transaction, by kind (read, write: SQLite's one writer)",
            Unit::Seconds,
            store.acquire.clone(),
        );
        r.register(
            "db_commit_batch_writes",
            "Writes per SQLite group commit (one fsync each)",
            store.commit_batch.clone(),
        );
        r.register(
            "database_up",
            "Whether the scrape's database queries succeeded (1) or not (0)",
            m.database_up.clone(),
        );
        if let Some(k) = keystone {
            r.register("keystone_validations", "Tokens validated by Keystone, by outcome", k.validations.clone());
            r.register(
                "keystone_cache_hits",
                "Requests whose token was found in the validation cache",
                k.cache_hits.clone(),
            );
        }
        m
    }

    /// Counts one answered request; `route` is the matched route template, or [`UNMATCHED`].
    pub fn observe(&self, route: &str, method: &axum::http::Method, status: u16, took: Duration) {
        let method = method_label(method);
        self.requests.get_or_create(&RequestLabels { route: route.to_owned(), method, status }).inc();
        self.latency.get_or_create(&RouteLabels { route: route.to_owned(), method }).observe(took.as_secs_f64());
    }

    /// The exposition, with the gauges set from `now`.
    pub fn render(&self, now: &Snapshot) -> Result<String, std::fmt::Error> {
        match &now.connections {
            Some(counts) => {
                // Every status appears, zero included, so a graph does not lose a line.
                for status in Status::ALL {
                    let n = counts.iter().find(|(s, _)| s == status).map_or(0, |(_, n)| *n);
                    self.connections.get_or_create(&StatusLabels { status: (*status).to_owned() }).set(n);
                }
                for (status, n) in counts.iter().filter(|(s, _)| !Status::ALL.contains(&s.as_str())) {
                    self.connections.get_or_create(&StatusLabels { status: status.clone() }).set(*n);
                }
            }
            None => self.connections.clear(),
        }
        match &now.gateways {
            Some(counts) => {
                for ((alive, total), kind) in counts.iter().zip(["router", "host"]) {
                    self.gateways.get_or_create(&GatewayLabels { kind, state: "alive" }).set(*alive);
                    self.gateways.get_or_create(&GatewayLabels { kind, state: "dead" }).set(total - alive);
                }
            }
            None => self.gateways.clear(),
        }
        match &now.quotas {
            Some(pressure) => {
                for p in pressure {
                    let resource = p.what.key();
                    let count = |n: u64| i64::try_from(n).unwrap_or(i64::MAX);
                    self.quotas.get_or_create(&QuotaLabels { resource, level: "near" }).set(count(p.near));
                    self.quotas.get_or_create(&QuotaLabels { resource, level: "full" }).set(count(p.full));
                }
            }
            None => self.quotas.clear(),
        }
        self.not_allowed.set(now.not_allowed.unwrap_or(0));
        let (waiting, age) = now.outbox.unwrap_or((0, 0.0));
        self.outbox.set(waiting);
        self.outbox_age.set(age);
        self.database_up.set(i64::from(now.connections.is_some() && now.gateways.is_some()));
        self.waiters.set(i64::try_from(now.waiters).unwrap_or(i64::MAX));
        let in_use = now.pool.open.saturating_sub(now.pool.idle);
        self.pool.get_or_create(&StateLabels { state: "idle" }).set(i64::from(now.pool.idle));
        self.pool.get_or_create(&StateLabels { state: "in_use" }).set(i64::from(in_use));
        self.pool_max.set(i64::from(now.pool.max));
        let mut out = String::with_capacity(8192);
        prometheus_client::encoding::text::encode(&mut out, &self.registry)?;
        Ok(out)
    }
}

/// The method as a label: the ones the API answers, anything else as `other`.
fn method_label(method: &axum::http::Method) -> &'static str {
    use axum::http::Method;
    match *method {
        Method::GET => "GET",
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::DELETE => "DELETE",
        Method::HEAD => "HEAD",
        Method::PATCH => "PATCH",
        Method::OPTIONS => "OPTIONS",
        _ => "other",
    }
}
