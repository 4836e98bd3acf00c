//! Keystone mode: `X-Auth-Token` validated the way keystonemiddleware does it, with
//! `GET /v3/auth/tokens` carrying this service's own token and the caller's as
//! `X-Subject-Token`. Validations are cached until the token expires or `cache_secs`
//! pass, whichever is first; the service token is renewed before it expires. Keystone
//! unreachable is a 503, a bad token a 401 with `WWW-Authenticate: Keystone uri="..."`.

use std::collections::HashMap;
use std::fmt;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use serde::Deserialize;
use sha2::{Digest, Sha256};
use vpnaas_keystone::outgoing::{describe, ClientTls, TlsSetupError};
use vpnaas_keystone::{identity_base, time_left, LoginError, PasswordAuth, Session};

use super::policy::Credentials;
use crate::config::{KeystoneSettings, Secret};
use crate::error::Error;

/// Cached validations kept at most; beyond it, expired ones go, then all.
const CACHE_LIMIT: usize = 10_000;

pub struct Keystone {
    http: reqwest::Client,
    tokens_url: String,
    challenge: String,
    cache_for: Duration,
    session: Session,
    cache: Mutex<HashMap<[u8; 32], Cached>>,
    /// Counts for the metrics scrape (ADR 0015).
    pub stats: KeystoneStats,
    /// The readiness probe's last look at Keystone, reused for [`PROBE_FOR`].
    probed: tokio::sync::Mutex<Option<(Instant, bool)>>,
    base: String,
}

/// How long the readiness probe's answer about Keystone is reused.
const PROBE_FOR: Duration = Duration::from_secs(5);

/// What became of a token Keystone was asked about.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct OutcomeLabels {
    pub outcome: &'static str,
}

/// Keystone's counters; clones share their values.
#[derive(Clone, Default)]
pub struct KeystoneStats {
    /// Validations asked of Keystone, by outcome: `valid`, `refused` or `unavailable`.
    pub validations: Family<OutcomeLabels, Counter>,
    /// Requests answered from the validation cache.
    pub cache_hits: Counter,
}

impl KeystoneStats {
    fn count(&self, outcome: &'static str) {
        self.validations.get_or_create(&OutcomeLabels { outcome }).inc();
    }
}

/// A remembered answer: the caller, or `None` for a token Keystone refused (a token
/// Keystone does not know never becomes valid, so a flood of bad tokens costs one
/// validation each per `cache_secs`, not one per request).
struct Cached {
    creds: Option<Credentials>,
    until: Instant,
}

/// What a validation answers.
#[derive(Deserialize)]
struct TokenBody {
    token: TokenInfo,
}

#[derive(Deserialize)]
struct TokenInfo {
    expires_at: String,
    #[serde(default)]
    user: Option<Named>,
    #[serde(default)]
    project: Option<Named>,
    #[serde(default)]
    roles: Vec<Named>,
}

#[derive(Deserialize)]
struct Named {
    id: String,
    #[serde(default)]
    name: Option<String>,
}

fn cache_key(token: &str) -> [u8; 32] {
    Sha256::digest(token.as_bytes()).into()
}

/// Why the client of the cloud's services cannot be built.
#[derive(Debug)]
pub enum ServiceClientError {
    /// `keystone.ca_file` (the setting's name comes from the TLS error's own words).
    Tls(TlsSetupError),
    Http(reqwest::Error),
}

impl fmt::Display for ServiceClientError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ServiceClientError::Tls(e) => write!(f, "keystone.{e}"),
            ServiceClientError::Http(e) => write!(f, "HTTP client: {e}"),
        }
    }
}

impl std::error::Error for ServiceClientError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            ServiceClientError::Tls(e) => Some(e),
            ServiceClientError::Http(e) => Some(e),
        }
    }
}

/// Why keystone mode cannot start: settings missing, or its client.
#[derive(Debug)]
pub enum KeystoneSetupError {
    NoUrl,
    NoCredentials,
    Client(ServiceClientError),
}

impl fmt::Display for KeystoneSetupError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            KeystoneSetupError::NoUrl => f.write_str("auth_strategy = \"keystone\" needs keystone_url"),
            KeystoneSetupError::NoCredentials => {
                f.write_str("auth_strategy = \"keystone\" needs keystone_username and keystone_password")
            }
            KeystoneSetupError::Client(e) => e.fmt(f),
        }
    }
}

impl std::error::Error for KeystoneSetupError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            KeystoneSetupError::Client(e) => e.source(),
            KeystoneSetupError::NoUrl | KeystoneSetupError::NoCredentials => None,
        }
    }
}

/// The HTTP client the server calls its cloud's services with (Keystone, Neutron): the system's
/// trust store plus `keystone.ca_file`, and `timeout` for connecting and for each whole call.
pub fn service_client(settings: &KeystoneSettings, timeout: Duration) -> Result<reqwest::Client, ServiceClientError> {
    let tls = ClientTls { ca_file: settings.ca_file.clone(), ..ClientTls::default() };
    tls.builder()
        .map_err(ServiceClientError::Tls)?
        .connect_timeout(timeout)
        .timeout(timeout)
        .build()
        .map_err(ServiceClientError::Http)
}

impl Keystone {
    pub fn new(settings: &KeystoneSettings) -> Result<Keystone, KeystoneSetupError> {
        let url = settings.url.as_deref().ok_or(KeystoneSetupError::NoUrl)?;
        let base = identity_base(url);
        if settings.username.is_empty() || settings.password.0.is_empty() {
            return Err(KeystoneSetupError::NoCredentials);
        }
        let timeout = Duration::from_secs(settings.timeout_secs.max(1));
        let http = service_client(settings, timeout).map_err(KeystoneSetupError::Client)?;
        Ok(Keystone {
            http,
            tokens_url: format!("{base}/v3/auth/tokens"),
            challenge: format!("Keystone uri=\"{base}\""),
            cache_for: Duration::from_secs(settings.cache_secs),
            session: Session::new(PasswordAuth {
                url: base.to_owned(),
                username: settings.username.clone(),
                password: settings.password.0.clone(),
                project_name: settings.project_name.clone(),
                user_domain_name: settings.user_domain_name.clone(),
                project_domain_name: settings.project_domain_name.clone(),
            }),
            cache: Mutex::new(HashMap::new()),
            stats: KeystoneStats::default(),
            probed: tokio::sync::Mutex::new(None),
            base: base.to_owned(),
        })
    }

    /// The 401 of a missing, bad or expired token.
    pub fn refusal(&self) -> Error {
        Error::TokenRefused(self.challenge.clone())
    }

    /// Whether Keystone answers its version document (`GET /v3`, no credential): the
    /// readiness probe's cheap check, asked at most once per [`PROBE_FOR`].
    pub async fn reachable(&self) -> bool {
        let mut probed = self.probed.lock().await;
        if let Some((at, ok)) = *probed {
            if at.elapsed() < PROBE_FOR {
                return ok;
            }
        }
        let ok = match self.http.get(format!("{}/v3", self.base)).send().await {
            Ok(answer) => answer.status().is_success(),
            Err(e) => {
                tracing::warn!(error = %e, "Keystone unavailable for the readiness probe");
                false
            }
        };
        *probed = Some((Instant::now(), ok));
        ok
    }

    /// The caller a token stands for.
    pub async fn validate(&self, token: &str) -> Result<Credentials, Error> {
        let key = cache_key(token);
        if let Some(known) = self.cached(&key) {
            self.stats.cache_hits.inc();
            return known.ok_or_else(|| self.refusal());
        }
        let outcome = self.ask(key, token).await;
        self.stats.count(match &outcome {
            Ok(_) => "valid",
            Err(Error::IdentityUnavailable) => "unavailable",
            Err(_) => "refused",
        });
        outcome
    }

    /// Asks Keystone about a token not in the cache, and remembers the answer.
    async fn ask(&self, key: [u8; 32], token: &str) -> Result<Credentials, Error> {
        let mut renewed = false;
        loop {
            let service = self.service_token(renewed).await?;
            let answer = self
                .http
                .get(format!("{}?nocatalog", self.tokens_url))
                .header("X-Auth-Token", service.0.as_str())
                .header("X-Subject-Token", token)
                .send()
                .await
                .map_err(|e| unavailable("token validation", &e))?;
            match answer.status().as_u16() {
                200 => {
                    let body: TokenBody =
                        answer.json().await.map_err(|e| unavailable("token validation answer", &e))?;
                    let (creds, left) = self.credentials(body.token)?;
                    self.remember(key, Some(creds.clone()), left);
                    return Ok(creds);
                }
                // Keystone's answer for a token that is bad, tampered with, expired or revoked.
                404 => {
                    self.remember(key, None, self.cache_for);
                    return Err(self.refusal());
                }
                // Our own token was refused (revoked, or Keystone's keys rotated): renew once.
                401 if !renewed => renewed = true,
                status => {
                    tracing::error!(
                        status,
                        "Keystone refused to validate tokens for this service; check its service user and role"
                    );
                    return Err(Error::IdentityUnavailable);
                }
            }
        }
    }

    fn credentials(&self, t: TokenInfo) -> Result<(Credentials, Duration), Error> {
        let left = time_left(&t.expires_at).filter(|d| !d.is_zero()).ok_or_else(|| self.refusal())?;
        // A token without a project (unscoped, domain or system scope) cannot own VPN resources.
        let project = t.project.ok_or_else(|| self.refusal())?;
        let roles = t.roles.into_iter().filter_map(|r| r.name);
        Ok((Credentials::new(project.id, t.user.map(|u| u.id), roles), left))
    }

    fn cached(&self, key: &[u8; 32]) -> Option<Option<Credentials>> {
        let cache = self.cache.lock().unwrap_or_else(|p| p.into_inner());
        cache.get(key).filter(|c| c.until > Instant::now()).map(|c| c.creds.clone())
    }

    fn remember(&self, key: [u8; 32], creds: Option<Credentials>, left: Duration) {
        let until = Instant::now() + left.min(self.cache_for);
        let mut cache = self.cache.lock().unwrap_or_else(|p| p.into_inner());
        if cache.len() >= CACHE_LIMIT {
            let now = Instant::now();
            cache.retain(|_, c| c.until > now);
            if cache.len() >= CACHE_LIMIT {
                cache.clear();
            }
        }
        cache.insert(key, Cached { creds, until });
    }

    /// This service's own token: the one held, or a new one when it is near its end (or
    /// `renew` says Keystone refused it).
    async fn service_token(&self, renew: bool) -> Result<Secret, Error> {
        match self.session.token(&self.http, renew).await {
            Ok(token) => Ok(Secret(token)),
            Err(LoginError::Refused(status)) => {
                tracing::error!(
                    status,
                    user = %self.session.auth().username,
                    "Keystone refused this service's own login; check keystone username, password and project"
                );
                Err(Error::IdentityUnavailable)
            }
            Err(LoginError::Unreachable(e)) => {
                tracing::warn!(error = %e, "Keystone unavailable during the service login");
                Err(Error::IdentityUnavailable)
            }
        }
    }
}

/// Keystone could not be asked: logged (without any token), answered 503.
fn unavailable(what: &str, e: &reqwest::Error) -> Error {
    // reqwest's errors name the URL, never headers; a TLS failure is named with its cause.
    tracing::warn!(error = %describe(e), "Keystone unavailable during {what}");
    Error::IdentityUnavailable
}
