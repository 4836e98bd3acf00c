//! neutron mode at the edge (ADR 0022): the local inventory's paths answer 404 (a proxy in
//! front sends them to Neutron), and the extension list is Neutron's and vpnaas's together.

use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use vpnaas_core::Fault;

use serde_json::Value;

use super::AppState;
use crate::error::{Error, Result};

/// The local inventory's collections: Neutron's own resources in neutron mode.
const INVENTORY: &[&str] = &["/v2.0/routers", "/v2.0/subnets", "/v2.0/ports", "/v2.0/networks"];

fn is_inventory(path: &str) -> bool {
    INVENTORY.iter().any(|p| {
        path.strip_prefix(p).is_some_and(|rest| rest.is_empty() || rest.starts_with('/') || rest.starts_with('.'))
    })
}

/// In neutron mode, a 404 for the inventory's paths, whatever the method.
pub async fn inventory_off(State(st): State<AppState>, req: Request, next: Next) -> Response {
    if !st.service.topology().serves_inventory() && is_inventory(req.uri().path()) {
        return Error::from(Fault::HttpNotFound).into_response();
    }
    next.run(req).await
}

/// The source's extensions (Neutron's, in neutron mode) followed by those of `ours` it does
/// not list; Neutron unreachable is a 503.
pub async fn with_source(st: &AppState, ours: Vec<Value>) -> Result<Vec<Value>> {
    let Some(mut list) = st.service.topology().extensions().await? else {
        return Ok(ours);
    };
    for ext in ours {
        if !list.iter().any(|e| e["alias"] == ext["alias"]) {
            list.push(ext);
        }
    }
    Ok(list)
}

#[cfg(test)]
mod tests {
    use super::is_inventory;

    #[test]
    fn inventory_paths_are_the_collections_and_their_members_only() {
        for p in ["/v2.0/routers", "/v2.0/routers/x/add_router_interface", "/v2.0/subnets.json", "/v2.0/ports"] {
            assert!(is_inventory(p), "{p}");
        }
        for p in ["/v2.0/vpn/vpnservices", "/v2.0/routersx", "/v2.0/extensions", "/v2.0/gateway/hosts/h/state"] {
            assert!(!is_inventory(p), "{p}");
        }
    }
}
