//! Tenancy in noauth mode: who the caller is, another project's objects are 404, admins see all, owners on create.

use serde_json::json;

use crate::support::*;

#[tokio::test]
async fn a_request_without_a_project_is_a_401_in_the_envelope() {
    let app = spawn_app().await;
    for path in [IKE, IPSEC, SERVICES, GROUPS, CONNS, "/v2.0/routers", "/v2.0/subnets"] {
        app.get(path, NOBODY).await.refused(401, "NotAuthenticated", "X-Project-Id");
    }
    app.post(IKE, NOBODY, json!({"ikepolicy": {}})).await.refused(401, "NotAuthenticated", "Authentication required");
    assert_eq!(app.count(IKE).await, 0);
}

#[tokio::test]
async fn another_projects_resources_are_404_on_show_update_delete_and_absent_from_lists() {
    let app = spawn_app().await;
    let site = Site::new(&app, P1).await;
    let conn = app.create(CONNS, P1, site.connection()).await;
    let cases = [
        (IKE, site.ike.clone(), "ikepolicy", "IKEPolicyNotFound"),
        (IPSEC, site.ipsec.clone(), "ipsecpolicy", "IPsecPolicyNotFound"),
        (SERVICES, site.service.clone(), "vpnservice", "VPNServiceNotFound"),
        (GROUPS, site.peer.clone(), "endpoint_group", "VPNEndpointGroupNotFound"),
        (CONNS, conn.clone(), "ipsec_site_connection", "IPsecSiteConnectionNotFound"),
        ("/v2.0/routers", site.topo.router.clone(), "router", "RouterNotFound"),
        ("/v2.0/subnets", site.topo.subnet4.clone(), "subnet", "SubnetNotFound"),
    ];
    for (coll, id, singular, not_found) in cases {
        let path = format!("{coll}/{id}");
        app.get(&path, P2).await.refused(404, not_found, &id);
        app.put(&path, P2, json!({ singular: {"name": "stolen"} })).await.refused(404, not_found, &id);
        app.delete(&path, P2).await.refused(404, not_found, &id);
        let listed = app.get(coll, P2).await;
        let plural = listed.ok(200).as_object().unwrap().values().next().unwrap().as_array().unwrap().clone();
        assert!(plural.is_empty(), "{coll} leaks to another project");
        let mine = app.get(&path, P1).await;
        assert_ne!(mine.ok(200)[singular]["name"], "stolen");
    }
}

#[tokio::test]
async fn an_admin_sees_and_creates_for_every_project() {
    let app = spawn_app().await;
    let a = app.ikepolicy(P1).await;
    let r = app.post(IKE, ADMIN, json!({"ikepolicy": {"name": "for-p2", "tenant_id": P2}})).await;
    assert_eq!(r.ok(201)["ikepolicy"]["project_id"], P2);
    let b = r.id();
    let all = app.get(IKE, ADMIN).await;
    assert_eq!(all.ok(200)["ikepolicies"].as_array().unwrap().len(), 2);
    app.get(&format!("{IKE}/{a}"), ADMIN).await.ok(200);
    let p2 = app.get(IKE, P2).await;
    let ids: Vec<&str> =
        p2.ok(200)["ikepolicies"].as_array().unwrap().iter().map(|p| p["id"].as_str().unwrap()).collect();
    assert_eq!(ids, vec![b.as_str()]);
}

#[tokio::test]
async fn tenant_and_project_ids_in_a_create_must_agree_and_be_the_callers() {
    let app = spawn_app().await;
    app.post(IKE, ADMIN, json!({"ikepolicy": {"tenant_id": P1, "project_id": P2}})).await.refused(
        400,
        "HTTPBadRequest",
        "'project_id' and 'tenant_id' do not match",
    );
    app.post(IKE, P1, json!({"ikepolicy": {"project_id": P2}})).await.refused(
        400,
        "HTTPBadRequest",
        "Specifying 'project_id' other than the authenticated project",
    );
    app.post(IKE, P1, json!({"ikepolicy": {"tenant_id": "x".repeat(256)}})).await.refused(
        400,
        "HTTPBadRequest",
        "Invalid input for tenant_id",
    );
    assert_eq!(app.count(IKE).await, 0);
    let r = app.post(IKE, P1, json!({"ikepolicy": {"tenant_id": P1, "project_id": P1}})).await;
    assert_eq!(r.ok(201)["ikepolicy"]["tenant_id"], P1);
    app.put(&format!("{IKE}/{}", r.id()), P1, json!({"ikepolicy": {"project_id": P2}})).await.refused(
        400,
        "HTTPBadRequest",
        "Cannot update read-only attribute project_id",
    );
}

#[tokio::test]
async fn x_tenant_id_names_the_project_too() {
    let app = spawn_app().await;
    let r = app
        .send(app.raw(reqwest::Method::POST, IKE).header("X-Tenant-Id", "legacy").body(r#"{"ikepolicy": {}}"#))
        .await;
    assert_eq!(r.ok(201)["ikepolicy"]["tenant_id"], "legacy");
}

#[tokio::test]
async fn noauth_tokens_and_the_default_project_name_callers_that_send_no_project() {
    use vpnaas_server::config::Identity;
    let app = spawn_app_with(|c| {
        c.noauth_tokens.insert("notused".into(), Identity { project: "demo".into(), roles: vec!["member".into()] });
        c.noauth_tokens.insert("admin-token".into(), Identity { project: "admin".into(), roles: vec!["admin".into()] });
    })
    .await;
    let as_token = |t: &str| app.raw(reqwest::Method::GET, IKE).header("X-Auth-Token", t.to_owned());
    let r = app
        .send(app.raw(reqwest::Method::POST, IKE).header("X-Auth-Token", "notused").body(r#"{"ikepolicy": {}}"#))
        .await;
    assert_eq!(r.ok(201)["ikepolicy"]["project_id"], "demo");
    app.post(IKE, P2, json!({"ikepolicy": {}})).await.ok(201);
    assert_eq!(app.send(as_token("notused")).await.ok(200)["ikepolicies"].as_array().unwrap().len(), 1);
    assert_eq!(app.send(as_token("admin-token")).await.ok(200)["ikepolicies"].as_array().unwrap().len(), 2);
    app.send(as_token("unknown")).await.refused(401, "NotAuthenticated", "");
    // Headers win over a token.
    let both = app.raw(reqwest::Method::GET, IKE).header("X-Auth-Token", "admin-token").header("X-Project-Id", P2);
    assert_eq!(app.send(both).await.ok(200)["ikepolicies"].as_array().unwrap().len(), 1);

    let app = spawn_app_with(|c| c.noauth_default_project = Some("lab".into())).await;
    let r = app.post(IKE, NOBODY, json!({"ikepolicy": {}})).await;
    assert_eq!(r.ok(201)["ikepolicy"]["project_id"], "lab");
}
