//! The audit layer (ADR 0043): one CADF event per write request to any API route, whatever its
//! answer, after authentication, as keystonemiddleware's audit filter sits after authtoken in
//! Neutron's pipeline. Unknown paths (404 before routing) and the gateway API are not audited.

use axum::extract::{FromRequestParts, MatchedPath, Request, State};
use axum::http::Method;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use vpnaas_core::resources::{
    Certificate, EndpointGroup, IkePolicy, IpsecPolicy, Router, SiteConnection, Subnet, VpnService,
};

use super::{requester, AppState, Collection, RequestId};
use crate::auth::Caller;

/// The id of what a create made, set on its response for the audit event's target.
#[derive(Debug, Clone)]
pub struct Created(pub String);

/// The route layer: audits POST, PUT and DELETE when the server audits.
pub async fn audited(State(st): State<AppState>, req: Request, next: Next) -> Response {
    let action = match *req.method() {
        Method::POST => "create",
        Method::PUT => "update",
        Method::DELETE => "delete",
        _ => return next.run(req).await,
    };
    if !st.service.audits() {
        return next.run(req).await;
    }
    let (mut parts, body) = req.into_parts();
    // Authenticated once: the handler's extractor takes this caller from the extensions.
    let caller = match Caller::from_request_parts(&mut parts, &st).await {
        Ok(caller) => caller,
        Err(e) => return e.into_response(),
    };
    parts.extensions.insert(caller.clone());
    let request_id = parts.extensions.get::<RequestId>().map(|r| r.0.clone()).unwrap_or_default();
    let path = parts.uri.path().to_owned();
    let route = parts.extensions.get::<MatchedPath>().map(|m| m.as_str().to_owned()).unwrap_or_else(|| path.clone());
    let response = next.run(Request::from_parts(parts, body)).await;
    let aim = aim(&route, &path, action);
    let target = response.extensions().get::<Created>().map(|c| c.0.as_str()).or(aim.id);
    let now = crate::clock::now_micros();
    let a = crate::audit::Audited {
        action: &aim.action,
        resource: aim.resource,
        target,
        status: response.status().as_u16(),
        path: &path,
        project: caller.project_id(),
        user: caller.creds.user_id.as_deref(),
        request_id: &request_id,
        now,
    };
    st.service.audit(&a, &crate::notifications::context(&requester(&caller, &request_id), now)).await;
    response
}

/// What a request acts on, read from its route: the resource, its id, and the action with a
/// sub-action's name (`update/add_router_interface`, as keystonemiddleware names them).
struct Aim<'a> {
    resource: &'static str,
    id: Option<&'a str>,
    action: String,
}

/// The collections' paths and resource names; every other route is named by its segment.
fn resources() -> [(&'static str, &'static str); 10] {
    fn of<T: Collection>() -> (&'static str, &'static str) {
        (T::PATH, T::SINGULAR)
    }
    [
        of::<IkePolicy>(),
        of::<IpsecPolicy>(),
        of::<VpnService>(),
        of::<EndpointGroup>(),
        of::<SiteConnection>(),
        of::<Certificate>(),
        of::<Router>(),
        of::<Subnet>(),
        ("/v2.0/vpn/quotas", "quota"),
        ("/v2.0/quotas", "quota"),
    ]
}

fn aim<'a>(route: &str, path: &'a str, action: &str) -> Aim<'a> {
    let (resource, rest) = resources()
        .into_iter()
        .find_map(|(prefix, name)| route.strip_prefix(prefix).map(|rest| (name, rest)))
        .unwrap_or(("unknown", route));
    // The route's segments after the collection: `{id}` then, perhaps, a sub-action.
    let segments: Vec<&str> = rest.split('/').filter(|s| !s.is_empty()).collect();
    let at = path.split('/').filter(|s| !s.is_empty()).count().saturating_sub(segments.len());
    let id = segments
        .iter()
        .position(|s| s.starts_with('{'))
        .and_then(|i| path.split('/').filter(|s| !s.is_empty()).nth(at + i));
    let action = match segments.iter().rfind(|s| !s.starts_with('{')) {
        Some(sub) if segments.first().is_some_and(|s| s.starts_with('{')) => format!("{action}/{sub}"),
        _ => action.to_owned(),
    };
    Aim { resource, id, action }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_route_names_its_resource_id_and_action() {
        let a = aim("/v2.0/vpn/ikepolicies/{id}", "/v2.0/vpn/ikepolicies/i1", "delete");
        assert_eq!((a.resource, a.id, a.action.as_str()), ("ikepolicy", Some("i1"), "delete"));
        let a = aim("/v2.0/vpn/ikepolicies", "/v2.0/vpn/ikepolicies", "create");
        assert_eq!((a.resource, a.id, a.action.as_str()), ("ikepolicy", None, "create"));
        let a = aim("/v2.0/routers/{id}/add_router_interface", "/v2.0/routers/r1/add_router_interface", "update");
        assert_eq!((a.resource, a.id, a.action.as_str()), ("router", Some("r1"), "update/add_router_interface"));
        let a = aim("/v2.0/vpn/quotas/{project_id}", "/v2.0/vpn/quotas/p9", "update");
        assert_eq!((a.resource, a.id, a.action.as_str()), ("quota", Some("p9"), "update"));
        let a = aim("/v2.0/quotas/{project_id}", "/v2.0/quotas/p9", "delete");
        assert_eq!((a.resource, a.id), ("quota", Some("p9")));
    }
}
