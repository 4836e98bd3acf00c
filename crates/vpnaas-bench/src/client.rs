//! The HTTP client every measurement shares: identity headers, one connection pool, and small helpers for the setup requests.

use std::time::Duration;

use axum::body::Bytes;
use reqwest::header::{HeaderMap, HeaderName, HeaderValue, ACCEPT, CONTENT_TYPE};
use reqwest::{Method, StatusCode};
use serde_json::Value;

/// The project the measured requests act as (in noauth mode; the storage ceiling's rows).
pub const PROJECT: &str = "bench";

/// The project the measured requests act as: `VPNAAS_BENCH_PROJECT` (the project of
/// `VPNAAS_BENCH_TOKEN`, for a server in keystone or static mode), else `bench`.
pub fn project() -> String {
    std::env::var("VPNAAS_BENCH_PROJECT").ok().filter(|p| !p.is_empty()).unwrap_or_else(|| PROJECT.to_owned())
}

/// Identity headers: tokens from `VPNAAS_BENCH_TOKEN` and `VPNAAS_BENCH_ADMIN_TOKEN` (a
/// server in keystone or static mode), else noauth's project and role headers.
fn identities() -> Result<(HeaderMap, HeaderMap), String> {
    let token = |name: &str| std::env::var(name).ok().filter(|t| !t.is_empty());
    match (token("VPNAAS_BENCH_TOKEN"), token("VPNAAS_BENCH_ADMIN_TOKEN")) {
        (Some(bench), Some(admin)) => {
            let with_token = |t: String| -> Result<HeaderMap, String> {
                let mut h = headers(&[]);
                let value = HeaderValue::from_str(&t).map_err(|_| "a bench token is not a header value".to_owned())?;
                h.insert(HeaderName::from_static("x-auth-token"), value);
                Ok(h)
            };
            Ok((with_token(bench)?, with_token(admin)?))
        }
        (None, None) => {
            let mut bench = headers(&[]);
            let project =
                HeaderValue::from_str(&project()).map_err(|_| "VPNAAS_BENCH_PROJECT is not a header value")?;
            bench.insert(HeaderName::from_static("x-project-id"), project);
            Ok((bench, headers(&[("x-project-id", "admin"), ("x-roles", "admin")])))
        }
        _ => Err("set both VPNAAS_BENCH_TOKEN and VPNAAS_BENCH_ADMIN_TOKEN, or neither".into()),
    }
}

/// Who a request is from: the bench project, or an admin (inventory writes are admin-only).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum As {
    Bench,
    Admin,
}

/// An HTTP request as the load loops send it; the body is serialised once, before timing.
#[derive(Debug, Clone)]
pub struct Req {
    pub method: Method,
    pub path: String,
    pub body: Option<Bytes>,
    pub who: As,
}

/// A response: its status and body.
#[derive(Debug)]
pub struct Reply {
    pub status: StatusCode,
    pub body: Bytes,
}

impl Reply {
    pub fn json(&self) -> Result<Value, String> {
        serde_json::from_slice(&self.body).map_err(|e| format!("response is not JSON ({e}): {}", self.snippet()))
    }

    /// The start of the body, for error messages.
    pub fn snippet(&self) -> String {
        let text = String::from_utf8_lossy(&self.body);
        text.chars().take(300).collect()
    }
}

/// A client of one server (vpnaas, the reference or the HTTP ceiling).
#[derive(Clone)]
pub struct Api {
    http: reqwest::Client,
    pub base: String,
    bench: HeaderMap,
    admin: HeaderMap,
}

fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
    let mut h = HeaderMap::new();
    h.insert(ACCEPT, HeaderValue::from_static("application/json"));
    for (k, v) in pairs {
        h.insert(HeaderName::from_static(k), HeaderValue::from_static(v));
    }
    h
}

impl Api {
    /// `base` must already have passed the loopback check.
    pub fn new(base: &str, timeout: Duration, max_connections: usize) -> Result<Api, String> {
        let http = reqwest::Client::builder()
            // A proxy from the environment must never see this traffic: loopback only.
            .no_proxy()
            .timeout(timeout)
            .connect_timeout(Duration::from_secs(10))
            .pool_max_idle_per_host(max_connections)
            .tcp_nodelay(true)
            .build()
            .map_err(|e| format!("cannot build the HTTP client: {e}"))?;
        let (bench, admin) = identities()?;
        Ok(Api { http, base: base.to_owned(), bench, admin })
    }

    pub async fn send(&self, req: &Req) -> Result<Reply, String> {
        let who = match req.who {
            As::Bench => &self.bench,
            As::Admin => &self.admin,
        };
        let mut rb = self.http.request(req.method.clone(), format!("{}{}", self.base, req.path)).headers(who.clone());
        if let Some(body) = &req.body {
            rb = rb.header(CONTENT_TYPE, "application/json").body(body.clone());
        }
        let resp = rb.send().await.map_err(|e| format!("{} {}: {}", req.method, req.path, error_chain(&e)))?;
        let status = resp.status();
        let body = resp.bytes().await.map_err(|e| format!("{} {}: {}", req.method, req.path, error_chain(&e)))?;
        Ok(Reply { status, body })
    }

    /// A setup request that must answer `expect`; returns the JSON body (Null when empty).
    pub async fn call(
        &self,
        method: Method,
        path: &str,
        body: Option<Value>,
        who: As,
        expect: u16,
    ) -> Result<Value, String> {
        let req = Req { method: method.clone(), path: path.to_owned(), body: body.map(|b| json_body(&b)), who };
        let reply = self.send(&req).await?;
        if reply.status.as_u16() != expect {
            return Err(format!("{method} {path}: expected {expect}, got {}: {}", reply.status, reply.snippet()));
        }
        if reply.body.is_empty() {
            return Ok(Value::Null);
        }
        reply.json()
    }

    /// POSTs `{singular: attrs}` and returns the new object's id.
    pub async fn create(&self, path: &str, singular: &str, attrs: Value, who: As) -> Result<String, String> {
        let body = serde_json::json!({ singular: attrs });
        let v = self.call(Method::POST, path, Some(body), who, 201).await?;
        id_of(&v, singular).ok_or_else(|| format!("POST {path}: no {singular}.id in {v}"))
    }
}

/// A JSON body as shared bytes: a replayed request costs no copy.
pub fn json_body(v: &Value) -> Bytes {
    Bytes::from(v.to_string().into_bytes())
}

/// `v[singular].id`.
pub fn id_of(v: &Value, singular: &str) -> Option<String> {
    v.get(singular)?.get("id")?.as_str().map(str::to_owned)
}

/// reqwest's error with its causes: "error sending request" alone says little.
fn error_chain(e: &dyn std::error::Error) -> String {
    let mut out = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        out.push_str(": ");
        out.push_str(&s.to_string());
        source = s.source();
    }
    out
}
