//! The JSON Schema of every wire attribute, for the OpenAPI document (ADR 0020): one table from attribute name to type, with the value sets, limits and defaults taken from core.
//!
//! Which attributes a resource has, and whether a create or an update may send them, is the
//! `Collection`'s own attribute map (`ATTRS`, `COMMON`); this table only says what each
//! name's value looks like on the wire. A name missing here is reported by
//! [`super::openapi::document`] and fails its test, so a new attribute cannot be forgotten.
//! The policies' choices are not in the table: their words, defaults and notes come from
//! their descriptors (ADR 0036).

use serde_json::{json, Value};
use utoipa::openapi::schema::{
    AdditionalProperties, ArrayBuilder, ObjectBuilder, Schema, SchemaFormat, SchemaType, Type,
};
use utoipa::openapi::KnownFormat;
use vpnaas_core::algorithms::*;
use vpnaas_core::descriptor::Choices;
use vpnaas_core::profile::{Profile, TimeStyle};
use vpnaas_core::resources::{AuthMode, IkeSpec, IpsecSpec};
use vpnaas_core::values::{Dpd, IpVersion, Lifetime, DEFAULT_MTU, MAX_MTU};

use super::body::MAX_LEN;

/// Whether a schema describes what a request sends or what a response shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Side {
    Request,
    Response,
}

fn of(t: Type) -> ObjectBuilder {
    ObjectBuilder::new().schema_type(t)
}

/// A type or null.
fn or_null(t: Type) -> ObjectBuilder {
    ObjectBuilder::new().schema_type(SchemaType::from_iter([t, Type::Null]))
}

pub fn text(max: usize) -> ObjectBuilder {
    of(Type::String).max_length(Some(max))
}

pub fn uuid() -> ObjectBuilder {
    of(Type::String).format(Some(SchemaFormat::Custom("uuid".into())))
}

fn uuid_or_null() -> ObjectBuilder {
    or_null(Type::String).format(Some(SchemaFormat::Custom("uuid".into())))
}

fn choice(values: &[&str], default: Option<&str>) -> ObjectBuilder {
    of(Type::String).enum_values(Some(values.iter().copied())).default(default.map(Value::from))
}

fn strings() -> ArrayBuilder {
    ArrayBuilder::new().items(of(Type::String))
}

fn time(profile: &Profile) -> ObjectBuilder {
    match profile.time_style {
        TimeStyle::Rfc3339 => of(Type::String).format(Some(SchemaFormat::KnownFormat(KnownFormat::DateTime))),
        TimeStyle::SpaceMicros => of(Type::String)
            .pattern(Some(r"^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}\.\d{6}$"))
            .description(Some("UTC, as `2018-11-03 14:24:33.749714` (the otc profile)")),
    }
}

fn lifetime(side: Side) -> ObjectBuilder {
    let d = Lifetime::default();
    let value = match side {
        // A decimal string is accepted too, and echoed as sent (ADR 0013 §4).
        Side::Request => ObjectBuilder::new().schema_type(SchemaType::from_iter([Type::Integer, Type::String])),
        Side::Response => of(Type::Integer),
    };
    let object = match side {
        Side::Request => or_null(Type::Object).description(Some("null or missing keys: the default")),
        Side::Response => of(Type::Object).required("units").required("value"),
    };
    object
        .property("units", choice(LifetimeUnits::ALL, Some(d.units.as_str())))
        .property("value", value.minimum(Some(Lifetime::MIN_VALUE)).default(Some(json!(d.value))))
        .additional_properties(Some(AdditionalProperties::FreeForm(false)))
}

fn dpd(side: Side) -> ObjectBuilder {
    let d = Dpd::default();
    let object = match side {
        Side::Request => or_null(Type::Object),
        Side::Response => of(Type::Object).required("action").required("interval").required("timeout"),
    };
    object
        .property("action", choice(DpdAction::ALL, Some(d.action.as_str())))
        .property("interval", of(Type::Integer).minimum(Some(1)).default(Some(json!(d.interval))))
        .property(
            "timeout",
            of(Type::Integer)
                .minimum(Some(1))
                .default(Some(json!(d.timeout)))
                .description(Some("greater than interval")),
        )
        .additional_properties(Some(AdditionalProperties::FreeForm(false)))
}

/// The connection's read-only `tunnel` (ADR 0018).
fn tunnel(profile: &Profile) -> ObjectBuilder {
    let count = || of(Type::Integer).minimum(Some(0));
    let mut reasons: Vec<&str> = vpnaas_core::tunnel::DownReason::ALL.iter().map(|r| r.as_str()).collect();
    reasons.sort_unstable();
    of(Type::Object)
        .read_only(Some(true))
        .property("reported_at", or_null(Type::String).description(Some("null before a gateway ever reported")))
        .property("status_since", time(profile))
        .property("reason", or_null(Type::String).enum_values(Some(reasons.into_iter().map(Some).chain([None]))))
        .property("reason_description", or_null(Type::String))
        .property("bytes_in", count())
        .property("bytes_out", count())
        .property("packets_in", count())
        .property("packets_out", count())
        .required("reported_at")
        .required("status_since")
        .required("reason")
        .required("reason_description")
        .required("bytes_in")
        .required("bytes_out")
        .required("packets_in")
        .required("packets_out")
        .additional_properties(Some(AdditionalProperties::FreeForm(false)))
}

fn gateway_info(side: Side) -> ObjectBuilder {
    let ip = of(Type::Object)
        .property("subnet_id", or_null(Type::String))
        .property("ip_address", of(Type::String))
        .required("ip_address");
    let object = or_null(Type::Object)
        .property("network_id", uuid_or_null())
        .property("external_fixed_ips", ArrayBuilder::new().items(ip).max_items(Some(2)));
    match side {
        Side::Request => object.description(Some("at most one fixed IP per IP version")),
        Side::Response => object.property("enable_snat", of(Type::Boolean)),
    }
}

/// The schema of choice `name` of a resource declared with [`Choices`]: its words and its default.
fn choice_schema<S: Choices>(name: &str) -> Option<Schema> {
    let declared = S::choice(name)?;
    Some(choice(declared.words, Some(S::default_word(declared))).description(declared.note).into())
}

/// The schema of attribute `name` of resource `singular` under `profile`, or `None` when the
/// table does not know the name.
pub fn attribute(singular: &str, name: &str, profile: &Profile, side: Side) -> Option<Schema> {
    let connection = singular == "ipsec_site_connection";
    // A policy's choices are declared with the policy (ADR 0036).
    let declared = match singular {
        "ikepolicy" => choice_schema::<IkeSpec>(name),
        "ipsecpolicy" => choice_schema::<IpsecSpec>(name),
        _ => None,
    };
    if let Some(schema) = declared {
        return Some(schema);
    }
    let schema: Schema = match name {
        "id" => uuid().read_only(Some(true)).into(),
        "tenant_id" | "project_id" => text(MAX_LEN).into(),
        "name" => match profile.name_len.filter(|_| connection) {
            Some((min, max)) => of(Type::String).min_length(Some(min)).max_length(Some(max)).into(),
            None => text(MAX_LEN).default(Some(json!(""))).into(),
        },
        "description" => text(MAX_LEN).default(Some(json!(""))).into(),
        "created_at" | "updated_at" | "not_before" | "not_after" => time(profile).read_only(Some(true)).into(),
        "revision_number" => of(Type::Integer).read_only(Some(true)).into(),
        "lifetime" => lifetime(side).into(),
        "dpd" => dpd(side).into(),
        "router_id" | "vpnservice_id" | "ikepolicy_id" | "ipsecpolicy_id" => uuid().into(),
        "subnet_id"
        | "flavor_id"
        | "local_ep_group_id"
        | "peer_ep_group_id"
        | "local_certificate_id"
        | "network_id" => uuid_or_null().into(),
        "admin_state_up" => match profile.only_admin_state_up.filter(|_| connection) {
            Some(only) => of(Type::Boolean).enum_values(Some([only])).default(Some(json!(only))).into(),
            None => of(Type::Boolean).default(Some(json!(true))).into(),
        },
        "status" if singular == "router" => choice(&["ACTIVE"], None).read_only(Some(true)).into(),
        "status" => choice(Status::ALL, None).read_only(Some(true)).into(),
        "external_v4_ip" => or_null(Type::String).format(Some(SchemaFormat::KnownFormat(KnownFormat::Ipv4))).into(),
        "external_v6_ip" => or_null(Type::String).format(Some(SchemaFormat::KnownFormat(KnownFormat::Ipv6))).into(),
        "type" => choice(EndpointType::ALL, None).examples(["cidr"]).into(),
        "endpoints" => strings()
            .min_items(Some(1))
            .description(Some("CIDRs for `cidr` groups, subnet ids for `subnet` groups; unique"))
            .examples([json!(["10.2.0.0/24"])])
            .into(),
        "peer_address" => text(profile.max_peer_len)
            .description(Some("an IP address or a host name"))
            .examples(["172.24.4.233"])
            .into(),
        "peer_id" => text(profile.max_peer_len).min_length(Some(1)).examples(["172.24.4.233"]).into(),
        "local_id" => text(MAX_LEN).default(Some(json!(""))).into(),
        "peer_cidrs" => match side {
            Side::Request => ArrayBuilder::new()
                .schema_type(SchemaType::from_iter([Type::Array, Type::Null]))
                .items(of(Type::String))
                .into(),
            Side::Response => strings().into(),
        },
        "route_mode" => choice(&["static"], Some("static")).into(),
        "mtu" => match profile.only_mtu {
            Some(only) => of(Type::Integer).enum_values(Some([only])).default(Some(json!(only))).into(),
            None => of(Type::Integer)
                .minimum(Some(IpVersion::V4.min_mtu()))
                .maximum(Some(MAX_MTU))
                .default(Some(json!(DEFAULT_MTU)))
                .description(Some("at least 68 for IPv4 and 1280 for IPv6 subnets"))
                .into(),
        },
        "initiator" => match profile.only_initiator {
            Some(only) => choice(&[only.as_str()], Some(only.as_str())).into(),
            None => choice(Initiator::ALL, Some(Initiator::BiDirectional.as_str())).into(),
        },
        "auth_mode" => match profile.settable.iter().find(|(a, _)| *a == "auth_mode") {
            Some((_, only)) => choice(&[only], Some(only)).into(),
            None => choice(AuthMode::ALL, Some(AuthMode::Psk.as_str())).into(),
        },
        "psk" => match (side, profile.psk) {
            (Side::Request, Some(rule)) => {
                of(Type::String).min_length(Some(rule.min)).max_length(Some(rule.max)).into()
            }
            (Side::Request, None) => of(Type::String)
                .min_length(Some(1))
                .description(Some("required for auth_mode psk; no white space at either end"))
                .into(),
            (Side::Response, _) => or_null(Type::String)
                .description(Some(
                    "left out for callers that get_ipsec_site_connection:psk refuses (a project's readers)",
                ))
                .into(),
        },
        "peer_ca" | "chain" => or_null(Type::String).description(Some("PEM")).into(),
        "certificate" => of(Type::String).description(Some("PEM")).into(),
        "private_key" => of(Type::String).description(Some("PEM, PKCS#8, unencrypted")).write_only(Some(true)).into(),
        "subject" | "fingerprint" => of(Type::String).read_only(Some(true)).into(),
        "status_description" => {
            or_null(Type::String).read_only(Some(true)).description(Some("why a gateway reports ERROR (admins)")).into()
        }
        "external_gateway_info" => gateway_info(side).into(),
        "tunnel" => tunnel(profile).into(),
        "binding:host_id" => or_null(Type::String)
            .min_length(Some(1))
            .max_length(Some(255))
            .description(Some("the network node the router runs on (admins)"))
            .into(),
        "routes" | "allocation_pools" | "dns_nameservers" | "host_routes" => {
            ArrayBuilder::new().items(ObjectBuilder::new()).into()
        }
        "cidr" => of(Type::String).examples(["10.1.0.0/24"]).into(),
        "ip_version" => of(Type::Integer).enum_values(Some([4, 6])).into(),
        "gateway_ip" => of(Type::String).read_only(Some(true)).into(),
        "enable_dhcp" => of(Type::Boolean).read_only(Some(true)).into(),
        _ => return None,
    };
    Some(schema)
}

/// The attributes a resource's responses carry besides its attribute map: (singular, name,
/// shown to admins only).
pub const SHOWN: &[(&str, &str, bool)] = &[
    ("ipsec_site_connection", "status_description", true),
    ("ipsec_site_connection", "tunnel", false),
    ("subnet", "gateway_ip", false),
    ("subnet", "enable_dhcp", false),
    ("subnet", "allocation_pools", false),
    ("subnet", "dns_nameservers", false),
    ("subnet", "host_routes", false),
];

/// Attributes of the map that some callers' responses leave out: what only admins see, and a
/// connection's PSK, which its own rule decides (ADR 0040).
pub const NOT_ALWAYS_SHOWN: &[(&str, &str)] = &[("router", "binding:host_id"), ("ipsec_site_connection", "psk")];

/// Attributes of the map that responses never carry.
pub const WRITE_ONLY: &[(&str, &str)] = &[("certificate", "private_key")];

/// The NeutronError envelope (ADR 0009 §2.1).
pub fn neutron_error() -> Schema {
    of(Type::Object)
        .property(
            "NeutronError",
            of(Type::Object)
                .property("type", of(Type::String))
                .property("message", of(Type::String))
                .property("detail", of(Type::String))
                .required("type")
                .required("message")
                .required("detail"),
        )
        .required("NeutronError")
        .into()
}
