//! What a hostile or careless client meets (ADR 0013): every error in the envelope, whatever layer answers it; slow and idle connections closed; the connection cap's fast 503s; PSKs both ends can hold; the lifetime echo; `trace` logging everything.

use std::io::Read;
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use reqwest::Method;
use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::support::*;

/// An answer read off a raw connection.
#[derive(Debug)]
pub struct RawAnswer {
    pub status: u16,
    /// Header lines, lower-cased.
    pub head: String,
    pub body: String,
}

impl RawAnswer {
    /// Asserts the status, `application/json` and a NeutronError body; returns its `type`.
    #[track_caller]
    pub fn enveloped(&self, status: u16) -> String {
        assert_eq!(self.status, status, "{self:?}");
        assert!(self.head.contains("content-type: application/json"), "{self:?}");
        let body: Value = serde_json::from_str(&self.body).unwrap_or_else(|e| panic!("{e}: {self:?}"));
        let e = &body["NeutronError"];
        assert!(e["type"].is_string() && e["message"].is_string() && e["detail"] == "", "{self:?}");
        e["type"].as_str().unwrap().to_owned()
    }
}

/// The host:port of a base URL.
pub fn addr(base: &str) -> String {
    base.trim_start_matches("http://").to_owned()
}

/// Sends `request` as it is on a new connection and reads the answer until the server closes
/// it (or `Content-Length` says it is complete).
pub async fn raw(addr: &str, request: &[u8]) -> RawAnswer {
    let mut s = TcpStream::connect(addr).await.expect("connect");
    // The server may answer (and close) before it has read everything, as for a long URL.
    let _ = s.write_all(request).await;
    read_answer(&mut s).await
}

/// Reads one answer off `s`.
pub async fn read_answer(s: &mut TcpStream) -> RawAnswer {
    let mut all = Vec::new();
    let mut buf = [0u8; 8192];
    let read = async {
        loop {
            match s.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => all.extend_from_slice(&buf[..n]),
            }
            if let Some(end) = all.windows(4).position(|w| w == b"\r\n\r\n") {
                let head = String::from_utf8_lossy(&all[..end]).to_ascii_lowercase();
                let length = head
                    .lines()
                    .find_map(|l| l.strip_prefix("content-length:"))
                    .and_then(|v| v.trim().parse::<usize>().ok());
                if length.is_some_and(|n| all.len() >= end + 4 + n) {
                    break;
                }
            }
        }
    };
    tokio::time::timeout(Duration::from_secs(10), read).await.expect("an answer within 10 s");
    let text = String::from_utf8_lossy(&all).into_owned();
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let status = head.get(9..12).and_then(|s| s.parse().ok()).unwrap_or(0);
    RawAnswer { status, head: head.to_ascii_lowercase(), body: body.to_owned() }
}

fn get(path: &str) -> Vec<u8> {
    format!("GET {path} HTTP/1.1\r\nHost: x\r\nX-Project-Id: p1\r\nConnection: close\r\n\r\n").into_bytes()
}

#[tokio::test]
async fn errors_below_the_handlers_come_in_the_envelope() {
    let app = spawn_app().await;
    let a = addr(&app.base);
    // A path id that is not UTF-8: the 404 of any id that names nothing.
    assert_eq!(raw(&a, &get("/v2.0/vpn/ikepolicies/%ff")).await.enveloped(404), "HTTPNotFound");
    let action = b"PUT /v2.0/routers/%ff/add_router_interface HTTP/1.1\r\nHost: x\r\nX-Project-Id: admin\r\n\
                   X-Roles: admin\r\nContent-Length: 2\r\nConnection: close\r\n\r\n{}";
    assert_eq!(raw(&a, action).await.enveloped(404), "HTTPNotFound");
    assert_eq!(raw(&a, &get("/v2.0/vpn/ikepolicies/%ff/x")).await.enveloped(404), "HTTPNotFound");
    assert_eq!(raw(&a, &get("/v2.0/nowhere")).await.enveloped(404), "HTTPNotFound");
    let delete_all = b"DELETE /v2.0/vpn/ikepolicies HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";
    let r = raw(&a, delete_all).await;
    assert_eq!(r.enveloped(405), "HTTPMethodNotAllowed");
    assert!(r.head.contains("allow:"), "{r:?}");
    // Longer than hyper takes a URL (64 KiB): hyper answers 414 by itself.
    let long = format!("/v2.0/vpn/ikepolicies?name={}", "a".repeat(70 * 1024));
    assert_eq!(raw(&a, &get(&long)).await.enveloped(414), "HTTPRequestURITooLong");
    // Headers larger than hyper's buffer: 431.
    let big = format!("GET / HTTP/1.1\r\nHost: x\r\nX-Big: {}\r\n\r\n", "b".repeat(500 * 1024));
    assert_eq!(raw(&a, big.as_bytes()).await.enveloped(431), "HTTPRequestHeaderFieldsTooLarge");
    // Not HTTP at all.
    assert_eq!(raw(&a, b"HELLO\x01 THERE\r\n\r\n").await.enveloped(400), "HTTPBadRequest");
    let bad_header = b"GET / HTTP/1.1\r\nHost: x\r\nBad Header: y\r\n\r\n";
    assert_eq!(raw(&a, bad_header).await.enveloped(400), "HTTPBadRequest");
    // A body over the limit.
    let body = "x".repeat(200 * 1024);
    let post = format!(
        "POST /v2.0/vpn/ikepolicies HTTP/1.1\r\nHost: x\r\nX-Project-Id: p1\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    assert_eq!(raw(&a, post.as_bytes()).await.enveloped(413), "HTTPRequestEntityTooLarge");
    // The server still serves.
    app.get(IKE, P1).await.ok(200);
}

#[tokio::test]
async fn a_body_that_does_not_arrive_is_a_408_in_the_envelope() {
    let app = spawn_app_with(|c| c.http_body_timeout_secs = 1).await;
    let started = Instant::now();
    let head =
        b"POST /v2.0/vpn/ikepolicies HTTP/1.1\r\nHost: x\r\nX-Project-Id: p1\r\nContent-Length: 100\r\n\r\n{\"ikep";
    let mut s = TcpStream::connect(addr(&app.base)).await.unwrap();
    s.write_all(head).await.unwrap();
    let r = read_answer(&mut s).await;
    assert_eq!(r.enveloped(408), "HTTPRequestTimeout");
    eprintln!("slow body answered 408 after {:?}", started.elapsed());
    assert_eq!(app.count(IKE).await, 0);
}

/// Waits until the server closes `s` (a read of 0 bytes or an error); how long that took.
async fn closed_after(s: &mut TcpStream, limit: Duration) -> Duration {
    let started = Instant::now();
    let mut buf = [0u8; 1024];
    let r = tokio::time::timeout(limit, async {
        loop {
            match s.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(_) => continue,
            }
        }
    })
    .await;
    assert!(r.is_ok(), "still open after {limit:?}");
    started.elapsed()
}

#[tokio::test]
async fn idle_and_slow_connections_are_closed() {
    let app = spawn_app_with(|c| {
        c.http_header_timeout_secs = 2;
        c.http_idle_timeout_secs = 3;
    })
    .await;
    let a = addr(&app.base);
    // A connection that never says anything.
    let mut idle = TcpStream::connect(&a).await.unwrap();
    // A slowloris: its head, one byte every 200 ms, never finished.
    let mut slow = TcpStream::connect(&a).await.unwrap();
    let drip = tokio::spawn({
        let a = a.clone();
        async move {
            let mut s = TcpStream::connect(&a).await.unwrap();
            let started = Instant::now();
            for b in b"GET /v2.0/vpn/ikepolicies HTTP/1.1\r\nHost: x\r\nX-Pad: ".iter().chain([b'a'; 200].iter()) {
                if s.write_all(&[*b]).await.is_err() {
                    return Some(started.elapsed());
                }
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
            None
        }
    });
    let quiet = closed_after(&mut idle, Duration::from_secs(10)).await;
    slow.write_all(b"GET / HTTP/1.1\r\n").await.unwrap();
    let slow_closed = closed_after(&mut slow, Duration::from_secs(10)).await;
    let dripping = tokio::time::timeout(Duration::from_secs(15), drip).await.unwrap().unwrap();
    eprintln!("silent connection closed after {quiet:?}; half a head: {slow_closed:?}; dripping: {dripping:?}");
    assert!(quiet >= Duration::from_millis(1500), "{quiet:?}");
    assert!(dripping.is_some_and(|d| d < Duration::from_secs(8)), "the dripping client was never cut off");
    // A kept-alive connection is answered, then closed once idle for longer than the setting.
    let mut kept = TcpStream::connect(&a).await.unwrap();
    kept.write_all(b"GET /v2.0/vpn/ikepolicies HTTP/1.1\r\nHost: x\r\nX-Project-Id: p1\r\n\r\n").await.unwrap();
    assert_eq!(read_answer(&mut kept).await.status, 200);
    tokio::time::sleep(Duration::from_millis(1500)).await;
    // Still open after the header timeout's length of idleness: the idle timeout rules.
    kept.write_all(b"GET /v2.0/vpn/ikepolicies HTTP/1.1\r\nHost: x\r\nX-Project-Id: p1\r\n\r\n").await.unwrap();
    assert_eq!(read_answer(&mut kept).await.status, 200);
    let idle_closed = closed_after(&mut kept, Duration::from_secs(10)).await;
    eprintln!("kept-alive connection closed after {idle_closed:?} idle");
    assert!(idle_closed >= Duration::from_millis(2500), "{idle_closed:?}");
    app.get(IKE, P1).await.ok(200);
}

/// A `vpnaas serve` process whose whole log is kept, optionally under an open-file limit.
struct Logged {
    process: Process,
    log: Arc<Mutex<String>>,
}

impl Logged {
    fn start(nofile: Option<u32>, envs: &[(&str, &str)]) -> Logged {
        let data = std::env::temp_dir().join(format!("vpnaas-hardening-{}", uuid::Uuid::new_v4()));
        let bin = env!("CARGO_BIN_EXE_vpnaas");
        let mut cmd = match nofile {
            Some(n) => {
                let mut c = Command::new("sh");
                c.args(["-c", &format!("ulimit -n {n} && exec \"$0\" serve --listen 127.0.0.1:0"), bin]);
                c
            }
            None => {
                let mut c = Command::new(bin);
                c.args(["serve", "--listen", "127.0.0.1:0"]);
                c
            }
        };
        cmd.env("VPNAAS_DATA_DIR", &data).env("VPNAAS_DATABASE_URL", "").env("VPNAAS_LOG", "info");
        cmd.env("VPNAAS_PSK_KEY_FILE", data.join("psk.key"));
        cmd.envs(envs.iter().copied());
        let mut child = cmd.stdout(Stdio::piped()).stderr(Stdio::null()).spawn().expect("spawn vpnaas");
        let mut stdout = child.stdout.take().unwrap();
        let log = Arc::new(Mutex::new(String::new()));
        let (tx, rx) = std::sync::mpsc::channel::<String>();
        let kept = log.clone();
        std::thread::spawn(move || {
            let mut buf = [0u8; 8192];
            let mut sent = false;
            while let Ok(n) = stdout.read(&mut buf) {
                if n == 0 {
                    break;
                }
                let mut text = kept.lock().unwrap();
                text.push_str(&String::from_utf8_lossy(&buf[..n]));
                if !sent {
                    if let Some(line) = text.lines().find(|l| l.contains("listening on")) {
                        let _ = tx.send(line.to_owned());
                        sent = true;
                    }
                }
            }
        });
        let line = rx.recv_timeout(Duration::from_secs(30)).expect("the server starts");
        Logged { process: Process::from_child(child, &line), log }
    }

    fn log(&self) -> String {
        self.log.lock().unwrap().clone()
    }
}

#[tokio::test]
async fn over_the_connection_cap_clients_get_a_fast_503_and_the_log_says_so_once() {
    // The campaign's setting: 256 descriptors, 320 connections that say nothing.
    let server = Logged::start(Some(256), &[("VPNAAS_HTTP_HEADER_TIMEOUT_SECS", "4")]);
    let a = addr(&server.process.base);
    let mut idle = Vec::new();
    for _ in 0..320 {
        if let Ok(s) = TcpStream::connect(&a).await {
            idle.push(s);
        }
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    let started = Instant::now();
    let r = raw(&a, &get(IKE)).await;
    let waited = started.elapsed();
    eprintln!("with 320 idle connections a request was answered {} after {waited:?}", r.status);
    assert_eq!(r.enveloped(503), "ServiceUnavailable");
    assert!(r.head.contains("retry-after: 1"), "{r:?}");
    assert!(waited < Duration::from_secs(2), "{waited:?}");
    for _ in 0..20 {
        assert_eq!(raw(&a, &get(IKE)).await.status, 503);
    }
    // Once the silent connections are cut off (the header timeout), service resumes.
    let resumed = Instant::now();
    loop {
        let r = raw(&a, &get(IKE)).await;
        if r.status == 200 {
            break;
        }
        assert!(resumed.elapsed() < Duration::from_secs(15), "never served again: {r:?}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    eprintln!("served again {:?} after the cap was hit", resumed.elapsed());
    drop(idle);
    let log = server.log();
    assert!(log.contains("http_max_connections lowered to fit the open-file limit"), "{log}");
    let reports = log.matches("connection limit reached").count();
    assert_eq!(reports, 1, "one report for hundreds of refusals:\n{log}");
}

#[tokio::test]
async fn keys_neither_end_could_hold_are_refused_naming_psk_and_the_rule() {
    let app = spawn_app().await;
    let site = Site::new(&app, P1).await;
    for (psk, rule) in [
        ("sec\u{0}ret", "control characters"),
        ("sec\tret", "control characters"),
        ("secret\n", "control characters"),
        ("sec\u{7f}ret", "control characters"),
        ("sec\u{85}ret", "control characters"),
        (" secret", "white space"),
        ("secret ", "white space"),
    ] {
        let r = app.post(CONNS, P1, with(site.connection(), json!({"psk": psk}))).await;
        r.refused(400, "HTTPBadRequest", "Invalid input for psk");
        assert!(r.message().contains(rule), "{psk:?}: {}", r.message());
        assert!(!r.message().contains("sec"), "the message quotes the key: {}", r.message());
    }
    assert_eq!(app.count(CONNS).await, 0);
    // Printable ASCII with punctuation and inner spaces, and non-ASCII letters, are kept.
    let id =
        app.create(CONNS, P1, with(site.connection(), json!({"psk": "a b!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~z"}))).await;
    let r = app.put(&format!("{CONNS}/{id}"), P1, json!({"ipsec_site_connection": {"psk": "Grüße aus Köln"}})).await;
    assert_eq!(r.ok(200)["ipsec_site_connection"]["psk"], "Grüße aus Köln");
    let r = app.put(&format!("{CONNS}/{id}"), P1, json!({"ipsec_site_connection": {"psk": "x\r\ny"}})).await;
    r.refused(400, "HTTPBadRequest", "control characters");
    // The Open Telekom Cloud profile refuses them too, before its own rules.
    let otc = spawn_app_with(|c| c.profile = &vpnaas_core::profile::OTC).await;
    let site = Site::new(&otc, P1).await;
    let r = otc.post(CONNS, P1, with(site.connection(), json!({"psk": "secret\u{0}x"}))).await;
    assert_eq!(r.status.as_u16(), 400, "{:#}", r.body);
    assert!(r.message().contains("psk") && r.message().contains("control characters"), "{}", r.message());
}

#[tokio::test]
async fn a_lifetime_value_sent_as_a_string_is_echoed_as_sent_and_read_back_as_an_integer() {
    let app = spawn_app().await;
    for (path, singular) in [(IPSEC, "ipsecpolicy"), (IKE, "ikepolicy")] {
        // neutron-tempest-plugin's test_create_update_delete_ipsec_policy, for both policies.
        let r = app.post(path, P1, json!({singular: {"name": "p", "lifetime": {"value": "1800"}}})).await;
        assert_eq!(r.ok(201)[singular]["lifetime"], json!({"units": "seconds", "value": "1800"}));
        let id = r.id();
        let shown = app.get(&format!("{path}/{id}"), P1).await;
        assert_eq!(shown.ok(200)[singular]["lifetime"], json!({"units": "seconds", "value": 1800}));
        let update = json!({singular: {"description": "Updated", "pfs": "group2", "name": "New",
            "encryption_algorithm": "aes-256", "lifetime": {"units": "seconds", "value": "2000"}}});
        let r = app.put(&format!("{path}/{id}"), P1, update).await;
        let body = r.ok(200);
        assert_eq!(body[singular]["lifetime"], json!({"units": "seconds", "value": "2000"}));
        assert_eq!(body[singular]["pfs"], "group2");
        let shown = app.get(&format!("{path}/{id}"), P1).await;
        assert_eq!(shown.ok(200)[singular]["lifetime"], json!({"units": "seconds", "value": 2000}));
        // An integer stays an integer.
        let r = app.put(&format!("{path}/{id}"), P1, json!({singular: {"lifetime": {"value": 2100}}})).await;
        assert_eq!(r.ok(200)[singular]["lifetime"]["value"], 2100);
    }
}

#[tokio::test]
async fn log_level_trace_shows_dependencies_too() {
    let server = Logged::start(None, &[("VPNAAS_LOG", "trace")]);
    server.process.call(Method::GET, IKE, P1, None, None).await.ok(200);
    server.process.call(Method::POST, IKE, P1, Some(json!({"ikepolicy": {"name": "x"}})), None).await.ok(201);
    tokio::time::sleep(Duration::from_millis(300)).await;
    let log = server.log();
    assert!(log.contains("sqlx::query"), "no statement of sqlx at trace level:\n{}", &log[..log.len().min(3000)]);
    assert!(log.contains("TRACE"), "no trace line at trace level");
}
