//! Secrets stay secret: a whole workflow at the most verbose log level never prints a PSK or a token.

use std::io::Read;
use std::process::{Command, Stdio};

use reqwest::Method;
use serde_json::json;

use crate::support::*;

const PSK: &str = "canary-psk-7f3a9c";
const TOKEN: &str = "canary-token-51d2e8";
const AGENT_TOKEN: &str = "canary-agent-0b6e44";

#[tokio::test]
async fn no_psk_or_token_reaches_the_log_even_at_trace_level() {
    let data = tempfile::TempDir::new().unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_vpnaas"))
        .args(["serve", "--listen", "127.0.0.1:0", "--data-dir"])
        .arg(data.path())
        .env("VPNAAS_LOG", "trace")
        .env("VPNAAS_DATABASE_URL", "")
        .env("VPNAAS_NOAUTH_TOKENS", format!("{TOKEN}=p1:member;admin-{TOKEN}=admin:admin"))
        .env("VPNAAS_AGENT_TOKEN", AGENT_TOKEN)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdout = child.stdout.take().unwrap();
    let mut stderr = child.stderr.take().unwrap();
    // Read the output on threads, keeping the first line's address.
    let (tx, rx) = std::sync::mpsc::channel::<String>();
    let out = std::thread::spawn(move || {
        let mut all = Vec::new();
        let mut buf = [0u8; 4096];
        let mut sent = false;
        while let Ok(n) = stdout.read(&mut buf) {
            if n == 0 {
                break;
            }
            all.extend_from_slice(&buf[..n]);
            let text = String::from_utf8_lossy(&all);
            if !sent && text.contains("listening on") {
                let _ = tx.send(text.into_owned());
                sent = true;
            }
        }
        all
    });
    let err = std::thread::spawn(move || {
        let mut all = Vec::new();
        let _ = stderr.read_to_end(&mut all);
        all
    });
    let first = rx.recv_timeout(std::time::Duration::from_secs(20)).expect("the server starts");
    let line = first.lines().find(|l| l.contains("listening on")).unwrap().to_owned();
    let server = Process::from_child(child, &line);

    let call = |method: Method, path: String, token: String, body: Option<serde_json::Value>| {
        let mut req =
            reqwest::Client::new().request(method, format!("{}{}", server.base, path)).header("X-Auth-Token", token);
        if let Some(b) = body {
            req = req.body(b.to_string());
        }
        send(req)
    };
    let admin = format!("admin-{TOKEN}");
    let gw = json!({"external_fixed_ips": [{"ip_address": "172.24.4.10"}]});
    let router = call(
        Method::POST,
        "/v2.0/routers".into(),
        admin.clone(),
        Some(json!({"router": {"tenant_id": "p1", "external_gateway_info": gw}})),
    )
    .await
    .id();
    let subnet = call(
        Method::POST,
        "/v2.0/subnets".into(),
        admin.clone(),
        Some(json!({"subnet": {"tenant_id": "p1", "cidr": "10.1.0.0/24"}})),
    )
    .await
    .id();
    call(
        Method::PUT,
        format!("/v2.0/routers/{router}/add_router_interface"),
        admin,
        Some(json!({"subnet_id": subnet})),
    )
    .await
    .ok(200);
    let ike = call(Method::POST, IKE.into(), TOKEN.into(), Some(json!({"ikepolicy": {}}))).await.id();
    let ipsec = call(Method::POST, IPSEC.into(), TOKEN.into(), Some(json!({"ipsecpolicy": {}}))).await.id();
    let service = call(Method::POST, SERVICES.into(), TOKEN.into(), Some(json!({"vpnservice": {"router_id": router}})))
        .await
        .id();
    let local = call(
        Method::POST,
        GROUPS.into(),
        TOKEN.into(),
        Some(json!({"endpoint_group": {"type": "subnet", "endpoints": [subnet]}})),
    )
    .await
    .id();
    let peer = call(
        Method::POST,
        GROUPS.into(),
        TOKEN.into(),
        Some(json!({"endpoint_group": {"type": "cidr", "endpoints": ["10.2.0.0/24"]}})),
    )
    .await
    .id();
    let body = json!({"ipsec_site_connection": {"psk": PSK, "peer_address": "172.24.4.233", "peer_id": "172.24.4.233",
        "vpnservice_id": service, "ikepolicy_id": ike, "ipsecpolicy_id": ipsec, "local_ep_group_id": local, "peer_ep_group_id": peer}});
    let conn = call(Method::POST, CONNS.into(), TOKEN.into(), Some(body)).await;
    assert_eq!(conn.ok(201)["ipsec_site_connection"]["psk"], PSK, "the owner gets the PSK back (DECISIONS D7)");
    let id = conn.id();
    // Errors about a PSK, a bad request, and the gateway reading the PSK.
    call(
        Method::PUT,
        format!("{CONNS}/{id}"),
        TOKEN.into(),
        Some(json!({"ipsec_site_connection": {"psk": format!("{PSK} {}", "x".repeat(300))}})),
    )
    .await;
    call(
        Method::PUT,
        format!("{CONNS}/{id}"),
        TOKEN.into(),
        Some(json!({"ipsec_site_connection": {"psk": PSK, "mtu": 10}})),
    )
    .await;
    let gateway = reqwest::Client::new()
        .get(format!("{}/v2.0/gateway/routers/{router}/state", server.base))
        .header("Authorization", format!("Bearer {AGENT_TOKEN}"));
    assert_eq!(send(gateway).await.ok(200)["connections"][0]["psk"], PSK);
    call(Method::GET, format!("{CONNS}?name={PSK}"), TOKEN.into(), None).await.ok(200);
    call(Method::DELETE, format!("{CONNS}/{id}"), TOKEN.into(), None).await.ok(204);
    drop(server);

    let logs = [out.join().unwrap(), err.join().unwrap()].concat();
    let text = String::from_utf8_lossy(&logs);
    assert!(text.contains("request"), "the log is really there ({} bytes)", logs.len());
    for secret in [PSK, TOKEN, AGENT_TOKEN] {
        // A PSK in a query string is the caller's doing; only the path is logged, never the query.
        assert!(!text.contains(secret), "{secret} leaked into the log");
    }
}
