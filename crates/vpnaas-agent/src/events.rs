//! charon's VICI events (`ike-updown`, `child-updown`, `log`) turned into each connection's negotiation events and down reason (ADR 0018).
//!
//! Functional core, imperative shell again: [`classify`] maps one of charon's log lines to a
//! [`DownReason`] (its patterns are lines captured from charon 5.9 in the lab, and the unit
//! tests replay them), the [`Journal`] keeps per connection the last events and the last
//! failure, and [`listen`] is the loop that reads a VICI event subscription into it.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use tracing::{debug, info};
use uuid::Uuid;
use vpnaas_core::tunnel::{DownReason, EventKind, TunnelEvent, MAX_EVENT_MESSAGE};
use vpnaas_strongswan::vici::{Client, Message};

/// Events kept per connection (and so reported and stored at most).
pub const KEEP: usize = 50;
/// How long the listener waits before it connects again to a charon that went away.
pub const RECONNECT_EVERY: Duration = Duration::from_secs(1);
/// The VICI events the listener subscribes to.
pub const SUBSCRIBED: [&str; 3] = ["ike-updown", "child-updown", "log"];

/// What one of charon's log lines says went wrong, if anything. Matched on lower case, on
/// the words charon 5.9 uses (each pattern is a line captured in the lab; see the tests).
pub fn classify(msg: &str) -> Option<DownReason> {
    let m = msg.to_ascii_lowercase();
    let has = |needle: &str| m.contains(needle);
    // A peer's IKE_SA that found no connection here (not loaded yet, or already unloaded):
    // charon answers NO_PROPOSAL_CHOSEN, but no proposal was compared. Nothing failed that a
    // connection's reason should say (the engine starts the connection when it is loaded).
    if has("no ike config found") {
        return None;
    }
    if has("authentication_failed")
        // The AUTH_FAILED notify in a message charon parsed or generated: the checking side
        // answers or informs with it, the other side reads it (`[ N(AUTH_FAILED) ]`).
        || has("n(auth_failed)")
        // A key was found for the peer's identity (one seen before), but the signature is not
        // its: a certificate from a CA this side does not trust.
        || has("signature validation failed")
        || has("mac mismatched")
        || has("no shared key found")
        || has("constraint check failed")
        || has("no trusted")
        || has("no matching peer config found")
        || (has("authentication of") && has("failed"))
    {
        return Some(DownReason::AuthFailed);
    }
    if has("no_proposal_chosen") || has("proposals unacceptable") || has("no acceptable proposal") {
        return Some(DownReason::NoProposalChosen);
    }
    if has("ts_unacceptable") || (has("traffic selectors") && has("unacceptable")) || has("no matching child_sa config")
    {
        return Some(DownReason::TsUnacceptable);
    }
    if has("giving up after") || has("peer not responding") {
        return Some(DownReason::PeerUnreachable);
    }
    if has("received delete for ike_sa") {
        return Some(DownReason::PeerDeleted);
    }
    None
}

/// Log lines worth an event though they show no failure: who started a negotiation.
fn notable(msg: &str) -> bool {
    msg.starts_with("initiating IKE_SA") || msg.ends_with("is initiating an IKE_SA")
}

/// The remote address of an unnamed IKE_SA a peer opens (`192.0.2.1 is initiating an IKE_SA`):
/// until charon picks a config, its log lines carry no connection name.
fn initiating_peer(msg: &str) -> Option<&str> {
    msg.strip_suffix(" is initiating an IKE_SA").filter(|a| !a.contains(' '))
}

/// The remote address of an IKE_SA that found no connection in this charon: `no IKE config
/// found for 192.0.2.2...192.0.2.1, sending NO_PROPOSAL_CHOSEN` (charon 5.9, lab).
fn unmatched_peer(msg: &str) -> Option<&str> {
    let pair = msg.strip_prefix("no IKE config found for ")?;
    let (_, remote) = pair.split_once("...")?;
    let remote = remote.split([',', ' ']).next()?;
    (!remote.is_empty()).then_some(remote)
}

/// The connection whose CHILD_SA charon starts to negotiate: `establishing CHILD_SA
/// <name>{<n>}` (charon 5.9, lab), the name being `<id>` or `<id>-<n>`.
fn establishing_child(msg: &str) -> Option<Uuid> {
    let name = msg.strip_prefix("establishing CHILD_SA ")?;
    name.get(..36).and_then(|id| Uuid::parse_str(id).ok())
}

/// Per connection: its last events, its last failure since it was last up, and what the
/// server has been sent.
#[derive(Default)]
pub struct Journal {
    events: BTreeMap<Uuid, VecDeque<TunnelEvent>>,
    failures: BTreeMap<Uuid, DownReason>,
    /// Unnamed IKE_SAs (by charon's unique id) and the peer that opened them.
    unnamed: HashMap<u64, String>,
    /// Each connection's peer address, as the desired state gives it.
    peers: BTreeMap<Uuid, String>,
    /// The CHILD_SA each IKE_SA (by unique id) was last asked to establish, by connection:
    /// connections with the same peer and identities share one IKE_SA, so a CHILD_SA's
    /// failure on it is the failure of the connection that CHILD_SA belongs to.
    establishing: HashMap<u64, Uuid>,
    /// When each peer address last opened an IKE_SA that this charon had no connection for
    /// (microseconds since the epoch).
    unmatched: HashMap<String, i64>,
    seq: u64,
}

/// A journal shared by the listener (writes) and the engine (reads).
pub type SharedJournal = Arc<Mutex<Journal>>;

/// Locks a shared journal; a panic elsewhere leaves it usable.
pub fn lock(journal: &SharedJournal) -> std::sync::MutexGuard<'_, Journal> {
    journal.lock().unwrap_or_else(PoisonError::into_inner)
}

impl Journal {
    /// The connections this gateway runs and their peers (the engine sets them every pass).
    /// Events of connections no longer run are dropped.
    pub fn set_peers(&mut self, peers: impl IntoIterator<Item = (Uuid, String)>) {
        self.peers = peers.into_iter().collect();
        self.events.retain(|id, _| self.peers.contains_key(id));
        self.failures.retain(|id, _| self.peers.contains_key(id));
    }

    /// The failure seen since the connection was last up, if any.
    pub fn failure(&self, id: Uuid) -> Option<DownReason> {
        self.failures.get(&id).copied()
    }

    /// Records a failure. A DELETE from the peer says less than what went before it (the
    /// peer deletes an IKE_SA whose authentication it rejected, right after saying so), so it
    /// never replaces a failure already recorded: the reason changes only when the cause does.
    fn fail(&mut self, id: Uuid, reason: DownReason) {
        if reason == DownReason::PeerDeleted && self.failures.contains_key(&id) {
            return;
        }
        self.failures.insert(id, reason);
    }

    /// The connection is up (or was rebuilt): what failed before is over.
    pub fn clear_failure(&mut self, id: Uuid) {
        self.failures.remove(&id);
    }

    /// Whether `peer` opened an IKE_SA that found no connection here at or after `since`
    /// (microseconds since the epoch). The gateway that waits for its peer to start
    /// (`Rendered::eager`) starts at once then: the peer's attempt failed because this side's
    /// connection was not loaded yet, and the peer will not try again for a while.
    pub fn unmatched_attempt_since(&self, peer: &str, since: i64) -> bool {
        self.unmatched.get(peer).is_some_and(|at| *at >= since)
    }

    /// The connection's kept events, oldest first.
    pub fn events(&self, id: Uuid) -> Vec<TunnelEvent> {
        self.events.get(&id).map(|e| e.iter().cloned().collect()).unwrap_or_default()
    }

    /// One of charon's VICI events, at `at` (microseconds since the epoch).
    pub fn record(&mut self, name: &str, message: &Message, at: i64) {
        match name {
            "log" => self.record_log(message, at),
            "ike-updown" | "child-updown" => self.record_updown(name == "ike-updown", message, at),
            _ => {}
        }
    }

    fn record_log(&mut self, message: &Message, at: i64) {
        let Some(msg) = message.str("msg") else { return };
        let unique = message.str("ikesa-uniqueid").and_then(|u| u.parse::<u64>().ok());
        if let (Some(u), Some(peer)) = (unique, initiating_peer(&msg)) {
            // Bounded: a flood of half-open IKE_SAs must not grow the map without end.
            if self.unnamed.len() >= 1024 {
                self.unnamed.clear();
            }
            self.unnamed.insert(u, peer.to_owned());
        }
        if let Some(peer) = unmatched_peer(&msg) {
            // Bounded like `unnamed`.
            if self.unmatched.len() >= 1024 && !self.unmatched.contains_key(peer) {
                self.unmatched.clear();
            }
            self.unmatched.insert(peer.to_owned(), at);
        }
        if let (Some(u), Some(child)) = (unique, establishing_child(&msg)) {
            if self.establishing.len() >= 1024 && !self.establishing.contains_key(&u) {
                self.establishing.clear();
            }
            self.establishing.insert(u, child);
        }
        let reason = classify(&msg);
        if reason.is_none() && !notable(&msg) {
            return;
        }
        let about_child = matches!(reason, Some(DownReason::TsUnacceptable | DownReason::NoProposalChosen))
            && msg.to_ascii_lowercase().contains("child_sa");
        let child = unique.filter(|_| about_child).and_then(|u| self.establishing.get(&u).copied());
        let owners = match child {
            Some(id) if self.peers.contains_key(&id) => vec![id],
            _ => self.owners(message.str("ikesa-name").as_deref(), unique),
        };
        for id in owners {
            if let Some(r) = reason {
                self.fail(id, r);
            }
            self.push(id, EventKind::Log, reason, &msg, at);
        }
    }

    fn record_updown(&mut self, ike: bool, message: &Message, at: i64) {
        let up = message.str("up").as_deref() == Some("yes");
        for (name, sa) in message.sections() {
            let Ok(id) = Uuid::parse_str(name) else { continue };
            if !self.peers.contains_key(&id) {
                continue;
            }
            let (kind, text) = if ike {
                let local = sa.str("local-host").unwrap_or_default();
                let remote = sa.str("remote-host").unwrap_or_default();
                let kind = if up { EventKind::IkeUp } else { EventKind::IkeDown };
                (kind, format!("IKE_SA {} between {local} and {remote}", if up { "up" } else { "down" }))
            } else {
                let children = sa.sub("child-sas");
                let child = children.and_then(|c| c.sections().next().map(|(_, m)| m));
                let ts = |key: &str| child.map(|c| c.strings(key).join(",")).unwrap_or_default();
                let kind = if up { EventKind::ChildUp } else { EventKind::ChildDown };
                let words = if up { "up" } else { "down" };
                (kind, format!("CHILD_SA {words}: {} === {}", ts("local-ts"), ts("remote-ts")))
            };
            // An up event does not end a failure here: the responder of a negotiation that its
            // peer then rejects (an untrusted certificate) is "up" for a few milliseconds
            // every cycle. The engine ends the failure when a pass finds the tunnel installed.
            self.push(id, kind, None, &text, at);
        }
    }

    /// The connections a log line is about: the one it names, or for an IKE_SA a peer
    /// opened and charon has not matched to a config yet, those whose peer opened it.
    fn owners(&self, name: Option<&str>, unique: Option<u64>) -> Vec<Uuid> {
        if let Some(id) = name.and_then(|n| Uuid::parse_str(n).ok()) {
            return if self.peers.contains_key(&id) { vec![id] } else { Vec::new() };
        }
        let Some(peer) = unique.and_then(|u| self.unnamed.get(&u)) else { return Vec::new() };
        self.peers.iter().filter(|(_, p)| *p == peer).map(|(id, _)| *id).collect()
    }

    fn push(&mut self, id: Uuid, kind: EventKind, reason: Option<DownReason>, msg: &str, at: i64) {
        let ring = self.events.entry(id).or_default();
        // A failing negotiation repeats itself every few seconds: keep one of each line
        // among the last few (numbers aside), so that the ring keeps its history.
        let shape = shape(msg);
        if ring.iter().rev().take(4).any(|e| e.kind == kind && e.reason == reason && shape_eq(&e.message, &shape)) {
            return;
        }
        self.seq += 1;
        let message: String = msg.chars().take(MAX_EVENT_MESSAGE).collect();
        ring.push_back(TunnelEvent { seq: self.seq, at, kind, reason, message });
        while ring.len() > KEEP {
            ring.pop_front();
        }
        debug!(site_connection.id = %id, kind = kind.as_str(), reason = reason.map(|r| r.as_str()), "tunnel event");
    }
}

/// A message without its digits: `trying again (2/0)` and `(3/0)` are one line.
fn shape(msg: &str) -> String {
    msg.chars().filter(|c| !c.is_ascii_digit()).collect()
}

fn shape_eq(msg: &str, shape_of_other: &str) -> bool {
    shape(msg) == shape_of_other
}

pub fn now_micros() -> i64 {
    let since = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
    i64::try_from(since.as_micros()).unwrap_or(i64::MAX)
}

/// Reads charon's events at `uri` into `journal` until the task is dropped, connecting
/// again whenever charon goes away (it restarts; the engine notices that on its own).
pub async fn listen(uri: String, journal: SharedJournal) {
    let mut quiet = false;
    loop {
        match subscribe(&uri).await {
            Ok(mut client) => {
                info!(vici = %uri, "listening to charon's events");
                quiet = false;
                loop {
                    match client.next_event().await {
                        Ok((name, message)) => lock(&journal).record(&name, &message, now_micros()),
                        Err(e) => {
                            debug!(vici = %uri, error = %e, "charon's event stream ended");
                            break;
                        }
                    }
                }
            }
            Err(e) if !quiet => {
                debug!(vici = %uri, error = %e, "cannot subscribe to charon's events; retrying");
                quiet = true;
            }
            Err(_) => {}
        }
        tokio::time::sleep(RECONNECT_EVERY).await;
    }
}

async fn subscribe(uri: &str) -> Result<Client, vpnaas_strongswan::vici::ViciError> {
    let mut client = Client::connect(uri, Duration::from_secs(5)).await?;
    client.subscribe(&SUBSCRIBED).await?;
    Ok(client)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Lines charon 5.9.8 logged in the lab (two namespaces, the lab's strongswan.conf),
    /// with the reason each must give. The side is the gateway whose log it is.
    const CAPTURED: &[(&str, Option<DownReason>)] = &[
        // Wrong pre-shared key on one side: the initiator is told, the responder finds out.
        ("received AUTHENTICATION_FAILED notify error", Some(DownReason::AuthFailed)),
        ("tried 1 shared key for '192.0.2.2' - '192.0.2.1', but MAC mismatched", Some(DownReason::AuthFailed)),
        // Nobody at the peer address (retransmit_tries = 2, keyingtries = 0).
        ("giving up after 2 retransmits", Some(DownReason::PeerUnreachable)),
        ("peer not responding, trying again (2/0)", Some(DownReason::PeerUnreachable)),
        // IKE proposals without a common one: the initiator, then the responder.
        ("received NO_PROPOSAL_CHOSEN notify error", Some(DownReason::NoProposalChosen)),
        ("received proposals unacceptable", Some(DownReason::NoProposalChosen)),
        // ESP proposals without a common one (the IKE_SA stays).
        ("received NO_PROPOSAL_CHOSEN notify, no CHILD_SA built", Some(DownReason::NoProposalChosen)),
        ("no acceptable proposal found", Some(DownReason::NoProposalChosen)),
        // Subnets that do not mirror each other.
        ("received TS_UNACCEPTABLE notify, no CHILD_SA built", Some(DownReason::TsUnacceptable)),
        ("traffic selectors 10.3.0.0/24 === 10.1.0.0/24 unacceptable", Some(DownReason::TsUnacceptable)),
        // The peer closes the tunnel.
        ("received DELETE for IKE_SA c1[6]", Some(DownReason::PeerDeleted)),
        // A certificate from a CA the checking side does not trust (ADR 0017's lab): the
        // checking side, as initiator and as responder, then the side presenting it.
        ("no trusted RSA public key found for 'site-b.vpnaas.test'", Some(DownReason::AuthFailed)),
        ("generating INFORMATIONAL request 2 [ N(AUTH_FAILED) ]", Some(DownReason::AuthFailed)),
        ("generating IKE_AUTH response 1 [ N(AUTH_FAILED) ]", Some(DownReason::AuthFailed)),
        ("parsed INFORMATIONAL request 2 [ N(AUTH_FAILED) ]", Some(DownReason::AuthFailed)),
        ("parsed IKE_AUTH response 1 [ N(AUTH_FAILED) ]", Some(DownReason::AuthFailed)),
        // The same after a trusted certificate of that identity was seen (its key is cached).
        ("signature validation failed, looking for another key", Some(DownReason::AuthFailed)),
        // A peer that tries before this side's connection is loaded: nothing to blame.
        ("no IKE config found for 192.0.2.2...192.0.2.1, sending NO_PROPOSAL_CHOSEN", None),
        // What a healthy negotiation says: no reason.
        ("initiating IKE_SA c1[5] to 192.0.2.2", None),
        ("192.0.2.1 is initiating an IKE_SA", None),
        ("selected proposal: IKE:AES_CBC_256/HMAC_SHA2_256_128/PRF_HMAC_SHA2_256/MODP_2048", None),
        ("authentication of '192.0.2.2' with pre-shared key successful", None),
        ("authentication of '192.0.2.1' (myself) with pre-shared key", None),
        ("IKE_SA c1[5] established between 192.0.2.1[192.0.2.1]...192.0.2.2[192.0.2.2]", None),
        ("CHILD_SA c1{4} established with SPIs af3caa76_i cbde641e_o and TS 10.1.0.0/24 === 10.2.0.0/24", None),
        ("retransmit 1 of request with message ID 0", None),
        ("failed to establish CHILD_SA, keeping IKE_SA", None),
        ("deleting IKE_SA c1[5] between 192.0.2.2[192.0.2.2]...192.0.2.1[192.0.2.1]", None),
        ("sending DELETE for IKE_SA c1[5]", None),
    ];

    #[test]
    fn captured_lines_classify_into_their_reasons() {
        for (line, reason) in CAPTURED {
            assert_eq!(classify(line), *reason, "{line}");
        }
    }

    fn log(name: &str, unique: u64, msg: &str) -> Message {
        Message::new()
            .kv("group", "IKE")
            .kv("level", "1")
            .kv("thread", "14")
            .kv("ikesa-name", name)
            .kv("ikesa-uniqueid", unique.to_string())
            .kv("msg", msg)
    }

    fn updown(name: &str, up: bool) -> Message {
        let sa = Message::new().kv("local-host", "192.0.2.1").kv("remote-host", "192.0.2.2");
        let m = Message::new().section(name, sa);
        if up {
            m.kv("up", "yes")
        } else {
            m
        }
    }

    #[test]
    fn a_named_failure_is_the_connections_until_it_comes_up() {
        let id = Uuid::from_u128(1);
        let mut j = Journal::default();
        j.set_peers([(id, "192.0.2.2".to_owned())]);
        let name = id.to_string();
        j.record("log", &log(&name, 3, "initiating IKE_SA x[3] to 192.0.2.2"), 1);
        j.record("log", &log(&name, 3, "received AUTHENTICATION_FAILED notify error"), 2);
        j.record("log", &log(&name, 3, "retransmit 1 of request with message ID 0"), 3);
        assert_eq!(j.failure(id), Some(DownReason::AuthFailed));
        let events = j.events(id);
        assert_eq!(events.len(), 2, "the retransmit is no event: {events:?}");
        assert_eq!(events[1].reason, Some(DownReason::AuthFailed));
        assert!(events[0].seq < events[1].seq);
        j.record("ike-updown", &updown(&name, true), 4);
        assert_eq!(j.failure(id), Some(DownReason::AuthFailed), "up for a moment: the engine decides");
        assert_eq!(j.events(id).last().map(|e| e.kind), Some(EventKind::IkeUp));
        j.clear_failure(id);
        assert_eq!(j.failure(id), None, "up in a pass: the failure is over");
        j.record("ike-updown", &updown("another-conn", true), 5);
        assert_eq!(j.events(id).len(), 3, "other connections' events are not this one's");
    }

    #[test]
    fn an_unnamed_ike_sa_is_attributed_by_the_peer_that_opened_it() {
        let (one, two, other) = (Uuid::from_u128(1), Uuid::from_u128(2), Uuid::from_u128(3));
        let mut j = Journal::default();
        j.set_peers([(one, "192.0.2.1".to_owned()), (two, "192.0.2.1".to_owned()), (other, "192.0.2.9".to_owned())]);
        j.record("log", &log("(unnamed)", 8, "192.0.2.1 is initiating an IKE_SA"), 1);
        j.record("log", &log("(unnamed)", 8, "received proposals unacceptable"), 2);
        assert_eq!(j.failure(one), Some(DownReason::NoProposalChosen));
        assert_eq!(j.failure(two), Some(DownReason::NoProposalChosen));
        assert_eq!(j.failure(other), None);
        j.record("log", &log("(unnamed)", 99, "received proposals unacceptable"), 3);
        assert_eq!(j.events(other).len(), 0, "an IKE_SA of unknown origin is nobody's");
    }

    #[test]
    fn a_peer_that_tried_before_its_connection_was_loaded_is_remembered() {
        let mut j = Journal::default();
        j.record("log", &log("(unnamed)", 4, "192.0.2.1 is initiating an IKE_SA"), 900);
        assert!(!j.unmatched_attempt_since("192.0.2.1", 0), "an attempt that may match is none");
        // No connection is loaded for 192.0.2.1 yet (charon 5.9.8's line, lab).
        let line = "no IKE config found for 192.0.2.2...192.0.2.1, sending NO_PROPOSAL_CHOSEN";
        j.record("log", &log("(unnamed)", 4, line), 1_000);
        assert!(j.unmatched_attempt_since("192.0.2.1", 1_000));
        assert!(!j.unmatched_attempt_since("192.0.2.1", 1_001), "only at or after the given time");
        assert!(!j.unmatched_attempt_since("192.0.2.2", 0), "the local address is no peer");
    }

    #[test]
    fn a_delete_after_an_authentication_failure_does_not_change_the_reason() {
        let id = Uuid::from_u128(1);
        let mut j = Journal::default();
        j.set_peers([(id, "192.0.2.1".to_owned())]);
        let name = id.to_string();
        // The side presenting an untrusted certificate, responding (lab, charon 5.9.8): its
        // IKE_SA is up, then the peer says AUTH_FAILED and deletes it; then it initiates.
        j.record("ike-updown", &updown(&name, true), 1);
        j.record("log", &log(&name, 3, "parsed INFORMATIONAL request 2 [ N(AUTH_FAILED) ]"), 2);
        j.record("log", &log(&name, 3, "received DELETE for IKE_SA c1[3]"), 3);
        assert_eq!(j.failure(id), Some(DownReason::AuthFailed));
        j.record("log", &log(&name, 4, "received AUTHENTICATION_FAILED notify error"), 4);
        j.record("ike-updown", &updown(&name, true), 5);
        j.record("log", &log(&name, 5, "received DELETE for IKE_SA c1[5]"), 6);
        assert_eq!(j.failure(id), Some(DownReason::AuthFailed), "the same cause, the same reason");
        // A DELETE alone (nothing failed before) is the peer closing the tunnel.
        j.clear_failure(id);
        j.record("log", &log(&name, 6, "received DELETE for IKE_SA c1[6]"), 7);
        assert_eq!(j.failure(id), Some(DownReason::PeerDeleted));
        // A new cause replaces it.
        j.record("log", &log(&name, 7, "giving up after 2 retransmits"), 8);
        assert_eq!(j.failure(id), Some(DownReason::PeerUnreachable));
    }

    #[test]
    fn a_child_sa_refused_on_a_shared_ike_sa_is_its_own_connections_failure() {
        let (a, b) = (Uuid::from_u128(1), Uuid::from_u128(2));
        let mut j = Journal::default();
        j.set_peers([(a, "192.0.2.2".to_owned()), (b, "192.0.2.2".to_owned())]);
        // B's CHILD_SA goes over A's IKE_SA (same peer, same identities); the peer refuses it.
        j.record("log", &log(&a.to_string(), 5, &format!("establishing CHILD_SA {b}{{7}}")), 1);
        j.record("log", &log(&a.to_string(), 5, "received TS_UNACCEPTABLE notify, no CHILD_SA built"), 2);
        assert_eq!(j.failure(b), Some(DownReason::TsUnacceptable));
        assert_eq!(j.failure(a), None, "A's own tunnel is fine");
        // An IKE-level failure on the shared IKE_SA stays the IKE_SA's.
        j.record("log", &log(&a.to_string(), 5, "received AUTHENTICATION_FAILED notify error"), 3);
        assert_eq!(j.failure(a), Some(DownReason::AuthFailed));
    }

    #[test]
    fn repeats_are_kept_once_and_the_ring_is_bounded() {
        let id = Uuid::from_u128(1);
        let mut j = Journal::default();
        j.set_peers([(id, "192.0.2.9".to_owned())]);
        let name = id.to_string();
        for n in 2..10 {
            j.record("log", &log(&name, 2, &format!("peer not responding, trying again ({n}/0)")), n);
        }
        assert_eq!(j.events(id).len(), 1);
        for n in 0..(KEEP as i64 + 20) {
            let msg =
                if n % 2 == 0 { "received DELETE for IKE_SA c1[1]" } else { "initiating IKE_SA c1[1] to 192.0.2.9" };
            j.record("ike-updown", &updown(&name, n % 3 == 0), n);
            j.record("log", &log(&name, 2, msg), n);
        }
        assert!(j.events(id).len() <= KEEP);
        j.set_peers([]);
        assert!(j.events(id).is_empty() && j.failure(id).is_none(), "a connection gone is forgotten");
    }

    #[test]
    fn long_messages_are_cut() {
        let id = Uuid::from_u128(1);
        let mut j = Journal::default();
        j.set_peers([(id, "192.0.2.2".to_owned())]);
        let long = format!("received AUTHENTICATION_FAILED notify error {}", "x".repeat(500));
        j.record("log", &log(&id.to_string(), 1, &long), 1);
        assert_eq!(j.events(id)[0].message.chars().count(), MAX_EVENT_MESSAGE);
    }
}
