//! Pure diff of what should run against what charon has loaded: the loads, unloads and initiations that converge them.

use std::collections::{BTreeMap, BTreeSet};

use uuid::Uuid;

use vpnaas_strongswan::render::Fingerprint;

/// A connection that should run (enabled, the active member of its pair, renderable and
/// within this charon's abilities), with the print of its rendering.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Want {
    pub id: Uuid,
    pub fingerprint: Fingerprint,
    /// The print without credentials (`Rendered::shape`).
    pub shape: Fingerprint,
    /// Bi-directional: the gateway brings the tunnel up itself.
    pub initiates: bool,
}

/// The state of a connection's tunnel in charon (all IKE_SAs of its name together).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Tunnel {
    /// No IKE_SA at all.
    None,
    /// An IKE_SA or CHILD_SA on its way up, being rekeyed or deleted: wait for it.
    Busy,
    /// The IKE_SA is up but carries no CHILD_SA (one was deleted or refused).
    NoChild,
    /// A CHILD_SA is installed.
    Installed,
}

/// What charon has, as far as reconciling needs to know.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Seen {
    /// Connections loaded in charon (by id) and the print we loaded them with, when this
    /// agent loaded them (not when a previous agent process did, or charon restarted).
    pub loaded: BTreeMap<Uuid, Option<Fingerprint>>,
    /// The shape each of those was loaded with, when this agent loaded it.
    pub shapes: BTreeMap<Uuid, Fingerprint>,
    /// Shared secrets loaded under a connection id.
    pub secrets: BTreeSet<Uuid>,
    pub tunnels: BTreeMap<Uuid, Tunnel>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Action {
    /// Terminate its SAs, unload the connection and its secret.
    Unload(Uuid),
    /// A secret without a connection (left over from a refused load or a crash).
    UnloadSecret(Uuid),
    /// Load the secret, then the connection (new, changed, or loaded by someone else).
    Load(Uuid),
    /// Only the credentials changed (a certificate rotation): load them and replace the
    /// connection in charon, keeping its SAs; the new credentials authenticate the next
    /// IKE_SA, which the agent brings up before it retires the old one.
    Refresh(Uuid),
    Initiate(Uuid),
}

/// The actions, unloads first (a changed connection frees its traffic selectors before
/// its new rendering claims them), then loads, then initiations, each in id order.
/// An unchanged connection with a tunnel gets no action: it is never torn down or re-keyed;
/// one whose credentials alone changed is refreshed in place.
pub fn reconcile(wants: &[Want], seen: &Seen) -> Vec<Action> {
    let wanted: BTreeMap<Uuid, &Want> = wants.iter().map(|w| (w.id, w)).collect();
    let mut unloads = Vec::new();
    let mut loads = Vec::new();
    let mut initiates = Vec::new();
    for (id, want) in &wanted {
        match seen.loaded.get(id) {
            None => loads.push(Action::Load(*id)),
            // Loaded by a previous agent process, or before charon's state was known: load
            // again. charon keeps the SAs of a config that is loaded unchanged.
            Some(None) => loads.push(Action::Load(*id)),
            Some(Some(print)) if *print != want.fingerprint => {
                if seen.shapes.get(id) == Some(&want.shape) {
                    loads.push(Action::Refresh(*id));
                } else {
                    unloads.push(Action::Unload(*id));
                    loads.push(Action::Load(*id));
                }
            }
            Some(Some(_)) => {
                let tunnel = seen.tunnels.get(id).copied().unwrap_or(Tunnel::None);
                if want.initiates && matches!(tunnel, Tunnel::None | Tunnel::NoChild) {
                    initiates.push(Action::Initiate(*id));
                }
            }
        }
    }
    for id in seen.loaded.keys() {
        if !wanted.contains_key(id) {
            unloads.push(Action::Unload(*id));
        }
    }
    let mut secrets = Vec::new();
    for id in &seen.secrets {
        if !wanted.contains_key(id) && !seen.loaded.contains_key(id) {
            secrets.push(Action::UnloadSecret(*id));
        }
    }
    unloads.sort();
    unloads.extend(secrets);
    unloads.extend(loads);
    unloads.extend(initiates);
    unloads
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(n: u128) -> Uuid {
        Uuid::from_u128(n)
    }

    fn want(n: u128, print: u64, initiates: bool) -> Want {
        Want { id: id(n), fingerprint: print, shape: print, initiates }
    }

    fn seen(loaded: &[(u128, Option<u64>)], secrets: &[u128], tunnels: &[(u128, Tunnel)]) -> Seen {
        Seen {
            loaded: loaded.iter().map(|(n, p)| (id(*n), *p)).collect(),
            shapes: loaded.iter().filter_map(|(n, p)| p.map(|p| (id(*n), p))).collect(),
            secrets: secrets.iter().map(|n| id(*n)).collect(),
            tunnels: tunnels.iter().map(|(n, t)| (id(*n), *t)).collect(),
        }
    }

    #[test]
    fn the_table() {
        use Action::*;
        use Tunnel::{Busy, Installed, NoChild};
        let table: Vec<(&str, Vec<Want>, Seen, Vec<Action>)> = vec![
            ("nothing wanted, nothing loaded", vec![], Seen::default(), vec![]),
            (
                "a new connection is loaded, not initiated in the same pass",
                vec![want(1, 7, true)],
                seen(&[], &[], &[]),
                vec![Load(id(1))],
            ),
            (
                "an unchanged connection with a tunnel is left alone",
                vec![want(1, 7, true)],
                seen(&[(1, Some(7))], &[1], &[(1, Installed)]),
                vec![],
            ),
            (
                "an unchanged connection on its way up is left alone",
                vec![want(1, 7, true)],
                seen(&[(1, Some(7))], &[1], &[(1, Busy)]),
                vec![],
            ),
            (
                "an unchanged bi-directional connection without a tunnel is initiated",
                vec![want(1, 7, true)],
                seen(&[(1, Some(7))], &[1], &[]),
                vec![Initiate(id(1))],
            ),
            (
                "an IKE_SA without CHILD_SA is initiated again",
                vec![want(1, 7, true)],
                seen(&[(1, Some(7))], &[1], &[(1, NoChild)]),
                vec![Initiate(id(1))],
            ),
            (
                "a response-only connection is never initiated",
                vec![want(1, 7, false)],
                seen(&[(1, Some(7))], &[1], &[(1, Tunnel::None)]),
                vec![],
            ),
            (
                "a changed rendering is unloaded, then loaded",
                vec![want(1, 8, true)],
                seen(&[(1, Some(7))], &[1], &[(1, Installed)]),
                vec![Unload(id(1)), Load(id(1))],
            ),
            (
                "new credentials of the same shape are refreshed in place, never unloaded",
                vec![Want { shape: 7, ..want(1, 8, true) }],
                seen(&[(1, Some(7))], &[1], &[(1, Installed)]),
                vec![Refresh(id(1))],
            ),
            (
                "a connection of unknown print is loaded again without an unload",
                vec![want(1, 7, true)],
                seen(&[(1, None)], &[1], &[(1, Installed)]),
                vec![Load(id(1))],
            ),
            (
                "a gone or disabled connection is unloaded, its tunnel with it",
                vec![],
                seen(&[(1, Some(7)), (2, None)], &[1, 2], &[(1, Installed)]),
                vec![Unload(id(1)), Unload(id(2))],
            ),
            (
                "charon restarted: everything is gone, everything is loaded",
                vec![want(1, 7, true), want(2, 9, false)],
                seen(&[], &[], &[]),
                vec![Load(id(1)), Load(id(2))],
            ),
            (
                "an orphan secret is unloaded, a wanted one is kept",
                vec![want(2, 9, true)],
                seen(&[], &[1, 2], &[]),
                vec![UnloadSecret(id(1)), Load(id(2))],
            ),
            (
                "unloads come first, then loads, then initiations",
                vec![want(3, 1, true), want(1, 2, true), want(4, 5, true)],
                seen(&[(1, Some(2)), (2, Some(0)), (4, Some(4))], &[1, 2, 4], &[(1, Tunnel::None)]),
                vec![Unload(id(2)), Unload(id(4)), Load(id(3)), Load(id(4)), Initiate(id(1))],
            ),
        ];
        for (what, wants, seen, expected) in table {
            assert_eq!(reconcile(&wants, &seen), expected, "{what}");
        }
    }

    #[test]
    fn applying_the_same_state_twice_is_a_no_op_once_loaded() {
        let wants = vec![want(1, 7, true), want(2, 8, false)];
        let first = reconcile(&wants, &Seen::default());
        assert_eq!(first, vec![Action::Load(id(1)), Action::Load(id(2))]);
        let after = seen(&[(1, Some(7)), (2, Some(8))], &[1, 2], &[(1, Tunnel::Installed), (2, Tunnel::Installed)]);
        assert_eq!(reconcile(&wants, &after), vec![]);
    }
}
