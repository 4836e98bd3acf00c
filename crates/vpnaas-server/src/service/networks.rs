//! Networks as the standalone inventory implies them (ADR 0021): read-only, one per named network or unnamed subnet, and one per router gateway's external network.

use std::collections::BTreeMap;

use uuid::Uuid;
use vpnaas_core::resources::{Gateway, Meta, Router, Subnet};
use vpnaas_core::values::IpVersion;

use super::Service;
use crate::auth::{Caller, Reach};
use crate::error::Result;
use crate::store;

/// The policy rule that guards network reads (upstream's name; ADMIN_OR_PROJECT_READER).
pub const GET_NETWORK: &str = "get_network";

/// A network of the standalone inventory: never stored, derived on every read.
#[derive(Debug, Clone, PartialEq)]
pub struct Network {
    /// Id, owner, name and times: those of the subnet or router it comes from (the first by id).
    pub meta: Meta,
    /// Its subnets: inventory subnets, then the gateway subnets of an external network.
    pub subnets: Vec<Uuid>,
    /// `router:external`: a router's gateway is on it.
    pub external: bool,
}

/// The network a subnet is on: the `network_id` it was created with, else one of its own.
pub fn subnet_network(subnet: &Subnet) -> Uuid {
    subnet.spec.network_id.unwrap_or_else(|| derived("network", subnet.meta.id))
}

/// The external network of a router's gateway: the one it names, else one of the router's own.
pub fn gateway_network(router: &Router, gateway: &Gateway) -> Uuid {
    gateway.network_id.unwrap_or_else(|| derived("external-network", router.meta.id))
}

/// The subnet of an external network that its gateways' addresses of one IP version are on;
/// not modelled, so every router on that network names the same one (ADR 0021).
pub fn gateway_subnet(network: Uuid, version: IpVersion) -> Uuid {
    derived(&format!("gateway-subnet-v{}", version.number()), network)
}

/// The router interface port of an attached subnet (`GET /v2.0/ports`), stable for the subnet.
pub fn interface_port(subnet: Uuid) -> Uuid {
    Uuid::new_v5(&Uuid::NAMESPACE_OID, subnet.as_bytes())
}

fn derived(kind: &str, id: Uuid) -> Uuid {
    Uuid::new_v5(&Uuid::NAMESPACE_OID, format!("vpnaas:{kind}:{id}").as_bytes())
}

impl Service {
    /// Every network the caller may see, in id order: its subnets' networks and its routers'
    /// external networks (`get_network`: every project's, the caller's, or none).
    pub async fn networks(&self, caller: &Caller) -> Result<Vec<Network>> {
        let project = match caller.reach(GET_NETWORK) {
            Reach::All => None,
            Reach::Own => Some(caller.project_id()),
            Reach::None => return Ok(Vec::new()),
        };
        let mut tx = self.store.begin_read().await?;
        let (subnets, routers) = store::uses::network_sources(&mut tx, project).await?;
        tx.commit().await?;
        Ok(derive(&subnets, &routers))
    }
}

/// Groups subnets by network, then adds each gateway's external network and its subnets.
fn derive(subnets: &[Subnet], routers: &[Router]) -> Vec<Network> {
    let mut nets: BTreeMap<Uuid, Network> = BTreeMap::new();
    for s in subnets {
        let id = subnet_network(s);
        let net = nets.entry(id).or_insert_with(|| Network {
            meta: Meta { id, ..s.meta.clone() },
            subnets: Vec::new(),
            external: false,
        });
        net.subnets.push(s.meta.id);
    }
    for r in routers {
        let Some(g) = &r.spec.gateway else { continue };
        let id = gateway_network(r, g);
        let net = nets.entry(id).or_insert_with(|| Network {
            meta: Meta { id, name: String::new(), description: String::new(), ..r.meta.clone() },
            subnets: Vec::new(),
            external: true,
        });
        net.external = true;
        for version in [IpVersion::V4, IpVersion::V6].into_iter().filter(|v| g.has(*v)) {
            let subnet = gateway_subnet(id, version);
            if !net.subnets.contains(&subnet) {
                net.subnets.push(subnet);
            }
        }
    }
    nets.into_values().collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use vpnaas_core::resources::{RouterSpec, Stored, SubnetSpec};
    use vpnaas_core::values::Cidr;

    fn meta(project: &str, name: &str) -> Meta {
        Meta::new(project.to_owned(), name.to_owned(), String::new(), 1)
    }

    fn subnet(name: &str, cidr: &str, network_id: Option<Uuid>) -> Subnet {
        let cidr = Cidr::parse(cidr).unwrap();
        Stored { meta: meta("p", name), spec: SubnetSpec { cidr, network_id, router_id: None } }
    }

    #[test]
    fn subnets_naming_one_network_share_it_and_the_others_get_one_each() {
        let named = Uuid::new_v4();
        let a = subnet("a", "10.0.0.0/24", Some(named));
        let b = subnet("b", "2001:db8::/64", Some(named));
        let c = subnet("c", "10.1.0.0/24", None);
        let nets = derive(&[a.clone(), b.clone(), c.clone()], &[]);
        assert_eq!(nets.len(), 2);
        let shared = nets.iter().find(|n| n.meta.id == named).unwrap();
        assert_eq!(shared.subnets, vec![a.meta.id, b.meta.id]);
        let own = nets.iter().find(|n| n.meta.id == subnet_network(&c)).unwrap();
        assert_eq!((own.subnets.clone(), own.meta.name.as_str(), own.external), (vec![c.meta.id], "c", false));
        assert_eq!(derive(std::slice::from_ref(&c), &[])[0].meta.id, own.meta.id, "stable across reads");
    }

    #[test]
    fn routers_on_one_external_network_share_its_gateway_subnets() {
        let public = Uuid::new_v4();
        let gw = |v4: &str| Gateway { network_id: Some(public), v4: v4.parse().ok(), ..Gateway::default() };
        let r1 = Stored {
            meta: meta("p", "r1"),
            spec: RouterSpec { admin_state_up: true, gateway: Some(gw("172.24.4.10")), host: None },
        };
        let r2 = Stored {
            meta: meta("q", "r2"),
            spec: RouterSpec { admin_state_up: true, gateway: Some(gw("172.24.4.11")), host: None },
        };
        let nets = derive(&[], &[r1, r2]);
        assert_eq!(nets.len(), 1);
        assert!(nets[0].external);
        assert_eq!(nets[0].subnets, vec![gateway_subnet(public, IpVersion::V4)]);
    }
}
