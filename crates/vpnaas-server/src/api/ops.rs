//! `/healthz` and `/readyz` (ADR 0015), outside project authentication.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde_json::{json, Map, Value};

use super::AppState;

/// The probes' routes.
pub fn routes() -> Router<AppState> {
    Router::new().route("/healthz", get(healthz)).route("/readyz", get(readyz))
}

/// The process is up and answering: nothing else is asked.
async fn healthz() -> Json<Value> {
    Json(json!({"status": "ok"}))
}

/// 200 when every check passes, else 503 naming the ones that failed.
async fn readyz(State(st): State<AppState>) -> Response {
    let checks = st.ops.readiness().await;
    let failed: Vec<&str> = checks.iter().filter(|c| !c.ok).map(|c| c.name).collect();
    let details: Map<String, Value> =
        checks.iter().map(|c| (c.name.to_owned(), Value::from(c.detail.clone()))).collect();
    if failed.is_empty() {
        (StatusCode::OK, Json(json!({"status": "ready", "checks": details}))).into_response()
    } else {
        let body = json!({"status": "not ready", "failed": failed, "checks": details});
        (StatusCode::SERVICE_UNAVAILABLE, Json(body)).into_response()
    }
}
