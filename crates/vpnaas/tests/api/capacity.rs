//! Gateways and tenants never compete (ADR 0023): waiting gateways hold seats of their own
//! budget, API clients keep theirs; a full budget is a 503 that says busy; the INFO log holds
//! what changed, not the gateways' traffic.

use std::io::Read;
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use reqwest::Method;
use serde_json::{json, Value};
use vpnaas_server::config::Secret;

use crate::gateway::TOKEN;
use crate::support::*;

/// A server with small budgets, and a router with one connection whose state is known.
async fn app_with(tenants: usize, gateways: usize) -> (App, String, String) {
    let app = spawn_app_with(|c| {
        c.agent_token = Some(Secret(TOKEN.into()));
        c.http_max_connections = tenants;
        c.http_max_gateway_connections = gateways;
    })
    .await;
    let site = Site::new(&app, P1).await;
    app.post(CONNS, P1, site.connection()).await.ok(201);
    let router = site.topo.router.clone();
    // On a connection that closes after it: no seat stays taken by the test's own client.
    let client = reqwest::Client::builder().pool_max_idle_per_host(0).build().unwrap();
    let url = format!("{}/v2.0/gateway/routers/{router}/state", app.base);
    let state: Value =
        client.get(url).header("Authorization", format!("Bearer {TOKEN}")).send().await.unwrap().json().await.unwrap();
    let version = state["version"].as_str().unwrap().to_owned();
    tokio::time::sleep(Duration::from_millis(200)).await;
    (app, router, version)
}

/// A long poll on a connection of its own: the status, the `Retry-After` and the body.
async fn long_poll(base: String, router: String, version: String) -> (u16, Option<String>, Value) {
    let client = reqwest::Client::builder().pool_max_idle_per_host(0).build().unwrap();
    let url = format!("{base}/v2.0/gateway/routers/{router}/state?known={version}&wait=30");
    let resp = client.get(url).header("Authorization", format!("Bearer {TOKEN}")).send().await.unwrap();
    let status = resp.status().as_u16();
    let retry = resp.headers().get("retry-after").and_then(|v| v.to_str().ok()).map(str::to_owned);
    (status, retry, resp.json().await.unwrap_or(Value::Null))
}

/// A tenant's GET on a new connection, and how long it took.
async fn tenant_get(base: String) -> (u16, Duration) {
    let client = reqwest::Client::builder().pool_max_idle_per_host(0).build().unwrap();
    let started = Instant::now();
    let resp = client
        .get(format!("{base}{IKE}"))
        .header("X-Project-Id", P1)
        .timeout(Duration::from_secs(10))
        .send()
        .await
        .unwrap();
    (resp.status().as_u16(), started.elapsed())
}

#[tokio::test]
async fn waiting_gateways_never_take_an_api_clients_connection() {
    // Five times as many waiting gateways as API clients may hold connections.
    let (app, router, version) = app_with(8, 1024).await;
    let polls: Vec<_> =
        (0..40).map(|_| tokio::spawn(long_poll(app.base.clone(), router.clone(), version.clone()))).collect();
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(polls.iter().all(|p| !p.is_finished()), "every long poll waits; none was refused");
    // Six API clients at once, each on a new connection (the set-up's client keeps one
    // more open): all served, quickly.
    let gets: Vec<_> = (0..6).map(|_| tenant_get(app.base.clone())).collect();
    for (status, took) in futures_join(gets).await {
        assert_eq!(status, 200, "an API client was refused while gateways waited");
        assert!(took < Duration::from_secs(2), "{took:?}");
    }
    for p in &polls {
        p.abort();
    }
}

#[tokio::test]
async fn over_the_gateway_budget_polls_get_a_busy_503_and_api_clients_still_get_in() {
    let (app, router, version) = app_with(64, 4).await;
    let polls: Vec<_> =
        (0..10).map(|_| tokio::spawn(long_poll(app.base.clone(), router.clone(), version.clone()))).collect();
    tokio::time::sleep(Duration::from_millis(500)).await;
    let refused = polls.iter().filter(|p| p.is_finished()).count();
    assert_eq!(refused, 6, "four seats, ten polls: six refused at once");
    let (status, _) = tenant_get(app.base.clone()).await;
    assert_eq!(status, 200);
    for p in polls {
        if p.is_finished() {
            let (status, retry, body) = p.await.unwrap();
            assert_eq!(status, 503);
            assert_eq!(retry.as_deref(), Some("1"));
            assert_eq!(body["NeutronError"]["type"], "ServiceUnavailable");
            let message = body["NeutronError"]["message"].as_str().unwrap();
            assert!(message.contains("busy") && !message.contains("database"), "{message}");
        } else {
            p.abort();
        }
    }
}

/// Runs `futures` concurrently and returns their outputs in order.
async fn futures_join<F: std::future::Future<Output = T> + Send + 'static, T: Send + 'static>(
    futures: Vec<F>,
) -> Vec<T> {
    let tasks: Vec<_> = futures.into_iter().map(tokio::spawn).collect();
    let mut out = Vec::new();
    for t in tasks {
        out.push(t.await.unwrap());
    }
    out
}

/// The real binary at the default log level (no `VPNAAS_LOG`), its whole log kept.
struct Logged {
    process: Process,
    log: Arc<Mutex<String>>,
}

impl Logged {
    fn start(envs: &[(&str, &str)]) -> Logged {
        let data = std::env::temp_dir().join(format!("vpnaas-capacity-{}", uuid::Uuid::new_v4()));
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_vpnaas"));
        cmd.args(["serve", "--listen", "127.0.0.1:0"]).env_remove("VPNAAS_LOG");
        cmd.env("VPNAAS_DATA_DIR", &data).env("VPNAAS_DATABASE_URL", "").env("VPNAAS_PSK_KEY_FILE", shared_key_file());
        cmd.envs(envs.iter().copied());
        let mut child = cmd.stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().expect("spawn vpnaas");
        let log = Arc::new(Mutex::new(String::new()));
        let (tx, rx) = std::sync::mpsc::channel::<String>();
        // Both streams into one log: whichever the server writes to is read.
        for stream in [
            child.stdout.take().map(|s| Box::new(s) as Box<dyn Read + Send>),
            child.stderr.take().map(|s| Box::new(s) as Box<dyn Read + Send>),
        ]
        .into_iter()
        .flatten()
        {
            let (kept, tx) = (log.clone(), tx.clone());
            std::thread::spawn(move || {
                let mut stream = stream;
                let mut buf = [0u8; 8192];
                while let Ok(n) = stream.read(&mut buf) {
                    if n == 0 {
                        break;
                    }
                    let mut text = kept.lock().unwrap();
                    text.push_str(&String::from_utf8_lossy(&buf[..n]));
                    if let Some(line) = text.lines().find(|l| l.contains("listening on")) {
                        let _ = tx.send(line.to_owned());
                    }
                }
            });
        }
        let line = rx.recv_timeout(Duration::from_secs(30)).expect("the server starts");
        Logged { process: Process::from_child(child, &line), log }
    }

    fn log(&self) -> String {
        self.log.lock().unwrap().clone()
    }
}

#[tokio::test]
async fn at_info_the_log_holds_joins_deaths_placements_and_status_changes_not_gateway_traffic() {
    let server = Logged::start(&[
        ("VPNAAS_AGENT_TOKEN", TOKEN),
        ("VPNAAS_AGENT_HEARTBEAT_SECS", "1"),
        ("VPNAAS_AGENT_DEAD_AFTER_SECS", "2"),
    ]);
    let p = &server.process;
    let body = process_site(p).await;
    let conn = p.call(Method::POST, CONNS, P1, Some(body.clone()), None).await;
    let conn_id = conn.id();
    let service = body["ipsec_site_connection"]["vpnservice_id"].as_str().unwrap().to_owned();
    let router = p.call(Method::GET, &format!("{SERVICES}/{service}"), P1, None, None).await.ok(200)["vpnservice"]
        ["router_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let agent = |method: Method, path: String, body: Option<Value>| {
        let mut req = p.raw(method, &path).header("Authorization", format!("Bearer {TOKEN}"));
        if let Some(b) = body {
            req = req.header("content-type", "application/json").body(b.to_string());
        }
        send(req)
    };
    let base = format!("/v2.0/gateway/routers/{router}");
    let hello = json!({"host": "gw-1", "version": "test"});
    let report = |status: &str| json!({"connections": [{"id": conn_id, "revision": 0, "status": status}]});
    // A gateway's usual traffic: heartbeats, polls, the same report again and again.
    let mut revision = 0;
    for _ in 0..3 {
        agent(Method::PUT, format!("{base}/agent"), Some(hello.clone())).await.ok(200);
        let state = agent(Method::GET, format!("{base}/state"), None).await;
        revision = state.ok(200)["connections"][0]["revision"].as_i64().unwrap();
    }
    let report = |status: &str| {
        let mut r = report(status);
        r["connections"][0]["revision"] = json!(revision);
        r
    };
    for status in ["ACTIVE", "ACTIVE", "ACTIVE", "DOWN", "DOWN"] {
        agent(Method::POST, format!("{base}/status"), Some(report(status))).await.ok(204);
    }
    p.call(
        Method::PUT,
        &format!("/v2.0/routers/{router}"),
        ADMIN,
        Some(json!({"router": {"binding:host_id": "net-1"}})),
        None,
    )
    .await
    .ok(200);
    // Silence: the server declares the agent dead within a few seconds.
    let deadline = Instant::now() + Duration::from_secs(15);
    while !server.log().contains("gateway agent declared dead") {
        assert!(Instant::now() < deadline, "never declared dead:\n{}", server.log());
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let log = server.log();
    let count = |needle: &str| log.lines().filter(|l| l.contains(needle)).count();
    assert_eq!(count("/v2.0/gateway/"), 0, "no gateway request at INFO:\n{log}");
    assert_eq!(count("gateway agent joined"), 1, "{log}");
    assert_eq!(count("gateway agent declared dead"), 1, "{log}");
    assert_eq!(count("connection status changed"), 2, "{log}");
    assert_eq!(count("connection status changed: PENDING_CREATE -> ACTIVE"), 1, "{log}");
    assert_eq!(count("connection status changed: ACTIVE -> DOWN"), 1, "{log}");
    assert_eq!(count("router placement changed: none -> net-1"), 1, "{log}");
    // API clients' requests stay at INFO.
    assert!(count("/v2.0/vpn/ipsec-site-connections") >= 1, "{log}");
}
