//! TLS (ADR 0016): the HTTPS listener and its certificate rotation, Keystone behind TLS,
//! mutual TLS on the gateway API, and the plaintext guard. Every certificate comes from a
//! throwaway CA made here with rcgen; no key is checked in.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use reqwest::Method;
use serde_json::json;
use tempfile::TempDir;
use tokio::sync::oneshot;
use vpnaas_server::config::{AuthStrategy, Config, KeystoneSettings, Secret};

use crate::support::*;

/// A certificate authority for one test, its files in a temporary directory.
pub struct Ca {
    cert: rcgen::Certificate,
    key: rcgen::KeyPair,
    pub dir: TempDir,
}

/// A certificate issued by a [`Ca`]: its files and its DER.
pub struct Issued {
    pub cert: PathBuf,
    pub key: PathBuf,
    pub der: Vec<u8>,
}

impl Issued {
    /// The certificate and key as one PEM, for reqwest's `Identity`.
    pub fn identity(&self) -> reqwest::Identity {
        let mut pem = std::fs::read(&self.cert).unwrap();
        pem.extend(std::fs::read(&self.key).unwrap());
        reqwest::Identity::from_pem(&pem).unwrap()
    }
}

impl Ca {
    pub fn new(name: &str) -> Ca {
        let key = rcgen::KeyPair::generate().unwrap();
        let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
        params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        params.distinguished_name.push(rcgen::DnType::CommonName, name);
        params.key_usages = vec![rcgen::KeyUsagePurpose::KeyCertSign, rcgen::KeyUsagePurpose::CrlSign];
        let cert = params.self_signed(&key).unwrap();
        let dir = TempDir::new().unwrap();
        std::fs::write(dir.path().join("ca.pem"), cert.pem()).unwrap();
        Ca { cert, key, dir }
    }

    /// The CA's certificate file (what `ca_file` settings name).
    pub fn file(&self) -> PathBuf {
        self.dir.path().join("ca.pem")
    }

    pub fn root(&self) -> reqwest::Certificate {
        reqwest::Certificate::from_pem(self.cert.pem().as_bytes()).unwrap()
    }

    /// A certificate with common name `cn` and subject alternative names `names` (IP
    /// addresses become IP SANs), written to `<stem>.pem` and `<stem>.key`.
    pub fn issue(&self, stem: &str, cn: &str, names: &[&str]) -> Issued {
        let key = rcgen::KeyPair::generate().unwrap();
        let mut params =
            rcgen::CertificateParams::new(names.iter().map(|n| (*n).to_owned()).collect::<Vec<_>>()).unwrap();
        params.distinguished_name.push(rcgen::DnType::CommonName, cn);
        params.extended_key_usages =
            vec![rcgen::ExtendedKeyUsagePurpose::ServerAuth, rcgen::ExtendedKeyUsagePurpose::ClientAuth];
        let cert = params.signed_by(&key, &self.cert, &self.key).unwrap();
        let (cert_file, key_file) =
            (self.dir.path().join(format!("{stem}.pem")), self.dir.path().join(format!("{stem}.key")));
        // The key first: the certificate's change is what a watcher may see last.
        std::fs::write(&key_file, key.serialize_pem()).unwrap();
        std::fs::write(&cert_file, cert.pem()).unwrap();
        Issued { cert: cert_file, key: key_file, der: cert.der().to_vec() }
    }

    /// A server certificate for loopback.
    pub fn server(&self, stem: &str, cn: &str) -> Issued {
        self.issue(stem, cn, &["localhost", "127.0.0.1"])
    }
}

fn client(ca: &Ca) -> reqwest::ClientBuilder {
    reqwest::Client::builder().add_root_certificate(ca.root()).timeout(Duration::from_secs(20))
}

/// A server in this process on `bind`, with these settings; stopped when dropped.
pub struct Served {
    pub base: String,
    pub addr: SocketAddr,
    stop: Option<oneshot::Sender<()>>,
    _data: TempDir,
}

impl Drop for Served {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

/// Starts the server on `bind` (HTTPS when `configure` sets the certificate) and waits until
/// `probe` gets any answer.
async fn serve(bind: &str, probe: &reqwest::Client, configure: impl FnOnce(&mut Config)) -> Served {
    let data = TempDir::new().unwrap();
    let mut config = Config { data_dir: data.path().to_path_buf(), ..Config::default() };
    if std::env::var("VPNAAS_TEST_BACKEND").is_ok_and(|b| b == "postgres") {
        config.database_url = fresh_postgres().await.map(vpnaas_server::config::DatabaseUrl);
        config.psk_key_file = Some(shared_key_file());
    }
    configure(&mut config);
    let listener = tokio::net::TcpListener::bind(bind).await.unwrap();
    let addr = listener.local_addr().unwrap();
    config.listen = addr;
    let scheme = if config.tls_cert_file.is_some() { "https" } else { "http" };
    let base = format!("{scheme}://{addr}");
    let (tx, rx) = oneshot::channel::<()>();
    tokio::spawn(vpnaas_server::serve(config, listener, async move {
        let _ = rx.await;
    }));
    for _ in 0..300 {
        if probe.get(format!("{base}/")).send().await.is_ok() {
            return Served { base, addr, stop: Some(tx), _data: data };
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("the server did not start on {base}");
}

/// The certificate a TLS handshake with `addr` presents (verified against `ca`).
async fn served_certificate(ca: &Ca, addr: SocketAddr) -> Vec<u8> {
    let mut roots = rustls::RootCertStore::empty();
    roots.add(rustls_pki_types::CertificateDer::from(ca.cert.der().to_vec())).unwrap();
    let config = rustls::ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    let connector = tokio_rustls::TlsConnector::from(Arc::new(config));
    let tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
    let name = rustls_pki_types::ServerName::try_from("localhost").unwrap();
    let tls = connector.connect(name, tcp).await.unwrap();
    tls.get_ref().1.peer_certificates().unwrap()[0].as_ref().to_vec()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tls_the_https_listener_serves_the_api_and_new_handshakes_get_a_replaced_certificate() {
    let ca = Ca::new("vpnaas test CA");
    let first = ca.server("server", "first");
    let https = client(&ca).build().unwrap();
    let (cert, key) = (first.cert.clone(), first.key.clone());
    let app = serve("127.0.0.1:0", &https, |c| {
        c.tls_cert_file = Some(cert);
        c.tls_key_file = Some(key);
    })
    .await;
    assert!(app.base.starts_with("https://"));
    let r = send(https.get(format!("{}{IKE}", app.base)).header("X-Project-Id", P1)).await;
    assert_eq!(r.ok(200)["ikepolicies"], json!([]));
    // The envelope and the request id over TLS, also for what no handler answers.
    let r = send(https.get(format!("{}/v2.0/nothing-here", app.base)).header("X-Project-Id", P1)).await;
    assert_eq!(r.status.as_u16(), 404);
    assert!(r.error_type().starts_with("HTTP") || !r.error_type().is_empty(), "{:#}", r.body);
    assert!(r.headers.contains_key("x-openstack-request-id"));
    // Plain HTTP on the TLS port, and a client that does not trust the CA: refused
    // handshakes, and the listener goes on.
    let plain = format!("http://{}/", app.addr);
    assert!(reqwest::Client::new().get(&plain).send().await.is_err(), "plain HTTP is not answered");
    let err = reqwest::Client::new().get(format!("{}/", app.base)).send().await.unwrap_err();
    assert!(format!("{err:?}").contains("UnknownIssuer"), "{err:?}");
    assert_eq!(served_certificate(&ca, app.addr).await, first.der);
    // A kept-alive connection before the rotation.
    send(https.get(format!("{}{IKE}", app.base)).header("X-Project-Id", P1)).await.ok(200);

    // The files are replaced: within about a second, new handshakes get the new certificate.
    let second = ca.server("server", "second");
    assert_ne!(first.der, second.der);
    let replaced = Instant::now();
    while served_certificate(&ca, app.addr).await != second.der {
        assert!(replaced.elapsed() < Duration::from_secs(5), "the new certificate is not served");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    eprintln!("replaced certificate served after {:.2} s", replaced.elapsed().as_secs_f64());
    send(https.get(format!("{}{IKE}", app.base)).header("X-Project-Id", P1)).await.ok(200);
    // A broken pair keeps the last good certificate in service.
    std::fs::write(&second.key, "not a key").unwrap();
    tokio::time::sleep(Duration::from_millis(1200)).await;
    assert_eq!(served_certificate(&ca, app.addr).await, second.der);
}

/// A TLS terminator for tests: accepts TLS on loopback with `served` and forwards the bytes
/// to `upstream`.
async fn tls_proxy(served: &Issued, upstream: SocketAddr) -> SocketAddr {
    use rustls_pki_types::pem::PemObject;
    let chain = vec![rustls_pki_types::CertificateDer::from(served.der.clone())];
    let key = rustls_pki_types::PrivateKeyDer::from_pem_file(&served.key).unwrap();
    let config = rustls::ServerConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(chain, key)
        .unwrap();
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((tcp, _)) = listener.accept().await {
            let acceptor = acceptor.clone();
            tokio::spawn(async move {
                let Ok(mut tls) = acceptor.accept(tcp).await else { return };
                let Ok(mut up) = tokio::net::TcpStream::connect(upstream).await else { return };
                let _ = tokio::io::copy_bidirectional(&mut tls, &mut up).await;
            });
        }
    });
    addr
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tls_keystone_behind_tls_validates_tokens_with_ca_file() {
    let Some(ks) = crate::auth::require_keystone("tls_keystone_behind_tls_validates_tokens_with_ca_file") else {
        return;
    };
    let upstream: SocketAddr = ks.url.trim_start_matches("http://").trim_end_matches('/').parse().unwrap();
    let ca = Ca::new("keystone CA");
    let proxy = tls_proxy(&ca.server("keystone", "keystone"), upstream).await;
    let settings = KeystoneSettings {
        url: Some(format!("https://127.0.0.1:{}/v3", proxy.port())),
        ca_file: Some(ca.file()),
        ..ks.settings()
    };
    let app = spawn_app_with(|c| {
        c.auth_strategy = AuthStrategy::Keystone;
        c.keystone = settings;
    })
    .await;
    let member = ks.token("demo-member", "demo").await;
    let r = app.send(app.raw(Method::POST, IKE).header("X-Auth-Token", &member).json(&json!({"ikepolicy": {}}))).await;
    assert_eq!(r.ok(201)["ikepolicy"]["project_id"], ks.demo.as_str());
    app.send(app.raw(Method::GET, IKE).header("X-Auth-Token", &member)).await.ok(200);
    let r = app.send(app.raw(Method::GET, IKE).header("X-Auth-Token", "not-a-token-at-all")).await;
    r.refused(401, "NotAuthenticated", "");
    assert!(r.headers["www-authenticate"].to_str().unwrap().contains("https://127.0.0.1"));
}

/// `vpnaas serve` with `envs`, its log in a file; the base URL and the log's path.
#[allow(clippy::zombie_processes)] // the Process handed back kills and waits for it when dropped
fn serve_logged(dir: &TempDir, envs: &[(&str, &str)]) -> (Process, PathBuf) {
    let log = dir.path().join("server.log");
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_vpnaas"));
    cmd.args(["serve", "--listen", "127.0.0.1:0", "--data-dir"]).arg(dir.path().join("data"));
    cmd.env("VPNAAS_LOG", "info").env("VPNAAS_PSK_KEY_FILE", shared_key_file()).env("VPNAAS_DATABASE_URL", "");
    for (k, v) in envs {
        cmd.env(k, v);
    }
    let mut child = cmd.stdout(std::fs::File::create(&log).unwrap()).stderr(Stdio::null()).spawn().unwrap();
    let started = Instant::now();
    loop {
        let text = std::fs::read_to_string(&log).unwrap_or_default();
        if let Some(line) = text.lines().find(|l| l.contains("listening on")) {
            return (Process::from_child(child, line), log);
        }
        if started.elapsed() > Duration::from_secs(20) {
            let _ = child.kill();
            let _ = child.wait();
            panic!("no listening line:\n{text}");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tls_a_keystone_certificate_not_trusted_or_not_for_its_name_is_a_503_and_the_log_says_why() {
    let ca = Ca::new("keystone CA");
    // Nothing behind the terminators: the handshake fails before anything is forwarded.
    let nowhere = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap();
    let right = tls_proxy(&ca.server("right", "keystone"), nowhere).await;
    let wrong_name = tls_proxy(&ca.issue("wrong", "keystone", &["keystone.example"]), nowhere).await;
    let ca_file = ca.file().display().to_string();
    for (port, ca_file, cause) in
        [(right.port(), "", "UnknownIssuer"), (wrong_name.port(), ca_file.as_str(), "does not name this host")]
    {
        let dir = TempDir::new().unwrap();
        let url = format!("https://127.0.0.1:{port}");
        let (p, log) = serve_logged(
            &dir,
            &[
                ("VPNAAS_AUTH_STRATEGY", "keystone"),
                ("VPNAAS_KEYSTONE_URL", &url),
                ("VPNAAS_KEYSTONE_USERNAME", "vpnaas"),
                ("VPNAAS_KEYSTONE_PASSWORD", "hunter2-password"),
                ("VPNAAS_KEYSTONE_CA_FILE", ca_file),
                ("VPNAAS_KEYSTONE_TIMEOUT_SECS", "2"),
            ],
        );
        let r = send(p.raw(Method::GET, IKE).header("X-Auth-Token", "caller-token-0123456789")).await;
        r.refused(503, "ServiceUnavailable", "");
        let started = Instant::now();
        let text = loop {
            let text = std::fs::read_to_string(&log).unwrap();
            if text.contains(cause) || started.elapsed() > Duration::from_secs(5) {
                break text;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        };
        let line = text.lines().find(|l| l.contains(cause)).unwrap_or_else(|| panic!("no {cause} in:\n{text}"));
        assert!(line.contains("Keystone"), "{line}");
        assert!(!text.contains("hunter2") && !text.contains("caller-token"), "a secret in the log:\n{text}");
        eprintln!("{cause}: {line}");
    }
}

/// The gateway API's paths.
fn gw(base: &str, tail: &str) -> String {
    format!("{base}/v2.0/gateway/{tail}")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tls_a_client_certificate_opens_the_gateway_api_for_its_own_host_or_router_only() {
    let ca = Ca::new("server CA");
    let agents = Ca::new("agents CA");
    let server = ca.server("server", "vpnaas");
    let admin = client(&ca).build().unwrap();
    let (cert, key, client_ca) = (server.cert.clone(), server.key.clone(), agents.file());
    let app = serve("127.0.0.1:0", &admin, |c| {
        c.tls_cert_file = Some(cert);
        c.tls_key_file = Some(key);
        c.tls_client_ca_file = Some(client_ca);
        c.agent_token = Some(Secret("gateway-token-0123456789".into()));
    })
    .await;
    let base = app.base.clone();
    let as_admin = |m: Method, path: &str| {
        admin.request(m, format!("{base}{path}")).header("X-Project-Id", "admin").header("X-Roles", "admin")
    };
    let mut routers = Vec::new();
    for host in [json!("net-1"), json!("net-2"), serde_json::Value::Null] {
        let r = send(as_admin(Method::POST, "/v2.0/routers").json(&json!({"router": {"tenant_id": P1}}))).await;
        r.ok(201);
        let id = r.id();
        let body = json!({"router": {"binding:host_id": host}});
        send(as_admin(Method::PUT, &format!("/v2.0/routers/{id}")).json(&body)).await.ok(200);
        routers.push(id);
    }
    let (r1, r2, r3) = (&routers[0], &routers[1], &routers[2]);
    let with = |issued: &Issued| client(&ca).identity(issued.identity()).build().unwrap();
    let net1 = with(&agents.issue("net1", "net-1", &["net-1"]));
    let router3 = with(&agents.issue("r3", r3, &[]));

    // The host's own paths, and the routers placed on it.
    let state = send(net1.get(gw(&base, "hosts/net-1/state"))).await;
    assert_eq!(state.ok(200)["routers"], json!([r1]));
    send(net1.get(gw(&base, &format!("hosts/net-1/routers/{r1}/state")))).await.ok(200);
    send(net1.get(gw(&base, &format!("routers/{r1}/state")))).await.ok(200);
    // Another host: 403; another host's router: 404, as on the host paths without a certificate.
    send(net1.get(gw(&base, "hosts/net-2/state"))).await.refused(
        403,
        "PolicyNotAuthorized",
        "gateway_client_certificate",
    );
    send(net1.post(gw(&base, "hosts/net-2/status")).json(&json!({"routers": []}))).await.refused(
        403,
        "PolicyNotAuthorized",
        "gateway_client_certificate",
    );
    send(net1.get(gw(&base, &format!("hosts/net-1/routers/{r2}/state")))).await.refused(404, "RouterNotFound", r2);
    send(net1.get(gw(&base, &format!("routers/{r2}/state")))).await.refused(404, "RouterNotFound", r2);
    send(net1.get(gw(&base, &format!("routers/{r3}/state")))).await.refused(404, "RouterNotFound", r3);
    // The certificate holds the request to its host even with the agent token beside it.
    let both = net1.get(gw(&base, "hosts/net-2/state")).bearer_auth("gateway-token-0123456789");
    send(both).await.refused(403, "PolicyNotAuthorized", "gateway_client_certificate");
    // A one-router agent's certificate names its router.
    send(router3.get(gw(&base, &format!("routers/{r3}/state")))).await.ok(200);
    send(router3.get(gw(&base, &format!("routers/{r1}/state")))).await.refused(404, "RouterNotFound", r1);
    send(router3.get(gw(&base, "hosts/net-1/state"))).await.refused(403, "PolicyNotAuthorized", "");
    // Without a certificate: the token as before; nothing is a 401. API clients need none.
    send(admin.get(gw(&base, "hosts/net-2/state")).bearer_auth("gateway-token-0123456789")).await.ok(200);
    send(admin.get(gw(&base, "hosts/net-2/state"))).await.refused(401, "NotAuthenticated", "");
    send(net1.get(format!("{base}{IKE}")).header("X-Project-Id", P1)).await.ok(200);
    // A certificate of another CA is refused in the handshake.
    let stranger = with(&Ca::new("someone else").issue("x", "net-1", &["net-1"]));
    assert!(stranger.get(gw(&base, "hosts/net-1/state")).send().await.is_err());
}

// ---------------------------------------------------------------- the plaintext guard

/// Whether this process may build network namespaces; prints why not (under CI: a failure).
fn root(test: &str) -> bool {
    let euid = std::fs::read_to_string("/proc/self/status").ok().and_then(|s| {
        s.lines().find_map(|l| l.strip_prefix("Uid:")).and_then(|ids| ids.split_whitespace().nth(1).map(str::to_owned))
    });
    if euid.as_deref() == Some("0") {
        return true;
    }
    assert!(std::env::var("CI").map_or(true, |v| v.is_empty()), "{test}: CI runs this as root");
    eprintln!("SKIPPED {test}: not root (it needs a network namespace)");
    false
}

/// A network namespace joined to this one by a veth pair: this side 198.51.100.1/30
/// (RFC 5737), the namespace's 198.51.100.2. Removed when dropped.
struct Far {
    netns: String,
}

const NEAR_IP: &str = "198.51.100.1";

impl Far {
    fn new() -> Far {
        let netns = format!("vpnaas-tls-{}", std::process::id());
        let (near, far) =
            (format!("vt{}a", std::process::id() % 100_000), format!("vt{}b", std::process::id() % 100_000));
        let run = |args: &[&str]| {
            let out = Command::new(args[0]).args(&args[1..]).output().unwrap();
            assert!(out.status.success(), "{args:?}: {}", String::from_utf8_lossy(&out.stderr));
        };
        let this = Far { netns: netns.clone() };
        run(&["ip", "netns", "add", &netns]);
        run(&["ip", "link", "add", &near, "type", "veth", "peer", "name", &far]);
        run(&["ip", "link", "set", &far, "netns", &netns]);
        run(&["ip", "addr", "add", &format!("{NEAR_IP}/30"), "dev", &near]);
        run(&["ip", "link", "set", &near, "up"]);
        run(&["ip", "-n", &netns, "addr", "add", "198.51.100.2/30", "dev", &far]);
        run(&["ip", "-n", &netns, "link", "set", &far, "up"]);
        run(&["ip", "-n", &netns, "link", "set", "lo", "up"]);
        this
    }

    /// The status of `GET url` with the bearer token, sent from inside the namespace.
    fn get(&self, url: &str, token: &str) -> u16 {
        let script = "import sys, urllib.request, urllib.error\n\
                      r = urllib.request.Request(sys.argv[1], headers={'Authorization': 'Bearer ' + sys.argv[2]})\n\
                      try:\n    print(urllib.request.urlopen(r, timeout=10).status)\n\
                      except urllib.error.HTTPError as e:\n    print(e.code)\n";
        let out = Command::new("ip")
            .args(["netns", "exec", &self.netns, "python3", "-c", script, url, token])
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&out.stdout);
        text.trim().parse().unwrap_or_else(|_| panic!("{url}: {text} {}", String::from_utf8_lossy(&out.stderr)))
    }
}

impl Drop for Far {
    fn drop(&mut self) {
        // Deleting the namespace removes its end of the pair, and so both.
        let _ = Command::new("ip").args(["netns", "del", &self.netns]).status();
    }
}

const GW_TOKEN: &str = "gateway-token-0123456789";

/// A router with one connection (a PSK in its desired state) and a router with none.
async fn routers_with_and_without_secrets(p: &reqwest::Client, base: &str) -> (String, String) {
    let call = |m: Method, path: &str, who: &str, body: serde_json::Value| {
        let req = p.request(m, format!("{base}{path}")).json(&body);
        match who {
            ADMIN => req.header("X-Project-Id", "admin").header("X-Roles", "admin"),
            project => req.header("X-Project-Id", project),
        }
    };
    let gateway = json!({"external_fixed_ips": [{"ip_address": "172.24.4.10"}]});
    let r = send(call(
        Method::POST,
        "/v2.0/routers",
        ADMIN,
        json!({"router": {"tenant_id": P1, "external_gateway_info": gateway}}),
    ))
    .await;
    let router = r.id();
    let bare = send(call(Method::POST, "/v2.0/routers", ADMIN, json!({"router": {"tenant_id": P1}}))).await.id();
    let subnet =
        send(call(Method::POST, "/v2.0/subnets", ADMIN, json!({"subnet": {"tenant_id": P1, "cidr": "10.1.0.0/24"}})))
            .await
            .id();
    send(call(
        Method::PUT,
        &format!("/v2.0/routers/{router}/add_router_interface"),
        ADMIN,
        json!({"subnet_id": subnet}),
    ))
    .await
    .ok(200);
    let ike = send(call(Method::POST, IKE, P1, json!({"ikepolicy": {}}))).await.id();
    let ipsec = send(call(Method::POST, IPSEC, P1, json!({"ipsecpolicy": {}}))).await.id();
    let service = send(call(Method::POST, SERVICES, P1, json!({"vpnservice": {"router_id": router}}))).await.id();
    let local =
        send(call(Method::POST, GROUPS, P1, json!({"endpoint_group": {"type": "subnet", "endpoints": [subnet]}})))
            .await
            .id();
    let peer =
        send(call(Method::POST, GROUPS, P1, json!({"endpoint_group": {"type": "cidr", "endpoints": ["10.2.0.0/24"]}})))
            .await
            .id();
    let conn = json!({"ipsec_site_connection": {"psk": "guarded-secret", "peer_address": "172.24.4.233", "peer_id": "172.24.4.233",
        "vpnservice_id": service, "ikepolicy_id": ike, "ipsecpolicy_id": ipsec, "local_ep_group_id": local, "peer_ep_group_id": peer}});
    send(call(Method::POST, CONNS, P1, conn)).await.ok(201);
    (router, bare)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tls_plaintext_guard_keys_go_to_loopback_or_over_tls_and_elsewhere_only_when_allowed() {
    // Loopback over plain HTTP: allowed, as the quick start and the tests do.
    let plain = reqwest::Client::new();
    let app = serve("127.0.0.1:0", &plain, |c| c.agent_token = Some(Secret(GW_TOKEN.into()))).await;
    let (router, _) = routers_with_and_without_secrets(&plain, &app.base).await;
    let state = send(plain.get(gw(&app.base, &format!("routers/{router}/state"))).bearer_auth(GW_TOKEN)).await;
    assert_eq!(state.ok(200)["connections"][0]["psk"], "guarded-secret");

    // The agent refuses to send its credential to http:// elsewhere, before any connection.
    let out = Command::new(env!("CARGO_BIN_EXE_vpnaas"))
        .args(["agent", "--router", &router, "--server", "http://192.0.2.77:9696", "--vici", "unix:///nonexistent"])
        .env("VPNAAS_AGENT_TOKEN", GW_TOKEN)
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("in clear") && !err.contains(GW_TOKEN), "{err}");

    let test = "tls_plaintext_guard_keys_go_to_loopback_or_over_tls_and_elsewhere_only_when_allowed";
    if !root(test) {
        return;
    }
    // A peer that is not loopback (a network namespace) over plain HTTP.
    let far = Far::new();
    let bind = format!("{NEAR_IP}:0");
    for allow in [false, true] {
        let app = serve(&bind, &plain, |c| {
            c.agent_token = Some(Secret(GW_TOKEN.into()));
            c.allow_plaintext_secrets = allow;
        })
        .await;
        let (router, bare) = routers_with_and_without_secrets(&plain, &app.base).await;
        let with_keys = far.get(&gw(&app.base, &format!("routers/{router}/state")), GW_TOKEN);
        assert_eq!(with_keys, if allow { 200 } else { 403 }, "allow_plaintext_secrets = {allow}");
        assert_eq!(far.get(&gw(&app.base, &format!("routers/{bare}/state")), GW_TOKEN), 200, "no keys, no refusal");
        assert_eq!(far.get(&gw(&app.base, "hosts/net-1/state"), GW_TOKEN), 200, "a host without routers");
    }
    // The same peer over TLS gets its keys.
    let ca = Ca::new("server CA");
    let server = ca.issue("server", "vpnaas", &[NEAR_IP]);
    let https = client(&ca).build().unwrap();
    let app = serve(&bind, &https, |c| {
        c.agent_token = Some(Secret(GW_TOKEN.into()));
        c.tls_cert_file = Some(server.cert.clone());
        c.tls_key_file = Some(server.key.clone());
    })
    .await;
    let (router, _) = routers_with_and_without_secrets(&https, &app.base).await;
    let script = "import sys, ssl, urllib.request\n\
                  ctx = ssl.create_default_context(cafile=sys.argv[3])\n\
                  r = urllib.request.Request(sys.argv[1], headers={'Authorization': 'Bearer ' + sys.argv[2]})\n\
                  print(urllib.request.urlopen(r, timeout=10, context=ctx).status)\n";
    let url = gw(&app.base, &format!("routers/{router}/state"));
    let out = Command::new("ip")
        .args(["netns", "exec", &far.netns, "python3", "-c", script, &url, GW_TOKEN])
        .arg(ca.file())
        .output()
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "200", "{}", String::from_utf8_lossy(&out.stderr));
}
