//! `GET /v2.0/vpn/ipsec-site-connections/{id}/peer-config?format=...`: the remote site's configuration of a connection as text (ADR 0019).

use axum::extract::{Path, RawQuery, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use vpnaas_core::Fault;
use vpnaas_strongswan::peer::Format;

use super::{query, AppState};
use crate::auth::Caller;
use crate::error::Result;

/// The route.
pub fn routes() -> Router<AppState> {
    Router::new().route("/v2.0/vpn/ipsec-site-connections/{id}/peer-config", get(peer_config))
}

/// `format` (default `swanctl`), given at most once, one of [`Format::ALL`].
fn format(raw: Option<&str>) -> Result<Format, Fault> {
    let given: Vec<String> = query::pairs(raw).into_iter().filter(|(k, _)| k == "format").map(|(_, v)| v).collect();
    let accepted = || Format::ALL.iter().map(|v| format!("'{v}'")).collect::<Vec<_>>().join(", ");
    match given.as_slice() {
        [] => Ok(Format::Swanctl),
        [one] => {
            Format::parse(one).ok_or_else(|| Fault::invalid("format", format!("'{one}' is not in [{}]", accepted())))
        }
        _ => Err(Fault::invalid("format", format!("give one format, one of [{}]", accepted()))),
    }
}

async fn peer_config(
    State(st): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    RawQuery(raw): RawQuery,
) -> Result<Response> {
    let format = format(raw.as_deref())?;
    let text = st.service.peer_config(&caller, &id, format).await?;
    // It may hold a pre-shared key: no cache keeps it.
    let headers = [(header::CONTENT_TYPE, "text/plain; charset=utf-8"), (header::CACHE_CONTROL, "no-store")];
    Ok((StatusCode::OK, headers, text).into_response())
}
