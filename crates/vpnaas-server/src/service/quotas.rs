//! Quotas (ADR 0041): a project's limits in Neutron's quota API, and the check every create
//! makes in its own transaction.

use vpnaas_core::quota::{Counted, Limit, Limits};
use vpnaas_core::Fault;

use super::{Resource, Service};
use crate::auth::Caller;
use crate::error::Result;
use crate::store::{self, WriteTx};

/// Neutron's quota rules (`neutron/conf/policies/quotas.py`): anyone reads their own project's
/// quota, `get_quota` (admins, and a project's managers) reads another's; admins change them.
pub const GET_RULE: &str = "get_quota";
pub const UPDATE_RULE: &str = "update_quota";
pub const DELETE_RULE: &str = "delete_quota";

/// One counted resource of a project: its limit and how many it holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Usage {
    pub what: Counted,
    pub limit: Limit,
    pub used: u64,
}

impl Service {
    /// Refuses (Neutron's 409 `OverQuota`) a create of `T` for `project` that would take the
    /// project past its limit. Called in the create's own transaction, just before its insert:
    /// with the project's quota row locked, concurrent creates count one after another, on
    /// every backend and across replicas, and a refused create writes nothing.
    pub(crate) async fn charge<T: Resource>(&self, w: &mut WriteTx, project: &str) -> Result<()> {
        let Some(what) = T::COUNTED else { return Ok(()) };
        let limit = match store::quotas::of(w.conn(), project, what).await? {
            Some(own) => own,
            None => self.quota_defaults.get(what),
        };
        if limit.is_unlimited() {
            return Ok(());
        }
        store::quotas::lock_project(w, project).await?;
        let used = store::quotas::used(w.conn(), project, what).await?;
        if !limit.allows_one_more(used) {
            return Err(what.over().into());
        }
        Ok(())
    }

    /// The default limits (`quotas.*` in the settings).
    pub fn quota_defaults(&self) -> Limits {
        self.quota_defaults
    }

    /// `project`'s limits: its own where set, the defaults elsewhere.
    pub async fn quota(&self, caller: &Caller, project: &str) -> Result<Limits> {
        may_read(caller, project)?;
        let mut read = self.store.begin_read().await?;
        let limits = self.limits_in(&mut read, project).await?;
        read.commit().await?;
        Ok(limits)
    }

    async fn limits_in(&self, conn: &mut store::Conn, project: &str) -> Result<Limits> {
        let mut limits = self.quota_defaults;
        for (what, limit) in store::quotas::of_project(conn, project).await? {
            limits.set(what, limit);
        }
        Ok(limits)
    }

    /// `project`'s limits with what it holds of each resource.
    pub async fn quota_details(&self, caller: &Caller, project: &str) -> Result<Vec<Usage>> {
        may_read(caller, project)?;
        let mut read = self.store.begin_read().await?;
        let limits = self.limits_in(&mut read, project).await?;
        let mut out = Vec::with_capacity(Counted::ALL.len());
        for what in Counted::ALL {
            let used = store::quotas::used(&mut read, project, what).await?;
            out.push(Usage { what, limit: limits.get(what), used });
        }
        read.commit().await?;
        Ok(out)
    }

    /// The defaults, as `GET /v2.0/quotas/{project}/default` shows them to whoever may read
    /// that project's quota.
    pub fn quota_default_for(&self, caller: &Caller, project: &str) -> Result<Limits> {
        may_read(caller, project)?;
        Ok(self.quota_defaults)
    }

    /// Every project with a limit of its own, with all its limits, as far as the caller may
    /// read them (admins: all; Neutron asks `get_quota` of the caller's own project and then
    /// shows a project manager every project's, which this does not).
    pub async fn quotas(&self, caller: &Caller) -> Result<Vec<(String, Limits)>> {
        caller.authorize(GET_RULE, caller.project_id())?;
        let mut read = self.store.begin_read().await?;
        let rows = store::quotas::all(&mut read).await?;
        read.commit().await?;
        let mut out: Vec<(String, Limits)> = Vec::new();
        for (project, what, limit) in rows.into_iter().filter(|(p, ..)| may_read(caller, p).is_ok()) {
            if out.last().is_none_or(|(p, _)| *p != project) {
                out.push((project, self.quota_defaults));
            }
            if let Some((_, limits)) = out.last_mut() {
                limits.set(what, limit);
            }
        }
        Ok(out)
    }

    /// Sets some of `project`'s limits (admins); answers all of them. A limit below what the
    /// project holds is refused unless `force` (Neutron's rule since 2025.1).
    pub async fn update_quota(
        &self,
        caller: &Caller,
        project: &str,
        changes: &[(Counted, Limit)],
        force: bool,
    ) -> Result<Limits> {
        caller.authorize(UPDATE_RULE, project)?;
        let mut w = self.store.begin_write().await?;
        for (what, limit) in changes {
            if let (false, Some(n)) = (force, limit.finite()) {
                let used = store::quotas::used(w.conn(), project, *what).await?;
                if used > n {
                    return Err(Fault::QuotaBelowUsage { resource: what.key(), limit: limit.wire(), used }.into());
                }
            }
            store::quotas::set(w.conn(), project, *what, *limit).await?;
        }
        let limits = self.limits_in(w.conn(), project).await?;
        w.commit().await?;
        Ok(limits)
    }

    /// Forgets `project`'s own limits: the defaults apply again (admins).
    pub async fn delete_quota(&self, caller: &Caller, project: &str) -> Result<()> {
        caller.authorize(DELETE_RULE, project)?;
        let mut w = self.store.begin_write().await?;
        if store::quotas::clear(w.conn(), project).await? == 0 {
            return Err(Fault::TenantQuotaNotFound(project.to_owned()).into());
        }
        w.commit().await?;
        Ok(())
    }

    /// For the metrics: per counted resource, how many projects hold at least
    /// [`NEAR`] of a finite limit (and below it), and how many are at it or past it (a limit
    /// lowered below what a project holds). No project is named.
    pub async fn quota_pressure(&self) -> Result<Vec<Pressure>> {
        let mut read = self.store.begin_read().await?;
        let own = store::quotas::all(&mut read).await?;
        let mut out = Vec::with_capacity(Counted::ALL.len());
        for what in Counted::ALL {
            let mut p = Pressure { what, near: 0, full: 0 };
            for (project, used) in store::quotas::used_by_project(&mut read, what).await? {
                let limit = own
                    .iter()
                    .find(|(o, w, _)| *o == project && *w == what)
                    .map_or(self.quota_defaults.get(what), |(_, _, l)| *l);
                let Some(n) = limit.finite() else { continue };
                if used >= n {
                    p.full += 1;
                } else if used as f64 >= NEAR * n as f64 {
                    p.near += 1;
                }
            }
            out.push(p);
        }
        read.commit().await?;
        Ok(out)
    }
}

/// Anyone reads their own project's quota; another's takes `get_quota`.
fn may_read(caller: &Caller, project: &str) -> Result<()> {
    if caller.project_id() == project {
        return Ok(());
    }
    caller.authorize(GET_RULE, project)
}

/// The share of a limit from which a project counts as near it.
pub const NEAR: f64 = 0.8;

/// Projects near and at their limit of one counted resource.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Pressure {
    pub what: Counted,
    pub near: u64,
    pub full: u64,
}
