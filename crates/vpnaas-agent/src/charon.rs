//! The IKE daemon behind a small trait, its VICI implementation, and the mapping of what charon shows to a connection's status.

use std::fmt;
use std::future::Future;
use std::time::Duration;

use vpnaas_core::algorithms::Status;
use vpnaas_core::contract::Counters;

use crate::reconcile::Tunnel;
use vpnaas_strongswan::render::Capabilities;
use vpnaas_strongswan::vici::{self, Client, Message, ViciError};

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CharonError {
    /// charon understood and said no (`success = no`, its `errmsg`), or does not know the command.
    Refused(String),
    /// The socket failed: charon is down or restarting. Nothing is known about its state.
    Unreachable(String),
}

impl fmt::Display for CharonError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CharonError::Refused(why) => write!(f, "charon refused: {why}"),
            CharonError::Unreachable(why) => write!(f, "charon unreachable: {why}"),
        }
    }
}

/// One IKE_SA as `list-sas` shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IkeSa {
    /// The IKE config name: the connection id.
    pub name: String,
    pub unique_id: u64,
    pub state: String,
    pub children: Vec<ChildSa>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChildSa {
    pub name: String,
    pub unique_id: u64,
    pub state: String,
    pub counters: Counters,
}

/// What the agent asks of charon. Every call is one VICI command.
pub trait Charon: Send {
    /// Loaded algorithms and plugins.
    fn capabilities(&mut self) -> impl Future<Output = Result<Capabilities, CharonError>> + Send;
    /// The names of the connections loaded over VICI (`get-conns`).
    fn conns(&mut self) -> impl Future<Output = Result<Vec<String>, CharonError>> + Send;
    /// The ids of the shared secrets loaded over VICI (`get-shared`).
    fn shared(&mut self) -> impl Future<Output = Result<Vec<String>, CharonError>> + Send;
    fn load_conn(&mut self, conn: &Message) -> impl Future<Output = Result<(), CharonError>> + Send;
    fn unload_conn(&mut self, name: &str) -> impl Future<Output = Result<(), CharonError>> + Send;
    fn load_shared(&mut self, secret: &Message) -> impl Future<Output = Result<(), CharonError>> + Send;
    fn unload_shared(&mut self, id: &str) -> impl Future<Output = Result<(), CharonError>> + Send;
    /// `load-key` or `load-cert` (ADR 0017); answers a loaded key's id. A charon that only
    /// ever sees pre-shared keys (the test doubles) need not implement it.
    fn load_credential(
        &mut self,
        command: &'static str,
        message: &Message,
    ) -> impl Future<Output = Result<Option<String>, CharonError>> + Send {
        let _ = (command, message);
        async { Err(CharonError::Refused("this charon takes no certificates".to_owned())) }
    }
    /// `unload-key` by the id `load-key` answered.
    fn unload_key(&mut self, id: &str) -> impl Future<Output = Result<(), CharonError>> + Send {
        let _ = id;
        async { Ok(()) }
    }
    /// Starts bringing up a CHILD_SA of an IKE config; returns without waiting for it.
    fn initiate(&mut self, ike: &str, child: &str) -> impl Future<Output = Result<(), CharonError>> + Send;
    /// Deletes every IKE_SA of an IKE config (and so its CHILD_SAs), telling the peer;
    /// waits a little for the peer's acknowledgement.
    fn terminate(&mut self, ike: &str) -> impl Future<Output = Result<(), CharonError>> + Send;
    fn list_sas(&mut self) -> impl Future<Output = Result<Vec<IkeSa>, CharonError>> + Send;
    /// Deletes one IKE_SA by its unique id (and its CHILD_SAs), telling the peer.
    fn terminate_ike_sa(&mut self, unique_id: u64) -> impl Future<Output = Result<(), CharonError>> + Send {
        let _ = unique_id;
        async { Err(CharonError::Refused("this charon cannot terminate one IKE_SA".to_owned())) }
    }
    /// Where charon's VICI events can be subscribed to (ADR 0018); test doubles have none.
    fn events_uri(&self) -> Option<String> {
        None
    }
}

/// How long an unload waits for the peer to acknowledge the deletion of its SAs.
pub const TERMINATE_WAIT: Duration = Duration::from_secs(2);

/// `Charon` over a VICI socket. It connects on first use and again after any socket
/// failure (charon restarted), so it survives charon's restarts.
pub struct ViciCharon {
    uri: String,
    timeout: Duration,
    client: Option<Client>,
}

impl ViciCharon {
    /// `uri` is `unix:///path`; every command fails after `timeout`.
    pub fn new(uri: &str, timeout: Duration) -> Result<ViciCharon, ViciError> {
        vici::socket_path(uri)?;
        Ok(ViciCharon { uri: uri.to_owned(), timeout, client: None })
    }

    async fn client(&mut self) -> Result<&mut Client, CharonError> {
        if self.client.is_none() {
            let client =
                Client::connect(&self.uri, self.timeout).await.map_err(|e| CharonError::Unreachable(e.to_string()))?;
            self.client = Some(client);
        }
        self.client.as_mut().ok_or_else(|| CharonError::Unreachable("not connected".to_owned()))
    }

    fn fail(&mut self, e: ViciError) -> CharonError {
        match e {
            // A complete, valid answer: the connection is still in step.
            ViciError::UnknownCommand(_) | ViciError::UnknownEvent(_) => CharonError::Refused(e.to_string()),
            _ => {
                self.client = None;
                CharonError::Unreachable(e.to_string())
            }
        }
    }

    async fn call(&mut self, command: &str, message: Message) -> Result<Message, CharonError> {
        let result = self.client().await?.request(command, message).await;
        result.map_err(|e| self.fail(e))
    }

    /// A command whose answer is `success`/`errmsg`.
    async fn command(&mut self, command: &str, message: Message) -> Result<(), CharonError> {
        self.call(command, message).await?.check_success().map_err(|r| CharonError::Refused(r.errmsg))
    }
}

impl Charon for ViciCharon {
    async fn capabilities(&mut self) -> Result<Capabilities, CharonError> {
        let algorithms = self.call("get-algorithms", Message::new()).await?;
        let stats = self.call("stats", Message::new()).await?;
        Ok(Capabilities::from_answers(&algorithms, &stats))
    }

    async fn conns(&mut self) -> Result<Vec<String>, CharonError> {
        Ok(self.call("get-conns", Message::new()).await?.strings("conns"))
    }

    async fn shared(&mut self) -> Result<Vec<String>, CharonError> {
        Ok(self.call("get-shared", Message::new()).await?.strings("keys"))
    }

    async fn load_conn(&mut self, conn: &Message) -> Result<(), CharonError> {
        self.command("load-conn", conn.clone()).await
    }

    async fn unload_conn(&mut self, name: &str) -> Result<(), CharonError> {
        self.command("unload-conn", Message::new().kv("name", name)).await
    }

    async fn load_shared(&mut self, secret: &Message) -> Result<(), CharonError> {
        self.command("load-shared", secret.clone()).await
    }

    async fn unload_shared(&mut self, id: &str) -> Result<(), CharonError> {
        self.command("unload-shared", Message::new().kv("id", id)).await
    }

    async fn load_credential(
        &mut self,
        command: &'static str,
        message: &Message,
    ) -> Result<Option<String>, CharonError> {
        let answer = self.call(command, message.clone()).await?;
        answer.check_success().map_err(|r| CharonError::Refused(r.errmsg))?;
        Ok(answer.str("id"))
    }

    async fn unload_key(&mut self, id: &str) -> Result<(), CharonError> {
        self.command("unload-key", Message::new().kv("id", id)).await
    }

    async fn initiate(&mut self, ike: &str, child: &str) -> Result<(), CharonError> {
        // timeout -1: answer at once; the outcome shows in list-sas (vici README).
        self.command("initiate", Message::new().kv("ike", ike).kv("child", child).kv("timeout", "-1")).await
    }

    async fn terminate(&mut self, ike: &str) -> Result<(), CharonError> {
        // Wait for the DELETE exchange: an unload-conn that follows at once destroys SAs still
        // in DELETING "without notification" (measured), and the peer would only learn of it
        // by dead peer detection seconds later. A dead peer costs at most this timeout.
        let timeout = TERMINATE_WAIT.as_millis().to_string();
        self.command("terminate", Message::new().kv("ike", ike).kv("timeout", timeout)).await
    }

    async fn terminate_ike_sa(&mut self, unique_id: u64) -> Result<(), CharonError> {
        let timeout = TERMINATE_WAIT.as_millis().to_string();
        self.command("terminate", Message::new().kv("ike-id", unique_id.to_string()).kv("timeout", timeout)).await
    }

    fn events_uri(&self) -> Option<String> {
        Some(self.uri.clone())
    }

    async fn list_sas(&mut self) -> Result<Vec<IkeSa>, CharonError> {
        let result = self.client().await?.streamed("list-sas", "list-sa", Message::new()).await;
        let (events, _) = result.map_err(|e| self.fail(e))?;
        Ok(parse_list_sa(&events))
    }
}

/// The `list-sa` events of one `list-sas`: each carries one IKE_SA, keyed by its config name.
pub fn parse_list_sa(events: &[Message]) -> Vec<IkeSa> {
    let number = |m: &Message, key: &str| m.str(key).and_then(|v| v.parse::<u64>().ok()).unwrap_or(0);
    let mut out = Vec::new();
    for event in events {
        for (name, ike) in event.sections() {
            let children = ike
                .sub("child-sas")
                .map(|c| {
                    c.sections()
                        .map(|(key, child)| ChildSa {
                            // Sections are `<name>-<uniqueid>` since 5.3; `name` holds the config name.
                            name: child.str("name").unwrap_or_else(|| key.to_owned()),
                            unique_id: number(child, "uniqueid"),
                            state: child.str("state").unwrap_or_default(),
                            counters: Counters {
                                bytes_in: number(child, "bytes-in"),
                                bytes_out: number(child, "bytes-out"),
                                packets_in: number(child, "packets-in"),
                                packets_out: number(child, "packets-out"),
                            },
                        })
                        .collect()
                })
                .unwrap_or_default();
            out.push(IkeSa {
                name: name.to_owned(),
                unique_id: number(ike, "uniqueid"),
                state: ike.str("state").unwrap_or_default(),
                children,
            });
        }
    }
    out
}

/// The tunnel of one connection from all its IKE_SAs: installed if any CHILD_SA is
/// (the reference's `INSTALLED` → ACTIVE), busy while anything is on its way.
pub fn tunnel<'a>(sas: impl IntoIterator<Item = &'a IkeSa>) -> Tunnel {
    let mut best = Tunnel::None;
    for ike in sas {
        let here = if ike.children.iter().any(|c| c.state == "INSTALLED") {
            Tunnel::Installed
        } else if ike.state == "ESTABLISHED" && ike.children.is_empty() {
            Tunnel::NoChild
        } else if matches!(ike.state.as_str(), "DESTROYING") && ike.children.is_empty() {
            Tunnel::None
        } else {
            // CONNECTING, REKEYING, DELETING, ... or children being installed/rekeyed/deleted.
            Tunnel::Busy
        };
        best = best.max(here);
    }
    best
}

/// Traffic of the installed CHILD_SAs of a connection.
pub fn counters<'a>(sas: impl IntoIterator<Item = &'a IkeSa>) -> Counters {
    let mut total = Counters::default();
    for child in sas.into_iter().flat_map(|ike| ike.children.iter()).filter(|c| c.state == "INSTALLED") {
        total.bytes_in += child.counters.bytes_in;
        total.bytes_out += child.counters.bytes_out;
        total.packets_in += child.counters.packets_in;
        total.packets_out += child.counters.packets_out;
    }
    total
}

/// What the gateway did with a connection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Not loaded on purpose: disabled, or the standby member of a pair.
    Stopped,
    /// Not loadable: cannot be rendered, beyond this charon, or refused by charon.
    Refused(String),
    /// Loaded; its tunnel as charon shows it.
    Running(Tunnel),
}

/// ADR 0003: ACTIVE when a CHILD_SA is installed, DOWN when loaded but not established or
/// unloaded on purpose, ERROR (with the reason) when charon cannot or will not run it.
pub fn status(outcome: &Outcome) -> (Status, Option<String>) {
    match outcome {
        Outcome::Running(Tunnel::Installed) => (Status::Active, None),
        Outcome::Running(_) | Outcome::Stopped => (Status::Down, None),
        Outcome::Refused(reason) => (Status::Error, Some(reason.clone())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn child(state: &str, bytes: u64) -> Message {
        Message::new()
            .kv("name", "c1")
            .kv("uniqueid", "4")
            .kv("state", state)
            .kv("bytes-in", bytes.to_string())
            .kv("bytes-out", "10")
            .kv("packets-in", "2")
            .kv("packets-out", "1")
    }

    fn event(name: &str, id: &str, state: &str, children: Message) -> Message {
        Message::new().section(
            name,
            Message::new().kv("uniqueid", id).kv("version", "2").kv("state", state).section("child-sas", children),
        )
    }

    #[test]
    fn list_sa_events_parse_into_ike_and_child_sas() {
        let events = [
            event("c1", "3", "ESTABLISHED", Message::new().section("c1-4", child("INSTALLED", 84))),
            event("c2", "5", "CONNECTING", Message::new()),
        ];
        let sas = parse_list_sa(&events);
        assert_eq!(sas.len(), 2);
        assert_eq!(sas[0].name, "c1");
        assert_eq!(sas[0].unique_id, 3);
        assert_eq!(sas[0].children[0].name, "c1");
        assert_eq!(
            sas[0].children[0].counters,
            Counters { bytes_in: 84, bytes_out: 10, packets_in: 2, packets_out: 1 }
        );
        assert_eq!(sas[1].state, "CONNECTING");
        assert!(sas[1].children.is_empty());
    }

    #[test]
    fn tunnel_states_map_to_statuses() {
        let sa = |state: &str, children: &[&str]| IkeSa {
            name: "c".into(),
            unique_id: 1,
            state: state.into(),
            children: children
                .iter()
                .map(|s| ChildSa { name: "c".into(), unique_id: 2, state: (*s).into(), counters: Counters::default() })
                .collect(),
        };
        let table: Vec<(Vec<IkeSa>, Tunnel, Status)> = vec![
            (vec![], Tunnel::None, Status::Down),
            (vec![sa("CONNECTING", &[])], Tunnel::Busy, Status::Down),
            (vec![sa("ESTABLISHED", &["INSTALLING"])], Tunnel::Busy, Status::Down),
            (vec![sa("ESTABLISHED", &[])], Tunnel::NoChild, Status::Down),
            (vec![sa("ESTABLISHED", &["INSTALLED"])], Tunnel::Installed, Status::Active),
            (vec![sa("ESTABLISHED", &["REKEYED", "INSTALLED"])], Tunnel::Installed, Status::Active),
            (vec![sa("DELETING", &["DELETING"])], Tunnel::Busy, Status::Down),
            (vec![sa("CONNECTING", &[]), sa("ESTABLISHED", &["INSTALLED"])], Tunnel::Installed, Status::Active),
        ];
        for (sas, expected, status_expected) in table {
            let t = tunnel(&sas);
            assert_eq!(t, expected, "{sas:?}");
            assert_eq!(status(&Outcome::Running(t)).0, status_expected);
        }
        assert_eq!(status(&Outcome::Stopped), (Status::Down, None));
        assert_eq!(status(&Outcome::Refused("no GCM".into())), (Status::Error, Some("no GCM".into())));
    }

    #[test]
    fn counters_add_up_installed_children_only() {
        let events = [event(
            "c1",
            "3",
            "ESTABLISHED",
            Message::new().section("c1-4", child("INSTALLED", 100)).section("c1-5", child("REKEYED", 7)),
        )];
        let sas = parse_list_sa(&events);
        assert_eq!(counters(&sas).bytes_in, 100);
        assert_eq!(counters(&sas).packets_out, 1);
    }

    #[test]
    fn the_vici_uri_is_checked_up_front() {
        assert!(ViciCharon::new("unix:///run/charon.vici", Duration::from_secs(1)).is_ok());
        assert!(ViciCharon::new("/run/charon.vici", Duration::from_secs(1)).is_err());
    }
}
