//! Request bodies: the envelope, the attribute map checks (unknown, not allowed, required) and the converters of neutron-lib, in one place.
//!
//! Order and messages follow neutron-lib `api/attributes.py` and neutron `api/v2/base.py`
//! (ADR 0009 §1.1): shape, unrecognized attributes, attributes not allowed in POST or PUT,
//! missing required attributes, then each value's converter and validator.

use serde_json::{Map, Value};
use uuid::Uuid;
use vpnaas_core::algorithms::{DpdAction, LifetimeUnits};
use vpnaas_core::fault::Fault;
use vpnaas_core::resources::{DpdPatch, LifetimePatch, Owner, TextPatch};
use vpnaas_core::values::{Cidr, PeerAddress, Psk};
use vpnaas_core::wire::{self, Attribute};

/// The longest `name`, `description` and most strings: the reference's 255.
pub const MAX_LEN: usize = 255;

/// The longest PEM text (a certificate, a key, a chain or a CA bundle).
pub const MAX_PEM: usize = 64 * 1024;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    Create,
    Update,
}

/// The attributes of one request, checked against the map and taken one by one.
#[derive(Debug)]
pub struct Attributes {
    map: Map<String, Value>,
}

/// What a create or update answers as the client sent it rather than as it is stored: a
/// `lifetime.value` sent as a string (ADR 0013 §4). The reference builds that answer from
/// the object before the database converts the value, so its PUT and POST echo `"2000"`
/// and only a later GET says `2000`; neutron-tempest-plugin asserts the echo.
#[derive(Debug, Default)]
pub struct Echo {
    lifetime_value: Option<Value>,
}

impl Echo {
    /// Nothing to echo differently from the stored value.
    pub fn is_empty(&self) -> bool {
        self.lifetime_value.is_none()
    }

    /// Puts the echoed values into a rendered object.
    pub fn apply(&self, view: &mut Map<String, Value>) {
        if let (Some(value), Some(Value::Object(lifetime))) = (&self.lifetime_value, view.get_mut(wire::LIFETIME)) {
            lifetime.insert("value".into(), value.clone());
        }
    }
}

/// How a validation profile changes a resource's attribute map.
#[derive(Debug, Clone, Copy, Default)]
pub struct Overrides {
    /// Read-only attributes a create may send (the profile checks their values).
    pub settable: &'static [(&'static str, &'static str)],
    /// Required attributes a create may omit.
    pub optional: &'static [&'static str],
}

/// Opens `{"<singular>": {...}}` and checks the attribute map.
pub fn parse_body(
    bytes: &[u8],
    singular: &'static str,
    plural: &str,
    attrs: &[&[Attribute]],
    overrides: Overrides,
    op: Op,
) -> Result<Attributes, Fault> {
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Err(Fault::ResourceBodyRequired);
    }
    let body: Value = serde_json::from_slice(bytes).map_err(|e| Fault::MalformedBody(e.to_string()))?;
    let Value::Object(mut outer) = body else {
        return Err(Fault::BodyInvalid);
    };
    let inner = match outer.remove(singular) {
        Some(v) => v,
        None if outer.contains_key(plural) => return Err(Fault::BulkNotSupported),
        None => return Err(Fault::MissingResourceKey(singular)),
    };
    let Value::Object(map) = inner else {
        return Err(Fault::BodyInvalid);
    };
    let find = |k: &str| attrs.iter().flat_map(|a| a.iter()).find(|a| a.name == k);

    let mut unknown: Vec<String> = map.keys().filter(|k| find(k).is_none()).cloned().collect();
    if !unknown.is_empty() {
        unknown.sort();
        return Err(Fault::Unrecognized(unknown));
    }
    for key in map.keys() {
        let Some(attr) = find(key) else { continue };
        match op {
            Op::Create if !attr.post && !overrides.settable.iter().any(|(a, _)| a == key) => {
                return Err(Fault::NotAllowedInPost(key.clone()))
            }
            Op::Update if !attr.put => return Err(Fault::ReadOnly(key.clone())),
            _ => {}
        }
    }
    if op == Op::Create {
        for attr in attrs.iter().flat_map(|a| a.iter()) {
            if attr.required && !map.contains_key(attr.name) && !overrides.optional.contains(&attr.name) {
                return Err(Fault::RequiredMissing(attr.name));
            }
        }
    }
    Ok(Attributes { map })
}

/// A value as the reference quotes it in messages (Python's `str()` of the decoded JSON).
pub fn show(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Null => "None".to_owned(),
        Value::Bool(true) => "True".to_owned(),
        Value::Bool(false) => "False".to_owned(),
        other => other.to_string(),
    }
}

fn bad(attr: &str, reason: String) -> Fault {
    Fault::invalid(attr, reason)
}

/// neutron-lib `convert_to_boolean`: true/false, 1/0 and their strings in any case.
pub fn to_bool(attr: &str, v: &Value) -> Result<bool, Fault> {
    match v {
        Value::Bool(b) => Ok(*b),
        Value::Number(n) if n.as_i64() == Some(1) => Ok(true),
        Value::Number(n) if n.as_i64() == Some(0) => Ok(false),
        Value::String(s) if s.eq_ignore_ascii_case("true") || s == "1" => Ok(true),
        Value::String(s) if s.eq_ignore_ascii_case("false") || s == "0" => Ok(false),
        other => Err(bad(attr, format!("'{}' cannot be converted to boolean", show(other)))),
    }
}

/// neutron-lib `convert_to_int`: integers and their decimal strings (the CLI sends `"1400"`).
pub fn to_int(attr: &str, v: &Value) -> Result<i64, Fault> {
    let n = match v {
        Value::Number(n) => {
            n.as_i64().or_else(|| n.as_f64().filter(|f| f.fract() == 0.0 && f.abs() < 9e15).map(|f| f as i64))
        }
        Value::String(s) => s.trim().parse::<i64>().ok(),
        _ => None,
    };
    n.ok_or_else(|| bad(attr, format!("'{}' is not an integer", show(v))))
}

fn non_negative(attr: &str, v: &Value) -> Result<i64, Fault> {
    let n = to_int(attr, v)?;
    if n < 0 {
        return Err(bad(attr, format!("'{n}' should be non-negative")));
    }
    Ok(n)
}

fn dict<'a>(attr: &str, v: &'a Value, keys: &[&str]) -> Result<Option<&'a Map<String, Value>>, Fault> {
    match v {
        // `convert_none_to_empty_dict`
        Value::Null => Ok(None),
        Value::Object(m) => {
            if let Some(k) = m.keys().find(|k| !keys.contains(&k.as_str())) {
                return Err(bad(
                    attr,
                    format!(
                        "Validation of dictionary's keys failed. Unexpected key '{k}', expected keys: {}",
                        keys.join(", ")
                    ),
                ));
            }
            Ok(Some(m))
        }
        other => Err(bad(attr, format!("'{}' is not a dictionary", show(other)))),
    }
}

impl Attributes {
    pub fn has(&self, name: &str) -> bool {
        self.map.contains_key(name)
    }

    fn take(&mut self, name: &str) -> Option<Value> {
        self.map.remove(name)
    }

    /// The value as sent, for attributes with a converter of their own.
    pub fn raw(&mut self, name: &str) -> Option<Value> {
        self.take(name)
    }

    /// The common texts of an update (and of a create, where absent means `''`).
    pub fn text_patch(&mut self) -> Result<TextPatch, Fault> {
        Ok(TextPatch { name: self.string(wire::NAME, MAX_LEN)?, description: self.string(wire::DESCRIPTION, MAX_LEN)? })
    }

    /// `type:string` with a maximum length.
    pub fn string(&mut self, name: &str, max: usize) -> Result<Option<String>, Fault> {
        match self.take(name) {
            None => Ok(None),
            Some(Value::String(s)) if s.chars().count() > max => {
                Err(bad(name, format!("'{s}' exceeds maximum length of {max}")))
            }
            Some(Value::String(s)) => Ok(Some(s)),
            Some(other) => Err(bad(name, format!("'{}' is not a valid string", show(&other)))),
        }
    }

    /// A string that must not be empty.
    pub fn nonempty(&mut self, name: &str, max: usize) -> Result<Option<String>, Fault> {
        match self.string(name, max)? {
            Some(s) if s.trim().is_empty() => Err(bad(name, "the value must not be empty".to_owned())),
            other => Ok(other),
        }
    }

    pub fn boolean(&mut self, name: &str) -> Result<Option<bool>, Fault> {
        self.take(name).map(|v| to_bool(name, &v)).transpose()
    }

    pub fn int(&mut self, name: &str) -> Result<Option<i64>, Fault> {
        self.take(name).map(|v| non_negative(name, &v)).transpose()
    }

    /// A value of a closed set, parsed by the set's own `parse`.
    pub fn choice<E>(&mut self, name: &str, parse: fn(&str, &str) -> Result<E, Fault>) -> Result<Option<E>, Fault> {
        self.take(name).map(|v| parse(name, &show(&v))).transpose()
    }

    /// The word sent for a choice attribute, as neutron-lib's validators read it.
    pub fn word(&mut self, name: &str) -> Option<String> {
        self.take(name).map(|v| show(&v))
    }

    pub fn uuid(&mut self, name: &str) -> Result<Option<Uuid>, Fault> {
        self.take(name).map(|v| to_uuid(name, &v)).transpose()
    }

    /// `type:uuid_or_none`: `Some(None)` when sent as null.
    pub fn uuid_or_none(&mut self, name: &str) -> Result<Option<Option<Uuid>>, Fault> {
        match self.take(name) {
            None => Ok(None),
            Some(Value::Null) => Ok(Some(None)),
            Some(v) => to_uuid(name, &v).map(|u| Some(Some(u))),
        }
    }

    /// `convert_to_list`: null is empty, a bare string is a list of one (the CLI sends that).
    pub fn list(&mut self, name: &str) -> Result<Option<Vec<String>>, Fault> {
        let items = match self.take(name) {
            None => return Ok(None),
            Some(Value::Null) => Vec::new(),
            Some(Value::String(s)) => vec![s],
            Some(Value::Array(a)) => a
                .into_iter()
                .map(|v| match v {
                    Value::String(s) => Ok(s),
                    other => Err(bad(name, format!("'{}' is not a valid string", show(&other)))),
                })
                .collect::<Result<_, _>>()?,
            Some(other) => Err(bad(name, format!("'{}' is not a list", show(&other))))?,
        };
        Ok(Some(items))
    }

    /// `list_of_subnets_or_none`: unique, valid CIDRs (any IPv6 length, ADR 0001 D2).
    pub fn cidrs(&mut self, name: &str) -> Result<Option<Vec<Cidr>>, Fault> {
        let Some(items) = self.list(name)? else {
            return Ok(None);
        };
        let mut out: Vec<Cidr> = Vec::with_capacity(items.len());
        for item in &items {
            let cidr = Cidr::parse(item).map_err(|_| bad(name, format!("'{item}' is not a valid IP subnet")))?;
            if out.contains(&cidr) {
                return Err(bad(name, format!("Duplicate items in the list: '{item}'")));
            }
            out.push(cidr);
        }
        Ok(Some(out))
    }

    /// The owner a create names; `tenant_id` and `project_id` must agree (ADR 0009 §1.4).
    pub fn owner(&mut self) -> Result<Owner, Fault> {
        let tenant = self.string(wire::TENANT_ID, MAX_LEN)?;
        let project = self.string(wire::PROJECT_ID, MAX_LEN)?;
        match (tenant, project) {
            (Some(t), Some(p)) if t != p => Err(Fault::ProjectMismatch),
            (t, p) => Ok(Owner(p.or(t).filter(|s| !s.is_empty()))),
        }
    }

    /// What the answer echoes as sent; read before the attributes are taken.
    pub fn echo(&self) -> Echo {
        let lifetime_value =
            self.map.get(wire::LIFETIME).and_then(|l| l.get("value")).filter(|v| v.is_string()).cloned();
        Echo { lifetime_value }
    }

    pub fn lifetime(&mut self, name: &str) -> Result<Option<LifetimePatch>, Fault> {
        let Some(v) = self.take(name) else {
            return Ok(None);
        };
        let Some(m) = dict(name, &v, &["units", "value"])? else {
            return Ok(Some(LifetimePatch::default()));
        };
        let units = m.get("units").map(|u| LifetimeUnits::parse(name, &show(u))).transpose()?;
        let value = m.get("value").map(|v| to_int(name, v)).transpose()?;
        if let Some(value) = value {
            if value < vpnaas_core::values::Lifetime::MIN_VALUE {
                return Err(bad(name, format!("'{value}' is too small - must be at least '60'")));
            }
        }
        Ok(Some(LifetimePatch { units, value }))
    }

    pub fn dpd(&mut self, name: &str) -> Result<Option<DpdPatch>, Fault> {
        let Some(v) = self.take(name) else {
            return Ok(None);
        };
        let Some(m) = dict(name, &v, &["action", "interval", "timeout"])? else {
            return Ok(Some(DpdPatch::default()));
        };
        Ok(Some(DpdPatch {
            action: m.get("action").map(|a| DpdAction::parse(name, &show(a))).transpose()?,
            interval: m.get("interval").map(|i| non_negative(name, i)).transpose()?,
            timeout: m.get("timeout").map(|t| non_negative(name, t)).transpose()?,
        }))
    }

    /// The pre-shared key. No message ever quotes it.
    pub fn psk(&mut self, name: &str) -> Result<Option<Psk>, Fault> {
        match self.take(name) {
            None => Ok(None),
            Some(Value::String(s)) => Psk::parse(&s).map(Some).map_err(|why| bad(name, why.to_owned())),
            Some(_) => Err(bad(name, "the pre-shared key must be a string".to_owned())),
        }
    }

    /// PEM text (certificates, a private key): `Some(None)` when sent as null. No message
    /// ever quotes it.
    pub fn pem(&mut self, name: &str) -> Result<Option<Option<String>>, Fault> {
        match self.take(name) {
            None => Ok(None),
            Some(Value::Null) => Ok(Some(None)),
            Some(Value::String(s)) if s.len() > MAX_PEM => {
                Err(bad(name, format!("the PEM text exceeds maximum length of {MAX_PEM} bytes")))
            }
            Some(Value::String(s)) => Ok(Some(Some(s))),
            Some(_) => Err(bad(name, "the value must be a string of PEM text".to_owned())),
        }
    }

    /// An IP address or a host name (ADR 0001 D2: stored as given, never resolved here).
    pub fn peer_address(&mut self, name: &str) -> Result<Option<PeerAddress>, Fault> {
        let Some(s) = self.string(name, MAX_LEN)? else {
            return Ok(None);
        };
        PeerAddress::parse(&s)
            .map(Some)
            .ok_or_else(|| bad(name, format!("'{s}' is neither an IP address nor a valid host name")))
    }
}

fn to_uuid(attr: &str, v: &Value) -> Result<Uuid, Fault> {
    match v {
        Value::String(s) => Uuid::parse_str(s).ok(),
        _ => None,
    }
    .ok_or_else(|| bad(attr, format!("'{}' is not a valid UUID", show(v))))
}

#[cfg(test)]
mod tests {
    use super::*;

    use vpnaas_core::wire::{req, ro, rw};

    const ATTRS: &[Attribute] = &[rw("name"), req("router_id"), ro("status")];

    fn p(body: &str, op: Op) -> Result<Attributes, Fault> {
        parse_body(body.as_bytes(), "thing", "things", &[ATTRS], Overrides::default(), op)
    }

    #[test]
    fn shape_errors_come_first() {
        assert_eq!(p("", Op::Create).unwrap_err(), Fault::ResourceBodyRequired);
        assert!(matches!(p("{", Op::Create).unwrap_err(), Fault::MalformedBody(_)));
        assert_eq!(p("[]", Op::Create).unwrap_err(), Fault::BodyInvalid);
        assert_eq!(p("{\"other\": {}}", Op::Create).unwrap_err(), Fault::MissingResourceKey("thing"));
        assert_eq!(p("{\"things\": []}", Op::Create).unwrap_err(), Fault::BulkNotSupported);
        assert_eq!(p("{\"thing\": 3}", Op::Create).unwrap_err(), Fault::BodyInvalid);
    }

    #[test]
    fn attribute_map_is_enforced() {
        assert_eq!(
            p(r#"{"thing": {"zz": 1, "aa": 2}}"#, Op::Create).unwrap_err(),
            Fault::Unrecognized(vec!["aa".into(), "zz".into()])
        );
        assert_eq!(
            p(r#"{"thing": {"status": "x"}}"#, Op::Create).unwrap_err(),
            Fault::NotAllowedInPost("status".into())
        );
        assert_eq!(p(r#"{"thing": {"router_id": "x"}}"#, Op::Update).unwrap_err(), Fault::ReadOnly("router_id".into()));
        assert_eq!(p(r#"{"thing": {"name": "x"}}"#, Op::Create).unwrap_err(), Fault::RequiredMissing("router_id"));
    }

    #[test]
    fn converters_accept_what_the_reference_accepts() {
        assert_eq!(to_bool("a", &Value::String("True".into())), Ok(true));
        assert_eq!(to_bool("a", &serde_json::json!(0)), Ok(false));
        assert!(to_bool("a", &Value::Null).is_err());
        assert_eq!(to_int("mtu", &Value::String("1400".into())), Ok(1400));
        assert!(to_int("mtu", &Value::String("abc".into())).is_err());
    }

    #[test]
    fn psk_errors_never_quote_the_key() {
        let mut f = p(r#"{"thing": {"router_id": "x", "name": 1}}"#, Op::Create).unwrap();
        f.map.insert("psk".into(), Value::String("s".repeat(300)));
        let err = f.psk("psk").unwrap_err().to_string();
        assert!(!err.contains("sss"), "{err}");
    }
}

/// The lifetime and DPD parsers over generated JSON: never a panic, valid values accepted,
/// invalid ones refused with the attribute named.
#[cfg(test)]
mod properties {
    use super::*;
    use proptest::prelude::*;
    use serde_json::json;

    fn attrs(key: &str, v: Value) -> Attributes {
        let mut map = Map::new();
        map.insert(key.to_owned(), v);
        Attributes { map }
    }

    /// Any JSON value, a few levels deep.
    fn any_json() -> impl Strategy<Value = Value> {
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::from),
            any::<i64>().prop_map(Value::from),
            any::<f64>().prop_map(|f| serde_json::Number::from_f64(f).map_or(Value::Null, Value::Number)),
            "\\PC{0,12}".prop_map(Value::from),
        ];
        leaf.prop_recursive(3, 24, 4, |inner| {
            prop_oneof![
                proptest::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
                proptest::collection::btree_map("units|value|action|interval|timeout|x", inner, 0..4)
                    .prop_map(|m| Value::Object(m.into_iter().collect())),
            ]
        })
    }

    proptest! {
        #[test]
        fn lifetime_and_dpd_never_panic(v in any_json()) {
            if let Err(e) = attrs("lifetime", v.clone()).lifetime("lifetime") {
                prop_assert!(e.to_string().contains("lifetime"), "{}", e);
            }
            if let Err(e) = attrs("dpd", v).dpd("dpd") {
                prop_assert!(e.to_string().contains("dpd"), "{}", e);
            }
        }

        #[test]
        fn lifetimes_of_60_seconds_or_more_are_accepted_as_numbers_or_text(value in 60i64..=i64::MAX, text in any::<bool>()) {
            let v = if text { json!(value.to_string()) } else { json!(value) };
            let body = json!({"units": "seconds", "value": v});
            let p = attrs("lifetime", body).lifetime("lifetime").unwrap().unwrap();
            prop_assert_eq!(p.value, Some(value));
        }

        #[test]
        fn lifetimes_below_60_are_refused(value in i64::MIN..60) {
            let body = json!({"value": value});
            let e = attrs("lifetime", body).lifetime("lifetime").unwrap_err();
            prop_assert!(e.to_string().contains("lifetime"));
        }

        #[test]
        fn dpd_takes_non_negative_integers_and_refuses_negative_ones(interval in 0i64..=i64::MAX, negative in i64::MIN..0) {
            let body = json!({"action": "hold", "interval": interval});
            let p = attrs("dpd", body).dpd("dpd").unwrap().unwrap();
            prop_assert_eq!(p.interval, Some(interval));
            let refused = attrs("dpd", json!({"timeout": negative})).dpd("dpd").is_err();
            prop_assert!(refused);
        }
    }
}
