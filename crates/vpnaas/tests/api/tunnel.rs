//! End to end: the API, two `vpnaas agent` processes and two real charons in network namespaces.

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use reqwest::Method;
use serde_json::{json, Value};
use vpnaas_agent::testbed::{self, TwoSites};

use crate::support::*;

const TOKEN: &str = "e2e-agent-token";

/// The lab, or a printed reason to skip; under CI a missing lab is a failure.
fn lab(test: &str) -> Option<TwoSites> {
    if let Some(why) = testbed::unavailable() {
        assert!(
            std::env::var("CI").map_or(true, |v| v.is_empty()),
            "{test}: CI runs this as root with strongSwan: {why}"
        );
        eprintln!("SKIPPED {test}: {why}");
        return None;
    }
    Some(TwoSites::start().expect("the two-site lab starts"))
}

/// A `vpnaas agent` process, killed when dropped.
struct Agent(Child);

impl Drop for Agent {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn agent(server: &str, router: &str, vici: &str) -> Agent {
    let child = Command::new(env!("CARGO_BIN_EXE_vpnaas"))
        .args(["agent", "--router", router, "--server", server, "--vici", vici])
        .env("VPNAAS_AGENT_TOKEN", TOKEN)
        .env("VPNAAS_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("spawn vpnaas agent");
    Agent(child)
}

async fn status(p: &Process, conn: &str) -> String {
    let r = p.call(Method::GET, &format!("{CONNS}/{conn}"), P1, None, None).await;
    r.ok(200)["ipsec_site_connection"]["status"].as_str().unwrap_or_default().to_owned()
}

/// Polls until every connection shows `want`, or `limit` passes; returns what it saw last.
async fn until(p: &Process, conns: &[&str], want: &str, limit: Duration) -> Vec<String> {
    let started = Instant::now();
    loop {
        let mut seen = Vec::new();
        for c in conns {
            seen.push(status(p, c).await);
        }
        if seen.iter().all(|s| s == want) || started.elapsed() > limit {
            return seen;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn post(p: &Process, path: &str, who: &str, body: Value) -> String {
    let r = p.call(Method::POST, path, who, Some(body), None).await;
    r.ok(201);
    r.id()
}

async fn put(p: &Process, path: &str, body: Value) {
    p.call(Method::PUT, path, P1, Some(body), None).await.ok(200);
}

/// The server, the inventory of both sites and the two mirrored connection bodies (one PSK each).
struct Setup {
    server: Process,
    routers: [String; 2],
    conns: Vec<Value>,
    _data: tempfile::TempDir,
}

async fn setup(psks: [&str; 2]) -> Setup {
    let data = tempfile::TempDir::new().unwrap();
    let data_dir = data.path().display().to_string();
    let server = spawn_process(
        &["--data-dir", &data_dir],
        &[("VPNAAS_AGENT_TOKEN", TOKEN), ("VPNAAS_DATABASE_URL", ""), ("VPNAAS_AGENT_DEAD_AFTER_SECS", "5")],
    );

    // The inventory, as an admin: two routers with the lab's gateway addresses and their LANs.
    let mut sites = Vec::new();
    for (gw, lan) in [("192.0.2.1", "10.1.0.0/24"), ("192.0.2.2", "10.2.0.0/24")] {
        let gateway = json!({"external_fixed_ips": [{"ip_address": gw}]});
        let router = post(
            &server,
            "/v2.0/routers",
            ADMIN,
            json!({"router": {"tenant_id": P1, "external_gateway_info": gateway}}),
        )
        .await;
        let subnet = post(&server, "/v2.0/subnets", ADMIN, json!({"subnet": {"tenant_id": P1, "cidr": lan}})).await;
        let path = format!("/v2.0/routers/{router}/add_router_interface");
        server.call(Method::PUT, &path, ADMIN, Some(json!({"subnet_id": subnet})), None).await.ok(200);
        sites.push((router, subnet));
    }
    // The VPN, as the project: algorithms the lab's charon has (AES-CBC, SHA-2, MODP).
    let ike = post(
        &server,
        IKE,
        P1,
        json!({"ikepolicy": {"ike_version": "v2", "auth_algorithm": "sha256", "pfs": "group14"}}),
    )
    .await;
    let ipsec = post(&server, IPSEC, P1, json!({"ipsecpolicy": {"auth_algorithm": "sha256", "pfs": "group14"}})).await;
    let mut conns = Vec::new();
    for (i, (router, subnet)) in sites.iter().enumerate() {
        let (peer_gw, peer_lan) = if i == 0 { ("192.0.2.2", "10.2.0.0/24") } else { ("192.0.2.1", "10.1.0.0/24") };
        let service = post(&server, SERVICES, P1, json!({"vpnservice": {"router_id": router}})).await;
        let local =
            post(&server, GROUPS, P1, json!({"endpoint_group": {"type": "subnet", "endpoints": [subnet]}})).await;
        let peer =
            post(&server, GROUPS, P1, json!({"endpoint_group": {"type": "cidr", "endpoints": [peer_lan]}})).await;
        conns.push(json!({"ipsec_site_connection": {
            "name": format!("site{i}"), "psk": psks[i], "peer_address": peer_gw, "peer_id": peer_gw,
            "vpnservice_id": service, "ikepolicy_id": ike, "ipsecpolicy_id": ipsec,
            "local_ep_group_id": local, "peer_ep_group_id": peer,
            "dpd": {"action": "restart", "interval": 2, "timeout": 6}}}));
    }
    Setup { server, routers: [sites[0].0.clone(), sites[1].0.clone()], conns, _data: data }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_gateways_run_a_real_tunnel_driven_only_through_the_api() {
    let Some(mut lab) = lab("two_gateways_run_a_real_tunnel_driven_only_through_the_api") else { return };
    let Setup { server, routers, conns, _data } = setup(["e2e-shared-secret", "e2e-shared-secret"]).await;
    let _agent_a = agent(&server.base, &routers[0], &lab.a.vici);
    let _agent_b = agent(&server.base, &routers[1], &lab.b.vici);
    let a = post(&server, CONNS, P1, conns[0].clone()).await;
    let b = post(&server, CONNS, P1, conns[1].clone()).await;
    let created = Instant::now();
    let seen = until(&server, &[&a, &b], "ACTIVE", Duration::from_secs(30)).await;
    assert_eq!(seen, ["ACTIVE", "ACTIVE"], "both connections come up");
    eprintln!("second 201 to both ACTIVE in the API: {:.2} s", created.elapsed().as_secs_f64());
    assert!(lab.ping_a_to_b(), "10.1.0.1 reaches 10.2.0.1 through the tunnel");

    // A change that does not touch the tunnel leaves it up.
    put(&server, &format!("{CONNS}/{a}"), json!({"ipsec_site_connection": {"description": "renamed"}})).await;
    assert_eq!(until(&server, &[&a], "ACTIVE", Duration::from_secs(10)).await, ["ACTIVE"]);
    assert!(lab.ping_a_to_b(), "still up after a description change");

    // admin_state_up=false unloads one side; true brings it back.
    put(&server, &format!("{CONNS}/{a}"), json!({"ipsec_site_connection": {"admin_state_up": false}})).await;
    assert_eq!(until(&server, &[&a], "DOWN", Duration::from_secs(10)).await, ["DOWN"]);
    assert!(!lab.ping_a_to_b(), "no tunnel while disabled");
    put(&server, &format!("{CONNS}/{a}"), json!({"ipsec_site_connection": {"admin_state_up": true}})).await;
    assert_eq!(until(&server, &[&a, &b], "ACTIVE", Duration::from_secs(30)).await, ["ACTIVE", "ACTIVE"]);
    assert!(lab.ping_a_to_b(), "back after enabling");

    // A dead peer is noticed through DPD, and a restarted charon heals without any API call.
    lab.b.kill_charon();
    assert_eq!(until(&server, &[&a], "DOWN", Duration::from_secs(20)).await, ["DOWN"], "DPD notices the dead peer");
    lab.b.start_charon().expect("charon b restarts");
    assert_eq!(until(&server, &[&a, &b], "ACTIVE", Duration::from_secs(40)).await, ["ACTIVE", "ACTIVE"]);
    assert!(lab.ping_a_to_b(), "the tunnel is back");

    // Deleting one side unloads it; the other side loses its peer.
    server.call(Method::DELETE, &format!("{CONNS}/{b}"), P1, None, None).await.ok(204);
    assert_eq!(until(&server, &[&a], "DOWN", Duration::from_secs(20)).await, ["DOWN"]);
    assert!(!lab.ping_a_to_b());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrong_psk_on_one_side_never_becomes_active() {
    let Some(lab) = lab("a_wrong_psk_on_one_side_never_becomes_active") else { return };
    let Setup { server, routers, conns, _data } = setup(["e2e-shared-secret", "e2e-other-secret"]).await;
    let _agent_a = agent(&server.base, &routers[0], &lab.a.vici);
    let _agent_b = agent(&server.base, &routers[1], &lab.b.vici);
    let a = post(&server, CONNS, P1, conns[0].clone()).await;
    let b = post(&server, CONNS, P1, conns[1].clone()).await;
    // Both gateways load and try; authentication fails every time.
    let seen = until(&server, &[&a, &b], "ACTIVE", Duration::from_secs(8)).await;
    assert!(seen.iter().all(|s| s != "ACTIVE"), "a PSK mismatch must never come up: {seen:?}");
    assert!(seen.iter().all(|s| s == "DOWN"), "loaded but not established: {seen:?}");
    assert!(!lab.ping_a_to_b());
}
