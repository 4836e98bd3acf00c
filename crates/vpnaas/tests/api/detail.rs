//! Tunnel detail (ADR 0018) driven by a scripted agent: the `tunnel` attribute, the events endpoint and its isolation and bound, the admins' gateway list, and `vpnaas status` against the live server.

use reqwest::Method;
use serde_json::{json, Value};

use crate::gateway::{agent, TOKEN};
use crate::support::*;

async fn app() -> App {
    spawn_app_with(|c| {
        c.agent_token = Some(vpnaas_server::config::Secret(TOKEN.into()));
        c.agent_dead_after_secs = 30;
    })
    .await
}

/// A status report about one connection, with a reason and events.
async fn report(app: &App, router: &str, conn: &str, status: &str, code: Option<&str>, events: Value) -> Resp {
    let mut entry = json!({"id": conn, "revision": 1, "status": status, "events": events,
        "counters": {"bytes_in": 1000, "bytes_out": 2000, "packets_in": 10, "packets_out": 20}});
    if let Some(code) = code {
        entry["code"] = json!(code);
    }
    let body = json!({"connections": [entry]});
    agent(app, Method::POST, &format!("/v2.0/gateway/routers/{router}/status"), Some(body)).await
}

fn event(seq: u64, reason: Option<&str>, message: &str) -> Value {
    json!({"seq": seq, "at": 1_790_000_000_000_000i64 + seq as i64, "kind": "log", "reason": reason, "message": message})
}

fn tunnel(r: &Resp) -> Value {
    r.ok(200)["ipsec_site_connection"]["tunnel"].clone()
}

#[tokio::test]
async fn a_reported_reason_shows_in_the_tunnel_attribute_with_its_sentence_until_the_tunnel_is_up() {
    let app = app().await;
    let site = Site::new(&app, P1).await;
    let conn = app.create(CONNS, P1, site.connection()).await;
    let path = format!("{CONNS}/{conn}");
    let before = tunnel(&app.get(&path, P1).await);
    assert_eq!(before["reported_at"], Value::Null, "no gateway has reported yet: {before:#}");
    assert_eq!(before["reason"], Value::Null);
    assert!(before["status_since"].is_string());

    // Times are rendered to the second: let one pass between the steps compared.
    let second = || tokio::time::sleep(std::time::Duration::from_millis(1100));
    second().await;
    let line = "tried 1 shared key for '172.24.4.10' - '172.24.4.233', but MAC mismatched";
    report(&app, &site.topo.router, &conn, "DOWN", Some("auth_failed"), json!([event(1, Some("auth_failed"), line)]))
        .await
        .ok(204);
    let down = app.get(&path, P1).await;
    let t = tunnel(&down);
    assert_eq!(down.body["ipsec_site_connection"]["status"], "DOWN");
    assert_eq!(t["reason"], "auth_failed");
    assert!(t["reason_description"].as_str().unwrap().contains("pre-shared keys"), "{t:#}");
    assert!(t["reported_at"].is_string());
    assert_eq!((t["bytes_in"].as_u64(), t["packets_out"].as_u64()), (Some(1000), Some(20)));
    let since = t["status_since"].clone();
    assert_ne!(since, before["status_since"], "DOWN since the report");
    // The same status again: same `since`, later `reported_at`.
    second().await;
    report(&app, &site.topo.router, &conn, "DOWN", Some("auth_failed"), json!([])).await.ok(204);
    let again = tunnel(&app.get(&path, P1).await);
    assert_eq!(again["status_since"], since);
    assert_ne!(again["reported_at"], t["reported_at"]);
    // Lists carry it, and `fields=` selects it.
    let listed = app.get(&format!("{CONNS}?fields=id&fields=tunnel"), P1).await;
    assert_eq!(listed.ok(200)["ipsec_site_connections"][0]["tunnel"]["reason"], "auth_failed");
    assert_eq!(listed.body["ipsec_site_connections"][0].as_object().unwrap().len(), 2);

    // Up: no reason, whatever an agent says.
    report(&app, &site.topo.router, &conn, "ACTIVE", Some("auth_failed"), json!([])).await.ok(204);
    let up = tunnel(&app.get(&path, P1).await);
    assert_eq!((up["reason"].clone(), up["reason_description"].clone()), (Value::Null, Value::Null));
    assert_ne!(up["status_since"], since);

    // A reason this server does not know reads as unknown; an update starts a pending status.
    report(&app, &site.topo.router, &conn, "DOWN", Some("cosmic_rays"), json!([])).await.ok(204);
    assert_eq!(tunnel(&app.get(&path, P1).await)["reason"], "unknown");
    app.put(&path, P1, json!({"ipsec_site_connection": {"mtu": 1400}})).await.ok(200);
    let pending = app.get(&path, P1).await;
    assert_eq!(pending.ok(200)["ipsec_site_connection"]["status"], "PENDING_UPDATE");
    assert_eq!(tunnel(&pending)["reason"], Value::Null);
    assert_eq!(
        tunnel(&pending)["status_since"],
        pending.body["ipsec_site_connection"]["updated_at"],
        "pending since the update"
    );
}

#[tokio::test]
async fn events_are_the_owners_and_admins_only_oldest_first_and_at_most_fifty() {
    let app = app().await;
    let site = Site::new(&app, P1).await;
    let conn = app.create(CONNS, P1, site.connection()).await;
    let events_path = format!("{CONNS}/{conn}/events");
    let first: Vec<Value> = (1..=3).map(|n| event(n, None, &format!("initiating IKE_SA {n}"))).collect();
    report(&app, &site.topo.router, &conn, "DOWN", Some("negotiating"), json!(first)).await.ok(204);
    // The same events again (a report whose answer was lost): stored once.
    report(&app, &site.topo.router, &conn, "DOWN", Some("negotiating"), json!(first)).await.ok(204);
    let r = app.get(&events_path, P1).await;
    let events = r.ok(200)["events"].as_array().unwrap().clone();
    assert_eq!(r.body["ipsec_site_connection_id"], conn.as_str());
    assert_eq!(events.len(), 3, "{events:#?}");
    assert_eq!(events[0]["message"], "initiating IKE_SA 1", "oldest first");
    assert_eq!(events[0]["kind"], "log");
    assert!(events[0]["time"].is_string() && events[0]["reason"].is_null());

    // Another project's connection is a 404, as a show is; an admin reads it; nonsense is a 404.
    app.get(&events_path, P2).await.refused(404, "IPsecSiteConnectionNotFound", &conn);
    app.get(&events_path, ADMIN).await.ok(200);
    app.get(&format!("{CONNS}/not-a-uuid/events"), P1).await.refused(404, "IPsecSiteConnectionNotFound", "");

    // Bounded: 60 more events leave the newest 50.
    let many: Vec<Value> = (10..70).map(|n| event(n, Some("peer_unreachable"), &format!("giving up {n}"))).collect();
    report(&app, &site.topo.router, &conn, "DOWN", Some("peer_unreachable"), json!(many)).await.ok(204);
    let events = app.get(&events_path, P1).await.ok(200)["events"].as_array().unwrap().clone();
    assert_eq!(events.len(), 50);
    assert_eq!(events[0]["message"], "giving up 20");
    assert_eq!(events[49]["message"], "giving up 69");
    assert_eq!(events[49]["reason"], "peer_unreachable");

    // Events of another router's connection are not taken from this router's agent.
    let other = Site::new(&app, P2).await;
    let theirs = app.create(CONNS, P2, other.connection()).await;
    report(&app, &site.topo.router, &theirs, "DOWN", None, json!([event(1, None, "forged")])).await.ok(204);
    let r = app.get(&format!("{CONNS}/{theirs}/events"), P2).await;
    assert_eq!(r.ok(200)["events"], json!([]));
    // A deleted connection's events go with it.
    app.call(Method::DELETE, &format!("{CONNS}/{conn}"), P1, None).await.ok(204);
    app.get(&events_path, P1).await.refused(404, "IPsecSiteConnectionNotFound", &conn);
}

#[tokio::test]
async fn the_gateway_agents_are_for_admins_and_vpnaas_status_prints_the_fleet() {
    let app = app().await;
    let site = Site::new(&app, P1).await;
    let a = app.create(CONNS, P1, site.connection()).await;
    let mut second = site.connection();
    second["ipsec_site_connection"]["peer_address"] = json!("172.24.4.234");
    second["ipsec_site_connection"]["peer_id"] = json!("172.24.4.234");
    let b = app.create(CONNS, P1, second).await;
    let hello = json!({"host": "gw-1", "version": "test"});
    agent(&app, Method::PUT, &format!("/v2.0/gateway/routers/{}/agent", site.topo.router), Some(hello)).await.ok(200);
    report(&app, &site.topo.router, &a, "DOWN", Some("auth_failed"), json!([])).await.ok(204);
    report(&app, &site.topo.router, &b, "ACTIVE", None, json!([])).await.ok(204);

    app.get("/v2.0/vpn/gateway-agents", P1).await.refused(403, "PolicyNotAuthorized", "get_gateway_agents");
    // Heartbeats are written once a second.
    let mut agents = Value::Null;
    for _ in 0..50 {
        agents = app.get("/v2.0/vpn/gateway-agents", ADMIN).await.ok(200)["gateway_agents"].clone();
        if agents.as_array().is_some_and(|a| !a.is_empty()) {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert_eq!(agents[0]["kind"], "router");
    assert_eq!(agents[0]["name"], site.topo.router.as_str());
    assert_eq!((agents[0]["host"].clone(), agents[0]["alive"].clone()), (json!("gw-1"), json!(true)));

    let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_vpnaas"))
        .args(["status", "--url", &app.base])
        .env_remove("OS_TOKEN")
        .env_remove("OS_AUTH_URL")
        .output()
        .await
        .expect("run vpnaas status");
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{text}{}", String::from_utf8_lossy(&out.stderr));
    assert!(text.contains("gateways: 1 alive, 0 dead"), "{text}");
    assert!(text.contains("routers: 2 (0 placed on hosts)"), "{text}");
    assert!(text.contains("connections: 2"), "{text}");
    assert!(text.lines().any(|l| l.split_whitespace().eq(["ACTIVE", "1"])), "{text}");
    assert!(text.lines().any(|l| l.split_whitespace().eq(["auth_failed", "1"])), "{text}");
    // A project member sees its own, and is told the gateways are not for it.
    let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_vpnaas"))
        .args(["status", "--url", &app.base, "--header", "X-Project-Id: p2", "--json"])
        .output()
        .await
        .expect("run vpnaas status");
    let summary: Value = serde_json::from_slice(&out.stdout).expect("JSON");
    assert_eq!((summary["connections"].clone(), summary["gateways_alive"].clone()), (json!(0), json!([])));
    // A server that is not there is a failure with a message.
    let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_vpnaas"))
        .args(["status", "--url", "http://127.0.0.1:1"])
        .output()
        .await
        .expect("run vpnaas status");
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("vpnaas status: http://127.0.0.1:1"));
}
