//! neutron mode (ADR 0022) against a small fake Neutron (axum) in this process: routers,
//! gateways and interfaces come from it; it failing or being slow is a 503; a router deleted or
//! an interface removed there marks what used it ERROR. The real Neutron is `.ci/tempest.sh`.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::{Path, RawQuery, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Json;
use serde_json::{json, Value};
use vpnaas_server::config::TopologyKind;

use crate::support::*;

const R: &str = "0a5b8d36-6d0b-4b4e-9d5e-7f0c8d3e0001";
const BARE: &str = "0a5b8d36-6d0b-4b4e-9d5e-7f0c8d3e0002";
const S: &str = "0a5b8d36-6d0b-4b4e-9d5e-7f0c8d3e0011";
const S2: &str = "0a5b8d36-6d0b-4b4e-9d5e-7f0c8d3e0012";
const LOOSE: &str = "0a5b8d36-6d0b-4b4e-9d5e-7f0c8d3e0013";

/// What the fake Neutron holds and how it behaves.
#[derive(Default)]
struct Cloud {
    routers: HashMap<String, Value>,
    subnets: HashMap<String, Value>,
    /// (router, subnet) interfaces.
    interfaces: Vec<(String, String)>,
    /// Answer every request with this status.
    failing: Option<u16>,
    /// Answer after this long.
    delay: Option<Duration>,
    calls: usize,
}

type Shared = Arc<Mutex<Cloud>>;

fn values(raw: &Option<String>, key: &str) -> Vec<String> {
    raw.as_deref()
        .unwrap_or("")
        .split('&')
        .filter_map(|p| p.split_once('='))
        .filter(|(k, _)| *k == key)
        .map(|(_, v)| v.replace("%3D", "=").replace("%3d", "="))
        .collect()
}

async fn gate(cloud: &Shared) -> Option<Response> {
    let (failing, delay) = {
        let mut c = cloud.lock().unwrap();
        c.calls += 1;
        (c.failing, c.delay)
    };
    if let Some(d) = delay {
        tokio::time::sleep(d).await;
    }
    failing.map(|s| (StatusCode::from_u16(s).unwrap(), "broken").into_response())
}

async fn routers(State(c): State<Shared>, RawQuery(q): RawQuery) -> Response {
    if let Some(r) = gate(&c).await {
        return r;
    }
    let ids = values(&q, "id");
    let cloud = c.lock().unwrap();
    let list: Vec<Value> = cloud.routers.iter().filter(|(id, _)| ids.contains(id)).map(|(_, r)| r.clone()).collect();
    Json(json!({"routers": list})).into_response()
}

async fn router(State(c): State<Shared>, Path(id): Path<String>) -> Response {
    if let Some(r) = gate(&c).await {
        return r;
    }
    match c.lock().unwrap().routers.get(&id) {
        Some(r) => Json(json!({"router": r})).into_response(),
        None => StatusCode::NOT_FOUND.into_response(),
    }
}

async fn l3_agents(State(c): State<Shared>, Path(id): Path<String>) -> Response {
    if let Some(r) = gate(&c).await {
        return r;
    }
    let agents = if id == R { json!([{"host": "net-1", "ha_state": null}]) } else { json!([]) };
    Json(json!({ "agents": agents })).into_response()
}

async fn subnets(State(c): State<Shared>, RawQuery(q): RawQuery) -> Response {
    if let Some(r) = gate(&c).await {
        return r;
    }
    let ids = values(&q, "id");
    let cloud = c.lock().unwrap();
    let list: Vec<Value> = cloud.subnets.iter().filter(|(id, _)| ids.contains(id)).map(|(_, s)| s.clone()).collect();
    Json(json!({"subnets": list})).into_response()
}

async fn ports(State(c): State<Shared>, RawQuery(q): RawQuery) -> Response {
    if let Some(r) = gate(&c).await {
        return r;
    }
    let devices = values(&q, "device_id");
    let on: Vec<String> =
        values(&q, "fixed_ips").iter().filter_map(|f| f.strip_prefix("subnet_id=").map(str::to_owned)).collect();
    let cloud = c.lock().unwrap();
    let list: Vec<Value> = cloud
        .interfaces
        .iter()
        .filter(|(r, s)| devices.contains(r) || on.contains(s))
        .map(|(r, s)| {
            json!({"device_id": r, "device_owner": "network:router_interface",
                   "fixed_ips": [{"subnet_id": s, "ip_address": "10.1.0.1"}]})
        })
        .collect();
    Json(json!({"ports": list})).into_response()
}

async fn extensions(State(c): State<Shared>) -> Response {
    if let Some(r) = gate(&c).await {
        return r;
    }
    Json(json!({"extensions": [
        {"alias": "router", "name": "Neutron L3 Router", "description": "", "updated": "", "links": []},
        {"alias": "project-id", "name": "project_id field enabled", "description": "", "updated": "", "links": []}]}))
    .into_response()
}

/// The fake Neutron with two routers of p1 (one with a gateway), two subnets attached to the
/// first and one loose subnet; its URL and state.
async fn fake_neutron() -> (String, Shared) {
    let mut cloud = Cloud::default();
    let gw = json!({"network_id": "0a5b8d36-6d0b-4b4e-9d5e-7f0c8d3e00ff",
                    "external_fixed_ips": [{"subnet_id": "0a5b8d36-6d0b-4b4e-9d5e-7f0c8d3e00fe", "ip_address": "172.24.4.10"}]});
    cloud.routers.insert(R.into(), json!({"id": R, "project_id": "p1", "name": "r1", "external_gateway_info": gw}));
    cloud
        .routers
        .insert(BARE.into(), json!({"id": BARE, "project_id": "p1", "name": "bare", "external_gateway_info": null}));
    for (id, cidr) in [(S, "10.1.0.0/24"), (S2, "10.1.1.0/24"), (LOOSE, "10.9.0.0/24")] {
        cloud
            .subnets
            .insert(id.into(), json!({"id": id, "project_id": "p1", "name": "s", "cidr": cidr, "network_id": null}));
    }
    cloud.interfaces = vec![(R.into(), S.into()), (R.into(), S2.into())];
    let shared: Shared = Arc::new(Mutex::new(cloud));
    let app = axum::Router::new()
        .route("/v2.0/routers", get(routers))
        .route("/v2.0/routers/{id}", get(router))
        .route("/v2.0/routers/{id}/l3-agents", get(l3_agents))
        .route("/v2.0/subnets", get(subnets))
        .route("/v2.0/ports", get(ports))
        .route("/v2.0/extensions", get(extensions))
        .with_state(shared.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
    (url, shared)
}

async fn neutron_app(url: &str, cache_secs: u64) -> App {
    let url = url.to_owned();
    spawn_app_with(move |c| {
        c.topology = TopologyKind::Neutron;
        c.neutron_url = Some(url);
        c.neutron_cache_secs = cache_secs;
        c.neutron_timeout_secs = 1;
        c.agent_token = Some(vpnaas_server::config::Secret(crate::gateway::TOKEN.into()));
    })
    .await
}

fn connection(service: &str, ike: &str, ipsec: &str, local: &str, peer: &str) -> Value {
    json!({"ipsec_site_connection": {
        "name": "conn", "psk": "secret", "peer_address": "172.24.4.233", "peer_id": "172.24.4.233",
        "vpnservice_id": service, "ikepolicy_id": ike, "ipsecpolicy_id": ipsec,
        "local_ep_group_id": local, "peer_ep_group_id": peer}})
}

#[tokio::test]
async fn neutron_mode_checks_services_groups_and_connections_against_neutrons_routers() {
    let (url, _cloud) = fake_neutron().await;
    let app = neutron_app(&url, 5).await;

    // The router's gateway address is Neutron's; its owner and its gateway are checked.
    let r = app.post(SERVICES, P1, json!({"vpnservice": {"router_id": R, "subnet_id": S}})).await;
    assert_eq!(r.ok(201)["vpnservice"]["external_v4_ip"], "172.24.4.10");
    app.post(SERVICES, P2, json!({"vpnservice": {"router_id": R}})).await.refused(404, "RouterNotFound", R);
    app.post(SERVICES, P1, json!({"vpnservice": {"router_id": BARE}})).await.refused(400, "RouterIsNotExternal", BARE);
    let missing = "0a5b8d36-6d0b-4b4e-9d5e-7f0c8d3e0099";
    app.post(SERVICES, P1, json!({"vpnservice": {"router_id": missing}})).await.refused(404, "RouterNotFound", missing);
    app.post(SERVICES, P1, json!({"vpnservice": {"router_id": R, "subnet_id": LOOSE}})).await.refused(
        400,
        "SubnetIsNotConnectedToRouter",
        LOOSE,
    );

    // Endpoint groups name Neutron's subnets; connections need them on the service's router.
    let service = app.vpnservice(P1, R, None).await;
    let local = app.group(P1, "subnet", json!([S])).await;
    let loose = app.group(P1, "subnet", json!([LOOSE])).await;
    app.post(GROUPS, P1, json!({"endpoint_group": {"type": "subnet", "endpoints": [missing]}})).await.refused(
        400,
        "NonExistingSubnetInEndpointGroup",
        missing,
    );
    let peer = app.group(P1, "cidr", json!(["10.2.0.0/24"])).await;
    let (ike, ipsec) = (app.ikepolicy(P1).await, app.ipsecpolicy(P1).await);
    app.post(CONNS, P1, connection(&service, &ike, &ipsec, &local, &peer)).await.ok(201);
    let r = app.post(CONNS, P1, connection(&service, &ike, &ipsec, &loose, &peer)).await;
    assert_eq!(r.status.as_u16(), 400, "{:#}", r.body);

    // The router's network node is its L3 agent's host: that host's agent runs it.
    let state = crate::gateway::agent(&app, reqwest::Method::GET, "/v2.0/gateway/hosts/net-1/state", None).await;
    assert_eq!(state.ok(200)["routers"], json!([R]), "{:#}", state.body);

    // The local inventory is Neutron's: its paths are not served here; the extension list is both.
    for path in ["/v2.0/routers", "/v2.0/subnets", &format!("/v2.0/routers/{R}"), "/v2.0/ports"] {
        app.get(path, ADMIN).await.refused(404, "HTTPNotFound", "");
    }
    let r = app.put(&format!("/v2.0/routers/{R}/add_router_interface"), ADMIN, json!({"subnet_id": LOOSE})).await;
    assert_eq!(r.status.as_u16(), 404);
    let r = app.get("/v2.0/extensions", P1).await;
    let aliases: Vec<&str> =
        r.ok(200)["extensions"].as_array().unwrap().iter().filter_map(|e| e["alias"].as_str()).collect();
    for alias in ["router", "project-id", "vpnaas", "vpn-endpoint-groups"] {
        assert!(aliases.contains(&alias), "{alias} missing from {aliases:?}");
    }
    assert_eq!(aliases.iter().filter(|a| **a == "project-id").count(), 1, "{aliases:?}");
    app.get("/v2.0/extensions/router", P1).await.ok(200);
}

#[tokio::test]
async fn neutron_failing_or_slow_is_a_503_and_nothing_is_written() {
    let (url, cloud) = fake_neutron().await;
    let app = neutron_app(&url, 5).await;
    cloud.lock().unwrap().failing = Some(500);
    let body = json!({"vpnservice": {"router_id": R}});
    app.post(SERVICES, P1, body.clone()).await.refused(503, "ServiceUnavailable", "Neutron");
    app.post(GROUPS, P1, json!({"endpoint_group": {"type": "subnet", "endpoints": [S]}})).await.refused(
        503,
        "ServiceUnavailable",
        "Neutron",
    );
    app.get("/v2.0/extensions", P1).await.refused(503, "ServiceUnavailable", "Neutron");
    {
        let mut c = cloud.lock().unwrap();
        c.failing = None;
        c.delay = Some(Duration::from_secs(3));
    }
    let started = std::time::Instant::now();
    app.post(SERVICES, P1, body.clone()).await.refused(503, "ServiceUnavailable", "Neutron");
    assert!(started.elapsed() < Duration::from_secs(3), "answered after {:?}", started.elapsed());
    assert_eq!(app.count(SERVICES).await, 0);
    assert_eq!(app.count(GROUPS).await, 0);
    cloud.lock().unwrap().delay = None;
    app.post(SERVICES, P1, body).await.ok(201);
}

#[tokio::test]
async fn a_router_deleted_or_an_interface_removed_in_neutron_marks_what_used_it_error() {
    let (url, cloud) = fake_neutron().await;
    let app = neutron_app(&url, 1).await;
    let service = app.vpnservice(P1, R, None).await;
    let local = app.group(P1, "subnet", json!([S2])).await;
    let peer = app.group(P1, "cidr", json!(["10.2.0.0/24"])).await;
    let (ike, ipsec) = (app.ikepolicy(P1).await, app.ipsecpolicy(P1).await);
    let conn = app.create(CONNS, P1, connection(&service, &ike, &ipsec, &local, &peer)).await;
    let status =
        |body: &Value| body.as_object().unwrap().values().next().unwrap()["status"].as_str().unwrap().to_owned();
    let conn_path = format!("{CONNS}/{conn}");
    let service_path = format!("{SERVICES}/{service}");
    assert_ne!(status(app.get(&conn_path, P1).await.ok(200)), "ERROR");

    // The interface of the local group's subnet goes: that connection is in ERROR, with why.
    cloud.lock().unwrap().interfaces.retain(|(_, s)| s != S2);
    let mut seen = String::new();
    for _ in 0..50 {
        seen = status(app.get(&conn_path, P1).await.ok(200));
        if seen == "ERROR" {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(seen, "ERROR");
    // Neither can a new connection use it now.
    let r = app.post(CONNS, P1, connection(&service, &ike, &ipsec, &local, &peer)).await;
    assert_eq!(r.status.as_u16(), 400, "{:#}", r.body);

    // The router goes: its service too.
    cloud.lock().unwrap().routers.remove(R);
    for _ in 0..50 {
        seen = status(app.get(&service_path, P1).await.ok(200));
        if seen == "ERROR" {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(seen, "ERROR");
    // A new service cannot take the deleted router: the reference's 404, as for any router
    // Neutron does not have.
    let r = app.post(SERVICES, P1, json!({"vpnservice": {"router_id": R}})).await;
    r.refused(404, "RouterNotFound", R);
    assert!(cloud.lock().unwrap().calls > 0);
}
