//! `/v2.0/vpn/ipsec-site-connections`: attribute map, wire view and request parsing.

use serde_json::json;
use vpnaas_core::algorithms::Initiator;
use vpnaas_core::resources::{ConnectionPatch, Draft, NewConnection, SiteConnection};
use vpnaas_core::values::{DEFAULT_MTU, MAX_MTU};
use vpnaas_core::Fault;

use super::body::{req, req_rw, ro, rw, Attr, Attributes, Overrides, MAX_LEN};
use super::view::{Text, View};
use super::{common, Collection};
use crate::auth::Caller;
use crate::certs;
use crate::clock::now_micros;
use crate::error::Result;
use crate::service::Service;
use vpnaas_core::profile::Profile;
use vpnaas_core::resources::{AuthMode, AuthPatch};

const ATTRS: &[Attr] = &[
    req_rw("peer_address"),
    req_rw("peer_id"),
    rw("local_id"),
    rw("peer_cidrs"),
    rw("local_ep_group_id"),
    rw("peer_ep_group_id"),
    ro("route_mode"),
    rw("mtu"),
    rw("initiator"),
    // ADR 0017: writable (the reference has psk only); the profile's rules still apply.
    rw("auth_mode"),
    // Required for auth_mode psk only (ADR 0017): checked when the mode is known.
    rw("psk"),
    rw("local_certificate_id"),
    rw("peer_ca"),
    rw("dpd"),
    rw("admin_state_up"),
    ro("status"),
    req("vpnservice_id"),
    req("ikepolicy_id"),
    req("ipsecpolicy_id"),
];

impl Collection for SiteConnection {
    const SINGULAR: &'static str = "ipsec_site_connection";
    const PLURAL: &'static str = "ipsec_site_connections";
    const PATH: &'static str = "/v2.0/vpn/ipsec-site-connections";
    const ATTRS: &'static [Attr] = ATTRS;

    fn overrides(profile: &'static Profile) -> Overrides {
        Overrides { settable: profile.settable, optional: profile.optional }
    }

    fn view(&self, profile: &Profile, v: &mut View<'_>) {
        let s = &self.spec;
        common(&self.meta, profile, v);
        v.text("peer_address", &s.peer_address)
            .field("peer_id", &s.peer_id)
            .field("local_id", &s.local_id)
            .field("peer_cidrs", &s.peer_cidrs.iter().map(Text).collect::<Vec<_>>())
            .opt_text("local_ep_group_id", s.local_ep_group_id.as_ref())
            .opt_text("peer_ep_group_id", s.peer_ep_group_id.as_ref())
            .field("route_mode", "static")
            .field("mtu", &s.mtu)
            .field("initiator", s.initiator.as_str())
            .field("auth_mode", s.auth.mode().as_str());
        // The specification documents return the PSK to its owner (ADR 0001 D7). The service
        // opens it only for callers the secret rule lets see it: for the others it stays
        // sealed, and the attribute is left out, as Neutron's attribute policy leaves it out
        // (ADR 0040). A certificate connection has none: null.
        match s.auth.psk() {
            Some(sealed_or_clear) => {
                if let Some(clear) = sealed_or_clear.clear() {
                    v.field("psk", clear.expose());
                }
            }
            None => {
                v.field("psk", &None::<&str>);
            }
        }
        v.opt_text("local_certificate_id", s.auth.certs().map(|c| c.local_certificate_id))
            .field("peer_ca", &s.auth.certs().map(|c| c.peer_ca.as_str()))
            .field(
                "dpd",
                &json!({"action": s.dpd.action.as_str(), "interval": s.dpd.interval, "timeout": s.dpd.timeout}),
            )
            .field("admin_state_up", &s.admin_state_up)
            .field("status", s.status.as_str())
            .text("vpnservice_id", s.vpnservice_id)
            .text("ikepolicy_id", s.ikepolicy_id)
            .text("ipsecpolicy_id", s.ipsecpolicy_id)
            .field("tunnel", &super::detail::Tunnel::of(self, profile));
    }

    fn hidden(profile: &'static Profile) -> &'static [&'static str] {
        profile.hidden_connection_fields
    }

    /// Admins also see why a gateway reports ERROR (ADR 0003, Status), unless the profile's responses
    /// have a fixed field set.
    fn admin_view(&self, profile: &Profile, v: &mut View<'_>) {
        if profile.hidden_connection_fields.is_empty() {
            v.field("status_description", &self.spec.status_reason);
        }
    }

    async fn create(svc: &Service, caller: &Caller, mut f: Attributes) -> Result<Self> {
        let profile = svc.profile();
        profile.check_supported(|attr| f.has(attr))?;
        for (attr, _) in profile.settable {
            if let Some(value) = f.string(attr, MAX_LEN)? {
                profile.check_setting(attr, &value)?;
            }
        }
        let owner = f.owner()?;
        let vpnservice_id = f.uuid("vpnservice_id")?.ok_or(Fault::RequiredMissing("vpnservice_id"))?;
        let ikepolicy_id = f.uuid("ikepolicy_id")?.ok_or(Fault::RequiredMissing("ikepolicy_id"))?;
        let ipsecpolicy_id = f.uuid("ipsecpolicy_id")?.ok_or(Fault::RequiredMissing("ipsecpolicy_id"))?;
        let mut p = patch(&mut f)?;
        profile.check_connection_request(&mut p)?;
        let auth = p.auth_patch().resolve(None)?;
        let new = NewConnection {
            peer_address: p.peer_address.ok_or(Fault::RequiredMissing("peer_address"))?,
            peer_id: p.peer_id.ok_or(Fault::RequiredMissing("peer_id"))?,
            local_id: p.local_id.unwrap_or_default(),
            peer_cidrs: p.peer_cidrs.unwrap_or_default(),
            local_ep_group_id: p.local_ep_group_id.flatten(),
            peer_ep_group_id: p.peer_ep_group_id.flatten(),
            mtu: p.mtu.unwrap_or(DEFAULT_MTU),
            initiator: p.initiator.unwrap_or(Initiator::BiDirectional),
            auth,
            dpd: p.dpd.unwrap_or_default(),
            admin_state_up: p.admin_state_up.unwrap_or(true),
            vpnservice_id,
            ikepolicy_id,
            ipsecpolicy_id,
        };
        svc.create_connection(caller, Draft::new(owner, p.text, new)).await
    }

    async fn update(svc: &Service, caller: &Caller, id: &str, mut f: Attributes) -> Result<Self> {
        let profile = svc.profile();
        profile.check_supported(|attr| f.has(attr))?;
        let mut p = patch(&mut f)?;
        profile.check_connection_request(&mut p)?;
        svc.update_connection(caller, id, p).await
    }

    async fn delete(svc: &Service, caller: &Caller, id: &str) -> Result<()> {
        svc.delete_connection(caller, id).await
    }
}

fn mtu(f: &mut Attributes) -> Result<Option<i64>, Fault> {
    match f.int("mtu")? {
        Some(m) if m > MAX_MTU => {
            Err(Fault::invalid("mtu", format!("'{m}' is too large - must be no more than '{MAX_MTU}'")))
        }
        other => Ok(other),
    }
}

/// The attributes a create and an update share, in the reference's validation order.
fn patch(f: &mut Attributes) -> Result<ConnectionPatch, Fault> {
    Ok(ConnectionPatch {
        text: f.text_patch()?,
        peer_address: f.peer_address("peer_address")?,
        peer_id: f.nonempty("peer_id", MAX_LEN)?,
        local_id: f.string("local_id", MAX_LEN)?,
        peer_cidrs: f.cidrs("peer_cidrs")?,
        local_ep_group_id: f.uuid_or_none("local_ep_group_id")?,
        peer_ep_group_id: f.uuid_or_none("peer_ep_group_id")?,
        mtu: mtu(f)?,
        initiator: f.choice("initiator", Initiator::parse)?,
        psk: f.psk("psk")?,
        auth: AuthPatch {
            auth_mode: f.choice("auth_mode", AuthMode::parse)?,
            psk: None,
            local_certificate_id: f.uuid_or_none("local_certificate_id")?,
            peer_ca: match f.pem("peer_ca")? {
                Some(Some(text)) => Some(Some(certs::peer_ca("peer_ca", &text, now_micros())?)),
                other => other.map(|_| None),
            },
        },
        dpd: f.dpd("dpd")?,
        admin_state_up: f.boolean("admin_state_up")?,
    })
}
