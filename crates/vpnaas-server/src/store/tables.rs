//! Row shapes: how each resource maps to its table (and its ordered child list), with generic get, select, insert, update and delete; rows back into resources, children included.

use std::collections::HashMap;

use uuid::Uuid;
use vpnaas_core::algorithms::*;
use vpnaas_core::descriptor::{Columns, Fields, Plain, Scalar, Unreadable};
use vpnaas_core::fault::Fault;
use vpnaas_core::listing::Listed;
use vpnaas_core::resources::*;
use vpnaas_core::values::{Cidr, Dpd, Lifetime, StoredKey, StoredPsk};

use super::rows::{Row, RowRead};
use super::{execute, fetch_all, Conn, StoreError, StoreResult, Value};
use vpnaas_core::wire;

/// A resource stored in one table, plus at most one ordered list of texts in a child table.
/// Its filters and sort keys are the resource's [`Listed::FILTERS`].
pub trait Table: Listed + Sized {
    const TABLE: &'static str;
    /// The child table (`parent_id`, `position`, `value`), if the resource has a list attribute.
    const CHILD: Option<&'static str> = None;
    fn meta(&self) -> &Meta;
    fn id(&self) -> Uuid {
        self.meta().id
    }
    /// Every column with its value, `id` first.
    fn to_row(&self) -> StoreResult<Vec<(&'static str, Value)>>;
    fn children(&self) -> Vec<String> {
        Vec::new()
    }
    /// The resource from its row; children come after, through [`Table::set_children`].
    fn from_row(row: &impl RowRead) -> StoreResult<Self>;
    /// Takes the child list read for this row (only called when [`Table::CHILD`] is set).
    fn set_children(&mut self, _children: Vec<String>) -> StoreResult<()> {
        Ok(())
    }
}

pub async fn get<T: Table>(conn: &mut Conn, id: Uuid) -> StoreResult<Option<T>> {
    get_with::<T>(conn, id, "").await
}

/// Reads a row and locks it until the transaction ends (see [`super::WriteTx::lock_clause`]).
pub async fn get_locked<T: Table>(w: &mut super::WriteTx, id: Uuid) -> StoreResult<Option<T>> {
    let lock = w.lock_clause();
    get_with::<T>(w.conn(), id, lock).await
}

async fn get_with<T: Table>(conn: &mut Conn, id: Uuid, suffix: &str) -> StoreResult<Option<T>> {
    let sql = format!("SELECT * FROM {} WHERE id = $1{suffix}", T::TABLE);
    let rows = fetch_all(conn, &sql, &[id.to_string().into()]).await?;
    Ok(from_rows::<T>(conn, &rows).await?.pop())
}

pub async fn insert<T: Table>(conn: &mut Conn, item: &T) -> StoreResult<()> {
    let row = item.to_row()?;
    let names: Vec<&str> = row.iter().map(|(n, _)| *n).collect();
    let values: Vec<Value> = row.into_iter().map(|(_, v)| v).collect();
    let sql = format!("INSERT INTO {} ({}) VALUES ({})", T::TABLE, names.join(", "), super::marks(values.len(), 1));
    execute(conn, &sql, &values).await?;
    insert_children(conn, item).await
}

/// Writes every column of `item` over its row, as the successor of the revision it was read
/// at (`revision_number - 1`, [`Meta::touch`]): a compare-and-set, so that an update never
/// overwrites one it did not see, whatever locks the database keeps or does not keep across
/// its nodes (ADR 0031). Returns false when the row is gone, and [`StoreError::Retry`] when
/// another writer changed it since it was read.
pub async fn update<T: Table>(conn: &mut Conn, item: &T) -> StoreResult<bool> {
    let row = item.to_row()?;
    let mut sets = Vec::with_capacity(row.len());
    let mut values = Vec::with_capacity(row.len() + 2);
    for (name, value) in row.into_iter().skip(1) {
        values.push(value);
        sets.push(format!("{name} = ${}", values.len()));
    }
    values.push(item.id().to_string().into());
    values.push((item.meta().revision_number - 1).into());
    let sql = format!(
        "UPDATE {} SET {} WHERE id = ${} AND revision_number = ${}",
        T::TABLE,
        sets.join(", "),
        values.len() - 1,
        values.len()
    );
    if execute(conn, &sql, &values).await? == 0 {
        let sql = format!("SELECT id FROM {} WHERE id = $1", T::TABLE);
        return match fetch_all(conn, &sql, &[item.id().to_string().into()]).await?.is_empty() {
            true => Ok(false),
            false => Err(StoreError::Retry(format!("{} {} changed since it was read", T::TABLE, item.id()))),
        };
    }
    if let Some(child) = T::CHILD {
        execute(conn, &format!("DELETE FROM {child} WHERE parent_id = $1"), &[item.id().to_string().into()]).await?;
        insert_children(conn, item).await?;
    }
    Ok(true)
}

pub async fn delete<T: Table>(conn: &mut Conn, id: Uuid) -> StoreResult<bool> {
    if let Some(child) = T::CHILD {
        execute(conn, &format!("DELETE FROM {child} WHERE parent_id = $1"), &[id.to_string().into()]).await?;
    }
    let n = execute(conn, &format!("DELETE FROM {} WHERE id = $1", T::TABLE), &[id.to_string().into()]).await?;
    Ok(n > 0)
}

async fn insert_children<T: Table>(conn: &mut Conn, item: &T) -> StoreResult<()> {
    let Some(child) = T::CHILD else { return Ok(()) };
    let sql = format!("INSERT INTO {child} (parent_id, position, value) VALUES ($1, $2, $3)");
    for (i, value) in item.children().into_iter().enumerate() {
        let position = i64::try_from(i).map_err(|e| StoreError::Corrupt(e.to_string()))?;
        execute(conn, &sql, &[item.id().to_string().into(), position.into(), value.into()]).await?;
    }
    Ok(())
}

// ------------------------------------------------------------------ helpers

fn corrupt(what: impl std::fmt::Display) -> StoreError {
    StoreError::Corrupt(what.to_string())
}

fn text(row: &impl RowRead, col: &str) -> StoreResult<String> {
    row.text(col)
}
fn opt_text(row: &impl RowRead, col: &str) -> StoreResult<Option<String>> {
    row.opt_text(col)
}
fn int(row: &impl RowRead, col: &str) -> StoreResult<i64> {
    row.int(col)
}
fn boolean(row: &impl RowRead, col: &str) -> StoreResult<bool> {
    Ok(int(row, col)? != 0)
}
fn uuid(row: &impl RowRead, col: &str) -> StoreResult<Uuid> {
    Uuid::parse_str(&text(row, col)?).map_err(corrupt)
}
fn opt_uuid(row: &impl RowRead, col: &str) -> StoreResult<Option<Uuid>> {
    opt_text(row, col)?.map(|s| Uuid::parse_str(&s).map_err(corrupt)).transpose()
}
fn parsed<T>(row: &impl RowRead, col: &str, parse: fn(&str, &str) -> Result<T, Fault>) -> StoreResult<T> {
    parse(col, &text(row, col)?).map_err(corrupt)
}
fn opt_parsed<T: std::str::FromStr>(row: &impl RowRead, col: &str) -> StoreResult<Option<T>> {
    opt_text(row, col)?.map(|s| s.parse::<T>().map_err(|_| corrupt(format!("bad {col}")))).transpose()
}
/// A counter: `u64` in the contract, `BIGINT` in the database, by the descriptors' rule
/// (saturating at its maximum).
pub(super) fn count(n: u64) -> Value {
    value_of(n.scalar())
}
fn opt_string<T: ToString>(v: &Option<T>) -> Value {
    Value::OptText(v.as_ref().map(ToString::to_string))
}

/// A row as the descriptors read it ([`Fields`]).
struct Cols<'r, R>(&'r R);

impl<R: RowRead> Columns for Cols<'_, R> {
    fn text(&self, column: &'static str) -> Result<String, Unreadable> {
        self.0.text(column).map_err(|e| Unreadable::new(column, e))
    }
    fn opt_text(&self, column: &'static str) -> Result<Option<String>, Unreadable> {
        self.0.opt_text(column).map_err(|e| Unreadable::new(column, e))
    }
    fn int(&self, column: &'static str) -> Result<i64, Unreadable> {
        self.0.int(column).map_err(|e| Unreadable::new(column, e))
    }
}

/// A resource's own part from its row: every field ([`Fields`]) read into a blank; the
/// caller sets what is not plain.
fn spec_from<S: Fields>(row: &impl RowRead) -> StoreResult<S> {
    let mut spec = S::default();
    spec.read_fields(&Cols(row)).map_err(corrupt)?;
    Ok(spec)
}

/// A resource's plain columns, attributes then kept values, in the descriptor's order.
fn field_columns<S: Fields>(spec: &S) -> Vec<(&'static str, Value)> {
    S::FIELDS.iter().chain(S::KEPT).map(|f| (f.column, value_of((f.get)(spec)))).collect()
}

/// A plain value as its column holds it.
fn value_of(scalar: Scalar<'_>) -> Value {
    match scalar {
        Scalar::Str(text) => Value::Text(text.to_owned()),
        Scalar::Shown(value) => Value::Text(value.to_string()),
        Scalar::OptShown(value) => Value::OptText(value.map(ToString::to_string)),
        Scalar::Int(n) => Value::Int(n),
        Scalar::Bool(b) => b.into(),
    }
}

fn meta_from(row: &impl RowRead) -> StoreResult<Meta> {
    Ok(Meta {
        id: uuid(row, wire::ID)?,
        project_id: text(row, wire::PROJECT_ID)?,
        name: text(row, wire::NAME)?,
        description: text(row, wire::DESCRIPTION)?,
        created_at: int(row, wire::CREATED_AT)?,
        updated_at: int(row, wire::UPDATED_AT)?,
        revision_number: int(row, wire::REVISION_NUMBER)?,
    })
}

/// The common columns, `id` first, then the resource's own and the bookkeeping at the end.
fn row_of(meta: &Meta, own: Vec<(&'static str, Value)>) -> StoreResult<Vec<(&'static str, Value)>> {
    let mut row = vec![
        (wire::ID, meta.id.to_string().into()),
        (wire::PROJECT_ID, meta.project_id.clone().into()),
        (wire::NAME, meta.name.clone().into()),
        (wire::DESCRIPTION, meta.description.clone().into()),
    ];
    row.extend(own);
    row.push((wire::CREATED_AT, meta.created_at.into()));
    row.push((wire::UPDATED_AT, meta.updated_at.into()));
    row.push((wire::REVISION_NUMBER, meta.revision_number.into()));
    Ok(row)
}

fn lifetime_from(row: &impl RowRead) -> StoreResult<Lifetime> {
    Ok(Lifetime { units: parsed(row, "lifetime_units", LifetimeUnits::parse)?, value: int(row, "lifetime_value")? })
}

// ------------------------------------------------------------------ tables

/// A policy's columns: one per choice, named as it is (`Choices::CHOICES`, ADR 0036), and
/// the lifetime's two.
fn policy_row<S: PolicySpec>(policy: &Stored<S>) -> StoreResult<Vec<(&'static str, Value)>> {
    let s = &policy.spec;
    let mut own: Vec<(&'static str, Value)> = S::CHOICES.iter().map(|c| (c.name, (c.get)(s).into())).collect();
    own.push(("lifetime_units", s.lifetime().units.as_str().into()));
    own.push(("lifetime_value", s.lifetime().value.into()));
    row_of(&policy.meta, own)
}

fn policy_from<S: PolicySpec>(row: &impl RowRead) -> StoreResult<Stored<S>> {
    let mut spec = S::default();
    for choice in S::CHOICES {
        (choice.set)(&mut spec, &text(row, choice.name)?).map_err(corrupt)?;
    }
    *spec.lifetime_mut() = lifetime_from(row)?;
    Ok(Stored { meta: meta_from(row)?, spec })
}

impl Table for IkePolicy {
    const TABLE: &'static str = "ikepolicies";
    fn meta(&self) -> &Meta {
        &self.meta
    }
    fn to_row(&self) -> StoreResult<Vec<(&'static str, Value)>> {
        policy_row(self)
    }
    fn from_row(row: &impl RowRead) -> StoreResult<Self> {
        policy_from(row)
    }
}

impl Table for IpsecPolicy {
    const TABLE: &'static str = "ipsecpolicies";
    fn meta(&self) -> &Meta {
        &self.meta
    }
    fn to_row(&self) -> StoreResult<Vec<(&'static str, Value)>> {
        policy_row(self)
    }
    fn from_row(row: &impl RowRead) -> StoreResult<Self> {
        policy_from(row)
    }
}

impl Table for VpnService {
    const TABLE: &'static str = "vpnservices";
    fn meta(&self) -> &Meta {
        &self.meta
    }
    fn to_row(&self) -> StoreResult<Vec<(&'static str, Value)>> {
        row_of(&self.meta, field_columns(&self.spec))
    }
    fn from_row(row: &impl RowRead) -> StoreResult<Self> {
        Ok(Stored { meta: meta_from(row)?, spec: spec_from(row)? })
    }
}

impl Table for EndpointGroup {
    const TABLE: &'static str = "endpoint_groups";
    const CHILD: Option<&'static str> = Some("endpoint_group_endpoints");
    fn meta(&self) -> &Meta {
        &self.meta
    }
    fn to_row(&self) -> StoreResult<Vec<(&'static str, Value)>> {
        row_of(&self.meta, field_columns(&self.spec))
    }
    fn children(&self) -> Vec<String> {
        self.spec.endpoints.clone()
    }
    fn from_row(row: &impl RowRead) -> StoreResult<Self> {
        Ok(Stored { meta: meta_from(row)?, spec: spec_from(row)? })
    }
    fn set_children(&mut self, children: Vec<String>) -> StoreResult<()> {
        self.spec.endpoints = children;
        Ok(())
    }
}

/// The `psk` column: only ever a sealed value (`secrets.rs`); the service seals first.
fn sealed(psk: &StoredPsk) -> StoreResult<String> {
    match psk {
        StoredPsk::Sealed(text) => Ok(text.clone()),
        StoredPsk::Clear(_) => Err(corrupt("a pre-shared key reached the database unsealed")),
    }
}

/// A row's `psk`: sealed, or in clear in a row written before keys were sealed (the
/// server seals those at startup).
fn stored_psk(text: String) -> StoreResult<StoredPsk> {
    StoredPsk::from_column(text).map_err(corrupt)
}

/// A connection's authentication from its row: `auth_mode`, then the `psk` or the
/// certificate columns.
fn auth_from(row: &impl RowRead) -> StoreResult<ConnectionAuth> {
    match text(row, wire::AUTH_MODE)?.as_str() {
        "certs" => Ok(ConnectionAuth::Certs(CertAuth {
            local_certificate_id: opt_uuid(row, wire::LOCAL_CERTIFICATE_ID)?
                .ok_or_else(|| corrupt("a certs connection without local_certificate_id"))?,
            peer_ca: opt_text(row, wire::PEER_CA)?.ok_or_else(|| corrupt("a certs connection without peer_ca"))?,
        })),
        _ => Ok(ConnectionAuth::Psk(stored_psk(text(row, wire::PSK)?)?)),
    }
}

impl Table for SiteConnection {
    const TABLE: &'static str = "ipsec_site_connections";
    const CHILD: Option<&'static str> = Some("ipsec_peer_cidrs");
    fn meta(&self) -> &Meta {
        &self.meta
    }
    /// The plain columns ([`Fields`]) and, by hand, what is not plain.
    fn to_row(&self) -> StoreResult<Vec<(&'static str, Value)>> {
        let s = &self.spec;
        let mut own = field_columns(s);
        own.extend([
            (wire::ROUTE_MODE, "static".into()),
            (wire::AUTH_MODE, s.auth.mode().as_str().into()),
            // A certificate connection has no key: ''.
            (wire::PSK, s.auth.psk().map(sealed).transpose()?.unwrap_or_default().into()),
            (wire::LOCAL_CERTIFICATE_ID, opt_string(&s.auth.certs().map(|c| c.local_certificate_id))),
            (wire::PEER_CA, Value::OptText(s.auth.certs().map(|c| c.peer_ca.clone()))),
            ("dpd_action", s.dpd.action.as_str().into()),
            ("dpd_interval", s.dpd.interval.into()),
            ("dpd_timeout", s.dpd.timeout.into()),
        ]);
        row_of(&self.meta, own)
    }
    fn children(&self) -> Vec<String> {
        self.spec.peer_cidrs.iter().map(ToString::to_string).collect()
    }
    fn set_children(&mut self, children: Vec<String>) -> StoreResult<()> {
        self.spec.peer_cidrs =
            children.iter().map(|c| Cidr::parse(c).map_err(|_| corrupt("bad peer cidr"))).collect::<Result<_, _>>()?;
        Ok(())
    }
    fn from_row(row: &impl RowRead) -> StoreResult<Self> {
        let mut spec: ConnectionSpec = spec_from(row)?;
        spec.auth = auth_from(row)?;
        spec.dpd = Dpd {
            action: parsed(row, "dpd_action", DpdAction::parse)?,
            interval: int(row, "dpd_interval")?,
            timeout: int(row, "dpd_timeout")?,
        };
        Ok(Stored { meta: meta_from(row)?, spec })
    }
}

impl Table for Router {
    const TABLE: &'static str = "routers";
    fn meta(&self) -> &Meta {
        &self.meta
    }
    fn to_row(&self) -> StoreResult<Vec<(&'static str, Value)>> {
        let gw = self.spec.gateway.as_ref();
        row_of(
            &self.meta,
            vec![
                (wire::ADMIN_STATE_UP, self.spec.admin_state_up.into()),
                ("has_gateway", gw.is_some().into()),
                ("gw_network_id", opt_string(&gw.and_then(|g| g.network_id))),
                ("gw_v4_ip", opt_string(&gw.and_then(|g| g.v4))),
                ("gw_v6_ip", opt_string(&gw.and_then(|g| g.v6))),
                ("host", Value::OptText(self.spec.host.clone())),
                ("gw_v4_subnet_id", opt_string(&gw.and_then(|g| g.v4_subnet))),
                ("gw_v6_subnet_id", opt_string(&gw.and_then(|g| g.v6_subnet))),
            ],
        )
    }
    fn from_row(row: &impl RowRead) -> StoreResult<Self> {
        let gateway = if boolean(row, "has_gateway")? {
            Some(Gateway {
                network_id: opt_uuid(row, "gw_network_id")?,
                v4: opt_parsed(row, "gw_v4_ip")?,
                v6: opt_parsed(row, "gw_v6_ip")?,
                v4_subnet: opt_uuid(row, "gw_v4_subnet_id")?,
                v6_subnet: opt_uuid(row, "gw_v6_subnet_id")?,
            })
        } else {
            None
        };
        Ok(Stored {
            meta: meta_from(row)?,
            spec: RouterSpec {
                admin_state_up: boolean(row, wire::ADMIN_STATE_UP)?,
                gateway,
                host: opt_text(row, "host")?,
            },
        })
    }
}

impl Table for Subnet {
    const TABLE: &'static str = "subnets";
    fn meta(&self) -> &Meta {
        &self.meta
    }
    fn to_row(&self) -> StoreResult<Vec<(&'static str, Value)>> {
        let s = &self.spec;
        row_of(
            &self.meta,
            vec![
                (wire::CIDR, s.cidr.to_string().into()),
                (wire::IP_VERSION, i64::from(s.cidr.version().number()).into()),
                (wire::NETWORK_ID, opt_string(&s.network_id)),
                (wire::ROUTER_ID, opt_string(&s.router_id)),
            ],
        )
    }
    fn from_row(row: &impl RowRead) -> StoreResult<Self> {
        Ok(Stored {
            meta: meta_from(row)?,
            spec: SubnetSpec {
                cidr: Cidr::parse(&text(row, wire::CIDR)?).map_err(|_| corrupt("bad cidr"))?,
                network_id: opt_uuid(row, wire::NETWORK_ID)?,
                router_id: opt_uuid(row, wire::ROUTER_ID)?,
            },
        })
    }
}

impl Table for Certificate {
    const TABLE: &'static str = "certificates";
    fn meta(&self) -> &Meta {
        &self.meta
    }
    fn to_row(&self) -> StoreResult<Vec<(&'static str, Value)>> {
        let s = &self.spec;
        let key = match &s.private_key {
            StoredKey::Sealed(text) => text.clone(),
            StoredKey::Clear(_) => return Err(corrupt("a private key reached the database unsealed")),
        };
        let mut own = field_columns(s);
        own.extend([
            (wire::PRIVATE_KEY, key.into()),
            (wire::NOT_BEFORE, s.not_before.into()),
            (wire::NOT_AFTER, s.not_after.into()),
        ]);
        row_of(&self.meta, own)
    }
    fn from_row(row: &impl RowRead) -> StoreResult<Self> {
        let mut spec: CertSpec = spec_from(row)?;
        spec.private_key = StoredKey::Sealed(text(row, wire::PRIVATE_KEY)?);
        spec.not_before = int(row, wire::NOT_BEFORE)?;
        spec.not_after = int(row, wire::NOT_AFTER)?;
        Ok(Stored { meta: meta_from(row)?, spec })
    }
}

/// The statement loading the children of `n` parents, in order.
pub(super) fn children_sql(child: &str, n: usize) -> String {
    format!(
        "SELECT parent_id, value FROM {child} WHERE parent_id IN ({}) ORDER BY parent_id, position",
        super::marks(n, 1)
    )
}

/// How many parents one children statement names: under every engine's parameter limit.
pub(super) const CHILDREN_CHUNK: usize = 500;

/// Gives each item its children (`parent id → values in order`).
pub(super) fn adopt<T: Table>(items: &mut [T], mut children: HashMap<String, Vec<String>>) -> StoreResult<()> {
    if T::CHILD.is_none() {
        return Ok(());
    }
    for item in items {
        item.set_children(children.remove(&item.id().to_string()).unwrap_or_default())?;
    }
    Ok(())
}

/// Rows of `T` that satisfy a fixed condition (written by this crate, never by a caller).
pub async fn select<T: Table>(conn: &mut Conn, condition: &str, values: &[Value]) -> StoreResult<Vec<T>> {
    let sql = format!("SELECT * FROM {} WHERE {condition} ORDER BY id", T::TABLE);
    let rows = fetch_all(conn, &sql, values).await?;
    from_rows::<T>(conn, &rows).await
}

/// Builds resources from rows, loading every row's children with one query per chunk.
pub(super) async fn from_rows<T: Table>(conn: &mut Conn, rows: &[Row]) -> StoreResult<Vec<T>> {
    let mut items: Vec<T> = rows.iter().map(T::from_row).collect::<StoreResult<_>>()?;
    if let Some(child) = T::CHILD {
        let ids: Vec<String> = items.iter().map(|i| i.id().to_string()).collect();
        let mut children: HashMap<String, Vec<String>> = HashMap::new();
        for chunk in ids.chunks(CHILDREN_CHUNK) {
            let values: Vec<Value> = chunk.iter().map(|s| s.as_str().into()).collect();
            for row in fetch_all(conn, &children_sql(child, chunk.len()), &values).await? {
                let parent = row.get::<String>(0)?;
                children.entry(parent).or_default().push(row.get::<String>(1)?);
            }
        }
        adopt(&mut items, children)?;
    }
    Ok(items)
}
