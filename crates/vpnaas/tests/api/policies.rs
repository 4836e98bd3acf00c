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

// ---------------------------------------------------------------- the algorithm policy (ADR 0042)

/// Upstream's 2026 removals as a setting: no sha1, no 3des (the API has no md5 or des).
fn modern() -> vpnaas_server::config::AlgorithmSettings {
    let words = |w: &[&str]| Some(w.iter().map(|s| (*s).to_owned()).collect());
    vpnaas_server::config::AlgorithmSettings {
        auth_algorithm: words(&["sha256", "sha384", "sha512"]),
        encryption_algorithm: words(&["aes-128", "aes-192", "aes-256"]),
        pfs: None,
    }
}

#[tokio::test]
async fn a_forbidden_algorithm_is_refused_in_both_profiles_naming_attribute_and_rule() {
    for profile in vpnaas_core::profile::ALL {
        let app = spawn_app_with(|c| {
            c.profile = profile;
            c.algorithms = modern();
        })
        .await;
        let under = format!("under the '{}' profile", profile.name);
        // neutron-lib's defaults are sha1: a policy created with nothing is refused.
        let r = app.post(IKE, P1, json!({"ikepolicy": {"name": "old"}})).await;
        r.refused(
            400,
            "HTTPBadRequest",
            "Invalid input for auth_algorithm. Reason: 'sha1' is not allowed by this cloud's algorithm policy \
             (algorithms.auth_algorithm: sha256, sha384, sha512)",
        );
        assert!(r.message().contains(&under), "{}", r.message());
        let r = app
            .post(IPSEC, P1, json!({"ipsecpolicy": {"auth_algorithm": "sha256", "encryption_algorithm": "3des"}}))
            .await;
        r.refused(400, "HTTPBadRequest", "Invalid input for encryption_algorithm. Reason: '3des' is not allowed");
        assert_eq!((app.count(IKE).await, app.count(IPSEC).await), (0, 0), "nothing written");
        let ok =
            json!({"ikepolicy": {"auth_algorithm": "sha384", "encryption_algorithm": "aes-256", "pfs": "group14"}});
        let id = app.create(IKE, P1, ok).await;
        let r = app.put(&format!("{IKE}/{id}"), P1, json!({"ikepolicy": {"auth_algorithm": "sha1"}})).await;
        r.refused(400, "HTTPBadRequest", "Invalid input for auth_algorithm. Reason: 'sha1' is not allowed");
        let shown = app.get(&format!("{IKE}/{id}"), P1).await;
        assert_eq!(shown.ok(200)["ikepolicy"]["auth_algorithm"], "sha384", "the refused update changed nothing");
        let policy = app.get("/v2.0/vpn/algorithm-policy", P1).await.ok(200)["algorithm_policy"].clone();
        assert_eq!(policy["auth_algorithm"], json!(["sha256", "sha384", "sha512"]));
        assert_eq!(policy["restricted"], json!(["encryption_algorithm", "auth_algorithm"]));
        assert!(policy["pfs"].as_array().unwrap().contains(&json!("group5")), "pfs unrestricted: {policy}");
    }
}

/// Objects made before the restriction keep working: they are shown, their connections stay,
/// a policy can still be renamed; only a new word must be allowed. `/v2.0/vpn/algorithm-policy`
/// (what `vpnaas status` prints) and `/metrics` count the connections that use old words.
#[tokio::test]
async fn objects_made_before_a_restriction_keep_working_and_are_counted() {
    let app = spawn_app().await;
    let site = Site::new(&app, P1).await; // sha1 policies, the defaults
    let conn = app.create(CONNS, P1, site.connection()).await;
    let (mut config, _data) = app.stop().await;
    config.algorithms = modern();
    let app = spawn_config(config).await;

    assert_eq!(app.get(&format!("{CONNS}/{conn}"), P1).await.ok(200)["ipsec_site_connection"]["id"], conn);
    let rename = json!({"ikepolicy": {"name": "renamed", "description": "made before the policy"}});
    assert_eq!(
        app.put(&format!("{IKE}/{}", site.ike), P1, rename).await.ok(200)["ikepolicy"]["auth_algorithm"],
        "sha1"
    );
    let counted = |who: &'static str| {
        let app = &app;
        async move {
            app.get("/v2.0/vpn/algorithm-policy", who).await.ok(200)["algorithm_policy"]["connections_not_allowed"]
                .clone()
        }
    };
    assert_eq!(counted(ADMIN).await, 1);
    assert_eq!(counted(P1).await, 1);
    assert_eq!(counted(P2).await, 0, "another project's connections are not counted for p2");
    let text = app.raw(reqwest::Method::GET, "/metrics").send().await.unwrap().text().await.unwrap();
    assert!(text.contains("vpnaas_connections_algorithm_not_allowed 1"), "{text}");
    // Moved to allowed words (the connection is deleted first: crypto is frozen while in use).
    app.delete(&format!("{CONNS}/{conn}"), P1).await;
    let text = app.raw(reqwest::Method::GET, "/metrics").send().await.unwrap().text().await.unwrap();
    assert!(text.contains("vpnaas_connections_algorithm_not_allowed 0"), "{text}");
}

/// The settings through the real binary: a comma list in the environment; a word that is no
/// value of its attribute stops the server, naming the variable and the words there are.
#[tokio::test]
async fn the_algorithm_settings_are_read_and_a_bad_word_is_named() {
    let dir = tempfile::TempDir::new().unwrap();
    let data = dir.path().display().to_string();
    let envs = [("VPNAAS_DATA_DIR", data.as_str()), ("VPNAAS_ALGORITHMS_PFS", "group14, group15")];
    let server = spawn_process(&[], &envs);
    let r = server.call(reqwest::Method::POST, IPSEC, P1, Some(json!({"ipsecpolicy": {"pfs": "group5"}})), None).await;
    r.refused(
        400,
        "HTTPBadRequest",
        "'group5' is not allowed by this cloud's algorithm policy (algorithms.pfs: group14, group15)",
    );
    let r = server.call(reqwest::Method::POST, IPSEC, P1, Some(json!({"ipsecpolicy": {"pfs": "group15"}})), None).await;
    r.ok(201);
    drop(server);
    let bad = [("VPNAAS_DATA_DIR", data.as_str()), ("VPNAAS_ALGORITHMS_AUTH_ALGORITHM", "sha256,sha999")];
    let out = crate::cli::vpnaas(&["serve", "--listen", "127.0.0.1:0"], &bad);
    let said = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{said}");
    assert!(
        said.contains("VPNAAS_ALGORITHMS_AUTH_ALGORITHM") && said.contains("'sha999' is not a value of auth_algorithm"),
        "{said}"
    );
}
