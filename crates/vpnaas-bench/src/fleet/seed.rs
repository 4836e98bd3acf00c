//! Seeding a fleet through the API: shared policies and peer groups, then per router its inventory (router placed on its host, subnet, interface), VPN service, local group and connections.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Instant;

use reqwest::Method;
use serde_json::json;
use uuid::Uuid;

use crate::client::{project, Api, As};
use crate::workload::{peer_cidr, PEER_ADDRESS};

/// One seeded router: where it runs, its VPN service and its connections.
#[derive(Debug, Clone)]
pub struct SeededRouter {
    pub id: Uuid,
    pub service: String,
    pub connections: Vec<Uuid>,
}

/// The name of host `i`.
pub fn host_name(i: usize) -> String {
    format!("fleet-host-{i:05}")
}

/// The external gateway address of router `k`: its own in 172.16.0.0/12.
pub fn gateway_ip(k: usize) -> String {
    std::net::Ipv4Addr::from(0xac10_0000u32 + 10 + k as u32).to_string()
}

/// The local subnet of router `k`: its own /24 of 10.0.0.0/8.
pub fn local_cidr(k: usize) -> String {
    format!("10.{}.{}.0/24", (k >> 8) & 0xff, k & 0xff)
}

/// What seeding made and how long it took.
pub struct Seeded {
    pub routers: Vec<SeededRouter>,
    pub seconds: f64,
    pub requests: usize,
}

/// Seeds `placement.len()` routers: router `k` is placed on host `placement[k]` (`None`:
/// unplaced, for single-router agents), each with `connections` connections, and each
/// connection with its own peer endpoint group (a remote site has its own subnets).
///
/// Peer groups shared across routers would save requests, but make every create slower as
/// the fleet grows: the pair check (at most two connections of a service on one pair of
/// groups) then reads through every connection of the shared group (4,500 routers in: 9 ms
/// a create instead of 1).
pub async fn seed(
    api: &Api,
    placement: &[Option<usize>],
    connections: usize,
    concurrency: usize,
) -> anyhow::Result<Seeded> {
    let started = Instant::now();
    let ike = api
        .create(
            "/v2.0/vpn/ikepolicies",
            "ikepolicy",
            json!({"name": "fleet-ike", "auth_algorithm": "sha256", "encryption_algorithm": "aes-256",
                   "ike_version": "v2", "pfs": "group14"}),
            As::Bench,
        )
        .await?;
    let ipsec = api
        .create(
            "/v2.0/vpn/ipsecpolicies",
            "ipsecpolicy",
            json!({"name": "fleet-ipsec", "auth_algorithm": "sha256", "encryption_algorithm": "aes-256",
                   "pfs": "group14"}),
            As::Bench,
        )
        .await?;
    let shared = Arc::new((ike, ipsec, connections, placement.to_vec()));
    let next = Arc::new(AtomicUsize::new(0));
    let done = Arc::new(AtomicUsize::new(0));
    let total = placement.len();
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..concurrency.min(total).max(1) {
        let (api, shared, next, done) = (api.clone(), shared.clone(), next.clone(), done.clone());
        tasks.spawn(async move {
            let mut made = Vec::new();
            loop {
                let k = next.fetch_add(1, Ordering::Relaxed);
                if k >= shared.3.len() {
                    return Ok::<_, anyhow::Error>(made);
                }
                let (ike, ipsec, connections, placement) = &*shared;
                made.push((k, router(&api, k, placement[k], ike, ipsec, *connections).await?));
                done.fetch_add(1, Ordering::Relaxed);
            }
        });
    }
    let reporter = {
        let done = done.clone();
        tokio::spawn(async move {
            let t0 = Instant::now();
            loop {
                tokio::time::sleep(std::time::Duration::from_secs(15)).await;
                let n = done.load(Ordering::Relaxed);
                let rate = n as f64 / t0.elapsed().as_secs_f64();
                let left = (total - n.min(total)) as f64 / rate.max(1e-9);
                eprintln!("[vpnaas-bench fleet] seeded {n}/{total} routers ({rate:.0}/s, about {left:.0} s left)");
            }
        })
    };
    let mut routers = Vec::with_capacity(total);
    let mut failure = None;
    while let Some(joined) = tasks.join_next().await {
        match joined.map_err(|e| anyhow::anyhow!("seeding task: {e}")).and_then(|r| r) {
            Ok(made) => routers.extend(made),
            Err(e) => {
                failure.get_or_insert(e);
                tasks.abort_all();
            }
        }
    }
    reporter.abort();
    if let Some(e) = failure {
        return Err(e);
    }
    routers.sort_by_key(|(k, _)| *k);
    Ok(Seeded {
        routers: routers.into_iter().map(|(_, r)| r).collect(),
        seconds: started.elapsed().as_secs_f64(),
        requests: 2 + total * (5 + 2 * connections),
    })
}

/// Router `k` with everything its connections need: 5 + 2 C requests.
async fn router(
    api: &Api,
    k: usize,
    host: Option<usize>,
    ike: &str,
    ipsec: &str,
    count: usize,
) -> anyhow::Result<SeededRouter> {
    let mut attrs = json!({"name": format!("fleet-router-{k}"), "tenant_id": project(),
                           "external_gateway_info": {"external_fixed_ips": [{"ip_address": gateway_ip(k)}]}});
    if let (Some(h), Some(m)) = (host, attrs.as_object_mut()) {
        m.insert("binding:host_id".into(), host_name(h).into());
    }
    let id = api.create("/v2.0/routers", "router", attrs, As::Admin).await?;
    let subnet = api
        .create(
            "/v2.0/subnets",
            "subnet",
            json!({"name": format!("fleet-subnet-{k}"), "tenant_id": project(), "cidr": local_cidr(k)}),
            As::Admin,
        )
        .await?;
    let path = format!("/v2.0/routers/{id}/add_router_interface");
    api.setup(Method::PUT, &path, Some(json!({"subnet_id": subnet})), As::Admin, 200).await?;
    let service = api
        .create(
            "/v2.0/vpn/vpnservices",
            "vpnservice",
            json!({"name": format!("fleet-vpn-{k}"), "router_id": id}),
            As::Bench,
        )
        .await?;
    let local = api
        .create(
            "/v2.0/vpn/endpoint-groups",
            "endpoint_group",
            json!({"name": format!("fleet-local-{k}"), "type": "subnet", "endpoints": [subnet]}),
            As::Bench,
        )
        .await?;
    let mut connections = Vec::with_capacity(count);
    for j in 0..count {
        let n = (k * count + j) as u64;
        let attrs = json!({"name": format!("fleet-peer-{k}-{j}"), "type": "cidr", "endpoints": [peer_cidr(n)]});
        let peer = api.create("/v2.0/vpn/endpoint-groups", "endpoint_group", attrs, As::Bench).await?;
        let attrs = json!({
            "name": format!("fleet-{k}-{j}"),
            "psk": format!("fleet-secret-{k}-{j}"),
            "peer_address": PEER_ADDRESS,
            "peer_id": PEER_ADDRESS,
            "vpnservice_id": service,
            "ikepolicy_id": ike,
            "ipsecpolicy_id": ipsec,
            "local_ep_group_id": local,
            "peer_ep_group_id": peer,
        });
        let connection =
            api.create("/v2.0/vpn/ipsec-site-connections", "ipsec_site_connection", attrs, As::Bench).await?;
        connections.push(uuid("connection", &connection)?);
    }
    Ok(SeededRouter { id: uuid("router", &id)?, service, connections })
}

/// An id the API gave, as the gateway contract has it.
fn uuid(what: &str, id: &str) -> anyhow::Result<Uuid> {
    id.parse().map_err(|e| anyhow::anyhow!("the {what} id {id:?} is not a UUID: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_are_distinct() {
        assert_eq!(gateway_ip(0), "172.16.0.10");
        assert_eq!(local_cidr(0), "10.0.0.0/24");
        assert_eq!(local_cidr(65_535), "10.255.255.0/24");
        let cidrs: std::collections::HashSet<String> = (0..65_536).map(local_cidr).collect();
        let ips: std::collections::HashSet<String> = (0..65_536).map(gateway_ip).collect();
        assert_eq!((cidrs.len(), ips.len()), (65_536, 65_536));
        assert_eq!(host_name(7), "fleet-host-00007");
    }
}
