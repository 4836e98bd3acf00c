//! `GET /v2.0/vpn/ipsec-site-connections/{id}/peer-config?format=...`: the remote site's configuration of a connection as text (ADR 0019).

use axum::extract::{Path, RawQuery, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use utoipa::openapi::path::OperationBuilder;
use utoipa::openapi::{ContentBuilder, ResponseBuilder};
use vpnaas_core::Fault;
use vpnaas_strongswan::peer::Format;

use super::documented::Documented;
use super::openapi::{operation, path_id, string, Describe, VPN};
use super::{query, AppState};
use crate::auth::Caller;
use crate::error::Result;

/// The route and its document.
pub fn routes() -> Documented {
    Documented::new().get("/v2.0/vpn/ipsec-site-connections/{id}/peer-config", describe, peer_config)
}

fn describe() -> OperationBuilder {
    let text = ResponseBuilder::new()
        .description("The remote gateway's configuration (the pre-shared key only for its owners and admins)")
        .content("text/plain; charset=utf-8", ContentBuilder::new().schema(Some(string())).build())
        .build();
    let formats = string().enum_values(Some(Format::ALL.iter().copied()));
    operation(
        VPN,
        "show_peer_config",
        "The remote site's configuration of a connection (swanctl.conf or libreswan ipsec.conf)",
    )
    .parameter(path_id())
    .parameter(super::openapi::query("format", formats, "The dialect [default: swanctl]"))
    .response("200", text)
    .errors(&[400, 401, 403, 404, 409, 503])
    .authenticated()
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
