//! One convergence pass against a charon: render, observe, reconcile, act, and read back each connection's status.

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use tracing::{debug, info, warn};
use uuid::Uuid;
use vpnaas_core::algorithms::{Initiator, Status};
use vpnaas_core::contract::{ConnectionStatus, DesiredConnection};
use vpnaas_core::ha::Role;
use vpnaas_core::tunnel::DownReason;

use crate::charon::{self, Charon, CharonError, ChildSa, IkeSa, Outcome};
use crate::events::{self, Journal, SharedJournal};
use crate::reconcile::{self, Action, Seen, Tunnel, Want};
use vpnaas_strongswan::render::{self, Fingerprint, Rendered};

/// What one pass did and saw.
#[derive(Debug, Clone, PartialEq)]
pub struct Step {
    /// The actions carried out (an initiation held back by the retry interval is not one).
    pub actions: Vec<Action>,
    /// One per desired connection, in the order given.
    pub statuses: Vec<ConnectionStatus>,
    /// charon's IKE_SAs after the actions.
    pub sas: Vec<IkeSa>,
    /// Work was held back by the pace (`MAX_LOADS_PER_PASS`, `MAX_CONNECTING`): the next
    /// pass should come soon.
    pub more: bool,
}

/// Connections loaded into charon in one pass at most: after a charon restart with a
/// thousand connections, statuses are reported between batches instead of after all.
pub const MAX_LOADS_PER_PASS: usize = 100;

/// IKE_SAs being set up (charon's `CONNECTING`) at once at most before the agent starts
/// another: started all at once, a thousand negotiations swamp both daemons, each gives up
/// after its retransmits and starts over, and hardly any comes up (measured: 2–10 of 1,000
/// after two minutes); started this many at a time, they come up as fast as the peer can
/// answer (lab, 1,000 connections to one peer charon on 2 cores: 32 → 29.7 s, 64 → 27.7 s;
/// the peer's Diffie-Hellman work bounds it at about 38 IKE_SAs a second).
pub const MAX_CONNECTING: usize = 64;

/// How far back a peer's failed attempt (it found no connection here) makes the waiting
/// side start at once: a little more than the agent's retry interval.
pub const PEER_TRIED_WITHIN: Duration = Duration::from_secs(15);

/// The starts one pass may make: fewer when charon is already setting up IKE_SAs.
struct Pace {
    loads: usize,
    starts: usize,
    held: bool,
}

impl Pace {
    fn new(sas: &[IkeSa]) -> Pace {
        let connecting = sas.iter().filter(|sa| sa.state == "CONNECTING").count();
        Pace { loads: MAX_LOADS_PER_PASS, starts: MAX_CONNECTING.saturating_sub(connecting), held: false }
    }

    fn take(budget: &mut usize, held: &mut bool) -> bool {
        if *budget == 0 {
            *held = true;
            return false;
        }
        *budget -= 1;
        true
    }

    fn load(&mut self) -> bool {
        Pace::take(&mut self.loads, &mut self.held)
    }

    fn start(&mut self) -> bool {
        Pace::take(&mut self.starts, &mut self.held)
    }
}

/// The agent's memory between passes, one record per connection; everything else is read
/// from charon each time.
pub struct Engine {
    memory: BTreeMap<Uuid, Memory>,
    initiate_every: Duration,
    lazy_delay: Duration,
    /// What charon's events said about each connection (ADR 0018).
    journal: SharedJournal,
}

/// Why a connection that is not ACTIVE is not (ADR 0018): what was decided here (disabled,
/// standby, refused), else the failure charon's events showed since it was last up, else
/// that it is still on its way. An installed tunnel clears the failure.
fn down_reason(c: &DesiredConnection, outcome: &Outcome, status: Status, journal: &mut Journal) -> Option<DownReason> {
    if status == Status::Active {
        journal.clear_failure(c.id);
        return None;
    }
    Some(match outcome {
        Outcome::Stopped if !c.enabled => DownReason::AdminDown,
        Outcome::Stopped => DownReason::Standby,
        Outcome::Refused(_) => DownReason::ConfigRefused,
        Outcome::Running(_) => match journal.failure(c.id) {
            Some(failure) => failure,
            None if c.initiator == Initiator::ResponseOnly => DownReason::WaitingForPeer,
            None => DownReason::Negotiating,
        },
    })
}

/// How long the gateway that does not start at once (`Rendered::eager`) waits for the
/// peer's tunnel before it initiates itself: bring-up takes a quarter second (lab).
pub const LAZY_DELAY: Duration = Duration::from_secs(3);

/// How long an initiating certificate connection is down before its status says why.
pub const CERTS_DOWN_HINT: Duration = Duration::from_secs(8);

/// How long a rendering charon refused waits before it is offered again.
pub const RETRY_REFUSED: Duration = Duration::from_secs(60);

/// What the agent remembers of one connection between passes. A record with nothing in it
/// is dropped at the end of a pass.
#[derive(Default)]
struct Memory {
    /// The print and the shape (`Rendered::shape`) of what this agent loaded, while charon
    /// still has it.
    loaded: Option<(Fingerprint, Fingerprint)>,
    /// Its credentials were replaced while its IKE_SAs ran (ADR 0017).
    rotation: Option<Rotation>,
    /// A rendering charon refused, with its reason and when: not offered again until it
    /// changes or `RETRY_REFUSED` passed (a restarted charon may have other plugins).
    refused: Option<(Fingerprint, String, Instant)>,
    last_initiate: Option<Instant>,
    /// Since when it has had no tunnel (initiating connections).
    down_since: Option<Instant>,
    /// The private key it loaded, by charon's key id (ADR 0017).
    key: Option<String>,
}

impl Memory {
    fn is_empty(&self) -> bool {
        self.loaded.is_none()
            && self.rotation.is_none()
            && self.refused.is_none()
            && self.last_initiate.is_none()
            && self.down_since.is_none()
            && self.key.is_none()
    }
}

/// A credential rotation in progress: the IKE_SAs authenticated with the old credentials
/// keep the tunnel until one authenticated with the new ones carries a CHILD_SA (make
/// before break); the old private key stays loaded while they live.
struct Rotation {
    old: BTreeSet<u64>,
    old_key: Option<String>,
}

enum Plan {
    Stop,
    Refuse(String),
    Run(Box<Rendered>),
}

/// What a pass knows when it acts: each running plan's rendering, what charon has, and the
/// connections whose peer tried lately and found nothing loaded here.
struct Known<'a> {
    rendered: BTreeMap<Uuid, &'a Rendered>,
    seen: Seen,
    peer_tried: BTreeSet<Uuid>,
}

impl Engine {
    /// `initiate_every`: how long to wait before initiating a connection again that is
    /// still not up (charon retries on its own in between, keyingtries = 0).
    pub fn new(initiate_every: Duration) -> Engine {
        Engine { memory: BTreeMap::new(), initiate_every, lazy_delay: LAZY_DELAY, journal: SharedJournal::default() }
    }

    /// The journal charon's events are read into (shared with the listener).
    pub fn journal(&self) -> SharedJournal {
        self.journal.clone()
    }

    /// The record of `id`, made if missing.
    fn memo(&mut self, id: Uuid) -> &mut Memory {
        self.memory.entry(id).or_default()
    }

    /// What the record of `id` holds in `field`, if there is a record.
    fn recall<T>(&self, id: &Uuid, field: impl FnOnce(&Memory) -> Option<&T>) -> Option<&T> {
        self.memory.get(id).and_then(field)
    }

    /// The print of what this agent loaded for `id`, while charon has it.
    fn print(&self, id: &Uuid) -> Option<Fingerprint> {
        self.recall(id, |m| m.loaded.as_ref()).map(|(print, _)| *print)
    }

    /// Whether `id` was initiated less than `initiate_every` ago.
    fn initiated_lately(&self, id: &Uuid) -> bool {
        self.recall(id, |m| m.last_initiate.as_ref()).is_some_and(|t| t.elapsed() < self.initiate_every)
    }

    /// Whether `id` has had no tunnel for `at_least`.
    fn down_for(&self, id: &Uuid, at_least: Duration) -> bool {
        self.recall(id, |m| m.down_since.as_ref()).is_some_and(|t| t.elapsed() >= at_least)
    }

    /// Another wait for the gateway that does not start at once (tests).
    pub fn with_lazy_delay(mut self, lazy_delay: Duration) -> Engine {
        self.lazy_delay = lazy_delay;
        self
    }

    fn plan(&self, c: &DesiredConnection, caps: &render::Capabilities) -> Plan {
        if !c.enabled {
            return Plan::Stop;
        }
        // ADR 0002: only the active member of a pair has a tunnel (both share selectors).
        if c.ha.is_some_and(|h| h.role == Role::Standby) {
            return Plan::Stop;
        }
        let rendered = match render::render(c) {
            Ok(r) => r,
            Err(reason) => return Plan::Refuse(reason.to_string()),
        };
        if let Err(reason) = caps.check(&rendered.needs) {
            return Plan::Refuse(reason.to_string());
        }
        if let Some((print, reason, when)) = self.recall(&c.id, |m| m.refused.as_ref()) {
            if *print == rendered.fingerprint && when.elapsed() < RETRY_REFUSED {
                return Plan::Refuse(reason.clone());
            }
        }
        Plan::Run(Box::new(rendered))
    }

    /// One pass. An `Unreachable` error means charon is down: nothing is known, nothing is
    /// reported, and the next pass starts over (connections are loaded again if it restarted).
    pub async fn step<C: Charon>(
        &mut self,
        charon: &mut C,
        desired: &[DesiredConnection],
    ) -> Result<Step, CharonError> {
        let (caps, loaded, secrets, sas) = self.observe(charon).await?;
        let mut seen_ids = BTreeSet::new();
        let plans: Vec<(&DesiredConnection, Plan)> =
            desired.iter().filter(|c| seen_ids.insert(c.id)).map(|c| (c, self.plan(c, &caps))).collect();
        events::lock(&self.journal).set_peers(
            plans.iter().filter(|(_, p)| matches!(p, Plan::Run(_))).map(|(c, _)| (c.id, c.peer_address.to_string())),
        );
        let wants: Vec<Want> = plans
            .iter()
            .filter_map(|(_, p)| match p {
                Plan::Run(r) => {
                    Some(Want { id: r.id, fingerprint: r.fingerprint, shape: r.shape, initiates: r.initiates })
                }
                _ => None,
            })
            .collect();
        let seen = Seen {
            loaded: loaded.iter().map(|id| (*id, self.print(id))).collect(),
            shapes: self.memory.iter().filter_map(|(id, m)| m.loaded.map(|(_, shape)| (*id, shape))).collect(),
            secrets,
            tunnels: by_connection(&sas).into_iter().map(|(id, list)| (id, charon::tunnel(&list))).collect(),
        };
        let now = Instant::now();
        let mut pace = Pace::new(&sas);
        // Connections whose peer tried lately and found nothing loaded here.
        let tried_since = events::now_micros() - i64::try_from(PEER_TRIED_WITHIN.as_micros()).unwrap_or(0);
        let peer_tried: BTreeSet<Uuid> = {
            let journal = events::lock(&self.journal);
            plans
                .iter()
                .filter(|(c, _)| journal.unmatched_attempt_since(&c.peer_address.to_string(), tried_since))
                .map(|(c, _)| c.id)
                .collect()
        };
        self.track_down(&wants, &seen, now);
        let planned = reconcile::reconcile(&wants, &seen);
        let rendered: BTreeMap<Uuid, &Rendered> = plans
            .iter()
            .filter_map(|(_, p)| match p {
                Plan::Run(r) => Some((r.id, r.as_ref())),
                _ => None,
            })
            .collect();

        let known = Known { rendered, seen, peer_tried };
        let (done, rebuilt) = self.act(charon, planned, &known, &sas, &mut pace).await?;
        let rendered = known.rendered;
        let mut sas = if done.is_empty() { sas } else { charon.list_sas().await? };
        if self.rotate(charon, &sas, &rendered).await? {
            sas = charon.list_sas().await?;
        }

        let groups = by_connection(&sas);
        let statuses = plans.iter().map(|(c, plan)| self.status_of(c, plan, &groups, &rebuilt)).collect();
        for (id, m) in self.memory.iter_mut() {
            if !rendered.contains_key(id) {
                m.last_initiate = None;
                m.down_since = None;
            }
        }
        self.memory.retain(|_, m| !m.is_empty());
        Ok(Step { actions: done, statuses, sas, more: pace.held })
    }

    /// What charon has: its capabilities, the connections and the secrets loaded, the SAs.
    /// Connections charon lost (it restarted, or someone unloaded them) are forgotten as loaded,
    /// so that the pass loads them again.
    async fn observe<C: Charon>(
        &mut self,
        charon: &mut C,
    ) -> Result<(render::Capabilities, BTreeSet<Uuid>, BTreeSet<Uuid>, Vec<IkeSa>), CharonError> {
        let caps = charon.capabilities().await?;
        let loaded: BTreeSet<Uuid> = ids(charon.conns().await?);
        // What charon lost (it restarted, or someone unloaded it) is loaded again. charon's
        // own start time (`stats` since) is no restart signal: it is computed as wall clock
        // minus uptime and jitters by a second (measured).
        let mine: Vec<Uuid> = self.memory.iter().filter(|(_, m)| m.loaded.is_some()).map(|(id, _)| *id).collect();
        if !mine.is_empty() && mine.iter().all(|id| !loaded.contains(id)) {
            info!(connections = mine.len(), "charon lost every connection (restarted?): loading them again");
        }
        for (id, m) in self.memory.iter_mut() {
            if !loaded.contains(id) {
                m.loaded = None;
            }
        }
        let secrets = match charon.shared().await {
            Ok(keys) => ids(keys),
            // An older charon without get-shared: orphan secrets stay until it restarts.
            Err(CharonError::Refused(_)) => BTreeSet::new(),
            Err(e) => return Err(e),
        };
        let sas = charon.list_sas().await?;
        Ok((caps, loaded, secrets, sas))
    }

    /// Since when each connection this side initiates has had no tunnel (none while it has one).
    fn track_down(&mut self, wants: &[Want], seen: &Seen, now: Instant) {
        for want in wants.iter().filter(|w| w.initiates) {
            match seen.tunnels.get(&want.id).copied().unwrap_or(Tunnel::None) {
                Tunnel::None | Tunnel::NoChild => {
                    self.memo(want.id).down_since.get_or_insert(now);
                }
                Tunnel::Busy | Tunnel::Installed => {
                    if let Some(m) = self.memory.get_mut(&want.id) {
                        m.down_since = None;
                    }
                }
            }
        }
    }

    /// Carries out the reconciler's actions, within the pace: the actions done, and the
    /// connections unloaded for a new rendering.
    async fn act<C: Charon>(
        &mut self,
        charon: &mut C,
        planned: Vec<Action>,
        known: &Known<'_>,
        sas: &[IkeSa],
        pace: &mut Pace,
    ) -> Result<(Vec<Action>, BTreeSet<Uuid>), CharonError> {
        let Known { rendered, seen, peer_tried } = known;
        let mut done = Vec::new();
        let mut rebuilt = BTreeSet::new();
        for action in planned {
            match action {
                Action::Unload(id) => {
                    // A new rendering deserves a fresh verdict.
                    events::lock(&self.journal).clear_failure(id);
                    self.unload(charon, id).await?;
                    rebuilt.insert(id);
                    done.push(action);
                }
                Action::UnloadSecret(id) => {
                    match charon.unload_shared(&id.to_string()).await {
                        Ok(()) | Err(CharonError::Refused(_)) => {}
                        Err(e) => return Err(e),
                    }
                    done.push(action);
                }
                Action::Load(id) => {
                    if let Some(r) = rendered.get(&id) {
                        if !pace.load() {
                            continue;
                        }
                        self.load(charon, r).await?;
                        // The eager side starts at once (`Rendered::eager`), unless a tunnel
                        // already runs (loaded again after an agent restart); so does the
                        // other side when its peer already tried and found nothing here
                        // (created second: else it would wait `LAZY_DELAY` for nothing).
                        let down = rebuilt.contains(&id)
                            || matches!(seen.tunnels.get(&id), None | Some(Tunnel::None | Tunnel::NoChild));
                        let starts = r.eager || (r.initiates && peer_tried.contains(&id));
                        if starts && down && self.print(&id) == Some(r.fingerprint) && pace.start() {
                            self.initiate(charon, r).await?;
                        }
                        done.push(action);
                    }
                }
                Action::Refresh(id) => {
                    if let Some(r) = rendered.get(&id) {
                        self.refresh(charon, r, sas).await?;
                        done.push(action);
                    }
                }
                Action::Initiate(id) => {
                    let Some(r) = rendered.get(&id) else { continue };
                    let recently = self.initiated_lately(&id);
                    let waited = r.eager || peer_tried.contains(&id) || self.down_for(&id, self.lazy_delay);
                    if !recently && waited && pace.start() {
                        self.initiate(charon, r).await?;
                        done.push(action);
                    }
                }
            }
        }
        Ok((done, rebuilt))
    }

    /// What a pass reports for `c`: its plan's outcome, with the reasons and counters.
    fn status_of(
        &self,
        c: &DesiredConnection,
        plan: &Plan,
        groups: &BTreeMap<Uuid, Vec<IkeSa>>,
        rebuilt: &BTreeSet<Uuid>,
    ) -> ConnectionStatus {
        let outcome = match plan {
            Plan::Stop => Outcome::Stopped,
            Plan::Refuse(reason) => Outcome::Refused(reason.clone()),
            Plan::Run(r) => match self.recall(&r.id, |m| m.refused.as_ref()) {
                Some((print, reason, _)) if *print == r.fingerprint => Outcome::Refused(reason.clone()),
                // Torn down for a new rendering in this pass: what still shows is the old tunnel.
                _ if rebuilt.contains(&r.id) && self.print(&r.id).is_some() => Outcome::Running(Tunnel::None),
                _ => Outcome::Running(charon::tunnel(groups.get(&c.id).into_iter().flatten())),
            },
        };
        let (status, mut reason) = charon::status(&outcome);
        // ADR 0017: charon says nothing over list-sas about a failed authentication;
        // a certificate connection that stays down gets the likely cause for admins.
        if let (Plan::Run(r), Outcome::Running(Tunnel::None | Tunnel::NoChild)) = (plan, &outcome) {
            let long = self.down_for(&r.id, CERTS_DOWN_HINT);
            if !r.credentials.is_empty() && long {
                reason = Some(format!(
                    "no tunnel: certificate authentication has not succeeded; the peer's certificate must \
                     chain to peer_ca, be valid now and hold peer_id '{}' (charon's log names the check that \
                     failed)",
                    c.peer_id
                ));
            }
        }
        let counters = match outcome {
            Outcome::Running(Tunnel::Installed) => charon::counters(groups.get(&c.id).into_iter().flatten()),
            _ => Default::default(),
        };
        let mut journal = events::lock(&self.journal);
        let code = down_reason(c, &outcome, status, &mut journal);
        ConnectionStatus {
            id: c.id,
            revision: c.revision,
            status,
            reason,
            counters,
            code,
            events: journal.events(c.id),
        }
    }

    /// Every desired connection down for the same cause (charon unreachable), with what
    /// the journal holds.
    pub fn all_down(&self, desired: &[DesiredConnection], reason: &str, code: DownReason) -> Vec<ConnectionStatus> {
        let journal = events::lock(&self.journal);
        desired
            .iter()
            .map(|c| ConnectionStatus {
                id: c.id,
                revision: c.revision,
                status: Status::Down,
                reason: Some(reason.to_owned()),
                counters: Default::default(),
                code: Some(code),
                events: journal.events(c.id),
            })
            .collect()
    }

    async fn unload<C: Charon>(&mut self, charon: &mut C, id: Uuid) -> Result<(), CharonError> {
        let name = id.to_string();
        if let Some(m) = self.memory.get_mut(&id) {
            m.loaded = None;
        }
        // unload-conn closes the SAs of start_action=start children only, and without
        // waiting for the peer; terminate first so that every SA goes, and the peer knows.
        for result in
            [charon.terminate(&name).await, charon.unload_conn(&name).await, charon.unload_shared(&name).await]
        {
            match result {
                Ok(()) => {}
                // "no matching SAs", or already gone: the goal is reached either way.
                Err(CharonError::Refused(why)) => {
                    debug!(site_connection.id = %id, %why, "charon refused part of an unload")
                }
                Err(e) => return Err(e),
            }
        }
        self.drop_key(charon, id).await?;
        if let Some(key) = self.take_rotation(id).and_then(|r| r.old_key) {
            self.unload_key_unless_used(charon, key).await?;
        }
        info!(site_connection.id = %id, "unloaded");
        Ok(())
    }

    /// Unloads the private key a connection loaded, unless another connection presents the
    /// same certificate (charon names a key by its public key: both got the same id).
    async fn drop_key<C: Charon>(&mut self, charon: &mut C, id: Uuid) -> Result<(), CharonError> {
        if let Some(key) = self.memory.get_mut(&id).and_then(|m| m.key.take()) {
            self.unload_key_unless_used(charon, key).await?;
        }
        Ok(())
    }

    /// The rotation of `id`, taken out of its record.
    fn take_rotation(&mut self, id: Uuid) -> Option<Rotation> {
        self.memory.get_mut(&id).and_then(|m| m.rotation.take())
    }

    async fn unload_key_unless_used<C: Charon>(&mut self, charon: &mut C, key: String) -> Result<(), CharonError> {
        let in_use = self.memory.values().any(|m| {
            m.key.as_ref() == Some(&key) || m.rotation.as_ref().and_then(|r| r.old_key.as_ref()) == Some(&key)
        });
        if !in_use {
            match charon.unload_key(&key).await {
                Ok(()) | Err(CharonError::Refused(_)) => {}
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }

    /// New credentials for a running connection (ADR 0017, rotation): load them and replace
    /// the connection in charon without terminating anything. The IKE_SAs up now were
    /// authenticated with the old credentials and keep carrying traffic; an initiating
    /// gateway brings up an IKE_SA with the new ones at once, and `rotate` retires the old
    /// ones when it carries a CHILD_SA. A responder's old IKE_SAs stay until the peer
    /// replaces them (its next authentication uses the new credentials).
    async fn refresh<C: Charon>(&mut self, charon: &mut C, r: &Rendered, sas: &[IkeSa]) -> Result<(), CharonError> {
        let old_key = self.recall(&r.id, |m| m.key.as_ref()).cloned();
        let mut old: BTreeSet<u64> = sas.iter().filter(|sa| sa.name == r.name).map(|sa| sa.unique_id).collect();
        if let Some(previous) = self.take_rotation(r.id) {
            // Rotated again before the last one finished: both generations retire.
            old.extend(previous.old);
            if let Some(key) = previous.old_key.filter(|k| Some(k) != old_key.as_ref()) {
                self.unload_key_unless_used(charon, key).await?;
            }
        }
        self.load(charon, r).await?;
        if self.print(&r.id) != Some(r.fingerprint) {
            // charon refused the new credentials: the old connection and its key stay
            // loaded, and the refusal's unload takes the old key with it.
            if let Some(key) = old_key {
                self.memo(r.id).key = Some(key);
            }
            return Ok(());
        }
        let old_key = old_key.filter(|k| self.recall(&r.id, |m| m.key.as_ref()) != Some(k));
        info!(site_connection.id = %r.id, old_ike_sas = old.len(), "credentials replaced, tunnel kept");
        if old.is_empty() {
            if let Some(key) = old_key {
                self.unload_key_unless_used(charon, key).await?;
            }
            if r.eager {
                self.initiate(charon, r).await?;
            }
            return Ok(());
        }
        self.memo(r.id).rotation = Some(Rotation { old, old_key });
        if r.initiates {
            self.initiate(charon, r).await?;
        }
        Ok(())
    }

    /// Moves rotations on: when an IKE_SA that is not one of the old ones carries a
    /// CHILD_SA, the old ones are terminated; when they are all gone, the old key goes.
    /// Answers whether it changed anything in charon.
    async fn rotate<C: Charon>(
        &mut self,
        charon: &mut C,
        sas: &[IkeSa],
        rendered: &BTreeMap<Uuid, &Rendered>,
    ) -> Result<bool, CharonError> {
        let mut changed = false;
        let ids: Vec<Uuid> = self.memory.iter().filter(|(_, m)| m.rotation.is_some()).map(|(id, _)| *id).collect();
        for id in ids {
            let name = id.to_string();
            let Some(rotation) = self.recall(&id, |m| m.rotation.as_ref()) else { continue };
            let mine: Vec<&IkeSa> = sas.iter().filter(|sa| sa.name == name).collect();
            let alive: Vec<u64> = mine.iter().map(|sa| sa.unique_id).filter(|u| rotation.old.contains(u)).collect();
            if alive.is_empty() {
                if let Some(key) = self.take_rotation(id).and_then(|r| r.old_key) {
                    self.unload_key_unless_used(charon, key).await?;
                }
                info!(site_connection.id = %id, "rotation done: the old credentials are retired");
                continue;
            }
            let replaced = mine
                .iter()
                .any(|sa| !rotation.old.contains(&sa.unique_id) && sa.children.iter().any(|c| c.state == "INSTALLED"));
            if replaced {
                for unique_id in alive {
                    match charon.terminate_ike_sa(unique_id).await {
                        Ok(()) | Err(CharonError::Refused(_)) => {}
                        Err(e) => return Err(e),
                    }
                }
                changed = true;
                continue;
            }
            // No new IKE_SA on its way (refused by the peer, say): try again now and then.
            let pending = mine.iter().any(|sa| !rotation.old.contains(&sa.unique_id));
            let recently = self.initiated_lately(&id);
            if let Some(r) = rendered.get(&id).filter(|r| r.initiates && !pending && !recently) {
                self.initiate(charon, r).await?;
                changed = true;
            }
        }
        Ok(changed)
    }

    async fn load<C: Charon>(&mut self, charon: &mut C, r: &Rendered) -> Result<(), CharonError> {
        let refuse = |this: &mut Engine, why: String| {
            warn!(site_connection.id = %r.id, reason = %why, "charon refused the connection");
            this.memo(r.id).refused = Some((r.fingerprint, why, Instant::now()));
        };
        if !r.secret.entries.is_empty() {
            match charon.load_shared(&r.secret).await {
                Ok(()) => {}
                Err(CharonError::Refused(why)) => {
                    refuse(self, format!("charon refused the pre-shared key: {why}"));
                    return Ok(());
                }
                Err(e) => return Err(e),
            }
        }
        for credential in &r.credentials {
            match charon.load_credential(credential.command, &credential.message).await {
                Ok(Some(key)) if credential.command == "load-key" => {
                    self.memo(r.id).key = Some(key);
                }
                Ok(_) => {}
                Err(CharonError::Refused(why)) => {
                    let what = if credential.command == "load-key" { "private key" } else { "certificate" };
                    refuse(self, format!("charon refused the {what}: {why}"));
                    return Ok(());
                }
                Err(e) => return Err(e),
            }
        }
        match charon.load_conn(&r.conn).await {
            Ok(()) => {
                let m = self.memo(r.id);
                m.refused = None;
                m.loaded = Some((r.fingerprint, r.shape));
                info!(site_connection.id = %r.id, "loaded");
                Ok(())
            }
            Err(CharonError::Refused(why)) => {
                refuse(self, why);
                match charon.unload_shared(&r.name).await {
                    Ok(()) | Err(CharonError::Refused(_)) => {}
                    Err(e) => return Err(e),
                }
                // A key loaded for a connection charon refused goes too (unless shared).
                self.drop_key(charon, r.id).await
            }
            Err(e) => Err(e),
        }
    }

    async fn initiate<C: Charon>(&mut self, charon: &mut C, r: &Rendered) -> Result<(), CharonError> {
        self.memo(r.id).last_initiate = Some(Instant::now());
        for child in &r.children {
            match charon.initiate(&r.name, child).await {
                Ok(()) => debug!(site_connection.id = %r.id, "initiating"),
                Err(CharonError::Refused(why)) => warn!(site_connection.id = %r.id, %why, "initiation refused"),
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }
}

/// Names that are connection ids; anything else in charon is not ours and is left alone.
fn ids(names: Vec<String>) -> BTreeSet<Uuid> {
    names.iter().filter_map(|n| Uuid::parse_str(n).ok()).collect()
}

/// Each connection's view of charon's IKE_SAs: the IKE_SAs of its name with its own CHILD_SAs,
/// and the CHILD_SAs of its name that another connection's IKE_SA carries. Connections to
/// one peer with the same identities and IKE proposal share one IKE_SA (charon reuses it for
/// the second connection's CHILD_SA), so a connection is tracked by its CHILD_SAs, not by
/// the name of the IKE_SA they ride on.
fn by_connection(sas: &[IkeSa]) -> BTreeMap<Uuid, Vec<IkeSa>> {
    let mut map: BTreeMap<Uuid, Vec<IkeSa>> = BTreeMap::new();
    for sa in sas {
        let owner = Uuid::parse_str(&sa.name).ok();
        let mut children: BTreeMap<Option<Uuid>, Vec<ChildSa>> = BTreeMap::new();
        for child in &sa.children {
            // A child is named after its connection (`<id>`, or `<id>-<n>` for several pairs).
            let of = child_owner(&child.name).or(owner);
            children.entry(of).or_default().push(child.clone());
        }
        if let Some(id) = owner {
            let own = children.remove(&Some(id)).unwrap_or_default();
            // The IKE_SA itself belongs to its name's connection even when every CHILD_SA it
            // carries is another's.
            map.entry(id).or_default().push(IkeSa { children: own, ..sa.clone() });
        }
        for (of, list) in children {
            if let Some(id) = of {
                let name = id.to_string();
                map.entry(id).or_default().push(IkeSa {
                    name,
                    unique_id: sa.unique_id,
                    state: sa.state.clone(),
                    children: list,
                });
            }
        }
    }
    map
}

/// The connection a CHILD_SA config name belongs to.
fn child_owner(name: &str) -> Option<Uuid> {
    name.get(..36).and_then(|id| Uuid::parse_str(id).ok())
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A connection's switches left at their defaults are not on the wire, so agents of any
    /// release read it as before; a set one travels, and a switch this agent does not know is
    /// ignored (ADR 0034).
    #[test]
    fn tunnel_options_travel_only_when_set() {
        let mut c = desired(1);
        let json = serde_json::to_value(&c).unwrap();
        assert!(json.get("options").is_none(), "{json}");
        c.options.mobike = true;
        let json = serde_json::to_string(&c).unwrap();
        assert!(json.contains(r#""options":{"mobike":true}"#), "{json}");
        assert_eq!(serde_json::from_str::<DesiredConnection>(&json).unwrap(), c);
        let later = json.replace(r#""mobike":true"#, r#""mobike":true,"a_later_switch":1"#);
        assert_eq!(serde_json::from_str::<DesiredConnection>(&later).unwrap(), c);
    }

    #[test]
    fn connections_sharing_one_ike_sa_are_each_tracked_by_their_child_sa() {
        let (a, b, c) = (Uuid::from_u128(1), Uuid::from_u128(2), Uuid::from_u128(3));
        let child = |name: String, n: u64| ChildSa {
            name,
            unique_id: n,
            state: "INSTALLED".into(),
            counters: Counters { bytes_in: n, ..Default::default() },
        };
        let ike = |children| IkeSa { name: a.to_string(), unique_id: 7, state: "ESTABLISHED".into(), children };
        // charon reused A's IKE_SA for B's CHILD_SA (and B's second pair of subnets).
        let sas = [ike(vec![child(a.to_string(), 1), child(b.to_string(), 2), child(format!("{b}-2"), 3)])];
        let groups = by_connection(&sas);
        assert_eq!(charon::tunnel(&groups[&a]), Tunnel::Installed);
        assert_eq!(charon::tunnel(&groups[&b]), Tunnel::Installed, "B is up on A's IKE_SA");
        assert_eq!(charon::counters(&groups[&a]).bytes_in, 1, "A counts its own CHILD_SA only");
        assert_eq!(charon::counters(&groups[&b]).bytes_in, 5, "B counts both of its CHILD_SAs");
        assert!(!groups.contains_key(&c));
        // A's own CHILD_SA is gone while B's still rides on A's IKE_SA.
        let groups = by_connection(&[ike(vec![child(b.to_string(), 2)])]);
        assert_eq!(charon::tunnel(&groups[&a]), Tunnel::NoChild);
        assert_eq!(charon::tunnel(&groups[&b]), Tunnel::Installed);
    }
    use crate::charon::ChildSa;
    use vpnaas_core::algorithms::{EncryptionAlgorithm, Initiator, Status};
    use vpnaas_core::contract::{Counters, HaMember, IkeProposal, IpsecProposal};
    use vpnaas_core::values::{Cidr, Dpd, PeerAddress, Psk};
    use vpnaas_strongswan::render::Capabilities;
    use vpnaas_strongswan::vici::Message;

    pub(crate) fn desired(n: u128) -> DesiredConnection {
        DesiredConnection {
            id: Uuid::from_u128(n),
            vpnservice_id: Uuid::nil(),
            revision: 1,
            enabled: true,
            ike: IkeProposal::default(),
            ipsec: IpsecProposal::default(),
            psk: Some(Psk::parse("secret").unwrap()),
            certs: None,
            local_id: "192.0.2.1".into(),
            local_address: "192.0.2.1".parse().unwrap(),
            peer_address: PeerAddress::parse("192.0.2.2").unwrap(),
            peer_id: "192.0.2.2".into(),
            local_cidrs: vec![Cidr::parse("10.1.0.0/24").unwrap()],
            peer_cidrs: vec![Cidr::parse(&format!("10.2.{n}.0/24")).unwrap()],
            dpd: Dpd::default(),
            mtu: 1500,
            initiator: Initiator::BiDirectional,
            ha: None,
            options: Default::default(),
        }
    }

    /// What the fake charon can do: the default policies' algorithms (AES-CBC, SHA-1,
    /// MODP-1536) and no AEAD, with kernel-libipsec.
    fn capabilities() -> Capabilities {
        Capabilities {
            algorithms: ["AES_CBC", "HMAC_SHA1_96", "PRF_HMAC_SHA1", "MODP_1536"].map(String::from).into(),
            plugins: ["kernel-libipsec".to_owned()].into(),
        }
    }

    /// An in-memory charon: initiating a connection brings its tunnel up at once, unless
    /// `refuse_conns` says no or `down` is set. A private key's id is its data.
    #[derive(Default)]
    pub(crate) struct FakeCharon {
        pub conns: BTreeMap<String, Message>,
        pub secrets: BTreeSet<String>,
        pub keys: BTreeSet<String>,
        pub sas: Vec<IkeSa>,
        pub calls: Vec<String>,
        pub refuse_conns: Option<String>,
        pub down: bool,
        pub next_id: u64,
        /// Initiations stay `CONNECTING` (a slow peer) until `establish_all`.
        pub slow: bool,
    }

    impl FakeCharon {
        fn gate(&mut self, call: String) -> Result<(), CharonError> {
            if self.down {
                return Err(CharonError::Unreachable("connection refused".into()));
            }
            self.calls.push(call);
            Ok(())
        }
        fn up(&mut self, name: &str) {
            self.next_id += 1;
            if self.slow {
                let sa = IkeSa {
                    name: name.to_owned(),
                    unique_id: self.next_id,
                    state: "CONNECTING".into(),
                    children: vec![],
                };
                self.sas.push(sa);
                return;
            }
            self.sas.push(IkeSa {
                name: name.to_owned(),
                unique_id: self.next_id,
                state: "ESTABLISHED".into(),
                children: vec![ChildSa {
                    name: name.to_owned(),
                    unique_id: self.next_id,
                    state: "INSTALLED".into(),
                    counters: Counters { bytes_in: 5, bytes_out: 6, packets_in: 1, packets_out: 1 },
                }],
            });
        }
        /// Every IKE_SA on its way up is established, with its CHILD_SA.
        pub fn establish_all(&mut self) {
            let connecting: Vec<String> =
                self.sas.iter().filter(|sa| sa.state == "CONNECTING").map(|sa| sa.name.clone()).collect();
            self.sas.retain(|sa| sa.state != "CONNECTING");
            self.slow = false;
            for name in connecting {
                self.up(&name);
            }
        }
        /// charon restarted: everything is gone.
        pub fn restart(&mut self) {
            self.conns.clear();
            self.secrets.clear();
            self.sas.clear();
        }
        pub fn mutations(&self) -> Vec<&String> {
            self.calls
                .iter()
                .filter(|c| !c.starts_with("get") && !c.starts_with("list") && !c.starts_with("caps"))
                .collect()
        }
    }

    impl Charon for FakeCharon {
        async fn capabilities(&mut self) -> Result<Capabilities, CharonError> {
            self.gate("caps".into())?;
            Ok(capabilities())
        }
        async fn conns(&mut self) -> Result<Vec<String>, CharonError> {
            self.gate("get-conns".into())?;
            Ok(self.conns.keys().cloned().collect())
        }
        async fn shared(&mut self) -> Result<Vec<String>, CharonError> {
            self.gate("get-shared".into())?;
            Ok(self.secrets.iter().cloned().collect())
        }
        async fn load_conn(&mut self, conn: &Message) -> Result<(), CharonError> {
            let (name, body) = conn.sections().next().map(|(n, b)| (n.to_owned(), b.clone())).unwrap_or_default();
            self.gate(format!("load-conn {name}"))?;
            if let Some(why) = &self.refuse_conns {
                return Err(CharonError::Refused(why.clone()));
            }
            self.conns.insert(name, body);
            Ok(())
        }
        async fn unload_conn(&mut self, name: &str) -> Result<(), CharonError> {
            self.gate(format!("unload-conn {name}"))?;
            self.conns.remove(name).map(|_| ()).ok_or_else(|| CharonError::Refused("not found".into()))
        }
        async fn load_shared(&mut self, secret: &Message) -> Result<(), CharonError> {
            let id = secret.str("id").unwrap_or_default();
            self.gate(format!("load-shared {id}"))?;
            self.secrets.insert(id);
            Ok(())
        }
        async fn unload_shared(&mut self, id: &str) -> Result<(), CharonError> {
            self.gate(format!("unload-shared {id}"))?;
            self.secrets.remove(id);
            Ok(())
        }
        async fn initiate(&mut self, ike: &str, _child: &str) -> Result<(), CharonError> {
            self.gate(format!("initiate {ike}"))?;
            self.up(ike);
            Ok(())
        }
        async fn terminate(&mut self, ike: &str) -> Result<(), CharonError> {
            self.gate(format!("terminate {ike}"))?;
            let before = self.sas.len();
            self.sas.retain(|s| s.name != ike);
            if before == self.sas.len() {
                return Err(CharonError::Refused("no matching SAs to terminate found".into()));
            }
            Ok(())
        }
        async fn list_sas(&mut self) -> Result<Vec<IkeSa>, CharonError> {
            self.gate("list-sas".into())?;
            Ok(self.sas.clone())
        }
        async fn load_credential(
            &mut self,
            command: &'static str,
            message: &Message,
        ) -> Result<Option<String>, CharonError> {
            self.gate(command.to_owned())?;
            let data = message.str("data").unwrap_or_default();
            Ok((command == "load-key").then(|| {
                self.keys.insert(data.clone());
                data
            }))
        }
        async fn unload_key(&mut self, id: &str) -> Result<(), CharonError> {
            self.gate(format!("unload-key {id}"))?;
            self.keys.remove(id);
            Ok(())
        }
        async fn terminate_ike_sa(&mut self, unique_id: u64) -> Result<(), CharonError> {
            self.gate(format!("terminate ike-id {unique_id}"))?;
            self.sas.retain(|s| s.unique_id != unique_id);
            Ok(())
        }
    }

    #[tokio::test]
    async fn many_connections_are_loaded_in_batches_and_started_a_few_at_a_time() {
        let desired: Vec<DesiredConnection> = (1..=250).map(desired).collect();
        assert!(desired.iter().all(|c| render::render(c).unwrap().eager));
        let mut charon = FakeCharon { slow: true, ..FakeCharon::default() };
        let mut engine = Engine::new(Duration::from_secs(10));
        let count = |charon: &FakeCharon, what: &str| charon.calls.iter().filter(|c| c.starts_with(what)).count();

        let step = engine.step(&mut charon, &desired).await.unwrap();
        assert!(step.more, "work was held back");
        assert_eq!(count(&charon, "load-conn"), MAX_LOADS_PER_PASS);
        assert_eq!(count(&charon, "initiate"), MAX_CONNECTING);
        assert_eq!(step.statuses.len(), 250, "every connection is reported, loaded or not");
        assert!(step.statuses.iter().all(|s| s.status == Status::Down));

        // The peer is slow: nothing more starts while charon sets up as many as the pace allows.
        let step = engine.step(&mut charon, &desired).await.unwrap();
        assert!(step.more);
        assert_eq!(count(&charon, "load-conn"), 2 * MAX_LOADS_PER_PASS);
        assert_eq!(count(&charon, "initiate"), MAX_CONNECTING, "no start beyond the pace");

        // They come up: the next ones start.
        charon.establish_all();
        charon.slow = true;
        let step = engine.step(&mut charon, &desired).await.unwrap();
        assert_eq!(count(&charon, "load-conn"), 250);
        assert_eq!(count(&charon, "initiate"), 2 * MAX_CONNECTING);
        assert_eq!(step.statuses.iter().filter(|s| s.status == Status::Active).count(), MAX_CONNECTING);
        assert!(step.more);
        // Until every one is up; none is started twice.
        for _ in 0..20 {
            charon.establish_all();
            charon.slow = true;
            if !engine.step(&mut charon, &desired).await.unwrap().more {
                break;
            }
        }
        charon.establish_all();
        let step = engine.step(&mut charon, &desired).await.unwrap();
        assert!(!step.more);
        assert!(step.statuses.iter().all(|s| s.status == Status::Active));
        assert_eq!(count(&charon, "initiate"), 250, "each started once");
    }

    fn with_certs(c: &mut DesiredConnection, n: u32) {
        use vpnaas_core::contract::CertCredentials;
        use vpnaas_core::values::PrivateKey;
        c.psk = None;
        c.certs = Some(CertCredentials {
            certificate: format!("CERT-{n}"),
            private_key: PrivateKey::checked(format!("KEY-{n}")),
            chain: vec![],
            peer_cas: vec!["CA".into()],
        });
    }

    #[tokio::test]
    async fn new_credentials_replace_the_tunnel_make_before_break_and_retire_the_old_key() {
        let mut c = desired(1);
        with_certs(&mut c, 1);
        let mut charon = FakeCharon::default();
        let mut engine = Engine::new(Duration::from_secs(10));
        let step = engine.step(&mut charon, &[c.clone()]).await.unwrap();
        assert_eq!(statuses(&step), vec![Status::Active]);
        let old = charon.sas[0].unique_id;

        with_certs(&mut c, 2);
        charon.calls.clear();
        let step = engine.step(&mut charon, &[c.clone()]).await.unwrap();
        assert_eq!(step.actions, vec![Action::Refresh(Uuid::from_u128(1))]);
        assert_eq!(statuses(&step), vec![Status::Active]);
        let at = |call: &str| charon.calls.iter().position(|c| c == call).unwrap_or(usize::MAX);
        let name = Uuid::from_u128(1).to_string();
        assert!(at(&format!("terminate {name}")) == usize::MAX, "the connection is never torn down");
        assert!(at(&format!("unload-conn {name}")) == usize::MAX);
        assert!(
            at("load-key") < at(&format!("load-conn {name}"))
                && at(&format!("load-conn {name}")) < at(&format!("initiate {name}"))
                && at(&format!("initiate {name}")) < at(&format!("terminate ike-id {old}")),
            "new key, new connection, new IKE_SA, and only then the old IKE_SA goes: {:?}",
            charon.calls
        );
        assert_eq!(charon.sas.len(), 1);
        assert_ne!(charon.sas[0].unique_id, old);
        // The old key stays while its IKE_SA lives; the next pass retires it.
        engine.step(&mut charon, &[c.clone()]).await.unwrap();
        assert_eq!(charon.keys, BTreeSet::from(["KEY-2".to_owned()]));

        // Another peer identity is another shape: the tunnel is rebuilt.
        c.peer_id = "CN=another".into();
        let step = engine.step(&mut charon, &[c]).await.unwrap();
        assert_eq!(step.actions, vec![Action::Unload(Uuid::from_u128(1)), Action::Load(Uuid::from_u128(1))]);
    }

    fn statuses(step: &Step) -> Vec<Status> {
        step.statuses.iter().map(|s| s.status).collect()
    }

    #[tokio::test]
    async fn a_new_connection_is_loaded_comes_up_and_is_then_left_alone() {
        let mut charon = FakeCharon::default();
        let mut engine = Engine::new(Duration::from_secs(10));
        let want = vec![desired(1)];
        let step = engine.step(&mut charon, &want).await.unwrap();
        assert_eq!(step.actions, vec![Action::Load(Uuid::from_u128(1))]);
        assert_eq!(statuses(&step), vec![Status::Active]);
        assert_eq!(step.statuses[0].counters.bytes_in, 5);
        assert_eq!(step.statuses[0].revision, 1);
        let before = charon.mutations().len();
        let step = engine.step(&mut charon, &want).await.unwrap();
        assert_eq!(step.actions, vec![]);
        assert_eq!(charon.mutations().len(), before, "an unchanged connection is not touched");
        assert_eq!(statuses(&step), vec![Status::Active]);
    }

    #[tokio::test]
    async fn disabled_and_standby_connections_are_unloaded_and_down() {
        let mut charon = FakeCharon::default();
        let mut engine = Engine::new(Duration::from_secs(10));
        let mut two = vec![desired(1), desired(2)];
        engine.step(&mut charon, &two).await.unwrap();
        two[0].enabled = false;
        two[1].ha = Some(HaMember { role: Role::Standby, partner: Uuid::from_u128(9) });
        let step = engine.step(&mut charon, &two).await.unwrap();
        assert_eq!(step.actions, vec![Action::Unload(Uuid::from_u128(1)), Action::Unload(Uuid::from_u128(2))]);
        assert_eq!(statuses(&step), vec![Status::Down, Status::Down]);
        assert!(charon.conns.is_empty() && charon.secrets.is_empty() && charon.sas.is_empty());
    }

    #[tokio::test]
    async fn a_connection_gone_from_the_desired_state_is_unloaded() {
        let mut charon = FakeCharon::default();
        let mut engine = Engine::new(Duration::from_secs(10));
        engine.step(&mut charon, &[desired(1)]).await.unwrap();
        let step = engine.step(&mut charon, &[]).await.unwrap();
        assert_eq!(step.actions, vec![Action::Unload(Uuid::from_u128(1))]);
        assert!(step.statuses.is_empty());
        assert!(charon.conns.is_empty());
    }

    #[tokio::test]
    async fn a_changed_connection_is_rebuilt_and_reported_down_until_it_is_up() {
        let mut charon = FakeCharon::default();
        let mut engine = Engine::new(Duration::from_secs(10));
        engine.step(&mut charon, &[desired(1)]).await.unwrap();
        let mut changed = desired(1);
        changed.revision = 2;
        changed.dpd.interval = 10;
        let step = engine.step(&mut charon, &[changed.clone()]).await.unwrap();
        let id = Uuid::from_u128(1);
        assert_eq!(step.actions, vec![Action::Unload(id), Action::Load(id)]);
        assert_eq!(step.statuses[0].revision, 2);
        let step = engine.step(&mut charon, &[changed]).await.unwrap();
        assert_eq!(statuses(&step), vec![Status::Active]);
    }

    #[tokio::test]
    async fn what_charon_cannot_do_is_an_error_and_never_loaded() {
        let mut charon = FakeCharon::default();
        let mut engine = Engine::new(Duration::from_secs(10));
        let mut gcm = desired(1);
        gcm.ipsec.encryption_algorithm = EncryptionAlgorithm::Aes256Gcm16;
        let step = engine.step(&mut charon, &[gcm]).await.unwrap();
        assert_eq!(step.actions, vec![]);
        assert_eq!(statuses(&step), vec![Status::Error]);
        assert!(step.statuses[0].reason.as_deref().unwrap_or_default().contains("AES_GCM_16"));
        assert!(charon.mutations().is_empty());
    }

    #[tokio::test]
    async fn a_refused_load_is_an_error_and_is_not_retried_until_it_changes() {
        let mut charon =
            FakeCharon { refuse_conns: Some("invalid value for: esp_proposals".into()), ..Default::default() };
        let mut engine = Engine::new(Duration::from_secs(10));
        let step = engine.step(&mut charon, &[desired(1)]).await.unwrap();
        assert_eq!(statuses(&step), vec![Status::Error]);
        assert_eq!(step.statuses[0].reason.as_deref(), Some("invalid value for: esp_proposals"));
        assert!(charon.secrets.is_empty(), "the secret of a refused connection is unloaded");
        let before = charon.mutations().len();
        let step = engine.step(&mut charon, &[desired(1)]).await.unwrap();
        assert_eq!(statuses(&step), vec![Status::Error]);
        assert_eq!(charon.mutations().len(), before, "the same rendering is not offered again");
        charon.refuse_conns = None;
        let mut changed = desired(1);
        changed.dpd.interval = 5;
        let step = engine.step(&mut charon, &[changed]).await.unwrap();
        assert_eq!(statuses(&step), vec![Status::Active]);
    }

    #[tokio::test]
    async fn after_a_charon_restart_everything_is_loaded_again() {
        let mut charon = FakeCharon::default();
        let mut engine = Engine::new(Duration::from_secs(10));
        let want = vec![desired(1), desired(2)];
        engine.step(&mut charon, &want).await.unwrap();
        charon.down = true;
        assert!(matches!(engine.step(&mut charon, &want).await, Err(CharonError::Unreachable(_))));
        charon.down = false;
        charon.restart();
        let step = engine.step(&mut charon, &want).await.unwrap();
        assert_eq!(step.actions, vec![Action::Load(Uuid::from_u128(1)), Action::Load(Uuid::from_u128(2))]);
        assert_eq!(statuses(&step), vec![Status::Active, Status::Active]);
    }

    #[tokio::test]
    async fn a_fresh_agent_adopts_what_charon_has_without_tearing_it_down() {
        let mut charon = FakeCharon::default();
        Engine::new(Duration::from_secs(10)).step(&mut charon, &[desired(1)]).await.unwrap();
        let ike_id = charon.sas[0].unique_id;
        let mut fresh = Engine::new(Duration::from_secs(10));
        let step = fresh.step(&mut charon, &[desired(1)]).await.unwrap();
        assert_eq!(step.actions, vec![Action::Load(Uuid::from_u128(1))]);
        assert!(!charon.calls.iter().any(|c| c.starts_with("unload") || c.starts_with("terminate")));
        assert_eq!(charon.sas[0].unique_id, ike_id);
        assert_eq!(statuses(&step), vec![Status::Active]);
        let step = fresh.step(&mut charon, &[desired(1)]).await.unwrap();
        assert_eq!(step.actions, vec![]);
    }

    #[tokio::test]
    async fn a_dropped_tunnel_is_initiated_again_but_not_more_often_than_asked() {
        let mut charon = FakeCharon::default();
        let mut engine = Engine::new(Duration::from_millis(50));
        engine.step(&mut charon, &[desired(1)]).await.unwrap();
        charon.sas.clear();
        let step = engine.step(&mut charon, &[desired(1)]).await.unwrap();
        assert_eq!(step.actions, vec![], "loaded moments ago: charon is still trying on its own");
        tokio::time::sleep(Duration::from_millis(60)).await;
        let step = engine.step(&mut charon, &[desired(1)]).await.unwrap();
        assert_eq!(step.actions, vec![Action::Initiate(Uuid::from_u128(1))]);
        assert_eq!(statuses(&step), vec![Status::Active]);
        charon.sas.clear();
        let mut response_only = desired(1);
        response_only.initiator = Initiator::ResponseOnly;
        let step = engine.step(&mut charon, &[response_only.clone()]).await.unwrap();
        assert_eq!(step.actions, vec![Action::Unload(Uuid::from_u128(1)), Action::Load(Uuid::from_u128(1))]);
        tokio::time::sleep(Duration::from_millis(60)).await;
        let step = engine.step(&mut charon, &[response_only]).await.unwrap();
        assert_eq!(step.actions, vec![], "a response-only connection waits for its peer");
        assert_eq!(statuses(&step), vec![Status::Down]);
    }

    #[tokio::test]
    async fn the_gateway_with_the_larger_id_waits_for_its_peer_before_it_initiates() {
        let mut lazy = desired(1);
        std::mem::swap(&mut lazy.local_id, &mut lazy.peer_id);
        let mut charon = FakeCharon::default();
        let mut engine = Engine::new(Duration::from_secs(10)).with_lazy_delay(Duration::from_millis(80));
        let step = engine.step(&mut charon, &[lazy.clone()]).await.unwrap();
        assert_eq!(step.actions, vec![Action::Load(Uuid::from_u128(1))]);
        assert_eq!(statuses(&step), vec![Status::Down], "start_action none: no tunnel yet");
        let step = engine.step(&mut charon, &[lazy.clone()]).await.unwrap();
        assert_eq!(step.actions, vec![], "the peer gets its head start");
        tokio::time::sleep(Duration::from_millis(100)).await;
        let step = engine.step(&mut charon, &[lazy]).await.unwrap();
        assert_eq!(step.actions, vec![Action::Initiate(Uuid::from_u128(1))], "no tunnel came: initiate");
        assert_eq!(statuses(&step), vec![Status::Active]);
    }

    #[tokio::test]
    async fn a_connection_that_is_not_active_says_why() {
        use vpnaas_core::tunnel::DownReason;
        let mut charon = FakeCharon::default();
        let mut engine = Engine::new(Duration::from_secs(60));
        let mut disabled = desired(1);
        disabled.enabled = false;
        let mut standby = desired(2);
        standby.ha = Some(HaMember { role: Role::Standby, partner: Uuid::from_u128(9) });
        let mut gcm = desired(3);
        gcm.ipsec.encryption_algorithm = EncryptionAlgorithm::Aes256Gcm16;
        let step = engine.step(&mut charon, &[disabled, standby, gcm, desired(4)]).await.unwrap();
        let codes: Vec<Option<DownReason>> = step.statuses.iter().map(|s| s.code).collect();
        assert_eq!(
            codes,
            vec![Some(DownReason::AdminDown), Some(DownReason::Standby), Some(DownReason::ConfigRefused), None]
        );
        // Its tunnel goes and charon's log says why: the reason follows, until it is up again.
        charon.sas.clear();
        let id = Uuid::from_u128(4).to_string();
        let line = vpnaas_strongswan::vici::Message::new()
            .kv("ikesa-name", id.as_str())
            .kv("ikesa-uniqueid", "7")
            .kv("msg", "received AUTHENTICATION_FAILED notify error");
        events::lock(&engine.journal()).record("log", &line, 1);
        let step = engine.step(&mut charon, &[desired(4)]).await.unwrap();
        assert_eq!(step.statuses[0].code, Some(DownReason::AuthFailed));
        assert_eq!(step.statuses[0].events.len(), 1, "the event travels with the status");
        charon.up(&id);
        let step = engine.step(&mut charon, &[desired(4)]).await.unwrap();
        assert_eq!((step.statuses[0].status, step.statuses[0].code), (Status::Active, None));
        charon.sas.clear();
        let step = engine.step(&mut charon, &[desired(4)]).await.unwrap();
        assert_eq!(step.statuses[0].code, Some(DownReason::Negotiating), "the old failure is over");
        let mut responder = desired(4);
        responder.initiator = Initiator::ResponseOnly;
        engine.step(&mut charon, &[responder.clone()]).await.unwrap();
        charon.sas.clear();
        let step = engine.step(&mut charon, &[responder]).await.unwrap();
        assert_eq!(step.statuses[0].code, Some(DownReason::WaitingForPeer));
    }

    #[tokio::test]
    async fn foreign_connections_and_orphan_secrets() {
        let mut charon = FakeCharon::default();
        charon.conns.insert("operator-conn".into(), Message::new());
        charon.secrets.insert(Uuid::from_u128(7).to_string());
        let mut engine = Engine::new(Duration::from_secs(10));
        let step = engine.step(&mut charon, &[]).await.unwrap();
        assert_eq!(step.actions, vec![Action::UnloadSecret(Uuid::from_u128(7))]);
        assert!(charon.conns.contains_key("operator-conn"), "names that are not connection ids are not ours");
    }
}
