//! Several replicas on one PostgreSQL or MariaDB database: visibility, If-Match, no lost updates, in-use races, change markers; PostgreSQL's restart.

use reqwest::Method;
use serde_json::json;

use crate::support::*;

/// Two `vpnaas serve` processes on one fresh shared database (PostgreSQL, or MariaDB in its
/// pass), with a site ready in P1.
async fn two_replicas(test: &str) -> Option<(Process, Process)> {
    let (url_a, url_b) = fresh_shared_pair(test).await?;
    let (envs_a, envs_b) = ([("VPNAAS_DATABASE_URL", url_a.as_str())], [("VPNAAS_DATABASE_URL", url_b.as_str())]);
    // Both start at once: migrations must be safe when replicas race.
    let (a, b) = std::thread::scope(|s| {
        let a = s.spawn(|| spawn_process(&[], &envs_a));
        let b = s.spawn(|| spawn_process(&[], &envs_b));
        (a.join().expect("replica a"), b.join().expect("replica b"))
    });
    let backend = if mariadb_pass() || galera_pass() { "mariadb" } else { "postgresql" };
    assert!(a.log_line.contains(backend) && !a.log_line.contains("password"), "{}", a.log_line);
    Some((a, b))
}

#[tokio::test]
async fn if_match_refuses_a_write_when_the_resource_has_moved_on() {
    let app = spawn_app().await;
    let id = app.ikepolicy(P1).await;
    let path = format!("{IKE}/{id}");
    let put = |rev: i64, name: &str| {
        app.raw(Method::PUT, &path)
            .header("X-Project-Id", P1)
            .header("If-Match", format!("revision_number={rev}"))
            .body(json!({"ikepolicy": {"name": name}}).to_string())
    };
    assert_eq!(app.send(put(1, "first")).await.ok(200)["ikepolicy"]["revision_number"], 2);
    app.send(put(1, "stale")).await.refused(412, "RevisionNumberConstraintFailed", "Current revision is 2");
    assert_eq!(app.get(&path, P1).await.ok(200)["ikepolicy"]["name"], "first");
    let delete = |rev: i64| {
        app.raw(Method::DELETE, &path).header("X-Project-Id", P1).header("If-Match", format!("revision_number={rev}"))
    };
    app.send(delete(1)).await.refused(412, "RevisionNumberConstraintFailed", "revision_number=1");
    assert_eq!(app.send(delete(2)).await.status, 204);
}

#[tokio::test]
async fn replicas_see_each_others_writes_at_once() {
    let Some((a, b)) = two_replicas("replicas_see_each_others_writes_at_once").await else { return };
    let r = a.call(Method::POST, IKE, P1, Some(json!({"ikepolicy": {"name": "seen"}})), None).await;
    let id = r.id();
    let r = b.call(Method::GET, &format!("{IKE}/{id}"), P1, None, None).await;
    assert_eq!(r.ok(200)["ikepolicy"]["name"], "seen");
    let r =
        b.call(Method::PUT, &format!("{IKE}/{id}"), P1, Some(json!({"ikepolicy": {"name": "renamed"}})), None).await;
    r.ok(200);
    let r = a.call(Method::PUT, &format!("{IKE}/{id}"), P1, Some(json!({"ikepolicy": {"name": "x"}})), Some(1)).await;
    r.refused(412, "RevisionNumberConstraintFailed", "Current revision is 2");
    let r = a.call(Method::GET, &format!("{IKE}?name=renamed"), P1, None, None).await;
    assert_eq!(r.ok(200)["ikepolicies"].as_array().map(Vec::len), Some(1));
}

/// A quota holds across replicas (ADR 0041): 32 creates at once through two replicas
/// against a limit of 10 leave exactly 10, the rest refused with Neutron's OverQuota.
#[tokio::test]
async fn thirty_two_creates_through_two_replicas_against_a_limit_of_ten_leave_ten() {
    let test = "thirty_two_creates_through_two_replicas_against_a_limit_of_ten_leave_ten";
    let Some((a, b)) = two_replicas(test).await else { return };
    let limit = json!({"quota": {"ipsecpolicy": 10}});
    a.call(Method::PUT, "/v2.0/quotas/p1", ADMIN, Some(limit), None).await.ok(200);
    let creates = (0..32).map(|i| {
        let replica = if i % 2 == 0 { &a } else { &b };
        let body = json!({"ipsecpolicy": {"name": format!("ipsec-{i}")}});
        async move { replica.call(Method::POST, IPSEC, P1, Some(body), None).await }
    });
    let answers = futures_join_all(creates).await;
    let created = answers.iter().filter(|r| r.status == 201).count();
    let over = answers.iter().filter(|r| r.error_type() == "OverQuota").count();
    assert_eq!((created, over), (10, 22), "{:?}", answers.iter().map(|r| r.status).collect::<Vec<_>>());
    let listed = b.call(Method::GET, IPSEC, P1, None, None).await;
    assert_eq!(listed.ok(200)["ipsecpolicies"].as_array().map(Vec::len), Some(10));
}

#[tokio::test]
async fn fifty_concurrent_updates_through_two_replicas_lose_nothing() {
    let Some((a, b)) = two_replicas("fifty_concurrent_updates_through_two_replicas_lose_nothing").await else { return };
    let body = process_site(&a).await;
    let id = a.call(Method::POST, CONNS, P1, Some(body), None).await.id();
    let path = format!("{CONNS}/{id}");
    let updates = (0..50).map(|i| {
        let replica = if i % 2 == 0 { &a } else { &b };
        let body = json!({"ipsec_site_connection": {"description": format!("update {i}"), "mtu": 1300 + i}});
        let path = path.clone();
        async move { replica.call(Method::PUT, &path, P1, Some(body), None).await }
    });
    let results = futures_join_all(updates).await;
    let mut revisions: Vec<i64> =
        results.iter().map(|r| r.ok(200)["ipsec_site_connection"]["revision_number"].as_i64().unwrap()).collect();
    revisions.sort_unstable();
    // Every acknowledged update moved the revision exactly once: none was lost or half-applied.
    assert_eq!(revisions, (2..=51).collect::<Vec<i64>>());
    let last = results.iter().find(|r| r.body["ipsec_site_connection"]["revision_number"] == 51).unwrap();
    let shown = b.call(Method::GET, &path, P1, None, None).await;
    let c = &shown.ok(200)["ipsec_site_connection"];
    assert_eq!(c["revision_number"], 51);
    let winner = &last.body["ipsec_site_connection"];
    assert_eq!(
        (&c["description"], &c["mtu"]),
        (&winner["description"], &winner["mtu"]),
        "the last acknowledged update is the state, whole"
    );
}

#[tokio::test]
async fn a_policy_delete_racing_a_connection_create_never_leaves_a_dangling_reference() {
    let Some((a, b)) =
        two_replicas("a_policy_delete_racing_a_connection_create_never_leaves_a_dangling_reference").await
    else {
        return;
    };
    let body = process_site(&a).await;
    let (mut deleted, mut created) = (0, 0);
    for round in 0..20 {
        let ike = a
            .call(Method::POST, IKE, P1, Some(json!({"ikepolicy": {"name": format!("race {round}")}})), None)
            .await
            .id();
        let mut conn = body.clone();
        conn["ipsec_site_connection"]["ikepolicy_id"] = json!(ike);
        let ike_path = format!("{IKE}/{ike}");
        let (del, create) = tokio::join!(
            a.call(Method::DELETE, &ike_path, P1, None, None),
            b.call(Method::POST, CONNS, P1, Some(conn), None)
        );
        match (del.status.as_u16(), create.status.as_u16()) {
            (204, 404 | 409) => deleted += 1,
            (409, 201) => {
                created += 1;
                b.call(Method::DELETE, &format!("{CONNS}/{}", create.id()), P1, None, None).await.ok(204);
            }
            other => panic!("round {round}: an inconsistent outcome {other:?}: {:#} {:#}", del.body, create.body),
        }
    }
    assert_eq!(deleted + created, 20);
    let all = a.call(Method::GET, CONNS, ADMIN, None, None).await;
    assert_eq!(all.ok(200)["ipsec_site_connections"], json!([]));
}

/// The fault rehearsal of ADR 0013: PostgreSQL stopped and started again while writers keep
/// writing. Every answer is a 201 or an enveloped 503 (never a 500 or a hang), the same replica
/// serves again once the database is back, and every create it acknowledged is there.
#[tokio::test]
async fn a_postgresql_restart_mid_load_gives_503s_then_the_same_replica_serves_again_and_loses_nothing() {
    let Some(_) =
        postgres_only("a_postgresql_restart_mid_load_gives_503s_then_the_same_replica_serves_again_and_loses_nothing")
    else {
        return;
    };
    // A cluster of its own: stopping the shared one would break the tests running beside this one.
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/../../.ci/postgres.sh");
    let dir = tempfile::Builder::new().prefix("vpnaas-pg-restart").tempdir_in("/tmp").unwrap();
    let pgdata = dir.path().join("data");
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port().to_string();
    let pg = |args: &[&str]| {
        let ok = std::process::Command::new("bash").arg(script).args(args).status().unwrap().success();
        assert!(ok, "postgres.sh {args:?}");
    };
    let pgdata_s = pgdata.display().to_string();
    if std::process::Command::new("id").arg("-u").output().map(|o| o.stdout.starts_with(b"0")).unwrap_or(false) {
        let _ = std::process::Command::new("chmod").args(["755", &dir.path().display().to_string()]).status();
    }
    pg(&["init", &pgdata_s]);
    pg(&["start", &pgdata_s, &port]);
    let url = format!("postgres://postgres@127.0.0.1:{port}/postgres");
    let server = std::sync::Arc::new(spawn_process(
        &[],
        &[("VPNAAS_DATABASE_URL", url.as_str()), ("VPNAAS_DATABASE_TIMEOUT_SECS", "2")],
    ));
    server.call(Method::POST, IKE, P1, Some(json!({"ikepolicy": {"name": "before"}})), None).await.ok(201);

    // Four writers, creating until told to stop; each keeps the names acknowledged with a 201.
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let writers: Vec<_> = (0..4)
        .map(|w| {
            let (server, stop) = (server.clone(), stop.clone());
            tokio::spawn(async move {
                let (mut acknowledged, mut refused) = (Vec::new(), 0usize);
                let mut i = 0;
                while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                    let name = format!("w{w}-{i}");
                    i += 1;
                    let r = server.call(Method::POST, IKE, P1, Some(json!({"ikepolicy": {"name": name}})), None).await;
                    match r.status.as_u16() {
                        201 => acknowledged.push(name),
                        _ => {
                            r.refused(503, "ServiceUnavailable", "database cannot be reached");
                            refused += 1;
                            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                        }
                    }
                }
                (acknowledged, refused)
            })
        })
        .collect();
    tokio::time::sleep(std::time::Duration::from_millis(800)).await;

    pg(&["stop", &pgdata_s]);
    let r = server.call(Method::GET, IKE, P1, None, None).await;
    r.refused(503, "ServiceUnavailable", "database cannot be reached");
    assert!(!r.message().contains("postgres"), "no internals: {}", r.message());
    tokio::time::sleep(std::time::Duration::from_secs(2)).await;

    pg(&["start", &pgdata_s, &port]);
    let back = std::time::Instant::now();
    let mut answered = None;
    for _ in 0..80 {
        let r = server.call(Method::GET, IKE, P1, None, None).await;
        if r.status == 200 {
            answered = Some(r);
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(250)).await;
    }
    let r = answered.expect("the replica serves again after the database is back");
    eprintln!("served again {:?} after PostgreSQL was started", back.elapsed());
    assert!(r.body["ikepolicies"].as_array().unwrap().iter().any(|p| p["name"] == "before"));
    // Let the writers succeed again for a while.
    tokio::time::sleep(std::time::Duration::from_millis(800)).await;
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let (mut acknowledged, mut refused) = (Vec::new(), 0);
    for w in writers {
        let (a, r) = w.await.unwrap();
        acknowledged.extend(a);
        refused += r;
    }
    let listed = server.call(Method::GET, IKE, P1, None, None).await;
    let names: std::collections::HashSet<String> = listed.ok(200)["ikepolicies"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["name"].as_str().unwrap().to_owned())
        .collect();
    let lost: Vec<&String> = acknowledged.iter().filter(|n| !names.contains(*n)).collect();
    eprintln!("{} creates acknowledged, {refused} answered 503, {} stored", acknowledged.len(), names.len() - 1);
    assert!(lost.is_empty(), "acknowledged but lost: {lost:?}");
    assert!(refused > 0, "the outage refused nothing");
    server.call(Method::POST, IKE, P1, Some(json!({"ikepolicy": {"name": "after"}})), None).await.ok(201);
    drop(server);
    pg(&["stop", &pgdata_s]);
}

pub(crate) async fn futures_join_all<F: std::future::Future<Output = Resp>>(
    futures: impl Iterator<Item = F>,
) -> Vec<Resp> {
    let handles: Vec<_> = futures.collect();
    let mut out = Vec::with_capacity(handles.len());
    // Drive them all at once on this task.
    let mut pinned: Vec<std::pin::Pin<Box<F>>> = handles.into_iter().map(Box::pin).collect();
    let mut done: Vec<Option<Resp>> = (0..pinned.len()).map(|_| None).collect();
    std::future::poll_fn(|cx| {
        let mut pending = false;
        for (i, f) in pinned.iter_mut().enumerate() {
            if done[i].is_none() {
                match f.as_mut().poll(cx) {
                    std::task::Poll::Ready(r) => done[i] = Some(r),
                    std::task::Poll::Pending => pending = true,
                }
            }
        }
        if pending {
            std::task::Poll::Pending
        } else {
            std::task::Poll::Ready(())
        }
    })
    .await;
    out.extend(done.into_iter().flatten());
    out
}

/// A change made through one replica reaches a host's agent polling the other (ADR 0011): the
/// other replica learns of it from the change markers, and no marker is missed when writes
/// race on both replicas (markers commit in `seq` order).
#[tokio::test]
async fn a_host_polling_one_replica_sees_every_change_made_through_the_other() {
    let test = "a_host_polling_one_replica_sees_every_change_made_through_the_other";
    let Some((url_a, url_b)) = fresh_shared_pair(test).await else { return };
    let token = ("VPNAAS_AGENT_TOKEN", "fleet-token");
    let a = spawn_process(&[], &[("VPNAAS_DATABASE_URL", url_a.as_str()), token]);
    let b = spawn_process(&[], &[("VPNAAS_DATABASE_URL", url_b.as_str()), token]);
    let site = process_site(&a).await;
    let service = site["ipsec_site_connection"]["vpnservice_id"].as_str().unwrap().to_owned();
    let s = a.call(Method::GET, &format!("{SERVICES}/{service}"), P1, None, None).await;
    let router = s.ok(200)["vpnservice"]["router_id"].as_str().unwrap().to_owned();
    let placed = json!({"router": {"binding:host_id": "net-1"}});
    a.call(Method::PUT, &format!("/v2.0/routers/{router}"), ADMIN, Some(placed), None).await.ok(200);
    let mut conns = Vec::new();
    // Two connections on the same endpoint groups (an active/standby pair: at most two).
    for i in 0..2 {
        let peer = format!("172.24.4.{}", 20 + i);
        let mut body = site.clone();
        let c = body["ipsec_site_connection"].as_object_mut().unwrap();
        c.insert("peer_address".into(), json!(peer));
        c.insert("peer_id".into(), json!(peer));
        conns.push(a.call(Method::POST, CONNS, P1, Some(body), None).await.id());
    }
    let client = reqwest::Client::new();
    let poll = |cursor: Option<i64>| {
        let query = cursor.map_or(String::new(), |c| format!("?cursor={c}&wait=10"));
        client
            .get(format!("{}/v2.0/gateway/hosts/net-1/state{query}", b.base))
            .header("Authorization", "Bearer fleet-token")
            .send()
    };
    let first: serde_json::Value = poll(None).await.unwrap().json().await.unwrap();
    assert_eq!(first["changed"][0]["connections"].as_array().unwrap().len(), 2, "{first}");
    let mut cursor = first["cursor"].as_i64().unwrap();
    // Twelve updates race through both replicas; the host follows its cursor on replica b.
    let mut writes = tokio::task::JoinSet::new();
    for i in 0..12_i64 {
        let base = if i % 2 == 0 { a.base.clone() } else { b.base.clone() };
        let id = conns[usize::try_from(i % 2).unwrap()].clone();
        writes.spawn(async move {
            let body = json!({"ipsec_site_connection": {"mtu": 1400 + i}});
            let r = reqwest::Client::new()
                .put(format!("{base}{CONNS}/{id}"))
                .header("X-Project-Id", P1)
                .header("content-type", "application/json")
                .body(body.to_string())
                .send()
                .await
                .unwrap();
            assert_eq!(r.status().as_u16(), 200);
        });
    }
    while let Some(done) = writes.join_next().await {
        done.unwrap();
    }
    let mut want = std::collections::BTreeMap::new();
    for id in &conns {
        let r = a.call(Method::GET, &format!("{CONNS}/{id}"), P1, None, None).await;
        want.insert(id.clone(), r.ok(200)["ipsec_site_connection"]["mtu"].as_i64().unwrap());
    }
    let started = std::time::Instant::now();
    let mut seen = std::collections::BTreeMap::new();
    while seen != want {
        assert!(started.elapsed() < std::time::Duration::from_secs(10), "the host saw {seen:?}, not {want:?}");
        let answer: serde_json::Value = poll(Some(cursor)).await.unwrap().json().await.unwrap();
        cursor = answer["cursor"].as_i64().unwrap();
        for state in answer["changed"].as_array().unwrap() {
            for c in state["connections"].as_array().unwrap() {
                seen.insert(c["id"].as_str().unwrap().to_owned(), c["mtu"].as_i64().unwrap());
            }
        }
    }
    eprintln!(
        "the host on replica b had every change made through both replicas {:?} after the last write",
        started.elapsed()
    );
}

/// A replica whose Galera node is cut off from the others (out of the primary component) is
/// not ready, and says why; once the node is back in, it is ready again (ADR 0030). The Galera
/// pass runs it on node 2, while the other replica tests write through nodes 0 and 1.
#[tokio::test]
async fn a_replica_on_a_galera_node_cut_off_from_the_cluster_is_not_ready() {
    use sqlx::Connection;
    let test = "a_replica_on_a_galera_node_cut_off_from_the_cluster_is_not_ready";
    if !galera_pass() {
        eprintln!("SKIPPED {test}: the Galera pass runs it (VPNAAS_TEST_BACKEND=galera)");
        return;
    }
    let nodes = galera_nodes();
    assert_eq!(nodes.len(), 3, "VPNAAS_TEST_GALERA names three nodes");
    let name = create_mariadb_database(&nodes[0]).await;
    let p = spawn_process(&[], &[("VPNAAS_DATABASE_URL", format!("{}/{name}", nodes[2]).as_str())]);
    let readyz = || async { p.raw(Method::GET, "/readyz").send().await.unwrap() };
    let wait_for = |want: u16| async move {
        let mut last = (0, String::new());
        for _ in 0..300 {
            let r = readyz().await;
            last = (r.status().as_u16(), r.text().await.unwrap());
            if last.0 == want {
                return last.1;
            }
            tokio::time::sleep(std::time::Duration::from_millis(200)).await;
        }
        panic!("/readyz never answered {want}; last {last:?}")
    };
    let ready = wait_for(200).await;
    assert!(ready.contains("\"cluster\""), "a Galera node's replica checks the cluster: {ready}");
    let mut admin = sqlx::MySqlConnection::connect(&nodes[2]).await.unwrap();
    let isolate = |on: u8| format!("SET GLOBAL wsrep_provider_options = 'gmcast.isolate={on}'");
    sqlx::query(&isolate(1)).execute(&mut admin).await.unwrap();
    let unready = wait_for(503).await;
    sqlx::query(&isolate(0)).execute(&mut admin).await.unwrap();
    assert!(unready.contains("not ready") || unready.contains("cannot be reached"), "{unready}");
    wait_for(200).await;
}
