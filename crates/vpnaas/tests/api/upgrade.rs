//! Upgrades (ADR 0033, ADR 0034): from the previous release (`VPNAAS_TEST_PREVIOUS`, its binary,
//! which `.ci/previous.sh` builds from its tag) to this one, grenade's way, and the restores of
//! backups taken with each database's own tools.

use std::time::{Duration, Instant};

use reqwest::Method;
use serde_json::json;

use crate::support::*;
use crate::tunnel::{agent_of, lab, post, two_sites, until, TOKEN};

/// The previous release's binary, or a printed reason to skip.
fn previous(test: &str) -> Option<String> {
    let previous = std::env::var("VPNAAS_TEST_PREVIOUS").ok().filter(|p| !p.is_empty());
    if previous.is_none() {
        eprintln!(
            "SKIPPED {test}: VPNAAS_TEST_PREVIOUS names no previous release's binary (.ci/previous.sh builds it)"
        );
    }
    previous
}

/// Sends SIGTERM, as systemd does, and waits (at most 30 s) for the process to exit: with 0,
/// or for the previous release (`previous`) also killed by the signal, as v0.1.0 had no handler
/// for it.
fn terminate(child: &mut std::process::Child, previous: bool) {
    use std::os::unix::process::ExitStatusExt;
    let pid = child.id().to_string();
    assert!(std::process::Command::new("kill").args(["-TERM", &pid]).status().unwrap().success());
    let sent = Instant::now();
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            assert!(
                status.success() || (previous && status.signal() == Some(15)),
                "exit status after SIGTERM: {status:?}"
            );
            return;
        }
        assert!(sent.elapsed() < Duration::from_secs(30), "still running 30 s after SIGTERM");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// A free loopback address for a server that must come back on the same one.
fn free_address() -> String {
    let socket = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    socket.local_addr().unwrap().to_string()
}

/// What shows that nobody touched a charon: the unique ids of its IKE_SAs and CHILD_SAs, which
/// a re-established SA never keeps.
async fn sa_ids(vici: &str) -> Vec<(u64, Vec<u64>)> {
    let mut charon = vpnaas_agent::charon::ViciCharon::new(vici, Duration::from_secs(5)).expect("a VICI URI");
    let sas = vpnaas_agent::charon::Charon::list_sas(&mut charon).await.expect("list-sas");
    let mut ids: Vec<(u64, Vec<u64>)> = sas
        .iter()
        .filter(|s| s.state == "ESTABLISHED")
        .map(|s| (s.unique_id, s.children.iter().filter(|c| c.state == "INSTALLED").map(|c| c.unique_id).collect()))
        .collect();
    ids.sort();
    ids
}

/// When a gateway last reported the connection's tunnel.
async fn reported_at(p: &Process, conn: &str) -> serde_json::Value {
    crate::tunnel::tunnel(p, conn).await["reported_at"].clone()
}

/// Waits (at most `limit`) for a gateway to report the connection's tunnel after `before`.
async fn until_reported(p: &Process, conn: &str, before: &serde_json::Value, limit: Duration) {
    let started = Instant::now();
    while reported_at(p, conn).await == *before {
        assert!(started.elapsed() < limit, "no gateway reported {conn} within {limit:?}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// The SQLite path of an upgrade (stop, replace, start, contract), with two real charons
/// and version skew both ways, one release apart (ADR 0034): the previous release's server
/// drives an agent of each release, and both tunnels come up; the server is stopped with
/// SIGTERM and this release starts on its data directory with the agents left running; the
/// old agent converges a change the new server asks for; then the old agent is replaced by a
/// new one. Through the server's upgrade and the agent's, the charons' SAs keep their unique
/// ids (an upgrade is not a tunnel flap) and the LANs keep reaching each other.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_upgrade_of_a_sqlite_server_and_its_agents_keeps_every_sa() {
    let test = "an_upgrade_of_a_sqlite_server_and_its_agents_keeps_every_sa";
    let Some(previous) = previous(test) else { return };
    if std::env::var("VPNAAS_TEST_BACKEND").is_ok_and(|b| b != "sqlite") {
        eprintln!("SKIPPED {test}: the SQLite path runs in the SQLite pass");
        return;
    }
    let Some(lab) = lab(test) else { return };
    let data = tempfile::TempDir::new().unwrap();
    let data_dir = data.path().display().to_string();
    let address = free_address();
    let args = ["--listen", address.as_str(), "--data-dir", data_dir.as_str()];
    let envs = [("VPNAAS_AGENT_TOKEN", TOKEN), ("VPNAAS_DATABASE_URL", "")];
    let mut old = spawn_program(&previous, &args, &envs);
    let (routers, bodies) = two_sites(&old, ["upgrade-secret", "upgrade-secret"]).await;
    // Skew both ways under the old server: site a's agent is the previous release's, site b's
    // this release's.
    let mut agent_a = agent_of(&previous, &old.base, &routers[0], &lab.a.vici, &[], Some(TOKEN));
    let _agent_b = agent_of(env!("CARGO_BIN_EXE_vpnaas"), &old.base, &routers[1], &lab.b.vici, &[], Some(TOKEN));
    let a = post(&old, CONNS, P1, bodies[0].clone()).await;
    let b = post(&old, CONNS, P1, bodies[1].clone()).await;
    let up = until(&old, &[&a, &b], "ACTIVE", Duration::from_secs(60)).await;
    assert_eq!(up, ["ACTIVE", "ACTIVE"], "an old and a new agent bring the tunnel up under the old server");
    assert!(lab.ping_a_to_b(), "10.1.0.1 reaches 10.2.0.1 through the tunnel");
    let sas = (sa_ids(&lab.a.vici).await, sa_ids(&lab.b.vici).await);
    assert!(!sas.0.is_empty() && !sas.0[0].1.is_empty(), "site a has an IKE_SA with a CHILD_SA: {sas:?}");

    // The server's upgrade: SIGTERM, this release on the same data directory and address, the
    // agents left running (they wait for the server to come back), then the contract steps.
    terminate(&mut old.child, true);
    let stopped = Instant::now();
    let new = spawn_process(&args, &envs);
    eprintln!("the server was away for {:.2} s", stopped.elapsed().as_secs_f64());
    let contract = std::process::Command::new(env!("CARGO_BIN_EXE_vpnaas"))
        .args(["migrate", "--contract", "--data-dir", &data_dir])
        .env("VPNAAS_DATABASE_URL", "")
        .env("VPNAAS_PSK_KEY_FILE", shared_key_file())
        .env("VPNAAS_LOG", "warn")
        .output()
        .unwrap();
    assert!(contract.status.success(), "{}", String::from_utf8_lossy(&contract.stderr));
    let shown = new.call(Method::GET, &format!("{CONNS}/{a}"), P1, None, None).await;
    assert_eq!(shown.ok(200)["ipsec_site_connection"]["psk"], "upgrade-secret", "the sealed PSK opens");
    let reported = reported_at(&new, &a).await;
    until_reported(&new, &a, &reported, Duration::from_secs(60)).await;
    assert_eq!(until(&new, &[&a, &b], "ACTIVE", Duration::from_secs(10)).await, ["ACTIVE", "ACTIVE"]);
    assert_eq!((sa_ids(&lab.a.vici).await, sa_ids(&lab.b.vici).await), sas, "the server's upgrade touched no SA");
    assert!(lab.ping_a_to_b(), "the tunnel carries traffic after the server's upgrade");

    // The old agent converges what the new server asks: down, then up again.
    let path = format!("{CONNS}/{a}");
    let body = |up: bool| Some(json!({"ipsec_site_connection": {"admin_state_up": up}}));
    new.call(Method::PUT, &path, P1, body(false), None).await.ok(200);
    assert_eq!(until(&new, &[&a], "DOWN", Duration::from_secs(20)).await, ["DOWN"], "the old agent unloads it");
    assert!(!lab.ping_a_to_b(), "no tunnel while disabled");
    new.call(Method::PUT, &path, P1, body(true), None).await.ok(200);
    let up = until(&new, &[&a, &b], "ACTIVE", Duration::from_secs(40)).await;
    assert_eq!(up, ["ACTIVE", "ACTIVE"], "the old agent loads it again");
    assert!(lab.ping_a_to_b(), "back after enabling, through the old agent");

    // The agent's upgrade: the old one stops (SIGTERM), this release's starts and reports.
    let sas = (sa_ids(&lab.a.vici).await, sa_ids(&lab.b.vici).await);
    terminate(&mut agent_a.0, true);
    let reported = reported_at(&new, &a).await;
    std::thread::sleep(Duration::from_millis(1100)); // reported_at has whole seconds
    let _agent_a = agent_of(env!("CARGO_BIN_EXE_vpnaas"), &new.base, &routers[0], &lab.a.vici, &[], Some(TOKEN));
    until_reported(&new, &a, &reported, Duration::from_secs(30)).await;
    // A few more of its rounds, in which it would have reloaded or re-initiated anything.
    tokio::time::sleep(Duration::from_secs(5)).await;
    assert_eq!(until(&new, &[&a, &b], "ACTIVE", Duration::from_secs(10)).await, ["ACTIVE", "ACTIVE"]);
    assert_eq!((sa_ids(&lab.a.vici).await, sa_ids(&lab.b.vici).await), sas, "the agent's upgrade touched no SA");
    assert!(lab.ping_a_to_b(), "the tunnel carries traffic after the agent's upgrade");
}

/// A rolling upgrade from the previous release (ADR 0033), grenade's way: the previous release
/// serves a site and sixteen writers; the new release starts beside it on the same database,
/// applying its expand steps while the old one serves; the writers move across over 30 s; the
/// old one stops; `migrate --contract` runs. Neither replica answers a 5xx at any time, every
/// create acknowledged by either is found with its exact content, and the site's pre-shared key
/// opens.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rolling_upgrade_from_the_previous_release_answers_no_5xx_and_loses_nothing() {
    use std::sync::atomic::{AtomicBool, AtomicU8, Ordering};
    use std::sync::{Arc, Mutex};
    let test = "a_rolling_upgrade_from_the_previous_release_answers_no_5xx_and_loses_nothing";
    let Some(previous) = previous(test) else { return };
    // On PostgreSQL in the first pass (the PostgreSQL pass would repeat it) and on MariaDB.
    if std::env::var("VPNAAS_TEST_BACKEND").is_ok_and(|b| b == "postgres" || b == "galera") {
        eprintln!("SKIPPED {test}: it runs on PostgreSQL in the first pass and in the MariaDB pass");
        return;
    }
    let Some(url) = fresh_shared(test).await else { return };
    let envs = [("VPNAAS_DATABASE_URL", url.as_str())];
    let old = Arc::new(spawn_program(&previous, &[], &envs));
    let site = process_site(&old).await;
    let conn = old.call(Method::POST, CONNS, P1, Some(site), None).await.id();

    // 0: every write through the old replica; 1: alternating; 2: through the new one only.
    let phase = Arc::new(AtomicU8::new(0));
    let new: Arc<Mutex<Option<Arc<Process>>>> = Arc::default();
    let stop = Arc::new(AtomicBool::new(false));
    let writers: Vec<_> = (0..16)
        .map(|w| {
            let (old, new, phase, stop) = (old.clone(), new.clone(), phase.clone(), stop.clone());
            tokio::spawn(async move {
                let (mut acknowledged, mut failures) = (Vec::new(), Vec::new());
                let mut i = 0u32;
                while !stop.load(Ordering::Relaxed) {
                    let newer = new.lock().unwrap().clone();
                    let target = match (phase.load(Ordering::Relaxed), newer) {
                        (1, Some(n)) if i % 2 == 1 => n,
                        (2, Some(n)) => n,
                        _ => old.clone(),
                    };
                    let (name, description) = (format!("w{w}-{i}"), format!("written {i} by {w}"));
                    i += 1;
                    let body = json!({"ikepolicy": {"name": name, "description": description}});
                    let r = target.call(Method::POST, IKE, P1, Some(body), None).await;
                    match r.status.as_u16() {
                        201 => acknowledged.push((name, description)),
                        s if s >= 500 => failures.push(format!("{s} {}", r.body)),
                        _ => failures.push(format!("{} {}", r.status, r.body)),
                    }
                }
                (acknowledged, failures)
            })
        })
        .collect();
    tokio::time::sleep(Duration::from_secs(2)).await;

    // The new release starts beside the old one: its expand steps run while the old one serves.
    let shared = url.clone();
    let started = tokio::task::spawn_blocking(move || spawn_process(&[], &[("VPNAAS_DATABASE_URL", shared.as_str())]));
    let started = Arc::new(started.await.unwrap());
    *new.lock().unwrap() = Some(started.clone());
    phase.store(1, Ordering::Relaxed);
    tokio::time::sleep(Duration::from_secs(15)).await;
    phase.store(2, Ordering::Relaxed);
    tokio::time::sleep(Duration::from_secs(15)).await;
    let shown = old.call(Method::GET, &format!("{CONNS}/{conn}"), P1, None, None).await;
    assert_eq!(shown.ok(200)["ipsec_site_connection"]["psk"], "secret", "the old release reads the expanded schema");

    // The old one stops (its writers moved away before), then the contract steps run.
    let pid = old.child.id().to_string();
    assert!(std::process::Command::new("kill").args(["-TERM", &pid]).status().unwrap().success());
    tokio::time::sleep(Duration::from_secs(2)).await;
    stop.store(true, Ordering::Relaxed);
    let (mut acknowledged, mut failures) = (Vec::new(), Vec::new());
    for w in writers {
        let (a, f) = w.await.unwrap();
        acknowledged.extend(a);
        failures.extend(f);
    }
    assert!(failures.is_empty(), "{} answers were not 201: {:?}", failures.len(), &failures[..failures.len().min(5)]);
    let contract = std::process::Command::new(env!("CARGO_BIN_EXE_vpnaas"))
        .args(["migrate", "--contract"])
        .env("VPNAAS_DATABASE_URL", envs[0].1)
        .env("VPNAAS_PSK_KEY_FILE", shared_key_file())
        .env("VPNAAS_LOG", "warn")
        .output()
        .unwrap();
    assert!(contract.status.success(), "{}", String::from_utf8_lossy(&contract.stderr));

    let listed = started.call(Method::GET, &format!("{IKE}?fields=name&fields=description"), P1, None, None).await;
    let stored: std::collections::HashMap<String, String> = listed.ok(200)["ikepolicies"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| (p["name"].as_str().unwrap().to_owned(), p["description"].as_str().unwrap().to_owned()))
        .collect();
    let lost: Vec<_> = acknowledged.iter().filter(|(n, d)| stored.get(n) != Some(d)).collect();
    assert!(lost.is_empty(), "{} of {} acknowledged creates lost or changed", lost.len(), acknowledged.len());
    let shown = started.call(Method::GET, &format!("{CONNS}/{conn}"), P1, None, None).await;
    assert_eq!(shown.ok(200)["ipsec_site_connection"]["psk"], "secret");
    eprintln!("{} creates acknowledged across the upgrade, none lost, no 5xx", acknowledged.len());
}

/// Runs `backup` (a blocking command) while four writers create IKE policies through
/// `server`: the names acknowledged before it began, and how many were acknowledged after.
async fn backup_under_writers(
    server: std::sync::Arc<Process>,
    backup: impl FnOnce() + Send + 'static,
) -> (Vec<String>, usize) {
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::{Arc, Mutex};
    let stop = Arc::new(AtomicBool::new(false));
    let acknowledged: Arc<Mutex<Vec<(String, Instant)>>> = Arc::default();
    let writers: Vec<_> = (0..4)
        .map(|w| {
            let (server, stop, acknowledged) = (server.clone(), stop.clone(), acknowledged.clone());
            tokio::spawn(async move {
                let mut i = 0;
                while !stop.load(Ordering::Relaxed) {
                    let name = format!("w{w}-{i}");
                    i += 1;
                    let r = server.call(Method::POST, IKE, P1, Some(json!({"ikepolicy": {"name": name}})), None).await;
                    assert_eq!(r.status, 201, "{}", r.body);
                    acknowledged.lock().unwrap().push((name, Instant::now()));
                }
            })
        })
        .collect();
    tokio::time::sleep(Duration::from_millis(1000)).await;
    let began = Instant::now();
    tokio::task::spawn_blocking(backup).await.unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;
    stop.store(true, Ordering::Relaxed);
    for w in writers {
        w.await.unwrap();
    }
    let acknowledged = acknowledged.lock().unwrap().clone();
    let before: Vec<String> = acknowledged.iter().filter(|(_, at)| *at < began).map(|(n, _)| n.clone()).collect();
    let after = acknowledged.len() - before.len();
    assert!(
        before.len() > 10 && after > 0,
        "the writers wrote before ({}) and during ({after}) the backup",
        before.len()
    );
    (before, after)
}

/// A server on a restored database shows the site's connection with its PSK (the sealed secret
/// opens with the key file, which a database backup does not hold) and every create acknowledged
/// before the backup began.
async fn check_restored(restored: &Process, conn: &str, before: &[String]) {
    let shown = restored.call(Method::GET, &format!("{CONNS}/{conn}"), P1, None, None).await;
    assert_eq!(shown.ok(200)["ipsec_site_connection"]["psk"], "secret");
    let listed = restored.call(Method::GET, &format!("{IKE}?fields=name"), P1, None, None).await;
    let names: std::collections::HashSet<&str> =
        listed.ok(200)["ikepolicies"].as_array().unwrap().iter().filter_map(|p| p["name"].as_str()).collect();
    let missing: Vec<&String> = before.iter().filter(|n| !names.contains(n.as_str())).collect();
    assert!(missing.is_empty(), "acknowledged before the backup began, missing from it: {missing:?}");
}

/// Runs a command to success, or fails with its output.
fn run(program: &str, args: &[&str]) {
    let out = std::process::Command::new(program).args(args).output().unwrap_or_else(|e| panic!("{program}: {e}"));
    assert!(
        out.status.success(),
        "{program} {args:?}: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Only the first pass runs the restores (each needs one database server, not a backend).
fn first_pass(test: &str) -> bool {
    let first = std::env::var("VPNAAS_TEST_BACKEND").map_or(true, |b| b == "sqlite");
    if !first {
        eprintln!("SKIPPED {test}: it runs in the first pass");
    }
    first
}

/// PostgreSQL's own tools, as the operations guide gives them: `pg_dump --format=custom` of a
/// serving database under writers, `pg_restore` into a new database, and a server on the copy.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pg_dump_under_writers_restores_into_a_new_database_that_serves_everything() {
    let test = "a_pg_dump_under_writers_restores_into_a_new_database_that_serves_everything";
    if !first_pass(test) {
        return;
    }
    let Some(_admin) = require_postgres(test) else { return };
    let bin = std::fs::read_dir("/usr/lib/postgresql")
        .unwrap()
        .filter_map(|e| e.ok().map(|e| e.path().join("bin")))
        .max()
        .expect("PostgreSQL's tools");
    let (pg_dump, pg_restore) =
        (bin.join("pg_dump").display().to_string(), bin.join("pg_restore").display().to_string());
    let url = fresh_postgres().await.unwrap();
    let server = std::sync::Arc::new(spawn_process(&[], &[("VPNAAS_DATABASE_URL", url.as_str())]));
    let site = process_site(&server).await;
    let conn = server.call(Method::POST, CONNS, P1, Some(site), None).await.id();
    let dir = tempfile::tempdir().unwrap();
    let dump = dir.path().join("vpnaas.dump").display().to_string();
    let (source, file) = (url.clone(), dump.clone());
    let (before, after) =
        backup_under_writers(server.clone(), move || run(&pg_dump, &["--format=custom", "--file", &file, &source]))
            .await;

    let copy = fresh_postgres().await.unwrap();
    run(&pg_restore, &["--no-owner", "--exit-on-error", "--dbname", &copy, &dump]);
    let restored = spawn_process(&[], &[("VPNAAS_DATABASE_URL", copy.as_str())]);
    check_restored(&restored, &conn, &before).await;
    eprintln!("pg_dump: {} creates acknowledged before it began, all restored; {after} during or after", before.len());
}

/// A MariaDB server of the test's own, stopped when dropped.
struct MariaDb {
    dir: tempfile::TempDir,
}

impl MariaDb {
    fn script() -> String {
        format!("{}/../../.ci/mariadb.sh", env!("CARGO_MANIFEST_DIR"))
    }

    /// A data directory the `mysql` user may enter (MariaDB runs as it under root).
    fn directory() -> tempfile::TempDir {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
        dir
    }

    /// Starts the server on `dir` (`dir/data` initialised, or restored) on `port`.
    fn start(dir: tempfile::TempDir, port: &str) -> MariaDb {
        run("bash", &[&Self::script(), "start", &dir.path().display().to_string(), port]);
        MariaDb { dir }
    }
}

impl Drop for MariaDb {
    fn drop(&mut self) {
        let _ = std::process::Command::new("bash")
            .args([&Self::script(), "stop", &self.dir.path().display().to_string()])
            .output();
    }
}

/// MariaDB's own tool, as the operations guide gives it: `mariadb-backup --backup` of a
/// serving server under writers, `--prepare`, `--copy-back` into a new data directory, a
/// server started on it, and vpnaas serving the copy.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_mariadb_backup_under_writers_restores_into_a_new_server_that_serves_everything() {
    let test = "a_mariadb_backup_under_writers_restores_into_a_new_server_that_serves_everything";
    if !first_pass(test) {
        return;
    }
    let missing = ["mariadb-backup", "mariadb-install-db"]
        .into_iter()
        .find(|tool| std::process::Command::new(tool).arg("--version").output().is_err());
    let root = std::process::Command::new("id").arg("-u").output().is_ok_and(|o| o.stdout.starts_with(b"0\n"));
    if let Some(why) = missing.map(|t| format!("{t} is not installed")).or((!root).then(|| "needs root".to_owned())) {
        assert!(std::env::var("CI").map_or(true, |v| v.is_empty()), "{test}: CI runs this as root: {why}");
        eprintln!("SKIPPED {test}: {why}");
        return;
    }
    let source_dir = MariaDb::directory();
    run("bash", &[&MariaDb::script(), "init", &source_dir.path().display().to_string()]);
    let port = free_address().rsplit_once(':').unwrap().1.to_owned();
    let source = MariaDb::start(source_dir, &port);
    let admin = format!("mysql://vpnaas:vpnaas@127.0.0.1:{port}");
    let name = create_mariadb_database(&admin).await;
    let url = format!("{admin}/{name}");
    let server = std::sync::Arc::new(spawn_process(&[], &[("VPNAAS_DATABASE_URL", url.as_str())]));
    let site = process_site(&server).await;
    let conn = server.call(Method::POST, CONNS, P1, Some(site), None).await.id();

    let work = tempfile::tempdir().unwrap();
    let target = work.path().join("backup").display().to_string();
    let (into, at) = (target.clone(), port.clone());
    let backup = move || {
        let target = format!("--target-dir={into}");
        let port = format!("--port={at}");
        run("mariadb-backup", &["--backup", &target, "--host=127.0.0.1", &port, "--user=vpnaas", "--password=vpnaas"]);
    };
    let (before, after) = backup_under_writers(server.clone(), backup).await;
    drop(server);
    drop(source);

    run("mariadb-backup", &["--prepare", &format!("--target-dir={target}")]);
    let restored_dir = MariaDb::directory();
    let data = restored_dir.path().join("data").display().to_string();
    run("mariadb-backup", &["--copy-back", &format!("--target-dir={target}"), &format!("--datadir={data}")]);
    run("chown", &["-R", "mysql:", &restored_dir.path().display().to_string()]);
    let port = free_address().rsplit_once(':').unwrap().1.to_owned();
    let _restored_db = MariaDb::start(restored_dir, &port);
    let copy = format!("mysql://vpnaas:vpnaas@127.0.0.1:{port}/{name}");
    let restored = spawn_process(&[], &[("VPNAAS_DATABASE_URL", copy.as_str())]);
    check_restored(&restored, &conn, &before).await;
    eprintln!(
        "mariadb-backup: {} creates acknowledged before it began, all restored; {after} during or after",
        before.len()
    );
}
