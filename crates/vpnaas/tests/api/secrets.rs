//! Secrets stay secret: a whole workflow at the most verbose log level never prints a PSK, a
//! certificate's private key or a token, and both keys are sealed at rest.

use std::io::Read;
use std::process::{Command, Stdio};

use reqwest::Method;
use serde_json::json;

use crate::certs::CERTS;
use crate::support::*;

const PSK: &str = "canary-psk-7f3a9c";
const TOKEN: &str = "canary-token-51d2e8";
const AGENT_TOKEN: &str = "canary-agent-0b6e44";

#[tokio::test]
async fn no_psk_or_token_reaches_the_log_even_at_trace_level() {
    let noauth = [
        ("VPNAAS_NOAUTH_TOKENS", format!("{TOKEN}=p1:member;admin-{TOKEN}=admin:admin")),
        ("VPNAAS_AGENT_TOKEN", AGENT_TOKEN.to_owned()),
    ];
    let tokens = Tokens {
        admin: format!("admin-{TOKEN}"),
        member: TOKEN.to_owned(),
        project: "p1".to_owned(),
        agent: ("Authorization", format!("Bearer {AGENT_TOKEN}")),
    };
    workflow_at_trace_level(&noauth, &tokens, &[PSK, TOKEN, AGENT_TOKEN]).await;
}

#[tokio::test]
async fn no_psk_token_or_service_password_reaches_the_log_in_keystone_mode() {
    let Some(ks) = crate::auth::require_keystone("no_psk_token_or_service_password_reaches_the_log_in_keystone_mode")
    else {
        return;
    };
    let settings = ks.settings();
    let envs = [
        ("VPNAAS_AUTH_STRATEGY", "keystone".to_owned()),
        ("VPNAAS_KEYSTONE_URL", ks.url.clone()),
        ("VPNAAS_KEYSTONE_USERNAME", settings.username.clone()),
        ("VPNAAS_KEYSTONE_PASSWORD", settings.password.0.clone()),
    ];
    let tokens = Tokens {
        admin: ks.token("admin", "admin").await,
        member: ks.token("demo-member", "demo").await,
        project: ks.demo.clone(),
        agent: ("X-Auth-Token", ks.token("vpnaas-agent", "service").await),
    };
    let secrets = [PSK, &tokens.admin, &tokens.member, &tokens.agent.1, &settings.password.0];
    workflow_at_trace_level(&envs, &tokens, &secrets).await;
}

/// Who does what in the workflow: an admin shapes the inventory for `project`, whose
/// member makes a connection with the known PSK; the gateway credential reads its state.
struct Tokens {
    admin: String,
    member: String,
    project: String,
    agent: (&'static str, String),
}

/// Runs a whole workflow against a `vpnaas serve` at trace level, then asserts that none of
/// `secrets` is in any byte of its output or its data directory.
async fn workflow_at_trace_level(envs: &[(&str, String)], t: &Tokens, secrets: &[&str]) {
    let data = tempfile::TempDir::new().unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_vpnaas"))
        .args(["serve", "--listen", "127.0.0.1:0", "--data-dir"])
        .arg(data.path())
        .env("VPNAAS_LOG", "trace")
        .env("VPNAAS_DATABASE_URL", "")
        .envs(envs.iter().map(|(k, v)| (*k, v.as_str())))
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
    let admin = t.admin.clone();
    let member = || t.member.clone();
    let gw = json!({"external_fixed_ips": [{"ip_address": "172.24.4.10"}]});
    let router = call(
        Method::POST,
        "/v2.0/routers".into(),
        admin.clone(),
        Some(json!({"router": {"tenant_id": t.project, "external_gateway_info": gw}})),
    )
    .await
    .id();
    let subnet = call(
        Method::POST,
        "/v2.0/subnets".into(),
        admin.clone(),
        Some(json!({"subnet": {"tenant_id": t.project, "cidr": "10.1.0.0/24"}})),
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
    let ike = call(Method::POST, IKE.into(), member(), Some(json!({"ikepolicy": {}}))).await.id();
    let ipsec = call(Method::POST, IPSEC.into(), member(), Some(json!({"ipsecpolicy": {}}))).await.id();
    let service =
        call(Method::POST, SERVICES.into(), member(), Some(json!({"vpnservice": {"router_id": router}}))).await.id();
    let local = call(
        Method::POST,
        GROUPS.into(),
        member(),
        Some(json!({"endpoint_group": {"type": "subnet", "endpoints": [subnet]}})),
    )
    .await
    .id();
    let peer = call(
        Method::POST,
        GROUPS.into(),
        member(),
        Some(json!({"endpoint_group": {"type": "cidr", "endpoints": ["10.2.0.0/24"]}})),
    )
    .await
    .id();
    let body = json!({"ipsec_site_connection": {"psk": PSK, "peer_address": "172.24.4.233", "peer_id": "172.24.4.233",
        "vpnservice_id": service, "ikepolicy_id": ike, "ipsecpolicy_id": ipsec, "local_ep_group_id": local, "peer_ep_group_id": peer}});
    let conn = call(Method::POST, CONNS.into(), member(), Some(body)).await;
    assert_eq!(conn.ok(201)["ipsec_site_connection"]["psk"], PSK, "the owner gets the PSK back (ADR 0001 D7)");
    let id = conn.id();
    // Errors about a PSK, a bad request, and the gateway reading the PSK.
    call(
        Method::PUT,
        format!("{CONNS}/{id}"),
        member(),
        Some(json!({"ipsec_site_connection": {"psk": format!("{PSK} {}", "x".repeat(300))}})),
    )
    .await;
    call(
        Method::PUT,
        format!("{CONNS}/{id}"),
        member(),
        Some(json!({"ipsec_site_connection": {"psk": PSK, "mtu": 10}})),
    )
    .await;
    let gateway = reqwest::Client::new()
        .get(format!("{}/v2.0/gateway/routers/{router}/state", server.base))
        .header(t.agent.0, t.agent.1.as_str());
    assert_eq!(send(gateway).await.ok(200)["connections"][0]["psk"], PSK);
    call(Method::GET, format!("{CONNS}?name={PSK}"), member(), None).await.ok(200);
    let shown = call(Method::GET, format!("{CONNS}/{id}"), member(), None).await;
    assert_eq!(shown.ok(200)["ipsec_site_connection"]["psk"], PSK);
    // A certificate (ADR 0017): refused with the wrong key, accepted with its own; the key is
    // never answered, reaches the gateway's state, and is never logged or stored in clear.
    let ca = crate::certs::Ca::new("secrets ca", crate::certs::CA_KEY);
    let pem = ca.site("site.secrets.test", crate::certs::SITE_A_KEY, -1, 30);
    let refused =
        call(Method::POST, CERTS.into(), member(), Some(crate::certs::upload(&pem, crate::certs::SITE_B_KEY))).await;
    assert_eq!(refused.status.as_u16(), 400);
    let cert =
        call(Method::POST, CERTS.into(), member(), Some(crate::certs::upload(&pem, crate::certs::SITE_A_KEY))).await;
    assert!(cert.ok(201)["certificate"].get("private_key").is_none());
    let certs = json!({"ipsec_site_connection": {"auth_mode": "certs", "local_certificate_id": cert.id(),
        "peer_ca": ca.pem(), "peer_id": "peer.secrets.test"}});
    call(Method::PUT, format!("{CONNS}/{id}"), member(), Some(certs)).await.ok(200);
    let gateway = reqwest::Client::new()
        .get(format!("{}/v2.0/gateway/routers/{router}/state", server.base))
        .header(t.agent.0, t.agent.1.as_str());
    let state = send(gateway).await;
    let key = state.ok(200)["connections"][0]["certs"]["private_key"].as_str().unwrap_or_default().to_owned();
    assert!(key.contains("BEGIN PRIVATE KEY"), "the gateway gets the key");
    let back = json!({"ipsec_site_connection": {"auth_mode": "psk", "psk": PSK}});
    call(Method::PUT, format!("{CONNS}/{id}"), member(), Some(back)).await.ok(200);
    // Every line of either key's base64 is a canary.
    let key_lines: Vec<&str> = [crate::certs::SITE_A_KEY, crate::certs::SITE_B_KEY]
        .iter()
        .flat_map(|k| k.lines())
        .filter(|l| !l.starts_with("-----"))
        .collect();
    // At rest the PSK is sealed: no byte of the data directory (database, WAL, key file) holds it.
    let stored = every_byte_under(data.path());
    assert!(stored.len() > 10_000, "the database is really there ({} bytes)", stored.len());
    assert!(!contains(&stored, PSK.as_bytes()), "the PSK is in the data directory in clear");
    assert!(contains(&stored, b"psk1:k1:"), "sealed values are stored");
    call(Method::DELETE, format!("{CONNS}/{id}"), member(), None).await.ok(204);
    drop(server);

    let logs = [out.join().unwrap(), err.join().unwrap()].concat();
    let text = String::from_utf8_lossy(&logs);
    assert!(text.contains("request"), "the log is really there ({} bytes)", logs.len());
    for line in &key_lines {
        assert!(!text.contains(line), "a private key line leaked into the log");
    }
    for secret in secrets {
        // A PSK in a query string is the caller's doing; only the path is logged, never the query.
        assert!(!text.contains(secret), "{secret} leaked into the log");
    }
    let stored = every_byte_under(data.path());
    for secret in secrets {
        assert!(!contains(&stored, secret.as_bytes()), "{secret} is in the data directory");
    }
    for line in &key_lines {
        assert!(!contains(&stored, line.as_bytes()), "a private key line is in the data directory");
    }
}

/// The bytes of every file under `dir`, one after another.
pub fn every_byte_under(dir: &std::path::Path) -> Vec<u8> {
    let mut all = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap().flatten() {
        let path = entry.path();
        if path.is_dir() {
            all.extend(every_byte_under(&path));
        } else if let Ok(bytes) = std::fs::read(&path) {
            all.extend(bytes);
        }
    }
    all
}

pub fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

#[tokio::test]
async fn rotate_key_reseals_every_psk_and_private_key_while_the_server_runs() {
    let data = tempfile::TempDir::new().unwrap();
    let dir = data.path().display().to_string();
    let key_file = data.path().join("psk.key");
    let key_env = key_file.display().to_string();
    let envs = [("VPNAAS_DATABASE_URL", ""), ("VPNAAS_PSK_KEY_FILE", key_env.as_str())];
    let server = spawn_process(&["--data-dir", &dir], &envs);
    let body = process_site(&server).await;
    let id = server.call(Method::POST, CONNS, P1, Some(body), None).await.id();
    let path = format!("{CONNS}/{id}");
    // A certificate's private key is sealed the same way.
    let ca = crate::certs::Ca::new("ca", crate::certs::CA_KEY);
    let cert = crate::certs::upload(
        &ca.site("site-a.vpnaas.test", crate::certs::SITE_A_KEY, -1, 30),
        crate::certs::SITE_A_KEY,
    );
    server.call(Method::POST, crate::certs::CERTS, P1, Some(cert), None).await.ok(201);

    let rotate = Command::new(env!("CARGO_BIN_EXE_vpnaas"))
        .args(["rotate-key", "--data-dir", &dir])
        .envs(envs)
        .output()
        .unwrap();
    let said = String::from_utf8_lossy(&rotate.stdout);
    assert!(rotate.status.success(), "{}", String::from_utf8_lossy(&rotate.stderr));
    assert!(
        said.contains("key k2 added") && said.contains("2 secrets (pre-shared keys, private keys) re-sealed"),
        "{said}"
    );
    // The running server learns the new key from the file and still answers the owner.
    assert_eq!(server.call(Method::GET, &path, P1, None, None).await.ok(200)["ipsec_site_connection"]["psk"], "secret");
    let change = json!({"ipsec_site_connection": {"psk": "secret-2"}});
    server.call(Method::PUT, &path, P1, Some(change), None).await.ok(200);
    drop(server);

    // With the old key gone from the file, everything still opens (the server re-seals and so
    // opens every PSK and private key as it starts): nothing needs k1 any more.
    let text = std::fs::read_to_string(&key_file).unwrap();
    assert!(text.lines().any(|l| l.starts_with("k1 ")));
    std::fs::write(&key_file, text.lines().filter(|l| !l.starts_with("k1 ")).collect::<Vec<_>>().join("\n")).unwrap();
    let server = spawn_process(&["--data-dir", &dir], &envs);
    assert_eq!(
        server.call(Method::GET, &path, P1, None, None).await.ok(200)["ipsec_site_connection"]["psk"],
        "secret-2"
    );
    drop(server);

    // Without the key a value was sealed with, the server refuses to start and says why.
    std::fs::remove_file(&key_file).unwrap();
    vpnaas_server::secrets::add_key(&key_file).unwrap();
    let refused = Command::new(env!("CARGO_BIN_EXE_vpnaas"))
        .args(["serve", "--listen", "127.0.0.1:0", "--data-dir", &dir])
        .envs(envs)
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&refused.stderr);
    assert!(!refused.status.success());
    assert!(err.contains("sealed with key k2") && err.contains("lacks"), "{err}");
}
