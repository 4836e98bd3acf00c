//! `vpnaas-bench fleet`: a fleet of simulated gateway agents against real vpnaas servers: idle cost, change-to-gateway latency, status throughput and resync time.

pub mod agents;
pub mod options;
pub mod report;
pub mod seed;
pub mod stats;

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use reqwest::Method;
use serde_json::json;

use crate::client::{Api, As};
use crate::target::{self, Spawned};
use agents::{Agent, Pending, Sim, Want};
use options::{Backend, FleetOptions};
use report::{ChangeFigure, FleetReport, IdleFigure, ReplicaMemory, ResyncFigure, SeedingFigure, TenantFigure};
use seed::SeededRouter;
use stats::{Rng, Summary};

fn progress(msg: impl std::fmt::Display) {
    eprintln!("[vpnaas-bench fleet] {msg}");
}

pub fn run_and_report(o: &FleetOptions) -> anyhow::Result<()> {
    let runtime = tokio::runtime::Runtime::new().map_err(|e| anyhow::anyhow!("cannot start the runtime: {e}"))?;
    let started = Instant::now();
    let report = runtime.block_on(run(o))?;
    // Agents' tasks and their sockets go with the runtime, before the table is printed.
    runtime.shutdown_timeout(Duration::from_secs(5));
    print!("{}", report::table(&report));
    if let Some(path) = &o.json {
        let text = serde_json::to_string_pretty(&report)?;
        std::fs::write(path, text + "\n").map_err(|e| anyhow::anyhow!("cannot write {}: {e}", path.display()))?;
        eprintln!("wrote {}", path.display());
    }
    eprintln!("took {:.1} s", started.elapsed().as_secs_f64());
    if o.smoke {
        if report.errors > 0 {
            return Err(anyhow::anyhow!(
                "smoke: {} agent requests failed (first: {})",
                report.errors,
                report.first_error.as_deref().unwrap_or("?")
            ));
        }
        if report.tenant.failed > 0 {
            return Err(anyhow::anyhow!(
                "smoke: {} tenant GETs refused while the fleet started (first: {})",
                report.tenant.failed,
                report.tenant.first_failure.as_deref().unwrap_or("?")
            ));
        }
        if report.changes.missed > 0 || report.changes.failed > 0 {
            return Err(anyhow::anyhow!(
                "smoke: {} changes not seen, {} refused",
                report.changes.missed,
                report.changes.failed
            ));
        }
    }
    Ok(())
}

/// A database made for this run in the cluster of `--postgres` or the server of `--mariadb`,
/// dropped at the end.
struct SharedDatabase {
    admin: String,
    mariadb: bool,
    name: String,
    url: String,
}

/// `url` with its database (the path) replaced by `name`, its query kept.
pub fn with_database(url: &str, name: &str) -> anyhow::Result<String> {
    let scheme_end = url.find("://").ok_or_else(|| anyhow::anyhow!("--postgres: not a URL"))? + 3;
    let (head, query) = match url.find('?') {
        Some(q) => (&url[..q], &url[q..]),
        None => (url, ""),
    };
    let authority_end = head[scheme_end..].find('/').map_or(head.len(), |i| scheme_end + i);
    Ok(format!("{}/{name}{query}", &head[..authority_end]))
}

impl SharedDatabase {
    async fn create(admin: &str, mariadb: bool) -> anyhow::Result<SharedDatabase> {
        let name = format!("vpnaas_fleet_{}", std::process::id());
        let create = match mariadb {
            true => format!("CREATE DATABASE {name} CHARACTER SET utf8mb4 COLLATE utf8mb4_bin"),
            false => format!("CREATE DATABASE {name} TEMPLATE template0 ENCODING 'UTF8' LC_COLLATE 'C' LC_CTYPE 'C'"),
        };
        let db = SharedDatabase { admin: admin.to_owned(), mariadb, url: with_database(admin, &name)?, name };
        db.admin_run(&[format!("DROP DATABASE IF EXISTS {}", db.name), create]).await?;
        Ok(db)
    }

    /// Runs `statements` on the admin URL's connection.
    async fn admin_run(&self, statements: &[String]) -> anyhow::Result<()> {
        use sqlx::Connection;
        let flag = if self.mariadb { "--mariadb" } else { "--postgres" };
        if self.mariadb {
            let mut c =
                sqlx::MySqlConnection::connect(&self.admin).await.map_err(|e| anyhow::anyhow!("{flag}: {e}"))?;
            for sql in statements {
                sqlx::query(sql).execute(&mut c).await.map_err(|e| anyhow::anyhow!("{sql}: {e}"))?;
            }
            let _ = c.close().await;
        } else {
            let mut c = sqlx::PgConnection::connect(&self.admin).await.map_err(|e| anyhow::anyhow!("{flag}: {e}"))?;
            for sql in statements {
                sqlx::query(sql).execute(&mut c).await.map_err(|e| anyhow::anyhow!("{sql}: {e}"))?;
            }
            let _ = c.close().await;
        }
        Ok(())
    }

    async fn drop_it(self) {
        let sql = match self.mariadb {
            true => format!("DROP DATABASE IF EXISTS {}", self.name),
            false => format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", self.name),
        };
        if let Err(e) = self.admin_run(&[sql]).await {
            progress(format_args!("could not drop {}: {e}", self.name));
        }
    }
}

/// The servers: one on SQLite, or two replicas on one PostgreSQL or MariaDB database.
async fn start_servers(
    o: &FleetOptions,
    binary: &Path,
    root: &Path,
    token: &str,
) -> anyhow::Result<(Vec<Spawned>, Option<SharedDatabase>, Option<tempfile::TempDir>)> {
    let mut env = vec![
        ("VPNAAS_AGENT_TOKEN", token.to_owned()),
        ("VPNAAS_AGENT_HEARTBEAT_SECS", o.heartbeat_secs.to_string()),
        ("VPNAAS_AGENT_DEAD_AFTER_SECS", o.dead_after_secs.to_string()),
    ];
    let log = o.server_log.as_deref();
    let shared = match o.backend {
        Backend::Postgres2 => o.postgres.as_deref().map(|admin| (admin, false)),
        Backend::Mariadb2 => o.mariadb.as_deref().map(|admin| (admin, true)),
        Backend::Sqlite => None,
    };
    match shared {
        Some((admin, mariadb)) => {
            let db = SharedDatabase::create(admin, mariadb).await?;
            let keys = target::scratch_dir(root, "vpnaas-fleet-keys-")?;
            env.push(("VPNAAS_DATABASE_URL", db.url.clone()));
            env.push(("VPNAAS_PSK_KEY_FILE", keys.path().join("psk.key").to_string_lossy().into_owned()));
            env.push(("VPNAAS_DATA_DIR", keys.path().to_string_lossy().into_owned()));
            // One key file for both replicas, as replicas sharing a database need (it also migrates).
            let started = (|| {
                target::run_vpnaas(binary, &["rotate-key"], &env)?;
                let first = target::spawn_vpnaas_with(binary, root, log, &env)?;
                let second = target::spawn_vpnaas_with(binary, root, log, &env)?;
                Ok::<_, anyhow::Error>(vec![first, second])
            })();
            match started {
                Ok(servers) => Ok((servers, Some(db), Some(keys))),
                Err(e) => {
                    db.drop_it().await;
                    Err(e)
                }
            }
        }
        None => Ok((vec![target::spawn_vpnaas_with(binary, root, log, &env)?], None, None)),
    }
}

pub async fn run(o: &FleetOptions) -> anyhow::Result<FleetReport> {
    let binary = target::vpnaas_binary(o.vpnaas.as_deref())?;
    let root = o.data_root.clone().unwrap_or_else(std::env::temp_dir);
    let token = uuid::Uuid::new_v4().simple().to_string();
    let (servers, db, keys) = start_servers(o, &binary, &root, &token).await?;
    let outcome = measure(o, &servers, &token).await;
    drop(servers);
    drop(keys);
    if let Some(db) = db {
        db.drop_it().await;
    }
    outcome
}

fn memories(servers: &[Spawned], into: &mut [ReplicaMemory]) {
    for (s, m) in servers.iter().zip(into.iter_mut()) {
        if let Some(now) = target::memory(s.pid) {
            m.rss_kib = m.rss_kib.max(now.rss_kib);
            m.hwm_kib = now.hwm_kib;
        }
    }
}

async fn measure(o: &FleetOptions, servers: &[Spawned], token: &str) -> anyhow::Result<FleetReport> {
    let (first, last) = match (servers.first(), servers.last()) {
        (Some(f), Some(l)) => (f, l),
        _ => anyhow::bail!("no server"),
    };
    progress(format_args!("{} on {:?}: changes through {}, agents on {}", o.shape(), o.backend, first.base, last.base));
    let mut memory: Vec<ReplicaMemory> =
        (1..=servers.len()).map(|replica| ReplicaMemory { replica, rss_kib: 0, hwm_kib: 0, idle_rss_kib: 0 }).collect();
    let api = Api::connect(&first.base, o.timeout, o.seed_concurrency.max(4))?;

    // Seeding, through the API.
    let placement: Vec<Option<usize>> = if o.single_router_agents {
        vec![None; o.hosts]
    } else {
        let mut p: Vec<Option<usize>> =
            (0..o.hosts).flat_map(|h| std::iter::repeat_n(Some(h), o.routers_per_host)).collect();
        p.extend(std::iter::repeat_n(Some(o.hosts), o.resync_routers.unwrap_or(0)));
        p
    };
    progress(format_args!(
        "seeding {} routers x {} connections through the API ({} workers)",
        placement.len(),
        o.connections_per_router,
        o.seed_concurrency
    ));
    let seeded = seed::seed(&api, &placement, o.connections_per_router, o.seed_concurrency).await?;
    let seeding = SeedingFigure {
        routers: seeded.routers.len(),
        connections: seeded.routers.iter().map(|r| r.connections.len()).sum(),
        requests: seeded.requests,
        seconds: seeded.seconds,
        method: format!(
            "API creates, {} workers (a router each: router, subnet, interface, VPN service, local group, \
             a peer group and a connection per connection); IKE and IPsec policies shared",
            o.seed_concurrency
        ),
    };
    progress(format_args!(
        "seeded {} routers, {} connections in {:.1} s ({:.0} requests/s)",
        seeding.routers,
        seeding.connections,
        seeding.seconds,
        seeding.requests as f64 / seeding.seconds.max(1e-9)
    ));
    memories(servers, &mut memory);

    // The fleet starts: every agent at once.
    let agents: Vec<Agent> = if o.single_router_agents {
        seeded.routers.iter().enumerate().map(|(index, r)| Agent::Router { index, id: r.id }).collect()
    } else {
        let hosts = o.hosts + usize::from(o.resync_routers.is_some());
        (0..hosts).map(|index| Agent::Host { index, name: seed::host_name(index) }).collect()
    };
    let sim =
        Arc::new(Sim::new(&last.base, token, agents.len(), o.wait_secs, o.heartbeat_secs, o.timeout, !o.plain_polls)?);
    let mut rng = Rng::new(o.seed);
    // A tenant's GET, again and again while the fleet starts, each on a new connection (as a
    // client that keeps none open would): what the storm leaves for API clients.
    let storm_over = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let probe = seeded.routers.first().and_then(|r| r.connections.first()).map(|c| {
        let path = format!("/v2.0/vpn/ipsec-site-connections/{c}");
        let (base, timeout, over) = (first.base.clone(), o.timeout, storm_over.clone());
        // On a thread and a runtime of its own, as a tenant is a process of its own: on the
        // simulator's runtime its every wake-up waited behind the 10,000 agents' tasks, and
        // that wait counted as the server's.
        let (tx, rx) = tokio::sync::oneshot::channel();
        std::thread::spawn(move || {
            let figure = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
                Ok(rt) => {
                    rt.block_on(tenant_probe(Api::connect(&base, timeout, 0).map_err(anyhow::Error::from), path, over))
                }
                Err(e) => Err(anyhow::anyhow!("cannot start the tenant's runtime: {e}")),
            };
            let _ = tx.send(figure);
        });
        rx
    });
    let started = Instant::now();
    let mut fleet = tokio::task::JoinSet::new();
    for a in &agents {
        fleet.spawn(agents::run(sim.clone(), a.clone(), rng.fraction()));
    }
    let limit = Duration::from_secs(600);
    let (mut last_count, mut last_progress) = (0, Instant::now());
    let mut first_state_seconds = None;
    while sim.reported.load(std::sync::atomic::Ordering::Relaxed) < agents.len() {
        if first_state_seconds.is_none() && sim.first_states.load(std::sync::atomic::Ordering::Relaxed) >= agents.len()
        {
            first_state_seconds = Some(started.elapsed().as_secs_f64());
        }
        let count = sim.reported.load(std::sync::atomic::Ordering::Relaxed);
        if count != last_count {
            (last_count, last_progress) = (count, Instant::now());
        }
        // A first report that failed is not sent again: no point waiting for it.
        let stuck = sim.counts().errors > 0 && last_progress.elapsed() > Duration::from_secs(30);
        if started.elapsed() > limit || stuck {
            // What the tenant saw meanwhile, and the server's memory: the figures of a failed start.
            storm_over.store(true, std::sync::atomic::Ordering::Relaxed);
            let tenant = match probe {
                Some(task) => task.await.ok().and_then(Result::ok).unwrap_or_default(),
                None => TenantFigure::default(),
            };
            memories(servers, &mut memory);
            return Err(anyhow::anyhow!(
                "only {} of {} agents got their state ({} reported) within {:.0} s; a tenant's GET meanwhile: \
                 p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms, {} refused (first: {}); server RSS {:.0} MiB \
                 (first agent error: {})",
                sim.first_states.load(std::sync::atomic::Ordering::Relaxed),
                agents.len(),
                sim.reported.load(std::sync::atomic::Ordering::Relaxed),
                started.elapsed().as_secs_f64(),
                tenant.latency.p50_ms,
                tenant.latency.p99_ms,
                tenant.latency.max_ms,
                tenant.failed,
                tenant.first_failure.as_deref().unwrap_or("-"),
                memory.iter().map(|m| m.rss_kib).max().unwrap_or(0) as f64 / 1024.0,
                sim.first_error().unwrap_or_default()
            ));
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let startup_seconds = started.elapsed().as_secs_f64();
    let first_state_seconds = first_state_seconds.unwrap_or(startup_seconds);
    storm_over.store(true, std::sync::atomic::Ordering::Relaxed);
    let tenant = match probe {
        Some(task) => task.await.map_err(|e| anyhow::anyhow!("the tenant probe failed: {e}"))??,
        None => TenantFigure::default(),
    };
    progress(format_args!(
        "every agent had its first state {first_state_seconds:.1} s after the fleet started; a tenant's GET meanwhile: \
         p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms, {} failed",
        tenant.latency.p50_ms, tenant.latency.p99_ms, tenant.latency.max_ms, tenant.failed
    ));
    progress(format_args!(
        "all {} agents have their state and reported ACTIVE in {startup_seconds:.1} s",
        agents.len()
    ));
    memories(servers, &mut memory);

    // Idle: nothing changes; heartbeats and long polls run.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let idle = idle_window(o, servers, &sim).await;
    progress(format_args!(
        "idle {:.0} s: server {} cores, simulator {:.3} cores",
        o.idle.as_secs_f64(),
        idle.server_cores.iter().map(|c| format!("{c:.3}")).collect::<Vec<_>>().join(" + "),
        idle.simulator_cores
    ));
    for (s, m) in servers.iter().zip(memory.iter_mut()) {
        m.idle_rss_kib = target::memory(s.pid).map_or(0, |m| m.rss_kib);
    }
    memories(servers, &mut memory);

    // A stream of random changes, through the first server.
    let changes = change_stream(o, &api, &sim, &seeded.routers, &mut rng).await;
    progress(format_args!(
        "{} changes: seen p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms; {} missed, {} refused",
        changes.latency.count,
        changes.latency.p50_ms,
        changes.latency.p99_ms,
        changes.latency.max_ms,
        changes.missed,
        changes.failed
    ));
    memories(servers, &mut memory);

    // Status reports the server absorbs.
    let status = agents::status_run(&sim, &agents, o.status_concurrency, o.status).await;
    progress(format_args!(
        "status: {:.0} reports/s ({:.0} connection statuses/s), p99 {:.1} ms",
        status.reports_per_second, status.connection_statuses_per_second, status.latency.p99_ms
    ));
    memories(servers, &mut memory);

    // A restarted agent's resync: its host with the most routers.
    let resync_agent = if o.resync_routers.is_some() { agents.last() } else { agents.first() };
    let resync = match resync_agent {
        Some(agent) => {
            let mut times = Vec::new();
            let mut routers = 0;
            for _ in 0..5 {
                let (t, n) = agents::resync(&sim, agent).await?;
                times.push(t);
                routers = n;
            }
            let cold_ms = sim.first_poll(match agent {
                Agent::Host { index, .. } | Agent::Router { index, .. } => *index,
            });
            ResyncFigure {
                routers,
                connections: routers * o.connections_per_router,
                warm: Summary::of(times),
                first_poll_at_start_ms: cold_ms.map_or(0.0, |d| d.as_secs_f64() * 1000.0),
            }
        }
        None => ResyncFigure::default(),
    };
    progress(format_args!(
        "resync of {} routers: p50 {:.1} ms, max {:.1} ms (at fleet start: {:.1} ms)",
        resync.routers, resync.warm.p50_ms, resync.warm.max_ms, resync.first_poll_at_start_ms
    ));
    memories(servers, &mut memory);
    fleet.abort_all();
    let counts = sim.counts();
    Ok(FleetReport {
        date: report::today(),
        shape: o.shape(),
        backend: o.backend,
        agents: agents.len(),
        host_agents: !o.single_router_agents,
        routers: seeding.routers,
        connections: seeding.connections,
        heartbeat_secs: o.heartbeat_secs,
        dead_after_secs: o.dead_after_secs,
        wait_secs: o.wait_secs,
        switched_polls: !o.plain_polls,
        server_log: o.server_log.clone().unwrap_or_else(|| "the server's default (info: a line per request)".into()),
        cores: std::thread::available_parallelism().map_or(1, |n| n.get()),
        seeding,
        startup_seconds,
        first_state_seconds,
        tenant,
        first_polls: Summary::of(sim.first_polls()),
        idle,
        memory,
        changes,
        status,
        resync,
        errors: counts.errors,
        first_error: sim.first_error(),
        counts,
    })
}

/// A tenant's GET every 50 ms until `over` (and at least 20 of them): latency of the answered
/// ones; anything but a 200 counts as failed, with the first such answer kept.
async fn tenant_probe(
    api: anyhow::Result<Api>,
    path: String,
    over: Arc<std::sync::atomic::AtomicBool>,
) -> anyhow::Result<TenantFigure> {
    let api = api?;
    let req = crate::client::Req { method: Method::GET, path, body: None, who: As::Bench };
    let (mut latencies, mut failed, mut first_failure) = (Vec::new(), 0, None);
    while !over.load(std::sync::atomic::Ordering::Relaxed) || latencies.len() + failed < 20 {
        let sent = Instant::now();
        match api.request(&req).await {
            Ok(reply) if reply.status == reqwest::StatusCode::OK => latencies.push(sent.elapsed()),
            Ok(reply) => {
                failed += 1;
                first_failure.get_or_insert_with(|| format!("{}: {}", reply.status, reply.snippet()));
            }
            Err(e) => {
                failed += 1;
                first_failure.get_or_insert(e.to_string());
            }
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    Ok(TenantFigure { latency: Summary::of(latencies), failed, first_failure })
}

async fn idle_window(o: &FleetOptions, servers: &[Spawned], sim: &Sim) -> IdleFigure {
    let per_second = stats::ticks_per_second();
    let me = std::process::id();
    let before: Vec<u64> = servers.iter().map(|s| stats::cpu_ticks(s.pid).unwrap_or(0)).collect();
    let me_before = stats::cpu_ticks(me).unwrap_or(0);
    let counts_before = sim.counts();
    let t = Instant::now();
    tokio::time::sleep(o.idle).await;
    let seconds = t.elapsed().as_secs_f64();
    let after: Vec<u64> = servers.iter().map(|s| stats::cpu_ticks(s.pid).unwrap_or(0)).collect();
    let me_after = stats::cpu_ticks(me).unwrap_or(0);
    let counts = sim.counts();
    IdleFigure {
        seconds,
        server_cores: before
            .iter()
            .zip(&after)
            .map(|(b, a)| stats::cores(a.saturating_sub(*b), per_second, seconds))
            .collect(),
        simulator_cores: stats::cores(me_after.saturating_sub(me_before), per_second, seconds),
        polls_per_second: (counts.polls - counts_before.polls) as f64 / seconds,
        heartbeats_per_second: (counts.heartbeats - counts_before.heartbeats) as f64 / seconds,
        status_posts_per_second: (counts.status_posts - counts_before.status_posts) as f64 / seconds,
    }
}

/// The kinds of change, as the table names them.
const KINDS: [&str; 3] = ["connection mtu", "connection admin_state_up", "service admin_state_up"];

/// `o.changes` random changes, one after the other: each is timed from just before its
/// request to the moment the owning agent's poll returns a state that shows it.
async fn change_stream(
    o: &FleetOptions,
    api: &Api,
    sim: &Sim,
    routers: &[SeededRouter],
    rng: &mut Rng,
) -> ChangeFigure {
    let mut mtu: Vec<Vec<i64>> = routers.iter().map(|r| vec![1500; r.connections.len()]).collect();
    let mut up: Vec<Vec<bool>> = routers.iter().map(|r| vec![true; r.connections.len()]).collect();
    let mut service_up = vec![true; routers.len()];
    let (mut latencies, mut api_latencies) = (Vec::new(), Vec::new());
    let (mut missed, mut failed) = (0, 0);
    let mut kinds = [0usize; 3];
    let mut first_failure = None;
    for _ in 0..o.changes {
        let k = rng.below(routers.len());
        let r = &routers[k];
        let j = rng.below(r.connections.len());
        let mut kind = match rng.below(4) {
            0 | 1 => 0,
            2 => 1,
            _ => 2,
        };
        // A service toggled with no connection up changes nothing a gateway sees.
        if kind == 2 && !up[k].iter().any(|u| *u) {
            kind = 0;
        }
        let (path, body, want) = match kind {
            0 => {
                let mut new = 1200 + rng.below(300) as i64;
                if new == mtu[k][j] {
                    new += 1;
                }
                mtu[k][j] = new;
                let path = format!("/v2.0/vpn/ipsec-site-connections/{}", r.connections[j]);
                (path, json!({"ipsec_site_connection": {"mtu": new}}), vec![(r.connections[j], Want::Mtu(new))])
            }
            1 => {
                up[k][j] = !up[k][j];
                let path = format!("/v2.0/vpn/ipsec-site-connections/{}", r.connections[j]);
                let want = vec![(r.connections[j], Want::Enabled(up[k][j] && service_up[k]))];
                (path, json!({"ipsec_site_connection": {"admin_state_up": up[k][j]}}), want)
            }
            _ => {
                service_up[k] = !service_up[k];
                let path = format!("/v2.0/vpn/vpnservices/{}", r.service);
                let want =
                    r.connections.iter().zip(&up[k]).map(|(c, u)| (*c, Want::Enabled(*u && service_up[k]))).collect();
                (path, json!({"vpnservice": {"admin_state_up": service_up[k]}}), want)
            }
        };
        kinds[kind] += 1;
        let sent = Instant::now();
        *sim.pending.lock().unwrap_or_else(std::sync::PoisonError::into_inner) =
            Some(Pending { router: r.id, want, seen: None });
        if let Err(e) = api.setup(Method::PUT, &path, Some(body), As::Bench, 200).await {
            failed += 1;
            first_failure.get_or_insert(e.to_string());
            continue;
        }
        api_latencies.push(sent.elapsed());
        let deadline = sent + Duration::from_secs(30);
        let seen = loop {
            let seen = sim.pending.lock().ok().and_then(|p| p.as_ref().and_then(|p| p.seen));
            if seen.is_some() {
                break seen;
            }
            let now = Instant::now();
            if now >= deadline {
                break None;
            }
            let _ = tokio::time::timeout(deadline - now, sim.seen.notified()).await;
        };
        match seen {
            Some(at) => latencies.push(at.saturating_duration_since(sent)),
            None => missed += 1,
        }
        tokio::time::sleep(Duration::from_millis(100 + rng.below(200) as u64)).await;
    }
    *sim.pending.lock().unwrap_or_else(std::sync::PoisonError::into_inner) = None;
    ChangeFigure {
        requested: o.changes,
        latency: Summary::of(latencies),
        api: Summary::of(api_latencies),
        missed,
        failed,
        first_failure,
        kinds: KINDS.iter().zip(kinds).map(|(k, n)| ((*k).to_owned(), n)).collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn database_urls() {
        let u = |s| with_database(s, "fleet").unwrap();
        assert_eq!(u("postgres://postgres@127.0.0.1:55432/postgres"), "postgres://postgres@127.0.0.1:55432/fleet");
        assert_eq!(u("postgres://u:p@h/postgres?sslmode=disable"), "postgres://u:p@h/fleet?sslmode=disable");
        assert_eq!(u("postgresql://h:1"), "postgresql://h:1/fleet");
        assert!(with_database("nothing", "x").is_err());
    }
}
