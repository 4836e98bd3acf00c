//! The statements behind in-use checks and inventory views: which rows refer to a row.

use uuid::Uuid;
use vpnaas_core::resources::Subnet;

use super::{ids, tables::select, Conn, StoreResult, Value};
use vpnaas_core::wire;

/// A column that refers to another table's rows (a foreign key the service checks before a
/// delete, to answer the resource's own in-use 409).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reference {
    ConnectionIkePolicy,
    ConnectionIpsecPolicy,
    ConnectionService,
    ConnectionLocalGroup,
    ConnectionPeerGroup,
    ConnectionCertificate,
    ServiceRouter,
    ServiceSubnet,
    SubnetRouter,
}

impl Reference {
    fn table_and_column(self) -> (&'static str, &'static str) {
        match self {
            Reference::ConnectionIkePolicy => ("ipsec_site_connections", wire::IKEPOLICY_ID),
            Reference::ConnectionIpsecPolicy => ("ipsec_site_connections", wire::IPSECPOLICY_ID),
            Reference::ConnectionService => ("ipsec_site_connections", wire::VPNSERVICE_ID),
            Reference::ConnectionLocalGroup => ("ipsec_site_connections", wire::LOCAL_EP_GROUP_ID),
            Reference::ConnectionPeerGroup => ("ipsec_site_connections", wire::PEER_EP_GROUP_ID),
            Reference::ConnectionCertificate => ("ipsec_site_connections", wire::LOCAL_CERTIFICATE_ID),
            Reference::ServiceRouter => ("vpnservices", wire::ROUTER_ID),
            Reference::ServiceSubnet => ("vpnservices", wire::SUBNET_ID),
            Reference::SubnetRouter => ("subnets", wire::ROUTER_ID),
        }
    }
}

impl Reference {
    /// The column of `ipsec_site_connections` this reference is, if it is one.
    pub fn column_of_connections(self) -> Option<&'static str> {
        match self.table_and_column() {
            ("ipsec_site_connections", column) => Some(column),
            _ => None,
        }
    }
}

/// The ids of the rows that refer to `id` through `reference`, in id order.
pub async fn referrers(conn: &mut Conn, reference: Reference, id: Uuid) -> StoreResult<Vec<String>> {
    let (table, column) = reference.table_and_column();
    let sql = format!("SELECT id FROM {table} WHERE {column} = $1 ORDER BY id");
    ids(conn, &sql, &[id.to_string().into()]).await
}

/// The VPN services on `router` that use `subnet` (legacy mode).
pub async fn services_on_router_subnet(conn: &mut Conn, router: Uuid, subnet: Uuid) -> StoreResult<Vec<String>> {
    ids(
        conn,
        "SELECT id FROM vpnservices WHERE router_id = $1 AND subnet_id = $2 ORDER BY id",
        &[router.to_string().into(), subnet.to_string().into()],
    )
    .await
}

/// The connections of services on `router` whose local endpoint group holds `subnet`.
pub async fn connections_with_local_subnet(conn: &mut Conn, router: Uuid, subnet: Uuid) -> StoreResult<Vec<String>> {
    ids(
        conn,
        "SELECT c.id FROM ipsec_site_connections c \
         JOIN vpnservices s ON s.id = c.vpnservice_id \
         JOIN endpoint_group_endpoints e ON e.parent_id = c.local_ep_group_id \
         WHERE s.router_id = $1 AND e.value = $2 ORDER BY c.id",
        &[router.to_string().into(), subnet.to_string().into()],
    )
    .await
}

/// The subnet endpoint groups that hold `subnet`.
pub async fn groups_with_subnet(conn: &mut Conn, subnet: Uuid) -> StoreResult<Vec<String>> {
    ids(
        conn,
        "SELECT g.id FROM endpoint_groups g JOIN endpoint_group_endpoints e ON e.parent_id = g.id \
         WHERE g.endpoint_type = 'subnet' AND e.value = $1 ORDER BY g.id",
        &[subnet.to_string().into()],
    )
    .await
}

/// Subnets attached to a router (router interfaces), of one router and one project if given.
pub async fn attached_subnets(
    conn: &mut Conn,
    router: Option<&str>,
    project: Option<&str>,
) -> StoreResult<Vec<Subnet>> {
    let mut condition = "router_id IS NOT NULL".to_owned();
    let mut values: Vec<Value> = Vec::new();
    if let Some(router) = router {
        values.push(router.into());
        condition.push_str(&format!(" AND router_id = ${}", values.len()));
    }
    if let Some(project) = project {
        values.push(project.into());
        condition.push_str(&format!(" AND project_id = ${}", values.len()));
    }
    select(conn, &condition, &values).await
}

/// The subnets and the routers with a gateway that networks are derived from (ADR 0021), of
/// one project if given, in id order.
pub async fn network_sources(
    conn: &mut Conn,
    project: Option<&str>,
) -> StoreResult<(Vec<Subnet>, Vec<vpnaas_core::resources::Router>)> {
    let (mine, values): (&str, Vec<Value>) = match project {
        Some(p) => ("project_id = $1", vec![p.into()]),
        None => ("1 = 1", Vec::new()),
    };
    let subnets = select(conn, mine, &values).await?;
    let routers = select(conn, &format!("{mine} AND has_gateway <> 0"), &values).await?;
    Ok((subnets, routers))
}
