//! The HTTP ceiling: the same stack as vpnaas (axum 0.8 on tokio's multi-threaded runtime) answering every request with a fixed in-memory body, run as a separate process like the server it bounds.
//!
//! Before each measurement the bench sets the status and body size to those of the
//! operation it just measured on the real server (`PUT /__ceiling`), then replays the same
//! requests. What is left is the cost of HTTP, routing and moving the bytes: the most any
//! server on this stack could do on this machine under that load.

use anyhow::anyhow;
use std::io::Read;
use std::sync::{Arc, RwLock};

use axum::body::{to_bytes, Bytes};
use axum::extract::{Request, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::put;
use axum::{Json, Router};
use reqwest::Method;
use serde_json::json;

use crate::client::{Api, As};

/// The same request-body limit as vpnaas, so a large body would be refused the same way.
const MAX_BODY: usize = 114_688;

#[derive(Clone)]
struct Canned(Arc<RwLock<(StatusCode, Bytes)>>);

#[derive(serde::Deserialize)]
struct Setting {
    status: u16,
    size: usize,
}

/// A JSON body of exactly `size` bytes (at least the 2 of `{}`), so clients that look at
/// the content type see what they expect.
fn filler(size: usize) -> Bytes {
    if size < 12 {
        return Bytes::from(vec![b' '; size]);
    }
    let mut body = Vec::with_capacity(size);
    body.extend_from_slice(b"{\"x\": \"");
    body.resize(size - 2, b'a');
    body.extend_from_slice(b"\"}");
    Bytes::from(body)
}

async fn set(State(canned): State<Canned>, Json(s): Json<Setting>) -> StatusCode {
    let Ok(status) = StatusCode::from_u16(s.status) else { return StatusCode::BAD_REQUEST };
    let body = if status == StatusCode::NO_CONTENT { Bytes::new() } else { filler(s.size) };
    match canned.0.write() {
        Ok(mut c) => {
            *c = (status, body);
            StatusCode::NO_CONTENT
        }
        Err(_) => StatusCode::INTERNAL_SERVER_ERROR,
    }
}

/// Every other request: read the body as vpnaas would, then answer the canned response.
async fn answer(State(canned): State<Canned>, req: Request) -> Response {
    if to_bytes(req.into_body(), MAX_BODY).await.is_err() {
        return StatusCode::PAYLOAD_TOO_LARGE.into_response();
    }
    let (status, body) = match canned.0.read() {
        Ok(c) => c.clone(),
        Err(_) => return StatusCode::INTERNAL_SERVER_ERROR.into_response(),
    };
    if body.is_empty() {
        return status.into_response();
    }
    (status, [(header::CONTENT_TYPE, "application/json")], body).into_response()
}

/// The `ceiling-server` subcommand: serves on 127.0.0.1:0 until stdin closes (the bench
/// that started it is gone) or it is killed.
pub fn serve() -> anyhow::Result<()> {
    std::thread::spawn(|| {
        let mut sink = Vec::new();
        let _ = std::io::stdin().read_to_end(&mut sink);
        std::process::exit(0);
    });
    // The same runtime vpnaas builds: multi-threaded, one worker per core.
    let runtime = tokio::runtime::Runtime::new().map_err(|e| anyhow!("cannot start the runtime: {e}"))?;
    runtime.block_on(async {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let canned = Canned(Arc::new(RwLock::new((StatusCode::OK, filler(2)))));
        let app = Router::new().route("/__ceiling", put(set)).fallback(answer).with_state(canned);
        println!("ceiling listening on http://{addr}");
        axum::serve(listener, app).await?;
        Ok(())
    })
}

/// Tells the ceiling server what to answer next.
pub async fn configure(api: &Api, status: StatusCode, size: u64) -> anyhow::Result<()> {
    api.setup(Method::PUT, "/__ceiling", Some(json!({"status": status.as_u16(), "size": size})), As::Bench, 204)
        .await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filler_has_the_exact_size_and_is_json() {
        for size in [0, 1, 11, 12, 13, 800, 790_000] {
            let b = filler(size);
            assert_eq!(b.len(), size);
            if size >= 12 {
                assert!(serde_json::from_slice::<serde_json::Value>(&b).is_ok());
            }
        }
    }
}
