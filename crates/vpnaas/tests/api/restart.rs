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
