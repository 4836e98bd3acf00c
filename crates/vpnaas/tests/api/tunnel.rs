//! End to end: the API, two `vpnaas agent` processes and two real charons in network namespaces.

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use reqwest::Method;
use serde_json::{json, Value};
use vpnaas_agent::testbed::{self, TwoSites};

use crate::support::*;
use crate::tls::Ca;

pub(crate) const TOKEN: &str = "e2e-agent-token";

/// The lab, or a printed reason to skip; under CI a missing lab is a failure.
pub(crate) fn lab(test: &str) -> Option<TwoSites> {
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
pub(crate) struct Agent(pub(crate) Child);

impl Drop for Agent {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

pub(crate) fn agent(server: &str, router: &str, vici: &str) -> Agent {
    agent_with(server, router, vici, &[], Some(TOKEN))
}

/// [`agent`] with more arguments, and the token or none (a client certificate instead).
fn agent_with(server: &str, router: &str, vici: &str, extra: &[&str], token: Option<&str>) -> Agent {
    agent_of(env!("CARGO_BIN_EXE_vpnaas"), server, router, vici, extra, token)
}

/// [`agent_with`] from another `vpnaas` binary (the previous release's, say).
pub(crate) fn agent_of(
    program: &str,
    server: &str,
    router: &str,
    vici: &str,
    extra: &[&str],
    token: Option<&str>,
) -> Agent {
    let mut cmd = Command::new(program);
    cmd.args(["agent", "--router", router, "--server", server, "--vici", vici]).args(extra);
    if let Some(token) = token {
        cmd.env("VPNAAS_AGENT_TOKEN", token);
    }
    let child = cmd
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
pub(crate) async fn until(p: &Process, conns: &[&str], want: &str, limit: Duration) -> Vec<String> {
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

/// The connection's `tunnel` attribute (ADR 0018).
pub(crate) async fn tunnel(p: &Process, conn: &str) -> Value {
    let r = p.call(Method::GET, &format!("{CONNS}/{conn}"), P1, None, None).await;
    r.ok(200)["ipsec_site_connection"]["tunnel"].clone()
}

/// Polls until the connection's tunnel reason is `want`, or `limit` passes; returns the last.
pub(crate) async fn until_reason(p: &Process, conn: &str, want: &str, limit: Duration) -> Value {
    let started = Instant::now();
    loop {
        let t = tunnel(p, conn).await;
        if t["reason"] == want || started.elapsed() > limit {
            return t;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// The connection's events, as its owner reads them.
async fn events(p: &Process, conn: &str) -> Vec<Value> {
    let r = p.call(Method::GET, &format!("{CONNS}/{conn}/events"), P1, None, None).await;
    r.ok(200)["events"].as_array().cloned().unwrap_or_default()
}

/// `vpnaas_connections{status="..."}` of the server's `/metrics`.
async fn connections_metric(p: &Process, status: &str) -> f64 {
    let text = p.raw(Method::GET, "/metrics").send().await.expect("scrape").text().await.expect("text");
    let series = format!("vpnaas_connections{{status=\"{status}\"}} ");
    text.lines().find_map(|l| l.strip_prefix(series.as_str())).and_then(|v| v.parse().ok()).unwrap_or(-1.0)
}

pub(crate) async fn post(p: &Process, path: &str, who: &str, body: Value) -> String {
    let r = p.call(Method::POST, path, who, Some(body), None).await;
    r.ok(201);
    r.id()
}

async fn put(p: &Process, path: &str, body: Value) {
    p.call(Method::PUT, path, P1, Some(body), None).await.ok(200);
}

/// The server, the inventory of both sites and the two mirrored connection bodies (one PSK each).
pub(crate) struct Setup {
    pub(crate) server: Process,
    pub(crate) routers: [String; 2],
    pub(crate) conns: Vec<Value>,
    pub(crate) _data: tempfile::TempDir,
}

pub(crate) async fn setup(psks: [&str; 2]) -> Setup {
    setup_with(psks, &[], None).await
}

/// [`setup`] with more server variables, and the CA its certificate is from (HTTPS).
async fn setup_with(psks: [&str; 2], extra: &[(&str, &str)], ca: Option<reqwest::Certificate>) -> Setup {
    let data = tempfile::TempDir::new().unwrap();
    let data_dir = data.path().display().to_string();
    let mut envs =
        vec![("VPNAAS_AGENT_TOKEN", TOKEN), ("VPNAAS_DATABASE_URL", ""), ("VPNAAS_AGENT_DEAD_AFTER_SECS", "5")];
    envs.extend_from_slice(extra);
    let mut server = spawn_process(&["--data-dir", &data_dir], &envs);
    if let Some(ca) = ca {
        server = server.trusting(ca);
    }
    let (routers, conns) = two_sites(&server, psks).await;
    Setup { server, routers, conns, _data: data }
}

/// The inventory and the VPN of the lab's two sites, through `server`'s API: the two routers and
/// the two mirrored connection bodies (one PSK each), not yet created.
pub(crate) async fn two_sites(server: &Process, psks: [&str; 2]) -> ([String; 2], Vec<Value>) {
    // The inventory, as an admin: two routers with the lab's gateway addresses and their LANs.
    let mut sites = Vec::new();
    for (gw, lan) in [("192.0.2.1", "10.1.0.0/24"), ("192.0.2.2", "10.2.0.0/24")] {
        let gateway = json!({"external_fixed_ips": [{"ip_address": gw}]});
        let router = post(
            server,
            "/v2.0/routers",
            ADMIN,
            json!({"router": {"tenant_id": P1, "external_gateway_info": gateway}}),
        )
        .await;
        let subnet = post(server, "/v2.0/subnets", ADMIN, json!({"subnet": {"tenant_id": P1, "cidr": lan}})).await;
        let path = format!("/v2.0/routers/{router}/add_router_interface");
        server.call(Method::PUT, &path, ADMIN, Some(json!({"subnet_id": subnet})), None).await.ok(200);
        sites.push((router, subnet));
    }
    // The VPN, as the project: algorithms the lab's charon has (AES-CBC, SHA-2, MODP).
    let ike = post(
        server,
        IKE,
        P1,
        json!({"ikepolicy": {"ike_version": "v2", "auth_algorithm": "sha256", "pfs": "group14"}}),
    )
    .await;
    let ipsec = post(server, IPSEC, P1, json!({"ipsecpolicy": {"auth_algorithm": "sha256", "pfs": "group14"}})).await;
    let mut conns = Vec::new();
    for (i, (router, subnet)) in sites.iter().enumerate() {
        let (peer_gw, peer_lan) = if i == 0 { ("192.0.2.2", "10.2.0.0/24") } else { ("192.0.2.1", "10.1.0.0/24") };
        let service = post(server, SERVICES, P1, json!({"vpnservice": {"router_id": router}})).await;
        let local =
            post(server, GROUPS, P1, json!({"endpoint_group": {"type": "subnet", "endpoints": [subnet]}})).await;
        let peer = post(server, GROUPS, P1, json!({"endpoint_group": {"type": "cidr", "endpoints": [peer_lan]}})).await;
        conns.push(json!({"ipsec_site_connection": {
            "name": format!("site{i}"), "psk": psks[i], "peer_address": peer_gw, "peer_id": peer_gw,
            "vpnservice_id": service, "ikepolicy_id": ike, "ipsecpolicy_id": ipsec,
            "local_ep_group_id": local, "peer_ep_group_id": peer,
            "dpd": {"action": "restart", "interval": 2, "timeout": 6}}}));
    }
    ([sites[0].0.clone(), sites[1].0.clone()], conns)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_gateways_run_a_real_tunnel_driven_only_through_the_api() {
    let Some(mut lab) = lab("two_gateways_run_a_real_tunnel_driven_only_through_the_api") else { return };
    let Setup { server, routers, conns, _data } = setup(["e2e-shared-secret", "e2e-shared-secret"]).await;
    let _agent_a = agent(&server.base, &routers[0], &lab.a.vici);
    let _agent_b = agent(&server.base, &routers[1], &lab.b.vici);
    assert_eq!(connections_metric(&server, "ACTIVE").await, 0.0, "/metrics: nothing ACTIVE yet");
    let a = post(&server, CONNS, P1, conns[0].clone()).await;
    let b = post(&server, CONNS, P1, conns[1].clone()).await;
    let created = Instant::now();
    let seen = until(&server, &[&a, &b], "ACTIVE", Duration::from_secs(30)).await;
    assert_eq!(seen, ["ACTIVE", "ACTIVE"], "both connections come up");
    eprintln!("second 201 to both ACTIVE in the API: {:.2} s", created.elapsed().as_secs_f64());
    assert!(lab.ping_a_to_b(), "10.1.0.1 reaches 10.2.0.1 through the tunnel");
    assert_eq!(connections_metric(&server, "ACTIVE").await, 2.0, "/metrics counts both ACTIVE");
    assert_eq!(connections_metric(&server, "PENDING_CREATE").await, 0.0);

    // ADR 0018: the detail of an ACTIVE tunnel, its counters growing while a ping runs,
    // and the negotiation events that brought it up.
    let up = tunnel(&server, &a).await;
    assert!(up["reason"].is_null() && up["reported_at"].is_string(), "{up:#}");
    let before = up["packets_out"].as_u64().unwrap_or(0) + up["packets_in"].as_u64().unwrap_or(0);
    let pinging = Instant::now();
    let grown = loop {
        assert!(lab.ping_a_to_b(), "pings go through the tunnel");
        let t = tunnel(&server, &a).await;
        let now = t["packets_out"].as_u64().unwrap_or(0) + t["packets_in"].as_u64().unwrap_or(0);
        if now > before && t["bytes_in"].as_u64().unwrap_or(0) > 0 {
            break t;
        }
        assert!(pinging.elapsed() < Duration::from_secs(30), "counters never grew: {t:#}");
        tokio::time::sleep(Duration::from_millis(500)).await;
    };
    eprintln!("counters grew within {:.1} s of pinging: {grown}", pinging.elapsed().as_secs_f64());
    let kinds: Vec<String> =
        events(&server, &a).await.iter().map(|e| e["kind"].as_str().unwrap_or("").to_owned()).collect();
    assert!(kinds.iter().any(|k| k == "child_up"), "the events show the CHILD_SA coming up: {kinds:?}");

    // A change that does not touch the tunnel leaves it up.
    put(&server, &format!("{CONNS}/{a}"), json!({"ipsec_site_connection": {"description": "renamed"}})).await;
    assert_eq!(until(&server, &[&a], "ACTIVE", Duration::from_secs(10)).await, ["ACTIVE"]);
    assert!(lab.ping_a_to_b(), "still up after a description change");

    // admin_state_up=false unloads one side; true brings it back.
    put(&server, &format!("{CONNS}/{a}"), json!({"ipsec_site_connection": {"admin_state_up": false}})).await;
    assert_eq!(until(&server, &[&a], "DOWN", Duration::from_secs(10)).await, ["DOWN"]);
    assert!(!lab.ping_a_to_b(), "no tunnel while disabled");
    assert_eq!(tunnel(&server, &a).await["reason"], "admin_down");
    assert!(connections_metric(&server, "ACTIVE").await < 2.0, "/metrics follows");
    assert!(connections_metric(&server, "DOWN").await >= 1.0, "/metrics counts the DOWN one");
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
async fn two_gateways_over_https_with_the_token_then_with_client_certificates_each_limited_to_its_router() {
    let Some(lab) =
        lab("two_gateways_over_https_with_the_token_then_with_client_certificates_each_limited_to_its_router")
    else {
        return;
    };
    let ca = Ca::new("vpnaas server CA");
    let agents = Ca::new("vpnaas agents CA");
    let cert = ca.server("server", "vpnaas");
    let (cert_file, key_file, client_ca) =
        (cert.cert.display().to_string(), cert.key.display().to_string(), agents.file().display().to_string());
    let envs = [
        ("VPNAAS_TLS_CERT_FILE", cert_file.as_str()),
        ("VPNAAS_TLS_KEY_FILE", key_file.as_str()),
        ("VPNAAS_TLS_CLIENT_CA_FILE", client_ca.as_str()),
    ];
    let psk = "e2e-shared-secret";
    let Setup { server, routers, conns, _data } = setup_with([psk, psk], &envs, Some(ca.root())).await;
    assert!(server.base.starts_with("https://"), "{}", server.base);
    let ca_file = ca.file().display().to_string();

    // HTTPS with the shared token.
    let token_a = agent_with(&server.base, &routers[0], &lab.a.vici, &["--ca-file", &ca_file], Some(TOKEN));
    let token_b = agent_with(&server.base, &routers[1], &lab.b.vici, &["--ca-file", &ca_file], Some(TOKEN));
    let a = post(&server, CONNS, P1, conns[0].clone()).await;
    let b = post(&server, CONNS, P1, conns[1].clone()).await;
    assert_eq!(until(&server, &[&a, &b], "ACTIVE", Duration::from_secs(30)).await, ["ACTIVE", "ACTIVE"]);
    assert!(lab.ping_a_to_b(), "the tunnel is up with agents over HTTPS");
    drop((token_a, token_b));

    // Mutual TLS instead of the token: each agent's certificate names its router. The TLS
    // options come from the agent's configuration file.
    let mine: Vec<_> = routers.iter().map(|r| agents.issue(&format!("agent-{r}"), r, &[])).collect();
    let configs = tempfile::tempdir().unwrap();
    let mtls = |i: usize, vici: &str| {
        let file = configs.path().join(format!("agent-{i}.toml"));
        let text = format!(
            "ca_file = {:?}\ntls_client_cert = {:?}\ntls_client_key = {:?}\n",
            ca_file, mine[i].cert, mine[i].key
        );
        std::fs::write(&file, text).unwrap();
        agent_with(&server.base, &routers[i], vici, &["--config", &file.display().to_string()], None)
    };
    let _cert_a = mtls(0, &lab.a.vici);
    let _cert_b = mtls(1, &lab.b.vici);
    // A change reaches both gateways through the certificate agents.
    put(&server, &format!("{CONNS}/{a}"), json!({"ipsec_site_connection": {"admin_state_up": false}})).await;
    assert_eq!(until(&server, &[&a], "DOWN", Duration::from_secs(10)).await, ["DOWN"]);
    assert!(!lab.ping_a_to_b(), "no tunnel while disabled");
    put(&server, &format!("{CONNS}/{a}"), json!({"ipsec_site_connection": {"admin_state_up": true}})).await;
    assert_eq!(until(&server, &[&a, &b], "ACTIVE", Duration::from_secs(30)).await, ["ACTIVE", "ACTIVE"]);
    assert!(lab.ping_a_to_b(), "the tunnel is back with agents on client certificates from their files");

    // Router A's certificate, stolen, does not read router B's state (its PSK).
    let stolen =
        reqwest::Client::builder().add_root_certificate(ca.root()).identity(mine[0].identity()).build().unwrap();
    let own = send(stolen.get(format!("{}/v2.0/gateway/routers/{}/state", server.base, routers[0]))).await;
    assert_eq!(own.ok(200)["connections"][0]["psk"], psk);
    let other = send(stolen.get(format!("{}/v2.0/gateway/routers/{}/state", server.base, routers[1]))).await;
    other.refused(404, "RouterNotFound", &routers[1]);
    assert!(!other.body.to_string().contains(psk));
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
    // ADR 0018: each side says why, from what its charon logged (the responder finds the
    // MAC mismatched, the initiator is told AUTHENTICATION_FAILED).
    for conn in [&a, &b] {
        let t = until_reason(&server, conn, "auth_failed", Duration::from_secs(30)).await;
        assert_eq!(t["reason"], "auth_failed", "{conn}: {t:#}");
        assert!(t["reason_description"].as_str().unwrap_or("").contains("pre-shared keys"), "{t:#}");
        let events = events(&server, conn).await;
        let failed = events.iter().find(|e| e["reason"] == "auth_failed");
        assert!(failed.is_some(), "{conn}: the events show the failure: {events:#?}");
        eprintln!("{conn}: {}", failed.map(|e| e["message"].to_string()).unwrap_or_default());
        let all = events.iter().map(|e| e["message"].as_str().unwrap_or("")).collect::<Vec<_>>().join(" ");
        assert!(!all.contains("e2e-shared-secret") && !all.contains("e2e-other-secret"), "no key in events");
    }
    let other = server.call(Method::GET, &format!("{CONNS}/{a}/events"), P2, None, None).await;
    other.refused(404, "IPsecSiteConnectionNotFound", &a);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_peer_without_an_ike_daemon_shows_peer_unreachable() {
    let Some(mut lab) = lab("a_peer_without_an_ike_daemon_shows_peer_unreachable") else { return };
    let Setup { server, routers, conns, _data } = setup(["e2e-shared-secret", "e2e-shared-secret"]).await;
    // Site B's address answers, but no charon listens there.
    lab.b.stop_charon();
    let _agent_a = agent(&server.base, &routers[0], &lab.a.vici);
    let a = post(&server, CONNS, P1, conns[0].clone()).await;
    let started = Instant::now();
    let t = until_reason(&server, &a, "peer_unreachable", Duration::from_secs(40)).await;
    assert_eq!(t["reason"], "peer_unreachable", "{t:#}");
    eprintln!("peer_unreachable in the API {:.1} s after the create", started.elapsed().as_secs_f64());
    assert_eq!(status(&server, &a).await, "DOWN");
    let events = events(&server, &a).await;
    assert!(events.iter().any(|e| e["reason"] == "peer_unreachable"), "{events:#?}");
}

// ---------------------------------------------------------------- one agent per host (ADR 0011)

/// Whether the lab can run here (printing why not); under CI a missing lab is a failure.
pub(crate) fn lab_runs(test: &str) -> bool {
    if let Some(why) = testbed::unavailable() {
        assert!(
            std::env::var("CI").map_or(true, |v| v.is_empty()),
            "{test}: CI runs this as root with strongSwan: {why}"
        );
        eprintln!("SKIPPED {test}: {why}");
        return false;
    }
    true
}

/// What the host-agent lab tests start from: a server (with `extra` variables), the project's
/// policies, and an empty lab; charons a host agent starts under `state_dir` die with the lab.
pub(crate) struct HostLab {
    pub(crate) _data: tempfile::TempDir,
    pub(crate) server: Process,
    pub(crate) pols: (String, String),
    pub(crate) lab: testbed::Lab,
    pub(crate) state_dir: std::path::PathBuf,
}

/// [`HostLab`], or `None` with a printed reason when the lab cannot run here (not under CI).
pub(crate) async fn host_lab(test: &str, extra: &[(&str, &str)]) -> Option<HostLab> {
    if !lab_runs(test) {
        return None;
    }
    let data = tempfile::TempDir::new().unwrap();
    let server = lab_server(&data, extra);
    let pols = policies(&server).await;
    let mut lab = testbed::Lab::start().expect("the lab starts");
    let state_dir = lab.root().join("charons");
    lab.sweep(state_dir.clone());
    Some(HostLab { _data: data, server, pols, lab, state_dir })
}

/// `vpnaas agent --host HOST` with more arguments, killed when dropped.
pub(crate) fn host_agent(server: &str, host: &str, extra: &[&str]) -> Agent {
    let child = Command::new(env!("CARGO_BIN_EXE_vpnaas"))
        .args(["agent", "--host", host, "--server", server])
        .args(extra)
        .env("VPNAAS_AGENT_TOKEN", TOKEN)
        .env("VPNAAS_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("spawn vpnaas agent --host");
    Agent(child)
}

/// A server for the lab tests (agent token, dead gateways after 5 s, `extra` variables).
pub(crate) fn lab_server(data: &tempfile::TempDir, extra: &[(&str, &str)]) -> Process {
    let data_dir = data.path().display().to_string();
    let mut envs =
        vec![("VPNAAS_AGENT_TOKEN", TOKEN), ("VPNAAS_DATABASE_URL", ""), ("VPNAAS_AGENT_DEAD_AFTER_SECS", "5")];
    envs.extend_from_slice(extra);
    spawn_process(&["--data-dir", &data_dir], &envs)
}

/// A router with a gateway address and a LAN subnet, placed on `host` (or nowhere).
pub(crate) async fn lab_router(p: &Process, gw: &str, lan: &str, host: Option<&str>) -> (String, String) {
    let gateway = json!({"external_fixed_ips": [{"ip_address": gw}]});
    let router =
        post(p, "/v2.0/routers", ADMIN, json!({"router": {"tenant_id": P1, "external_gateway_info": gateway}})).await;
    let subnet = post(p, "/v2.0/subnets", ADMIN, json!({"subnet": {"tenant_id": P1, "cidr": lan}})).await;
    let path = format!("/v2.0/routers/{router}/add_router_interface");
    p.call(Method::PUT, &path, ADMIN, Some(json!({"subnet_id": subnet})), None).await.ok(200);
    if let Some(host) = host {
        place(p, &router, json!(host)).await;
    }
    (router, subnet)
}

pub(crate) async fn place(p: &Process, router: &str, host: Value) {
    let body = json!({"router": {"binding:host_id": host}});
    p.call(Method::PUT, &format!("/v2.0/routers/{router}"), ADMIN, Some(body), None).await.ok(200);
}

/// The project's IKE and IPsec policies (algorithms the lab's charon has).
pub(crate) async fn policies(p: &Process) -> (String, String) {
    let ike =
        post(p, IKE, P1, json!({"ikepolicy": {"ike_version": "v2", "auth_algorithm": "sha256", "pfs": "group14"}}))
            .await;
    let ipsec = post(p, IPSEC, P1, json!({"ipsecpolicy": {"auth_algorithm": "sha256", "pfs": "group14"}})).await;
    (ike, ipsec)
}

/// A VPN service on `router` with its local and peer endpoint groups: (service, local, peer).
pub(crate) async fn vpn(p: &Process, router: &str, subnet: &str, peer_lan: &str) -> (String, String, String) {
    let service = post(p, SERVICES, P1, json!({"vpnservice": {"router_id": router}})).await;
    let local = post(p, GROUPS, P1, json!({"endpoint_group": {"type": "subnet", "endpoints": [subnet]}})).await;
    let peer = post(p, GROUPS, P1, json!({"endpoint_group": {"type": "cidr", "endpoints": [peer_lan]}})).await;
    (service, local, peer)
}

pub(crate) async fn connect(
    p: &Process,
    policies: &(String, String),
    vpn: &(String, String, String),
    peer_gw: &str,
) -> String {
    let body = json!({"ipsec_site_connection": {
        "psk": "e2e-host-secret", "peer_address": peer_gw, "peer_id": peer_gw,
        "vpnservice_id": vpn.0, "ikepolicy_id": policies.0, "ipsecpolicy_id": policies.1,
        "local_ep_group_id": vpn.1, "peer_ep_group_id": vpn.2,
        "dpd": {"action": "restart", "interval": 2, "timeout": 6}}});
    post(p, CONNS, P1, body).await
}

/// What shows that nobody touched a charon: its SAs' unique ids, and how many connections
/// were ever loaded into it over VICI (charon logs each load).
async fn fingerprint(state_dir: &std::path::Path, router: &str) -> (Vec<(u64, Vec<u64>)>, usize) {
    let dir = state_dir.join(router);
    let vici = format!("unix://{}/charon.vici", dir.display());
    let mut charon = vpnaas_agent::charon::ViciCharon::new(&vici, Duration::from_secs(5)).expect("a VICI URI");
    let sas = vpnaas_agent::charon::Charon::list_sas(&mut charon).await.expect("list-sas");
    let mut ids: Vec<(u64, Vec<u64>)> =
        sas.iter().map(|s| (s.unique_id, s.children.iter().map(|c| c.unique_id).collect())).collect();
    ids.sort();
    let log = std::fs::read_to_string(dir.join("charon.log")).unwrap_or_default();
    (ids, log.lines().filter(|l| l.contains("vici connection")).count())
}

const HOSTED: [(&str, &str, &str); 3] = [
    ("192.0.2.11", "10.11.0.1", "10.11.0.0/24"),
    ("192.0.2.12", "10.12.0.1", "10.12.0.0/24"),
    ("192.0.2.13", "10.13.0.1", "10.13.0.0/24"),
];
const PEERS: [(&str, &str, &str); 3] = [
    ("192.0.2.21", "10.21.0.1", "10.21.0.0/24"),
    ("192.0.2.22", "10.22.0.1", "10.22.0.0/24"),
    ("192.0.2.23", "10.23.0.1", "10.23.0.0/24"),
];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_host_agent_runs_three_routers_each_in_its_qrouter_namespace() {
    let test = "one_host_agent_runs_three_routers_each_in_its_qrouter_namespace";
    let Some(HostLab { _data, server, pols, mut lab, state_dir }) = host_lab(test, &[]).await else { return };
    // net-1 runs three routers, each in qrouter-<id> with a charon the agent starts; net-2
    // runs their three peers, attached to charons the lab starts.
    let mut hosted = Vec::new();
    let mut conns = Vec::new();
    for i in 0..3 {
        let (gw, lan_ip, lan) = HOSTED[i];
        let (pgw, plan_ip, plan) = PEERS[i];
        let (r, rs) = lab_router(&server, gw, lan, Some("net-1")).await;
        let (p, ps) = lab_router(&server, pgw, plan, Some("net-2")).await;
        lab.add_site(&format!("hosted{i}"), Some(format!("qrouter-{r}")), gw, lan_ip, lan)
            .expect("a qrouter namespace");
        let peer = lab.add_site(&p, None, pgw, plan_ip, plan).expect("a peer site");
        lab.sites[peer].start_charon().expect("the peer's charon starts");
        let mine = connect(&server, &pols, &vpn(&server, &r, &rs, plan).await, pgw).await;
        let theirs = connect(&server, &pols, &vpn(&server, &p, &ps, lan).await, gw).await;
        hosted.push(r);
        conns.push((mine, theirs));
    }
    let state_arg = state_dir.display().to_string();
    let template = format!("unix://{}/{{router_id}}/charon.vici", lab.root().display());
    let started = Instant::now();
    let _net1 =
        host_agent(&server.base, "net-1", &["--netns-template", "qrouter-{router_id}", "--state-dir", &state_arg]);
    let _net2 = host_agent(&server.base, "net-2", &["--vici-template", &template]);
    let all: Vec<&str> = conns.iter().flat_map(|(a, b)| [a.as_str(), b.as_str()]).collect();
    let seen = until(&server, &all, "ACTIVE", Duration::from_secs(60)).await;
    assert!(seen.iter().all(|s| s == "ACTIVE"), "six connections of six routers on two hosts: {seen:?}");
    eprintln!("two host agents, six routers: all ACTIVE in the API after {:.2} s", started.elapsed().as_secs_f64());
    for i in 0..3 {
        assert!(
            lab.sites[2 * i].ping(PEERS[i].1),
            "{} reaches {} through router {i}'s tunnel",
            HOSTED[i].1,
            PEERS[i].1
        );
    }
    assert!(state_dir.join(&hosted[0]).join("charon.vici").exists(), "each router's socket under --state-dir");

    // One change to router 0 reloads its charon and touches no other router's.
    let others_before = [fingerprint(&state_dir, &hosted[1]).await, fingerprint(&state_dir, &hosted[2]).await];
    let (_, loads_before) = fingerprint(&state_dir, &hosted[0]).await;
    let dpd = json!({"ipsec_site_connection": {"dpd": {"action": "restart", "interval": 3, "timeout": 9}}});
    put(&server, &format!("{CONNS}/{}", conns[0].0), dpd).await;
    assert_eq!(until(&server, &[&conns[0].0], "ACTIVE", Duration::from_secs(30)).await, ["ACTIVE"]);
    let (_, loads_after) = fingerprint(&state_dir, &hosted[0]).await;
    assert!(loads_after > loads_before, "router 0's charon got the new rendering ({loads_before} -> {loads_after})");
    tokio::time::sleep(Duration::from_secs(1)).await;
    let others_after = [fingerprint(&state_dir, &hosted[1]).await, fingerprint(&state_dir, &hosted[2]).await];
    assert_eq!(others_before, others_after, "routers 1 and 2: same SAs, no load over VICI");
    assert!(others_after.iter().all(|(sas, _)| !sas.is_empty()));

    // A router's charon dies: the agent starts it again, and its tunnel comes back alone.
    let dir = state_dir.join(&hosted[1]);
    let pid = vpnaas_agent::managed::pid_file(&dir).expect("router 1's charon has a PID file");
    Command::new("kill").args(["-KILL", &pid.to_string()]).status().expect("kill");
    assert_eq!(until(&server, &[&conns[1].0], "DOWN", Duration::from_secs(20)).await, ["DOWN"]);
    assert_eq!(
        until(&server, &[&conns[1].0, &conns[1].1], "ACTIVE", Duration::from_secs(40)).await,
        ["ACTIVE", "ACTIVE"]
    );
    assert_ne!(vpnaas_agent::managed::pid_file(&dir), Some(pid), "a new charon");
    assert!(lab.sites[2].ping(PEERS[1].1), "router 1's tunnel is back");

    // A router that leaves the host has its charon stopped.
    let pid = vpnaas_agent::managed::pid_file(&state_dir.join(&hosted[2])).expect("router 2's charon");
    place(&server, &hosted[2], Value::Null).await;
    let deadline = Instant::now() + Duration::from_secs(15);
    while vpnaas_agent::managed::is_charon(pid) {
        assert!(Instant::now() < deadline, "router 2's charon still runs after it left the host");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(lab.sites[0].ping(PEERS[0].1), "router 0 is unaffected");
}

/// The role each of `router`'s connections has in its pair, from the gateway API.
async fn roles(p: &Process, router: &str) -> Vec<(String, String)> {
    let client = reqwest::Client::new();
    let state: Value = client
        .get(format!("{}/v2.0/gateway/routers/{router}/state", p.base))
        .bearer_auth(TOKEN)
        .send()
        .await
        .expect("state")
        .json()
        .await
        .expect("JSON");
    state["connections"]
        .as_array()
        .map(|cs| {
            cs.iter()
                .map(|c| {
                    let role = c["ha"]["role"].as_str().unwrap_or_default().to_lowercase();
                    (c["id"].as_str().unwrap_or_default().to_owned(), role)
                })
                .collect()
        })
        .unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pair_fails_over_to_its_standby_through_real_charons() {
    let test = "a_pair_fails_over_to_its_standby_through_real_charons";
    let Some(HostLab { _data, server, pols, mut lab, state_dir }) =
        host_lab(test, &[("VPNAAS_HA_HOLD_DOWN_SECS", "1")]).await
    else {
        return;
    };
    // Site A (a host agent's qrouter namespace) reaches the remote LAN 10.2.0.0/24 through
    // either of two gateways, B and C (per-router agents beside lab charons).
    let (a, a_subnet) = lab_router(&server, "192.0.2.1", "10.1.0.0/24", Some("net-1")).await;
    let (b, b_subnet) = lab_router(&server, "192.0.2.2", "10.2.0.0/24", None).await;
    let (c, c_subnet) = lab_router(&server, "192.0.2.3", "10.2.0.0/24", None).await;
    lab.add_site("a", Some(format!("qrouter-{a}")), "192.0.2.1", "10.1.0.1", "10.1.0.0/24").expect("site A");
    let sb = lab.add_site("b", None, "192.0.2.2", "10.2.0.1", "10.2.0.0/24").expect("site B");
    let sc = lab.add_site("c", None, "192.0.2.3", "10.2.0.1", "10.2.0.0/24").expect("site C");
    lab.sites[sb].start_charon().expect("charon B");
    lab.sites[sc].start_charon().expect("charon C");
    let b_to_a = connect(&server, &pols, &vpn(&server, &b, &b_subnet, "10.1.0.0/24").await, "192.0.2.1").await;
    let c_to_a = connect(&server, &pols, &vpn(&server, &c, &c_subnet, "10.1.0.0/24").await, "192.0.2.1").await;
    let a_vpn = vpn(&server, &a, &a_subnet, "10.2.0.0/24").await;
    let a_to_b = connect(&server, &pols, &a_vpn, "192.0.2.2").await;
    let a_to_c = connect(&server, &pols, &a_vpn, "192.0.2.3").await;
    let state_arg = state_dir.display().to_string();
    let _net1 =
        host_agent(&server.base, "net-1", &["--netns-template", "qrouter-{router_id}", "--state-dir", &state_arg]);
    let _agent_b = agent(&server.base, &b, &lab.sites[sb].vici);
    let _agent_c = agent(&server.base, &c, &lab.sites[sc].vici);

    // Wait for the pair to settle: its active member up on both ends.
    let peer_of = |conn: &str| if conn == a_to_b { (b_to_a.clone(), sb) } else { (c_to_a.clone(), sc) };
    let deadline = Instant::now() + Duration::from_secs(60);
    let (active, standby) = loop {
        let r = roles(&server, &a).await;
        let active = r.iter().find(|(_, role)| role == "active").map(|(id, _)| id.clone());
        let standby = r.iter().find(|(_, role)| role == "standby").map(|(id, _)| id.clone());
        if let (Some(active), Some(standby)) = (active, standby) {
            let (back, _) = peer_of(&active);
            if status(&server, &active).await == "ACTIVE" && status(&server, &back).await == "ACTIVE" {
                break (active, standby);
            }
        }
        assert!(Instant::now() < deadline, "the pair's active member never came up: {r:?}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    assert_ne!(status(&server, &standby).await, "ACTIVE", "the standby has no tunnel");
    assert!(lab.sites[0].ping("10.2.0.1"), "A's LAN reaches the remote LAN through the active member");

    // The active member's peer dies: DPD notices, the agent reports it, the server swaps the
    // roles, and the agent brings the standby up; nobody calls the API.
    let (_, dead_site) = peer_of(&active);
    let killed = Instant::now();
    lab.sites[dead_site].kill_charon();
    let seen = until(&server, &[&standby], "ACTIVE", Duration::from_secs(60)).await;
    let took = killed.elapsed();
    assert_eq!(seen, ["ACTIVE"], "the standby takes over");
    eprintln!("fail-over: peer charon killed to standby ACTIVE in the API in {:.2} s", took.as_secs_f64());
    let r = roles(&server, &a).await;
    assert!(r.contains(&(standby.clone(), "active".to_owned())), "the roles swapped: {r:?}");
    assert!(lab.sites[0].ping("10.2.0.1"), "the remote LAN is reached through the other gateway");
    let _ = (a_to_c, standby);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_plain_charon_loaded_with_only_the_swanctl_export_brings_the_tunnel_up() {
    let test = "a_plain_charon_loaded_with_only_the_swanctl_export_brings_the_tunnel_up";
    let Some(lab) = lab(test) else { return };
    let Setup { server, routers, conns, _data } = setup(["e2e-export-secret", "unused"]).await;
    // Site A: vpnaas and its agent. Site B: no agent, no vpnaas connection; its charon gets
    // nothing but the export of A's connection.
    let _agent_a = agent(&server.base, &routers[0], &lab.a.vici);
    let a = post(&server, CONNS, P1, conns[0].clone()).await;
    let path = format!("{CONNS}/{a}/peer-config?format=swanctl");
    let (status, kind, text) = crate::peer_config::fetch(server.raw(Method::GET, &path), P1, "member").await;
    assert_eq!((status, kind.as_str()), (200, "text/plain; charset=utf-8"), "{text}");
    let file = lab.b.dir.join("swanctl.conf");
    std::fs::write(&file, &text).expect("write the export");
    let fetched = Instant::now();
    let out = Command::new("swanctl")
        .args(["--load-all", "--file", &file.display().to_string(), "--uri", &lab.b.vici])
        .output()
        .expect("swanctl");
    assert!(
        out.status.success(),
        "swanctl --load-all refuses the export: {}{}\n{text}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let seen = until(&server, &[&a], "ACTIVE", Duration::from_secs(30)).await;
    assert_eq!(seen, ["ACTIVE"], "A's connection comes up against the exported peer: {}", lab.b.log());
    eprintln!("export loaded at B to A ACTIVE in the API: {:.2} s", fetched.elapsed().as_secs_f64());
    assert!(lab.ping_a_to_b(), "10.1.0.1 reaches 10.2.0.1 through the tunnel to the exported peer");
    assert!(lab.b.ping(lab.a.lan_ip), "and back from B's LAN");
}

/// A router placed on a host where its `qrouter-<id>` namespace does not exist yet (the L3
/// agent has not made it): the host agent cannot start its charon, and the connection says
/// so (`namespace_missing`, and `ip netns exec`'s own words for admins) instead of "the IKE
/// daemon is unreachable". Once the namespace appears the tunnel comes up on its own.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_missing_qrouter_namespace_is_named_until_it_appears() {
    let test = "a_missing_qrouter_namespace_is_named_until_it_appears";
    let Some(HostLab { _data, server, pols, mut lab, state_dir }) = host_lab(test, &[]).await else { return };
    let (gw, lan_ip, lan) = ("192.0.2.51", "10.51.0.1", "10.51.0.0/24");
    let (pgw, plan_ip, plan) = ("192.0.2.52", "10.52.0.1", "10.52.0.0/24");
    let (r, rs) = lab_router(&server, gw, lan, Some("net-1")).await;
    let (p, ps) = lab_router(&server, pgw, plan, Some("net-2")).await;
    let peer = lab.add_site(&p, None, pgw, plan_ip, plan).expect("a peer site");
    lab.sites[peer].start_charon().expect("the peer's charon starts");
    let mine = connect(&server, &pols, &vpn(&server, &r, &rs, plan).await, pgw).await;
    let theirs = connect(&server, &pols, &vpn(&server, &p, &ps, lan).await, gw).await;
    let state_arg = state_dir.display().to_string();
    let template = format!("unix://{}/{{router_id}}/charon.vici", lab.root().display());
    let _net1 = host_agent(&server.base, "net-1", &["--state-dir", &state_arg]);
    let _net2 = host_agent(&server.base, "net-2", &["--vici-template", &template]);

    let t = until_reason(&server, &mine, "namespace_missing", Duration::from_secs(20)).await;
    assert_eq!(t["reason"], "namespace_missing", "{t}");
    assert!(t["reason_description"].as_str().unwrap().contains("namespace"), "{t}");
    let shown = server.call(Method::GET, &format!("{CONNS}/{mine}"), ADMIN, None, None).await;
    let c = shown.ok(200)["ipsec_site_connection"].clone();
    let why = c["status_description"].as_str().unwrap_or_default();
    assert!(why.contains(&format!("Cannot open network namespace \"qrouter-{r}\"")), "admins see the cause: {c}");

    // The L3 agent makes the namespace: the host agent starts charon there, and the tunnel comes up.
    lab.add_site("late", Some(format!("qrouter-{r}")), gw, lan_ip, lan).expect("the qrouter namespace");
    let seen = until(&server, &[&mine, &theirs], "ACTIVE", Duration::from_secs(30)).await;
    assert_eq!(seen, ["ACTIVE", "ACTIVE"]);
    assert_eq!(tunnel(&server, &mine).await["reason"], Value::Null);
}
