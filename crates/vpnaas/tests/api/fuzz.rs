//! A seeded HTTP fuzzing pass over every endpoint and verb (ADR 0013 §1): malformed JSON, wrong types, huge numbers, deep nesting, odd query strings, paths that are not UTF-8; no answer is a 5xx and every error is in the envelope.

use std::collections::BTreeMap;

use serde_json::{json, Value};

use crate::hardening::{addr, raw};
use crate::support::*;

/// xorshift64*: the same requests on every run, so a failure can be replayed.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
    fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len())]
    }
}

const SINGULARS: &[&str] = &[
    "ikepolicy",
    "ipsecpolicy",
    "vpnservice",
    "endpoint_group",
    "ipsec_site_connection",
    "router",
    "subnet",
    "subnet_id",
];

const ATTRIBUTES: &[&str] = &[
    "name",
    "description",
    "tenant_id",
    "project_id",
    "lifetime",
    "dpd",
    "psk",
    "mtu",
    "peer_address",
    "peer_id",
    "peer_cidrs",
    "endpoints",
    "type",
    "router_id",
    "subnet_id",
    "ikepolicy_id",
    "ipsecpolicy_id",
    "vpnservice_id",
    "local_ep_group_id",
    "peer_ep_group_id",
    "admin_state_up",
    "initiator",
    "pfs",
    "auth_algorithm",
    "encryption_algorithm",
    "ike_version",
    "cidr",
    "external_gateway_info",
    "flavor_id",
    "local_id",
    "status",
];

fn value(rng: &mut Rng, depth: usize) -> Value {
    match rng.below(if depth > 3 { 9 } else { 12 }) {
        0 => Value::Null,
        1 => json!(rng.below(2) == 0),
        2 => json!(rng.next() as i64),
        3 => json!(-1),
        4 => json!(1e300),
        5 => json!(*rng.pick(&["", " ", "2000", "seconds", "10.0.0.0/24", "::/0", "\u{0}", "é", "%ff", "a b"])),
        6 => json!("x".repeat(rng.below(400))),
        7 => json!(uuid::Uuid::new_v4().to_string()),
        8 => json!(0.5),
        9 => Value::Array((0..rng.below(4)).map(|_| value(rng, depth + 1)).collect()),
        _ => {
            let mut m = serde_json::Map::new();
            for _ in 0..rng.below(4) {
                let k = *rng.pick(&["units", "value", "action", "interval", "timeout", "ip_address", "x"]);
                m.insert(k.into(), value(rng, depth + 1));
            }
            Value::Object(m)
        }
    }
}

fn body(rng: &mut Rng) -> Vec<u8> {
    match rng.below(10) {
        0 => Vec::new(),
        1 => b"{\"ikepolicy\": {".to_vec(),
        2 => b"{\"name\": 1e99999, \"x\": 123456789012345678901234567890}".to_vec(),
        3 => {
            let n = 50 + rng.below(5000);
            format!("{}{}", "[".repeat(n), "]".repeat(n)).into_bytes()
        }
        4 => (0..rng.below(300)).map(|_| rng.next() as u8).collect(),
        5 => format!("{{\"{}\": [1, 2]}}", rng.pick(SINGULARS)).into_bytes(),
        _ => {
            let mut inner = serde_json::Map::new();
            for _ in 0..rng.below(6) {
                inner.insert((*rng.pick(ATTRIBUTES)).into(), value(rng, 0));
            }
            json!({ *rng.pick(SINGULARS): inner }).to_string().into_bytes()
        }
    }
}

fn query(rng: &mut Rng) -> String {
    rng.pick(&[
        "",
        "?limit=-1",
        "?limit=abc",
        "?limit=99999999999999999999",
        "?marker=%ff",
        "?marker=not-a-uuid&limit=1",
        "?sort_key=nope&sort_dir=sideways",
        "?sort_key=name&sort_dir=desc&page_reverse=maybe",
        "?fields=%00&fields=id",
        "?name=%ff%fe",
        "?&&==&",
        "?psk=secret",
        "?lifetime=1",
        "?id=%zz",
        "?tenant_id=p1&project_id=p2",
        "?mtu=1e9",
    ])
    .to_string()
}

#[tokio::test]
async fn a_seeded_fuzzing_pass_meets_no_5xx_and_only_enveloped_errors() {
    let app = spawn_app().await;
    let site = Site::new(&app, P1).await;
    let conn = app.create(CONNS, P1, site.connection()).await;
    let a = addr(&app.base);
    let ids = [
        site.ike.clone(),
        site.ipsec.clone(),
        site.service.clone(),
        site.local.clone(),
        conn,
        site.topo.router.clone(),
        site.topo.subnet4.clone(),
        uuid::Uuid::new_v4().to_string(),
        "%ff".into(),
        "%c3%28".into(),
        "a%00b".into(),
        "..".into(),
        "x".repeat(3000),
    ];
    let collections = [IKE, IPSEC, SERVICES, GROUPS, CONNS, "/v2.0/routers", "/v2.0/subnets"];
    let mut paths: Vec<String> = vec![
        "/".into(),
        "/v2.0".into(),
        "/v2.0/".into(),
        "/v2.0/extensions".into(),
        "/v2.0/extensions/vpnaas".into(),
        "/v2.0/ports".into(),
        "/v2.0/vpn".into(),
    ];
    for c in collections {
        paths.push(c.into());
        for id in &ids {
            paths.push(format!("{c}/{id}"));
        }
    }
    for id in &ids {
        paths.push(format!("/v2.0/routers/{id}/add_router_interface"));
        paths.push(format!("/v2.0/routers/{id}/remove_router_interface"));
        paths.push(format!("/v2.0/gateway/routers/{id}/state"));
        paths.push(format!("/v2.0/gateway/hosts/h1/routers/{id}/state"));
    }
    paths.extend(["/v2.0/gateway/hosts/h1/state".into(), "/v2.0/gateway/hosts/%ff/status".into()]);
    let methods = ["GET", "POST", "PUT", "DELETE", "PATCH", "HEAD", "OPTIONS"];
    let who = ["X-Project-Id: p1\r\n", "X-Project-Id: admin\r\nX-Roles: admin\r\n", "", "X-Project-Id: p2\r\n"];

    let mut rng = Rng(0x5eed_1234_abcd_0042);
    let mut seen: BTreeMap<u16, usize> = BTreeMap::new();
    let total = 3000;
    for n in 0..total {
        let method = *rng.pick(&methods);
        let path = format!("{}{}", rng.pick(&paths), query(&mut rng));
        let body = if rng.below(4) == 0 && method == "GET" { Vec::new() } else { body(&mut rng) };
        let content_type = rng.pick(&["application/json", "text/plain", "application/json; charset=latin1", ""]);
        let mut request = format!(
            "{method} {path} HTTP/1.1\r\nHost: x\r\n{}Content-Type: {content_type}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
            rng.pick(&who),
            body.len()
        )
        .into_bytes();
        request.extend_from_slice(&body);
        let r = raw(&a, &request).await;
        *seen.entry(r.status).or_default() += 1;
        let shown = String::from_utf8_lossy(&request[..request.len().min(300)]).into_owned();
        assert!(r.status >= 200 && r.status < 500, "request {n}: {shown}\n-> {r:?}");
        if r.status >= 400 && method != "HEAD" {
            r.enveloped(r.status);
        }
    }
    eprintln!("{total} fuzzed requests, statuses seen: {seen:?}");
    // The server still serves, and the objects it had are intact.
    app.get(&format!("{IKE}/{}", site.ike), P1).await.ok(200);
}
