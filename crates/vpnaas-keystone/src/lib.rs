//! vpnaas-keystone: a Keystone password login (`POST /v3/auth/tokens`, project scope), and
//! a token that renews itself: what the agent presents to the gateway API in Keystone mode, and what
//! the server presents to Keystone to validate its callers' tokens.

pub mod outgoing;

use std::fmt;
use std::time::{Duration, Instant};

use serde::Deserialize;

/// A Keystone user and the project its tokens are scoped to.
#[derive(Clone, PartialEq, Eq)]
pub struct PasswordAuth {
    /// The identity service, such as `http://keystone:5000` (a trailing `/v3` is allowed).
    pub url: String,
    pub username: String,
    pub password: String,
    pub project_name: String,
    pub user_domain_name: String,
    pub project_domain_name: String,
}

impl fmt::Debug for PasswordAuth {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PasswordAuth")
            .field("url", &self.url)
            .field("username", &self.username)
            .field("password", &"***")
            .field("project_name", &self.project_name)
            .finish_non_exhaustive()
    }
}

/// `url` without a trailing `/` or `/v3`.
pub fn identity_base(url: &str) -> &str {
    let base = url.trim_end_matches('/');
    base.strip_suffix("/v3").unwrap_or(base)
}

/// Why a login failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LoginError {
    /// Keystone could not be asked (refused, timed out, a broken answer).
    Unreachable(String),
    /// Keystone answered with this status (401: wrong user, password or project).
    Refused(u16),
}

impl fmt::Display for LoginError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LoginError::Unreachable(e) => write!(f, "Keystone unreachable: {e}"),
            LoginError::Refused(status) => write!(f, "Keystone refused the login ({status})"),
        }
    }
}

#[derive(Deserialize)]
struct Answer {
    token: AnswerToken,
}

#[derive(Deserialize)]
struct AnswerToken {
    expires_at: String,
}

/// The time left until an RFC 3339 instant such as Keystone's `expires_at`.
pub fn time_left(expires_at: &str) -> Option<Duration> {
    let at = time::OffsetDateTime::parse(expires_at, &time::format_description::well_known::Rfc3339).ok()?;
    Duration::try_from(at - time::OffsetDateTime::now_utc()).ok()
}

/// Logs in; returns the token and how long it is valid.
pub async fn login(http: &reqwest::Client, auth: &PasswordAuth) -> Result<(String, Duration), LoginError> {
    let body = serde_json::json!({"auth": {
        "identity": {"methods": ["password"], "password": {"user": {
            "name": auth.username, "domain": {"name": auth.user_domain_name}, "password": auth.password}}},
        "scope": {"project": {"name": auth.project_name, "domain": {"name": auth.project_domain_name}}}
    }});
    let url = format!("{}/v3/auth/tokens?nocatalog", identity_base(&auth.url));
    // reqwest's errors name the URL, never the body.
    let answer =
        http.post(url).json(&body).send().await.map_err(|e| LoginError::Unreachable(outgoing::describe(&e)))?;
    if answer.status().as_u16() != 201 {
        return Err(LoginError::Refused(answer.status().as_u16()));
    }
    let token = answer
        .headers()
        .get("x-subject-token")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
        .ok_or_else(|| LoginError::Unreachable("no X-Subject-Token in the answer".into()))?;
    let parsed: Answer = answer.json().await.map_err(|e| LoginError::Unreachable(outgoing::describe(&e)))?;
    let life = time_left(&parsed.token.expires_at)
        .ok_or_else(|| LoginError::Unreachable(format!("bad expires_at {:?}", parsed.token.expires_at)))?;
    Ok((token, life))
}

/// A token renewed before it ends: when at most five minutes, or half its life, are left.
pub struct Session {
    auth: PasswordAuth,
    held: tokio::sync::Mutex<Option<(String, Instant)>>,
}

const RENEW_MARGIN: Duration = Duration::from_secs(300);

impl Session {
    pub fn new(auth: PasswordAuth) -> Session {
        Session { auth, held: tokio::sync::Mutex::new(None) }
    }

    pub fn auth(&self) -> &PasswordAuth {
        &self.auth
    }

    /// The token held, or a new one when it is near its end or `renew` says it was refused.
    pub async fn token(&self, http: &reqwest::Client, renew: bool) -> Result<String, LoginError> {
        let mut held = self.held.lock().await;
        if let Some((token, _)) = held.as_ref().filter(|(_, at)| !renew && *at > Instant::now()) {
            return Ok(token.clone());
        }
        let (token, life) = login(http, &self.auth).await?;
        let renew_at = Instant::now() + life.saturating_sub(RENEW_MARGIN.min(life / 2));
        tracing::debug!(user = %self.auth.username, valid_for_secs = life.as_secs(), "Keystone token obtained");
        *held = Some((token.clone(), renew_at));
        Ok(token)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bases_and_expiry() {
        assert_eq!(identity_base("http://k:5000/v3/"), "http://k:5000");
        assert_eq!(identity_base("http://k:5000"), "http://k:5000");
        let soon = time::OffsetDateTime::now_utc() + time::Duration::seconds(90);
        let text = soon.format(&time::format_description::well_known::Rfc3339).unwrap();
        let left = time_left(&text).unwrap();
        assert!(left > Duration::from_secs(85) && left <= Duration::from_secs(90), "{left:?}");
        assert_eq!(time_left("2000-01-01T00:00:00.000000Z"), None);
        let auth = PasswordAuth {
            url: "u".into(),
            username: "a".into(),
            password: "hunter2".into(),
            project_name: "p".into(),
            user_domain_name: "Default".into(),
            project_domain_name: "Default".into(),
        };
        assert!(!format!("{auth:?}").contains("hunter2"));
    }
}
