//! Attribute descriptors: each attribute declared once, with everything the API, the store and
//! the OpenAPI document need to know about it (ADR 0036, ADR 0048).
//!
//! - The policies' attributes are [`Choice`]s: every one but `lifetime` is a choice of one wire
//!   enum, and its name is its wire name, its column and its filter.
//! - The other resources' plain attributes (one value, one column) are [`Field`]s, declared with
//!   [`fields!`](crate::fields) beside the resource: views and rows, both ways, walk them.
//!   What is not plain (a secret, a child list, a nested object) stays written by hand.

use std::fmt::Display;
use std::net::{Ipv4Addr, Ipv6Addr};

use uuid::Uuid;

use crate::fault::Fault;

/// One attribute whose value is one word of a closed set ([`crate::algorithms`]). Writable on
/// create and on update, filterable, echoed in every view.
pub struct Choice<S: 'static, P: 'static> {
    /// The wire name, which is also the column that holds it and the filter that matches it.
    pub name: &'static str,
    /// Every word it accepts, in the reference's order (the OpenAPI `enum`).
    pub words: &'static [&'static str],
    /// What the OpenAPI document adds about it, if anything.
    pub note: Option<&'static str>,
    /// Its word in a resource.
    pub get: fn(&S) -> &'static str,
    /// Sets it in a resource from a word; the fault names the attribute and lists the words.
    pub set: fn(&mut S, &str) -> Result<(), Fault>,
    /// Sets it in an update from a word, likewise.
    pub patch: fn(&mut P, &str) -> Result<(), Fault>,
}

/// A resource whose own attributes are declared as [`Choice`]s.
pub trait Choices: Default + Sized + 'static {
    /// The update of such a resource.
    type Patch: 'static;
    /// Its choices, in the order views show them.
    const CHOICES: &'static [Choice<Self, Self::Patch>];

    /// The choice named `name`, if the resource has one.
    fn choice(name: &str) -> Option<&'static Choice<Self, Self::Patch>> {
        Self::CHOICES.iter().find(|c| c.name == name)
    }

    /// The word a resource created without `choice` gets.
    fn default_word(choice: &Choice<Self, Self::Patch>) -> &'static str {
        (choice.get)(&Self::default())
    }
}

/// A plain attribute's value, borrowed from its resource: what a view writes and a row stores.
/// Views write it without building a text; rows copy it into the statement's values.
#[derive(Clone, Copy)]
pub enum Scalar<'a> {
    /// A JSON string; a text column.
    Str(&'a str),
    /// A value written as its `Display` text (ids, addresses); a text column.
    Shown(&'a dyn Display),
    /// The same, or JSON null and SQL NULL.
    OptShown(Option<&'a dyn Display>),
    /// A JSON number; an integer column.
    Int(i64),
    /// JSON true or false; an integer column, 1 or 0.
    Bool(bool),
}

/// Why a column could not be read back into its attribute: the row is not what the schema
/// says (the store reports it as corrupt).
#[derive(Debug, thiserror::Error)]
#[error("column {column}: {why}")]
pub struct Unreadable {
    pub column: &'static str,
    pub why: String,
}

impl Unreadable {
    pub fn new(column: &'static str, why: impl Display) -> Unreadable {
        Unreadable { column, why: why.to_string() }
    }
}

/// A stored row, as a plain attribute reads itself back from its column.
pub trait Columns {
    fn text(&self, column: &'static str) -> Result<String, Unreadable>;
    fn opt_text(&self, column: &'static str) -> Result<Option<String>, Unreadable>;
    fn int(&self, column: &'static str) -> Result<i64, Unreadable>;
}

/// A type a plain attribute holds: how it is shown and stored, and read back.
pub trait Plain: Sized {
    fn scalar(&self) -> Scalar<'_>;
    fn read(row: &dyn Columns, column: &'static str) -> Result<Self, Unreadable>;
}

/// One plain attribute of resources `S`. Built by [`fields!`](crate::fields).
pub struct Field<S: 'static> {
    /// The wire name (for a kept value that no answer shows: its column).
    pub name: &'static str,
    /// The column that holds it: the attribute map's `column` for it.
    pub column: &'static str,
    pub get: fn(&S) -> Scalar<'_>,
    /// Reads it back from its column into a resource.
    pub set: fn(&mut S, &dyn Columns, &'static str) -> Result<(), Unreadable>,
}

/// A resource with plain attributes. Its rows are read into [`Default::default`] first, so
/// every member is set from a column or by hand after.
pub trait Fields: Default + Sized + 'static {
    /// The attributes, shown in every view and stored, in the order views show them.
    const FIELDS: &'static [Field<Self>];
    /// Values the server keeps beside the attributes: stored, never shown.
    const KEPT: &'static [Field<Self>] = &[];

    /// Reads every field from a row into `self`.
    fn read_fields(&mut self, row: &dyn Columns) -> Result<(), Unreadable> {
        for field in Self::FIELDS.iter().chain(Self::KEPT) {
            (field.set)(self, row, field.column)?;
        }
        Ok(())
    }
}

/// Declares plain attributes: `fields!(MAP; wire::NAME => member, ...)`, each column taken
/// from the attribute map `MAP` (a name not in it is its own column). A member may be a path
/// (`runtime.ha_since`).
#[macro_export]
macro_rules! fields {
    ($map:expr; $($name:expr => $($member:ident).+),* $(,)?) => {
        &[$($crate::descriptor::Field {
            name: $name,
            column: $crate::wire::column_in($map, $name),
            get: |s| $crate::descriptor::Plain::scalar(&s.$($member).+),
            set: |s, row, column| {
                s.$($member).+ = $crate::descriptor::Plain::read(row, column)?;
                Ok(())
            },
        }),*]
    };
}

impl Plain for String {
    fn scalar(&self) -> Scalar<'_> {
        Scalar::Str(self)
    }
    fn read(row: &dyn Columns, column: &'static str) -> Result<Self, Unreadable> {
        row.text(column)
    }
}

impl Plain for i64 {
    fn scalar(&self) -> Scalar<'_> {
        Scalar::Int(*self)
    }
    fn read(row: &dyn Columns, column: &'static str) -> Result<Self, Unreadable> {
        row.int(column)
    }
}

/// A counter: `u64` in the contract, `BIGINT` in the database (saturating at its maximum).
impl Plain for u64 {
    fn scalar(&self) -> Scalar<'_> {
        Scalar::Int(i64::try_from(*self).unwrap_or(i64::MAX))
    }
    fn read(row: &dyn Columns, column: &'static str) -> Result<Self, Unreadable> {
        u64::try_from(row.int(column)?).map_err(|e| Unreadable::new(column, e))
    }
}

impl Plain for bool {
    fn scalar(&self) -> Scalar<'_> {
        Scalar::Bool(*self)
    }
    fn read(row: &dyn Columns, column: &'static str) -> Result<Self, Unreadable> {
        Ok(row.int(column)? != 0)
    }
}

/// Values stored as their text and parsed back with `FromStr`.
macro_rules! shown {
    ($($t:ty),*) => {$(
        impl Plain for $t {
            fn scalar(&self) -> Scalar<'_> {
                Scalar::Shown(self)
            }
            fn read(row: &dyn Columns, column: &'static str) -> Result<Self, Unreadable> {
                row.text(column)?.parse().map_err(|e| Unreadable::new(column, e))
            }
        }
        impl Plain for Option<$t> {
            fn scalar(&self) -> Scalar<'_> {
                Scalar::OptShown(self.as_ref().map(|v| v as &dyn Display))
            }
            fn read(row: &dyn Columns, column: &'static str) -> Result<Self, Unreadable> {
                row.opt_text(column)?.map(|t| t.parse().map_err(|e| Unreadable::new(column, e))).transpose()
            }
        }
    )*};
}
shown!(Uuid, Ipv4Addr, Ipv6Addr);

impl Plain for Option<String> {
    fn scalar(&self) -> Scalar<'_> {
        Scalar::OptShown(self.as_ref().map(|v| v as &dyn Display))
    }
    fn read(row: &dyn Columns, column: &'static str) -> Result<Self, Unreadable> {
        row.opt_text(column)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::listing::Listed;
    use crate::resources::{IkePolicy, IkeSpec, IpsecPolicy, IpsecSpec, PolicySpec};

    /// Every word of every choice goes into a resource and an update and reads back as itself,
    /// on that attribute alone; a word outside the set is refused naming the attribute; and each
    /// choice is a filter of its resource under its own name.
    fn round_trip<S: PolicySpec + PartialEq + std::fmt::Debug>(filter: fn(&str) -> bool)
    where
        S::Patch: Default + PartialEq + std::fmt::Debug,
    {
        for choice in S::CHOICES {
            assert!(choice.words.contains(&S::default_word(choice)), "{}", choice.name);
            assert!(filter(choice.name), "{} is no filter", choice.name);
            for word in choice.words {
                let mut spec = S::default();
                (choice.set)(&mut spec, word).unwrap();
                assert_eq!((choice.get)(&spec), *word);
                for other in S::CHOICES.iter().filter(|o| o.name != choice.name) {
                    assert_eq!((other.get)(&spec), S::default_word(other), "{} moved {}", choice.name, other.name);
                }
                let mut patch = S::Patch::default();
                (choice.patch)(&mut patch, word).unwrap();
                assert_ne!(patch, S::Patch::default());
            }
            let refused = (choice.set)(&mut S::default(), "no-such-word").unwrap_err().to_string();
            assert!(refused.contains(choice.name) && refused.contains("no-such-word"), "{refused}");
        }
    }

    #[test]
    fn every_policy_choice_reads_back_what_it_wrote_and_filters() {
        round_trip::<IkeSpec>(|n| IkePolicy::filter(n).is_some());
        round_trip::<IpsecSpec>(|n| IpsecPolicy::filter(n).is_some());
        assert_eq!(IkeSpec::CHOICES.len(), 5);
        assert_eq!(IpsecSpec::CHOICES.len(), 5);
    }

    /// A row held as texts, as a database hands them over.
    #[derive(Default)]
    struct Row(std::collections::HashMap<&'static str, Option<String>>);

    impl Columns for Row {
        fn text(&self, column: &'static str) -> Result<String, Unreadable> {
            self.opt_text(column)?.ok_or_else(|| Unreadable::new(column, "NULL"))
        }
        fn opt_text(&self, column: &'static str) -> Result<Option<String>, Unreadable> {
            self.0.get(column).cloned().ok_or_else(|| Unreadable::new(column, "no such column"))
        }
        fn int(&self, column: &'static str) -> Result<i64, Unreadable> {
            self.text(column)?.parse().map_err(|e| Unreadable::new(column, e))
        }
    }

    fn stored<S: Fields>(spec: &S) -> Row {
        let mut row = Row::default();
        for f in S::FIELDS.iter().chain(S::KEPT) {
            let text = match (f.get)(spec) {
                Scalar::Str(t) => Some(t.to_owned()),
                Scalar::Shown(v) => Some(v.to_string()),
                Scalar::OptShown(v) => v.map(ToString::to_string),
                Scalar::Int(n) => Some(n.to_string()),
                Scalar::Bool(b) => Some(i64::from(b).to_string()),
            };
            assert!(row.0.insert(f.column, text).is_none(), "{} is stored twice", f.column);
        }
        row
    }

    /// A resource whose plain members all differ from the blank's reads back from its
    /// columns as itself; a member the descriptor forgot keeps the blank's value and fails.
    /// Callers name every member, so that a new one is a compile error here until it is
    /// declared a field or listed as written by hand.
    fn fields_round_trip<S: Fields + PartialEq + std::fmt::Debug>(spec: S) {
        let mut back = S::default();
        back.read_fields(&stored(&spec)).unwrap();
        assert_eq!(back, spec);
    }

    /// Every attribute of the map is a field, under its own column, or one of the names the
    /// resource shows and stores by hand: an attribute added to the map and to the resource
    /// but to neither is caught here rather than missing from answers and rows.
    fn covers<S: Fields>(map: &[crate::wire::Attribute], by_hand: &[&str]) {
        for attr in map {
            let field = S::FIELDS.iter().find(|f| f.name == attr.name);
            match field {
                Some(f) => assert_eq!(f.column, attr.column, "{}", attr.name),
                None => assert!(by_hand.contains(&attr.name), "{} is neither a field nor written by hand", attr.name),
            }
        }
        for f in S::FIELDS {
            assert!(map.iter().any(|a| a.name == f.name), "{} is no attribute", f.name);
        }
    }

    #[test]
    fn every_plain_attribute_reads_back_from_its_column_and_the_map_has_no_other() {
        use crate::algorithms::{EndpointType, Initiator, Status};
        use crate::resources::{CertSpec, ConnectionRuntime, ConnectionSpec, GroupSpec, ServiceSpec};
        use crate::tunnel::DownReason;
        use crate::values::PeerAddress;
        use crate::wire::{self, *};
        use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
        let id = |n: u128| Uuid::from_u128(n);

        fields_round_trip(ServiceSpec {
            router_id: id(1),
            subnet_id: Some(id(2)),
            admin_state_up: false,
            external_v4_ip: Some(Ipv4Addr::new(192, 0, 2, 1)),
            external_v6_ip: Some(Ipv6Addr::LOCALHOST),
            status: Status::Active,
        });
        fields_round_trip(GroupSpec { endpoint_type: EndpointType::Subnet, endpoints: Vec::new() });
        fields_round_trip(ConnectionSpec {
            peer_address: PeerAddress::Ip(IpAddr::V4(Ipv4Addr::new(198, 51, 100, 7))),
            peer_id: "peer".into(),
            local_id: "@local".into(),
            local_ep_group_id: Some(id(3)),
            peer_ep_group_id: Some(id(4)),
            mtu: 1400,
            initiator: Initiator::ResponseOnly,
            admin_state_up: false,
            status: Status::Down,
            status_reason: Some("why".into()),
            vpnservice_id: id(5),
            ikepolicy_id: id(6),
            ipsecpolicy_id: id(7),
            runtime: ConnectionRuntime {
                ha_standby: true,
                ha_since: 8,
                counters: crate::contract::Counters { bytes_in: 9, bytes_out: 10, packets_in: 11, packets_out: 12 },
                reported_at: 13,
                status_since: 14,
                down_reason: Some(DownReason::AuthFailed),
            },
            // Not plain: written by hand beside the fields (every member is named here, so a
            // new one does not compile until this test says which it is).
            peer_cidrs: Vec::new(),
            auth: ConnectionSpec::default().auth,
            dpd: ConnectionSpec::default().dpd,
        });

        covers::<ServiceSpec>(wire::VPNSERVICE, &[FLAVOR_ID]);
        covers::<GroupSpec>(wire::ENDPOINT_GROUP, &[ENDPOINTS]);
        covers::<ConnectionSpec>(
            wire::CONNECTION,
            &[PEER_CIDRS, ROUTE_MODE, AUTH_MODE, PSK, LOCAL_CERTIFICATE_ID, PEER_CA, DPD],
        );
        fields_round_trip(CertSpec {
            certificate: "PEM".into(),
            chain: Some("CHAIN".into()),
            subject: "CN=a".into(),
            fingerprint: "AB:CD".into(),
            // Not plain: written by hand.
            private_key: CertSpec::default().private_key,
            not_before: 0,
            not_after: 0,
        });
        covers::<CertSpec>(wire::CERTIFICATE_MAP, &[PRIVATE_KEY, NOT_BEFORE, NOT_AFTER]);
        assert_eq!(GroupSpec::FIELDS[0].column, ENDPOINT_TYPE);
    }

    #[test]
    fn a_column_that_does_not_parse_is_named() {
        let mut row = Row::default();
        row.0.insert("router_id", Some("not-a-uuid".into()));
        let refused = <Uuid as Plain>::read(&row, "router_id").unwrap_err().to_string();
        assert!(refused.starts_with("column router_id:"), "{refused}");
    }
}
