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
    assert!(String::from_utf8_lossy(&bad.stderr).contains("usage: vpnaas"));
}

#[tokio::test]
async fn migrate_from_sqlite_copies_everything_into_an_empty_postgresql() {
    let Some(_) = require_postgres("migrate_from_sqlite_copies_everything_into_an_empty_postgresql") else { return };
    let app = spawn_app_with(|c| c.database_url = None).await;
    let site = Site::new(&app, P1).await;
    app.create(CONNS, P1, site.connection()).await;
    let before = futures_all(&app).await;
    let (config, tmp) = app.stop().await;
    let sqlite = config.data_dir.join("vpnaas.db");
    let url = fresh_postgres().await.unwrap();
    let run = || {
        Command::new(env!("CARGO_BIN_EXE_vpnaas"))
            .args(["migrate", "--from-sqlite"])
            .arg(&sqlite)
            .env("VPNAAS_DATABASE_URL", &url)
            .output()
            .unwrap()
    };
    let out = run();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let again = run();
    assert!(!again.status.success(), "a second copy into a non-empty database is refused");
    assert!(String::from_utf8_lossy(&again.stderr).contains("empty"));
    let pg = spawn_app_with(|c| c.database_url = Some(vpnaas_server::config::DatabaseUrl(url.clone()))).await;
    assert_eq!(futures_all(&pg).await, before);
    drop(tmp);
}
