//! Quotas: what a project may hold of each resource, in Neutron's quota vocabulary (the keys
//! are the resources' singular names; -1 is unlimited).

use crate::fault::Fault;

/// The resources a quota counts, each under its Neutron quota key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Counted {
    IkePolicy,
    IpsecPolicy,
    VpnService,
    EndpointGroup,
    SiteConnection,
    Certificate,
}

impl Counted {
    /// Every counted resource, in the order answers list them.
    pub const ALL: [Counted; 6] = [
        Counted::IkePolicy,
        Counted::IpsecPolicy,
        Counted::VpnService,
        Counted::EndpointGroup,
        Counted::SiteConnection,
        Counted::Certificate,
    ];

    /// The key in a quota body, and the resource's name in an `OverQuota` message.
    pub fn key(self) -> &'static str {
        match self {
            Counted::IkePolicy => "ikepolicy",
            Counted::IpsecPolicy => "ipsecpolicy",
            Counted::VpnService => "vpnservice",
            Counted::EndpointGroup => "endpoint_group",
            Counted::SiteConnection => "ipsec_site_connection",
            Counted::Certificate => "certificate",
        }
    }

    pub fn from_key(key: &str) -> Option<Counted> {
        Counted::ALL.into_iter().find(|c| c.key() == key)
    }

    /// The refusal of a create that would take the project past its limit.
    pub fn over(self) -> Fault {
        Fault::OverQuota { overs: vec![self.key().to_owned()] }
    }
}

/// The largest limit, Neutron's (a database INTEGER).
pub const MAX: i64 = 2_147_483_647;

/// A limit: `None` is unlimited (-1 on the wire), else at most that many.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limit(Option<u64>);

impl Limit {
    pub const UNLIMITED: Limit = Limit(None);

    pub fn at_most(n: u64) -> Limit {
        Limit(Some(n))
    }

    /// A limit as the wire and the settings say it: -1 or a number from 0 to [`MAX`]. `attr`
    /// names it in the refusal (Neutron's range validator's words).
    pub fn parse(attr: &str, value: i64) -> Result<Limit, Fault> {
        match value {
            -1 => Ok(Limit::UNLIMITED),
            n if n > MAX => Err(Fault::invalid(attr, format!("'{n}' is too large - must be no larger than '{MAX}'"))),
            n if n >= 0 => Ok(Limit(Some(n.unsigned_abs()))),
            n => Err(Fault::invalid(attr, format!("'{n}' is too small - must be at least '-1'"))),
        }
    }

    /// -1 for unlimited, as the wire and the database carry it.
    pub fn wire(self) -> i64 {
        self.0.map_or(-1, |n| i64::try_from(n).unwrap_or(i64::MAX))
    }

    /// Whether one more is allowed where `used` are held.
    pub fn allows_one_more(self, used: u64) -> bool {
        self.0.is_none_or(|n| used < n)
    }

    /// The number, unless unlimited.
    pub fn finite(self) -> Option<u64> {
        self.0
    }

    pub fn is_unlimited(self) -> bool {
        self.0.is_none()
    }
}

/// The limit of each counted resource, [`Counted::ALL`]'s order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits(pub [Limit; 6]);

impl Limits {
    pub const UNLIMITED: Limits = Limits([Limit::UNLIMITED; 6]);

    pub fn get(&self, what: Counted) -> Limit {
        self.0[what as usize]
    }

    pub fn set(&mut self, what: Counted, limit: Limit) {
        self.0[what as usize] = limit;
    }
}

impl Default for Limits {
    fn default() -> Self {
        Limits::UNLIMITED
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_neutrons_and_read_back() {
        let keys: Vec<&str> = Counted::ALL.iter().map(|c| c.key()).collect();
        assert_eq!(
            keys,
            ["ikepolicy", "ipsecpolicy", "vpnservice", "endpoint_group", "ipsec_site_connection", "certificate"]
        );
        for c in Counted::ALL {
            assert_eq!(Counted::from_key(c.key()), Some(c));
        }
        assert_eq!(Counted::from_key("network"), None);
    }

    #[test]
    fn minus_one_is_unlimited_and_below_it_is_refused_naming_the_attribute() {
        assert_eq!(Limit::parse("ikepolicy", -1), Ok(Limit::UNLIMITED));
        assert_eq!(Limit::parse("ikepolicy", 0).map(Limit::wire), Ok(0));
        let refused = Limit::parse("ikepolicy", -2).unwrap_err();
        assert!(refused.to_string().contains("'-2' is too small"), "{refused}");
        let refused = Limit::parse("ikepolicy", MAX + 1).unwrap_err();
        assert!(refused.to_string().contains("'2147483648' is too large"), "{refused}");
        assert_eq!(Limit::parse("ikepolicy", MAX).map(Limit::wire), Ok(MAX));
        assert!(Limit::at_most(2).allows_one_more(1));
        assert!(!Limit::at_most(2).allows_one_more(2));
        assert!(!Limit::at_most(0).allows_one_more(0));
        assert!(Limit::UNLIMITED.allows_one_more(u64::MAX));
    }

    #[test]
    fn the_refusal_is_neutrons_over_quota() {
        let f = Counted::SiteConnection.over();
        assert_eq!(f.type_name(), "OverQuota");
        assert_eq!(f.to_string(), "Quota exceeded for resources: ['ipsec_site_connection'].");
        assert_eq!(f.class(), crate::Class::Conflict);
    }
}
