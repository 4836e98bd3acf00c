//! The remote site's configuration of a connection (ADR 0019): the connection as its gateway runs it, mirrored and written in the peer's dialect.

use vpnaas_core::resources::{SiteConnection, VpnService};
use vpnaas_core::Fault;
use vpnaas_strongswan::peer::{self, Format, Secret};

use super::gateway::{desired, Loaded};
use super::{fetch, Service};
use crate::auth::Caller;
use crate::error::Result;
use crate::store::{self, StoreError};

/// The rule that lets a caller who may see a connection also receive its pre-shared key in
/// an export (members of its project and admins by default; `auth/policy.rs`).
pub const PSK_RULE: &str = "get_ipsec_site_connection:psk";

impl Service {
    /// The configuration the connection's peer should run, as text in `format`. Another
    /// project's connection is its 404; a caller without [`PSK_RULE`] gets a placeholder
    /// where the pre-shared key would be.
    pub async fn peer_config(&self, caller: &Caller, id: &str, format: Format) -> Result<String> {
        let mut tx = self.store.begin_read().await?;
        let mut c: SiteConnection = fetch(&mut tx, caller, id).await?;
        let service = store::get::<VpnService>(&mut tx, c.spec.vpnservice_id)
            .await?
            .ok_or_else(|| StoreError::Corrupt(format!("the VPN service of connection {id} is gone")))?;
        if let Some(psk) = c.spec.auth.psk_mut() {
            self.keys.reveal(psk, c.meta.id)?;
        }
        let mut loaded = Loaded::default();
        let ours = desired(&mut tx, &mut loaded, &self.keys, &c, &service, None).await?;
        tx.commit().await?;
        let secret = if caller.may(PSK_RULE, &c.meta.project_id) { Secret::Include } else { Secret::Withhold };
        let unavailable = |reason: &dyn std::fmt::Display| {
            Fault::PeerConfigUnavailable {
                connection: c.meta.id.to_string(),
                format: format.as_str(),
                reason: reason.to_string(),
            }
            .into()
        };
        match format {
            Format::Swanctl => peer::swanctl(&ours, secret).map_err(|e| unavailable(&e)),
            Format::Libreswan => vpnaas_strongswan::libreswan::libreswan(&ours, secret).map_err(|e| unavailable(&e)),
        }
    }
}
