//! `vpnaas-bench tunnels`: real tunnels on real charons, driven through the API and a host agent at its defaults.
//!
//! Two parts, both in the lab of network namespaces (`vpnaas_agent::testbed`; root, strongSwan):
//! - **One gateway, many tunnels.** One router (its charon started by `vpnaas agent --host` in
//!   `qrouter-<id>`) with N site connections to one peer charon, which is loaded with nothing
//!   but the connections' own peer-configuration exports. Measured: enabling all N at once to
//!   all ACTIVE, the agent's CPU and memory, what a change to one connection disturbs, what an
//!   agent restart disturbs, and a SIGKILL of the gateway's charon to all ACTIVE again.
//! - **Two sites, created one after the other**, R times: from the second create to both
//!   ACTIVE (each site its own router, host agent and charon).
//!
//! Figures are printed; what must hold (every tunnel up within the limit, nothing disturbed
//! but the changed connection, nothing by a restart) makes the run fail, so `--smoke` can
//! run in CI.

use anyhow::anyhow;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use clap::Args;
use reqwest::Method;
use serde_json::{json, Value};
use vpnaas_agent::charon::{Charon, ViciCharon};
use vpnaas_agent::testbed::{self, Lab};

use crate::client::{json_body, project, Api, As, Req};
use crate::target::{self, Spawned};

const TOKEN: &str = "vpnaas-bench-agent-token";
const CONNS: &str = "/v2.0/vpn/ipsec-site-connections";

/// The flags of `vpnaas-bench tunnels`.
#[derive(Args, Debug)]
pub struct TunnelArgs {
    /// Site connections on the one gateway [default: 1000; --smoke: 200]
    #[arg(long, value_name = "N")]
    connections: Option<usize>,
    /// Two-site runs, each from the second create to both ACTIVE [default: 20; --smoke: 5]
    #[arg(long, value_name = "R")]
    pairs_runs: Option<usize>,
    /// How long the tunnels may take to come up (after enabling, after a charon kill)
    #[arg(long, value_name = "SECONDS", default_value_t = 120)]
    limit: u64,
    /// The vpnaas binary [default: `vpnaas` next to this executable]
    #[arg(long, value_name = "PATH")]
    vpnaas: Option<PathBuf>,
    /// The CI preset: 200 connections, 5 two-site runs
    #[arg(long)]
    smoke: bool,
}

struct Plan {
    connections: usize,
    pairs_runs: usize,
    limit: Duration,
    vpnaas: Option<PathBuf>,
}

impl TunnelArgs {
    fn plan(&self) -> Plan {
        let (n, runs) = if self.smoke { (200, 5) } else { (1000, 20) };
        Plan {
            connections: self.connections.unwrap_or(n).clamp(1, 4096),
            pairs_runs: self.pairs_runs.unwrap_or(runs),
            limit: Duration::from_secs(self.limit),
            vpnaas: self.vpnaas.clone(),
        }
    }
}

fn progress(msg: impl std::fmt::Display) {
    eprintln!("[vpnaas-bench tunnels] {msg}");
}

pub fn run_and_report(args: &TunnelArgs) -> anyhow::Result<()> {
    if let Some(why) = testbed::unavailable() {
        return Err(anyhow!("the tunnel benchmark needs the lab: {why}"));
    }
    let plan = args.plan();
    let runtime = tokio::runtime::Runtime::new().map_err(|e| anyhow!("cannot start the runtime: {e}"))?;
    let started = Instant::now();
    let result = runtime.block_on(run(&plan));
    runtime.shutdown_timeout(Duration::from_secs(5));
    eprintln!("took {:.1} s", started.elapsed().as_secs_f64());
    result
}

/// A `vpnaas agent` process, killed when dropped.
struct AgentProcess(Child);

impl AgentProcess {
    fn start(binary: &Path, base: &str, host: &str, state_dir: &Path) -> anyhow::Result<AgentProcess> {
        let child = Command::new(binary)
            .args(["agent", "--host", host, "--server", base, "--state-dir"])
            .arg(state_dir)
            .env("VPNAAS_AGENT_TOKEN", TOKEN)
            .env("VPNAAS_LOG", "warn")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .map_err(|e| anyhow!("cannot start vpnaas agent: {e}"))?;
        Ok(AgentProcess(child))
    }

    fn pid(&self) -> u32 {
        self.0.id()
    }

    /// SIGTERM, as systemd stops it, then the wait.
    fn stop(mut self) {
        let _ = Command::new("kill").args(["-TERM", &self.0.id().to_string()]).status();
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.0.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for AgentProcess {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

async fn run(plan: &Plan) -> anyhow::Result<()> {
    let binary = target::vpnaas_binary(plan.vpnaas.as_deref())?;
    let scratch = target::scratch_dir(&std::env::temp_dir(), "vpnaas-bench-tunnels-")?;
    let server = target::spawn_vpnaas_with(
        &binary,
        scratch.path(),
        None,
        &[("VPNAAS_AGENT_TOKEN", TOKEN.to_owned()), ("VPNAAS_AGENT_DEAD_AFTER_SECS", "10".to_owned())],
    )?;
    let api = Api::connect(&server.base, Duration::from_secs(30), 32)?;
    let mut failures = Vec::new();
    let many = one_gateway(plan, &binary, &server, &api, &mut failures).await?;
    let pairs = two_sites(plan, &binary, &server, &api, &mut failures).await?;
    println!("{many}{pairs}");
    if failures.is_empty() {
        Ok(())
    } else {
        Err(anyhow!("{} check(s) failed: {}", failures.len(), failures.join("; ")))
    }
}

/// `10.<first + i/256>.<i%256>.1/24` on the `lan` device of `netns`, for i in 0..n.
fn addresses(netns: &str, first: usize, n: usize) -> anyhow::Result<()> {
    let batch: String = (0..n).map(|i| format!("addr add 10.{}.{}.1/24 dev lan\n", first + i / 256, i % 256)).collect();
    let mut ip = Command::new("ip")
        .args(["-n", netns, "-batch", "-"])
        .stdin(Stdio::piped())
        .spawn()
        .map_err(|e| anyhow!("ip -batch: {e}"))?;
    if let Some(mut stdin) = ip.stdin.take() {
        use std::io::Write as _;
        stdin.write_all(batch.as_bytes()).map_err(|e| anyhow!("ip -batch: {e}"))?;
    }
    let status = ip.wait().map_err(|e| anyhow!("ip -batch: {e}"))?;
    if status.success() {
        Ok(())
    } else {
        Err(anyhow!("ip -batch could not add the subnets' addresses in {netns}"))
    }
}

/// Admin POST of `{singular: attrs}`: the new id.
async fn admin_create(api: &Api, path: &str, singular: &str, attrs: Value) -> anyhow::Result<String> {
    Ok(api.create(path, singular, attrs, As::Admin).await?)
}

/// A router with a gateway address and a LAN subnet attached, placed on `host`.
async fn router(api: &Api, gw: &str, lan: &str, host: &str) -> anyhow::Result<(String, String)> {
    let tenant = project();
    let gateway = json!({"external_fixed_ips": [{"ip_address": gw}]});
    let router =
        admin_create(api, "/v2.0/routers", "router", json!({"tenant_id": tenant, "external_gateway_info": gateway}))
            .await?;
    let subnet = admin_create(api, "/v2.0/subnets", "subnet", json!({"tenant_id": tenant, "cidr": lan})).await?;
    let path = format!("/v2.0/routers/{router}/add_router_interface");
    api.setup(Method::PUT, &path, Some(json!({"subnet_id": subnet})), As::Admin, 200).await?;
    let place = json!({"router": {"binding:host_id": host}});
    api.setup(Method::PUT, &format!("/v2.0/routers/{router}"), Some(place), As::Admin, 200).await?;
    Ok((router, subnet))
}

/// The project's IKE and IPsec policies: algorithms the lab's charons have.
async fn policies(api: &Api) -> anyhow::Result<(String, String)> {
    let ike = api
        .create(
            "/v2.0/vpn/ikepolicies",
            "ikepolicy",
            json!({"ike_version": "v2", "auth_algorithm": "sha256", "pfs": "group14"}),
            As::Bench,
        )
        .await?;
    let ipsec = api
        .create(
            "/v2.0/vpn/ipsecpolicies",
            "ipsecpolicy",
            json!({"auth_algorithm": "sha256", "pfs": "group14"}),
            As::Bench,
        )
        .await?;
    Ok((ike, ipsec))
}

async fn group(api: &Api, kind: &str, endpoints: Value) -> anyhow::Result<String> {
    Ok(api
        .create("/v2.0/vpn/endpoint-groups", "endpoint_group", json!({"type": kind, "endpoints": endpoints}), As::Bench)
        .await?)
}

/// Runs `jobs` futures at most `width` at a time; the first error stops it.
async fn in_parallel<T, F>(width: usize, jobs: Vec<F>) -> anyhow::Result<Vec<T>>
where
    T: Send + 'static,
    F: std::future::Future<Output = anyhow::Result<T>> + Send + 'static,
{
    let mut out = Vec::with_capacity(jobs.len());
    let mut jobs = jobs.into_iter();
    loop {
        let mut set = tokio::task::JoinSet::new();
        for (i, job) in jobs.by_ref().take(width).enumerate() {
            set.spawn(async move { (i, job.await) });
        }
        if set.is_empty() {
            return Ok(out);
        }
        let mut batch: Vec<(usize, T)> = Vec::new();
        while let Some(joined) = set.join_next().await {
            let (i, result) = joined.map_err(|e| anyhow!("a request task failed: {e}"))?;
            batch.push((i, result?));
        }
        batch.sort_by_key(|(i, _)| *i);
        out.extend(batch.into_iter().map(|(_, t)| t));
    }
}

/// Every connection's status, by id, in one list.
async fn statuses(api: &Api) -> anyhow::Result<BTreeMap<String, String>> {
    let v = api.setup(Method::GET, &format!("{CONNS}?fields=id&fields=status"), None, As::Bench, 200).await?;
    let list = v["ipsec_site_connections"].as_array().cloned().unwrap_or_default();
    Ok(list
        .iter()
        .filter_map(|c| Some((c["id"].as_str()?.to_owned(), c["status"].as_str().unwrap_or_default().to_owned())))
        .collect())
}

fn active(statuses: &BTreeMap<String, String>, ids: &[String]) -> usize {
    ids.iter().filter(|id| statuses.get(*id).map(String::as_str) == Some("ACTIVE")).count()
}

/// Polls until every one of `ids` is ACTIVE or `limit` passes: the time it took (None: not
/// all), and how many were ever seen not ACTIVE on the way.
async fn until_all_active(api: &Api, ids: &[String], limit: Duration) -> anyhow::Result<(Option<Duration>, usize)> {
    let started = Instant::now();
    let mut seen_down = std::collections::BTreeSet::new();
    loop {
        let now = statuses(api).await?;
        for id in ids {
            if now.get(id).map(String::as_str) != Some("ACTIVE") {
                seen_down.insert(id.clone());
            }
        }
        if active(&now, ids) == ids.len() {
            return Ok((Some(started.elapsed()), seen_down.len()));
        }
        if started.elapsed() > limit {
            progress(format!("{} of {} ACTIVE after {:?}", active(&now, ids), ids.len(), limit));
            return Ok((None, seen_down.len()));
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

/// charon's SAs by CHILD_SA name: (IKE_SA unique id, CHILD_SA unique id).
async fn sa_ids(vici: &str) -> anyhow::Result<BTreeMap<String, (u64, u64)>> {
    let mut charon = ViciCharon::new(vici, Duration::from_secs(30))?;
    let sas = charon.list_sas().await.map_err(|e| anyhow!("{e}"))?;
    let mut out = BTreeMap::new();
    for ike in sas {
        for child in ike.children.iter().filter(|c| c.state == "INSTALLED") {
            out.insert(child.name.clone(), (ike.unique_id, child.unique_id));
        }
    }
    Ok(out)
}

fn disturbed(before: &BTreeMap<String, (u64, u64)>, after: &BTreeMap<String, (u64, u64)>, except: &str) -> usize {
    before.iter().filter(|(name, ids)| name.as_str() != except && after.get(*name) != Some(ids)).count()
}

/// CPU seconds (user + system) and resident memory (current, peak) of a process.
fn usage(pid: u32) -> (f64, u64, u64) {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    let fields: Vec<&str> = stat.rsplit_once(')').map(|(_, t)| t.split_whitespace().collect()).unwrap_or_default();
    // After the command: state is field 3, utime 14 and stime 15 (1-based in proc(5)).
    let ticks = |i: usize| fields.get(i - 3).and_then(|v| v.parse::<f64>().ok()).unwrap_or(0.0);
    let cpu = (ticks(14) + ticks(15)) / 100.0;
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let kib = |key: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(key))
            .and_then(|v| v.split_whitespace().next())
            .and_then(|v| v.parse::<u64>().ok())
            .unwrap_or(0)
    };
    (cpu, kib("VmRSS:"), kib("VmHWM:"))
}

fn check(failures: &mut Vec<String>, ok: bool, what: String) {
    if !ok {
        progress(format!("FAILED: {what}"));
        failures.push(what);
    }
}

/// Keeps the charons' logs of a lab whose checks failed, or of every lab with
/// `VPNAAS_BENCH_KEEP_LOGS` set (the lab's own directory goes with it).
fn keep_logs(lab: &Lab, failures: &[String], part: &str) {
    if failures.is_empty() && std::env::var_os("VPNAAS_BENCH_KEEP_LOGS").is_none() {
        return;
    }
    let dest = std::env::temp_dir().join(format!("vpnaas-bench-tunnels-{}-{part}", std::process::id()));
    let mut kept = 0;
    for entry in walk(lab.root()) {
        if entry.file_name().is_some_and(|n| n == "charon.log") {
            let name =
                entry.strip_prefix(lab.root()).map(|p| p.display().to_string().replace('/', "_")).unwrap_or_default();
            if std::fs::create_dir_all(&dest).is_ok() && std::fs::copy(&entry, dest.join(name)).is_ok() {
                kept += 1;
            }
        }
    }
    progress(format!("kept {kept} charon logs in {}", dest.display()));
}

fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let path = entry.path();
        if path.is_dir() {
            out.extend(walk(&path));
        } else {
            out.push(path);
        }
    }
    out
}

fn secs(d: Option<Duration>) -> String {
    d.map_or_else(|| "not all".to_owned(), |d| format!("{:.2} s", d.as_secs_f64()))
}

async fn one_gateway(
    plan: &Plan,
    binary: &Path,
    server: &Spawned,
    api: &Api,
    failures: &mut Vec<String>,
) -> anyhow::Result<String> {
    let n = plan.connections;
    let mut lab = Lab::start()?;
    let (gw, gw_lan_ip, gw_lan) = ("192.0.2.61", "10.61.0.1", "10.61.0.0/24");
    let (peer_gw, peer_lan_ip, peer_lan) = ("192.0.2.62", "10.62.0.1", "10.62.0.0/24");
    let (router_id, subnet) = router(api, gw, gw_lan, "bench-gw").await?;
    lab.add_site("gw", Some(format!("qrouter-{router_id}")), gw, gw_lan_ip, gw_lan)?;
    let peer = lab.add_site("peer", None, peer_gw, peer_lan_ip, peer_lan)?;
    let state_dir = lab.root().join("charons");
    lab.sweep(state_dir.clone());

    progress(format!("creating {n} site connections (disabled) on one router"));
    let (ike, ipsec) = policies(api).await?;
    let service = api.create("/v2.0/vpn/vpnservices", "vpnservice", json!({"router_id": router_id}), As::Bench).await?;
    let _ = subnet;
    // Each connection its own identities, so that each has its own IKE_SA (connections with
    // one peer and the same identities share one; see the agent's engine), and its own
    // subnets on both sides: the one peer charon stands in for N sites, and with one local
    // subnet its N routes (kernel-libipsec routes every tunnel through its TUN device) would
    // all lead to the same destination, which the kernel takes once.
    let jobs = (0..n)
        .map(|i| {
            let (api, ike, ipsec, service, router_id) =
                (api.clone(), ike.clone(), ipsec.clone(), service.clone(), router_id.clone());
            async move {
                let tenant = project();
                let mine = format!("10.{}.{}.0/24", 150 + i / 256, i % 256);
                let cidr = format!("10.{}.{}.0/24", 100 + i / 256, i % 256);
                let subnet =
                    admin_create(&api, "/v2.0/subnets", "subnet", json!({"tenant_id": tenant, "cidr": mine})).await?;
                let path = format!("/v2.0/routers/{router_id}/add_router_interface");
                api.setup(Method::PUT, &path, Some(json!({"subnet_id": subnet})), As::Admin, 200).await?;
                let local = group(&api, "subnet", json!([subnet])).await?;
                let remote = group(&api, "cidr", json!([cidr])).await?;
                let id = api.create(
                    CONNS,
                    "ipsec_site_connection",
                    json!({"name": format!("bench-{i}"), "psk": format!("bench-psk-{i:04}"), "admin_state_up": false,
                        "peer_address": peer_gw, "local_id": format!("gw-{i:04}.bench.test"),
                        "peer_id": format!("peer-{i:04}.bench.test"), "vpnservice_id": service,
                        "ikepolicy_id": ike, "ipsecpolicy_id": ipsec, "local_ep_group_id": local,
                        "peer_ep_group_id": remote}),
                    As::Bench,
                )
                .await?;
                Ok(id)
            }
        })
        .collect();
    let ids: Vec<String> = in_parallel(16, jobs).await?;
    // Each side holds an address in each of its subnets (charon routes a tunnel from one).
    addresses(&lab.sites[peer].netns, 100, n)?;
    addresses(&lab.sites[0].netns, 150, n)?;
    // Only now: charon learns addresses from netlink events, and a thousand at once overflow
    // its socket ("No buffer space available"); started after them, it reads them all.
    lab.sites[peer].start_charon()?;

    progress("loading the peer charon with the connections' swanctl exports");
    let jobs = ids
        .iter()
        .map(|id| {
            let (api, path) = (api.clone(), format!("{CONNS}/{id}/peer-config?format=swanctl"));
            async move {
                let reply =
                    api.request(&Req { method: Method::GET, path: path.clone(), body: None, who: As::Admin }).await?;
                if reply.status.as_u16() != 200 {
                    return Err(anyhow!("GET {path}: {}: {}", reply.status, reply.snippet()));
                }
                Ok(String::from_utf8_lossy(&reply.body).into_owned())
            }
        })
        .collect();
    let exports: Vec<String> = in_parallel(16, jobs).await?;
    let file = lab.root().join("peer-swanctl.conf");
    std::fs::write(&file, exports.concat()).map_err(|e| anyhow!("{}: {e}", file.display()))?;
    let loaded = Instant::now();
    let out = Command::new("swanctl")
        .args(["--load-all", "--noprompt", "--file"])
        .arg(&file)
        .args(["--uri", &lab.sites[peer].vici])
        .output()
        .map_err(|e| anyhow!("swanctl: {e}"))?;
    if !out.status.success() {
        return Err(anyhow!("swanctl --load-all refused the exports: {}", String::from_utf8_lossy(&out.stderr)));
    }
    progress(format!("peer loaded in {:.1} s", loaded.elapsed().as_secs_f64()));

    let agent = AgentProcess::start(binary, &server.base, "bench-gw", &state_dir)?;
    let vici = format!("unix://{}", state_dir.join(&router_id).join("charon.vici").display());
    let socket = state_dir.join(&router_id).join("charon.vici");
    let waited = Instant::now();
    while !socket.exists() {
        if waited.elapsed() > Duration::from_secs(30) {
            return Err(anyhow!("the host agent did not start the router's charon within 30 s"));
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    progress(format!("enabling all {n} at once"));
    let jobs = ids
        .iter()
        .map(|id| {
            let (api, path) = (api.clone(), format!("{CONNS}/{id}"));
            async move {
                let body = json!({"ipsec_site_connection": {"admin_state_up": true}});
                let req = Req { method: Method::PUT, path: path.clone(), body: Some(json_body(&body)), who: As::Bench };
                let reply = api.request(&req).await?;
                if reply.status.as_u16() != 200 {
                    return Err(anyhow!("PUT {path}: {}", reply.snippet()));
                }
                Ok(())
            }
        })
        .collect();
    in_parallel(32, jobs).await?;
    let (cpu_before, _, _) = usage(agent.pid());
    let (up, _) = until_all_active(api, &ids, plan.limit).await?;
    let (cpu_after, rss, peak) = usage(agent.pid());
    check(failures, up.is_some(), format!("all {n} ACTIVE within {:?} of being enabled", plan.limit));

    // What a change to one connection disturbs: only that one may be rebuilt.
    let before = sa_ids(&vici).await?;
    check(failures, before.len() == n, format!("{n} CHILD_SAs installed at the gateway (found {})", before.len()));
    let changed = &ids[0];
    let changed_child = changed.clone();
    let body = json!({"ipsec_site_connection": {"dpd": {"action": "hold", "interval": 31, "timeout": 124}}});
    api.setup(Method::PUT, &format!("{CONNS}/{changed}"), Some(body), As::Bench, 200).await?;
    let started = Instant::now();
    loop {
        let now = sa_ids(&vici).await?;
        if now.get(&changed_child).is_some_and(|ids| Some(ids) != before.get(&changed_child)) {
            break;
        }
        if started.elapsed() > Duration::from_secs(30) {
            check(failures, false, "the changed connection was rebuilt within 30 s".into());
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let change_took = started.elapsed();
    tokio::time::sleep(Duration::from_secs(2)).await;
    let after = sa_ids(&vici).await?;
    let change_disturbed = disturbed(&before, &after, &changed_child);
    check(failures, change_disturbed == 0, format!("a change to one connection disturbed {change_disturbed} others"));

    // An agent restart re-establishes nothing.
    progress("restarting the agent");
    let before = sa_ids(&vici).await?;
    agent.stop();
    let agent = AgentProcess::start(binary, &server.base, "bench-gw", &state_dir)?;
    tokio::time::sleep(Duration::from_secs(8)).await;
    let (still, _) = until_all_active(api, &ids, Duration::from_secs(30)).await?;
    let after = sa_ids(&vici).await?;
    let restart_disturbed = disturbed(&before, &after, "");
    check(failures, still.is_some(), "all ACTIVE after the agent restart".into());
    check(failures, restart_disturbed == 0, format!("an agent restart re-established {restart_disturbed} SAs"));

    // The gateway's charon is killed: everything comes back, and shows DOWN meanwhile.
    progress("killing the gateway's charon with SIGKILL");
    let pid =
        vpnaas_agent::managed::pid_file(&state_dir.join(&router_id)).ok_or_else(|| anyhow!("no charon PID file"))?;
    let _ = Command::new("kill").args(["-KILL", &pid.to_string()]).status();
    let killed = Instant::now();
    let mut shown_down = None;
    while shown_down.is_none() && killed.elapsed() < Duration::from_secs(20) {
        if active(&statuses(api).await?, &ids) < n {
            shown_down = Some(killed.elapsed());
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let (back, seen_down) = until_all_active(api, &ids, plan.limit).await?;
    let back = back.map(|_| killed.elapsed());
    check(failures, back.is_some(), format!("all {n} ACTIVE again within {:?} of a charon SIGKILL", plan.limit));
    check(failures, shown_down.is_some(), "the API showed the fallen tunnels DOWN within 20 s".into());
    let (cpu_end, rss_end, peak_end) = usage(agent.pid());
    drop(agent);
    keep_logs(&lab, failures, "gateway");
    drop(lab);

    let mut out = String::new();
    out.push_str(&format!("\n## One gateway, {n} tunnels (one peer charon loaded with the exports)\n\n"));
    out.push_str("| what | figure |\n|---|---|\n");
    out.push_str(&format!("| enabled at once → all ACTIVE | {} |\n", secs(up)));
    out.push_str(&format!("| agent CPU during the bring-up | {:.2} s |\n", cpu_after - cpu_before));
    out.push_str(&format!("| agent RSS after the bring-up (peak) | {} MiB ({} MiB) |\n", rss / 1024, peak / 1024));
    out.push_str(&format!(
        "| a DPD change to one connection: rebuilt in, others disturbed | {:.2} s, {change_disturbed} of {} |\n",
        change_took.as_secs_f64(),
        n - 1
    ));
    out.push_str(&format!("| agent restart: SAs re-established | {restart_disturbed} of {n} |\n"));
    out.push_str(&format!(
        "| charon SIGKILL → first DOWN in the API; → all ACTIVE again ({seen_down} of {n} seen DOWN) | {}; {} |\n",
        secs(shown_down),
        secs(back)
    ));
    out.push_str(&format!(
        "| restarted agent, to the end: CPU, RSS (peak) | {:.2} s, {} MiB ({} MiB) |\n",
        cpu_end,
        rss_end / 1024,
        peak_end / 1024
    ));
    Ok(out)
}

async fn two_sites(
    plan: &Plan,
    binary: &Path,
    server: &Spawned,
    api: &Api,
    failures: &mut Vec<String>,
) -> anyhow::Result<String> {
    if plan.pairs_runs == 0 {
        return Ok(String::new());
    }
    let mut lab = Lab::start()?;
    let sites =
        [("pair-a", "192.0.2.71", "10.71.0.1", "10.71.0.0/24"), ("pair-b", "192.0.2.72", "10.72.0.1", "10.72.0.0/24")];
    let (ike, ipsec) = policies(api).await?;
    let mut ends = Vec::new();
    for (host, gw, lan_ip, lan) in sites {
        let (router_id, subnet) = router(api, gw, lan, host).await?;
        lab.add_site(host, Some(format!("qrouter-{router_id}")), gw, lan_ip, lan)?;
        let service =
            api.create("/v2.0/vpn/vpnservices", "vpnservice", json!({"router_id": router_id}), As::Bench).await?;
        ends.push((service, group(api, "subnet", json!([subnet])).await?));
    }
    let remote = [group(api, "cidr", json!([sites[1].3])).await?, group(api, "cidr", json!([sites[0].3])).await?];
    let mut agents = Vec::new();
    for (host, ..) in sites {
        let dir = lab.root().join("charons").join(host);
        lab.sweep(dir.clone());
        agents.push(AgentProcess::start(binary, &server.base, host, &dir)?);
    }
    let body = |i: usize| {
        json!({"psk": "bench-pair-psk", "peer_address": sites[1 - i].1, "peer_id": sites[1 - i].1,
            "vpnservice_id": ends[i].0, "ikepolicy_id": ike, "ipsecpolicy_id": ipsec,
            "local_ep_group_id": ends[i].1, "peer_ep_group_id": remote[i]})
    };
    progress(format!("{} two-site runs", plan.pairs_runs));
    let mut times = Vec::new();
    for run in 0..plan.pairs_runs {
        // Every other run the side that starts at once (the lower address) is created first.
        let order = if run % 2 == 0 { [0, 1] } else { [1, 0] };
        let first = api.create(CONNS, "ipsec_site_connection", body(order[0]), As::Bench).await?;
        tokio::time::sleep(Duration::from_millis(500)).await;
        let second = api.create(CONNS, "ipsec_site_connection", body(order[1]), As::Bench).await?;
        let created = Instant::now();
        let ids = [first, second];
        let took = loop {
            let mut up = 0;
            for id in &ids {
                let v = api.setup(Method::GET, &format!("{CONNS}/{id}?fields=status"), None, As::Bench, 200).await?;
                up += usize::from(v["ipsec_site_connection"]["status"] == "ACTIVE");
            }
            if up == 2 {
                break Some(created.elapsed());
            }
            if created.elapsed() > Duration::from_secs(30) {
                break None;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        };
        progress(format!("run {}: {}", run + 1, secs(took)));
        check(failures, took.is_some(), format!("two-site run {}: both ACTIVE within 30 s", run + 1));
        times.push(took.unwrap_or(Duration::from_secs(30)));
        for id in &ids {
            api.setup(Method::DELETE, &format!("{CONNS}/{id}"), None, As::Bench, 204).await?;
        }
        // Both charons unload and tell each other before the next run.
        tokio::time::sleep(Duration::from_secs(2)).await;
    }
    drop(agents);
    if times.iter().any(|t| *t > Duration::from_secs(1)) {
        keep_logs(&lab, &["slow".to_owned()], "pairs");
    }
    drop(lab);
    times.sort();
    let pick = |q: f64| times[((times.len() - 1) as f64 * q).round() as usize].as_secs_f64();
    let mut out = String::new();
    out.push_str(&format!("\n## Two sites: second create → both ACTIVE, {} runs\n\n", times.len()));
    out.push_str("| min | p50 | p90 | max |\n|---|---|---|---|\n");
    out.push_str(&format!("| {:.2} s | {:.2} s | {:.2} s | {:.2} s |\n", pick(0.0), pick(0.5), pick(0.9), pick(1.0)));
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_other_connections_count_as_disturbed() {
        let before: BTreeMap<String, (u64, u64)> = [("a".into(), (1, 1)), ("b".into(), (2, 2))].into();
        let mut after = before.clone();
        after.insert("a".into(), (3, 3));
        assert_eq!(disturbed(&before, &after, "a"), 0);
        assert_eq!(disturbed(&before, &after, ""), 1);
        after.remove("b");
        assert_eq!(disturbed(&before, &after, "a"), 1, "a tunnel gone is disturbed");
    }

    #[test]
    fn smoke_is_smaller() {
        let args = TunnelArgs { connections: None, pairs_runs: None, limit: 120, vpnaas: None, smoke: true };
        let plan = args.plan();
        assert_eq!((plan.connections, plan.pairs_runs), (200, 5));
    }
}
