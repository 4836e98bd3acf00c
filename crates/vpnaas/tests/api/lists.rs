//! Lists: filters, fields, sorting on every sort key, and pagination links followed both ways.

use serde_json::{json, Value};

use crate::support::*;

fn names(body: &Value, plural: &str) -> Vec<String> {
    body[plural].as_array().unwrap().iter().map(|i| i["name"].as_str().unwrap().to_owned()).collect()
}

/// The path and query of an absolute link.
fn path_of(href: &str) -> String {
    let rest = href.split_once("://").unwrap().1;
    rest[rest.find('/').unwrap()..].to_owned()
}

fn link(body: &Value, plural: &str, rel: &str) -> Option<String> {
    body[format!("{plural}_links")]
        .as_array()?
        .iter()
        .find(|l| l["rel"] == rel)
        .map(|l| path_of(l["href"].as_str().unwrap()))
}

#[tokio::test]
async fn filters_or_within_a_key_and_across_keys_with_converted_values() {
    let app = spawn_app().await;
    for (name, ver, pfs) in [("a", "v1", "group5"), ("b", "v2", "group5"), ("c", "v2", "group14")] {
        app.create(IKE, P1, json!({"ikepolicy": {"name": name, "ike_version": ver, "pfs": pfs}})).await;
    }
    let r = app.get(&format!("{IKE}?name=a&name=c&sort_key=name&sort_dir=asc"), P1).await;
    assert_eq!(names(r.ok(200), "ikepolicies"), ["a", "c"]);
    let r = app.get(&format!("{IKE}?ike_version=v2&pfs=group5"), P1).await;
    assert_eq!(names(r.ok(200), "ikepolicies"), ["b"]);
    let r = app.get(&format!("{IKE}?name=zzz"), P1).await;
    assert_eq!(r.ok(200), &json!({"ikepolicies": []}));
    assert!(r.body.get("ikepolicies_links").is_none(), "no links without a limit");

    let site = Site::new(&app, P1).await;
    app.create(CONNS, P1, with(site.connection(), json!({"name": "up", "mtu": 1400}))).await;
    app.create(
        CONNS,
        P1,
        with(site.connection(), json!({"name": "down", "admin_state_up": false, "peer_address": "172.24.4.234"})),
    )
    .await;
    let r = app.get(&format!("{CONNS}?admin_state_up=False"), P1).await;
    assert_eq!(names(r.ok(200), "ipsec_site_connections"), ["down"]);
    let r = app.get(&format!("{CONNS}?mtu=1400"), P1).await;
    assert_eq!(names(r.ok(200), "ipsec_site_connections"), ["up"]);
    let r = app
        .get(&format!("{CONNS}?peer_address=172.24.4.233&peer_address=172.24.4.234&status=PENDING_CREATE"), P1)
        .await;
    assert_eq!(r.ok(200)["ipsec_site_connections"].as_array().unwrap().len(), 2);
    let r = app.get(&format!("{GROUPS}?endpoint_type=cidr"), P1).await;
    assert_eq!(r.ok(200)["endpoint_groups"].as_array().unwrap().len(), 1);
    let r = app.get(&format!("{GROUPS}?type=subnet"), P1).await;
    assert_eq!(r.ok(200)["endpoint_groups"][0]["id"], site.local.as_str());
    let r = app.get(&format!("{SERVICES}?router_id={}&subnet_id={}", site.topo.router, site.topo.subnet4), P1).await;
    assert_eq!(r.ok(200)["vpnservices"][0]["id"], site.legacy_service.as_str());
}

#[tokio::test]
async fn bad_list_parameters_are_400_naming_them() {
    let app = spawn_app().await;
    let cases = [
        ("colour=red", "[colour] is invalid attribute for filtering"),
        ("lifetime=3600", "[lifetime] is invalid attribute for filtering"),
        ("sort_key=pfs&sort_dir=asc", "[pfs] is invalid attribute for sort_keys"),
        ("sort_key=name", "The number of sort_keys and sort_dirs must be same"),
        ("sort_key=name&sort_dir=up", "up is invalid value for sort_dirs"),
        ("limit=-1", "Limit must be an integer 0 or greater and not '-1'"),
        ("limit=abc", "Limit must be an integer"),
        ("page_reverse=maybe", "Invalid input for page_reverse"),
    ];
    for (q, needle) in cases {
        app.get(&format!("{IKE}?{q}"), P1).await.refused(400, "HTTPBadRequest", needle);
    }
    app.get(&format!("{CONNS}?psk=secret"), P1).await.refused(
        400,
        "HTTPBadRequest",
        "[psk] is invalid attribute for filtering",
    );
    app.get(&format!("{CONNS}?mtu=big"), P1).await.refused(400, "HTTPBadRequest", "Invalid input for mtu");
    app.get(&format!("{CONNS}?admin_state_up=perhaps"), P1).await.refused(
        400,
        "HTTPBadRequest",
        "Invalid input for admin_state_up",
    );
}

#[tokio::test]
async fn fields_project_lists_and_shows() {
    let app = spawn_app().await;
    let id = app.create(IKE, P1, json!({"ikepolicy": {"name": "a"}})).await;
    let r = app.get(&format!("{IKE}?fields=name&fields=id&fields=nonsense"), P1).await;
    assert_eq!(r.ok(200), &json!({"ikepolicies": [{"id": id, "name": "a"}]}));
    let r = app.get(&format!("{IKE}/{id}?fields=pfs"), P1).await;
    assert_eq!(r.ok(200), &json!({"ikepolicy": {"pfs": "group5"}}));
}

#[tokio::test]
async fn sorting_works_on_every_sort_key_in_both_directions() {
    let app = spawn_app().await;
    let gateway = json!({"external_fixed_ips": [{"ip_address": "172.24.4.10"}]});
    let r1 = app.router(P1, "r-a", gateway.clone()).await;
    let r2 = app.router(P2, "r-b", gateway).await;
    for (name, project, router) in [("x", P2, &r2), ("y", P1, &r1), ("w", P2, &r2)] {
        let body = json!({"vpnservice": {"name": name, "router_id": router, "tenant_id": project}});
        app.create(SERVICES, ADMIN, body).await;
    }
    let all = app.get(SERVICES, ADMIN).await.ok(200)["vpnservices"].clone();
    for key in ["id", "name", "tenant_id", "project_id", "router_id"] {
        let column = if key == "tenant_id" { "project_id" } else { key };
        let mut expected: Vec<(String, String)> = all
            .as_array()
            .unwrap()
            .iter()
            .map(|s| (s[column].as_str().unwrap().to_owned(), s["id"].as_str().unwrap().to_owned()))
            .collect();
        expected.sort();
        let asc = app.get(&format!("{SERVICES}?sort_key={key}&sort_dir=asc"), ADMIN).await;
        let got: Vec<(String, String)> = asc.ok(200)["vpnservices"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| (s[column].as_str().unwrap().to_owned(), s["id"].as_str().unwrap().to_owned()))
            .collect();
        assert_eq!(got, expected, "ascending by {key}");
        let desc = app.get(&format!("{SERVICES}?sort_key={key}&sort_dir=desc"), ADMIN).await;
        let got_desc: Vec<String> = desc.ok(200)["vpnservices"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| s[column].as_str().unwrap().to_owned())
            .collect();
        let mut keys: Vec<String> = expected.iter().map(|(k, _)| k.clone()).collect();
        keys.reverse();
        assert_eq!(got_desc, keys, "descending by {key}");
    }
    // Two keys: project first, then name descending.
    let r = app.get(&format!("{SERVICES}?sort_key=tenant_id&sort_dir=asc&sort_key=name&sort_dir=desc"), ADMIN).await;
    assert_eq!(names(r.ok(200), "vpnservices"), ["y", "x", "w"]);
}

#[tokio::test]
async fn pagination_links_are_followed_to_the_end_forward_and_backward() {
    let app = spawn_app().await;
    let mut expected = Vec::new();
    for i in 0..7 {
        let name = format!("p{i:02}");
        app.create(IPSEC, P1, json!({"ipsecpolicy": {"name": name}})).await;
        expected.push(name);
    }
    // A page of another project's policies must not show up.
    app.create(IPSEC, P2, json!({"ipsecpolicy": {"name": "p00-other"}})).await;
    let plural = "ipsecpolicies";
    let first = app.get(&format!("{IPSEC}?limit=3&sort_key=name&sort_dir=asc"), P1).await;
    let body = first.ok(200).clone();
    assert_eq!(names(&body, plural), ["p00", "p01", "p02"]);
    let mut seen = names(&body, plural);
    let mut next = link(&body, plural, "next");
    let mut pages = 1;
    let mut last = body;
    while let Some(path) = next {
        assert!(path.starts_with("/v2.0/vpn/ipsecpolicies?"), "{path}");
        let page = app.get(&path, P1).await.ok(200).clone();
        seen.extend(names(&page, plural));
        next = link(&page, plural, "next");
        last = page;
        pages += 1;
        assert!(pages < 10, "pagination does not end");
    }
    assert_eq!(seen, expected);
    assert_eq!(pages, 3, "7 items in pages of 3");
    assert_eq!(names(&last, plural), ["p06"]);

    // Backward from the last page.
    let mut back: Vec<String> = Vec::new();
    let mut prev = link(&last, plural, "previous");
    let mut steps = 0;
    while let Some(path) = prev {
        assert!(path.contains("page_reverse=True"), "{path}");
        let page = app.get(&path, P1).await.ok(200).clone();
        let mut page_names = names(&page, plural);
        page_names.extend(back);
        back = page_names;
        prev = link(&page, plural, "previous");
        steps += 1;
        assert!(steps < 10, "backward pagination does not end");
    }
    assert_eq!(back, expected[..6].to_vec());

    // Descending with an exact multiple: the last full page still links to an empty one.
    let r = app.get(&format!("{IPSEC}?limit=7&sort_key=name&sort_dir=desc"), P1).await;
    let body = r.ok(200).clone();
    assert_eq!(names(&body, plural).first().map(String::as_str), Some("p06"));
    let next = link(&body, plural, "next").expect("a full page links onward");
    let empty = app.get(&next, P1).await;
    assert_eq!(empty.ok(200)[plural], json!([]));
    assert!(link(&empty.body, plural, "next").is_none());

    // An unknown marker answers an empty page, as the reference does.
    let r = app.get(&format!("{IPSEC}?limit=2&marker=00000000-0000-0000-0000-000000000000"), P1).await;
    assert_eq!(r.ok(200)[plural], json!([]));
    // limit=0 means no pagination.
    let r = app.get(&format!("{IPSEC}?limit=0"), P1).await;
    assert_eq!(r.ok(200)[plural].as_array().unwrap().len(), 7);
    assert!(r.body.get("ipsecpolicies_links").is_none());
}
