//! Durability and the binary: data survives a restart, and `vpnaas serve` / `vpnaas migrate` work as the README says.

use std::process::Command;

use serde_json::json;

use crate::support::*;

#[tokio::test]
async fn everything_created_survives_a_restart() {
    let app = spawn_app().await;
    let site = Site::new(&app, P1).await;
    let conn = app.create(CONNS, P1, site.connection()).await;
    let before: Vec<serde_json::Value> = futures_all(&app).await;
    let (config, tmp) = app.stop().await;
    let app = spawn_config(config).await;
    let after = futures_all(&app).await;
    assert_eq!(before, after);
    assert_eq!(app.get(&format!("{CONNS}/{conn}"), P1).await.ok(200)["ipsec_site_connection"]["psk"], "secret");
    drop(tmp);
}

async fn futures_all(app: &App) -> Vec<serde_json::Value> {
    let mut out = Vec::new();
    for coll in [IKE, IPSEC, SERVICES, GROUPS, CONNS, "/v2.0/routers", "/v2.0/subnets"] {
        out.push(app.get(&format!("{coll}?sort_key=id&sort_dir=asc"), ADMIN).await.ok(200).clone());
    }
    out
}

#[tokio::test]
async fn the_binary_migrates_then_serves_and_logs_where_it_listens_and_keeps_data() {
    let tmp = tempfile::TempDir::new().unwrap();
    let bin = env!("CARGO_BIN_EXE_vpnaas");
    let status = Command::new(bin)
        .args(["migrate", "--data-dir"])
        .arg(tmp.path())
        .env_remove("VPNAAS_DATABASE_URL")
        .status()
        .unwrap();
    assert!(status.success());
    assert!(tmp.path().join("vpnaas.db").exists());

    let data_dir = tmp.path().display().to_string();
    let server = spawn_process(&["--data-dir", &data_dir], &[("VPNAAS_DATABASE_URL", "")]);
    assert!(server.log_line.contains(&data_dir), "the log line names the data directory: {}", server.log_line);
    let r = server.call(reqwest::Method::GET, IKE, P1, None, None).await;
    assert_eq!(r.ok(200), &json!({"ikepolicies": []}));
    drop(server);

    let bad = Command::new(bin).args(["serve", "--bogus"]).output().unwrap();
    assert_eq!(bad.status.code(), Some(2));
    let err = String::from_utf8_lossy(&bad.stderr);
    assert!(err.contains("'--bogus'") && err.contains("Usage: vpnaas serve"), "{err}");
}

/// Every row of every table, as the store maps it: connections with their remembered
/// roles and counters, and each gateway's last heartbeat.
async fn rows(store: &vpnaas_server::store::Store) -> (Vec<vpnaas_core::resources::SiteConnection>, Vec<String>) {
    use vpnaas_core::listing::ListQuery;
    use vpnaas_server::store;
    let mut tx = store.begin_read().await.unwrap();
    let conns = store::list(&mut tx, &ListQuery::default()).await.unwrap();
    let agents = store::gateway::agents(&mut tx).await.unwrap();
    tx.commit().await.unwrap();
    (conns, agents.iter().map(|a| format!("{a:?}")).collect())
}

#[tokio::test]
async fn migrate_from_sqlite_copies_everything_into_an_empty_shared_database() {
    use crate::gateway::{agent, report, role, state, TOKEN};
    use vpnaas_server::store::{PoolSettings, Store};
    let test = "migrate_from_sqlite_copies_everything_into_an_empty_shared_database";
    let Some(url) = fresh_shared(test).await else { return };
    // The embedded default: SQLite, and a key file made in the data directory.
    let app = spawn_app_with(|c| {
        c.database_url = None;
        c.psk_key_file = None;
        c.agent_token = Some(vpnaas_server::config::Secret(TOKEN.into()));
        c.ha_hold_down_secs = 0;
    })
    .await;
    let keys = app.config.data_dir.join("psk.key");
    let site = Site::new(&app, P1).await;
    let router = site.topo.router.clone();
    let hello = json!({"host": "gw-1", "version": "test"});
    agent(&app, reqwest::Method::PUT, &format!("/v2.0/gateway/routers/{router}/agent"), Some(hello)).await.ok(200);
    // An active/standby pair whose roles a failure swapped, with the gateway's counters.
    let a = app.create(CONNS, P1, with(site.connection(), json!({"peer_address": "172.24.4.1"}))).await;
    let b = app.create(CONNS, P1, with(site.connection(), json!({"peer_address": "172.24.4.2"}))).await;
    report(&app, &router, &b, 1, "ACTIVE").await.ok(204);
    report(&app, &router, &a, 1, "DOWN").await.ok(204);
    assert_eq!(role(&state(&app, &router).await, &a)["role"], "standby", "the pair swapped");
    // A connection sealed under a second key (the server reads the key file again).
    vpnaas_server::secrets::add_key(&keys).unwrap();
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    let legacy = json!({"ipsec_site_connection": {"psk": "second-key", "peer_address": "172.24.4.3",
        "peer_id": "172.24.4.3", "peer_cidrs": ["10.9.0.0/24"], "vpnservice_id": site.legacy_service,
        "ikepolicy_id": site.ike, "ipsecpolicy_id": site.ipsec}});
    app.create(CONNS, P1, legacy).await;
    let before = futures_all(&app).await;
    let gateway_before = state(&app, &router).await;
    let (config, tmp) = app.stop().await;
    let sqlite = config.data_dir.join("vpnaas.db");
    {
        let source = Store::open_sqlite(&sqlite, PoolSettings::default()).await.unwrap();
        let (conns, agents) = rows(&source).await;
        let sealed: std::collections::BTreeSet<String> = conns
            .iter()
            .map(|c| match c.spec.auth.psk().unwrap() {
                vpnaas_core::values::StoredPsk::Sealed(s) => s.split(':').nth(1).unwrap().to_owned(),
                _ => panic!("a clear key at rest"),
            })
            .collect();
        assert_eq!(sealed.len(), 2, "keys under two key ids: {sealed:?}");
        assert!(conns.iter().any(|c| c.spec.runtime.ha_standby) && conns.iter().any(|c| c.spec.runtime.ha_since > 0));
        assert!(conns.iter().any(|c| c.spec.runtime.counters.bytes_in == 10));
        assert_eq!(agents.len(), 1);
        source.close().await;
    }
    let migrate = |key_file: &std::path::Path| {
        Command::new(env!("CARGO_BIN_EXE_vpnaas"))
            .args(["migrate", "--from-sqlite"])
            .arg(&sqlite)
            .env("VPNAAS_DATABASE_URL", &url)
            .env("VPNAAS_PSK_KEY_FILE", key_file)
            .output()
            .unwrap()
    };
    // Pre-shared keys travel sealed: the copy needs the installation's key file.
    let lost = migrate(&config.data_dir.join("elsewhere.key"));
    assert!(!lost.status.success());
    assert!(
        String::from_utf8_lossy(&lost.stderr).contains("psk_key_file"),
        "{}",
        String::from_utf8_lossy(&lost.stderr)
    );
    let run = || migrate(&keys);
    let out = run();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let again = run();
    assert!(!again.status.success(), "a second copy into a non-empty database is refused");
    assert!(String::from_utf8_lossy(&again.stderr).contains("empty"));
    // Every column of every row came along: the two stores hold the same rows.
    let source = Store::open_sqlite(&sqlite, PoolSettings::default()).await.unwrap();
    let target = match mariadb_pass() {
        true => Store::open_mariadb(&url, PoolSettings::default()).await.unwrap(),
        false => Store::open_postgres(&url, PoolSettings::default()).await.unwrap(),
    };
    let copied = rows(&target).await;
    assert_eq!(copied, rows(&source).await);
    assert!(copied.0.iter().any(|c| c.spec.runtime.ha_standby), "the remembered roles came along");
    assert!(copied.0.iter().any(|c| c.spec.runtime.counters.packets_out == 2), "the counters came along");
    source.close().await;
    target.close().await;
    // And every API read and the gateway's state are the same on PostgreSQL.
    let pg = spawn_app_with(|c| {
        c.database_url = Some(vpnaas_server::config::DatabaseUrl(url.clone()));
        c.psk_key_file = Some(keys.clone());
        c.agent_token = Some(vpnaas_server::config::Secret(TOKEN.into()));
    })
    .await;
    assert_eq!(futures_all(&pg).await, before);
    assert_eq!(state(&pg, &router).await, gateway_before);
    drop(tmp);
}

/// Root (for a private mount namespace and tmpfs) or a printed reason; under CI, root is required.
fn require_root(test: &str) -> bool {
    let root = Command::new("id").arg("-u").output().map(|o| o.stdout.starts_with(b"0\n")).unwrap_or(false);
    if !root {
        assert!(std::env::var("CI").map_or(true, |v| v.is_empty()), "{test}: CI runs as root");
        eprintln!("SKIPPED {test}: needs root for a private mount namespace");
    }
    root
}

#[tokio::test]
async fn a_full_disk_under_sqlite_is_a_503_and_corrupts_nothing() {
    if !require_root("a_full_disk_under_sqlite_is_a_503_and_corrupts_nothing") {
        return;
    }
    let tmp = tempfile::TempDir::new().unwrap();
    let data = tmp.path().join("data");
    std::fs::create_dir_all(&data).unwrap();
    let data_s = data.display().to_string();
    // The server runs in its own mount namespace over a 1 MiB tmpfs: only it sees the small disk.
    let script = format!("mount -t tmpfs -o size=1m vpnaas-full '{data_s}' && exec \"$0\" serve --listen 127.0.0.1:0 --data-dir '{data_s}'");
    let server = spawn_wrapped(
        "unshare",
        &["-m", "--propagation", "private", "sh", "-c", &script, env!("CARGO_BIN_EXE_vpnaas")],
    );
    let first = server.call(reqwest::Method::POST, IKE, P1, Some(json!({"ikepolicy": {"name": "kept"}})), None).await;
    first.ok(201);
    let mut full = None;
    for i in 0..400 {
        let endpoints: Vec<String> = (0..200).map(|j| format!("vlan-{i}-{j}-{}", "x".repeat(200))).collect();
        let r = server
            .call(
                reqwest::Method::POST,
                GROUPS,
                P1,
                Some(json!({"endpoint_group": {"type": "vlan", "endpoints": endpoints}})),
                None,
            )
            .await;
        if r.status != 201 {
            full = Some(r);
            break;
        }
    }
    let r = full.expect("the 1 MiB disk fills up");
    r.refused(503, "ServiceUnavailable", "database");
    // Reads still work and what was acknowledged is intact.
    let r = server.call(reqwest::Method::GET, &format!("{IKE}?name=kept"), P1, None, None).await;
    assert_eq!(r.ok(200)["ikepolicies"].as_array().map(Vec::len), Some(1));
    let groups = server.call(reqwest::Method::GET, GROUPS, P1, None, None).await;
    let written = groups.ok(200)["endpoint_groups"].as_array().unwrap().clone();
    eprintln!("the disk filled after {} groups", written.len());
    assert!(!written.is_empty(), "the disk held some groups before it filled");
    for g in &written {
        assert_eq!(g["endpoints"].as_array().map(Vec::len), Some(200), "no half-written group");
    }
}

/// Like `spawn_process`, for a server started through a wrapper command.
fn spawn_wrapped(program: &str, args: &[&str]) -> Process {
    use std::io::{BufRead, BufReader};
    let mut child = Command::new(program)
        .args(args)
        .env("VPNAAS_LOG", "info")
        .env_remove("VPNAAS_DATABASE_URL")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::inherit())
        .spawn()
        .unwrap();
    let mut reader = BufReader::new(child.stdout.take().unwrap());
    let mut line = String::new();
    while !line.contains("listening on") {
        line.clear();
        if reader.read_line(&mut line).unwrap() == 0 {
            break;
        }
    }
    std::thread::spawn(move || for _ in reader.lines() {});
    Process::from_child(child, &line)
}

/// Kills the server with SIGKILL while 16 clients write, three times, and checks that every
/// write it acknowledged is there after a restart, with its exact content: group commit
/// answers a write only once the batch holding it is committed.
async fn acknowledged_writes_survive_sigkill(envs: &[(&str, &str)], args: &[&str]) -> usize {
    let mut acked: Vec<(String, String)> = Vec::new();
    for round in 0..3 {
        let server = spawn_process(args, envs);
        let base = server.base.clone();
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let mut writers = tokio::task::JoinSet::new();
        for w in 0..16 {
            let (base, stop) = (base.clone(), stop.clone());
            writers.spawn(async move {
                let client = reqwest::Client::new();
                let mut mine = Vec::new();
                for n in 0.. {
                    if stop.load(std::sync::atomic::Ordering::Relaxed) {
                        break;
                    }
                    let name = format!("r{round}-w{w}-n{n}");
                    let sent = client
                        .post(format!("{base}{IKE}"))
                        .header("X-Project-Id", P1)
                        .header("content-type", "application/json")
                        .body(json!({"ikepolicy": {"name": name, "description": format!("d-{name}")}}).to_string())
                        .timeout(std::time::Duration::from_secs(5))
                        .send()
                        .await;
                    let Ok(r) = sent else { break };
                    if r.status().as_u16() != 201 {
                        break;
                    }
                    let Ok(body) = r.json::<serde_json::Value>().await else { break };
                    mine.push((body["ikepolicy"]["id"].as_str().unwrap().to_owned(), name));
                }
                mine
            });
        }
        tokio::time::sleep(std::time::Duration::from_millis(1500)).await;
        let mut server = server;
        server.child.kill().unwrap();
        server.child.wait().unwrap();
        stop.store(true, std::sync::atomic::Ordering::Relaxed);
        while let Some(done) = writers.join_next().await {
            acked.extend(done.unwrap());
        }
    }
    let server = spawn_process(args, envs);
    for (id, name) in &acked {
        let r = server.call(reqwest::Method::GET, &format!("{IKE}/{id}"), P1, None, None).await;
        let p = &r.ok(200)["ikepolicy"];
        assert_eq!(
            (p["name"].as_str(), p["description"].as_str()),
            (Some(name.as_str()), Some(format!("d-{name}").as_str()))
        );
    }
    acked.len()
}

#[tokio::test]
async fn every_acknowledged_write_survives_sigkill_on_sqlite() {
    let tmp = tempfile::TempDir::new().unwrap();
    let dir = tmp.path().display().to_string();
    let n = acknowledged_writes_survive_sigkill(&[("VPNAAS_DATABASE_URL", "")], &["--data-dir", &dir]).await;
    eprintln!("{n} acknowledged writes over three SIGKILLs, every one of them found after restart (SQLite)");
    assert!(n > 100, "the writers got going ({n} acknowledged)");
}

#[tokio::test]
async fn every_acknowledged_write_survives_sigkill_on_a_shared_database() {
    let Some(url) = fresh_shared("every_acknowledged_write_survives_sigkill_on_a_shared_database").await else {
        return;
    };
    let n = acknowledged_writes_survive_sigkill(&[("VPNAAS_DATABASE_URL", url.as_str())], &[]).await;
    eprintln!(
        "{n} acknowledged writes over three SIGKILLs, every one of them found after restart ({})",
        url.split(':').next().unwrap_or("?")
    );
    assert!(n > 100, "the writers got going ({n} acknowledged)");
}

/// Writes that fail inside the transaction (404, 409) fail alone: the writes batched with them
/// into one commit are all there, and nothing of the failed ones is.
#[tokio::test]
async fn a_refused_write_in_a_batch_fails_alone() {
    let app = spawn_app().await;
    let site = Site::new(&app, P1).await;
    let used = app.create(CONNS, P1, site.connection()).await;
    let ike_in_use = format!("{IKE}/{}", site.ike);
    let mut missing_service = site.connection();
    missing_service["ipsec_site_connection"]["vpnservice_id"] = json!(uuid::Uuid::new_v4().to_string());
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..48 {
        let (base, path, body) = (app.base.clone(), ike_in_use.clone(), missing_service.clone());
        tasks.spawn(async move {
            let client = reqwest::Client::new();
            let req = match i % 3 {
                0 => client
                    .post(format!("{base}{IKE}"))
                    .body(json!({"ikepolicy": {"name": format!("ok-{i}")}}).to_string()),
                1 => client.delete(format!("{base}{path}")),
                _ => client.post(format!("{base}{CONNS}")).body(body.to_string()),
            };
            let r = req.header("X-Project-Id", P1).header("content-type", "application/json").send().await.unwrap();
            (i % 3, r.status().as_u16())
        });
    }
    let mut seen = std::collections::BTreeMap::new();
    while let Some(done) = tasks.join_next().await {
        let (kind, status) = done.unwrap();
        *seen.entry((kind, status)).or_insert(0) += 1;
    }
    assert_eq!(seen, std::collections::BTreeMap::from([((0, 201), 16), ((1, 409), 16), ((2, 404), 16)]));
    let listed = app.get(&format!("{IKE}?fields=name"), P1).await;
    let names: Vec<&str> =
        listed.ok(200)["ikepolicies"].as_array().unwrap().iter().filter_map(|p| p["name"].as_str()).collect();
    assert_eq!(names.iter().filter(|n| n.starts_with("ok-")).count(), 16);
    app.get(&ike_in_use, P1).await.ok(200);
    assert_eq!(app.get(CONNS, P1).await.ok(200)["ipsec_site_connections"].as_array().unwrap().len(), 1);
    app.get(&format!("{CONNS}/{used}"), P1).await.ok(200);
}

/// A process of the binary whose every log line is kept, read on a thread of its own.
struct Logged {
    child: std::process::Child,
    lines: std::sync::Arc<std::sync::Mutex<Vec<String>>>,
}

impl Logged {
    fn spawn(args: &[&str], envs: &[(&str, &str)]) -> Logged {
        use std::io::{BufRead, BufReader};
        let mut child = Command::new(env!("CARGO_BIN_EXE_vpnaas"))
            .args(args)
            .envs(envs.iter().copied())
            .env("VPNAAS_LOG", "info")
            .env("NO_COLOR", "1")
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("spawn vpnaas");
        let lines = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        for out in [
            Box::new(child.stdout.take().unwrap()) as Box<dyn std::io::Read + Send>,
            Box::new(child.stderr.take().unwrap()),
        ] {
            let lines = lines.clone();
            std::thread::spawn(move || {
                for line in BufReader::new(out).lines().map_while(Result::ok) {
                    lines.lock().unwrap().push(line);
                }
            });
        }
        Logged { child, lines }
    }

    /// The first log line containing `needle`, waiting up to 20 s for it.
    fn wait_for(&self, needle: &str) -> String {
        for _ in 0..200 {
            if let Some(line) = self.lines.lock().unwrap().iter().find(|l| l.contains(needle)) {
                return line.clone();
            }
            std::thread::sleep(std::time::Duration::from_millis(100));
        }
        panic!("no log line with {needle:?} in {:#?}", self.lines.lock().unwrap())
    }

    /// Sends SIGTERM; the exit status and how long the process took to exit (at most 20 s).
    fn terminate(&mut self) -> (std::process::ExitStatus, std::time::Duration) {
        let sent = std::time::Instant::now();
        let pid = self.child.id().to_string();
        assert!(Command::new("kill").args(["-TERM", &pid]).status().unwrap().success());
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return (status, sent.elapsed());
            }
            assert!(sent.elapsed() < std::time::Duration::from_secs(20), "still running 20 s after SIGTERM");
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
    }
}

impl Drop for Logged {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// SIGTERM, as systemd and every orchestrator stop a service: the server stops accepting,
/// tells a waiting gateway to come back, logs that it stops and exits 0 at once; the agent
/// logs likewise and exits 0, leaving its charons alone.
#[test]
fn sigterm_stops_the_server_and_the_agent_cleanly_and_they_say_so() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().display().to_string();
    let token = "sigterm-agent-token";
    let mut server = Logged::spawn(
        &["serve", "--listen", "127.0.0.1:0", "--data-dir", &data],
        &[("VPNAAS_AGENT_TOKEN", token), ("VPNAAS_DATABASE_URL", "")],
    );
    let listening = server.wait_for("listening on http://");
    let addr = listening.split("listening on http://").nth(1).and_then(|s| s.split_whitespace().next()).unwrap();
    let base = format!("http://{addr}");
    let mut agent = Logged::spawn(&["agent", "--host", "net-1", "--server", &base], &[("VPNAAS_AGENT_TOKEN", token)]);
    agent.wait_for("host agent starting");
    // Its first poll answered (no routers), it now waits on the second.
    std::thread::sleep(std::time::Duration::from_millis(1500));

    let (status, took) = server.terminate();
    assert!(status.success(), "the server exits 0 on SIGTERM: {status:?}");
    assert!(took < std::time::Duration::from_secs(5), "a waiting gateway does not hold the stop: {took:?}");
    let stopping = server.wait_for("stopping");
    assert!(stopping.contains("SIGTERM"), "{stopping}");
    server.wait_for("vpnaas stopped");

    let (status, took) = agent.terminate();
    assert!(status.success(), "the agent exits 0 on SIGTERM: {status:?}");
    assert!(took < std::time::Duration::from_secs(5), "{took:?}");
    let stopping = agent.wait_for("stopping");
    assert!(stopping.contains("SIGTERM") && stopping.contains("charons"), "{stopping}");
    agent.wait_for("host agent stopped");
}

/// `vpnaas backup` under sixteen writers, then `vpnaas restore` into a fresh data directory:
/// every create acknowledged before the backup began is in the copy, every sealed secret opens,
/// and a restore refuses a data directory that has a database or a key file that cannot open it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_backup_taken_under_sixteen_writers_restores_everything_acknowledged_before_it() {
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::{Arc, Mutex};
    let dir = tempfile::tempdir().unwrap();
    let (data, copy, fresh) = (dir.path().join("data"), dir.path().join("backup"), dir.path().join("restored"));
    let data_s = data.display().to_string();
    let server = Arc::new(spawn_process(&["--data-dir", &data_s], &[("VPNAAS_DATABASE_URL", "")]));
    let site = process_site(&server).await;
    let conn = server.call(reqwest::Method::POST, CONNS, P1, Some(site), None).await.id();

    let stop = Arc::new(AtomicBool::new(false));
    let acknowledged: Arc<Mutex<Vec<(String, std::time::Instant)>>> = Arc::default();
    let writers: Vec<_> = (0..16)
        .map(|w| {
            let (server, stop, acknowledged) = (server.clone(), stop.clone(), acknowledged.clone());
            tokio::spawn(async move {
                let mut i = 0;
                while !stop.load(Ordering::Relaxed) {
                    let name = format!("w{w}-{i}");
                    i += 1;
                    let body = json!({"ikepolicy": {"name": name}});
                    let r = server.call(reqwest::Method::POST, IKE, P1, Some(body), None).await;
                    assert_eq!(r.status, 201, "{}", r.body);
                    acknowledged.lock().unwrap().push((name, std::time::Instant::now()));
                }
            })
        })
        .collect();
    tokio::time::sleep(std::time::Duration::from_millis(1000)).await;

    let vpnaas = |args: Vec<String>| {
        tokio::task::spawn_blocking(move || {
            Command::new(env!("CARGO_BIN_EXE_vpnaas"))
                .args(&args)
                .env("VPNAAS_PSK_KEY_FILE", shared_key_file())
                .env("VPNAAS_DATABASE_URL", "")
                .env("VPNAAS_LOG", "warn")
                .output()
                .unwrap()
        })
    };
    let began = std::time::Instant::now();
    let out =
        vpnaas(vec!["backup".into(), "--data-dir".into(), data_s.clone(), "--to".into(), copy.display().to_string()])
            .await
            .unwrap();
    let said = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(out.status.success(), "{said}{}", String::from_utf8_lossy(&out.stderr));
    assert!(said.contains("1 sealed secrets"), "{said}");
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    stop.store(true, Ordering::Relaxed);
    for w in writers {
        w.await.unwrap();
    }
    let acknowledged = acknowledged.lock().unwrap().clone();
    let before: Vec<&String> = acknowledged.iter().filter(|(_, at)| *at < began).map(|(n, _)| n).collect();
    let after = acknowledged.len() - before.len();
    assert!(
        before.len() > 50 && after > 0,
        "the writers wrote before ({}) and during ({after}) the backup",
        before.len()
    );

    let restore = |into: &std::path::Path, key: Option<String>| {
        let args = vec![
            "restore".into(),
            "--data-dir".into(),
            into.display().to_string(),
            "--from".into(),
            copy.display().to_string(),
        ];
        tokio::task::spawn_blocking(move || {
            let mut cmd = Command::new(env!("CARGO_BIN_EXE_vpnaas"));
            cmd.args(&args).env("VPNAAS_DATABASE_URL", "").env("VPNAAS_LOG", "warn");
            cmd.env("VPNAAS_PSK_KEY_FILE", key.map_or_else(shared_key_file, std::path::PathBuf::from));
            cmd.output().unwrap()
        })
    };
    // Another key file, with a key of the same name: the secrets do not open, nothing is left.
    let other = dir.path().join("other.key");
    let out = Command::new(env!("CARGO_BIN_EXE_vpnaas"))
        .args(["rotate-key", "--data-dir", &dir.path().join("other").display().to_string()])
        .env("VPNAAS_PSK_KEY_FILE", &other)
        .env("VPNAAS_DATABASE_URL", "")
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let wrong = dir.path().join("wrong");
    let out = restore(&wrong, Some(other.display().to_string())).await.unwrap();
    let err = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(!out.status.success() && err.contains("does not open with key"), "{err}");

    let out = restore(&fresh, None).await.unwrap();
    let said = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(out.status.success(), "{said}{}", String::from_utf8_lossy(&out.stderr));
    assert!(said.contains("1 sealed secrets open"), "{said}");
    let out = restore(&fresh, None).await.unwrap();
    let err = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(!out.status.success() && err.contains("restore into a fresh data directory"), "{err}");

    drop(server);
    let restored = spawn_process(&["--data-dir", &fresh.display().to_string()], &[("VPNAAS_DATABASE_URL", "")]);
    let shown = restored.call(reqwest::Method::GET, &format!("{CONNS}/{conn}"), P1, None, None).await;
    assert_eq!(shown.ok(200)["ipsec_site_connection"]["psk"], "secret");
    let listed = restored.call(reqwest::Method::GET, &format!("{IKE}?fields=name"), P1, None, None).await;
    let names: std::collections::HashSet<&str> =
        listed.ok(200)["ikepolicies"].as_array().unwrap().iter().filter_map(|p| p["name"].as_str()).collect();
    let missing: Vec<&&String> = before.iter().filter(|n| !names.contains(n.as_str())).collect();
    assert!(missing.is_empty(), "acknowledged before the backup began, missing from it: {missing:?}");
    eprintln!(
        "{} creates acknowledged before the backup began, {after} during or after; the copy holds {}",
        before.len(),
        names.len()
    );
}

/// `vpnaas migrate --status` changes nothing and says where the schema is, what is pending
/// and which replicas serve; a serving replica is listed with its release and leaves the list
/// when it stops; `--migrate` runs beside a serving replica, and `--contract` with no contract
/// step pending applies what is left (ADR 0033, ADR 0035).
#[test]
fn migrate_status_lists_pending_steps_and_serving_replicas() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().display().to_string();
    let run = |args: &[&str]| {
        let out = Command::new(env!("CARGO_BIN_EXE_vpnaas"))
            .args(args)
            .args(["--data-dir", &data])
            .env("VPNAAS_DATABASE_URL", "")
            .env("VPNAAS_LOG", "warn")
            .output()
            .unwrap();
        let said = String::from_utf8_lossy(&out.stdout).into_owned();
        assert!(out.status.success(), "{args:?}: {said}{}", String::from_utf8_lossy(&out.stderr));
        said
    };
    let newest = vpnaas_server::store::schema_version();
    let fresh = run(&["migrate", "--status"]);
    assert!(fresh.contains("schema 0;") && fresh.contains(&format!("{newest} (expand)")), "{fresh}");
    assert!(fresh.contains("replicas serving: unknown"), "{fresh}");
    run(&["migrate", "--expand"]);
    let done = run(&["migrate", "--status"]);
    assert!(done.contains(&format!("schema {newest};")) && done.contains("pending: none"), "{done}");
    assert!(done.contains("replicas serving: 0"), "{done}");

    let mut server =
        Logged::spawn(&["serve", "--listen", "127.0.0.1:0", "--data-dir", &data], &[("VPNAAS_DATABASE_URL", "")]);
    server.wait_for("listening on http://");
    let serving = run(&["migrate", "--status"]);
    let release = format!("(release {}, schema {newest})", env!("CARGO_PKG_VERSION"));
    assert!(serving.contains("replicas serving: 1: ") && serving.contains(&release), "{serving}");
    run(&["migrate", "--migrate"]);
    run(&["migrate", "--contract"]);
    assert!(server.terminate().0.success());
    let stopped = run(&["migrate", "--status"]);
    assert!(stopped.contains("replicas serving: 0"), "{stopped}");
}

/// The example configuration the package installs as /etc/vpnaas/vpnaas.toml starts a working
/// server (its address and data directory overridden here by flags, as flags do).
#[tokio::test]
async fn the_example_configuration_starts_a_working_server() {
    let example = concat!(env!("CARGO_MANIFEST_DIR"), "/../../packaging/vpnaas.toml");
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().display().to_string();
    let server = spawn_process(&["--config", example, "--data-dir", &data], &[("VPNAAS_DATABASE_URL", "")]);
    server
        .call(reqwest::Method::POST, IKE, P1, Some(json!({"ikepolicy": {"name": "from-the-example"}})), None)
        .await
        .ok(201);
    assert!(
        server.log_line.contains("profile openstack") && server.log_line.contains("auth noauth"),
        "{}",
        server.log_line
    );
}
