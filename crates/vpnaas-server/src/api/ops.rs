//! `/healthz`, `/readyz` and `/metrics` (ADR 0015), outside project authentication, and the layer that counts every request by its route template.

use std::time::Instant;

use axum::extract::{MatchedPath, Request, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::{json, Map, Value};
use utoipa::openapi::schema::{ArrayBuilder, ObjectBuilder, Type};
use utoipa::openapi::security::SecurityRequirement;
use utoipa::openapi::{ContentBuilder, ResponseBuilder};

use super::documented::Documented;
use super::openapi::{json_response, object, operation, string, Describe, OPS};
use super::AppState;
use crate::error::{Error, Result};
use crate::metrics::{CONTENT_TYPE, UNMATCHED};

/// The three routes.
pub fn routes() -> Documented {
    Documented::new()
        .get(
            "/healthz",
            || {
                let ok = object().property("status", string().enum_values(Some(["ok"]))).required("status");
                operation(OPS, "healthz", "Liveness").response("200", json_response("Serving", ok))
            },
            healthz,
        )
        .get(
            "/readyz",
            || {
                let checks = object().additional_properties(Some(ObjectBuilder::new().schema_type(Type::String)));
                let ready = object()
                    .property("status", string().enum_values(Some(["ready", "not ready"])))
                    .property("failed", ArrayBuilder::new().items(string()))
                    .property("checks", checks)
                    .required("status")
                    .required("checks")
                    .build();
                operation(OPS, "readyz", "Readiness: database, migrations, Keystone")
                    .response("200", json_response("Ready", ready.clone()))
                    .response("503", json_response("Not ready, with the failed checks", ready))
            },
            readyz,
        )
        .get(
            "/metrics",
            || {
                let text = ResponseBuilder::new()
                    .description("Prometheus/OpenMetrics text")
                    .content(CONTENT_TYPE, ContentBuilder::new().schema(Some(string())).build())
                    .build();
                operation(OPS, "metrics", "Prometheus metrics")
                    .response("200", text)
                    .errors(&[401])
                    .security(SecurityRequirement::new("metrics", Vec::<String>::new()))
                    .security(SecurityRequirement::default())
            },
            metrics,
        )
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

/// What a scrape without the metrics token is told to send.
const METRICS_CHALLENGE: &str = "Bearer realm=\"vpnaas metrics\"";

/// The Prometheus exposition; with `metrics_token` set, only for `Authorization: Bearer <token>`.
async fn metrics(State(st): State<AppState>, headers: HeaderMap) -> Result<Response> {
    let authorization = headers.get(header::AUTHORIZATION).and_then(|v| v.to_str().ok());
    if !st.ops.may_scrape(authorization) {
        // The challenge names the scheme the metrics token is sent with, not Keystone's.
        return Err(Error::TokenRefused(METRICS_CHALLENGE.to_owned()));
    }
    let text = st.ops.scrape().await.map_err(|e| Error::Internal(e.to_string()))?;
    Ok(([(header::CONTENT_TYPE, CONTENT_TYPE)], text).into_response())
}

/// Counts the request under its route template (never its path, which holds ids).
pub async fn count(State(st): State<AppState>, req: Request, next: Next) -> Response {
    counted(&st, req, next).await
}

/// [`count`]'s work, for a layer that does more.
pub async fn counted(st: &AppState, req: Request, next: Next) -> Response {
    let started = Instant::now();
    let method = req.method().clone();
    let route = req.extensions().get::<MatchedPath>().cloned();
    let resp = next.run(req).await;
    let route = route.as_ref().map_or(UNMATCHED, MatchedPath::as_str);
    st.ops.metrics.observe(route, &method, resp.status().as_u16(), started.elapsed());
    resp
}
