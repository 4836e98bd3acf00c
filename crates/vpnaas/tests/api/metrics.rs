//! Operating the server (ADR 0015): `/healthz` and `/readyz`, outside project authentication.

use std::time::Duration;

use serde_json::json;
use vpnaas_server::config::{AuthStrategy, DatabaseUrl, KeystoneSettings, Secret};

use crate::support::*;

#[tokio::test]
async fn healthz_says_ok_to_anyone() {
    let app = spawn_app().await;
    let r = app.get("/healthz", NOBODY).await;
    assert_eq!(r.ok(200), &json!({"status": "ok"}));
}

#[tokio::test]
async fn readyz_is_ready_when_the_database_answers_and_its_schema_is_current() {
    let app = spawn_app().await;
    let r = app.get("/readyz", NOBODY).await;
    assert_eq!(r.ok(200), &json!({"status": "ready", "checks": {"database": "ok", "migrations": "ok"}}));
}

#[tokio::test]
async fn readyz_names_the_database_when_it_is_gone_while_healthz_stays_up() {
    let Some(admin) = require_postgres("readyz_names_the_database_when_it_is_gone_while_healthz_stays_up") else {
        return;
    };
    let url = fresh_postgres().await.unwrap();
    let app = spawn_app_with(|c| {
        c.database_url = Some(DatabaseUrl(url.clone()));
        c.psk_key_file = Some(shared_key_file());
        c.database_timeout_secs = 1;
    })
    .await;
    app.get("/readyz", NOBODY).await.ok(200);
    // The database goes away under the running server.
    use sqlx::Connection;
    let mut conn = sqlx::AnyConnection::connect(&admin).await.unwrap();
    let name = url.rsplit('/').next().unwrap();
    sqlx::query(&format!("DROP DATABASE {name} WITH (FORCE)")).execute(&mut conn).await.unwrap();
    let started = std::time::Instant::now();
    let r = app.get("/readyz", NOBODY).await;
    assert_eq!(r.status, 503, "{:#}", r.body);
    assert_eq!(r.body["status"], "not ready");
    assert_eq!(r.body["failed"][0], "database", "{:#}", r.body);
    assert_eq!(r.body["checks"]["database"], "the database cannot be reached");
    assert!(!r.body.to_string().contains(name), "no internals: {}", r.body);
    assert!(started.elapsed() < Duration::from_secs(10), "{:?}", started.elapsed());
    assert_eq!(app.get("/healthz", NOBODY).await.ok(200), &json!({"status": "ok"}));
}

#[tokio::test]
async fn readyz_names_keystone_when_it_cannot_be_reached() {
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", closed.local_addr().unwrap());
    drop(closed);
    let app = spawn_app_with(|c| {
        c.auth_strategy = AuthStrategy::Keystone;
        c.keystone = KeystoneSettings {
            url: Some(url.clone()),
            username: "vpnaas".into(),
            password: Secret("whatever".into()),
            timeout_secs: 1,
            ..KeystoneSettings::default()
        };
    })
    .await;
    let r = app.get("/readyz", NOBODY).await;
    assert_eq!(r.status, 503, "{:#}", r.body);
    assert_eq!(r.body["failed"], json!(["keystone"]), "{:#}", r.body);
    assert_eq!(r.body["checks"]["database"], "ok");
    assert!(!r.body.to_string().contains(&url), "{}", r.body);
    assert_eq!(app.get("/healthz", NOBODY).await.ok(200), &json!({"status": "ok"}));
}
