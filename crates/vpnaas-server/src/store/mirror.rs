//! The statements of neutron mode's mirror of Neutron's routers and subnets (ADR 0022): the
//! mirrored rows themselves go through the generic row functions; here are the reads of a
//! router's subnets and the marks left on what a vanished router or interface leaves behind.

use uuid::Uuid;
use vpnaas_core::resources::{Router, Subnet};

use super::{execute, tables::select, Conn, StoreResult, Value};

/// Every mirrored router.
pub async fn routers(conn: &mut Conn) -> StoreResult<Vec<Router>> {
    select(conn, "1 = 1", &[]).await
}

/// The mirrored subnets attached to `router`.
pub async fn subnets_on_router(conn: &mut Conn, router: Uuid) -> StoreResult<Vec<Subnet>> {
    select(conn, "router_id = $1", &[router.to_string().into()]).await
}

/// Detaches every mirrored subnet from `router`.
pub async fn detach_all(conn: &mut Conn, router: Uuid) -> StoreResult<()> {
    execute(conn, "UPDATE subnets SET router_id = NULL WHERE router_id = $1", &[router.to_string().into()]).await?;
    Ok(())
}

/// Shows the VPN services `services` as ERROR and every connection of theirs as ERROR with
/// `reason`; returns how many connections changed.
pub async fn services_lost(conn: &mut Conn, services: &[String], reason: &str) -> StoreResult<u64> {
    let mut n = 0;
    for service in services {
        execute(conn, "UPDATE vpnservices SET status = 'ERROR' WHERE id = $1", &[service.clone().into()]).await?;
        n += execute(
            conn,
            "UPDATE ipsec_site_connections SET status = 'ERROR', status_reason = $1 WHERE vpnservice_id = $2",
            &[Value::OptText(Some(reason.to_owned())), service.clone().into()],
        )
        .await?;
    }
    Ok(n)
}

/// Shows the connections `connections` as ERROR with `reason`.
pub async fn connections_lost(conn: &mut Conn, connections: &[String], reason: &str) -> StoreResult<()> {
    for id in connections {
        execute(
            conn,
            "UPDATE ipsec_site_connections SET status = 'ERROR', status_reason = $1 WHERE id = $2",
            &[Value::OptText(Some(reason.to_owned())), id.clone().into()],
        )
        .await?;
    }
    Ok(())
}
