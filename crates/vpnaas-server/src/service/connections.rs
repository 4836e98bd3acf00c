//! IPsec site connections: every rule of ADR 0009 §2.3 in its order, over objects loaded in one transaction.

use vpnaas_core::resources::{
    Certificate, ConnectionAuth, ConnectionPatch, Draft, EndpointGroup, IkePolicy, IpsecPolicy, NewConnection,
    SiteConnection, Stored, Subnet, VpnService,
};
use vpnaas_core::rules::{self, LocalSide, Mode};
use vpnaas_core::{ha, Fault};

use super::{fetch_for_change, fetch_id, find, lock, new_meta, owner, Resource, Service};
use crate::auth::Caller;
use crate::certs;
use crate::clock::now_micros;
use crate::error::Result;
use crate::store;
use vpnaas_core::listing::{FilterValue, ListQuery};
use vpnaas_core::wire;

impl Service {
    pub async fn create_connection(&self, caller: &Caller, draft: Draft<NewConnection>) -> Result<SiteConnection> {
        let project = owner::<SiteConnection>(caller, &draft.owner)?;
        self.refresh_for_connection(draft.spec.vpnservice_id).await?;
        let new = draft.spec;
        let (service_id, ike_id, ipsec_id) = (new.vpnservice_id, new.ikepolicy_id, new.ipsecpolicy_id);
        let item = Stored { meta: new_meta(project, draft.name, draft.description), spec: new.into_spec() };
        let messages = self.rendered(caller, &item);
        let mut w = self.store.begin_write().await?;
        // ADR 0001 D2: a missing service is a 404, not the reference's 500.
        // The service row is locked: its connections' pair rule is checked one writer at a time.
        let service: VpnService = lock(&mut w, caller, &service_id.to_string()).await?;
        let _: IkePolicy = fetch_id(w.conn(), caller, ike_id).await?;
        let ipsec: IpsecPolicy = fetch_id(w.conn(), caller, ipsec_id).await?;
        rules::check_ipsec_policy_supported(&ipsec)?;
        self.profile.check_connection(&item.spec)?;
        check(w.conn(), caller, &item, &service).await?;
        check_certs(w.conn(), caller, &item).await?;
        check_pair(w.conn(), &item).await?;
        self.charge::<SiteConnection>(&mut w, &item.meta.project_id).await?;
        store::insert(w.conn(), &self.sealed(&item)?).await?;
        settle_pair(w.conn(), &item.spec).await?;
        self.note_rendered(&mut w, &messages).await?;
        self.commit_marking(w, &[service.spec.router_id], &[]).await?;
        Ok(item)
    }

    /// The stored values fill in what the patch leaves out, so mixing modes is caught
    /// (ADR 0009 §2.3, update). Accepted in any status (ADR 0001 D4).
    pub async fn update_connection(&self, caller: &Caller, id: &str, patch: ConnectionPatch) -> Result<SiteConnection> {
        self.refresh_for_connection_of(id).await?;
        let mut w = self.store.begin_write().await?;
        let mut item: SiteConnection = fetch_for_change(&mut w, caller, id, SiteConnection::RULES.update).await?;
        let before = item.spec.clone();
        patch.apply(&mut item)?;
        let service: VpnService = lock(&mut w, caller, &item.spec.vpnservice_id.to_string()).await?;
        self.profile.check_connection(&item.spec)?;
        check(w.conn(), caller, &item, &service).await?;
        check_certs(w.conn(), caller, &item).await?;
        check_pair(w.conn(), &item).await?;
        item.meta.touch(now_micros());
        store::update(w.conn(), &self.sealed(&item)?).await?;
        settle_pair(w.conn(), &before).await?;
        settle_pair(w.conn(), &item.spec).await?;
        self.note(&mut w, caller, &item).await?;
        self.commit_marking(w, &[service.spec.router_id], &[]).await?;
        self.reveal(&mut item)?;
        Ok(item)
    }

    /// The connection as the database holds it: its pre-shared key sealed.
    fn sealed(&self, item: &SiteConnection) -> Result<SiteConnection> {
        let mut row = item.clone();
        if let ConnectionAuth::Psk(psk) = &mut row.spec.auth {
            *psk = self.keys.sealed(psk, item.meta.id)?;
        }
        Ok(row)
    }

    pub async fn delete_connection(&self, caller: &Caller, id: &str) -> Result<()> {
        let mut w = self.store.begin_write().await?;
        let item: SiteConnection = fetch_for_change(&mut w, caller, id, SiteConnection::RULES.delete).await?;
        store::delete::<SiteConnection>(w.conn(), item.meta.id).await?;
        // The partner of a deleted member is alone now, and active.
        settle_pair(w.conn(), &item.spec).await?;
        self.note(&mut w, caller, &item).await?;
        let router = store::markers::router_of_service(w.conn(), item.spec.vpnservice_id).await?;
        self.commit_marking(w, &router.into_iter().collect::<Vec<_>>(), &[]).await?;
        Ok(())
    }
}

/// ADR 0017: a certificate connection's local certificate is one of its own project's (else
/// 404), and its identities are ones a certificate can hold; a `local_id` it names must be
/// the certificate's subject or one of its subjectAltNames.
async fn check_certs(conn: &mut store::Conn, caller: &Caller, item: &SiteConnection) -> Result<()> {
    let Some(auth) = item.spec.auth.certs() else {
        return Ok(());
    };
    let id = auth.local_certificate_id;
    let cert: Certificate = fetch_id(conn, caller, id).await?;
    if cert.meta.project_id != item.meta.project_id {
        return Err(Fault::CertificateNotFound(id.to_string()).into());
    }
    certs::check_identity(wire::PEER_ID, &item.spec.peer_id)?;
    if !item.spec.local_id.is_empty() {
        certs::check_identity(wire::LOCAL_ID, &item.spec.local_id)?;
        let info = certs::stored(&cert.spec.certificate)?;
        if !certs::holds(&info, &item.spec.local_id) {
            return Err(Fault::invalid(
                wire::LOCAL_ID,
                format!(
                    "'{}' is neither the subject ('{}') nor a subjectAltName of certificate {id}",
                    item.spec.local_id, info.subject
                ),
            )
            .into());
        }
    }
    Ok(())
}

/// At most two connections of one service share both endpoint groups: an active/standby pair.
async fn check_pair(conn: &mut store::Conn, item: &SiteConnection) -> Result<()> {
    let (Some(local), Some(peer)) = (item.spec.local_ep_group_id, item.spec.peer_ep_group_id) else {
        return Ok(());
    };
    let text = |id: uuid::Uuid| FilterValue::Text(id.to_string());
    let q = ListQuery::default()
        .with::<SiteConnection>(wire::VPNSERVICE_ID, text(item.spec.vpnservice_id))
        .with::<SiteConnection>(wire::LOCAL_EP_GROUP_ID, text(local))
        .with::<SiteConnection>(wire::PEER_EP_GROUP_ID, text(peer));
    let others: Vec<SiteConnection> = store::list(conn, &q).await?;
    Ok(ha::check_join(item.meta.id, &item.spec, &others)?)
}

/// Keeps the remembered roles of one service's pair of endpoint groups consistent after a
/// write: a lone member stands by for nobody; two members have exactly one standby (the
/// younger, when the flags say otherwise); a member's `ha_since` starts when it is created.
pub(crate) async fn settle_pair(conn: &mut store::Conn, spec: &vpnaas_core::resources::ConnectionSpec) -> Result<()> {
    let (Some(local), Some(peer)) = (spec.local_ep_group_id, spec.peer_ep_group_id) else {
        return Ok(());
    };
    let service = spec.vpnservice_id;
    let members = store::gateway::pair_members(conn, service, local, peer).await?;
    let standby: Vec<&str> = match members.as_slice() {
        [_, _] if members.iter().filter(|(_, s)| *s).count() == 1 => {
            members.iter().filter(|(_, s)| *s).map(|(id, _)| id.as_str()).collect()
        }
        [_, younger] => vec![younger.0.as_str()],
        _ => Vec::new(),
    };
    for (id, flag) in &members {
        let want = standby.contains(&id.as_str());
        if *flag != want {
            store::gateway::set_standby(conn, id, want).await?;
        }
    }
    store::gateway::start_role_clocks(conn, service, local, peer, now_micros()).await?;
    Ok(())
}

/// Loads the local side the connection's mode needs and runs the rules over it.
async fn check(conn: &mut store::Conn, caller: &Caller, item: &SiteConnection, service: &VpnService) -> Result<()> {
    match rules::connection_mode(&item.spec, service)? {
        Mode::Legacy => {
            let subnet = match service.spec.subnet_id {
                Some(id) => store::get::<Subnet>(conn, id).await?,
                None => None,
            };
            let Some(subnet) = subnet else {
                return Err(
                    store::StoreError::Corrupt(format!("subnet of vpnservice {} is gone", service.meta.id)).into()
                );
            };
            rules::check_connection(&item.spec, service, &LocalSide::Legacy { subnet: &subnet })?;
        }
        Mode::EndpointGroups { local, peer } => {
            let local: EndpointGroup = fetch_id(conn, caller, local).await?;
            let peer: EndpointGroup = fetch_id(conn, caller, peer).await?;
            let mut local_subnets = Vec::new();
            if local.spec.endpoint_type == vpnaas_core::algorithms::EndpointType::Subnet {
                for endpoint in &local.spec.endpoints {
                    let id = uuid::Uuid::parse_str(endpoint)
                        .map_err(|_| Fault::NonExistingSubnetInEndpointGroup(endpoint.clone()))?;
                    match find::<Subnet>(conn, caller, id).await? {
                        Some(subnet) => local_subnets.push(subnet),
                        None => return Err(Fault::NonExistingSubnetInEndpointGroup(endpoint.clone()).into()),
                    }
                }
            }
            let side = LocalSide::Groups { local: &local, local_subnets: &local_subnets, peer: &peer };
            rules::check_connection(&item.spec, service, &side)?;
        }
    }
    Ok(())
}
