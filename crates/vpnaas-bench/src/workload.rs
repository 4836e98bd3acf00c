//! The workload: the inventory and VPN objects every connection needs, the deterministic connection rows, seeding, and the request each measured operation sends.

use anyhow::anyhow;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::Bytes;
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use crate::client::{id_of, json_body, project, Api, As, Req};

pub const CONNECTIONS: &str = "/v2.0/vpn/ipsec-site-connections";
pub const PEER_ADDRESS: &str = "172.24.4.233";
pub const LOCAL_CIDR: &str = "10.1.0.0/24";
pub const PEER_CIDR: &str = "10.2.0.0/24";
const GROUPS: &str = "/v2.0/vpn/endpoint-groups";

/// The peer CIDR of connection `n`: its own /28 in 100.64.0.0/10 (room for 262,144).
///
/// Each connection has its own peer endpoint group, as each remote site has its own
/// subnets: vpnaas lets at most two connections of a service share both endpoint groups
/// (an active/standby pair, to two different peers).
pub fn peer_cidr(n: u64) -> String {
    let a = 0x6440_0000u32 | ((n as u32 & 0x3_ffff) << 4);
    format!("{}/28", std::net::Ipv4Addr::from(a))
}

/// Names of the seeded sets: `list` reads the `full` rows, `page` pages through the `page` rows.
pub const FULL: &str = "full";
pub const PAGE: &str = "page";
pub const NEW: &str = "new";

/// A measured operation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum OpKind {
    Create,
    Show,
    List,
    Page,
    Update,
    Delete,
}

impl OpKind {
    pub const ALL: [OpKind; 6] =
        [OpKind::Create, OpKind::Show, OpKind::List, OpKind::Page, OpKind::Update, OpKind::Delete];

    pub fn parse(s: &str) -> Option<OpKind> {
        OpKind::ALL.into_iter().find(|k| k.name() == s)
    }

    pub fn name(self) -> &'static str {
        match self {
            OpKind::Create => "create",
            OpKind::Show => "show",
            OpKind::List => "list",
            OpKind::Page => "page",
            OpKind::Update => "update",
            OpKind::Delete => "delete",
        }
    }

    /// What the table says the operation is.
    pub fn describe(self, full_rows: usize, page_rows: usize, page_size: usize) -> String {
        match self {
            OpKind::Create => "POST a site connection".into(),
            OpKind::Show => "GET one connection".into(),
            OpKind::List => format!("GET all {full_rows} connections"),
            OpKind::Page => format!("GET ?name=&limit={page_size}&marker= of {page_rows}"),
            OpKind::Update => "PUT mtu + description".into(),
            OpKind::Delete => "DELETE a connection".into(),
        }
    }

    pub fn expected(self) -> StatusCode {
        match self {
            OpKind::Create => StatusCode::CREATED,
            OpKind::Delete => StatusCode::NO_CONTENT,
            _ => StatusCode::OK,
        }
    }
}

/// The objects every connection refers to.
#[derive(Debug, Clone)]
pub struct Fixture {
    pub reference: bool,
    pub vpnservice: String,
    pub ikepolicy: String,
    pub ipsecpolicy: String,
    pub local_group: String,
    /// A peer group of [`PEER_CIDR`]: what the HTTP ceiling's replayed creates name.
    pub peer_group: String,
}

/// Adds the owner to a body for the reference, whose noauth mode ignores the project headers.
fn owned(reference: bool, mut attrs: Value) -> Value {
    if reference {
        if let Some(m) = attrs.as_object_mut() {
            m.insert("tenant_id".into(), project().into());
        }
    }
    attrs
}

/// Creates the inventory (vpnaas's or Neutron's), the policies, the VPN service and the two
/// endpoint groups.
pub async fn setup(api: &Api, reference: bool) -> anyhow::Result<Fixture> {
    let (router, subnet) = if reference { neutron_inventory(api).await? } else { vpnaas_inventory(api).await? };
    let o = |v: Value| owned(reference, v);
    let ikepolicy = api
        .create(
            "/v2.0/vpn/ikepolicies",
            "ikepolicy",
            o(json!({"name": "bench-ike", "auth_algorithm": "sha256", "encryption_algorithm": "aes-256",
                     "ike_version": "v2", "pfs": "group14"})),
            As::Bench,
        )
        .await?;
    let ipsecpolicy = api
        .create(
            "/v2.0/vpn/ipsecpolicies",
            "ipsecpolicy",
            o(json!({"name": "bench-ipsec", "auth_algorithm": "sha256", "encryption_algorithm": "aes-256",
                     "pfs": "group14"})),
            As::Bench,
        )
        .await?;
    let vpnservice = api
        .create("/v2.0/vpn/vpnservices", "vpnservice", o(json!({"name": "bench-vpn", "router_id": router})), As::Bench)
        .await?;
    let local_group = api
        .create(
            GROUPS,
            "endpoint_group",
            o(json!({"name": "bench-local", "type": "subnet", "endpoints": [subnet]})),
            As::Bench,
        )
        .await?;
    let peer_group = api
        .create(
            GROUPS,
            "endpoint_group",
            o(json!({"name": "bench-peer", "type": "cidr", "endpoints": [PEER_CIDR]})),
            As::Bench,
        )
        .await?;
    Ok(Fixture { reference, vpnservice, ikepolicy, ipsecpolicy, local_group, peer_group })
}

/// vpnaas's inventory: a router with a gateway and a subnet attached to it (admin).
async fn vpnaas_inventory(api: &Api) -> anyhow::Result<(String, String)> {
    let router = api
        .create(
            "/v2.0/routers",
            "router",
            json!({"name": "bench-router", "tenant_id": project(),
                   "external_gateway_info": {"external_fixed_ips": [{"ip_address": "172.24.4.10"}]}}),
            As::Admin,
        )
        .await?;
    let subnet = api
        .create(
            "/v2.0/subnets",
            "subnet",
            json!({"name": "bench-subnet", "tenant_id": project(), "cidr": LOCAL_CIDR}),
            As::Admin,
        )
        .await?;
    let path = format!("/v2.0/routers/{router}/add_router_interface");
    api.setup(Method::PUT, &path, Some(json!({"subnet_id": subnet})), As::Admin, 200).await?;
    Ok((router, subnet))
}

/// Neutron's: an external flat network and subnet, a private network and subnet, a router
/// with a gateway on the external one and an interface on the private subnet
/// (neutron-side-by-side.md).
async fn neutron_inventory(api: &Api) -> anyhow::Result<(String, String)> {
    let o = |v: Value| owned(true, v);
    let public = api
        .create(
            "/v2.0/networks",
            "network",
            o(json!({"name": "bench-public", "router:external": true, "provider:network_type": "flat",
                     "provider:physical_network": "public"})),
            As::Admin,
        )
        .await?;
    api.create(
        "/v2.0/subnets",
        "subnet",
        o(json!({"name": "bench-public", "network_id": public, "cidr": "172.24.4.0/24", "ip_version": 4,
                 "gateway_ip": "172.24.4.1", "enable_dhcp": false})),
        As::Admin,
    )
    .await?;
    let private = api.create("/v2.0/networks", "network", o(json!({"name": "bench-private"})), As::Admin).await?;
    let subnet = api
        .create(
            "/v2.0/subnets",
            "subnet",
            o(json!({"name": "bench-private", "network_id": private, "cidr": LOCAL_CIDR, "ip_version": 4})),
            As::Admin,
        )
        .await?;
    let router = api
        .create(
            "/v2.0/routers",
            "router",
            o(json!({"name": "bench-router", "external_gateway_info": {"network_id": public,
                     "external_fixed_ips": [{"ip_address": "172.24.4.10"}]}})),
            As::Admin,
        )
        .await?;
    let path = format!("/v2.0/routers/{router}/add_router_interface");
    api.setup(Method::PUT, &path, Some(json!({"subnet_id": subnet})), As::Admin, 200).await?;
    Ok((router, subnet))
}

/// The create body of connection `i` of the set `name`, with its peer group: the same for
/// every target.
pub fn connection(f: &Fixture, name: &str, i: u64, peer_group: &str) -> Value {
    owned(
        f.reference,
        json!({
            "name": name,
            "description": format!("bench connection {i}"),
            "psk": format!("bench-secret-{i:08}"),
            "peer_address": PEER_ADDRESS,
            "peer_id": PEER_ADDRESS,
            "vpnservice_id": f.vpnservice,
            "ikepolicy_id": f.ikepolicy,
            "ipsecpolicy_id": f.ipsecpolicy,
            "local_ep_group_id": f.local_group,
            "peer_ep_group_id": peer_group,
        }),
    )
}

fn create_req(f: &Fixture, name: &str, i: u64, peer_group: &str) -> Req {
    Req {
        method: Method::POST,
        path: CONNECTIONS.into(),
        body: Some(json_body(&json!({"ipsec_site_connection": connection(f, name, i, peer_group)}))),
        who: As::Bench,
    }
}

fn group_req(f: &Fixture, n: u64) -> Req {
    let attrs = owned(f.reference, json!({"name": format!("peer-{n}"), "type": "cidr", "endpoints": [peer_cidr(n)]}));
    Req {
        method: Method::POST,
        path: GROUPS.into(),
        body: Some(json_body(&json!({"endpoint_group": attrs}))),
        who: As::Bench,
    }
}

/// How a seeding went.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct SeedFigure {
    pub name: String,
    pub rows: usize,
    pub seconds: f64,
    pub rows_per_second: f64,
    /// Requests that failed (and were retried, on the reference).
    pub failed_attempts: u64,
    pub method: String,
}

/// How seeding creates rows.
pub struct Seeder<'a> {
    pub api: &'a Api,
    pub fixture: &'a Fixture,
    pub concurrency: usize,
    /// The reference answers `database is locked` under concurrent writes: retry those.
    pub retries: u32,
    /// Clones rows instead of creating each through the API (see [`clone_rows`]).
    pub command: Option<&'a str>,
}

/// What one seeding step makes.
#[derive(Clone)]
enum Job {
    /// A peer group; yields its id.
    Group,
    /// A peer group and a connection of this name using it; yields the connection's id.
    Connection(String),
}

impl Seeder<'_> {
    /// Creates `count` connections named `name`, numbered from `first`, each with its own
    /// peer group; returns their ids.
    pub async fn seed(&self, name: &str, first: u64, count: usize) -> anyhow::Result<(Vec<String>, SeedFigure)> {
        let started = Instant::now();
        let job = Job::Connection(name.to_owned());
        let (ids, failed, method) = match self.command {
            Some(cmd) if count > 1 => {
                // One connection through the API as the template, the rest cloned by the command.
                let (mut ids, failed) = self.through_api(job, first, 1).await?;
                let template = ids.first().cloned().unwrap_or_default();
                ids.extend(clone_rows(cmd, "connections", &template, first + 1, count - 1, name).await?);
                (ids, failed, "1 API create + --seed-command copies".to_owned())
            }
            _ => {
                let (ids, failed) = self.through_api(job, first, count).await?;
                (ids, failed, format!("API creates (group + connection), {} concurrent", self.concurrency))
            }
        };
        let seconds = started.elapsed().as_secs_f64();
        let figure = SeedFigure {
            name: name.to_owned(),
            rows: ids.len(),
            seconds,
            rows_per_second: ids.len() as f64 / seconds.max(1e-9),
            failed_attempts: failed,
            method,
        };
        Ok((ids, figure))
    }

    /// Peer groups numbered `first..first + count`, for the connections `create` will make.
    pub async fn groups(&self, first: u64, count: usize) -> anyhow::Result<Vec<(u64, String)>> {
        let ids = match self.command {
            Some(cmd) if count > 1 => {
                let (mut ids, _) = self.through_api(Job::Group, first, 1).await?;
                let template = ids.first().cloned().unwrap_or_default();
                ids.extend(clone_rows(cmd, "groups", &template, first + 1, count - 1, "").await?);
                ids
            }
            _ => self.through_api(Job::Group, first, count).await?.0,
        };
        Ok((first..).zip(ids).collect())
    }

    async fn through_api(&self, job: Job, first: u64, count: usize) -> anyhow::Result<(Vec<String>, u64)> {
        let next = Arc::new(AtomicUsize::new(0));
        let mut tasks = tokio::task::JoinSet::new();
        for _ in 0..self.concurrency.min(count).max(1) {
            let (api, fixture, next, job, retries) =
                (self.api.clone(), self.fixture.clone(), next.clone(), job.clone(), self.retries);
            tasks.spawn(async move {
                let mut made: Vec<(usize, String)> = Vec::new();
                let mut failed = 0u64;
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    if i >= count {
                        return Ok::<_, anyhow::Error>((made, failed));
                    }
                    let n = first + i as u64;
                    let group = post(&api, &group_req(&fixture, n), "endpoint_group", retries, &mut failed).await?;
                    let id = match &job {
                        Job::Group => group,
                        Job::Connection(name) => {
                            let req = create_req(&fixture, name, n, &group);
                            post(&api, &req, "ipsec_site_connection", retries, &mut failed).await?
                        }
                    };
                    made.push((i, id));
                }
            });
        }
        let mut all = Vec::with_capacity(count);
        let mut failed = 0;
        while let Some(joined) = tasks.join_next().await {
            let (made, f) = joined.map_err(|e| anyhow!("seeding task: {e}"))??;
            all.extend(made);
            failed += f;
        }
        all.sort_by_key(|(i, _)| *i);
        Ok((all.into_iter().map(|(_, id)| id).collect(), failed))
    }
}

/// A create during seeding, retried up to `retries` times; returns the new id.
async fn post(api: &Api, req: &Req, singular: &str, retries: u32, failed: &mut u64) -> anyhow::Result<String> {
    let mut attempt = 0;
    loop {
        let outcome = match api.request(req).await {
            Ok(r) if r.status == StatusCode::CREATED => r
                .json()
                .map_err(anyhow::Error::from)
                .and_then(|v| id_of(&v, singular).ok_or_else(|| anyhow!(r.snippet()))),
            Ok(r) => Err(anyhow!("seeding: POST {} answered {}: {}", req.path, r.status, r.snippet())),
            Err(e) => Err(anyhow!("seeding: {e}")),
        };
        match outcome {
            Ok(id) => return Ok(id),
            Err(e) if attempt >= retries => return Err(e),
            Err(_) => {
                *failed += 1;
                attempt += 1;
                tokio::time::sleep(Duration::from_millis(50 * u64::from(attempt))).await;
            }
        }
    }
}

/// Runs the seed command as `CMD KIND TEMPLATE_ID FIRST COUNT NAME`: it makes COUNT copies of
/// the template (KIND `connections`: a connection, each with a copy of its peer group;
/// KIND `groups`: a peer group), numbered from FIRST so their peer CIDRs are
/// [`peer_cidr`]`(FIRST..)`, and prints the new ids one a line.
async fn clone_rows(
    cmd: &str,
    kind: &str,
    template: &str,
    first: u64,
    count: usize,
    name: &str,
) -> anyhow::Result<Vec<String>> {
    let mut words = cmd.split_whitespace();
    let program = words.next().ok_or_else(|| anyhow!("--seed-command is empty"))?;
    let out = tokio::process::Command::new(program)
        .args(words)
        .args([kind, template, &first.to_string(), &count.to_string(), name])
        .output()
        .await
        .map_err(|e| anyhow!("cannot run {program}: {e}"))?;
    if !out.status.success() {
        return Err(anyhow!("{cmd} failed ({}): {}", out.status, String::from_utf8_lossy(&out.stderr).trim()));
    }
    let ids: Vec<String> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(String::from)
        .collect();
    if ids.len() != count {
        return Err(anyhow!("{cmd} printed {} ids, expected {count}", ids.len()));
    }
    Ok(ids)
}

/// What an operation's requests are made from. Cheap to share between the load tasks.
pub struct Plan {
    pub op: OpKind,
    pub fixture: Fixture,
    /// The `full` rows: shown, updated and listed.
    pub full_ids: Vec<String>,
    /// The `page` rows' ids in ascending order (the default sort), for markers.
    pub page_ids: Vec<String>,
    pub page_size: usize,
    /// Rows that `delete` may remove; `create` adds what it made.
    pub pool: Arc<Mutex<Vec<String>>>,
    /// Peer groups made ahead for `create`, with the connection number each is for.
    pub groups: Arc<Mutex<Vec<(u64, String)>>>,
}

impl Plan {
    /// Request `i` of a run. `replay` is for the HTTP ceiling: the same requests, but no state
    /// is consumed (a delete takes no row from the pool). `None`: nothing left to delete, or
    /// no peer group left to create with.
    pub fn request(&self, i: u64, replay: bool) -> Option<Req> {
        let pick = |ids: &[String], stride: u64| -> String {
            // A fixed stride spreads consecutive requests over the rows, the same every run.
            let n = ids.len().max(1) as u64;
            ids.get(((i * stride) % n) as usize).cloned().unwrap_or_default()
        };
        let get = |path: String| Some(Req { method: Method::GET, path, body: None, who: As::Bench });
        match self.op {
            OpKind::Create => {
                let (n, group) =
                    if replay { (i, self.fixture.peer_group.clone()) } else { self.groups.lock().ok()?.pop()? };
                Some(create_req(&self.fixture, NEW, n, &group))
            }
            OpKind::Show => get(format!("{CONNECTIONS}/{}", pick(&self.full_ids, 7919))),
            OpKind::List => get(CONNECTIONS.to_owned()),
            OpKind::Page => {
                // Markers among the first n - page_size rows, so every page is full.
                let candidates = &self.page_ids[..self.page_ids.len().saturating_sub(self.page_size)];
                let marker = pick(candidates, 7919);
                get(format!("{CONNECTIONS}?name={PAGE}&limit={}&marker={marker}", self.page_size))
            }
            OpKind::Update => {
                let body =
                    json!({"ipsec_site_connection": {"mtu": 1400 + (i % 100), "description": format!("updated {i}")}});
                Some(Req {
                    method: Method::PUT,
                    path: format!("{CONNECTIONS}/{}", pick(&self.full_ids, 7919)),
                    body: Some(json_body(&body)),
                    who: As::Bench,
                })
            }
            OpKind::Delete => {
                let id = if replay { pick(&self.full_ids, 7919) } else { self.pool.lock().ok()?.pop()? };
                Some(Req { method: Method::DELETE, path: format!("{CONNECTIONS}/{id}"), body: None, who: As::Bench })
            }
        }
    }

    /// After a successful create, its row becomes deletable.
    pub fn created(&self, body: &Bytes) {
        if self.op != OpKind::Create {
            return;
        }
        let id = serde_json::from_slice::<Value>(body).ok().and_then(|v| id_of(&v, "ipsec_site_connection"));
        if let (Some(id), Ok(mut pool)) = (id, self.pool.lock()) {
            pool.push(id);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn peer_cidrs_are_distinct_and_canonical() {
        assert_eq!(peer_cidr(0), "100.64.0.0/28");
        assert_eq!(peer_cidr(1), "100.64.0.16/28");
        assert_eq!(peer_cidr(262_143), "100.127.255.240/28");
        let all: std::collections::HashSet<String> = (0..120_000).map(peer_cidr).collect();
        assert_eq!(all.len(), 120_000);
    }
}
