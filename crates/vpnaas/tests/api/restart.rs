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
    use vpnaas_server::store::{self, ListQuery};
    let mut tx = store.begin_read().await.unwrap();
    let conns = store::list(&mut tx, &ListQuery::default()).await.unwrap();
    let agents = store::gateway::agents(&mut tx).await.unwrap();
    tx.commit().await.unwrap();
    (conns, agents.iter().map(|a| format!("{a:?}")).collect())
}

#[tokio::test]
async fn migrate_from_sqlite_copies_everything_into_an_empty_postgresql() {
    use crate::gateway::{agent, report, role, state, TOKEN};
    use vpnaas_server::store::{PoolSettings, Store};
    let Some(_) = require_postgres("migrate_from_sqlite_copies_everything_into_an_empty_postgresql") else { return };
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
            .map(|c| match &c.spec.psk {
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
    let url = fresh_postgres().await.unwrap();
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
    let target = Store::open_postgres(&url, PoolSettings::default()).await.unwrap();
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
