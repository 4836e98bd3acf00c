//! IKE and IPsec policies: defaults, every attribute, updates, value sets, lifetimes and in-use rules.

use serde_json::json;

use crate::support::*;

#[tokio::test]
async fn ikepolicy_create_with_defaults_returns_the_reference_defaults() {
    let app = spawn_app().await;
    let r = app.post(IKE, P1, json!({"ikepolicy": {}})).await;
    let p = &r.ok(201)["ikepolicy"];
    assert_eq!(p["name"], "");
    assert_eq!(p["description"], "");
    assert_eq!(p["auth_algorithm"], "sha1");
    assert_eq!(p["encryption_algorithm"], "aes-128");
    assert_eq!(p["phase1_negotiation_mode"], "main");
    assert_eq!(p["ike_version"], "v1");
    assert_eq!(p["pfs"], "group5");
    assert_eq!(p["lifetime"], json!({"units": "seconds", "value": 3600}));
    assert_eq!(p["tenant_id"], P1);
    assert_eq!(p["project_id"], P1);
    assert_eq!(p["revision_number"], 1);
    assert!(p["created_at"].as_str().unwrap().ends_with('Z'));
    assert_eq!(p["created_at"], p["updated_at"]);
}

#[tokio::test]
async fn ikepolicy_create_with_every_attribute_shows_them_all() {
    let app = spawn_app().await;
    let body = json!({"ikepolicy": {
        "name": "ike1", "description": "d", "tenant_id": P1, "auth_algorithm": "sha256",
        "encryption_algorithm": "aes-256-gcm-16", "phase1_negotiation_mode": "aggressive",
        "lifetime": {"units": "seconds", "value": 7200}, "ike_version": "v2", "pfs": "group31"}});
    let id = app.create(IKE, P1, body).await;
    let r = app.get(&format!("{IKE}/{id}"), P1).await;
    let p = &r.ok(200)["ikepolicy"];
    assert_eq!(p["name"], "ike1");
    assert_eq!(p["description"], "d");
    assert_eq!(p["auth_algorithm"], "sha256");
    assert_eq!(p["encryption_algorithm"], "aes-256-gcm-16");
    assert_eq!(p["phase1_negotiation_mode"], "aggressive");
    assert_eq!(p["lifetime"], json!({"units": "seconds", "value": 7200}));
    assert_eq!(p["ike_version"], "v2");
    assert_eq!(p["pfs"], "group31");
}

#[tokio::test]
async fn ikepolicy_update_changes_every_updatable_attribute_and_bumps_the_revision() {
    let app = spawn_app().await;
    let id = app.ikepolicy(P1).await;
    let body = json!({"ikepolicy": {
        "name": "n2", "description": "d2", "auth_algorithm": "sha512", "encryption_algorithm": "aes-192-ctr",
        "phase1_negotiation_mode": "aggressive", "lifetime": {"value": "2000"}, "ike_version": "v2", "pfs": "group14"}});
    let r = app.put(&format!("{IKE}/{id}"), P1, body).await;
    let p = &r.ok(200)["ikepolicy"];
    assert_eq!(p["name"], "n2");
    assert_eq!(p["description"], "d2");
    assert_eq!(p["auth_algorithm"], "sha512");
    assert_eq!(p["encryption_algorithm"], "aes-192-ctr");
    assert_eq!(p["phase1_negotiation_mode"], "aggressive");
    // The value as sent, as the reference echoes it (ADR 0013 §4); a partial lifetime keeps its units.
    assert_eq!(p["lifetime"], json!({"units": "seconds", "value": "2000"}));
    assert_eq!(p["ike_version"], "v2");
    assert_eq!(p["pfs"], "group14");
    assert_eq!(p["revision_number"], 2);
    let shown = app.get(&format!("{IKE}/{id}"), P1).await;
    let mut stored = p.clone();
    stored["lifetime"]["value"] = json!(2000);
    assert_eq!(shown.ok(200)["ikepolicy"], stored);
}

#[tokio::test]
async fn ikepolicy_delete_answers_204_then_404() {
    let app = spawn_app().await;
    let id = app.ikepolicy(P1).await;
    let r = app.delete(&format!("{IKE}/{id}"), P1).await;
    assert_eq!(r.status, 204);
    assert!(r.body.is_null());
    app.get(&format!("{IKE}/{id}"), P1).await.refused(404, "IKEPolicyNotFound", &id);
    app.delete(&format!("{IKE}/{id}"), P1).await.refused(404, "IKEPolicyNotFound", &id);
}

#[tokio::test]
async fn policy_value_sets_are_enforced_naming_the_attribute() {
    let app = spawn_app().await;
    let cases = [
        (IKE, json!({"ikepolicy": {"auth_algorithm": "md5"}}), "auth_algorithm"),
        (IKE, json!({"ikepolicy": {"encryption_algorithm": "aes-512"}}), "encryption_algorithm"),
        (IKE, json!({"ikepolicy": {"phase1_negotiation_mode": "quick"}}), "phase1_negotiation_mode"),
        (IKE, json!({"ikepolicy": {"ike_version": "v3"}}), "ike_version"),
        (IKE, json!({"ikepolicy": {"pfs": "group1"}}), "pfs"),
        (IPSEC, json!({"ipsecpolicy": {"transform_protocol": "gre"}}), "transform_protocol"),
        (IPSEC, json!({"ipsecpolicy": {"encapsulation_mode": "tunnel6"}}), "encapsulation_mode"),
        (IPSEC, json!({"ipsecpolicy": {"auth_algorithm": 5}}), "auth_algorithm"),
    ];
    for (coll, body, attr) in cases {
        app.post(coll, P1, body).await.refused(400, "HTTPBadRequest", &format!("Invalid input for {attr}"));
    }
    assert_eq!(app.count(IKE).await + app.count(IPSEC).await, 0, "nothing written");
}

#[tokio::test]
async fn lifetime_must_be_seconds_of_at_least_60_in_a_dictionary() {
    let app = spawn_app().await;
    let bad = [
        json!({"units": "kilobytes", "value": 3600}),
        json!({"units": "seconds", "value": 59}),
        json!({"value": "abc"}),
        json!({"seconds": 100}),
        json!(3600),
    ];
    for lifetime in bad {
        let r = app.post(IKE, P1, json!({"ikepolicy": {"lifetime": lifetime}})).await;
        r.refused(400, "HTTPBadRequest", "Invalid input for lifetime");
    }
    let r = app.post(IPSEC, P1, json!({"ipsecpolicy": {"lifetime": {"value": 60}}})).await;
    assert_eq!(r.ok(201)["ipsecpolicy"]["lifetime"], json!({"units": "seconds", "value": 60}));
    let r = app.post(IPSEC, P1, json!({"ipsecpolicy": {"lifetime": null}})).await;
    assert_eq!(r.ok(201)["ipsecpolicy"]["lifetime"], json!({"units": "seconds", "value": 3600}));
    assert_eq!(app.count(IKE).await, 0);
}

#[tokio::test]
async fn ipsecpolicy_create_defaults_every_attribute_and_update() {
    let app = spawn_app().await;
    let r = app.post(IPSEC, P1, json!({"ipsecpolicy": {"name": "x"}})).await;
    let p = r.ok(201)["ipsecpolicy"].clone();
    assert_eq!(p["transform_protocol"], "esp");
    assert_eq!(p["auth_algorithm"], "sha1");
    assert_eq!(p["encryption_algorithm"], "aes-128");
    assert_eq!(p["encapsulation_mode"], "tunnel");
    assert_eq!(p["pfs"], "group5");
    assert_eq!(p["lifetime"], json!({"units": "seconds", "value": 3600}));
    let id = p["id"].as_str().unwrap();
    let body = json!({"ipsecpolicy": {"name": "y", "description": "d", "transform_protocol": "ah",
        "auth_algorithm": "sha384", "encryption_algorithm": "aes-256", "encapsulation_mode": "transport",
        "lifetime": {"units": "seconds", "value": 600}, "pfs": "group19"}});
    let r = app.put(&format!("{IPSEC}/{id}"), P1, body).await;
    let p = &r.ok(200)["ipsecpolicy"];
    assert_eq!(
        (p["name"].as_str(), p["description"].as_str(), p["transform_protocol"].as_str(), p["auth_algorithm"].as_str()),
        (Some("y"), Some("d"), Some("ah"), Some("sha384"))
    );
    assert_eq!(p["encryption_algorithm"], "aes-256");
    assert_eq!(p["encapsulation_mode"], "transport");
    assert_eq!(p["lifetime"]["value"], 600);
    assert_eq!(p["pfs"], "group19");
    let r = app.delete(&format!("{IPSEC}/{id}"), P1).await;
    assert_eq!(r.status, 204);
}

#[tokio::test]
async fn policies_in_use_refuse_crypto_updates_and_deletes_but_allow_renames() {
    let app = spawn_app().await;
    let site = Site::new(&app, P1).await;
    app.create(CONNS, P1, site.connection()).await;
    let ike = format!("{IKE}/{}", site.ike);
    let ipsec = format!("{IPSEC}/{}", site.ipsec);
    app.put(&ike, P1, json!({"ikepolicy": {"pfs": "group14"}})).await.refused(409, "IKEPolicyInUse", &site.ike);
    app.put(&ipsec, P1, json!({"ipsecpolicy": {"lifetime": {"value": 600}}})).await.refused(
        409,
        "IPsecPolicyInUse",
        &site.ipsec,
    );
    app.delete(&ike, P1).await.refused(409, "IKEPolicyInUse", "can't be updated or deleted");
    app.delete(&ipsec, P1).await.refused(409, "IPsecPolicyInUse", &site.ipsec);
    let r = app.put(&ike, P1, json!({"ikepolicy": {"name": "renamed", "description": "still in use"}})).await;
    assert_eq!(r.ok(200)["ikepolicy"]["name"], "renamed");
    assert_eq!(app.get(&ike, P1).await.ok(200)["ikepolicy"]["pfs"], "group5", "the refused update wrote nothing");
    app.put(&ipsec, P1, json!({"ipsecpolicy": {"name": "renamed"}})).await.ok(200);
}

#[tokio::test]
async fn ah_esp_policies_are_created_but_refused_by_a_connection() {
    let app = spawn_app().await;
    let site = Site::new(&app, P1).await;
    let ah_esp = app.create(IPSEC, P1, json!({"ipsecpolicy": {"transform_protocol": "ah-esp"}})).await;
    let body = with(site.connection(), json!({"ipsecpolicy_id": ah_esp}));
    app.post(CONNS, P1, body).await.refused(400, "IpsecValidationFailure", "transform_protocol with value 'ah-esp'");
    assert_eq!(app.count(CONNS).await, 0);
}
