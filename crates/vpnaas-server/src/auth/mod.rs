//! Who is calling and what they may do: one of three authentication modes turns a request
//! into `Credentials`, and the policy rules (`policy.rs`) decide on them.
//!
//! - `noauth` (the default, ADR 0001 D8): Neutron's identity headers, a noauth token map or
//!   a default project. For loopback and trusted proxies only.
//! - `static`: a file of tokens with their project and roles (`static_tokens.rs`).
//! - `keystone`: `X-Auth-Token` validated by Keystone (`keystone.rs`); identity headers a
//!   client sends are ignored.

pub mod keystone;
pub mod policy;
pub mod static_tokens;

use std::sync::Arc;

use axum::http::HeaderMap;
use vpnaas_core::Fault;

use crate::config::{AuthStrategy, Config, NoauthTokens};
use crate::error::Result;
use keystone::{Keystone, KeystoneSetupError};
pub use policy::{Credentials, Policy, PolicyFileError, Reach, Target};
use static_tokens::{StaticTokens, TokenFileError};

/// The authentication mode in force and the policy rules.
pub struct Auth {
    mode: Mode,
    pub policy: Arc<Policy>,
}

enum Mode {
    Noauth { tokens: NoauthTokens, default_project: Option<String> },
    Static(StaticTokens),
    Keystone(Box<Keystone>),
}

/// Why the configured authentication cannot start.
#[derive(Debug)]
pub enum AuthSetupError {
    Policy(PolicyFileError),
    NoStaticTokensFile,
    StaticTokens(TokenFileError),
    Keystone(KeystoneSetupError),
}

impl std::fmt::Display for AuthSetupError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            AuthSetupError::Policy(e) => e.fmt(f),
            AuthSetupError::NoStaticTokensFile => {
                f.write_str("auth_strategy = \"static\" needs static_tokens_file (VPNAAS_STATIC_TOKENS_FILE)")
            }
            AuthSetupError::StaticTokens(e) => e.fmt(f),
            AuthSetupError::Keystone(e) => e.fmt(f),
        }
    }
}

impl std::error::Error for AuthSetupError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        // Each wrapped error says its own message: the source is its cause.
        match self {
            AuthSetupError::Policy(e) => e.source(),
            AuthSetupError::NoStaticTokensFile => None,
            AuthSetupError::StaticTokens(e) => e.source(),
            AuthSetupError::Keystone(e) => e.source(),
        }
    }
}

impl Auth {
    /// Builds the configured mode (reading the token and policy files once, so a mistake in
    /// them stops the server at startup).
    pub fn from_config(config: &Config) -> std::result::Result<Auth, AuthSetupError> {
        let policy = match &config.policy_file {
            Some(path) => Policy::from_file(path).map_err(AuthSetupError::Policy)?,
            None => Policy::defaults(),
        };
        let mode = match config.auth_strategy {
            AuthStrategy::Noauth => Mode::Noauth {
                tokens: config.noauth_tokens.clone(),
                default_project: config.noauth_default_project.clone(),
            },
            AuthStrategy::Static => {
                let path = config.static_tokens_file.as_ref().ok_or(AuthSetupError::NoStaticTokensFile)?;
                Mode::Static(StaticTokens::open(path).map_err(AuthSetupError::StaticTokens)?)
            }
            AuthStrategy::Keystone => {
                Mode::Keystone(Box::new(Keystone::new(&config.keystone).map_err(AuthSetupError::Keystone)?))
            }
        };
        Ok(Auth { mode, policy: Arc::new(policy) })
    }

    pub fn strategy(&self) -> &'static str {
        match self.mode {
            Mode::Noauth { .. } => "noauth",
            Mode::Static(_) => "static",
            Mode::Keystone(_) => "keystone",
        }
    }

    /// Keystone, in keystone mode (for the readiness probe and the metrics).
    pub fn keystone(&self) -> Option<&Keystone> {
        match &self.mode {
            Mode::Keystone(keystone) => Some(keystone),
            _ => None,
        }
    }

    /// The credentials a request's headers carry in the configured mode.
    pub async fn identify(&self, headers: &HeaderMap) -> Result<Credentials> {
        match &self.mode {
            Mode::Noauth { tokens, default_project } => noauth(headers, tokens, default_project.as_deref()),
            Mode::Static(tokens) => {
                let token = header(headers, "x-auth-token").ok_or(Fault::NotAuthenticated)?;
                tokens.lookup(token).ok_or_else(|| Fault::NotAuthenticated.into())
            }
            Mode::Keystone(keystone) => {
                let Some(token) = header(headers, "x-auth-token") else {
                    return Err(keystone.refusal());
                };
                keystone.validate(token).await
            }
        }
    }
}

/// The authenticated caller of a request, with the rules that decide for it.
#[derive(Debug, Clone)]
pub struct Caller {
    pub creds: Credentials,
    policy: Arc<Policy>,
    /// Whether `context_is_admin` holds: admins see the fields only admins see.
    pub is_admin: bool,
    /// `If-Match: revision_number=N` (Neutron's convention): the revision a write expects.
    pub if_match: Option<i64>,
    /// What the write this caller makes will publish, when notifications are on (ADR 0043).
    notes: Option<Arc<crate::notifications::Notes>>,
}

impl Caller {
    pub fn new(creds: Credentials, policy: Arc<Policy>, if_match: Option<i64>) -> Caller {
        let is_admin = policy.allows("context_is_admin", &creds, Target { project_id: &creds.project_id });
        Caller { creds, policy, is_admin, if_match, notes: None }
    }

    /// The same caller, whose write publishes `notes` (ADR 0043).
    pub fn noting(&self, notes: crate::notifications::Notes) -> Caller {
        Caller { notes: Some(Arc::new(notes)), ..self.clone() }
    }

    /// What this caller's write publishes, if anything.
    pub fn notes(&self) -> Option<&crate::notifications::Notes> {
        self.notes.as_deref()
    }

    pub fn project_id(&self) -> &str {
        &self.creds.project_id
    }

    /// Whether `rule` allows the caller on an object of `project_id`.
    pub fn may(&self, rule: &str, project_id: &str) -> bool {
        self.policy.allows(rule, &self.creds, Target { project_id })
    }

    /// `may`, as the 403 of a refusal.
    pub fn authorize(&self, rule: &'static str, project_id: &str) -> Result<()> {
        if self.may(rule, project_id) {
            Ok(())
        } else {
            Err(Fault::PolicyNotAuthorized(rule).into())
        }
    }

    /// How far the `get_*` rule `rule` lets the caller read, for lists.
    pub fn reach(&self, rule: &str) -> Reach {
        self.policy.reach(rule, &self.creds)
    }
}

pub fn header<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers.get(name).and_then(|v| v.to_str().ok()).map(str::trim).filter(|v| !v.is_empty())
}

/// `revision_number=N`, the only precondition Neutron understands; other tags are ignored.
pub fn revision_constraint(value: &str) -> Option<i64> {
    value.trim().strip_prefix("revision_number=")?.trim().parse().ok()
}

fn split_roles(roles: &str) -> impl Iterator<Item = String> + '_ {
    roles.split(',').map(|r| r.trim().to_owned())
}

/// noauth: Neutron's headers first, then a configured token, then the default project. A
/// caller that names no roles is a member of the project it names.
fn noauth(headers: &HeaderMap, tokens: &NoauthTokens, default_project: Option<&str>) -> Result<Credentials> {
    let user = header(headers, "x-user-id").map(str::to_owned);
    let with_default_role = |roles: Vec<String>| {
        if roles.iter().all(|r| r.is_empty()) {
            vec!["member".to_owned()]
        } else {
            roles
        }
    };
    if let Some(project) = header(headers, "x-project-id").or_else(|| header(headers, "x-tenant-id")) {
        let roles = with_default_role(split_roles(header(headers, "x-roles").unwrap_or("")).collect());
        return Ok(Credentials::new(project, user, roles).with_implied_roles());
    }
    if let Some(who) = header(headers, "x-auth-token").and_then(|t| tokens.get(t)) {
        let roles = with_default_role(who.roles.clone());
        return Ok(Credentials::new(who.project.clone(), user, roles).with_implied_roles());
    }
    match default_project {
        Some(project) => Ok(Credentials::new(project.to_owned(), user, ["member".to_owned()]).with_implied_roles()),
        None => Err(Fault::NotAuthenticated.into()),
    }
}
