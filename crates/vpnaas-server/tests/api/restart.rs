//! Durability and the binary: data survives a restart, and `vpnaas serve` / `vpnaas migrate` work as the README says.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};

use serde_json::json;

use crate::support::*;

#[tokio::test]
async fn everything_created_survives_a_restart() {
    let app = spawn_app().await;
    let site = Site::new(&app, P1).await;
    let conn = app.create(CONNS, P1, site.connection()).await;
    let before: Vec<serde_json::Value> = futures_all(&app).await;
    let (dir, tmp) = app.stop().await;
    let app = spawn_in(&dir).await;
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
    let status = Command::new(bin).args(["migrate", "--data-dir"]).arg(tmp.path()).status().unwrap();
    assert!(status.success());
    assert!(tmp.path().join("vpnaas.db").exists());

    let mut child = Command::new(bin)
        .args(["serve", "--listen", "127.0.0.1:0", "--data-dir"])
        .arg(tmp.path())
        .env("VPNAAS_LOG", "info")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let mut line = String::new();
    BufReader::new(stdout).read_line(&mut line).unwrap();
    let addr = line
        .split("listening on http://")
        .nth(1)
        .and_then(|s| s.split_whitespace().next())
        .unwrap_or_default()
        .to_owned();
    assert!(line.contains(&tmp.path().display().to_string()), "the log line names the data directory: {line}");
    let client = reqwest::Client::new();
    let body: serde_json::Value = client
        .get(format!("http://{addr}/v2.0/vpn/ikepolicies"))
        .header("X-Project-Id", "p1")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    child.kill().unwrap();
    child.wait().unwrap();
    assert_eq!(body, json!({"ikepolicies": []}));

    let bad = Command::new(bin).args(["serve", "--bogus"]).output().unwrap();
    assert_eq!(bad.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&bad.stderr).contains("usage: vpnaas"));
}
