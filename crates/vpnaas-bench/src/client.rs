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

/// Why a request could not be made or did not answer as a setup step needs.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    // The token's text stays out of the message.
    #[error("a bench token is not a header value")]
    BadToken,
    #[error("VPNAAS_BENCH_PROJECT is not a header value")]
    BadProject,
    #[error("set both VPNAAS_BENCH_TOKEN and VPNAAS_BENCH_ADMIN_TOKEN, or neither")]
    HalfTheTokens,
    #[error("cannot build the HTTP client: {0}")]
    Build(#[source] reqwest::Error),
    /// reqwest's error with its causes in the message: "error sending request" alone says little.
    #[error("{method} {path}: {}", error_chain(.source))]
    Transport { method: Method, path: String, source: reqwest::Error },
    #[error("response is not JSON ({source}): {snippet}")]
    NotJson { snippet: String, source: serde_json::Error },
    #[error("{method} {path}: expected {expect}, got {status}: {snippet}")]
    Unexpected { method: Method, path: String, expect: u16, status: StatusCode, snippet: String },
    #[error("POST {path}: no {singular}.id in {answer}")]
    NoId { path: String, singular: String, answer: Value },
}

/// fleet/ still handles errors as Strings; this lets it take a client's with `?`.
impl From<ClientError> for String {
    fn from(e: ClientError) -> String {
        e.to_string()
    }
}

/// Identity headers: tokens from `VPNAAS_BENCH_TOKEN` and `VPNAAS_BENCH_ADMIN_TOKEN` (a
/// server in keystone or static mode), else noauth's project and role headers.
fn identities() -> Result<(HeaderMap, HeaderMap), ClientError> {
    let token = |name: &str| std::env::var(name).ok().filter(|t| !t.is_empty());
    match (token("VPNAAS_BENCH_TOKEN"), token("VPNAAS_BENCH_ADMIN_TOKEN")) {
        (Some(bench), Some(admin)) => {
            let with_token = |t: String| {
                let mut h = headers(&[]);
                let value = HeaderValue::from_str(&t).map_err(|_| ClientError::BadToken)?;
                h.insert(HeaderName::from_static("x-auth-token"), value);
                Ok(h)
            };
            Ok((with_token(bench)?, with_token(admin)?))
        }
        (None, None) => {
            let mut bench = headers(&[]);
            let project = HeaderValue::from_str(&project()).map_err(|_| ClientError::BadProject)?;
            bench.insert(HeaderName::from_static("x-project-id"), project);
            Ok((bench, headers(&[("x-project-id", "admin"), ("x-roles", "admin")])))
        }
        _ => Err(ClientError::HalfTheTokens),
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
    pub fn json(&self) -> Result<Value, ClientError> {
        serde_json::from_slice(&self.body).map_err(|source| ClientError::NotJson { snippet: self.snippet(), source })
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
    pub fn connect(base: &str, timeout: Duration, max_connections: usize) -> Result<Api, ClientError> {
        let http = reqwest::Client::builder()
            // A proxy from the environment must never see this traffic: loopback only.
            .no_proxy()
            .timeout(timeout)
            .connect_timeout(Duration::from_secs(10))
            .pool_max_idle_per_host(max_connections)
            .tcp_nodelay(true)
            .build()
            .map_err(ClientError::Build)?;
        let (bench, admin) = identities()?;
        Ok(Api { http, base: base.to_owned(), bench, admin })
    }

    pub async fn request(&self, req: &Req) -> Result<Reply, ClientError> {
        let who = match req.who {
            As::Bench => &self.bench,
            As::Admin => &self.admin,
        };
        let mut rb = self.http.request(req.method.clone(), format!("{}{}", self.base, req.path)).headers(who.clone());
        if let Some(body) = &req.body {
            rb = rb.header(CONTENT_TYPE, "application/json").body(body.clone());
        }
        let transport = |source| ClientError::Transport { method: req.method.clone(), path: req.path.clone(), source };
        let resp = rb.send().await.map_err(transport)?;
        let status = resp.status();
        let body = resp.bytes().await.map_err(transport)?;
        Ok(Reply { status, body })
    }

    /// A setup request that must answer `expect`; returns the JSON body (Null when empty).
    pub async fn setup(
        &self,
        method: Method,
        path: &str,
        body: Option<Value>,
        who: As,
        expect: u16,
    ) -> Result<Value, ClientError> {
        let req = Req { method: method.clone(), path: path.to_owned(), body: body.map(|b| json_body(&b)), who };
        let reply = self.request(&req).await?;
        if reply.status.as_u16() != expect {
            return Err(ClientError::Unexpected {
                method,
                path: path.to_owned(),
                expect,
                status: reply.status,
                snippet: reply.snippet(),
            });
        }
        if reply.body.is_empty() {
            return Ok(Value::Null);
        }
        reply.json()
    }

    /// POSTs `{singular: attrs}` and returns the new object's id.
    pub async fn create(&self, path: &str, singular: &str, attrs: Value, who: As) -> Result<String, ClientError> {
        let body = serde_json::json!({ singular: attrs });
        let v = self.setup(Method::POST, path, Some(body), who, 201).await?;
        id_of(&v, singular).ok_or_else(|| ClientError::NoId {
            path: path.to_owned(),
            singular: singular.to_owned(),
            answer: v,
        })
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

/// An error with its causes, `outer: inner: ...`.
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
