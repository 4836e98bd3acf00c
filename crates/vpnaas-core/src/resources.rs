//! The five VPNaaS resources and the router/subnet inventory: stored shapes, drafts (create) and patches (update).

use std::net::{Ipv4Addr, Ipv6Addr};

use uuid::Uuid;

use crate::algorithms::*;
use crate::contract::{IkeProposal, IpsecProposal};
use crate::descriptor::{Choice, Choices, Fields};
use crate::fault::Fault;
use crate::values::{Cidr, Dpd, IpVersion, Lifetime, PeerAddress, Psk, StoredKey, StoredPsk};
use crate::wire::{self, Attribute, FilterKind};

/// What every resource has: identity, owner, the two free texts and the bookkeeping of ADR 0001 D6.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Meta {
    pub id: Uuid,
    pub project_id: String,
    pub name: String,
    pub description: String,
    /// Microseconds since the Unix epoch, UTC.
    pub created_at: i64,
    pub updated_at: i64,
    pub revision_number: i64,
}

impl Meta {
    pub fn new(project_id: String, name: String, description: String, now: i64) -> Meta {
        Meta { id: Uuid::new_v4(), project_id, name, description, created_at: now, updated_at: now, revision_number: 1 }
    }

    /// Marks a change: a later `updated_at` and the next revision.
    pub fn touch(&mut self, now: i64) {
        self.updated_at = now.max(self.updated_at);
        self.revision_number += 1;
    }
}

/// The owner a create request asks for (`tenant_id` / `project_id`), checked against the caller later.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Owner(pub Option<String>);

/// A create request: owner, name, description and the resource's own attributes.
#[derive(Debug, Clone, PartialEq)]
pub struct Draft<S> {
    pub owner: Owner,
    pub name: String,
    pub description: String,
    pub spec: S,
}

impl<S> Draft<S> {
    /// A create request; absent texts are `''`, as the reference defaults them.
    pub fn new(owner: Owner, text: TextPatch, spec: S) -> Draft<S> {
        Draft { owner, name: text.name.unwrap_or_default(), description: text.description.unwrap_or_default(), spec }
    }
}

/// An update of the two common texts.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TextPatch {
    pub name: Option<String>,
    pub description: Option<String>,
}

impl TextPatch {
    pub fn apply(&self, meta: &mut Meta) {
        if let Some(n) = &self.name {
            meta.name.clone_from(n);
        }
        if let Some(d) = &self.description {
            meta.description.clone_from(d);
        }
    }
}

/// A stored resource: common metadata plus its own attributes.
#[derive(Debug, Clone, PartialEq)]
pub struct Stored<S> {
    pub meta: Meta,
    pub spec: S,
}

// ---------------------------------------------------------------- policies

/// A lifetime update: only the given parts change.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct LifetimePatch {
    pub units: Option<LifetimeUnits>,
    pub value: Option<i64>,
}

impl LifetimePatch {
    pub fn apply(&self, lifetime: &mut Lifetime) {
        if let Some(u) = self.units {
            lifetime.units = u;
        }
        if let Some(v) = self.value {
            lifetime.value = v;
        }
    }
}

/// What the two policies share beside their choices: a lifetime, and an update built from the
/// two texts and a lifetime, to which the choices then add.
pub trait PolicySpec: Choices {
    /// The attribute map ([`crate::wire`]): each choice, writable and a filter, then `lifetime`.
    const MAP: &'static [Attribute];
    fn lifetime(&self) -> &Lifetime;
    fn lifetime_mut(&mut self) -> &mut Lifetime;
    fn update(text: TextPatch, lifetime: Option<LifetimePatch>) -> Self::Patch;
}

/// Declares a policy: its attributes (each a choice of one wire enum, with its default, and in
/// parentheses an OpenAPI note if it needs one) followed by `lifetime`; its stored type; its update; and its
/// [`Choices`] table, which parsing, views, rows, filters and the OpenAPI document all read
/// (ADR 0036). A new attribute is one line here plus its migration.
macro_rules! policy {
    (
        $(#[$doc:meta])*
        $spec:ident, $patch:ident, $stored:ident {
            $($field:ident: $ty:ident = $default:ident $(($note:literal))?),+ $(,)?
        }
    ) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
        pub struct $spec {
            $(pub $field: $ty,)+
            pub lifetime: Lifetime,
        }

        impl Default for $spec {
            fn default() -> Self {
                $spec { $($field: $ty::$default,)+ lifetime: Lifetime::default() }
            }
        }

        pub type $stored = Stored<$spec>;

        /// An update: only the given attributes change.
        #[derive(Debug, Clone, Default, PartialEq, Eq)]
        pub struct $patch {
            pub text: TextPatch,
            $(pub $field: Option<$ty>,)+
            pub lifetime: Option<LifetimePatch>,
        }

        impl $patch {
            /// Whether the update touches anything a gateway negotiates with (ADR 0001 D2:
            /// only these are refused while a connection uses the policy): every attribute
            /// but the two texts.
            pub fn touches_crypto(&self) -> bool {
                $(self.$field.is_some() ||)+ self.lifetime.is_some()
            }
            pub fn apply(&self, p: &mut $stored) {
                self.text.apply(&mut p.meta);
                self.apply_spec(&mut p.spec);
            }
            /// Applies the non-text attributes (on create, over the defaults).
            pub fn apply_spec(&self, s: &mut $spec) {
                $(set(&mut s.$field, self.$field);)+
                if let Some(l) = &self.lifetime {
                    l.apply(&mut s.lifetime);
                }
            }
        }

        impl PolicySpec for $spec {
            const MAP: &'static [Attribute] =
                &[$(wire::rw(stringify!($field)).filtered(FilterKind::Text),)+ wire::rw(wire::LIFETIME)];
            fn lifetime(&self) -> &Lifetime {
                &self.lifetime
            }
            fn lifetime_mut(&mut self) -> &mut Lifetime {
                &mut self.lifetime
            }
            fn update(text: TextPatch, lifetime: Option<LifetimePatch>) -> $patch {
                $patch { text, lifetime, ..$patch::default() }
            }
        }

        impl Choices for $spec {
            type Patch = $patch;
            const CHOICES: &'static [Choice<$spec, $patch>] = &[$(
                Choice {
                    name: stringify!($field),
                    words: $ty::ALL,
                    note: policy!(@note $($note)?),
                    get: |s| s.$field.as_str(),
                    set: |s, word| {
                        s.$field = $ty::parse(stringify!($field), word)?;
                        Ok(())
                    },
                    patch: |p, word| {
                        p.$field = Some($ty::parse(stringify!($field), word)?);
                        Ok(())
                    },
                }
            ),+];
        }
    };
    (@note) => { None };
    (@note $note:literal) => { Some($note) };
}

// ---------------------------------------------------------------- IKE policies

policy! {
    /// An IKE policy's own attributes; the defaults are those of neutron-lib's API definition.
    IkeSpec, IkePatch, IkePolicy {
        auth_algorithm: AuthAlgorithm = Sha1,
        encryption_algorithm: EncryptionAlgorithm = Aes128,
        phase1_negotiation_mode: Phase1Mode = Main,
        ike_version: IkeVersion = V1,
        pfs: Pfs = Group5,
    }
}

/// The gateway's share of an IKE policy (ADR 0003).
impl From<&IkeSpec> for IkeProposal {
    fn from(s: &IkeSpec) -> IkeProposal {
        IkeProposal {
            auth_algorithm: s.auth_algorithm,
            encryption_algorithm: s.encryption_algorithm,
            phase1_negotiation_mode: s.phase1_negotiation_mode,
            lifetime_secs: s.lifetime.seconds(),
            ike_version: s.ike_version,
            pfs: s.pfs,
        }
    }
}

impl Default for IkeProposal {
    /// What a policy created with no attributes negotiates.
    fn default() -> Self {
        IkeProposal::from(&IkeSpec::default())
    }
}

// -------------------------------------------------------------- IPsec policies

policy! {
    /// An IPsec policy's own attributes; the defaults are those of neutron-lib's API definition.
    IpsecSpec, IpsecPatch, IpsecPolicy {
        transform_protocol: TransformProtocol = Esp ("`ah-esp` is refused by the strongSwan driver"),
        auth_algorithm: AuthAlgorithm = Sha1,
        encryption_algorithm: EncryptionAlgorithm = Aes128,
        encapsulation_mode: EncapsulationMode = Tunnel,
        pfs: Pfs = Group5,
    }
}

/// The gateway's share of an IPsec policy (ADR 0003).
impl From<&IpsecSpec> for IpsecProposal {
    fn from(s: &IpsecSpec) -> IpsecProposal {
        IpsecProposal {
            transform_protocol: s.transform_protocol,
            auth_algorithm: s.auth_algorithm,
            encryption_algorithm: s.encryption_algorithm,
            encapsulation_mode: s.encapsulation_mode,
            lifetime_secs: s.lifetime.seconds(),
            pfs: s.pfs,
        }
    }
}

impl Default for IpsecProposal {
    /// What a policy created with no attributes negotiates.
    fn default() -> Self {
        IpsecProposal::from(&IpsecSpec::default())
    }
}

// ---------------------------------------------------------------- VPN services

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServiceSpec {
    pub router_id: Uuid,
    /// Set in legacy mode: the one local subnet of every connection of the service.
    pub subnet_id: Option<Uuid>,
    pub admin_state_up: bool,
    /// Copied from the router's gateway at create, as the reference's driver does.
    pub external_v4_ip: Option<Ipv4Addr>,
    pub external_v6_ip: Option<Ipv6Addr>,
    pub status: Status,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewService {
    pub router_id: Uuid,
    pub subnet_id: Option<Uuid>,
    pub admin_state_up: bool,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ServicePatch {
    pub text: TextPatch,
    pub admin_state_up: Option<bool>,
}

impl ServicePatch {
    pub fn apply(&self, s: &mut VpnService) {
        self.text.apply(&mut s.meta);
        set(&mut s.spec.admin_state_up, self.admin_state_up);
    }
}

pub type VpnService = Stored<ServiceSpec>;

/// A blank to read a row into: every member is then set from its column.
impl Default for ServiceSpec {
    fn default() -> Self {
        ServiceSpec {
            router_id: Uuid::nil(),
            subnet_id: None,
            admin_state_up: true,
            external_v4_ip: None,
            external_v6_ip: None,
            status: Status::PendingCreate,
        }
    }
}

/// All of a VPN service's attributes but `flavor_id` (always null, never stored).
impl Fields for ServiceSpec {
    const FIELDS: &'static [crate::descriptor::Field<Self>] = crate::fields!(wire::VPNSERVICE;
        wire::ROUTER_ID => router_id,
        wire::SUBNET_ID => subnet_id,
        wire::ADMIN_STATE_UP => admin_state_up,
        wire::EXTERNAL_V4_IP => external_v4_ip,
        wire::EXTERNAL_V6_IP => external_v6_ip,
        wire::STATUS => status,
    );
}

// ------------------------------------------------------------- endpoint groups

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupSpec {
    pub endpoint_type: EndpointType,
    /// Canonical texts: CIDRs for `cidr`, subnet UUIDs for `subnet`, as given otherwise.
    pub endpoints: Vec<String>,
}

pub type EndpointGroup = Stored<GroupSpec>;

/// A blank to read a row into: the type is set from its column, the endpoints from the
/// child table.
impl Default for GroupSpec {
    fn default() -> Self {
        GroupSpec { endpoint_type: EndpointType::Cidr, endpoints: Vec::new() }
    }
}

/// `type`; `endpoints` is a child list.
impl Fields for GroupSpec {
    const FIELDS: &'static [crate::descriptor::Field<Self>] = crate::fields!(wire::ENDPOINT_GROUP;
        wire::TYPE => endpoint_type,
    );
}

// ------------------------------------------------------- IPsec site connections

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConnectionSpec {
    pub peer_address: PeerAddress,
    pub peer_id: String,
    pub local_id: String,
    pub peer_cidrs: Vec<Cidr>,
    pub local_ep_group_id: Option<Uuid>,
    pub peer_ep_group_id: Option<Uuid>,
    pub mtu: i64,
    pub initiator: Initiator,
    /// How the gateways authenticate each other: a pre-shared key or certificates (ADR 0017).
    pub auth: ConnectionAuth,
    pub dpd: Dpd,
    pub admin_state_up: bool,
    pub status: Status,
    /// Why the gateway reports ERROR (for admins); cleared when the connection changes.
    pub status_reason: Option<String>,
    pub vpnservice_id: Uuid,
    pub ikepolicy_id: Uuid,
    pub ipsecpolicy_id: Uuid,
    /// What the server keeps beside the attributes; no request sets it.
    pub runtime: ConnectionRuntime,
}

/// A blank to read a row into: the plain members are set from their columns, the others
/// (`peer_cidrs`, `auth`, `dpd`) by the store.
impl Default for ConnectionSpec {
    fn default() -> Self {
        ConnectionSpec {
            peer_address: PeerAddress::Ip(std::net::IpAddr::V4(Ipv4Addr::UNSPECIFIED)),
            peer_id: String::new(),
            local_id: String::new(),
            peer_cidrs: Vec::new(),
            local_ep_group_id: None,
            peer_ep_group_id: None,
            mtu: crate::values::DEFAULT_MTU,
            initiator: Initiator::BiDirectional,
            auth: ConnectionAuth::Psk(StoredPsk::Sealed(String::new())),
            dpd: Dpd::default(),
            admin_state_up: true,
            status: Status::PendingCreate,
            status_reason: None,
            vpnservice_id: Uuid::nil(),
            ikepolicy_id: Uuid::nil(),
            ipsecpolicy_id: Uuid::nil(),
            runtime: ConnectionRuntime::default(),
        }
    }
}

/// A connection's plain attributes. Not plain, and written by hand where they are shown and
/// stored: `peer_cidrs` (a child list), `route_mode` (always `static`), the authentication
/// (`auth_mode`, `psk`, `local_certificate_id`, `peer_ca`), `dpd` (an object of three
/// columns) and the answer-only `tunnel` and `status_description`.
impl Fields for ConnectionSpec {
    const FIELDS: &'static [crate::descriptor::Field<Self>] = crate::fields!(wire::CONNECTION;
        wire::PEER_ADDRESS => peer_address,
        wire::PEER_ID => peer_id,
        wire::LOCAL_ID => local_id,
        wire::LOCAL_EP_GROUP_ID => local_ep_group_id,
        wire::PEER_EP_GROUP_ID => peer_ep_group_id,
        wire::MTU => mtu,
        wire::INITIATOR => initiator,
        wire::ADMIN_STATE_UP => admin_state_up,
        wire::STATUS => status,
        wire::VPNSERVICE_ID => vpnservice_id,
        wire::IKEPOLICY_ID => ikepolicy_id,
        wire::IPSECPOLICY_ID => ipsecpolicy_id,
    );
    const KEPT: &'static [crate::descriptor::Field<Self>] = crate::fields!(wire::CONNECTION;
        "status_reason" => status_reason,
        "ha_standby" => runtime.ha_standby,
        "ha_since" => runtime.ha_since,
        "bytes_in" => runtime.counters.bytes_in,
        "bytes_out" => runtime.counters.bytes_out,
        "packets_in" => runtime.counters.packets_in,
        "packets_out" => runtime.counters.packets_out,
        "reported_at" => runtime.reported_at,
        "status_since" => runtime.status_since,
        "down_reason" => runtime.down_reason,
    );
}

/// `auth_mode` with what it needs: the pre-shared key, or the local certificate and the
/// CAs trusted for the peer (ADR 0017).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ConnectionAuth {
    Psk(StoredPsk),
    Certs(CertAuth),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CertAuth {
    /// The certificate resource (with its private key) this side presents.
    pub local_certificate_id: Uuid,
    /// PEM of the CA certificate(s) the peer's certificate must chain to; the server
    /// checked each is a CA.
    pub peer_ca: String,
}

/// The two values of `auth_mode`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthMode {
    Psk,
    Certs,
}

impl AuthMode {
    /// Every wire value.
    pub const ALL: &'static [&'static str] = &["psk", "certs"];

    pub fn as_str(self) -> &'static str {
        match self {
            AuthMode::Psk => "psk",
            AuthMode::Certs => "certs",
        }
    }
    pub fn parse(attr: &str, value: &str) -> Result<AuthMode, Fault> {
        match value {
            "psk" => Ok(AuthMode::Psk),
            "certs" => Ok(AuthMode::Certs),
            other => Err(Fault::invalid(attr, format!("'{other}' is not in ['psk', 'certs']"))),
        }
    }
}

impl ConnectionAuth {
    pub fn mode(&self) -> AuthMode {
        match self {
            ConnectionAuth::Psk(_) => AuthMode::Psk,
            ConnectionAuth::Certs(_) => AuthMode::Certs,
        }
    }
    pub fn psk(&self) -> Option<&StoredPsk> {
        match self {
            ConnectionAuth::Psk(p) => Some(p),
            ConnectionAuth::Certs(_) => None,
        }
    }
    pub fn psk_mut(&mut self) -> Option<&mut StoredPsk> {
        match self {
            ConnectionAuth::Psk(p) => Some(p),
            ConnectionAuth::Certs(_) => None,
        }
    }
    pub fn certs(&self) -> Option<&CertAuth> {
        match self {
            ConnectionAuth::Certs(c) => Some(c),
            ConnectionAuth::Psk(_) => None,
        }
    }
}

/// What a create or update says about authentication; [`AuthPatch::resolve`] merges it
/// with what the connection had.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AuthPatch {
    pub auth_mode: Option<AuthMode>,
    pub psk: Option<Psk>,
    /// `Some(None)`: sent as null.
    pub local_certificate_id: Option<Option<Uuid>>,
    pub peer_ca: Option<Option<String>>,
}

impl AuthPatch {
    pub fn is_empty(&self) -> bool {
        self == &AuthPatch::default()
    }

    /// The connection's authentication after this request, `before` being what it had
    /// (none on create). Switching modes follows the rules of any update: what the new
    /// mode needs must be sent or kept, what it cannot use must not be sent.
    pub fn resolve(&self, before: Option<&ConnectionAuth>) -> Result<ConnectionAuth, Fault> {
        let mode = self.auth_mode.or(before.map(ConnectionAuth::mode)).unwrap_or(AuthMode::Psk);
        match mode {
            AuthMode::Psk => {
                for (attr, sent) in [
                    (wire::LOCAL_CERTIFICATE_ID, matches!(self.local_certificate_id, Some(Some(_)))),
                    (wire::PEER_CA, matches!(self.peer_ca, Some(Some(_)))),
                ] {
                    if sent {
                        return Err(Fault::invalid(attr, "only a connection with auth_mode 'certs' uses it"));
                    }
                }
                match (&self.psk, before.and_then(ConnectionAuth::psk)) {
                    (Some(p), _) => Ok(ConnectionAuth::Psk(StoredPsk::Clear(p.clone()))),
                    (None, Some(kept)) => Ok(ConnectionAuth::Psk(kept.clone())),
                    (None, None) => Err(Fault::RequiredMissing(wire::PSK)),
                }
            }
            AuthMode::Certs => {
                if self.psk.is_some() {
                    return Err(Fault::invalid(wire::PSK, "a connection with auth_mode 'certs' has no pre-shared key"));
                }
                let kept = before.and_then(ConnectionAuth::certs);
                let local_certificate_id = match self.local_certificate_id {
                    Some(id) => id,
                    None => kept.map(|c| c.local_certificate_id),
                }
                .ok_or_else(|| {
                    Fault::invalid(wire::LOCAL_CERTIFICATE_ID, "auth_mode 'certs' needs the id of a local certificate")
                })?;
                let peer_ca = match &self.peer_ca {
                    Some(ca) => ca.clone(),
                    None => kept.map(|c| c.peer_ca.clone()),
                }
                .ok_or_else(|| {
                    Fault::invalid(
                        wire::PEER_CA,
                        "auth_mode 'certs' needs the PEM of the CA certificates trusted for the peer",
                    )
                })?;
                Ok(ConnectionAuth::Certs(CertAuth { local_certificate_id, peer_ca }))
            }
        }
    }
}

/// What the server keeps about a connection beyond its API attributes: its remembered role in
/// an active/standby pair (ADR 0002) and the traffic counters its gateway last reported.
/// Stored with the connection's row, so whatever copies rows copies these too.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ConnectionRuntime {
    /// The member of a pair that stands by (the other is active).
    pub ha_standby: bool,
    /// When the member took its current role, in microseconds since the epoch (0: not yet).
    pub ha_since: i64,
    pub counters: crate::contract::Counters,
    /// When its gateway last reported on it, in microseconds since the epoch (0: never; ADR 0018).
    pub reported_at: i64,
    /// Since when it has had its status, in microseconds (0: since it was last updated).
    pub status_since: i64,
    /// Why it is `DOWN` or `ERROR`, as its gateway (or the server) classified it.
    pub down_reason: Option<crate::tunnel::DownReason>,
}

/// DPD as a request gives it: any of the three keys.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DpdPatch {
    pub action: Option<DpdAction>,
    pub interval: Option<i64>,
    pub timeout: Option<i64>,
}

impl DpdPatch {
    pub fn apply(&self, dpd: &mut Dpd) {
        set(&mut dpd.action, self.action);
        set(&mut dpd.interval, self.interval);
        set(&mut dpd.timeout, self.timeout);
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewConnection {
    pub peer_address: PeerAddress,
    pub peer_id: String,
    pub local_id: String,
    pub peer_cidrs: Vec<Cidr>,
    pub local_ep_group_id: Option<Uuid>,
    pub peer_ep_group_id: Option<Uuid>,
    pub mtu: i64,
    pub initiator: Initiator,
    pub auth: ConnectionAuth,
    pub dpd: DpdPatch,
    pub admin_state_up: bool,
    pub vpnservice_id: Uuid,
    pub ikepolicy_id: Uuid,
    pub ipsecpolicy_id: Uuid,
}

impl NewConnection {
    pub fn into_spec(self) -> ConnectionSpec {
        let mut dpd = Dpd::default();
        self.dpd.apply(&mut dpd);
        ConnectionSpec {
            peer_address: self.peer_address,
            peer_id: self.peer_id,
            local_id: self.local_id,
            peer_cidrs: self.peer_cidrs,
            local_ep_group_id: self.local_ep_group_id,
            peer_ep_group_id: self.peer_ep_group_id,
            mtu: self.mtu,
            initiator: self.initiator,
            auth: self.auth,
            dpd,
            admin_state_up: self.admin_state_up,
            status: Status::PendingCreate,
            status_reason: None,
            vpnservice_id: self.vpnservice_id,
            ikepolicy_id: self.ikepolicy_id,
            ipsecpolicy_id: self.ipsecpolicy_id,
            runtime: ConnectionRuntime::default(),
        }
    }
}

/// A connection update. `Some(None)` clears an endpoint group reference.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ConnectionPatch {
    pub text: TextPatch,
    pub peer_address: Option<PeerAddress>,
    pub peer_id: Option<String>,
    pub local_id: Option<String>,
    pub peer_cidrs: Option<Vec<Cidr>>,
    pub local_ep_group_id: Option<Option<Uuid>>,
    pub peer_ep_group_id: Option<Option<Uuid>>,
    pub mtu: Option<i64>,
    pub initiator: Option<Initiator>,
    pub psk: Option<Psk>,
    /// The other attributes of authentication (`psk` is above: the profiles check it).
    pub auth: AuthPatch,
    pub dpd: Option<DpdPatch>,
    pub admin_state_up: Option<bool>,
}

impl ConnectionPatch {
    /// The authentication part of the patch, `psk` included.
    pub fn auth_patch(&self) -> AuthPatch {
        AuthPatch { psk: self.psk.clone(), ..self.auth.clone() }
    }

    /// Applies the patch; fails, changing nothing, when the authentication it asks for is
    /// incomplete or mixed (ADR 0017).
    pub fn apply(&self, c: &mut SiteConnection) -> Result<(), Fault> {
        let auth = self.auth_patch();
        if !auth.is_empty() {
            c.spec.auth = auth.resolve(Some(&c.spec.auth))?;
        }
        self.apply_rest(c);
        Ok(())
    }

    fn apply_rest(&self, c: &mut SiteConnection) {
        self.text.apply(&mut c.meta);
        let s = &mut c.spec;
        if let Some(p) = &self.peer_address {
            s.peer_address = p.clone();
        }
        if let Some(p) = &self.peer_id {
            s.peer_id.clone_from(p);
        }
        if let Some(l) = &self.local_id {
            s.local_id.clone_from(l);
        }
        if let Some(p) = &self.peer_cidrs {
            s.peer_cidrs.clone_from(p);
        }
        set(&mut s.local_ep_group_id, self.local_ep_group_id);
        set(&mut s.peer_ep_group_id, self.peer_ep_group_id);
        set(&mut s.mtu, self.mtu);
        set(&mut s.initiator, self.initiator);
        if let Some(d) = &self.dpd {
            d.apply(&mut s.dpd);
        }
        set(&mut s.admin_state_up, self.admin_state_up);
        // ADR 0001 D4: a gateway that acknowledged an earlier revision must converge again.
        if s.status != Status::PendingCreate {
            s.status = Status::PendingUpdate;
        }
        s.status_reason = None;
        // ADR 0018: pending since this update (0 reads as `updated_at`), for no reason yet.
        s.runtime.status_since = 0;
        s.runtime.down_reason = None;
    }
}

pub type SiteConnection = Stored<ConnectionSpec>;

// ------------------------------------------------------------------ certificates

/// A certificate with its private key, held by vpnaas for connections that authenticate
/// with certificates (ADR 0017). Only name and description change after create.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CertSpec {
    /// PEM of the certificate.
    pub certificate: String,
    /// Write-only: never in an answer.
    pub private_key: StoredKey,
    /// PEM of the intermediate certificates, if any.
    pub chain: Option<String>,
    /// Read from the certificate: its subject DN, validity (microseconds since the epoch)
    /// and SHA-256 fingerprint.
    pub subject: String,
    pub not_before: i64,
    pub not_after: i64,
    pub fingerprint: String,
}

/// A blank to read a row into: the plain members are set from their columns, the sealed key
/// and the validity by the store.
impl Default for CertSpec {
    fn default() -> Self {
        CertSpec {
            certificate: String::new(),
            private_key: StoredKey::Sealed(String::new()),
            chain: None,
            subject: String::new(),
            not_before: 0,
            not_after: 0,
            fingerprint: String::new(),
        }
    }
}

/// A certificate's plain attributes. `private_key` is never shown (and stored only sealed),
/// and the validity is shown as a time of the profile's style: both are written by hand.
impl Fields for CertSpec {
    const FIELDS: &'static [crate::descriptor::Field<Self>] = crate::fields!(wire::CERTIFICATE_MAP;
        wire::CERTIFICATE => certificate,
        wire::CHAIN => chain,
        wire::SUBJECT => subject,
        wire::FINGERPRINT => fingerprint,
    );
}

pub type Certificate = Stored<CertSpec>;

// ------------------------------------------------------------------- inventory

/// A router's external gateway (ADR 0001 D5): its fixed IPs, one per IP version at most, and
/// the subnet each is on when the caller named it (else one is derived, ADR 0021).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Gateway {
    pub network_id: Option<Uuid>,
    pub v4: Option<Ipv4Addr>,
    pub v6: Option<Ipv6Addr>,
    pub v4_subnet: Option<Uuid>,
    pub v6_subnet: Option<Uuid>,
}

impl Gateway {
    pub fn has(&self, version: IpVersion) -> bool {
        match version {
            IpVersion::V4 => self.v4.is_some(),
            IpVersion::V6 => self.v6.is_some(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RouterSpec {
    pub admin_state_up: bool,
    pub gateway: Option<Gateway>,
    /// The network node whose agent runs this router's gateway (`binding:host_id`, ADR 0011).
    pub host: Option<String>,
}

pub type Router = Stored<RouterSpec>;

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RouterPatch {
    pub text: TextPatch,
    pub admin_state_up: Option<bool>,
    /// `Some(None)` removes the gateway.
    pub gateway: Option<Option<Gateway>>,
    /// `Some(None)` unplaces the router.
    pub host: Option<Option<String>>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SubnetSpec {
    pub cidr: Cidr,
    pub network_id: Option<Uuid>,
    /// The router this subnet is attached to through an interface, if any.
    pub router_id: Option<Uuid>,
}

pub type Subnet = Stored<SubnetSpec>;

fn set<T>(field: &mut T, value: Option<T>) {
    if let Some(v) = value {
        *field = v;
    }
}
