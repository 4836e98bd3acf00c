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
    if has("authentication_failed")
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

    /// The connection is up (or was rebuilt): what failed before is over.
    pub fn clear_failure(&mut self, id: Uuid) {
        self.failures.remove(&id);
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
        let reason = classify(&msg);
        if reason.is_none() && !notable(&msg) {
            return;
        }
        for id in self.owners(message.str("ikesa-name").as_deref(), unique) {
            if let Some(r) = reason {
                self.failures.insert(id, r);
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
            if up {
                self.failures.remove(&id);
            }
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

fn now_micros() -> i64 {
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
        assert_eq!(j.failure(id), None, "up again: the failure is over");
        assert_eq!(j.events(id).last().map(|e| e.kind), Some(EventKind::IkeUp));
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
