//! `/v2.0/routers` and `/v2.0/subnets`: the Neutron-shaped inventory subset of ADR 0001 D5.

use std::net::IpAddr;

use axum::extract::{Path, RawQuery, State};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::{json, Value};
use utoipa::openapi::path::OperationBuilder;
use utoipa::openapi::schema::{ArrayBuilder, ObjectBuilder, Schema, SchemaType, Type};
use uuid::Uuid;
use vpnaas_core::resources::{Draft, Gateway, Router, RouterPatch, RouterSpec, Subnet, SubnetSpec};
use vpnaas_core::values::{Cidr, IpVersion};
use vpnaas_core::Fault;

use super::documented::Documented;
use super::openapi::{
    self, closed, json_body, json_response, object, operation, path_id, repeated, string, Describe, INVENTORY,
    LIST_ERRORS, UPDATE_ERRORS,
};
use super::schemas;

use super::body::{show as shown, Attributes};
use super::view::View;
use super::{common, AppState, Body, Collection, RawBody};
use crate::auth::Caller;
use crate::error::Result;
use crate::service::{
    gateway_network, gateway_subnet, interface_port, retrying, subnet_network, RouterInterface, Service,
};
use vpnaas_core::profile::Profile;
use vpnaas_core::wire::{self, Attribute, Shown, EXTERNAL_GATEWAY_INFO as GW, HOST, ROUTES};

impl Collection for Router {
    const SINGULAR: &'static str = "router";
    const PLURAL: &'static str = "routers";
    const PATH: &'static str = "/v2.0/routers";
    const ATTRS: &'static [Attribute] = wire::ROUTER;

    fn view(&self, profile: &Profile, v: &mut View<'_>) {
        common(&self.meta, profile, v);
        // The external network and its subnets are derived when not named (ADR 0021).
        let gateway = self.spec.gateway.as_ref().map_or(Value::Null, |g| {
            let network = gateway_network(self, g);
            // The subnet the caller named is echoed, as Neutron does; else the derived one.
            let ips: Vec<Value> =
                g.v4.map(|a| (IpAddr::V4(a), g.v4_subnet))
                    .into_iter()
                    .chain(g.v6.map(|a| (IpAddr::V6(a), g.v6_subnet)))
                    .map(|(ip, named)| {
                        let subnet = named.unwrap_or_else(|| gateway_subnet(network, IpVersion::of(&ip)));
                        json!({wire::SUBNET_ID: subnet.to_string(), "ip_address": ip.to_string()})
                    })
                    .collect();
            json!({wire::NETWORK_ID: network.to_string(), "enable_snat": true, "external_fixed_ips": ips})
        });
        v.field(wire::ADMIN_STATE_UP, &self.spec.admin_state_up)
            .field(wire::STATUS, "ACTIVE")
            .field(GW, &gateway)
            .field(wire::ROUTES, &json!([]));
    }

    /// Where the router's gateway runs is the operator's business (like a port's binding).
    fn admin_view(&self, _profile: &Profile, v: &mut View<'_>) {
        v.field(HOST, &self.spec.host);
    }

    async fn create(svc: &Service, caller: &Caller, mut f: Attributes) -> Result<Self> {
        let owner = f.owner()?;
        let text = f.text_patch()?;
        let admin_state_up = f.boolean(wire::ADMIN_STATE_UP)?.unwrap_or(true);
        let gateway = f.raw(GW).map(|v| gateway(&v)).transpose()?.flatten();
        let host = f.raw(HOST).map(|v| host(&v)).transpose()?.flatten();
        svc.create_router(caller, Draft::new(owner, text, RouterSpec { admin_state_up, gateway, host })).await
    }

    async fn update(svc: &Service, caller: &Caller, id: &str, mut f: Attributes) -> Result<Self> {
        if let Some(v) = f.raw(ROUTES) {
            no_routes(&v)?;
        }
        let patch = RouterPatch {
            text: f.text_patch()?,
            admin_state_up: f.boolean(wire::ADMIN_STATE_UP)?,
            gateway: f.raw(GW).map(|v| gateway(&v)).transpose()?,
            host: f.raw(HOST).map(|v| host(&v)).transpose()?,
        };
        svc.update_router(caller, id, patch).await
    }

    async fn delete(svc: &Service, caller: &Caller, id: &str) -> Result<()> {
        svc.delete_router(caller, id).await
    }
}

impl Collection for Subnet {
    const SINGULAR: &'static str = "subnet";
    const PLURAL: &'static str = "subnets";
    const PATH: &'static str = "/v2.0/subnets";
    const ATTRS: &'static [Attribute] = wire::SUBNET;
    const SHOWN: &'static [(&'static str, Shown)] = wire::SUBNET_SHOWN;

    fn view(&self, profile: &Profile, v: &mut View<'_>) {
        common(&self.meta, profile, v);
        v.text(wire::CIDR, self.spec.cidr)
            .field(wire::IP_VERSION, &self.spec.cidr.version().number())
            .text(wire::NETWORK_ID, subnet_network(self))
            // Neutron's defaults for what this inventory does not model.
            .text(wire::GATEWAY_IP, self.spec.cidr.first_host())
            .field(wire::ENABLE_DHCP, &false)
            .field(wire::ALLOCATION_POOLS, &json!([]))
            .field(wire::DNS_NAMESERVERS, &json!([]))
            .field(wire::HOST_ROUTES, &json!([]));
    }

    async fn create(svc: &Service, caller: &Caller, mut f: Attributes) -> Result<Self> {
        let owner = f.owner()?;
        let text = f.text_patch()?;
        let raw = f.string(wire::CIDR, 64)?.ok_or(Fault::RequiredMissing(wire::CIDR))?;
        let cidr =
            Cidr::parse(&raw).map_err(|_| Fault::invalid(wire::CIDR, format!("'{raw}' is not a valid IP subnet")))?;
        if let Some(v) = f.int(wire::IP_VERSION)? {
            if IpVersion::from_number(v) != Some(cidr.version()) {
                return Err(Fault::invalid(
                    wire::IP_VERSION,
                    format!("'{v}' does not match the IP version of cidr {raw}"),
                )
                .into());
            }
        }
        let network_id = f.uuid_or_none(wire::NETWORK_ID)?.flatten();
        let spec = SubnetSpec { cidr, network_id, router_id: None };
        svc.create_subnet(caller, Draft::new(owner, text, spec)).await
    }

    async fn update(svc: &Service, caller: &Caller, id: &str, mut f: Attributes) -> Result<Self> {
        svc.update_subnet(caller, id, f.text_patch()?).await
    }

    async fn delete(svc: &Service, caller: &Caller, id: &str) -> Result<()> {
        svc.delete_subnet(caller, id).await
    }
}

/// `routes`: a router's routes are always empty here, so null and `[]` (what cleanups send to
/// clear them) are accepted as no change and any route is refused (ADR 0021).
fn no_routes(v: &Value) -> Result<(), Fault> {
    match v {
        Value::Null => Ok(()),
        Value::Array(a) if a.is_empty() => Ok(()),
        Value::Array(_) => Err(Fault::invalid(
            ROUTES,
            "static routes are not supported by this inventory; only [] or null (no routes) is accepted",
        )),
        other => Err(Fault::invalid(ROUTES, format!("'{}' is not a list", shown(other)))),
    }
}

/// `binding:host_id`: null (unplaced) or a host name of 1 to 255 printable characters.
fn host(v: &Value) -> Result<Option<String>, Fault> {
    match v {
        Value::Null => Ok(None),
        Value::String(s) if !s.is_empty() && s.len() <= 255 && !s.chars().any(char::is_control) => Ok(Some(s.clone())),
        Value::String(s) => Err(Fault::invalid(HOST, format!("'{s}' is not a host name of 1 to 255 characters"))),
        other => Err(Fault::invalid(HOST, format!("'{other}' is not a string or null"))),
    }
}

/// `external_gateway_info`: null, or a network and at most one fixed IP per version.
fn gateway(v: &Value) -> Result<Option<Gateway>, Fault> {
    let m = match v {
        Value::Null => return Ok(None),
        Value::Object(m) if m.is_empty() => return Ok(None),
        Value::Object(m) => m,
        other => return Err(Fault::invalid(GW, format!("'{}' is not a dictionary", shown(other)))),
    };
    let network_id = match m.get(wire::NETWORK_ID) {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) => {
            Some(Uuid::parse_str(s).map_err(|_| Fault::invalid(GW, format!("'{s}' is not a valid UUID")))?)
        }
        Some(other) => return Err(Fault::invalid(GW, format!("'{}' is not a valid UUID", shown(other)))),
    };
    let mut g = Gateway { network_id, ..Gateway::default() };
    let ips = match m.get("external_fixed_ips") {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Array(a)) => a.clone(),
        Some(other) => return Err(Fault::invalid(GW, format!("'{}' is not a list", shown(other)))),
    };
    for entry in &ips {
        let ip = entry
            .get("ip_address")
            .and_then(Value::as_str)
            .and_then(|s| s.parse::<IpAddr>().ok())
            .ok_or_else(|| Fault::invalid(GW, format!("'{}' has no valid ip_address", shown(entry))))?;
        let subnet = match entry.get(wire::SUBNET_ID) {
            None | Some(Value::Null) => None,
            Some(Value::String(s)) => Some(
                Uuid::parse_str(s).map_err(|_| Fault::invalid(GW, format!("subnet_id '{s}' is not a valid UUID")))?,
            ),
            Some(other) => return Err(Fault::invalid(GW, format!("subnet_id '{}' is not a valid UUID", shown(other)))),
        };
        let taken = match ip {
            IpAddr::V4(a) => {
                g.v4_subnet = subnet;
                g.v4.replace(a).is_some()
            }
            IpAddr::V6(a) => {
                g.v6_subnet = subnet;
                g.v6.replace(a).is_some()
            }
        };
        if taken {
            return Err(Fault::invalid(GW, "at most one external fixed IP per IP version".to_owned()));
        }
    }
    Ok(Some(g))
}

/// The body of `add_router_interface` / `remove_router_interface`: `{wire::SUBNET_ID: ...}`, no envelope.
fn interface_subnet(bytes: &[u8]) -> Result<Uuid, Fault> {
    let v: Value = serde_json::from_slice(bytes).map_err(|e| Fault::MalformedBody(e.to_string()))?;
    let Value::Object(m) = v else {
        return Err(Fault::BodyInvalid);
    };
    if m.contains_key("port_id") {
        return Err(Fault::invalid("port_id", "ports are not modelled here; attach a subnet by subnet_id"));
    }
    match m.get(wire::SUBNET_ID) {
        None => Err(Fault::RequiredMissing(wire::SUBNET_ID)),
        Some(Value::String(s)) => {
            Uuid::parse_str(s).map_err(|_| Fault::invalid(wire::SUBNET_ID, format!("'{s}' is not a valid UUID")))
        }
        Some(other) => Err(Fault::invalid(wire::SUBNET_ID, format!("'{}' is not a valid UUID", shown(other)))),
    }
}

/// Neutron's answer to both actions: the router, its project, and the interface port with
/// its network and subnet (the port is the one `GET /v2.0/ports` shows).
fn interface_view(i: &RouterInterface) -> Response {
    let project = &i.router.meta.project_id;
    let subnet = i.subnet.meta.id.to_string();
    Json(json!({
        wire::ID: i.router.meta.id.to_string(),
        wire::TENANT_ID: project,
        wire::PROJECT_ID: project,
        "port_id": interface_port(i.subnet.meta.id).to_string(),
        wire::NETWORK_ID: subnet_network(&i.subnet).to_string(),
        wire::SUBNET_ID: subnet,
        "subnet_ids": [subnet],
    }))
    .into_response()
}

async fn add_interface(
    State(st): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    Body(b): RawBody,
) -> Result<Response> {
    let subnet = interface_subnet(&b)?;
    let (svc, who, id) = (&st.service, &caller, id.as_str());
    Ok(interface_view(&retrying(move || svc.add_router_interface(who, id, subnet)).await?))
}

async fn remove_interface(
    State(st): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    Body(b): RawBody,
) -> Result<Response> {
    let subnet = interface_subnet(&b)?;
    let (svc, who, id) = (&st.service, &caller, id.as_str());
    Ok(interface_view(&retrying(move || svc.remove_router_interface(who, id, subnet)).await?))
}

/// A router interface as a Neutron port: what `openstack router show` reads
/// (`GET /v2.0/ports?device_id=ROUTER`). Its id is derived from the subnet's, so it is stable.
fn port_view(subnet: &Subnet) -> Value {
    let router = subnet.spec.router_id.map(|r| r.to_string());
    let id = interface_port(subnet.meta.id);
    json!({
        wire::ID: id.to_string(), wire::NAME: "", wire::STATUS: "ACTIVE", wire::ADMIN_STATE_UP: true,
        wire::NETWORK_ID: subnet_network(subnet).to_string(),
        wire::TENANT_ID: subnet.meta.project_id, wire::PROJECT_ID: subnet.meta.project_id,
        "device_id": router, "device_owner": "network:router_interface",
        "fixed_ips": [{wire::SUBNET_ID: subnet.meta.id.to_string(), "ip_address": subnet.spec.cidr.first_host().to_string()}],
    })
}

/// `GET /v2.0/ports`: router interfaces only, filtered by the keys clients send.
async fn ports(State(st): State<AppState>, caller: Caller, RawQuery(raw): RawQuery) -> Result<Response> {
    let pairs = super::query::pairs(raw.as_deref());
    let mut router = None;
    let mut checks: Vec<(String, String)> = Vec::new();
    for (key, value) in &pairs {
        match key.as_str() {
            "fields" => {}
            "device_id" => router = Some(value.clone()),
            wire::ID | "device_owner" | wire::NETWORK_ID | wire::PROJECT_ID | wire::TENANT_ID => {
                checks.push((key.clone(), value.clone()))
            }
            other => return Err(Fault::BadQuery(format!("[{other}] is invalid attribute for filtering")).into()),
        }
    }
    let fields = super::query::Selection::from_pairs(&pairs);
    let views: Vec<Value> = st
        .service
        .router_interfaces(&caller, router.as_deref())
        .await?
        .iter()
        .map(port_view)
        .filter(|p| checks.iter().all(|(k, v)| p[k].as_str() == Some(v.as_str())))
        .filter_map(|p| p.as_object().cloned())
        .map(|p| Value::Object(fields.project(p)))
        .collect();
    Ok(Json(json!({ "ports": views })).into_response())
}

/// The two router actions of the Neutron L3 API and the read-only ports view; the
/// collections themselves are generic.
/// Router interfaces and their ports, with their documents.
pub fn interface_routes() -> Documented {
    Documented::new()
        .get(
            "/v2.0/ports",
            || {
                let mut listed = operation(INVENTORY, "list_ports", "Router interfaces as Neutron ports")
                    .parameter(repeated("fields", string(), "Only these attributes in the answer"));
                for name in ["device_id", wire::ID, "device_owner", wire::NETWORK_ID, wire::PROJECT_ID, wire::TENANT_ID]
                {
                    listed = listed.parameter(openapi::query(name, string(), "Only ports with this value"));
                }
                let answer = object().property("ports", ArrayBuilder::new().items(port())).required("ports");
                listed.response("200", json_response("Ports", answer)).errors(LIST_ERRORS).authenticated()
            },
            ports,
        )
        .put(
            "/v2.0/routers/{id}/add_router_interface",
            || interface_doc("add_router_interface", "Attach a subnet to a router"),
            add_interface,
        )
        .put(
            "/v2.0/routers/{id}/remove_router_interface",
            || interface_doc("remove_router_interface", "Detach a subnet from a router"),
            remove_interface,
        )
}

fn interface_doc(id: &str, summary: &str) -> OperationBuilder {
    operation(INVENTORY, id, summary)
        .parameter(path_id())
        .request_body(Some(json_body(router_interface_body())))
        .response("200", json_response("The interface", router_interface()))
        .errors(UPDATE_ERRORS)
        .authenticated()
}

fn router_interface_body() -> Schema {
    object().property(wire::SUBNET_ID, schemas::uuid()).required(wire::SUBNET_ID).into()
}

fn router_interface() -> Schema {
    object()
        .property(wire::ID, string())
        .property(wire::TENANT_ID, string())
        .property(wire::PROJECT_ID, string())
        .property(wire::SUBNET_ID, string())
        .property("subnet_ids", ArrayBuilder::new().items(string()))
        .property("port_id", string())
        .property(wire::NETWORK_ID, string())
        .required(wire::ID)
        .required(wire::SUBNET_ID)
        .into()
}

fn port() -> ObjectBuilder {
    let nullable = || ObjectBuilder::new().schema_type(SchemaType::from_iter([Type::String, Type::Null]));
    let fixed_ip = object().property(wire::SUBNET_ID, string()).property("ip_address", string());
    object()
        .property(wire::ID, string())
        .property(wire::NAME, string())
        .property(wire::STATUS, string())
        .property(wire::ADMIN_STATE_UP, ObjectBuilder::new().schema_type(Type::Boolean))
        .property(wire::NETWORK_ID, nullable())
        .property(wire::TENANT_ID, string())
        .property(wire::PROJECT_ID, string())
        .property("device_id", nullable())
        .property("device_owner", string())
        .property("fixed_ips", ArrayBuilder::new().items(fixed_ip))
        .additional_properties(closed())
}
