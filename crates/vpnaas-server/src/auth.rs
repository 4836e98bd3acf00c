//! Who is calling: the noauth identity headers (DECISIONS D8), parsed once into a `Caller`.

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
}

impl Caller {
    /// Whether the caller may see an object of `project_id` (another project's is a 404).
    pub fn sees(&self, project_id: &str) -> bool {
        self.is_admin || self.project_id == project_id
    }
}

fn header<'a>(parts: &'a Parts, name: &str) -> Option<&'a str> {
    parts
        .headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::trim)
        .filter(|v| !v.is_empty())
}

impl FromRequestParts<AppState> for Caller {
    type Rejection = Error;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let project = header(parts, "x-project-id")
            .or_else(|| header(parts, "x-tenant-id"))
            .map(str::to_owned)
            .or_else(|| state.config.noauth_default_project.clone());
        let Some(project_id) = project else {
            return Err(Fault::NotAuthenticated.into());
        };
        let is_admin = header(parts, "x-roles").is_some_and(|roles| {
            roles
                .split(',')
                .any(|r| r.trim().eq_ignore_ascii_case("admin"))
        });
        Ok(Caller {
            project_id,
            is_admin,
        })
    }
}
