//! Quotas (ADR 0041): Neutron's quota API under /v2.0/quotas and /v2.0/vpn/quotas, OverQuota
//! on every counted create, limits that hold under concurrency, the settings' defaults, metrics.

use reqwest::Method;
use serde_json::{json, Value};

use crate::certs::{upload, Ca, CA_KEY, CERTS, SITE_A_KEY};
use crate::replicas::futures_join_all;
use crate::support::*;

const Q: &str = "/v2.0/quotas";
const VQ: &str = "/v2.0/vpn/quotas";
const KEYS: [&str; 6] =
    ["ikepolicy", "ipsecpolicy", "vpnservice", "endpoint_group", "ipsec_site_connection", "certificate"];

/// Every counted resource at `default`, with `set` over it.
fn limits(default: i64, set: Value) -> Value {
    let mut all = serde_json::Map::new();
    for k in KEYS {
        all.insert(k.to_owned(), json!(default));
    }
    for (k, v) in set.as_object().expect("object") {
        all.insert(k.clone(), v.clone());
    }
    Value::Object(all)
}

#[tokio::test]
async fn a_project_reads_its_quota_admins_set_and_forget_it_on_both_paths() {
    let app = spawn_app().await;
    let unlimited = limits(-1, json!({}));
    assert_eq!(app.get(&format!("{Q}/p1"), P1).await.ok(200)["quota"], unlimited, "the defaults: unlimited");
    assert_eq!(app.get(&format!("{VQ}/p1/default"), P1).await.ok(200)["quota"], unlimited);
    // A member neither changes its own quota nor reads another project's.
    app.put(&format!("{Q}/p1"), P1, json!({"quota": {"ikepolicy": 1}})).await.refused(
        403,
        "PolicyNotAuthorized",
        "update_quota",
    );
    app.get(&format!("{Q}/p1"), P2).await.refused(403, "PolicyNotAuthorized", "get_quota");
    app.get(&format!("{Q}/p1/details"), P2).await.refused(403, "PolicyNotAuthorized", "get_quota");
    app.delete(&format!("{Q}/p1"), P1).await.refused(403, "PolicyNotAuthorized", "delete_quota");

    // An admin sets two limits, one as text, with openstacksdk's check_limit beside them.
    let body = json!({"quota": {"ikepolicy": 2, "ipsec_site_connection": "5", "check_limit": true}});
    let set = limits(-1, json!({"ikepolicy": 2, "ipsec_site_connection": 5}));
    assert_eq!(app.put(&format!("{VQ}/p1"), ADMIN, body).await.ok(200)["quota"], set);
    assert_eq!(app.get(&format!("{Q}/p1"), P1).await.ok(200)["quota"], set, "both paths are one quota");
    assert_eq!(app.get(&format!("{VQ}/p1"), P1).await.ok(200)["quota"], set);
    assert_eq!(app.get(&format!("{Q}/p1/default"), P1).await.ok(200)["quota"], unlimited, "defaults unchanged");
    assert_eq!(app.get(&format!("{Q}/p2"), P2).await.ok(200)["quota"], unlimited, "p2 unchanged");

    // The list: projects with limits of their own; a member sees none of another's.
    let listed = app.get(Q, ADMIN).await.ok(200)["quotas"].clone();
    let mut expected = set.clone();
    expected["project_id"] = json!("p1");
    expected["tenant_id"] = json!("p1");
    assert_eq!(listed, json!([expected]));
    app.get(Q, P2).await.refused(403, "PolicyNotAuthorized", "get_quota");

    // Forgotten: the defaults apply again, and a second delete has nothing to forget.
    assert_eq!(app.delete(&format!("{Q}/p1"), ADMIN).await.status, 204);
    assert_eq!(app.get(&format!("{Q}/p1"), P1).await.ok(200)["quota"], unlimited);
    assert_eq!(app.get(Q, ADMIN).await.ok(200)["quotas"], json!([]));
    app.delete(&format!("{VQ}/p1"), ADMIN).await.refused(404, "TenantQuotaNotFound", "Quota for project p1");
}

#[tokio::test]
async fn bad_limits_are_refused_naming_the_attribute_and_nothing_is_written() {
    let app = spawn_app().await;
    let path = format!("{Q}/p1");
    let cases = [
        (
            json!({"quota": {"ikepolicy": -2}}),
            "Invalid input for ikepolicy. Reason: '-2' is too small - must be at least '-1'.",
        ),
        (json!({"quota": {"vpnservice": "abc"}}), "Invalid input for vpnservice. Reason: 'abc' is not an integer."),
        (
            json!({"quota": {"certificate": 2_147_483_648_i64}}),
            "'2147483648' is too large - must be no larger than '2147483647'",
        ),
        (json!({"quota": {"ikepolicy": 3, "network": 5}}), "Unrecognized attribute(s) 'network'"),
        (json!({"quota": {"ikepolicy": 3, "ipsecpolicy": null}}), "Invalid input for ipsecpolicy"),
        (json!({"quota": [1]}), "Body contains invalid data"),
        (json!({"ikepolicy": 3}), "Unable to find 'quota' in request body"),
    ];
    for (body, message) in cases {
        app.put(&path, ADMIN, body).await.refused(400, "HTTPBadRequest", message);
    }
    assert_eq!(app.get(&path, P1).await.ok(200)["quota"], limits(-1, json!({})), "no limit was written");
}

#[tokio::test]
async fn every_counted_create_past_its_limit_is_over_quota_and_writes_nothing() {
    let app = spawn_app().await;
    let ones = json!({"quota": {"ikepolicy": 1, "ipsecpolicy": 1, "vpnservice": 1, "endpoint_group": 2,
        "ipsec_site_connection": 1, "certificate": 0}});
    app.put(&format!("{Q}/p1"), ADMIN, ones).await.ok(200);
    let topo = app.topology(P1).await;
    let ike = app.ikepolicy(P1).await;
    let ipsec = app.ipsecpolicy(P1).await;
    let service = app.vpnservice(P1, &topo.router, None).await;
    let local = app.group(P1, "subnet", json!([topo.subnet4])).await;
    let peer = app.group(P1, "cidr", json!(["10.2.0.0/24"])).await;
    let conn = json!({"ipsec_site_connection": {"psk": "secret", "peer_address": "172.24.4.233",
        "peer_id": "172.24.4.233", "vpnservice_id": service, "ikepolicy_id": ike, "ipsecpolicy_id": ipsec,
        "local_ep_group_id": local, "peer_ep_group_id": peer}});
    app.post(CONNS, P1, conn.clone()).await.ok(201);

    let ca = Ca::new("quota ca", CA_KEY);
    let refused = [
        (IKE, json!({"ikepolicy": {"name": "two"}}), "ikepolicy"),
        (IPSEC, json!({"ipsecpolicy": {"name": "two"}}), "ipsecpolicy"),
        (SERVICES, json!({"vpnservice": {"router_id": topo.router}}), "vpnservice"),
        (GROUPS, json!({"endpoint_group": {"type": "cidr", "endpoints": ["10.3.0.0/24"]}}), "endpoint_group"),
        (
            CONNS,
            with(conn, json!({"peer_address": "172.24.4.234", "peer_id": "172.24.4.234"})),
            "ipsec_site_connection",
        ),
        (CERTS, upload(&ca.site("a.example", SITE_A_KEY, -1, 30), SITE_A_KEY), "certificate"),
    ];
    for (collection, body, key) in refused {
        let before = app.count(collection).await;
        let r = app.post(collection, P1, body.clone()).await;
        r.refused(409, "OverQuota", &format!("Quota exceeded for resources: ['{key}']."));
        assert_eq!(app.count(collection).await, before, "{key}: nothing written");
        // Another project's limits are its own: the defaults (unlimited) here.
        if collection == IKE || collection == IPSEC || collection == CERTS {
            app.post(collection, P2, body).await.ok(201);
        }
    }

    // The details: limit, used and reserved for each.
    let details = app.get(&format!("{Q}/p1/details"), P1).await.ok(200)["quota"].clone();
    assert_eq!(details["ikepolicy"], json!({"limit": 1, "used": 1, "reserved": 0}));
    assert_eq!(details["endpoint_group"], json!({"limit": 2, "used": 2, "reserved": 0}));
    assert_eq!(details["certificate"], json!({"limit": 0, "used": 0, "reserved": 0}));
    assert_eq!(app.get(&format!("{VQ}/p1/details.json"), ADMIN).await.ok(200)["quota"], details);

    // A limit below what the project holds is refused unless forced (Neutron since 2025.1).
    let lower = json!({"quota": {"endpoint_group": 1}});
    app.put(&format!("{Q}/p1"), ADMIN, lower).await.refused(
        400,
        "HTTPBadRequest",
        "Quota limit 1 for endpoint_group must be greater than or equal to already used 2",
    );
    let forced = json!({"quota": {"endpoint_group": 1, "force": true}});
    assert_eq!(app.put(&format!("{Q}/p1"), ADMIN, forced).await.ok(200)["quota"]["endpoint_group"], 1);
    // Raised again, the project creates again.
    app.put(&format!("{Q}/p1"), ADMIN, json!({"quota": {"ikepolicy": -1}})).await.ok(200);
    app.post(IKE, P1, json!({"ikepolicy": {"name": "two"}})).await.ok(201);
}

/// 32 creates at once against a limit of 10 leave exactly 10, on whichever backend the
/// suite runs (SQLite's one writer; PostgreSQL's and MariaDB's row lock).
#[tokio::test]
async fn thirty_two_concurrent_creates_against_a_limit_of_ten_leave_ten() {
    let app = spawn_app().await;
    app.put(&format!("{Q}/p1"), ADMIN, json!({"quota": {"ikepolicy": 10}})).await.ok(200);
    let creates = (0..32).map(|i| app.post(IKE, P1, json!({"ikepolicy": {"name": format!("ike-{i}")}})));
    let answers = futures_join_all(creates).await;
    let created = answers.iter().filter(|r| r.status == 201).count();
    let over = answers.iter().filter(|r| r.error_type() == "OverQuota").count();
    assert_eq!((created, over), (10, 22), "{:?}", answers.iter().map(|r| r.status).collect::<Vec<_>>());
    assert_eq!(app.count(IKE).await, 10);
}

/// The defaults come from the settings (`VPNAAS_QUOTAS_*`, `[quotas]`), through the real
/// binary; a bad one stops the server naming its variable.
#[tokio::test]
async fn the_settings_give_the_defaults_and_a_bad_one_is_named() {
    let dir = tempfile::TempDir::new().unwrap();
    let data = dir.path().display().to_string();
    let envs = [
        ("VPNAAS_DATA_DIR", data.as_str()),
        ("VPNAAS_QUOTAS_IPSEC_SITE_CONNECTION", "0"),
        ("VPNAAS_QUOTAS_IKEPOLICY", "1"),
    ];
    let server = spawn_process(&[], &envs);
    let shown = server.call(Method::GET, &format!("{Q}/p1/default"), P1, None, None).await;
    assert_eq!(shown.ok(200)["quota"], limits(-1, json!({"ikepolicy": 1, "ipsec_site_connection": 0})));
    let ike = || json!({"ikepolicy": {"name": "ike"}});
    server.call(Method::POST, IKE, P1, Some(ike()), None).await.ok(201);
    server.call(Method::POST, IKE, P1, Some(ike()), None).await.refused(409, "OverQuota", "['ikepolicy']");
    // A project's own limit overrides the default.
    let raised = json!({"quota": {"ikepolicy": 3}});
    server.call(Method::PUT, &format!("{Q}/p1"), ADMIN, Some(raised), None).await.ok(200);
    server.call(Method::POST, IKE, P1, Some(ike()), None).await.ok(201);
    drop(server);

    let bad = [("VPNAAS_DATA_DIR", data.as_str()), ("VPNAAS_QUOTAS_CERTIFICATE", "-5")];
    let out = crate::cli::vpnaas(&["serve", "--listen", "127.0.0.1:0"], &bad);
    let said = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{said}");
    assert!(said.contains("VPNAAS_QUOTAS_CERTIFICATE") && said.contains("-1 (unlimited) or a number from 0"), "{said}");
}

/// `/metrics` counts projects near and at their limits, by resource, naming none.
#[tokio::test]
async fn metrics_count_projects_near_and_at_their_limits_without_naming_them() {
    let app = spawn_app().await;
    app.put(&format!("{Q}/p1"), ADMIN, json!({"quota": {"ikepolicy": 2}})).await.ok(200);
    app.put(&format!("{Q}/p2"), ADMIN, json!({"quota": {"ikepolicy": 5}})).await.ok(200);
    for _ in 0..2 {
        app.ikepolicy(P1).await;
    }
    for _ in 0..4 {
        app.ikepolicy(P2).await;
    }
    app.ikepolicy("p3").await; // unlimited: not counted
    let text = app.raw(Method::GET, "/metrics").send().await.unwrap().text().await.unwrap();
    assert!(text.contains("vpnaas_quota_projects{resource=\"ikepolicy\",level=\"full\"} 1"), "{text}");
    assert!(text.contains("vpnaas_quota_projects{resource=\"ikepolicy\",level=\"near\"} 1"), "{text}");
    assert!(text.contains("vpnaas_quota_projects{resource=\"ipsecpolicy\",level=\"full\"} 0"), "{text}");
    assert!(!text.contains("\"p1\"") && !text.contains("\"p2\""), "no project is named");
}
