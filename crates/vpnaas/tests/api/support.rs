//! The test harness: the real server on 127.0.0.1:0 over a fresh SQLite file, a small client, and the fixtures most tests need.

use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use tempfile::TempDir;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use vpnaas_server::config::{Config, DatabaseUrl};

pub const P1: &str = "p1";
pub const P2: &str = "p2";
pub const ADMIN: &str = "admin";
pub const NOBODY: &str = "";

pub struct App {
    pub base: String,
    client: reqwest::Client,
    pub config: Config,
    _tmp: Option<TempDir>,
    stop: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<Result<(), vpnaas_server::CommandError>>>,
}

/// Sends a request and decodes its JSON answer.
pub async fn send(req: reqwest::RequestBuilder) -> Resp {
    let resp = req.send().await.expect("request");
    let status = resp.status();
    let headers = resp.headers().clone();
    let text = resp.text().await.expect("body");
    let body = if text.is_empty() { Value::Null } else { serde_json::from_str(&text).expect("JSON body") };
    Resp { status, body, headers }
}

/// A response: status, JSON body (Null when empty) and headers.
#[derive(Debug)]
pub struct Resp {
    pub status: StatusCode,
    pub body: Value,
    pub headers: reqwest::header::HeaderMap,
}

impl Resp {
    /// The NeutronError `type`, or "" when the body is not an error envelope.
    pub fn error_type(&self) -> &str {
        self.body["NeutronError"]["type"].as_str().unwrap_or("")
    }
    pub fn message(&self) -> &str {
        self.body["NeutronError"]["message"].as_str().unwrap_or("")
    }
    /// Asserts status, error type and that the message contains `needle`.
    #[track_caller]
    pub fn refused(&self, status: u16, type_name: &str, needle: &str) {
        assert_eq!(self.status.as_u16(), status, "{:#}", self.body);
        assert_eq!(self.error_type(), type_name, "{:#}", self.body);
        assert!(self.message().contains(needle), "message {:?} lacks {:?}", self.message(), needle);
        assert_eq!(self.body["NeutronError"]["detail"], "", "{:#}", self.body);
    }
    #[track_caller]
    pub fn ok(&self, status: u16) -> &Value {
        assert_eq!(self.status.as_u16(), status, "{:#}", self.body);
        &self.body
    }
    /// The id of the single object in a create/show body.
    #[track_caller]
    pub fn id(&self) -> String {
        let obj = self.body.as_object().and_then(|o| o.values().next()).expect("an object body");
        obj["id"].as_str().expect("an id").to_owned()
    }
}

pub async fn spawn_app() -> App {
    spawn_app_with(|_| {}).await
}

/// A server with settings changed by `configure`, over a fresh database: a SQLite file in
/// a temporary directory, or with `VPNAAS_TEST_BACKEND=postgres` (`mariadb`) a new database
/// on the `VPNAAS_TEST_POSTGRES` (`VPNAAS_TEST_MARIADB`) server (`.ci/run` runs the whole
/// suite all three ways).
pub async fn spawn_app_with(configure: impl FnOnce(&mut Config)) -> App {
    let tmp = TempDir::new().expect("temp dir");
    let mut config = Config { data_dir: tmp.path().to_path_buf(), ..Config::default() };
    match std::env::var("VPNAAS_TEST_BACKEND").as_deref() {
        Ok("postgres") => {
            let url = fresh_postgres().await.expect("VPNAAS_TEST_BACKEND=postgres needs VPNAAS_TEST_POSTGRES");
            config.database_url = Some(DatabaseUrl(url));
            config.psk_key_file = Some(shared_key_file());
        }
        Ok("mariadb") => {
            let url = fresh_mariadb().await.expect("VPNAAS_TEST_BACKEND=mariadb needs VPNAAS_TEST_MARIADB");
            config.database_url = Some(DatabaseUrl(url));
            config.psk_key_file = Some(shared_key_file());
        }
        _ => {}
    }
    configure(&mut config);
    let mut app = spawn_config(config).await;
    app._tmp = Some(tmp);
    app
}

/// One key file for every server of the test process that needs one made beforehand
/// (PostgreSQL replicas share one, as in production).
pub fn shared_key_file() -> std::path::PathBuf {
    static FILE: std::sync::OnceLock<std::path::PathBuf> = std::sync::OnceLock::new();
    FILE.get_or_init(|| {
        let dir = std::env::temp_dir().join(format!("vpnaas-test-keys-{}", std::process::id()));
        let path = dir.join("psk.key");
        vpnaas_server::secrets::add_key(&path).expect("make the shared key file");
        path
    })
    .clone()
}

/// The PostgreSQL server the tests may use (`postgres://user@host:port/db` of an admin).
pub fn postgres_admin_url() -> Option<String> {
    std::env::var("VPNAAS_TEST_POSTGRES").ok().filter(|u| !u.is_empty())
}

/// The last `n` lines of a log file (for failure messages), or why there are none.
pub fn tail(path: &str, n: usize) -> String {
    match std::fs::read_to_string(path) {
        Ok(text) => {
            let lines: Vec<&str> = text.lines().collect();
            lines[lines.len().saturating_sub(n)..].join("\n")
        }
        Err(e) => format!("(cannot read {path}: {e})"),
    }
}

/// A failure that quotes the test PostgreSQL server's error and its log's tail
/// (`VPNAAS_TEST_POSTGRES_LOG`, which `.ci/run` exports).
fn postgres_failed(what: &str, e: impl std::fmt::Display) -> ! {
    let log = std::env::var("VPNAAS_TEST_POSTGRES_LOG").map(|p| tail(&p, 30)).unwrap_or_default();
    panic!("{what}: {e}\n--- PostgreSQL's log:\n{log}")
}

/// Creates an empty database on the test PostgreSQL server, if there is one.
pub async fn fresh_postgres() -> Option<String> {
    use sqlx::Connection;
    let admin = postgres_admin_url()?;
    sqlx::any::install_default_drivers();
    let mut conn = match sqlx::AnyConnection::connect(&admin).await {
        Ok(conn) => conn,
        Err(e) => postgres_failed("connect to VPNAAS_TEST_POSTGRES", e),
    };
    let name = format!("vpnaas_test_{}", uuid::Uuid::new_v4().simple());
    // C collation sorts as SQLite does (bytes), so both backends list in one order.
    let sql = format!("CREATE DATABASE {name} TEMPLATE template0 ENCODING 'UTF8' LC_COLLATE 'C' LC_CTYPE 'C'");
    if let Err(e) = sqlx::query(&sql).execute(&mut conn).await {
        postgres_failed("create a test database", e);
    }
    let base = admin.rsplit_once('/').map_or(admin.as_str(), |(b, _)| b);
    Some(format!("{base}/{name}"))
}

/// The MariaDB server the tests may use: `mysql://user:password@host:port`, without a
/// database, of an account that may create databases.
pub fn mariadb_admin_url() -> Option<String> {
    std::env::var("VPNAAS_TEST_MARIADB").ok().filter(|u| !u.is_empty())
}

/// Creates an empty database on the test MariaDB server, if there is one.
pub async fn fresh_mariadb() -> Option<String> {
    let admin = mariadb_admin_url()?;
    let name = create_mariadb_database(&admin).await;
    Some(format!("{}/{name}", admin.trim_end_matches('/')))
}

/// Creates an empty database through `admin` (a server's URL without a database); its name.
pub async fn create_mariadb_database(admin: &str) -> String {
    use sqlx::Connection;
    let log = || std::env::var("VPNAAS_TEST_MARIADB_LOG").map(|p| tail(&p, 30)).unwrap_or_default();
    let mut conn = match sqlx::MySqlConnection::connect(admin).await {
        Ok(conn) => conn,
        Err(e) => panic!("connect to VPNAAS_TEST_MARIADB: {e}\n--- MariaDB's log:\n{}", log()),
    };
    let name = format!("vpnaas_test_{}", uuid::Uuid::new_v4().simple());
    // A binary collation compares and sorts by bytes, as SQLite and PostgreSQL's C do.
    let sql = format!("CREATE DATABASE {name} CHARACTER SET utf8mb4 COLLATE utf8mb4_bin");
    if let Err(e) = sqlx::query(&sql).execute(&mut conn).await {
        panic!("create a test database: {e}\n--- MariaDB's log:\n{}", log());
    }
    name
}

/// Starts a server with exactly these settings (e.g. those of a stopped one, to restart it).
pub async fn spawn_config(mut config: Config) -> App {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    config.listen = addr;
    let (tx, rx) = oneshot::channel::<()>();
    let task = tokio::spawn(vpnaas_server::serve(config.clone(), listener, async move {
        let _ = rx.await;
    }));
    let app = App {
        base: format!("http://{addr}"),
        client: reqwest::Client::new(),
        config,
        _tmp: None,
        stop: Some(tx),
        task: Some(task),
    };
    // The listener is bound already; wait until the schema is migrated and requests are served.
    for _ in 0..200 {
        if app.client.get(format!("{}/", app.base)).send().await.is_ok() {
            return app;
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    panic!("server did not start");
}

impl App {
    /// Stops the server gracefully and hands back its settings and data directory (kept alive).
    pub async fn stop(mut self) -> (Config, Option<TempDir>) {
        if let Some(tx) = self.stop.take() {
            let _ = tx.send(());
        }
        if let Some(task) = self.task.take() {
            task.await.expect("join").expect("server ended cleanly");
        }
        (self.config.clone(), self._tmp.take())
    }

    pub async fn call(&self, method: Method, path: &str, who: &str, body: Option<Value>) -> Resp {
        let mut req = self.client.request(method, format!("{}{}", self.base, path));
        req = match who {
            NOBODY => req,
            ADMIN => req.header("X-Project-Id", "admin").header("X-Roles", "admin,member"),
            project => req.header("X-Project-Id", project).header("X-Roles", "member"),
        };
        if let Some(b) = body {
            req = req.header("content-type", "application/json").body(b.to_string());
        }
        self.send(req).await
    }

    pub async fn send(&self, req: reqwest::RequestBuilder) -> Resp {
        send(req).await
    }

    pub fn raw(&self, method: Method, path: &str) -> reqwest::RequestBuilder {
        self.client.request(method, format!("{}{}", self.base, path))
    }

    pub async fn get(&self, path: &str, who: &str) -> Resp {
        self.call(Method::GET, path, who, None).await
    }
    pub async fn post(&self, path: &str, who: &str, body: Value) -> Resp {
        self.call(Method::POST, path, who, Some(body)).await
    }
    pub async fn put(&self, path: &str, who: &str, body: Value) -> Resp {
        self.call(Method::PUT, path, who, Some(body)).await
    }
    pub async fn delete(&self, path: &str, who: &str) -> Resp {
        self.call(Method::DELETE, path, who, None).await
    }

    /// How many objects an admin sees in a collection (to prove nothing was written).
    pub async fn count(&self, collection: &str) -> usize {
        let r = self.get(collection, ADMIN).await;
        let body = r.ok(200);
        body.as_object().and_then(|o| o.values().next()).and_then(Value::as_array).map_or(0, Vec::len)
    }
}

/// The inventory of one project: a router with v4 and v6 gateways, a v4 and a v6 subnet
/// attached to it, and a v4 subnet attached to nothing.
pub struct Topology {
    pub router: String,
    pub subnet4: String,
    pub subnet6: String,
    pub loose_subnet: String,
    pub bare_router: String,
}

impl App {
    pub async fn router(&self, project: &str, name: &str, gateway: Value) -> String {
        let body = json!({"router": {"name": name, "tenant_id": project, "external_gateway_info": gateway}});
        let r = self.post("/v2.0/routers", ADMIN, body).await;
        r.ok(201);
        r.id()
    }

    pub async fn subnet(&self, project: &str, name: &str, cidr: &str) -> String {
        let r = self
            .post("/v2.0/subnets", ADMIN, json!({"subnet": {"name": name, "tenant_id": project, "cidr": cidr}}))
            .await;
        r.ok(201);
        r.id()
    }

    pub async fn attach(&self, router: &str, subnet: &str) {
        let path = format!("/v2.0/routers/{router}/add_router_interface");
        self.put(&path, ADMIN, json!({"subnet_id": subnet})).await.ok(200);
    }

    pub async fn topology(&self, project: &str) -> Topology {
        let gateway =
            json!({"external_fixed_ips": [{"ip_address": "172.24.4.10"}, {"ip_address": "2001:db8:ffff::10"}]});
        let router = self.router(project, "r1", gateway).await;
        let bare_router = self.router(project, "bare", Value::Null).await;
        let subnet4 = self.subnet(project, "s4", "10.1.0.0/24").await;
        let subnet6 = self.subnet(project, "s6", "2001:db8:1::/64").await;
        let loose_subnet = self.subnet(project, "loose", "10.9.0.0/24").await;
        self.attach(&router, &subnet4).await;
        self.attach(&router, &subnet6).await;
        Topology { router, subnet4, subnet6, loose_subnet, bare_router }
    }

    pub async fn create(&self, collection: &str, who: &str, body: Value) -> String {
        let r = self.post(collection, who, body).await;
        r.ok(201);
        r.id()
    }

    pub async fn ikepolicy(&self, who: &str) -> String {
        self.create(IKE, who, json!({"ikepolicy": {"name": "ike"}})).await
    }
    pub async fn ipsecpolicy(&self, who: &str) -> String {
        self.create(IPSEC, who, json!({"ipsecpolicy": {"name": "ipsec"}})).await
    }
    pub async fn vpnservice(&self, who: &str, router: &str, subnet: Option<&str>) -> String {
        let mut body = json!({"vpnservice": {"name": "vpn", "router_id": router}});
        if let Some(s) = subnet {
            body["vpnservice"]["subnet_id"] = json!(s);
        }
        self.create(SERVICES, who, body).await
    }
    pub async fn group(&self, who: &str, kind: &str, endpoints: Value) -> String {
        self.create(GROUPS, who, json!({"endpoint_group": {"name": "g", "type": kind, "endpoints": endpoints}})).await
    }
}

pub const IKE: &str = "/v2.0/vpn/ikepolicies";
pub const IPSEC: &str = "/v2.0/vpn/ipsecpolicies";
pub const SERVICES: &str = "/v2.0/vpn/vpnservices";
pub const GROUPS: &str = "/v2.0/vpn/endpoint-groups";
pub const CONNS: &str = "/v2.0/vpn/ipsec-site-connections";

/// Everything a site connection in endpoint-group mode needs, in one project.
pub struct Site {
    pub topo: Topology,
    pub ike: String,
    pub ipsec: String,
    pub service: String,
    pub legacy_service: String,
    pub local: String,
    pub peer: String,
}

impl Site {
    pub async fn new(app: &App, project: &str) -> Site {
        let topo = app.topology(project).await;
        let ike = app.ikepolicy(project).await;
        let ipsec = app.ipsecpolicy(project).await;
        let service = app.vpnservice(project, &topo.router, None).await;
        let legacy_service = app.vpnservice(project, &topo.router, Some(&topo.subnet4)).await;
        let local = app.group(project, "subnet", json!([topo.subnet4])).await;
        let peer = app.group(project, "cidr", json!(["10.2.0.0/24", "10.3.0.0/24"])).await;
        Site { topo, ike, ipsec, service, legacy_service, local, peer }
    }

    /// A valid endpoint-group-mode connection body.
    pub fn connection(&self) -> Value {
        json!({"ipsec_site_connection": {
            "name": "conn", "psk": "secret", "peer_address": "172.24.4.233", "peer_id": "172.24.4.233",
            "vpnservice_id": self.service, "ikepolicy_id": self.ike, "ipsecpolicy_id": self.ipsec,
            "local_ep_group_id": self.local, "peer_ep_group_id": self.peer,
        }})
    }

    /// A valid legacy-mode connection body.
    pub fn legacy_connection(&self) -> Value {
        json!({"ipsec_site_connection": {
            "name": "legacy", "psk": "secret", "peer_address": "172.24.4.233", "peer_id": "172.24.4.233",
            "vpnservice_id": self.legacy_service, "ikepolicy_id": self.ike, "ipsecpolicy_id": self.ipsec,
            "peer_cidrs": ["10.5.0.0/24"],
        }})
    }
}

/// `base` with the attributes of `extra` merged into its single inner object.
pub fn with(mut base: Value, extra: Value) -> Value {
    let inner =
        base.as_object_mut().and_then(|o| o.values_mut().next()).and_then(Value::as_object_mut).expect("envelope");
    for (k, v) in extra.as_object().expect("object").clone() {
        inner.insert(k, v);
    }
    base
}

/// `base` without the attribute `key`.
pub fn without(mut base: Value, key: &str) -> Value {
    if let Some(inner) = base.as_object_mut().and_then(|o| o.values_mut().next()).and_then(Value::as_object_mut) {
        inner.remove(key);
    }
    base
}

/// A `vpnaas serve` process on a free loopback port; killed when dropped.
pub struct Process {
    pub child: std::process::Child,
    pub base: String,
    pub log_line: String,
    client: reqwest::Client,
}

impl Drop for Process {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts the real binary with `args` and `envs` and waits for its "listening" line; on a
/// free loopback port unless `args` name one (`--listen`).
pub fn spawn_process(args: &[&str], envs: &[(&str, &str)]) -> Process {
    spawn_program(env!("CARGO_BIN_EXE_vpnaas"), args, envs)
}

/// [`spawn_process`] with another `vpnaas` binary (the previous release's, say).
pub fn spawn_program(program: &str, args: &[&str], envs: &[(&str, &str)]) -> Process {
    use std::io::{BufRead, BufReader};
    let mut cmd = std::process::Command::new(program);
    cmd.arg("serve");
    if !args.contains(&"--listen") {
        cmd.args(["--listen", "127.0.0.1:0"]);
    }
    cmd.args(args).env("VPNAAS_LOG", "info");
    cmd.env("VPNAAS_PSK_KEY_FILE", shared_key_file());
    for (k, v) in envs {
        cmd.env(k, v);
    }
    let mut child =
        cmd.stdout(std::process::Stdio::piped()).stderr(std::process::Stdio::null()).spawn().expect("spawn vpnaas");
    let stdout = child.stdout.take().expect("stdout");
    let mut reader = BufReader::new(stdout);
    let mut line = String::new();
    while !line.contains("listening on") {
        line.clear();
        if reader.read_line(&mut line).expect("read the log") == 0 {
            break;
        }
    }
    // Keep draining the log so the server never blocks on a full pipe; its errors go to the
    // test's output, which a failed test shows.
    std::thread::spawn(move || {
        for line in reader.lines().map_while(Result::ok) {
            if line.contains(" ERROR ") {
                eprintln!("server: {line}");
            }
        }
    });
    Process::from_child(child, &line)
}

impl Process {
    /// A started server, given its first "listening on" log line.
    pub fn from_child(child: std::process::Child, line: &str) -> Process {
        // `listening on http://ADDR`, or `https://ADDR` with a certificate.
        let scheme = if line.contains("listening on https://") { "https" } else { "http" };
        let addr = line
            .split(&format!("listening on {scheme}://"))
            .nth(1)
            .and_then(|s| s.split_whitespace().next())
            .unwrap_or_default();
        assert!(!addr.is_empty(), "no listening line: {line}");
        Process { child, base: format!("{scheme}://{addr}"), log_line: line.to_owned(), client: reqwest::Client::new() }
    }

    /// This process's client trusting the CA certificate `ca` (PEM), for an HTTPS server.
    pub fn trusting(mut self, ca: reqwest::Certificate) -> Process {
        self.client = reqwest::Client::builder().add_root_certificate(ca).build().expect("a client");
        self
    }

    /// A request to `path` without identity headers.
    pub fn raw(&self, method: Method, path: &str) -> reqwest::RequestBuilder {
        self.client.request(method, format!("{}{}", self.base, path)).timeout(std::time::Duration::from_secs(20))
    }

    pub async fn call(
        &self,
        method: Method,
        path: &str,
        who: &str,
        body: Option<Value>,
        if_match: Option<i64>,
    ) -> Resp {
        let mut req =
            self.client.request(method, format!("{}{}", self.base, path)).timeout(std::time::Duration::from_secs(20));
        req = match who {
            ADMIN => req.header("X-Project-Id", "admin").header("X-Roles", "admin"),
            project => req.header("X-Project-Id", project),
        };
        if let Some(rev) = if_match {
            req = req.header("If-Match", format!("revision_number={rev}"));
        }
        if let Some(b) = body {
            req = req.header("content-type", "application/json").body(b.to_string());
        }
        send(req).await
    }
}

/// The PostgreSQL server for tests that cannot run without one. Under CI its absence is a
/// failure, never a silent pass; elsewhere the test says why it skips.
pub fn require_postgres(test: &str) -> Option<String> {
    match postgres_admin_url() {
        Some(url) => Some(url),
        None if std::env::var("CI").is_ok_and(|v| !v.is_empty()) => {
            panic!("{test}: CI must set VPNAAS_TEST_POSTGRES (.ci/run starts a PostgreSQL cluster)")
        }
        None => {
            eprintln!(
                "SKIPPED {test}: set VPNAAS_TEST_POSTGRES=postgres://USER@HOST:PORT/postgres to run it (.ci/run does)"
            );
            None
        }
    }
}

/// Whether this pass runs the suite on MariaDB (`VPNAAS_TEST_BACKEND=mariadb`).
pub fn mariadb_pass() -> bool {
    std::env::var("VPNAAS_TEST_BACKEND").is_ok_and(|b| b == "mariadb")
}

/// A fresh database for a test of replicas sharing one: on MariaDB in the MariaDB pass, on
/// PostgreSQL otherwise (or `None`, with the reason printed, where there is none).
pub async fn fresh_shared(test: &str) -> Option<String> {
    if mariadb_pass() {
        return Some(fresh_mariadb().await.expect("VPNAAS_TEST_BACKEND=mariadb needs VPNAAS_TEST_MARIADB"));
    }
    require_postgres(test)?;
    fresh_postgres().await
}

/// Whether this pass runs the replica tests on a Galera cluster (`VPNAAS_TEST_BACKEND=galera`,
/// `VPNAAS_TEST_GALERA`: the nodes' `mysql://user:password@host:port`, comma-separated).
pub fn galera_pass() -> bool {
    std::env::var("VPNAAS_TEST_BACKEND").is_ok_and(|b| b == "galera")
}

/// The Galera nodes' URLs (no database), in the Galera pass.
pub fn galera_nodes() -> Vec<String> {
    std::env::var("VPNAAS_TEST_GALERA")
        .map(|v| v.split(',').map(|u| u.trim().trim_end_matches('/').to_owned()).filter(|u| !u.is_empty()).collect())
        .unwrap_or_default()
}

/// HAProxy in front of the Galera pass's cluster (`.ci/galera.sh`: node 0's port + 40), which
/// sends every connection to node 0 and keeps the others as backups, as kolla's does (ADR 0031).
pub fn galera_proxy() -> String {
    let nodes = galera_nodes();
    let node0 = nodes.first().expect("VPNAAS_TEST_GALERA names the nodes");
    let (host, port) = node0.rsplit_once(':').expect("a node URL ends in its port");
    let port: u16 = port.parse().expect("node 0's port");
    format!("{host}:{}", port + 40)
}

/// `url` with the Galera pass's `replica` account (`.ci/galera.sh`), which has only the
/// operations guide's grant (all privileges on its own database), in place of the admin account.
pub fn as_replica(url: &str) -> String {
    match url.split_once("://").and_then(|(scheme, rest)| Some((scheme, rest.split_once('@')?.1))) {
        Some((scheme, host)) => format!("{scheme}://replica:replica@{host}"),
        None => url.to_owned(),
    }
}

/// A fresh database for two replicas, and the URL each reaches it by. In the Galera pass both
/// replicas reach the cluster through its HAProxy, the documented layout (ADR 0031). With
/// `VPNAAS_TEST_GALERA_WRITERS=2` they write through nodes 0 and 1 instead (multi-writer, which
/// loses updates: not supported, not in CI). Otherwise both share [`fresh_shared`]'s.
pub async fn fresh_shared_pair(test: &str) -> Option<(String, String)> {
    if !galera_pass() {
        let url = fresh_shared(test).await?;
        return Some((url.clone(), url));
    }
    let nodes = galera_nodes();
    assert!(nodes.len() >= 2, "VPNAAS_TEST_BACKEND=galera needs VPNAAS_TEST_GALERA with the nodes' URLs");
    let name = create_mariadb_database(&nodes[0]).await;
    if std::env::var("VPNAAS_TEST_GALERA_WRITERS").is_ok_and(|w| w == "2") {
        return Some((as_replica(&format!("{}/{name}", nodes[0])), as_replica(&format!("{}/{name}", nodes[1]))));
    }
    let proxy = as_replica(&galera_proxy());
    Some((format!("{proxy}/{name}"), format!("{proxy}/{name}")))
}

/// [`require_postgres`] for a test of PostgreSQL itself (its restart, its absence): the
/// MariaDB pass leaves it to the PostgreSQL pass, and says so.
pub fn postgres_only(test: &str) -> Option<String> {
    if mariadb_pass() || galera_pass() {
        eprintln!("SKIPPED {test}: a test of PostgreSQL itself; it runs in the PostgreSQL pass");
        return None;
    }
    require_postgres(test)
}

/// Builds a site through a server process's API, returning a valid connection body.
pub async fn process_site(p: &Process) -> serde_json::Value {
    let post = |path: &'static str, who: &'static str, body: serde_json::Value| {
        p.call(Method::POST, path, who, Some(body), None)
    };
    let router = post("/v2.0/routers", ADMIN, json!({"router": {"tenant_id": P1, "external_gateway_info": {"external_fixed_ips": [{"ip_address": "172.24.4.10"}]}}})).await.id();
    let subnet = post("/v2.0/subnets", ADMIN, json!({"subnet": {"tenant_id": P1, "cidr": "10.1.0.0/24"}})).await.id();
    p.call(
        Method::PUT,
        &format!("/v2.0/routers/{router}/add_router_interface"),
        ADMIN,
        Some(json!({"subnet_id": subnet})),
        None,
    )
    .await
    .ok(200);
    let ike = post(IKE, P1, json!({"ikepolicy": {}})).await.id();
    let ipsec = post(IPSEC, P1, json!({"ipsecpolicy": {}})).await.id();
    let service = post(SERVICES, P1, json!({"vpnservice": {"router_id": router}})).await.id();
    let local = post(GROUPS, P1, json!({"endpoint_group": {"type": "subnet", "endpoints": [subnet]}})).await.id();
    let peer = post(GROUPS, P1, json!({"endpoint_group": {"type": "cidr", "endpoints": ["10.2.0.0/24"]}})).await.id();
    json!({"ipsec_site_connection": {"psk": "secret", "peer_address": "172.24.4.233", "peer_id": "172.24.4.233",
        "vpnservice_id": service, "ikepolicy_id": ike, "ipsecpolicy_id": ipsec, "local_ep_group_id": local, "peer_ep_group_id": peer}})
}
