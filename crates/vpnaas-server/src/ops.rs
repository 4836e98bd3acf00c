//! Operating a server (ADR 0015): the readiness checks (database, schema, Keystone) for `/readyz`.

use std::sync::Arc;

use serde::Serialize;

use crate::auth::Auth;
use crate::store::Store;

/// What `/readyz` needs.
pub struct Ops {
    store: Store,
    auth: Arc<Auth>,
}

/// One readiness check: `ok`, or why not in words that name nothing internal.
#[derive(Debug, Clone, Serialize)]
pub struct Check {
    pub name: &'static str,
    pub ok: bool,
    pub detail: String,
}

impl Ops {
    pub fn new(store: Store, auth: Arc<Auth>) -> Ops {
        Ops { store, auth }
    }

    /// The readiness checks, in order: the database answers `SELECT 1`, its schema is the
    /// one this server expects, and (keystone mode) Keystone answers. Causes are logged.
    pub async fn readiness(&self) -> Vec<Check> {
        let mut checks = Vec::with_capacity(3);
        let reached = match self.store.ping().await {
            Ok(()) => true,
            Err(e) => {
                tracing::warn!(error = %e, "readiness: the database cannot be reached");
                false
            }
        };
        checks.push(check("database", reached, "the database cannot be reached"));
        if reached {
            let detail = match self.store.schema_versions().await {
                Ok((at, needed)) if at >= needed => None,
                Ok((at, needed)) => Some(format!("the database schema is at version {at}; this server needs {needed}")),
                Err(e) => {
                    tracing::warn!(error = %e, "readiness: the schema version cannot be read");
                    Some("the schema version cannot be read".to_owned())
                }
            };
            checks.push(Check { name: "migrations", ok: detail.is_none(), detail: detail.unwrap_or_else(ok) });
        } else {
            checks.push(Check { name: "migrations", ok: false, detail: "not checked: no database".to_owned() });
        }
        if let Some(keystone) = self.auth.keystone() {
            checks.push(check("keystone", keystone.reachable().await, "Keystone cannot be reached"));
        }
        checks
    }
}

fn ok() -> String {
    "ok".to_owned()
}

fn check(name: &'static str, passed: bool, why: &str) -> Check {
    Check { name, ok: passed, detail: if passed { ok() } else { why.to_owned() } }
}
