//! The gateway API (ADR 0003) driven by a scripted agent: credentials, desired state, long poll, status rules.

use reqwest::Method;
use serde_json::{json, Value};
use vpnaas_server::config::Secret;

use crate::support::*;

pub(crate) const TOKEN: &str = "agent-secret";

async fn gateway_app(dead_after: u64) -> App {
    gateway_app_with(dead_after, 0).await
}

async fn gateway_app_with(dead_after: u64, hold_down: u64) -> App {
    spawn_app_with(|c| {
        c.agent_token = Some(Secret(TOKEN.into()));
        c.agent_dead_after_secs = dead_after;
        c.ha_hold_down_secs = hold_down;
    })
    .await
}

pub(crate) async fn agent(app: &App, method: Method, path: &str, body: Option<Value>) -> Resp {
    let mut req = app.raw(method, path).header("Authorization", format!("Bearer {TOKEN}"));
    if let Some(b) = body {
        req = req.body(b.to_string());
    }
    app.send(req).await
}

pub(crate) async fn state(app: &App, router: &str) -> Value {
    agent(app, Method::GET, &format!("/v2.0/gateway/routers/{router}/state"), None).await.ok(200).clone()
}

pub(crate) async fn report(app: &App, router: &str, id: &str, revision: i64, status: &str) -> Resp {
    let body = json!({"connections": [{"id": id, "revision": revision, "status": status,
        "counters": {"bytes_in": 10, "bytes_out": 20, "packets_in": 1, "packets_out": 2}}]});
    agent(app, Method::POST, &format!("/v2.0/gateway/routers/{router}/status"), Some(body)).await
}

/// An agent names the gateway contract it speaks (ADR 0034): none or one this server speaks is
/// served; a newer one is refused, saying that servers are upgraded first; a header that is no
/// number is a 400 naming it.
#[tokio::test]
async fn an_agent_of_a_newer_gateway_contract_is_told_to_upgrade_the_servers_first() {
    let app = gateway_app(10).await;
    let topo = app.topology(P1).await;
    let path = format!("/v2.0/gateway/routers/{}/state", topo.router);
    let with = |contract: &str| {
        app.raw(Method::GET, &path)
            .header("Authorization", format!("Bearer {TOKEN}"))
            .header("X-Vpnaas-Contract", contract)
    };
    app.send(with("1")).await.ok(200);
    agent(&app, Method::GET, &path, None).await.ok(200);
    app.send(with("2")).await.refused(
        400,
        "GatewayContractTooNew",
        "The agent speaks gateway contract 2; this server speaks up to 1: upgrade the servers before the agents",
    );
    app.send(with("two")).await.refused(400, "HTTPBadRequest", "x-vpnaas-contract");
}

#[tokio::test]
async fn only_the_agent_credential_or_the_service_role_opens_the_gateway_api() {
    let app = gateway_app(10).await;
    let topo = app.topology(P1).await;
    let path = format!("/v2.0/gateway/routers/{}/state", topo.router);
    // Project credentials, an admin's included, are refused by the `gateway_agent` rule.
    app.get(&path, ADMIN).await.refused(403, "PolicyNotAuthorized", "rule:gateway_agent");
    app.get(&path, P1).await.refused(403, "PolicyNotAuthorized", "rule:gateway_agent");
    app.send(app.raw(Method::GET, &path)).await.refused(401, "NotAuthenticated", "");
    // A holder of the `service` role is an agent (here by noauth's headers).
    let service = app.raw(Method::GET, &path).header("X-Project-Id", "services").header("X-Roles", "service");
    app.send(service).await.ok(200);
    let wrong = app.raw(Method::GET, &path).header("Authorization", "Bearer agent-secreT");
    app.send(wrong).await.refused(401, "NotAuthenticated", "");
    agent(&app, Method::GET, &path, None).await.ok(200);
    let ghost = "/v2.0/gateway/routers/99999999-2222-3333-4444-555555555555/agent";
    agent(&app, Method::PUT, ghost, Some(json!({"host": "gw1", "version": "1"}))).await.refused(
        404,
        "RouterNotFound",
        "",
    );
    // Without a configured token nobody gets in.
    let closed = spawn_app().await;
    let req = closed.raw(Method::GET, &path).header("Authorization", "Bearer anything");
    closed.send(req).await.refused(401, "NotAuthenticated", "");
}

#[tokio::test]
async fn the_desired_state_holds_what_a_gateway_needs_for_each_connection() {
    let app = gateway_app(10).await;
    let site = Site::new(&app, P1).await;
    let conn = app.create(CONNS, P1, site.connection()).await;
    let legacy = app.create(CONNS, P1, with(site.legacy_connection(), json!({"local_id": "@me"}))).await;
    let s = state(&app, &site.topo.router).await;
    assert_eq!(s["router_id"], site.topo.router.as_str());
    let conns = s["connections"].as_array().unwrap();
    assert_eq!(conns.len(), 2);
    let c = conns.iter().find(|c| c["id"] == conn.as_str()).unwrap();
    assert_eq!(c["revision"], 1);
    assert_eq!(c["enabled"], true);
    assert_eq!(c["psk"], "secret");
    assert_eq!(c["local_address"], "172.24.4.10");
    assert_eq!(c["local_id"], "172.24.4.10", "an empty local_id is the router's address");
    assert_eq!(c["peer_address"], "172.24.4.233");
    assert_eq!(c["local_cidrs"], json!(["10.1.0.0/24"]));
    assert_eq!(c["peer_cidrs"], json!(["10.2.0.0/24", "10.3.0.0/24"]));
    assert_eq!(c["ike"]["ike_version"], "v1");
    assert_eq!(c["ipsec"]["lifetime"], json!({"units": "seconds", "value": 3600}));
    assert_eq!(c["dpd"], json!({"action": "hold", "interval": 30, "timeout": 120}));
    assert_eq!(c["initiator"], "bi-directional");
    assert_eq!(c["ha"], Value::Null);
    let l = conns.iter().find(|c| c["id"] == legacy.as_str()).unwrap();
    assert_eq!(
        (l["local_cidrs"].clone(), l["peer_cidrs"].clone(), l["local_id"].clone()),
        (json!(["10.1.0.0/24"]), json!(["10.5.0.0/24"]), json!("@me"))
    );
    // Another router's state does not include them.
    let other = app.router(P1, "other", json!({"external_fixed_ips": [{"ip_address": "172.24.4.11"}]})).await;
    assert_eq!(state(&app, &other).await["connections"], json!([]));
}

#[tokio::test]
async fn the_version_changes_with_what_feeds_the_state_and_a_long_poll_wakes_on_it() {
    let app = gateway_app(10).await;
    let site = Site::new(&app, P1).await;
    let conn = app.create(CONNS, P1, site.connection()).await;
    let v1 = state(&app, &site.topo.router).await["version"].as_str().unwrap().to_owned();
    assert_eq!(state(&app, &site.topo.router).await["version"], v1.as_str(), "stable while nothing changes");
    app.put(&format!("{SERVICES}/{}", site.service), P1, json!({"vpnservice": {"admin_state_up": false}}))
        .await
        .ok(200);
    let s = state(&app, &site.topo.router).await;
    assert_ne!(s["version"], v1.as_str());
    assert_eq!(s["connections"][0]["enabled"], false, "a disabled service disables its connections");
    let v2 = s["version"].as_str().unwrap().to_owned();
    // A long poll on the current version returns as soon as the connection changes.
    let poll_path = format!("/v2.0/gateway/routers/{}/state?known={v2}&wait=20", site.topo.router);
    let poll = agent(&app, Method::GET, &poll_path, None);
    let change = async {
        tokio::time::sleep(std::time::Duration::from_millis(300)).await;
        app.put(&format!("{CONNS}/{conn}"), P1, json!({"ipsec_site_connection": {"mtu": 1400}})).await
    };
    let (polled, changed) = tokio::join!(poll, change);
    changed.ok(200);
    let polled = polled.ok(200);
    assert_ne!(polled["version"], v2.as_str());
    assert_eq!(polled["connections"][0]["mtu"], 1400);
    assert_eq!(polled["connections"][0]["revision"], 2);
}

/// A raw waiting poll that asks to switch protocols (ADR 0028): the socket after the server's
/// head, and that head.
async fn switching_poll(app: &App, path: &str) -> (tokio::net::TcpStream, String) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let addr = app.base.trim_start_matches("http://");
    let mut socket = tokio::net::TcpStream::connect(addr).await.unwrap();
    let request = format!(
        "GET {path} HTTP/1.1\r\nhost: {addr}\r\nauthorization: Bearer {TOKEN}\r\n\
         connection: upgrade\r\nupgrade: {}\r\n\r\n",
        vpnaas_core::contract::WAIT_UPGRADE
    );
    socket.write_all(request.as_bytes()).await.unwrap();
    let mut head = Vec::new();
    while !head.ends_with(b"\r\n\r\n") {
        let mut byte = [0u8; 1];
        assert_eq!(socket.read(&mut byte).await.unwrap(), 1, "the head ended early: {head:?}");
        head.push(byte[0]);
    }
    (socket, String::from_utf8(head).unwrap())
}

/// What the server writes after the switch, until it closes: the status and the JSON body.
async fn waited(socket: &mut tokio::net::TcpStream) -> (u16, Value) {
    use tokio::io::AsyncReadExt;
    let mut bytes = Vec::new();
    tokio::time::timeout(std::time::Duration::from_secs(25), socket.read_to_end(&mut bytes))
        .await
        .expect("the waited answer within the wait")
        .unwrap();
    let (status, body) = vpnaas_core::contract::parse_waited_answer(&bytes)
        .unwrap_or_else(|| panic!("not a waited answer: {:?}", String::from_utf8_lossy(&bytes)));
    (status, serde_json::from_slice(body).unwrap())
}

#[tokio::test]
async fn a_waiting_poll_switches_protocols_and_gets_its_answer_after_the_switch() {
    let app = gateway_app(10).await;
    let site = Site::new(&app, P1).await;
    let conn = app.create(CONNS, P1, site.connection()).await;
    let router = &site.topo.router;
    let v1 = state(&app, router).await["version"].as_str().unwrap().to_owned();
    // A poll without a wait is answered as usual; one with a wait switches even when its
    // answer is ready (an agent's first poll), and the answer follows at once.
    let (plain, head) = switching_poll(&app, &format!("/v2.0/gateway/routers/{router}/state")).await;
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    drop(plain);
    let (mut first, head) = switching_poll(&app, &format!("/v2.0/gateway/routers/{router}/state?wait=20")).await;
    assert!(head.starts_with("HTTP/1.1 101"), "{head}");
    let (status, answer) = waited(&mut first).await;
    assert_eq!((status, answer["version"].as_str()), (200, Some(v1.as_str())));

    let path = format!("/v2.0/gateway/routers/{router}/state?known={v1}&wait=20");
    let (mut socket, head) = switching_poll(&app, &path).await;
    assert!(head.starts_with("HTTP/1.1 101"), "{head}");
    assert!(head.to_ascii_lowercase().contains("upgrade: vpnaas-wait/1"), "{head}");
    app.put(&format!("{CONNS}/{conn}"), P1, json!({"ipsec_site_connection": {"mtu": 1400}})).await.ok(200);
    let (status, answer) = waited(&mut socket).await;
    assert_eq!(status, 200, "{answer}");
    assert_ne!(answer["version"], v1.as_str());
    assert_eq!(answer["connections"][0]["mtu"], 1400);
    let v2 = answer["version"].as_str().unwrap().to_owned();

    // An agent that leaves while it waits is forgotten at once, not when its wait is over.
    let path = format!("/v2.0/gateway/routers/{router}/state?known={v2}&wait=20");
    let (left, head) = switching_poll(&app, &path).await;
    assert!(head.starts_with("HTTP/1.1 101"), "{head}");
    let waiters =
        || async { crate::metrics::value(&crate::metrics::scrape(&app).await.1, "vpnaas_long_poll_waiters", &[]) };
    assert_eq!(waiters().await, 1.0);
    drop(left);
    let mut gone = false;
    for _ in 0..100 {
        if waiters().await == 0.0 {
            gone = true;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    assert!(gone, "the waiter of a closed connection is still counted");

    // A server that stops answers its waiting polls at once: busy, not after the wait.
    let (mut socket, head) = switching_poll(&app, &path).await;
    assert!(head.starts_with("HTTP/1.1 101"), "{head}");
    let started = std::time::Instant::now();
    let ((status, answer), _) = tokio::join!(waited(&mut socket), app.stop());
    assert_eq!(status, 503, "{answer}");
    assert_eq!(answer["NeutronError"]["type"], "ServiceUnavailable", "{answer}");
    assert!(started.elapsed() < std::time::Duration::from_secs(10), "the stop waited for the poll's wait");
}

#[tokio::test]
async fn status_applies_to_the_revision_the_gateway_has_and_services_follow() {
    let app = gateway_app(10).await;
    let site = Site::new(&app, P1).await;
    let conn = app.create(CONNS, P1, site.connection()).await;
    let (path, service) = (format!("{CONNS}/{conn}"), format!("{SERVICES}/{}", site.service));
    let status =
        |r: Resp| r.ok(200).as_object().unwrap().values().next().unwrap()["status"].as_str().unwrap().to_owned();
    assert_eq!(status(app.get(&path, P1).await), "PENDING_CREATE");
    assert_eq!(report(&app, &site.topo.router, &conn, 1, "ACTIVE").await.status, 204);
    assert_eq!(status(app.get(&path, P1).await), "ACTIVE");
    assert_eq!(status(app.get(&service, P1).await), "ACTIVE");
    // Status reports do not count as changes for If-Match.
    assert_eq!(app.get(&path, P1).await.ok(200)["ipsec_site_connection"]["revision_number"], 1);
    app.put(&path, P1, json!({"ipsec_site_connection": {"description": "new"}})).await.ok(200);
    assert_eq!(status(app.get(&path, P1).await), "PENDING_UPDATE");
    report(&app, &site.topo.router, &conn, 1, "ACTIVE").await;
    assert_eq!(
        status(app.get(&path, P1).await),
        "PENDING_UPDATE",
        "a report about an older revision is not an acknowledgement"
    );
    report(&app, &site.topo.router, &conn, 2, "DOWN").await;
    assert_eq!(status(app.get(&path, P1).await), "DOWN");
    assert_eq!(status(app.get(&service, P1).await), "DOWN");
    report(&app, &site.topo.router, &conn, 2, "UP").await.refused(400, "HTTPBadRequest", "Malformed");
    let pending = serde_json::json!({"connections": [{"id": conn, "revision": 2, "status": "PENDING_CREATE"}]});
    agent(&app, Method::POST, &format!("/v2.0/gateway/routers/{}/status", site.topo.router), Some(pending))
        .await
        .refused(400, "HTTPBadRequest", "Invalid input for status");
    // A report for a connection of another router changes nothing.
    let other = app.router(P1, "other", json!({"external_fixed_ips": [{"ip_address": "172.24.4.11"}]})).await;
    report(&app, &other, &conn, 2, "ACTIVE").await;
    assert_eq!(status(app.get(&path, P1).await), "DOWN");
}

#[tokio::test]
async fn a_gateway_whose_heartbeats_stop_shows_its_connections_down() {
    let app = gateway_app(1).await;
    let site = Site::new(&app, P1).await;
    let conn = app.create(CONNS, P1, site.connection()).await;
    let hello = json!({"host": "gw1", "version": "test"});
    let r = agent(&app, Method::PUT, &format!("/v2.0/gateway/routers/{}/agent", site.topo.router), Some(hello)).await;
    assert_eq!(r.ok(200), &json!({"heartbeat_interval": 2, "dead_after": 1}));
    report(&app, &site.topo.router, &conn, 1, "ACTIVE").await;
    let mut seen = String::new();
    for _ in 0..40 {
        seen = app.get(&format!("{CONNS}/{conn}"), P1).await.ok(200)["ipsec_site_connection"]["status"]
            .as_str()
            .unwrap()
            .to_owned();
        if seen == "DOWN" {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
    assert_eq!(seen, "DOWN", "no heartbeat for longer than dead_after");
    assert_eq!(app.get(&format!("{SERVICES}/{}", site.service), P1).await.ok(200)["vpnservice"]["status"], "DOWN");
}

pub(crate) fn role(s: &Value, id: &str) -> Value {
    s["connections"].as_array().unwrap().iter().find(|c| c["id"] == id).map_or(Value::Null, |c| c["ha"].clone())
}

#[tokio::test]
async fn a_pair_fails_over_when_its_active_member_fails_and_back_again() {
    let app = gateway_app(10).await;
    let site = Site::new(&app, P1).await;
    let router = site.topo.router.clone();
    let a = app.create(CONNS, P1, with(site.connection(), json!({"peer_address": "172.24.4.1"}))).await;
    let b = app.create(CONNS, P1, with(site.connection(), json!({"peer_address": "172.24.4.2"}))).await;
    let s = state(&app, &router).await;
    assert_eq!(role(&s, &a), json!({"role": "active", "partner": b}));
    assert_eq!(role(&s, &b), json!({"role": "standby", "partner": a}));
    // A healthy standby reads DOWN: that is no reason to swap.
    report(&app, &router, &b, 1, "DOWN").await;
    assert_eq!(role(&state(&app, &router).await, &a)["role"], "active");
    // The active member failing makes the standby active, and the gateway is told at once.
    let v = state(&app, &router).await["version"].clone();
    report(&app, &router, &a, 1, "DOWN").await;
    let s = state(&app, &router).await;
    assert_ne!(s["version"], v);
    assert_eq!((role(&s, &a)["role"].clone(), role(&s, &b)["role"].clone()), (json!("standby"), json!("active")));
    // The new active one failing too sends the pair back.
    report(&app, &router, &b, 1, "ERROR").await;
    assert_eq!(role(&state(&app, &router).await, &a)["role"], "active");
    // Deleting the active member leaves the standby alone and active; a new partner stands by.
    app.delete(&format!("{CONNS}/{a}"), P1).await.ok(204);
    assert_eq!(role(&state(&app, &router).await, &b), Value::Null);
    let c = app.create(CONNS, P1, with(site.connection(), json!({"peer_address": "172.24.4.3"}))).await;
    let s = state(&app, &router).await;
    assert_eq!((role(&s, &b)["role"].clone(), role(&s, &c)["role"].clone()), (json!("active"), json!("standby")));
}

#[tokio::test]
async fn a_pair_does_not_fail_over_within_the_hold_down() {
    let app = gateway_app_with(10, 60).await;
    let site = Site::new(&app, P1).await;
    let a = app.create(CONNS, P1, with(site.connection(), json!({"peer_address": "172.24.4.1"}))).await;
    app.create(CONNS, P1, with(site.connection(), json!({"peer_address": "172.24.4.2"}))).await;
    // Still connecting a moment after creation: DOWN, but not yet a failure.
    report(&app, &site.topo.router, &a, 1, "DOWN").await;
    assert_eq!(role(&state(&app, &site.topo.router).await, &a)["role"], "active");
}

#[tokio::test]
async fn admins_see_why_a_gateway_reports_error_and_members_do_not() {
    let app = gateway_app(10).await;
    let site = Site::new(&app, P1).await;
    let conn = app.create(CONNS, P1, site.connection()).await;
    let body = json!({"connections": [{"id": conn, "revision": 1, "status": "ERROR",
        "reason": "charon lacks the algorithm aes256gcm16"}]});
    let path = format!("/v2.0/gateway/routers/{}/status", site.topo.router);
    assert_eq!(agent(&app, Method::POST, &path, Some(body)).await.status, 204);
    let shown = app.get(&format!("{CONNS}/{conn}"), ADMIN).await;
    let c = &shown.ok(200)["ipsec_site_connection"];
    assert_eq!(c["status"], "ERROR");
    assert_eq!(c["status_description"], "charon lacks the algorithm aes256gcm16");
    let listed = app.get(CONNS, ADMIN).await;
    assert_eq!(
        listed.ok(200)["ipsec_site_connections"][0]["status_description"],
        "charon lacks the algorithm aes256gcm16"
    );
    let member = app.get(&format!("{CONNS}/{conn}"), P1).await;
    assert!(member.ok(200)["ipsec_site_connection"].get("status_description").is_none());
    // A change clears the reason until the gateway reports on the new revision.
    app.put(&format!("{CONNS}/{conn}"), P1, json!({"ipsec_site_connection": {"description": "x"}})).await.ok(200);
    let shown = app.get(&format!("{CONNS}/{conn}"), ADMIN).await;
    assert_eq!(shown.ok(200)["ipsec_site_connection"]["status_description"], Value::Null);
}

// ---------------------------------------------------------------- one agent per host (ADR 0011)

async fn place(app: &App, router: &str, host: Value) -> Resp {
    app.put(&format!("/v2.0/routers/{router}"), ADMIN, json!({"router": {"binding:host_id": host}})).await
}

async fn host_state(app: &App, host: &str, cursor: Option<i64>, wait: u64) -> Value {
    let query = cursor.map_or(String::new(), |c| format!("?cursor={c}&wait={wait}"));
    agent(app, Method::GET, &format!("/v2.0/gateway/hosts/{host}/state{query}"), None).await.ok(200).clone()
}

fn ids(v: &Value, key: &str) -> Vec<String> {
    let mut out: Vec<String> = v[key]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r.as_str().map_or_else(|| r["router_id"].as_str().unwrap().to_owned(), str::to_owned))
        .collect();
    out.sort();
    out
}

async fn conn_status(app: &App, who: &str, id: &str) -> Value {
    app.get(&format!("{CONNS}/{id}"), who).await.ok(200)["ipsec_site_connection"]["status"].clone()
}

fn sorted(mut v: Vec<String>) -> Vec<String> {
    v.sort();
    v
}

#[tokio::test]
async fn a_router_is_placed_by_an_admin_and_only_admins_see_where() {
    let app = gateway_app(10).await;
    let site = Site::new(&app, P1).await;
    let path = format!("/v2.0/routers/{}", site.topo.router);
    assert_eq!(app.get(&path, ADMIN).await.ok(200)["router"]["binding:host_id"], Value::Null);
    assert_eq!(place(&app, &site.topo.router, json!("net-1")).await.ok(200)["router"]["binding:host_id"], "net-1");
    assert!(app.get(&path, P1).await.ok(200)["router"].get("binding:host_id").is_none(), "hidden from members");
    let placed = app.get("/v2.0/routers?binding:host_id=net-1", ADMIN).await;
    assert_eq!(placed.ok(200)["routers"].as_array().unwrap().len(), 1);
    place(&app, &site.topo.router, json!("")).await.refused(400, "HTTPBadRequest", "binding:host_id");
    place(&app, &site.topo.router, json!(7)).await.refused(400, "HTTPBadRequest", "binding:host_id");
    assert_eq!(place(&app, &site.topo.router, Value::Null).await.ok(200)["router"]["binding:host_id"], Value::Null);
}

#[tokio::test]
async fn a_host_runs_its_routers_and_nothing_of_another_host() {
    let app = gateway_app(10).await;
    let a = Site::new(&app, P1).await;
    let b = Site::new(&app, P2).await;
    let a_conn = app.create(CONNS, P1, a.connection()).await;
    let b_conn = app.create(CONNS, P2, b.connection()).await;
    place(&app, &a.topo.router, json!("net-1")).await.ok(200);
    place(&app, &b.topo.router, json!("net-2")).await.ok(200);
    let s = host_state(&app, "net-1", None, 0).await;
    assert_eq!(ids(&s, "routers"), vec![a.topo.router.clone()]);
    assert_eq!(ids(&s, "changed"), vec![a.topo.router.clone()]);
    assert_eq!(s["changed"][0]["connections"][0]["id"], a_conn.as_str());
    // The agent-side type reads the answer.
    let typed: vpnaas_core::contract::HostState = serde_json::from_value(s.clone()).unwrap();
    assert_eq!(typed.changed[0].connections[0].psk.as_ref().unwrap().expose(), "secret");
    // Another host's router: 404 for its state and for its status, and nothing changes.
    let other = format!("/v2.0/gateway/hosts/net-1/routers/{}/state", b.topo.router);
    agent(&app, Method::GET, &other, None).await.refused(404, "RouterNotFound", "");
    let mine = format!("/v2.0/gateway/hosts/net-1/routers/{}/state", a.topo.router);
    assert_eq!(agent(&app, Method::GET, &mine, None).await.ok(200)["connections"][0]["id"], a_conn.as_str());
    let report = |router: &str, conn: &str| json!({"routers": [{"router_id": router, "connections": [{"id": conn, "revision": 1, "status": "ACTIVE"}]}]});
    let stranger = report(&b.topo.router, &b_conn);
    agent(&app, Method::POST, "/v2.0/gateway/hosts/net-1/status", Some(stranger)).await.refused(
        404,
        "RouterNotFound",
        "",
    );
    assert_eq!(conn_status(&app, P2, &b_conn).await, "PENDING_CREATE");
    // Its own routers' reports, in one request.
    let own = report(&a.topo.router, &a_conn);
    assert_eq!(agent(&app, Method::POST, "/v2.0/gateway/hosts/net-1/status", Some(own)).await.status, 204);
    assert_eq!(conn_status(&app, P1, &a_conn).await, "ACTIVE");
    // Unknown hosts have nothing; a bad host name is a 400.
    assert_eq!(host_state(&app, "net-9", None, 0).await["routers"], json!([]));
    let long = "x".repeat(256);
    agent(&app, Method::GET, &format!("/v2.0/gateway/hosts/{long}/state"), None).await.refused(
        400,
        "HTTPBadRequest",
        "host",
    );
}

#[tokio::test]
async fn a_change_wakes_only_the_hosts_it_concerns_and_status_wakes_nobody() {
    let app = gateway_app(10).await;
    let a = Site::new(&app, P1).await;
    let b = Site::new(&app, P2).await;
    place(&app, &a.topo.router, json!("net-1")).await.ok(200);
    place(&app, &b.topo.router, json!("net-2")).await.ok(200);
    let c1 = host_state(&app, "net-1", None, 0).await["cursor"].as_i64().unwrap();
    let c2 = host_state(&app, "net-2", None, 0).await["cursor"].as_i64().unwrap();
    // Both hosts wait; a connection on net-1's router wakes net-1 at once, not net-2.
    let started = std::time::Instant::now();
    let (one, two, _) =
        tokio::join!(host_state(&app, "net-1", Some(c1), 10), host_state(&app, "net-2", Some(c2), 2), async {
            tokio::time::sleep(std::time::Duration::from_millis(300)).await;
            app.create(CONNS, P1, a.connection()).await
        });
    assert_eq!(ids(&one, "changed"), vec![a.topo.router.clone()]);
    assert!(one["cursor"].as_i64().unwrap() > c1);
    assert_eq!(two["changed"], json!([]), "another host's change is not this host's");
    assert!(started.elapsed() >= std::time::Duration::from_secs(2), "net-2 waited its whole wait");
    // Heartbeats and status reports are no changes: a waiting host sleeps through them.
    let c1 = one["cursor"].as_i64().unwrap();
    let conn = one["changed"][0]["connections"][0]["id"].as_str().unwrap().to_owned();
    let started = std::time::Instant::now();
    let (quiet, _) = tokio::join!(host_state(&app, "net-1", Some(c1), 2), async {
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
        let hello = json!({"host": "net-1", "version": "test"});
        agent(&app, Method::PUT, "/v2.0/gateway/hosts/net-1/agent", Some(hello)).await.ok(200);
        let body = json!({"routers": [{"router_id": a.topo.router, "connections": [{"id": conn, "revision": 1, "status": "ACTIVE"}]}]});
        assert_eq!(agent(&app, Method::POST, "/v2.0/gateway/hosts/net-1/status", Some(body)).await.status, 204);
    });
    assert_eq!(quiet["changed"], json!([]));
    assert!(started.elapsed() >= std::time::Duration::from_secs(2));
    // Moving a router tells both hosts: net-1 loses it, net-2 gains it with its state.
    let c2 = two["cursor"].as_i64().unwrap();
    let (lost, gained, _) =
        tokio::join!(host_state(&app, "net-1", Some(c1), 10), host_state(&app, "net-2", Some(c2), 10), async {
            tokio::time::sleep(std::time::Duration::from_millis(200)).await;
            place(&app, &a.topo.router, json!("net-2")).await.ok(200);
        });
    assert_eq!(lost["routers"], json!([]));
    assert_eq!(ids(&gained, "routers"), sorted(vec![a.topo.router.clone(), b.topo.router.clone()]));
    assert_eq!(ids(&gained, "changed"), vec![a.topo.router.clone()]);
    // A cursor the server never handed out (another database) gets everything.
    let future = host_state(&app, "net-2", Some(1_000_000), 10).await;
    assert_eq!(ids(&future, "changed").len(), 2);
}

#[tokio::test]
async fn a_dead_host_shows_all_its_connections_down() {
    let app = gateway_app(1).await;
    let a = Site::new(&app, P1).await;
    let conn = app.create(CONNS, P1, a.connection()).await;
    place(&app, &a.topo.router, json!("net-1")).await.ok(200);
    let hello = json!({"host": "net-1", "version": "test"});
    let r = agent(&app, Method::PUT, "/v2.0/gateway/hosts/net-1/agent", Some(hello)).await;
    assert_eq!(r.ok(200), &json!({"heartbeat_interval": 2, "dead_after": 1}));
    let body = json!({"routers": [{"router_id": a.topo.router, "connections": [{"id": conn, "revision": 1, "status": "ACTIVE"}]}]});
    agent(&app, Method::POST, "/v2.0/gateway/hosts/net-1/status", Some(body)).await;
    let path = format!("{CONNS}/{conn}");
    assert_eq!(app.get(&path, P1).await.ok(200)["ipsec_site_connection"]["status"], "ACTIVE");
    let mut seen = Value::Null;
    for _ in 0..40 {
        seen = app.get(&path, P1).await.ok(200)["ipsec_site_connection"]["status"].clone();
        if seen == "DOWN" {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
    assert_eq!(seen, "DOWN", "no heartbeat of its host for longer than dead_after");
}

#[tokio::test]
async fn the_host_agents_client_gets_404_for_a_router_of_another_host_and_changes_nothing() {
    use vpnaas_agent::host::HostClient;
    use vpnaas_agent::sync::SyncError;
    use vpnaas_core::contract::{HostStatusReport, RouterStatus};
    let app = gateway_app(10).await;
    let a = Site::new(&app, P1).await;
    let b = Site::new(&app, P2).await;
    let a_conn = app.create(CONNS, P1, a.connection()).await;
    let b_conn = app.create(CONNS, P2, b.connection()).await;
    place(&app, &a.topo.router, json!("net-1")).await.ok(200);
    place(&app, &b.topo.router, json!("net-2")).await.ok(200);
    let client = HostClient::new(&app.base, "net-1", vpnaas_agent::Credential::Token(TOKEN.into())).unwrap();
    let (mine, theirs) = (a.topo.router.parse().unwrap(), b.topo.router.parse().unwrap());
    assert_eq!(client.router_state(mine).await.unwrap().connections[0].id.to_string(), a_conn);
    match client.router_state(theirs).await {
        Err(SyncError::Status(404, body)) => assert!(body.contains("RouterNotFound"), "{body}"),
        other => panic!("another host's router: {other:?}"),
    }
    let status = |router, conn: &str| RouterStatus {
        router_id: router,
        connections: vec![vpnaas_core::contract::ConnectionStatus {
            id: conn.parse().unwrap(),
            revision: 1,
            status: vpnaas_core::algorithms::Status::Active,
            reason: None,
            counters: Default::default(),
            code: None,
            events: Vec::new(),
        }],
    };
    // A report naming another host's router is refused whole: not even our own router's entry lands.
    let mixed = HostStatusReport { routers: vec![status(mine, &a_conn), status(theirs, &b_conn)] };
    assert!(matches!(client.report(&mixed).await, Err(SyncError::Status(404, _))));
    assert_eq!(conn_status(&app, P2, &b_conn).await, "PENDING_CREATE");
    assert_eq!(conn_status(&app, P1, &a_conn).await, "PENDING_CREATE");
    let host = client.state(None, std::time::Duration::ZERO).await.unwrap();
    assert_eq!(host.routers, vec![mine], "the host's list is unchanged");
    client.report(&HostStatusReport { routers: vec![status(mine, &a_conn)] }).await.unwrap();
    assert_eq!(conn_status(&app, P1, &a_conn).await, "ACTIVE");
}

#[tokio::test]
async fn the_agents_clients_wait_after_a_switch_and_see_the_change() {
    use crate::metrics::{scrape, value};
    use std::time::Duration;
    use vpnaas_agent::{host::HostClient, sync::GatewayClient};
    let app = gateway_app(10).await;
    let a = Site::new(&app, P1).await;
    let conn = app.create(CONNS, P1, a.connection()).await;
    place(&app, &a.topo.router, json!("net-1")).await.ok(200);
    let credential = || vpnaas_agent::Credential::Token(TOKEN.into());
    let host = HostClient::new(&app.base, "net-1", credential()).unwrap();
    let router = GatewayClient::new(&app.base, a.topo.router.parse().unwrap(), credential()).unwrap();
    let cursor = host.state(None, Duration::ZERO).await.unwrap().cursor;
    let known = router.state(None, Duration::ZERO).await.unwrap().version;
    let wait = Duration::from_secs(20);
    let change = async {
        let mut waiting = 0.0;
        for _ in 0..250 {
            waiting = value(&scrape(&app).await.1, "vpnaas_long_poll_waiters", &[]);
            if waiting == 2.0 {
                break;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        assert_eq!(waiting, 2.0, "both polls wait");
        app.put(&format!("{CONNS}/{conn}"), P1, json!({"ipsec_site_connection": {"mtu": 1400}})).await.ok(200);
    };
    let (hosted, routed, ()) = tokio::join!(host.state(Some(cursor), wait), router.state(Some(&known), wait), change);
    let (hosted, routed) = (hosted.unwrap(), routed.unwrap());
    assert_eq!(hosted.changed.len(), 1);
    assert_eq!(hosted.changed[0].connections[0].mtu, 1400);
    assert_eq!(routed.connections[0].mtu, 1400);
    assert_eq!(routed.version, hosted.changed[0].version);
    // Both waited after switching protocols (ADR 0028), not as ordinary long polls; the
    // first polls above had no wait, and were answered as usual.
    let switched = value(&scrape(&app).await.1, "vpnaas_http_requests_total", &[("status", "101")]);
    assert_eq!(switched, 2.0);
}

#[tokio::test]
async fn a_large_hosts_status_report_fits_in_one_request() {
    let app = gateway_app(10).await;
    let a = Site::new(&app, P1).await;
    place(&app, &a.topo.router, json!("net-1")).await.ok(200);
    // About 250 KB: more than an API body may be (112 KiB), far less than a gateway's may.
    let connections: Vec<Value> = (0..2500)
        .map(|i| {
            json!({"id": uuid::Uuid::new_v4(), "revision": i, "status": "DOWN",
            "counters": {"bytes_in": 1, "bytes_out": 2, "packets_in": 3, "packets_out": 4}})
        })
        .collect();
    let body = json!({"routers": [{"router_id": a.topo.router, "connections": connections}]});
    assert!(body.to_string().len() > 200_000);
    assert_eq!(agent(&app, Method::POST, "/v2.0/gateway/hosts/net-1/status", Some(body)).await.status, 204);
    let too_big = json!({"ikepolicy": {"name": "x".repeat(120_000)}});
    app.send(app.raw(Method::POST, IKE).header("X-Project-Id", P1).body(too_big.to_string())).await.refused(
        413,
        "HTTPRequestEntityTooLarge",
        "",
    );
}
