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
use vpnaas_core::wire;

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
        .property(wire::SUBNET_ID, or_null(Type::String))
        .property("ip_address", of(Type::String))
        .required("ip_address");
    let object = or_null(Type::Object)
        .property(wire::NETWORK_ID, uuid_or_null())
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
        wire::ID => uuid().read_only(Some(true)).into(),
        wire::TENANT_ID | wire::PROJECT_ID => text(MAX_LEN).into(),
        wire::NAME => match profile.name_len.filter(|_| connection) {
            Some((min, max)) => of(Type::String).min_length(Some(min)).max_length(Some(max)).into(),
            None => text(MAX_LEN).default(Some(json!(""))).into(),
        },
        wire::DESCRIPTION => text(MAX_LEN).default(Some(json!(""))).into(),
        wire::CREATED_AT | wire::UPDATED_AT | wire::NOT_BEFORE | wire::NOT_AFTER => {
            time(profile).read_only(Some(true)).into()
        }
        wire::REVISION_NUMBER => of(Type::Integer).read_only(Some(true)).into(),
        wire::LIFETIME => lifetime(side).into(),
        wire::DPD => dpd(side).into(),
        wire::ROUTER_ID | wire::VPNSERVICE_ID | wire::IKEPOLICY_ID | wire::IPSECPOLICY_ID => uuid().into(),
        wire::SUBNET_ID
        | wire::FLAVOR_ID
        | wire::LOCAL_EP_GROUP_ID
        | wire::PEER_EP_GROUP_ID
        | wire::LOCAL_CERTIFICATE_ID
        | wire::NETWORK_ID => uuid_or_null().into(),
        wire::ADMIN_STATE_UP => match profile.only_admin_state_up.filter(|_| connection) {
            Some(only) => of(Type::Boolean).enum_values(Some([only])).default(Some(json!(only))).into(),
            None => of(Type::Boolean).default(Some(json!(true))).into(),
        },
        wire::STATUS if singular == "router" => choice(&["ACTIVE"], None).read_only(Some(true)).into(),
        wire::STATUS => choice(Status::ALL, None).read_only(Some(true)).into(),
        wire::EXTERNAL_V4_IP => or_null(Type::String).format(Some(SchemaFormat::KnownFormat(KnownFormat::Ipv4))).into(),
        wire::EXTERNAL_V6_IP => or_null(Type::String).format(Some(SchemaFormat::KnownFormat(KnownFormat::Ipv6))).into(),
        wire::TYPE => choice(EndpointType::ALL, None).examples(["cidr"]).into(),
        wire::ENDPOINTS => strings()
            .min_items(Some(1))
            .description(Some("CIDRs for `cidr` groups, subnet ids for `subnet` groups; unique"))
            .examples([json!(["10.2.0.0/24"])])
            .into(),
        wire::PEER_ADDRESS => text(profile.max_peer_len)
            .description(Some("an IP address or a host name"))
            .examples(["172.24.4.233"])
            .into(),
        wire::PEER_ID => text(profile.max_peer_len).min_length(Some(1)).examples(["172.24.4.233"]).into(),
        wire::LOCAL_ID => text(MAX_LEN).default(Some(json!(""))).into(),
        wire::PEER_CIDRS => match side {
            Side::Request => ArrayBuilder::new()
                .schema_type(SchemaType::from_iter([Type::Array, Type::Null]))
                .items(of(Type::String))
                .into(),
            Side::Response => strings().into(),
        },
        wire::ROUTE_MODE => choice(&["static"], Some("static")).into(),
        wire::MTU => match profile.only_mtu {
            Some(only) => of(Type::Integer).enum_values(Some([only])).default(Some(json!(only))).into(),
            None => of(Type::Integer)
                .minimum(Some(IpVersion::V4.min_mtu()))
                .maximum(Some(MAX_MTU))
                .default(Some(json!(DEFAULT_MTU)))
                .description(Some("at least 68 for IPv4 and 1280 for IPv6 subnets"))
                .into(),
        },
        wire::INITIATOR => match profile.only_initiator {
            Some(only) => choice(&[only.as_str()], Some(only.as_str())).into(),
            None => choice(Initiator::ALL, Some(Initiator::BiDirectional.as_str())).into(),
        },
        wire::AUTH_MODE => match profile.settable.iter().find(|(a, _)| *a == wire::AUTH_MODE) {
            Some((_, only)) => choice(&[only], Some(only)).into(),
            None => choice(AuthMode::ALL, Some(AuthMode::Psk.as_str())).into(),
        },
        wire::PSK => match (side, profile.psk) {
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
        wire::PEER_CA | wire::CHAIN => or_null(Type::String).description(Some("PEM")).into(),
        wire::CERTIFICATE => of(Type::String).description(Some("PEM")).into(),
        wire::PRIVATE_KEY => {
            of(Type::String).description(Some("PEM, PKCS#8, unencrypted")).write_only(Some(true)).into()
        }
        wire::SUBJECT | wire::FINGERPRINT => of(Type::String).read_only(Some(true)).into(),
        wire::STATUS_DESCRIPTION => {
            or_null(Type::String).read_only(Some(true)).description(Some("why a gateway reports ERROR (admins)")).into()
        }
        wire::EXTERNAL_GATEWAY_INFO => gateway_info(side).into(),
        wire::TUNNEL => tunnel(profile).into(),
        wire::HOST => or_null(Type::String)
            .min_length(Some(1))
            .max_length(Some(255))
            .description(Some("the network node the router runs on (admins)"))
            .into(),
        wire::ROUTES | wire::ALLOCATION_POOLS | wire::DNS_NAMESERVERS | wire::HOST_ROUTES => {
            ArrayBuilder::new().items(ObjectBuilder::new()).into()
        }
        wire::CIDR => of(Type::String).examples(["10.1.0.0/24"]).into(),
        wire::IP_VERSION => of(Type::Integer).enum_values(Some([4, 6])).into(),
        wire::GATEWAY_IP => of(Type::String).read_only(Some(true)).into(),
        wire::ENABLE_DHCP => of(Type::Boolean).read_only(Some(true)).into(),
        _ => return None,
    };
    Some(schema)
}

/// The NeutronError envelope (ADR 0009 §2.1).
pub fn neutron_error() -> Schema {
    of(Type::Object)
        .property(
            "NeutronError",
            of(Type::Object)
                .property(wire::TYPE, of(Type::String))
                .property("message", of(Type::String))
                .property("detail", of(Type::String))
                .required(wire::TYPE)
                .required("message")
                .required("detail"),
        )
        .required("NeutronError")
        .into()
}
