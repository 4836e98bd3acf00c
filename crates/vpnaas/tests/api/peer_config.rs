//! The peer configuration export (ADR 0019): who gets the key, the errors, and libreswan's own parser on every algorithm.

use std::path::PathBuf;
use std::process::Command;

use reqwest::Method;
use serde_json::{json, Value};

use crate::certs::{upload, Ca, CA_KEY, CERTS, SITE_A_KEY};
use crate::support::*;

fn path(conn: &str, query: &str) -> String {
    format!("{CONNS}/{conn}/peer-config{query}")
}

/// A peer configuration as `roles` of `project` fetch it: (status, content type, text).
pub(crate) async fn fetch(client: reqwest::RequestBuilder, project: &str, roles: &str) -> (u16, String, String) {
    let r = client.header("X-Project-Id", project).header("X-Roles", roles).send().await.expect("request");
    let status = r.status().as_u16();
    let kind = r.headers().get("content-type").and_then(|v| v.to_str().ok()).unwrap_or_default().to_owned();
    (status, kind, r.text().await.expect("a body"))
}

async fn export(app: &App, conn: &str, query: &str, project: &str, roles: &str) -> (u16, String, String) {
    fetch(app.raw(Method::GET, &path(conn, query)), project, roles).await
}

fn has_line(text: &str, wanted: &str) -> bool {
    text.lines().any(|l| l.trim() == wanted)
}

#[tokio::test]
async fn the_owner_gets_the_mirror_as_swanctl_text_with_the_key() {
    let app = spawn_app().await;
    let site = Site::new(&app, P1).await;
    let conn = app.create(CONNS, P1, with(site.connection(), json!({"mtu": 1400}))).await;
    let (status, kind, text) = export(&app, &conn, "?format=swanctl", P1, "member").await;
    assert_eq!((status, kind.as_str()), (200, "text/plain; charset=utf-8"), "{text}");
    for wanted in [
        "local_addrs = 172.24.4.233",
        "remote_addrs = 172.24.4.10",
        // IKEv1 (the policy's default): one CHILD_SA per pair of subnets, as our side has.
        "local_ts = 10.2.0.0/24",
        "local_ts = 10.3.0.0/24",
        "remote_ts = 10.1.0.0/24",
        "proposals = aes128-sha1-modp1536",
        "esp_proposals = aes128-sha1-modp1536",
        "dpd_delay = 30s",
        "id-1 = 172.24.4.233",
        "id-2 = 172.24.4.10",
        "secret = 0x736563726574",
    ] {
        assert!(has_line(&text, wanted), "{wanted:?} missing in\n{text}");
    }
    assert!(text.contains("MTU 1400"), "{text}");
    // No format is swanctl; the answer is never cached.
    let r = app.raw(Method::GET, &path(&conn, "")).header("X-Project-Id", P1).send().await.unwrap();
    assert_eq!(r.headers()["cache-control"], "no-store");
    assert_eq!(r.text().await.unwrap(), text);
}

#[tokio::test]
async fn readers_get_a_placeholder_admins_the_key_and_other_projects_a_404() {
    let app = spawn_app().await;
    let site = Site::new(&app, P1).await;
    let conn = app.create(CONNS, P1, site.connection()).await;
    for format in ["swanctl", "libreswan"] {
        let query = format!("?format={format}");
        let (status, _, text) = export(&app, &conn, &query, P1, "reader").await;
        assert_eq!(status, 200, "{text}");
        assert!(text.contains("REPLACE-WITH-THE-PRE-SHARED-KEY") && text.contains("withheld"), "{text}");
        assert!(!text.contains("736563726574") && !text.contains("\"secret\""), "a reader sees the key:\n{text}");
        let (status, _, text) = export(&app, &conn, &query, "admin", "admin").await;
        assert_eq!(status, 200);
        assert!(!text.contains("REPLACE-WITH"), "{text}");
        assert!(text.contains("736563726574") || text.contains("PSK \"secret\""), "{text}");
        let (status, _, text) = export(&app, &conn, &query, P2, "member").await;
        assert_eq!(status, 404, "{text}");
        let body: Value = serde_json::from_str(&text).unwrap();
        assert_eq!(body["NeutronError"]["type"], "IPsecSiteConnectionNotFound", "{body}");
        assert!(!text.contains("secret"));
    }
    let (status, _, text) = export(&app, "not-a-uuid", "", P1, "member").await;
    assert_eq!(status, 404, "{text}");
}

/// One rule for the pre-shared key (ADR 0040): a reader of the project reads every attribute
/// of its connection but the PSK, whichever read it makes (show, list, `fields=` naming `psk`
/// or not, a filter, the export); a member and an admin read it in each of them.
#[tokio::test]
async fn a_readers_every_read_is_free_of_the_psk_and_a_members_carries_it() {
    let app = spawn_app().await;
    let site = Site::new(&app, P1).await;
    let conn = app.create(CONNS, P1, site.connection()).await;
    let reads = [
        format!("{CONNS}/{conn}"),
        format!("{CONNS}/{conn}?fields=psk"),
        format!("{CONNS}/{conn}?fields=psk&fields=name"),
        format!("{CONNS}/{conn}?fields=name"),
        CONNS.to_string(),
        format!("{CONNS}?fields=psk"),
        format!("{CONNS}?fields=id&fields=psk"),
        format!("{CONNS}?name=conn&fields=psk"),
        format!("{CONNS}?limit=1&fields=psk"),
        format!("{CONNS}/{conn}/peer-config"),
        format!("{CONNS}/{conn}/peer-config?format=libreswan"),
    ];
    for (project, roles, sees) in [(P1, "reader", false), (P1, "member", true), ("admin", "admin", true)] {
        for read in &reads {
            let (status, _, text) = fetch(app.raw(Method::GET, read), project, roles).await;
            assert_eq!(status, 200, "{roles} GET {read}: {text}");
            // The key is "secret": on the wire as "secret", in swanctl as 0x736563726574.
            let carries = text.contains("\"secret\"") || text.contains("736563726574");
            let asked = !read.contains("fields=") || read.contains("fields=psk");
            assert_eq!(carries, sees && asked, "{roles} GET {read}: {text}");
        }
    }
    // The reader's show has every other attribute, and no `psk` key at all.
    let (_, _, text) = fetch(app.raw(Method::GET, &format!("{CONNS}/{conn}")), P1, "reader").await;
    let shown: Value = serde_json::from_str(&text).unwrap();
    let shown = &shown["ipsec_site_connection"];
    assert!(shown.get("psk").is_none(), "{shown}");
    assert_eq!(shown["peer_address"], "172.24.4.233", "{shown}");
}

#[tokio::test]
async fn an_unknown_format_is_a_400_naming_format_and_the_accepted_values() {
    let app = spawn_app().await;
    let site = Site::new(&app, P1).await;
    let conn = app.create(CONNS, P1, site.connection()).await;
    for query in ["?format=openswan", "?format=", "?format=swanctl&format=libreswan"] {
        let r = app.send(app.raw(Method::GET, &path(&conn, query)).header("X-Project-Id", P1)).await;
        r.refused(400, "HTTPBadRequest", "format");
        assert!(r.message().contains("'swanctl', 'libreswan'"), "{}", r.message());
    }
}

#[tokio::test]
async fn what_strongswan_cannot_run_is_a_409_with_the_reason() {
    let app = spawn_app().await;
    let site = Site::new(&app, P1).await;
    // IKEv1 has no combined-mode cipher for the IKE SA; the server stores such a policy
    // (the reference does), and its gateway reports ERROR.
    let ike = app
        .create(IKE, P1, json!({"ikepolicy": {"ike_version": "v1", "encryption_algorithm": "aes-128-gcm-16"}}))
        .await;
    let conn = app.create(CONNS, P1, with(site.connection(), json!({"ikepolicy_id": ike}))).await;
    let r = app.send(app.raw(Method::GET, &path(&conn, "?format=swanctl")).header("X-Project-Id", P1)).await;
    r.refused(409, "PeerConfigUnavailable", "IKEv1 has no combined-mode (GCM/CCM) ciphers");
    // libreswan cannot either, and says so in the export.
    let (status, _, text) = export(&app, &conn, "?format=libreswan", P1, "member").await;
    assert_eq!(status, 200);
    assert!(text.contains("# NOT EXPRESSIBLE") && text.contains("IKEv1 has no GCM for IKE"), "{text}");
    assert!(has_line(&text, "#ike=aes_gcm_c128-sha1;modp1536"), "{text}");
}

#[tokio::test]
async fn a_certificate_connection_exports_pubkey_with_the_files_to_supply_and_never_our_key() {
    let app = spawn_app().await;
    let site = Site::new(&app, P1).await;
    let ca = Ca::new("peer export CA", CA_KEY);
    let cert_pem = ca.site("site-a.example.com", SITE_A_KEY, -1, 30);
    let cert = app.create(CERTS, P1, upload(&cert_pem, SITE_A_KEY)).await;
    let body = with(
        without(site.connection(), "psk"),
        json!({"auth_mode": "certs", "local_certificate_id": cert, "peer_ca": ca.pem(),
               "local_id": "site-a.example.com", "peer_id": "site-b.example.com"}),
    );
    let conn = app.create(CONNS, P1, body).await;
    let key_line = SITE_A_KEY.lines().nth(1).unwrap();
    let (status, _, text) = export(&app, &conn, "?format=swanctl", P1, "member").await;
    assert_eq!(status, 200, "{text}");
    for wanted in [
        "auth = pubkey",
        "certs = vpnaas-peer.pem",
        "cacerts = vpnaas-ca.pem",
        "id = site-b.example.com",
        "id = site-a.example.com",
    ] {
        assert!(has_line(&text, wanted), "{wanted:?} missing in\n{text}");
    }
    assert!(text.contains("/etc/swanctl/private/vpnaas-peer.key"), "{text}");
    let (status, _, lsw) = export(&app, &conn, "?format=libreswan", P1, "member").await;
    assert_eq!(status, 200, "{lsw}");
    assert!(has_line(&lsw, "authby=rsasig") && has_line(&lsw, "leftcert=vpnaas-peer"), "{lsw}");
    for t in [&text, &lsw] {
        assert!(!t.contains(key_line) && !t.contains("PRIVATE KEY"), "our private key in\n{t}");
        assert!(!t.contains("BEGIN CERTIFICATE"), "{t}");
    }
}

/// libreswan's `addconn` and `algparse`: installed, or extracted by `.ci/libreswan.sh`
/// (`VPNAAS_TEST_LIBRESWAN`, default `~/.cache/vpnaas-libreswan`); else the test skips,
/// except under CI.
pub(crate) fn libreswan_tools(test: &str) -> Option<PathBuf> {
    let home = std::env::var("HOME").unwrap_or_default();
    let roots = [
        std::env::var("VPNAAS_TEST_LIBRESWAN").unwrap_or_default(),
        format!("{home}/.cache/vpnaas-libreswan"),
        String::from("/"),
    ];
    for root in roots.iter().filter(|r| !r.is_empty()) {
        let dir = PathBuf::from(root).join("usr/libexec/ipsec");
        if dir.join("addconn").exists() && dir.join("algparse").exists() {
            return Some(dir);
        }
    }
    assert!(
        std::env::var("CI").map_or(true, |v| v.is_empty()),
        "{test}: CI extracts libreswan with .ci/libreswan.sh (VPNAAS_TEST_LIBRESWAN)"
    );
    eprintln!("SKIPPED {test}: libreswan's addconn/algparse not found (run .ci/libreswan.sh)");
    None
}

/// Runs one of libreswan's tools: (success, output).
fn run(tool: &std::path::Path, args: &[&str]) -> (bool, String) {
    let out = Command::new(tool).args(args).output().expect("run a libreswan tool");
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    (out.status.success(), text)
}

#[tokio::test]
async fn libreswan_parses_every_export_and_refuses_exactly_what_the_export_says_it_cannot_express() {
    let test = "libreswan_parses_every_export_and_refuses_exactly_what_the_export_says_it_cannot_express";
    let Some(tools) = libreswan_tools(test) else { return };
    let (addconn, algparse) = (tools.join("addconn"), tools.join("algparse"));
    let app = spawn_app().await;
    let site = Site::new(&app, P1).await;
    let dir = tempfile::TempDir::new().unwrap();
    let encs = [
        "3des",
        "aes-128",
        "aes-192",
        "aes-256",
        "aes-128-ctr",
        "aes-192-ctr",
        "aes-256-ctr",
        "aes-128-ccm-8",
        "aes-128-ccm-12",
        "aes-128-ccm-16",
        "aes-192-ccm-8",
        "aes-192-ccm-12",
        "aes-192-ccm-16",
        "aes-256-ccm-8",
        "aes-256-ccm-12",
        "aes-256-ccm-16",
        "aes-128-gcm-8",
        "aes-128-gcm-12",
        "aes-128-gcm-16",
        "aes-192-gcm-8",
        "aes-192-gcm-12",
        "aes-192-gcm-16",
        "aes-256-gcm-8",
        "aes-256-gcm-12",
        "aes-256-gcm-16",
    ];
    let auths = ["sha1", "sha256", "sha384", "sha512", "aes-xcbc", "aes-cmac"];
    let (mut accepted, mut refused) = (0, 0);
    // Every encryption, integrity and group value, in IKE and in ESP/AH, IKEv1 and IKEv2.
    for i in 0..(encs.len() + 2) {
        let enc = encs[i % encs.len()];
        let version = if i % 3 == 0 { "v1" } else { "v2" };
        let pfs =
            format!("group{}", [2, 5, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23, 24, 25, 26, 27, 28, 29, 30, 31][i % 20]);
        let child_pfs = format!("group{}", [14, 19, 31, 5, 2, 21, 25][i % 7]);
        let transform = if i % 5 == 4 { "ah" } else { "esp" };
        let ike = json!({"ikepolicy": {"encryption_algorithm": enc, "auth_algorithm": auths[i % 6],
                                       "pfs": pfs, "ike_version": version}});
        let ipsec = json!({"ipsecpolicy": {"encryption_algorithm": enc, "auth_algorithm": auths[(i + 3) % 6],
                                           "pfs": child_pfs, "transform_protocol": transform}});
        let (ike, ipsec) = (app.create(IKE, P1, ike).await, app.create(IPSEC, P1, ipsec).await);
        let peer = app.group(P1, "cidr", json!([format!("10.{}.0.0/24", 100 + i)])).await;
        let body =
            with(site.connection(), json!({"ikepolicy_id": ike, "ipsecpolicy_id": ipsec, "peer_ep_group_id": peer}));
        let conn = app.create(CONNS, P1, body).await;
        let (status, _, text) = export(&app, &conn, "?format=libreswan", P1, "member").await;
        assert_eq!(status, 200, "{text}");
        let file = dir.path().join(format!("{i}.conf"));
        std::fs::write(&file, &text).unwrap();
        let (ok, out) = run(&addconn, &["--checkconfig", "--config", file.to_str().unwrap()]);
        assert!(ok, "addconn refuses the export: {out}\n{text}");
        let v = if version == "v1" { "-v1" } else { "-v2" };
        for line in text.lines().map(str::trim) {
            let (active, directive) = match line.strip_prefix('#') {
                Some(rest) if rest.starts_with("ike=") || rest.starts_with("phase2alg=") => (false, rest),
                _ if line.starts_with("ike=") || line.starts_with("phase2alg=") => (true, line),
                _ => continue,
            };
            let arg = match directive.split_once('=') {
                Some(("ike", p)) => format!("ike={p}"),
                Some((_, p)) if text.contains("phase2=ah") => format!("ah={p}"),
                Some((_, p)) => format!("esp={p}"),
                None => unreachable!(),
            };
            let (ok, out) = run(&algparse, &[v, "-pfs", &arg]);
            if active {
                assert!(ok, "libreswan refuses {arg} ({version}): {out}\n{text}");
                accepted += 1;
            } else {
                assert!(!ok, "the export says libreswan cannot do {arg} ({version}), but it can: {out}");
                assert!(text.contains("# NOT EXPRESSIBLE"), "{text}");
                refused += 1;
            }
        }
    }
    eprintln!("libreswan: {accepted} proposals parsed, {refused} refused as the exports said");
    assert!(accepted > 20 && refused > 5, "{accepted} {refused}");
}
