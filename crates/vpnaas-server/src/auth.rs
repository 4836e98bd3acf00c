//! Who is calling: the noauth identity headers (DECISIONS D8), a noauth token map or a default project, parsed once into a `Caller`.

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use vpnaas_core::Fault;

use crate::api::AppState;
use crate::error::Error;

/// The authenticated caller of a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Caller {
    pub project_id: String,
    pub is_admin: bool,
    /// `If-Match: revision_number=N` (Neutron's convention): the revision a write expects.
    pub if_match: Option<i64>,
}

impl Caller {
    /// Whether the caller may see an object of `project_id` (another project's is a 404).
    pub fn sees(&self, project_id: &str) -> bool {
        self.is_admin || self.project_id == project_id
    }
}

fn header<'a>(parts: &'a Parts, name: &str) -> Option<&'a str> {
    parts.headers.get(name).and_then(|v| v.to_str().ok()).map(str::trim).filter(|v| !v.is_empty())
}

/// `revision_number=N`, the only precondition Neutron understands; other tags are ignored.
fn revision_constraint(value: &str) -> Option<i64> {
    value.trim().strip_prefix("revision_number=")?.trim().parse().ok()
}

fn has_admin<'a>(mut roles: impl Iterator<Item = &'a str>) -> bool {
    roles.any(|r| r.trim().eq_ignore_ascii_case("admin"))
}

impl FromRequestParts<AppState> for Caller {
    type Rejection = Error;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        let if_match = header(parts, "if-match").and_then(revision_constraint);
        // Neutron's noauth headers first, then a configured token, then the default project.
        if let Some(project) = header(parts, "x-project-id").or_else(|| header(parts, "x-tenant-id")) {
            let roles = header(parts, "x-roles").unwrap_or("");
            return Ok(Caller { project_id: project.to_owned(), is_admin: has_admin(roles.split(',')), if_match });
        }
        let noauth = &state.config;
        if let Some(who) = header(parts, "x-auth-token").and_then(|t| noauth.noauth_tokens.get(t)) {
            let is_admin = has_admin(who.roles.iter().map(String::as_str));
            return Ok(Caller { project_id: who.project.clone(), is_admin, if_match });
        }
        match &noauth.noauth_default_project {
            Some(project) => Ok(Caller { project_id: project.clone(), is_admin: false, if_match }),
            None => Err(Fault::NotAuthenticated.into()),
        }
    }
}
