//! Operating the server (ADR 0015): `/healthz`, `/readyz` and `/metrics`, outside project authentication, with nothing of any project in them.

use std::collections::BTreeMap;
use std::time::Duration;

use reqwest::Method;
use serde_json::json;
use vpnaas_server::config::{AuthStrategy, DatabaseUrl, KeystoneSettings, Secret};

use crate::gateway::{agent, TOKEN};
use crate::support::*;

/// One sample of the exposition: its name, labels and value.
#[derive(Debug, Clone)]
pub(crate) struct Sample {
    name: String,
    labels: BTreeMap<String, String>,
    value: f64,
}

/// The exposition, parsed strictly as OpenMetrics/Prometheus text: every line is a `#`
/// descriptor or `name{label="value",...} number`, and the text ends with `# EOF`.
fn parse(text: &str) -> Vec<Sample> {
    assert!(text.ends_with("# EOF\n"), "no # EOF at the end:\n{text}");
    let mut samples = Vec::new();
    for line in text.lines() {
        if let Some(rest) = line.strip_prefix("# ") {
            let word = rest.split_whitespace().next().unwrap_or("");
            assert!(["HELP", "TYPE", "UNIT", "EOF"].contains(&word), "unexpected comment line: {line}");
            continue;
        }
        let (series, value) = line.rsplit_once(' ').unwrap_or_else(|| panic!("no value: {line}"));
        let value: f64 = match value {
            "+Inf" => f64::INFINITY,
            v => v.parse().unwrap_or_else(|_| panic!("not a number in {line}")),
        };
        let (name, labels) = match series.split_once('{') {
            None => (series, BTreeMap::new()),
            Some((name, rest)) => {
                let body = rest.strip_suffix('}').unwrap_or_else(|| panic!("unclosed labels: {line}"));
                let mut labels = BTreeMap::new();
                // Label values here never hold a comma or an escaped quote.
                for pair in body.split(',').filter(|p| !p.is_empty()) {
                    let (k, v) = pair.split_once('=').unwrap_or_else(|| panic!("bad label {pair:?} in {line}"));
                    let v = v.strip_prefix('"').and_then(|v| v.strip_suffix('"')).expect("a quoted label value");
                    labels.insert(k.to_owned(), v.to_owned());
                }
                (name, labels)
            }
        };
        assert!(
            !name.is_empty() && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':'),
            "bad metric name in {line}"
        );
        samples.push(Sample { name: name.to_owned(), labels, value });
    }
    samples
}

/// The value of the sample `name` whose labels include `labels`, or 0 when there is none.
pub(crate) fn value(samples: &[Sample], name: &str, labels: &[(&str, &str)]) -> f64 {
    samples
        .iter()
        .filter(|s| s.name == name && labels.iter().all(|(k, v)| s.labels.get(*k).map(String::as_str) == Some(*v)))
        .map(|s| s.value)
        .sum()
}

pub(crate) async fn scrape(app: &App) -> (String, Vec<Sample>) {
    let r = app.raw(Method::GET, "/metrics").send().await.unwrap();
    assert_eq!(r.status(), 200);
    let kind = r.headers()["content-type"].to_str().unwrap().to_owned();
    assert!(kind.starts_with("application/openmetrics-text"), "{kind}");
    let text = r.text().await.unwrap();
    let samples = parse(&text);
    (text, samples)
}

fn is_sqlite() -> bool {
    std::env::var("VPNAAS_TEST_BACKEND").map_or(true, |b| b.is_empty() || b == "sqlite")
}

#[tokio::test]
async fn healthz_says_ok_to_anyone() {
    let app = spawn_app().await;
    let r = app.get("/healthz", NOBODY).await;
    assert_eq!(r.ok(200), &json!({"status": "ok"}));
}

#[tokio::test]
async fn readyz_is_ready_when_the_database_answers_and_its_schema_is_current() {
    let app = spawn_app().await;
    let r = app.get("/readyz", NOBODY).await;
    let mut checks = json!({"database": "ok", "migrations": "ok"});
    if mariadb_pass() {
        // On MariaDB, whether its node is a Galera node able to serve (ADR 0030): plain MariaDB is.
        checks["cluster"] = json!("ok");
    }
    assert_eq!(r.ok(200), &json!({"status": "ready", "checks": checks}));
}

#[tokio::test]
async fn readyz_names_the_database_when_it_is_gone_while_healthz_stays_up() {
    let Some(admin) = postgres_only("readyz_names_the_database_when_it_is_gone_while_healthz_stays_up") else {
        return;
    };
    let url = fresh_postgres().await.unwrap();
    let app = spawn_app_with(|c| {
        c.database_url = Some(DatabaseUrl(url.clone()));
        c.psk_key_file = Some(shared_key_file());
        c.database_timeout_secs = 1;
    })
    .await;
    app.get("/readyz", NOBODY).await.ok(200);
    // The database goes away under the running server.
    use sqlx::Connection;
    let mut conn = sqlx::AnyConnection::connect(&admin).await.unwrap();
    let name = url.rsplit('/').next().unwrap();
    sqlx::query(&format!("DROP DATABASE {name} WITH (FORCE)")).execute(&mut conn).await.unwrap();
    let started = std::time::Instant::now();
    let r = app.get("/readyz", NOBODY).await;
    assert_eq!(r.status, 503, "{:#}", r.body);
    assert_eq!(r.body["status"], "not ready");
    assert_eq!(r.body["failed"][0], "database", "{:#}", r.body);
    assert_eq!(r.body["checks"]["database"], "the database cannot be reached");
    assert!(!r.body.to_string().contains(name), "no internals: {}", r.body);
    assert!(started.elapsed() < Duration::from_secs(10), "{:?}", started.elapsed());
    assert_eq!(app.get("/healthz", NOBODY).await.ok(200), &json!({"status": "ok"}));
    // The scrape still answers, saying the database is not up.
    let (_, samples) = scrape(&app).await;
    assert_eq!(value(&samples, "vpnaas_database_up", &[]), 0.0);
}

#[tokio::test]
async fn metrics_count_requests_by_route_template_and_show_nothing_of_any_project() {
    let app = spawn_app_with(|c| c.agent_token = Some(Secret(TOKEN.into()))).await;
    let project = format!("prj{}", uuid::Uuid::new_v4().simple());
    let psk = format!("psk-{}", uuid::Uuid::new_v4().simple());
    let (_, before) = scrape(&app).await;
    let connections = |s: &[Sample]| value(s, "vpnaas_connections", &[]);
    assert_eq!(connections(&before), 0.0);
    assert_eq!(value(&before, "vpnaas_connections", &[("status", "ACTIVE")]), 0.0);
    assert!(before.iter().any(|s| s.name == "vpnaas_connections" && s.labels["status"] == "ACTIVE"), "zeros show");

    let site = Site::new(&app, &project).await;
    let body = with(site.connection(), json!({"psk": psk}));
    let conn = app.create(CONNS, &project, body).await;
    let body = with(site.connection(), json!({"psk": psk, "peer_address": "172.24.4.234", "peer_id": "172.24.4.234"}));
    let other = app.create(CONNS, &project, body).await;
    let show = format!("{CONNS}/{conn}");
    // Each show's wait for its read transaction is recorded (SQLite's readers too): the
    // reads between two scrapes are the shows plus what a scrape itself reads.
    let reads = |s: &[Sample]| value(s, "vpnaas_db_acquire_seconds_count", &[("kind", "read")]);
    let (_, first) = scrape(&app).await;
    for _ in 0..3 {
        app.get(&show, &project).await.ok(200);
    }
    let (_, second) = scrape(&app).await;
    let (_, third) = scrape(&app).await;
    let scrape_reads = reads(&third) - reads(&second);
    assert_eq!(reads(&second) - reads(&first) - scrape_reads, 3.0, "three shows, three reads");
    app.get(&format!("/nothing/here/{conn}"), &project).await;
    // A gateway reports one connection ACTIVE through the host API.
    let host = format!("net-{}", uuid::Uuid::new_v4().simple());
    app.put(&format!("/v2.0/routers/{}", site.topo.router), ADMIN, json!({"router": {"binding:host_id": host}}))
        .await
        .ok(200);
    let hello = json!({"host": host, "version": "test"});
    agent(&app, Method::PUT, &format!("/v2.0/gateway/hosts/{host}/agent"), Some(hello)).await.ok(200);
    let report = json!({"routers": [{"router_id": site.topo.router, "connections": [{"id": conn, "revision": 1, "status": "ACTIVE"}]}]});
    let r = agent(&app, Method::POST, &format!("/v2.0/gateway/hosts/{host}/status"), Some(report)).await;
    assert_eq!(r.status, 204);
    // Heartbeats reach the database within a second.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    // A long poll waits while the scrape runs.
    let cursor = agent(&app, Method::GET, &format!("/v2.0/gateway/hosts/{host}/state"), None).await.ok(200)["cursor"]
        .as_i64()
        .unwrap();
    let poll = format!("/v2.0/gateway/hosts/{host}/state?cursor={cursor}&wait=3");
    let (_, (text, after)) = tokio::join!(agent(&app, Method::GET, &poll, None), async {
        tokio::time::sleep(Duration::from_millis(500)).await;
        scrape(&app).await
    });

    let template = "/v2.0/vpn/ipsec-site-connections/{id}";
    let shows = [("route", template), ("method", "GET"), ("status", "200")];
    assert_eq!(value(&after, "vpnaas_http_requests_total", &shows), 3.0, "{text}");
    let creates = [("route", "/v2.0/vpn/ipsec-site-connections"), ("method", "POST"), ("status", "201")];
    assert_eq!(value(&after, "vpnaas_http_requests_total", &creates), 2.0, "{text}");
    let timed = [("route", template), ("method", "GET")];
    assert_eq!(value(&after, "vpnaas_http_request_duration_seconds_count", &timed), 3.0, "{text}");
    let unmatched = [("route", "unmatched"), ("status", "404")];
    assert_eq!(value(&after, "vpnaas_http_requests_total", &unmatched), 1.0, "{text}");
    assert_eq!(value(&after, "vpnaas_http_requests_total", &[("route", "/metrics")]), 4.0, "{text}");
    // Connections by status: the two creates, one of them reported ACTIVE since.
    assert_eq!(connections(&after), 2.0, "{text}");
    assert_eq!(value(&after, "vpnaas_connections", &[("status", "ACTIVE")]), 1.0, "{text}");
    assert_eq!(value(&after, "vpnaas_connections", &[("status", "PENDING_CREATE")]), 1.0, "{text}");
    assert_eq!(value(&after, "vpnaas_gateways", &[("kind", "host"), ("state", "alive")]), 1.0, "{text}");
    assert_eq!(value(&after, "vpnaas_gateways", &[("kind", "host"), ("state", "dead")]), 0.0, "{text}");
    assert_eq!(value(&after, "vpnaas_long_poll_waiters", &[]), 1.0, "{text}");
    assert_eq!(value(&after, "vpnaas_database_up", &[]), 1.0, "{text}");
    assert!(value(&after, "vpnaas_db_pool_max_connections", &[]) >= 1.0, "{text}");
    assert!(value(&after, "vpnaas_db_acquire_seconds_count", &[("kind", "write")]) >= 2.0, "{text}");
    if is_sqlite() {
        assert!(value(&after, "vpnaas_db_commit_batch_writes_count", &[]) >= 2.0, "{text}");
    }
    // Nothing of the project: not its id, no object's id, no key, no host name.
    let mut secret = vec![project.clone(), psk.clone(), conn.clone(), other.clone(), host.clone()];
    secret.extend([site.ike.clone(), site.ipsec.clone(), site.service.clone(), site.local.clone(), site.peer.clone()]);
    secret.extend([site.topo.router.clone(), site.topo.subnet4.clone()]);
    for s in &secret {
        assert!(!text.contains(s.as_str()), "the exposition shows {s}:\n{text}");
    }
}

#[tokio::test]
async fn a_metrics_token_guards_the_scrape_and_not_the_health_probes() {
    let app = spawn_app_with(|c| c.metrics_token = Some(Secret("scrape-token-0123456789".into()))).await;
    let r = app.get("/metrics", NOBODY).await;
    r.refused(401, "NotAuthenticated", "");
    // The challenge names the scheme the token goes in: a Bearer token, not Keystone's header.
    assert_eq!(r.headers["www-authenticate"], "Bearer realm=\"vpnaas metrics\"");
    let wrong = app.raw(Method::GET, "/metrics").header("Authorization", "Bearer scrape-token-9876543210");
    app.send(wrong).await.refused(401, "NotAuthenticated", "");
    let right = app.raw(Method::GET, "/metrics").header("Authorization", "Bearer scrape-token-0123456789");
    let r = right.send().await.unwrap();
    assert_eq!(r.status(), 200);
    parse(&r.text().await.unwrap());
    app.get("/healthz", NOBODY).await.ok(200);
    app.get("/readyz", NOBODY).await.ok(200);
}

#[tokio::test]
async fn keystone_mode_serves_health_and_metrics_without_a_token_and_counts_validations() {
    let (url, _) = crate::auth::fake_keystone(60, false).await;
    let app = spawn_app_with(|c| {
        c.auth_strategy = AuthStrategy::Keystone;
        c.keystone = KeystoneSettings {
            url: Some(url),
            username: "vpnaas".into(),
            password: Secret("whatever".into()),
            timeout_secs: 2,
            ..KeystoneSettings::default()
        };
    })
    .await;
    // The API itself wants a token.
    app.get(IKE, NOBODY).await.refused(401, "NotAuthenticated", "");
    assert_eq!(app.get("/healthz", NOBODY).await.ok(200), &json!({"status": "ok"}));
    let r = app.get("/readyz", NOBODY).await;
    assert_eq!(r.ok(200)["checks"]["keystone"], "ok");
    for token in ["good-1", "good-1", "good-1", "bad-1"] {
        app.send(app.raw(Method::GET, IKE).header("X-Auth-Token", token)).await;
    }
    let (text, samples) = scrape(&app).await;
    assert_eq!(value(&samples, "vpnaas_keystone_validations_total", &[("outcome", "valid")]), 1.0, "{text}");
    assert_eq!(value(&samples, "vpnaas_keystone_validations_total", &[("outcome", "refused")]), 1.0, "{text}");
    assert_eq!(value(&samples, "vpnaas_keystone_cache_hits_total", &[]), 2.0, "{text}");
    assert!(!text.contains("good-1") && !text.contains("bad-1"), "{text}");
}

#[tokio::test]
async fn readyz_names_keystone_when_it_cannot_be_reached() {
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", closed.local_addr().unwrap());
    drop(closed);
    let app = spawn_app_with(|c| {
        c.auth_strategy = AuthStrategy::Keystone;
        c.keystone = KeystoneSettings {
            url: Some(url.clone()),
            username: "vpnaas".into(),
            password: Secret("whatever".into()),
            timeout_secs: 1,
            ..KeystoneSettings::default()
        };
    })
    .await;
    let r = app.get("/readyz", NOBODY).await;
    assert_eq!(r.status, 503, "{:#}", r.body);
    assert_eq!(r.body["failed"], json!(["keystone"]), "{:#}", r.body);
    assert_eq!(r.body["checks"]["database"], "ok");
    assert!(!r.body.to_string().contains(&url), "{}", r.body);
    assert_eq!(app.get("/healthz", NOBODY).await.ok(200), &json!({"status": "ok"}));
    let (_, samples) = scrape(&app).await;
    assert_eq!(value(&samples, "vpnaas_database_up", &[]), 1.0);
}
