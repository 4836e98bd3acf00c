//! Tunnel detail (ADR 0018): the read-only `tunnel` attribute of a site connection, `GET .../ipsec-site-connections/{id}/events`, and the admins' `GET /v2.0/vpn/gateway-agents`.

use axum::extract::{Path, State};
use axum::Json;
use serde::Serialize;
use serde_json::{json, Value};
use utoipa::openapi::schema::{ArrayBuilder, ObjectBuilder, SchemaType, Type};
use vpnaas_core::algorithms::Status;
use vpnaas_core::profile::Profile;
use vpnaas_core::resources::SiteConnection;
use vpnaas_core::tunnel::DownReason;

use super::documented::Documented;
use super::openapi::{closed, json_response, object, operation, path_id, string, Describe, SHOW_ERRORS, VPN};
use super::{wire_time, AppState};
use crate::auth::Caller;
use crate::error::Result;

/// The `tunnel` attribute: what the gateway last said about the connection's tunnel.
#[derive(Serialize)]
pub struct Tunnel {
    /// When the gateway last reported on this connection; null before it ever did.
    reported_at: Option<String>,
    /// Since when the connection has had its `status`.
    status_since: String,
    /// Why it is DOWN or ERROR (null otherwise), and the sentence for people.
    reason: Option<&'static str>,
    reason_description: Option<&'static str>,
    /// The installed CHILD_SAs' traffic at the last report (charon's counters: a rekeyed
    /// CHILD_SA starts again from zero).
    bytes_in: u64,
    bytes_out: u64,
    packets_in: u64,
    packets_out: u64,
}

impl Tunnel {
    pub fn of(c: &SiteConnection, profile: &Profile) -> Tunnel {
        let r = &c.spec.runtime;
        let reason = match c.spec.status {
            // ADR 0003: ERROR is a configuration charon cannot run; an older agent says no more.
            Status::Error => Some(r.down_reason.unwrap_or(DownReason::ConfigRefused)),
            Status::Down => r.down_reason,
            _ => None,
        };
        let since = if r.status_since == 0 { c.meta.updated_at } else { r.status_since };
        Tunnel {
            reported_at: (r.reported_at != 0).then(|| wire_time(profile, r.reported_at)),
            status_since: wire_time(profile, since),
            reason: reason.map(DownReason::as_str),
            reason_description: reason.map(DownReason::sentence),
            bytes_in: r.counters.bytes_in,
            bytes_out: r.counters.bytes_out,
            packets_in: r.counters.packets_in,
            packets_out: r.counters.packets_out,
        }
    }
}

/// The two routes and their documents.
pub fn routes() -> Documented {
    Documented::new()
        .get(
            "/v2.0/vpn/ipsec-site-connections/{id}/events",
            || {
                let event = object()
                    .property("time", string())
                    .property("kind", string())
                    .property("reason", nullable())
                    .property("message", string())
                    .required("time")
                    .required("kind")
                    .required("reason")
                    .required("message")
                    .additional_properties(closed());
                let body = object()
                    .property("ipsec_site_connection_id", string())
                    .property("events", ArrayBuilder::new().items(event))
                    .required("ipsec_site_connection_id")
                    .required("events");
                operation(VPN, "list_connection_events", "A connection's last negotiation events, oldest first")
                    .parameter(path_id())
                    .response("200", json_response("The events", body))
                    .errors(SHOW_ERRORS)
                    .authenticated()
            },
            events,
        )
        .get(
            "/v2.0/vpn/gateway-agents",
            || {
                let agent = object()
                    .property("kind", string().enum_values(Some(["router", "host"])))
                    .property("name", string())
                    .property("host", nullable())
                    .property("version", nullable())
                    .property("last_seen", string())
                    .property("alive", ObjectBuilder::new().schema_type(Type::Boolean))
                    .additional_properties(closed());
                let body =
                    object().property("gateway_agents", ArrayBuilder::new().items(agent)).required("gateway_agents");
                operation(VPN, "list_gateway_agents", "Every gateway agent's last heartbeat (admins)")
                    .response("200", json_response("The agents", body))
                    .errors(&[401, 403, 503])
                    .authenticated()
            },
            gateway_agents,
        )
}

fn nullable() -> ObjectBuilder {
    ObjectBuilder::new().schema_type(SchemaType::from_iter([Type::String, Type::Null]))
}

/// `{"events": [...]}`, oldest first: the connection's last negotiation events, for whoever
/// may show the connection (another project's is a 404).
async fn events(State(st): State<AppState>, caller: Caller, Path(id): Path<String>) -> Result<Json<Value>> {
    let (connection, events) = st.service.connection_events(&caller, &id).await?;
    let profile = st.service.profile();
    let events: Vec<Value> = events
        .iter()
        .map(|e| {
            json!({
                "time": wire_time(profile, e.at),
                "kind": e.kind.as_str(),
                "reason": e.reason.map(DownReason::as_str),
                "message": e.message,
            })
        })
        .collect();
    Ok(Json(json!({"ipsec_site_connection_id": connection.meta.id.to_string(), "events": events})))
}

/// `{"gateway_agents": [...]}`: every agent's last heartbeat and whether it is alive (admins).
async fn gateway_agents(State(st): State<AppState>, caller: Caller) -> Result<Json<Value>> {
    let dead_after = i64::try_from(st.config.agent_dead_after_secs.saturating_mul(1_000_000)).unwrap_or(i64::MAX);
    let agents = st.service.gateway_agents(&caller, dead_after).await?;
    let profile = st.service.profile();
    let agents: Vec<Value> = agents
        .iter()
        .map(|a| {
            json!({
                "kind": a.kind,
                "name": a.name,
                "host": a.host,
                "version": a.version,
                "last_seen": wire_time(profile, a.last_seen),
                "alive": a.alive,
            })
        })
        .collect();
    Ok(Json(json!({"gateway_agents": agents})))
}
