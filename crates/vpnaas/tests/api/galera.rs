//! Galera (ADR 0031): its faults rehearsed, nodes killed and brought back while sixteen writers
//! write, through two replicas on different nodes and through HAProxy's one writer node.
//! `.ci/run` runs these one at a time after the other Galera tests, since they kill the
//! cluster's nodes (`VPNAAS_TEST_GALERA_DIR`: the cluster `.ci/galera.sh` started). The MariaDB
//! pass checks that every table has the primary key Galera needs.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use reqwest::Method;
use serde_json::json;

use crate::support::*;

/// The cluster's directory and base port, in the Galera pass; else `None`, with the reason.
fn cluster(test: &str) -> Option<(String, u16)> {
    if !galera_pass() {
        eprintln!("SKIPPED {test}: the Galera pass runs it (VPNAAS_TEST_BACKEND=galera)");
        return None;
    }
    let dir = std::env::var("VPNAAS_TEST_GALERA_DIR").expect("the Galera pass names VPNAAS_TEST_GALERA_DIR");
    let nodes = galera_nodes();
    assert_eq!(nodes.len(), 3, "VPNAAS_TEST_GALERA names three nodes");
    let base = nodes[0].rsplit(':').next().and_then(|p| p.parse().ok()).expect("node 0's port");
    // The whole cluster, whatever a test before this one left.
    for i in 0..3 {
        let synced = std::process::Command::new("mariadb")
            .args([&format!("--socket={dir}/n{i}/mysqld.sock"), "-uroot", "-N", "-e"])
            .arg("SHOW STATUS LIKE 'wsrep_local_state_comment'")
            .output()
            .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).contains("Synced"));
        assert!(synced, "galera node {i} is synced before {test}");
    }
    Some((dir, base))
}

/// `.ci/galera.sh` on the test's cluster, off the runtime's threads (the writers go on).
async fn galera(args: &[&str]) {
    let args: Vec<String> = args.iter().map(|a| (*a).to_owned()).collect();
    let shown = format!("{args:?}");
    let ok = tokio::task::spawn_blocking(move || {
        let script = concat!(env!("CARGO_MANIFEST_DIR"), "/../../.ci/galera.sh");
        std::process::Command::new("bash").arg(script).args(&args).status().is_ok_and(|s| s.success())
    })
    .await
    .unwrap();
    assert!(ok, "galera.sh {shown}");
}

/// Brings back, when the test ends however it ends, the nodes it killed: the Galera tests
/// that follow need the whole cluster.
struct Revive {
    dir: String,
    base: u16,
    dead: Vec<usize>,
}

impl Drop for Revive {
    fn drop(&mut self) {
        let script = concat!(env!("CARGO_MANIFEST_DIR"), "/../../.ci/galera.sh");
        for i in self.dead.drain(..) {
            let _ = std::process::Command::new("bash")
                .arg(script)
                .args(["rejoin", &self.dir, &self.base.to_string(), &i.to_string()])
                .status();
        }
    }
}

impl Revive {
    async fn kill(&mut self, i: usize) {
        galera(&["kill", &self.dir, &i.to_string()]).await;
        self.dead.push(i);
    }
    /// Starts node `i` again and waits until it is synced; asserts that it caught up by an
    /// incremental state transfer (IST), not a whole copy.
    async fn rejoin(&mut self, i: usize) {
        let before = ists(&self.dir, i);
        let started = std::time::Instant::now();
        galera(&["rejoin", &self.dir, &self.base.to_string(), &i.to_string()]).await;
        self.dead.retain(|d| *d != i);
        eprintln!("node {i} synced again {:?} after its start", started.elapsed());
        assert!(ists(&self.dir, i) > before, "node {i} came back by an incremental state transfer");
    }
}

/// How many times node `i` has received an incremental state transfer.
fn ists(dir: &str, i: usize) -> usize {
    std::fs::read_to_string(format!("{dir}/n{i}/server.log")).unwrap_or_default().matches("IST received").count()
}

/// What one writer was told: the objects it was told were created, each with the description
/// it was last told was written (and the one of an update it was answered 503 after, which may
/// or may not have been written: a node killed during its commit leaves that unknown), and
/// how many 503s it met.
#[derive(Default)]
struct Told {
    acknowledged: HashMap<String, (String, Option<String>)>,
    refused: usize,
    unexpected: Vec<String>,
    /// The longest any one request took.
    slowest: Duration,
}

/// A 503 must carry `Retry-After`; anything else but the expected status is noted.
fn refusal(r: &Resp, told: &mut Told) {
    if r.status == 503 && r.headers.contains_key("retry-after") {
        told.refused += 1;
    } else {
        told.unexpected.push(format!("{} {}", r.status, r.body));
    }
}

/// A writer creating IKE policies until told to stop, then renaming each one's description:
/// a create refused is not tried again (it may have been written), an update is tried again
/// until it is acknowledged (it writes the same content each time).
fn writer(p: Arc<Process>, w: usize, stop: Arc<AtomicBool>, count: Arc<AtomicUsize>) -> tokio::task::JoinHandle<Told> {
    tokio::spawn(async move {
        let mut told = Told::default();
        let mut i = 0;
        while !stop.load(Ordering::Relaxed) {
            let name = format!("w{w}-{i}");
            i += 1;
            let asked = std::time::Instant::now();
            let r = p
                .call(Method::POST, IKE, P1, Some(json!({"ikepolicy": {"name": name, "description": "new"}})), None)
                .await;
            told.slowest = told.slowest.max(asked.elapsed());
            if r.status != 201 {
                refusal(&r, &mut told);
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
            let id = r.id();
            told.acknowledged.insert(id.clone(), ("new".into(), None));
            count.fetch_add(1, Ordering::Relaxed);
            let description = format!("{name} renamed");
            while !stop.load(Ordering::Relaxed) {
                let body = json!({"ikepolicy": {"description": description}});
                let asked = std::time::Instant::now();
                let r = p.call(Method::PUT, &format!("{IKE}/{id}"), P1, Some(body), None).await;
                told.slowest = told.slowest.max(asked.elapsed());
                if r.status == 200 {
                    told.acknowledged.insert(id.clone(), (description.clone(), None));
                    break;
                }
                told.acknowledged.insert(id.clone(), ("new".into(), Some(description.clone())));
                refusal(&r, &mut told);
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
        told
    })
}

/// Waits until `count` has moved on by `n` from `from` (up to 60 s); returns how long it took.
async fn progress(count: &AtomicUsize, n: usize) -> Duration {
    let (from, started) = (count.load(Ordering::Relaxed), std::time::Instant::now());
    while count.load(Ordering::Relaxed) < from + n {
        assert!(started.elapsed() < Duration::from_secs(60), "no {n} writes acknowledged within a minute");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    started.elapsed()
}

/// Waits until `p` answers `GET path` with 200, for up to 30 s, and gives that answer. Until
/// then a replica may answer 503 (with Retry-After), as HAProxy moves its connections to a
/// node that rejoined: it is asked again, as a client told to retry would.
async fn serving(p: &Process, path: &str) -> Resp {
    for _ in 0..150 {
        let answer = p.call(Method::GET, path, P1, None, None).await;
        if answer.status == 200 {
            return answer;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    panic!("the replica does not serve again");
}

/// Stops the writers and checks what they were told against what `reader` lists: every
/// acknowledged create there, with the last acknowledged description, and no answer but
/// 2xx and 503 with `Retry-After`. Returns the acknowledged creates and the 503s.
async fn reckon(writers: Vec<tokio::task::JoinHandle<Told>>, stop: &AtomicBool, reader: &Process) -> (usize, usize) {
    stop.store(true, Ordering::Relaxed);
    let mut all = Told::default();
    for w in writers {
        let told = w.await.unwrap();
        all.acknowledged.extend(told.acknowledged);
        all.refused += told.refused;
        all.unexpected.extend(told.unexpected);
        all.slowest = all.slowest.max(told.slowest);
    }
    eprintln!("the slowest request took {:?}", all.slowest);
    assert!(all.unexpected.is_empty(), "answers other than 2xx and 503 with Retry-After: {:?}", all.unexpected);
    let listed = serving(reader, &format!("{IKE}?fields=id&fields=description")).await;
    let stored: HashMap<String, String> = listed.ok(200)["ikepolicies"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| (p["id"].as_str().unwrap().to_owned(), p["description"].as_str().unwrap().to_owned()))
        .collect();
    let lost: Vec<_> = all
        .acknowledged
        .iter()
        .filter(|(id, (told, maybe))| {
            let found = stored.get(*id);
            found != Some(told) && (maybe.is_none() || found != maybe.as_ref())
        })
        .map(|(id, told)| (id, told, stored.get(id)))
        .collect();
    assert!(
        lost.is_empty(),
        "{} of {} acknowledged writes lost or changed: {lost:?}",
        lost.len(),
        all.acknowledged.len()
    );
    (all.acknowledged.len(), all.refused)
}

/// The rehearsal: sixteen writers through two replicas on nodes 0 and 1. Node 2 is
/// killed, and comes back by IST; then node 1, the second replica's, is killed. Every write
/// acknowledged is found afterwards, the only refusals are 503s with `Retry-After`, and the
/// first replica goes on writing through the remaining nodes. The writes are creates, and
/// updates of a writer's own objects: no two replicas change one row, which Galera could lose
/// (ADR 0031).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn node_kills_under_sixteen_writers_on_two_nodes_lose_no_acknowledged_write() {
    let test = "node_kills_under_sixteen_writers_on_two_nodes_lose_no_acknowledged_write";
    let Some((dir, base)) = cluster(test) else { return };
    let nodes = galera_nodes();
    let name = create_mariadb_database(&nodes[0]).await;
    let a =
        Arc::new(spawn_process(&[], &[("VPNAAS_DATABASE_URL", as_replica(&format!("{}/{name}", nodes[0])).as_str())]));
    let b =
        Arc::new(spawn_process(&[], &[("VPNAAS_DATABASE_URL", as_replica(&format!("{}/{name}", nodes[1])).as_str())]));
    let stop = Arc::new(AtomicBool::new(false));
    let (through_a, through_b) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
    let writers: Vec<_> = (0..16)
        .map(|w| match w % 2 {
            0 => writer(a.clone(), w, stop.clone(), through_a.clone()),
            _ => writer(b.clone(), w, stop.clone(), through_b.clone()),
        })
        .collect();
    tokio::time::sleep(Duration::from_millis(1500)).await;

    let mut cluster = Revive { dir, base, dead: Vec::new() };
    cluster.kill(2).await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    cluster.rejoin(2).await;
    tokio::time::sleep(Duration::from_millis(1500)).await;

    cluster.kill(1).await;
    let b_then = through_b.load(Ordering::Relaxed);
    // The two nodes left wait for the cluster to give node 1 up (Galera's evs.suspect_timeout,
    // 5 s by default), then go on.
    let went_on = progress(&through_a, 20).await;
    let unready = b.raw(Method::GET, "/readyz").send().await.unwrap().status();
    assert_eq!(unready, 503, "the replica whose node is gone is not ready");
    let b_after = through_b.load(Ordering::Relaxed) - b_then;
    let (created, refused) = reckon(writers, &stop, &a).await;
    eprintln!(
        "{created} creates acknowledged, {refused} answered 503; after node 1 died, the replica on \
         node 0 wrote 20 creates within {went_on:?}, the one on node 1 {b_after}"
    );
    assert!(refused > 0, "killing the second replica's node refused nothing");

    cluster.rejoin(1).await;
    serving(&b, IKE).await;
}

/// The documented layout (ADR 0031): both replicas reach the cluster through HAProxy, which
/// sends every connection to node 0 and keeps 1 and 2 as backups. Node 0 is killed under
/// sixteen writers; HAProxy moves them to node 1. Node 0 comes back by IST; HAProxy cuts the
/// backup's sessions and moves them back, so that one node takes writes at any time. Nothing
/// acknowledged is lost, no answer is a 500, and both replicas serve throughout.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_writer_node_killed_behind_haproxy_loses_no_acknowledged_write() {
    let test = "the_writer_node_killed_behind_haproxy_loses_no_acknowledged_write";
    let Some((dir, base)) = cluster(test) else { return };
    let nodes = galera_nodes();
    let name = create_mariadb_database(&nodes[0]).await;
    let url = as_replica(&format!("{}/{name}", galera_proxy()));
    let a = Arc::new(spawn_process(&[], &[("VPNAAS_DATABASE_URL", url.as_str())]));
    let b = Arc::new(spawn_process(&[], &[("VPNAAS_DATABASE_URL", url.as_str())]));
    let stop = Arc::new(AtomicBool::new(false));
    let count = Arc::new(AtomicUsize::new(0));
    let writers: Vec<_> = (0..16)
        .map(|w| writer(if w % 2 == 0 { a.clone() } else { b.clone() }, w, stop.clone(), count.clone()))
        .collect();
    tokio::time::sleep(Duration::from_millis(1500)).await;

    let mut cluster = Revive { dir, base, dead: Vec::new() };
    cluster.kill(0).await;
    let failed_over = progress(&count, 20).await;
    cluster.rejoin(0).await;
    let back = progress(&count, 20).await;
    let (created, refused) = reckon(writers, &stop, &b).await;
    eprintln!(
        "{created} creates acknowledged, {refused} answered 503; 20 creates within {failed_over:?} \
         after node 0 died, and within {back:?} after it was back"
    );
}

/// Galera replicates by row: a table without a primary key cannot be applied reliably on the
/// other nodes. Every table the migrations make has one (the MariaDB pass checks the schema).
#[tokio::test]
async fn every_table_has_a_primary_key_as_galera_needs() {
    use sqlx::Connection;
    let test = "every_table_has_a_primary_key_as_galera_needs";
    if !mariadb_pass() {
        eprintln!("SKIPPED {test}: the MariaDB pass runs it (VPNAAS_TEST_BACKEND=mariadb)");
        return;
    }
    let url = fresh_mariadb().await.expect("VPNAAS_TEST_BACKEND=mariadb needs VPNAAS_TEST_MARIADB");
    drop(spawn_process(&[], &[("VPNAAS_DATABASE_URL", url.as_str())]));
    let mut conn = sqlx::MySqlConnection::connect(&url).await.unwrap();
    let tables: Vec<(String,)> = sqlx::query_as(
        "SELECT CAST(table_name AS CHAR) FROM information_schema.tables WHERE table_schema = DATABASE()",
    )
    .fetch_all(&mut conn)
    .await
    .unwrap();
    let keyed: Vec<(String,)> = sqlx::query_as(
        "SELECT CAST(table_name AS CHAR) FROM information_schema.table_constraints \
         WHERE table_schema = DATABASE() AND constraint_type = 'PRIMARY KEY'",
    )
    .fetch_all(&mut conn)
    .await
    .unwrap();
    assert!(tables.len() >= 15, "the schema is there: {tables:?}");
    let without: Vec<&String> = tables.iter().map(|(t,)| t).filter(|t| !keyed.iter().any(|(k,)| k == *t)).collect();
    assert!(without.is_empty(), "tables without a primary key: {without:?}");
}
