//! vpnaas-bench: runs the benchmark (operations × concurrencies against vpnaas or the reference, with HTTP and SQLite ceilings and server memory) and compares two runs.

mod client;
mod fleet;
mod http_ceiling;
mod load;
mod options;
mod report;
mod storage_ceiling;
mod target;
mod tunnels;
mod values;
mod workload;

use anyhow::anyhow;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::{Arc, Mutex};

use reqwest::Method;
use serde_json::Value;

use crate::client::{Api, As, Req};
use crate::load::{drive, Bounds};
use crate::options::{Command, Options};
use crate::report::{Report, Row, RssFigure};
use crate::storage_ceiling::StorageCeiling;
use crate::target::{memory, memory_of, Spawned};
use crate::workload::{Fixture, OpKind, Plan, SeedFigure, Seeder, CONNECTIONS, FULL, NEW, PAGE};

/// The order the operations run in: `list` before anything adds rows, so it reads exactly
/// the `full` set; `page` once its rows exist; `delete` last, over what `create` made.
const ORDER: [OpKind; 6] = [OpKind::Show, OpKind::List, OpKind::Update, OpKind::Page, OpKind::Create, OpKind::Delete];

fn main() -> ExitCode {
    let command = match options::parse(std::env::args_os()) {
        Ok(c) => c,
        Err(e) => {
            // Help and version go to stdout with success, mistakes to stderr with 2.
            let _ = e.print();
            return ExitCode::from(if e.use_stderr() { 2 } else { 0 });
        }
    };
    // Every simulated gateway holds a socket or two: use all the descriptors the hard limit allows.
    if let Ok((soft, hard)) = rlimit::Resource::NOFILE.get() {
        if soft < hard && rlimit::Resource::NOFILE.set(hard, hard).is_err() {
            eprintln!("vpnaas-bench: could not raise the open-file limit from {soft} to {hard}");
        }
    }
    let result = match command {
        Command::CeilingServer => http_ceiling::serve(),
        Command::Compare { reference, vpnaas } => Report::read_json(&reference)
            .and_then(|r| Report::read_json(&vpnaas).map(|v| (r, v)))
            .map(|(r, v)| print!("{}", report::compare(&r, &v))),
        Command::Run(o) => run_and_report(&o),
        Command::Fleet(o) => fleet::run_and_report(&o),
        Command::Tunnels(t) => tunnels::run_and_report(&t),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("vpnaas-bench: {e}");
            ExitCode::FAILURE
        }
    }
}

fn run_and_report(o: &Options) -> anyhow::Result<()> {
    let runtime = tokio::runtime::Runtime::new().map_err(|e| anyhow!("cannot start the runtime: {e}"))?;
    let started = std::time::Instant::now();
    let report = runtime.block_on(run(o))?;
    print!("{}", report::table(&report));
    if let Some(path) = &o.json {
        report.write_json(path)?;
        eprintln!("wrote {}", path.display());
    }
    eprintln!("took {:.1} s", started.elapsed().as_secs_f64());
    let errors = report.errors();
    if o.smoke && errors > 0 {
        return Err(anyhow!("smoke: {errors} requests failed"));
    }
    Ok(())
}

fn progress(msg: impl std::fmt::Display) {
    eprintln!("[vpnaas-bench] {msg}");
}

/// The 1-minute load average: other work on the machine shows up here, and in the figures.
fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .ok()
        .and_then(|l| l.split_whitespace().next().map(str::to_owned))
        .unwrap_or_else(|| "?".into())
}

async fn run(o: &Options) -> anyhow::Result<Report> {
    let load_at_start = load_average();
    let root = o.data_root.clone().unwrap_or_else(std::env::temp_dir);
    // A binary is needed to start a server, and for the SQLite ceiling's schema.
    let binary =
        if o.url.is_none() || o.vpnaas.is_some() { Some(target::vpnaas_binary(o.vpnaas.as_deref())?) } else { None };
    let server: Option<Spawned> = match (&o.url, &binary) {
        (Some(url), _) => {
            target::check_loopback(url)?;
            None
        }
        (None, Some(bin)) => {
            let mut settings = Vec::new();
            if let Some(url) = &o.transport_url {
                target::check_broker_loopback(url)?;
                settings.push(("VPNAAS_TRANSPORT_URL", url.clone()));
            }
            Some(target::spawn_vpnaas_with(bin, &root, o.server_log.as_deref(), &settings)?)
        }
        (None, None) => return Err(anyhow!("no server to run against")),
    };
    let (base, pids) = match &server {
        Some(s) => (s.base.clone(), vec![s.pid]),
        None => (o.url.clone().unwrap_or_default(), o.pids.clone()),
    };
    progress(format_args!("target {} ({})", base, o.label()));
    let max_clients = o.concurrency.iter().copied().max().unwrap_or(1).max(o.seed_concurrency);
    let api = Api::connect(&base, o.timeout, max_clients)?;
    let fixture = workload::setup(&api, o.reference).await?;
    let idle_memory = memory_of(&pids);
    let seeder = Seeder {
        api: &api,
        fixture: &fixture,
        concurrency: o.seed_concurrency,
        retries: if o.reference { 8 } else { 0 },
        command: o.seed_command.as_deref(),
    };

    let mut seeding = Vec::new();
    let (full_ids, figure) = seeder.seed(FULL, 0, o.full_rows).await?;
    progress(format_args!("seeded {} `{FULL}` rows at {:.0}/s", figure.rows, figure.rows_per_second));
    seeding.push(figure);

    let ceiling = if o.ceilings { Some(target::spawn_ceiling(&root)?) } else { None };
    let ceiling_api = match &ceiling {
        Some(c) => Some(Api::connect(&c.base, o.timeout, max_clients)?),
        None => None,
    };

    let mut page_ids: Vec<String> = Vec::new();
    let pool = Arc::new(Mutex::new(Vec::new()));
    let groups = Arc::new(Mutex::new(Vec::new()));
    // Numbers of rows made after the seeded sets, so every connection is distinct.
    let mut next_number = (o.full_rows + o.page_rows) as u64;
    let mut rows = Vec::new();
    for op in ORDER.into_iter().filter(|op| o.ops.contains(op)) {
        if op == OpKind::Page && page_ids.is_empty() {
            let (mut ids, figure) = seeder.seed(PAGE, o.full_rows as u64, o.page_rows).await?;
            progress(format_args!("seeded {} `{PAGE}` rows at {:.0}/s", figure.rows, figure.rows_per_second));
            seeding.push(figure);
            ids.sort();
            page_ids = ids;
        }
        for &concurrency in &o.concurrency {
            let bounds = Bounds { concurrency, requests: o.requests, duration: o.duration };
            if op == OpKind::Create {
                // One peer group per connection to be made, created before the clock starts.
                let have = groups.lock().map_or(0, |g| g.len());
                let want = o.requests as usize;
                if have < want {
                    let made = seeder.groups(next_number, want - have).await?;
                    next_number += made.len() as u64;
                    if let Ok(mut g) = groups.lock() {
                        g.extend(made);
                    }
                }
            }
            if op == OpKind::Delete {
                let have = pool.lock().map_or(0, |p| p.len());
                let want = o.requests as usize;
                if have < want {
                    let (ids, mut figure) = seeder.seed(NEW, next_number, want - have).await?;
                    next_number += ids.len() as u64;
                    figure.name = "delete targets".into();
                    seeding.push(figure);
                    if let Ok(mut p) = pool.lock() {
                        p.extend(ids);
                    }
                }
            }
            let plan = Arc::new(Plan {
                op,
                fixture: fixture.clone(),
                full_ids: full_ids.clone(),
                page_ids: page_ids.clone(),
                page_size: o.page_size,
                pool: pool.clone(),
                groups: groups.clone(),
            });
            check_list(&api, &plan, o).await?;
            warm(&api, concurrency, &full_ids).await;
            let measure = drive(&api, plan.clone(), bounds, false).await;
            progress(format_args!(
                "{:<6} c={:<3} {:>6} requests {:>9.1} req/s p50 {:>8.2} ms, {} errors",
                op.name(),
                concurrency,
                measure.requests,
                measure.throughput,
                measure.p50_ms,
                measure.errors
            ));
            let peak_rss_kib = memory_of(&pids).map(|m| m.hwm_kib);
            let http_ceiling = match &ceiling_api {
                Some(capi) => {
                    http_ceiling::configure(capi, op.expected(), measure.mean_bytes).await?;
                    warm(capi, concurrency, &full_ids).await;
                    Some(drive(capi, plan, bounds, true).await)
                }
                None => None,
            };
            rows.push(Row {
                op,
                what: op.describe(o.full_rows, o.page_rows, o.page_size),
                concurrency,
                measure,
                peak_rss_kib,
                http_ceiling,
                storage_ceiling: None,
            });
        }
    }
    drop(ceiling);
    // The server under test is idle from here on; stop it so the ceiling has the machine.
    drop(server);

    let mut notes = vec![format!(
        "the client and the server share this machine's {} cores; at most {} requests or {} s per row",
        std::thread::available_parallelism().map_or(1, |n| n.get()),
        o.requests,
        o.duration.as_secs_f64()
    )];
    if o.ceilings {
        notes.push(
            "the HTTP ceiling is axum 0.8 on tokio in its own process, answering the same requests with a \
             fixed body of each operation's mean response size"
                .to_owned(),
        );
    }
    if let (true, Some(bin)) = (o.ceilings, &binary) {
        progress("SQLite ceiling");
        storage_phase(bin, &root, o, &mut rows).await?;
        notes.push(
            "the SQLite ceiling writes through sqlx 0.8's SQLite driver on one connection, one transaction \
             each, and reads through rusqlite on up to 8 blocking threads, over `vpnaas migrate`'s schema, WAL + \
             synchronous=FULL + foreign keys"
                .to_owned(),
        );
    }
    let rss = match (&binary, o.rss_rows, &o.url) {
        (Some(bin), n, None) if n > 0 => Some(rss_phase(bin, &root, o).await?),
        _ => None,
    };
    notes.push(format!("load average (1 min) at start {load_at_start}, at end {}", load_average()));
    if o.reference {
        notes.push(format!("peak RSS is the sum of the peaks of the {} processes given with --pid", pids.len()));
    }
    Ok(Report {
        label: o.label(),
        target: base,
        reference: o.reference,
        cores: std::thread::available_parallelism().map_or(1, |n| n.get()),
        requests_bound: o.requests,
        seconds_bound: o.duration.as_secs_f64(),
        seeding,
        rows,
        rss,
        idle_memory,
        notes,
    })
}

/// Opens `concurrency` connections before a timed run, as the run will use, so that neither
/// the server nor a ceiling pays for TCP setup inside its figures.
async fn warm(api: &Api, concurrency: usize, full_ids: &[String]) {
    let path = format!("{CONNECTIONS}/{}", full_ids.first().map_or("", String::as_str));
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..concurrency {
        let (api, req) = (api.clone(), Req { method: Method::GET, path: path.clone(), body: None, who: As::Bench });
        tasks.spawn(async move { api.request(&req).await.map(|_| ()) });
    }
    while tasks.join_next().await.is_some() {}
}

/// Before a list runs, one request checks that it returns what it is meant to (all the
/// `full` rows, or a full page), so that a wrong data set cannot pass for a fast one.
async fn check_list(api: &Api, plan: &Plan, o: &Options) -> anyhow::Result<()> {
    let want = match plan.op {
        OpKind::List => o.full_rows,
        OpKind::Page => o.page_size,
        _ => return Ok(()),
    };
    let Some(req) = plan.request(0, true) else { return Ok(()) };
    let reply = api.request(&req).await?;
    let body = reply.json()?;
    let got = body.get("ipsec_site_connections").and_then(Value::as_array).map_or(0, Vec::len);
    if got == want {
        Ok(())
    } else {
        Err(anyhow!("{} {} returned {got} connections, expected {want}", req.method, req.path))
    }
}

/// The SQLite ceiling of every row, in the same order and with the same bounds.
async fn storage_phase(binary: &Path, root: &Path, o: &Options, rows: &mut [Row]) -> anyhow::Result<()> {
    let (_dir, db) = target::migrated_database(binary, root)?;
    let mut sc = StorageCeiling::open(&db, o.page_size).await?;
    sc.seed(FULL, o.full_rows).await?;
    let mut page_seeded = false;
    for op in ORDER.into_iter().filter(|op| o.ops.contains(op)) {
        if op == OpKind::Page && !page_seeded {
            sc.seed(PAGE, o.page_rows).await?;
            page_seeded = true;
        }
        for &concurrency in &o.concurrency {
            if op == OpKind::Create {
                sc.prepare_groups(o.requests as usize).await?;
            }
            if op == OpKind::Delete && sc.deletable() < o.requests as usize {
                sc.seed(NEW, o.requests as usize - sc.deletable()).await?;
            }
            if matches!(op, OpKind::Show | OpKind::List | OpKind::Page) {
                // Opens the readers' connections and prepares their statements, untimed.
                let warm = Bounds { concurrency, requests: 2 * concurrency as u64, duration: o.duration };
                sc.run(op, warm).await;
            }
            let m = sc.run(op, Bounds { concurrency, requests: o.requests, duration: o.duration }).await;
            if let Some(row) = rows.iter_mut().find(|r| r.op == op && r.concurrency == concurrency) {
                row.storage_ceiling = Some(m);
            }
        }
    }
    sc.close().await;
    Ok(())
}

fn file_size(p: PathBuf) -> u64 {
    std::fs::metadata(p).map_or(0, |m| m.len())
}

/// A fresh server with `--rss-rows` connections: its memory after seeding and after reads.
async fn rss_phase(binary: &Path, root: &Path, o: &Options) -> anyhow::Result<RssFigure> {
    let server = target::spawn_vpnaas(binary, root, o.server_log.as_deref())?;
    let concurrency = o.seed_concurrency.max(32);
    let api = Api::connect(&server.base, o.timeout, concurrency)?;
    let fixture: Fixture = workload::setup(&api, false).await?;
    let seeder = Seeder { api: &api, fixture: &fixture, concurrency, retries: 0, command: None };
    progress(format_args!("seeding {} connections for the memory figure", o.rss_rows));
    let (mut ids, seed): (Vec<String>, SeedFigure) = seeder.seed(PAGE, 0, o.rss_rows).await?;
    progress(format_args!("seeded {} rows at {:.0}/s", seed.rows, seed.rows_per_second));
    let after_seed = memory(server.pid).unwrap_or_default();
    ids.sort();
    let marker = |k: usize| ids.get(k * ids.len() / 21).cloned().unwrap_or_default();
    let mut reads: Vec<String> =
        (0..20).map(|k| format!("{CONNECTIONS}?name={PAGE}&limit=100&marker={}", marker(k))).collect();
    reads.extend((0..3).map(|_| format!("{CONNECTIONS}?limit=1000")));
    for path in reads {
        let req = Req { method: Method::GET, path, body: None, who: As::Bench };
        let reply = api.request(&req).await?;
        if !reply.status.is_success() {
            return Err(anyhow!("GET {}: {} {}", req.path, reply.status, reply.snippet()));
        }
    }
    let after_reads = memory(server.pid).unwrap_or_default();
    let data = server.dir().join("data");
    let database_bytes = file_size(data.join("vpnaas.db")) + file_size(data.join("vpnaas.db-wal"));
    Ok(RssFigure { rows: seed.rows, seed, after_seed, after_reads, database_bytes })
}
