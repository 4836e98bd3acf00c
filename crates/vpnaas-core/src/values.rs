//! Constrained values (CIDRs, peer addresses, pre-shared keys, lifetimes, DPD), each built only by parsing.

use std::fmt;
use std::net::IpAddr;

use crate::algorithms::{DpdAction, LifetimeUnits};

/// IP version 4 or 6.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum IpVersion {
    V4,
    V6,
}

impl IpVersion {
    pub fn of(addr: &IpAddr) -> IpVersion {
        match addr {
            IpAddr::V4(_) => IpVersion::V4,
            IpAddr::V6(_) => IpVersion::V6,
        }
    }
    pub fn number(self) -> u8 {
        match self {
            IpVersion::V4 => 4,
            IpVersion::V6 => 6,
        }
    }
    pub fn from_number(n: i64) -> Option<IpVersion> {
        match n {
            4 => Some(IpVersion::V4),
            6 => Some(IpVersion::V6),
            _ => None,
        }
    }
    /// The smallest MTU of the version: RFC 791 (68) and RFC 8200 (1280).
    pub fn min_mtu(self) -> i64 {
        match self {
            IpVersion::V4 => 68,
            IpVersion::V6 => 1280,
        }
    }
}

/// A connection's MTU when the request gives none (the reference's default).
pub const DEFAULT_MTU: i64 = 1500;

/// The largest MTU a connection accepts: the IPv4 total-length limit (the reference sets none).
pub const MAX_MTU: i64 = 65535;

/// Why a text is not a CIDR.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CidrError {
    NoPrefix,
    BadAddress,
    BadPrefix,
    /// An IPv4 CIDR that is not in its canonical text (neutron-lib `validate_subnet`).
    NotCanonical,
}

/// An address with a prefix length, `<net_address>/<prefix>`. Host bits may be set, as
/// neutron-lib's `validate_subnet` allows; the text is kept in canonical form.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Cidr {
    addr: IpAddr,
    prefix: u8,
}

impl Cidr {
    pub fn parse(text: &str) -> Result<Cidr, CidrError> {
        let (addr, prefix) = text.split_once('/').ok_or(CidrError::NoPrefix)?;
        let addr: IpAddr = addr.parse().map_err(|_| CidrError::BadAddress)?;
        if prefix.is_empty() || prefix.len() > 3 || !prefix.bytes().all(|b| b.is_ascii_digit()) {
            return Err(CidrError::BadPrefix);
        }
        let prefix: u8 = prefix.parse().map_err(|_| CidrError::BadPrefix)?;
        let max = match addr {
            IpAddr::V4(_) => 32,
            IpAddr::V6(_) => 128,
        };
        if prefix > max {
            return Err(CidrError::BadPrefix);
        }
        let cidr = Cidr { addr, prefix };
        if matches!(addr, IpAddr::V4(_)) && cidr.to_string() != text {
            return Err(CidrError::NotCanonical);
        }
        Ok(cidr)
    }
    pub fn version(&self) -> IpVersion {
        IpVersion::of(&self.addr)
    }
    /// The first address after the network address: Neutron's default gateway of a subnet.
    pub fn first_host(&self) -> IpAddr {
        match self.addr {
            IpAddr::V4(a) => {
                let mask = u32::MAX.checked_shl(32 - u32::from(self.prefix)).unwrap_or(0);
                IpAddr::V4(std::net::Ipv4Addr::from((u32::from(a) & mask).wrapping_add(1)))
            }
            IpAddr::V6(a) => {
                let mask = u128::MAX.checked_shl(128 - u32::from(self.prefix)).unwrap_or(0);
                IpAddr::V6(std::net::Ipv6Addr::from((u128::from(a) & mask).wrapping_add(1)))
            }
        }
    }
    pub fn addr(&self) -> IpAddr {
        self.addr
    }
    pub fn prefix(&self) -> u8 {
        self.prefix
    }
}

impl fmt::Display for Cidr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.addr, self.prefix)
    }
}

/// The peer gateway: an IP address, or a host name resolved by the gateway when it
/// connects (ADR 0001 D2: the server never resolves it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PeerAddress {
    Ip(IpAddr),
    Fqdn(String),
}

impl PeerAddress {
    pub fn parse(text: &str) -> Option<PeerAddress> {
        if let Ok(ip) = text.parse::<IpAddr>() {
            return Some(PeerAddress::Ip(ip));
        }
        is_hostname(text).then(|| PeerAddress::Fqdn(text.to_owned()))
    }
    pub fn ip_version(&self) -> Option<IpVersion> {
        match self {
            PeerAddress::Ip(ip) => Some(IpVersion::of(ip)),
            PeerAddress::Fqdn(_) => None,
        }
    }
}

impl fmt::Display for PeerAddress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PeerAddress::Ip(ip) => write!(f, "{ip}"),
            PeerAddress::Fqdn(name) => f.write_str(name),
        }
    }
}

/// Stored as its text.
impl crate::descriptor::Plain for PeerAddress {
    fn scalar(&self) -> crate::descriptor::Scalar<'_> {
        crate::descriptor::Scalar::Shown(self)
    }
    fn read(row: &dyn crate::descriptor::Columns, column: &'static str) -> Result<Self, crate::descriptor::Unreadable> {
        let text = row.text(column)?;
        PeerAddress::parse(&text)
            .ok_or_else(|| crate::descriptor::Unreadable::new(column, format!("'{text}' is no peer address")))
    }
}

/// RFC 1123 host name syntax: dot-separated labels of letters, digits and inner hyphens,
/// 253 characters at most, with a top-level label that is not all digits.
pub fn is_hostname(text: &str) -> bool {
    let name = text.strip_suffix('.').unwrap_or(text);
    if name.is_empty() || name.len() > 253 {
        return false;
    }
    let labels: Vec<&str> = name.split('.').collect();
    let label_ok = |l: &&str| {
        !l.is_empty()
            && l.len() <= 63
            && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
            && !l.starts_with('-')
            && !l.ends_with('-')
    };
    labels.iter().all(label_ok) && labels.last().is_some_and(|tld| !tld.bytes().all(|b| b.is_ascii_digit()))
}

/// A pre-shared key. Its `Debug` never shows the secret; only `expose` does.
#[derive(Clone, PartialEq, Eq)]
pub struct Psk(String);

impl Psk {
    pub const MAX_LEN: usize = 255;

    /// A key a client sends: [`Psk::from_stored`]'s rules, and only what both ends of a
    /// tunnel can be configured with (ADR 0013 §3): no control characters (NUL, tab, line
    /// breaks, DEL, C1) and no white space at either end. Why a PSK is refused; the reason
    /// never quotes the key.
    pub fn parse(text: &str) -> Result<Psk, &'static str> {
        let psk = Psk::from_stored(text)?;
        if text.chars().any(char::is_control) {
            return Err("the pre-shared key must not contain control characters (NUL, tab, line breaks, DEL): \
                        a peer cannot be configured with them");
        }
        if text.starts_with(char::is_whitespace) || text.ends_with(char::is_whitespace) {
            return Err("the pre-shared key must not begin or end with white space: configuration files and \
                        forms drop it, and the two ends would hold different keys");
        }
        Ok(psk)
    }

    /// A key already accepted (a stored row, a gateway's desired state): non-empty and at
    /// most [`Psk::MAX_LEN`] characters. Keys stored before [`Psk::parse`] refused control
    /// characters stay readable.
    pub fn from_stored(text: &str) -> Result<Psk, &'static str> {
        if text.is_empty() {
            return Err("the pre-shared key must not be empty");
        }
        if text.chars().count() > Self::MAX_LEN {
            return Err("the pre-shared key exceeds maximum length of 255");
        }
        Ok(Psk(text.to_owned()))
    }
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Psk {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Psk(***)")
    }
}

/// A connection's pre-shared key as the service holds it: in clear while a request works
/// with it, sealed (an opaque text made by the server's key ring) as the database holds
/// it. Rows are read sealed and written sealed; only answers to the owner and a gateway's
/// desired state open it. Neither form ever prints.
#[derive(Clone, PartialEq, Eq)]
pub enum StoredPsk {
    Clear(Psk),
    Sealed(String),
}

impl StoredPsk {
    /// How every sealed value starts (`psk1:<key id>:<base64>`); the sealing itself is the
    /// server's (`secrets.rs`).
    pub const SEALED_PREFIX: &'static str = "psk1:";

    /// Whether a stored text is a sealed value (rows from before sealing hold the key in clear).
    pub fn is_sealed_text(text: &str) -> bool {
        text.starts_with(Self::SEALED_PREFIX)
    }

    /// A stored column's value: sealed as it is, or a clear key of an older row.
    pub fn from_column(text: String) -> Result<StoredPsk, &'static str> {
        if Self::is_sealed_text(&text) {
            Ok(StoredPsk::Sealed(text))
        } else {
            Ok(StoredPsk::Clear(Psk::from_stored(&text)?))
        }
    }

    /// The key, if it is open.
    pub fn clear(&self) -> Option<&Psk> {
        match self {
            StoredPsk::Clear(p) => Some(p),
            StoredPsk::Sealed(_) => None,
        }
    }
}

impl fmt::Debug for StoredPsk {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            StoredPsk::Clear(_) => "StoredPsk::Clear(***)",
            StoredPsk::Sealed(_) => "StoredPsk::Sealed(***)",
        })
    }
}

/// A private key in PEM (PKCS#8), as a certificate resource holds it (ADR 0017). Its
/// `Debug` never shows it; only `expose` does. The server checks it before it makes one.
#[derive(Clone, PartialEq, Eq)]
pub struct PrivateKey(String);

impl PrivateKey {
    /// A key the server has checked (or read back from its own storage).
    pub fn checked(pem: String) -> PrivateKey {
        PrivateKey(pem)
    }
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for PrivateKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("PrivateKey(***)")
    }
}

/// A certificate's private key as the service holds it: like [`StoredPsk`], in clear only
/// while a request or a gateway's desired state needs it, sealed in the database.
#[derive(Clone, PartialEq, Eq)]
pub enum StoredKey {
    Clear(PrivateKey),
    Sealed(String),
}

impl StoredKey {
    pub fn clear(&self) -> Option<&PrivateKey> {
        match self {
            StoredKey::Clear(k) => Some(k),
            StoredKey::Sealed(_) => None,
        }
    }
}

impl fmt::Debug for StoredKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            StoredKey::Clear(_) => "StoredKey::Clear(***)",
            StoredKey::Sealed(_) => "StoredKey::Sealed(***)",
        })
    }
}

/// A security association lifetime. The API accepts seconds only, at least 60.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Lifetime {
    pub units: LifetimeUnits,
    pub value: i64,
}

impl Lifetime {
    pub const MIN_VALUE: i64 = 60;

    /// The lifetime in seconds (the only unit; a negative value, which the API refuses, is 0).
    pub fn seconds(&self) -> u64 {
        match self.units {
            LifetimeUnits::Seconds => u64::try_from(self.value).unwrap_or(0),
        }
    }
}

impl Default for Lifetime {
    /// The reference's DB layer fills in `seconds` and `3600`.
    fn default() -> Self {
        Lifetime { units: LifetimeUnits::Seconds, value: 3600 }
    }
}

/// Dead peer detection settings; `interval > 0` and `timeout > interval` are checked by
/// the connection rules, so that partial updates are checked against stored values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Dpd {
    pub action: DpdAction,
    pub interval: i64,
    pub timeout: i64,
}

impl Default for Dpd {
    fn default() -> Self {
        Dpd { action: DpdAction::Hold, interval: 30, timeout: 120 }
    }
}

/// Why a text of the gateway wire is not the value it stands for; serde reports its message.
#[derive(Debug, thiserror::Error)]
enum WireTextError {
    #[error("{text:?} is not a CIDR: {cause:?}")]
    Cidr { text: String, cause: CidrError },
    #[error("{0:?} is not a peer address")]
    PeerAddress(String),
    /// The reason only: the text is a key.
    #[error("{0}")]
    Psk(&'static str),
}

/// Text forms on the gateway wire (ADR 0003): CIDRs, peer addresses and the PSK as strings.
macro_rules! text_serde {
    ($t:ty, $show:expr, $parse:expr) => {
        impl serde::Serialize for $t {
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                let show: fn(&$t) -> String = $show;
                s.serialize_str(&show(self))
            }
        }
        impl<'de> serde::Deserialize<'de> for $t {
            fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let text = <String as serde::Deserialize>::deserialize(d)?;
                let parse: fn(&str) -> Result<$t, WireTextError> = $parse;
                parse(&text).map_err(serde::de::Error::custom)
            }
        }
    };
}
text_serde!(Cidr, |c| c.to_string(), |t| Cidr::parse(t)
    .map_err(|cause| WireTextError::Cidr { text: t.to_owned(), cause }));
text_serde!(PeerAddress, |p| p.to_string(), |t| PeerAddress::parse(t)
    .ok_or_else(|| WireTextError::PeerAddress(t.to_owned())));
// The gateway needs the key itself; `Debug` still never shows it.
text_serde!(Psk, |p| p.expose().to_owned(), |t| Psk::from_stored(t).map_err(WireTextError::Psk));
text_serde!(PrivateKey, |k| k.expose().to_owned(), |t| Ok(PrivateKey::checked(t.to_owned())));

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cidr_accepts_v4_with_host_bits_and_long_v6() {
        assert_eq!(Cidr::parse("10.0.0.1/24").map(|c| c.to_string()), Ok("10.0.0.1/24".into()));
        let long = "2001:db8:1234:5678:9abc:def0:1234:5678/128";
        assert_eq!(Cidr::parse(long).map(|c| c.version()), Ok(IpVersion::V6));
    }

    #[test]
    fn first_host_is_the_address_after_the_network() {
        assert_eq!(Cidr::parse("10.1.0.77/24").unwrap().first_host().to_string(), "10.1.0.1");
        assert_eq!(Cidr::parse("2001:db8:1::/64").unwrap().first_host().to_string(), "2001:db8:1::1");
        assert_eq!(Cidr::parse("0.0.0.0/0").unwrap().first_host().to_string(), "0.0.0.1");
    }

    #[test]
    fn cidr_rejects_bad_texts() {
        assert_eq!(Cidr::parse("10.0.0.0"), Err(CidrError::NoPrefix));
        assert_eq!(Cidr::parse("1.0.0.0/33"), Err(CidrError::BadPrefix));
        assert_eq!(Cidr::parse("1.0.0.0/+3"), Err(CidrError::BadPrefix));
        assert_eq!(Cidr::parse("x/24"), Err(CidrError::BadAddress));
        assert_eq!(Cidr::parse("2000::1"), Err(CidrError::NoPrefix));
    }

    #[test]
    fn peer_address_accepts_ips_and_hostnames_only() {
        assert_eq!(PeerAddress::parse("172.24.4.233").and_then(|p| p.ip_version()), Some(IpVersion::V4));
        assert!(matches!(PeerAddress::parse("vpn.example.com"), Some(PeerAddress::Fqdn(_))));
        assert!(PeerAddress::parse("bad host").is_none());
        assert!(PeerAddress::parse("1.2.3.999").is_none());
        assert!(PeerAddress::parse("-a.example").is_none());
    }

    #[test]
    fn psk_debug_never_shows_the_secret() {
        let psk = Psk::parse("hunter2").unwrap();
        assert_eq!(format!("{psk:?}"), "Psk(***)");
        assert!(Psk::parse("").is_err());
    }
}

/// Properties of the parsers over generated input: they never panic, accept what is valid,
/// refuse what is not, and round-trip through their text.
#[cfg(test)]
mod properties {
    use super::*;
    use proptest::prelude::*;
    use std::net::{Ipv4Addr, Ipv6Addr};

    proptest! {
        #[test]
        fn cidr_parse_never_panics_and_its_text_parses_back(text in "\\PC{0,60}") {
            if let Ok(c) = Cidr::parse(&text) {
                prop_assert_eq!(Cidr::parse(&c.to_string()), Ok(c));
            }
        }

        #[test]
        fn every_v4_cidr_in_canonical_text_is_accepted(a in any::<u32>(), prefix in 0u8..=32) {
            let text = format!("{}/{prefix}", Ipv4Addr::from(a));
            let c = Cidr::parse(&text).unwrap();
            prop_assert_eq!(c.to_string(), text);
            prop_assert_eq!(c.version(), IpVersion::V4);
        }

        #[test]
        fn every_v6_cidr_is_accepted_in_canonical_form(a in any::<u128>(), prefix in 0u8..=128) {
            let addr = Ipv6Addr::from(a);
            let c = Cidr::parse(&format!("{addr}/{prefix}")).unwrap();
            prop_assert_eq!((c.addr(), c.prefix()), (IpAddr::V6(addr), prefix));
            prop_assert_eq!(Cidr::parse(&c.to_string()), Ok(c));
        }

        #[test]
        fn prefixes_beyond_the_address_are_refused(a in any::<u32>(), prefix in 33u32..1000) {
            let text = format!("{}/{prefix}", Ipv4Addr::from(a));
            prop_assert!(Cidr::parse(&text).is_err());
        }

        #[test]
        fn peer_address_never_panics_and_round_trips(text in "\\PC{0,80}") {
            if let Some(p) = PeerAddress::parse(&text) {
                prop_assert_eq!(PeerAddress::parse(&p.to_string()), Some(p));
            }
        }

        #[test]
        fn ip_addresses_and_host_names_are_peer_addresses(
            a in any::<u32>(),
            labels in proptest::collection::vec("[a-z][a-z0-9-]{0,10}[a-z0-9]", 1..5),
        ) {
            let ip = Ipv4Addr::from(a).to_string();
            prop_assert_eq!(PeerAddress::parse(&ip), Some(PeerAddress::Ip(IpAddr::V4(Ipv4Addr::from(a)))));
            let name = labels.join(".");
            prop_assert!(matches!(PeerAddress::parse(&name), Some(PeerAddress::Fqdn(_))), "{}", name);
        }

        #[test]
        fn texts_with_spaces_or_slashes_are_not_peer_addresses(a in "[a-z]{1,10}", b in "[a-z]{1,10}", sep in "[ /_@]") {
            let text = format!("{a}{sep}{b}");
            let parsed = PeerAddress::parse(&text);
            prop_assert_eq!(parsed, None);
        }

        #[test]
        fn psk_accepts_printable_text_without_edge_spaces(key in "[!-~][ -~]{0,200}[!-~]") {
            let psk = Psk::parse(&key).unwrap();
            prop_assert_eq!(psk.expose(), key.as_str());
            prop_assert_eq!(format!("{psk:?}"), "Psk(***)");
        }

        #[test]
        fn psk_refuses_control_characters_anywhere(
            head in "[ -~]{0,20}",
            c in prop_oneof![0u32..0x20, Just(0x7f), 0x80u32..0xa0],
            tail in "[ -~]{0,20}",
        ) {
            let key = format!("x{head}{}{tail}x", char::from_u32(c).unwrap());
            let why = Psk::parse(&key).unwrap_err();
            prop_assert!(!why.contains(&key));
            // A key stored earlier is still readable.
            prop_assert!(Psk::from_stored(&key).is_ok());
        }

        #[test]
        fn psk_parse_never_panics_and_never_quotes_the_key(key in "\\PC{0,300}") {
            match Psk::parse(&key) {
                Ok(p) => prop_assert!(p.expose() == key && key.chars().count() <= Psk::MAX_LEN),
                Err(why) => prop_assert!(key.len() < 4 || !why.contains(&key)),
            }
        }

        #[test]
        fn lifetimes_and_dpd_round_trip_on_the_gateway_wire(value in any::<i64>(), interval in any::<i64>(), timeout in any::<i64>()) {
            let l = Lifetime { units: LifetimeUnits::Seconds, value };
            let back: Lifetime = serde_json::from_str(&serde_json::to_string(&l).unwrap()).unwrap();
            prop_assert_eq!(back, l);
            prop_assert_eq!(l.seconds(), u64::try_from(value).unwrap_or(0));
            let d = Dpd { action: DpdAction::Restart, interval, timeout };
            let back: Dpd = serde_json::from_str(&serde_json::to_string(&d).unwrap()).unwrap();
            prop_assert_eq!(back, d);
        }
    }
}
