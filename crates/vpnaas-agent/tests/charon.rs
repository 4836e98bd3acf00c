//! The agent library against real charons: two sites in network namespaces, a tunnel brought up, left alone, restarted, taken down and refused.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code may panic

use std::time::{Duration, Instant};

use uuid::Uuid;
use vpnaas_agent::charon::{Charon, CharonError, ViciCharon};
use vpnaas_agent::engine::{Engine, Step};
use vpnaas_agent::reconcile::Action;
use vpnaas_agent::testbed::{self, Site, TwoSites};
use vpnaas_core::algorithms::{
    AuthAlgorithm, DpdAction, EncapsulationMode, EncryptionAlgorithm, IkeVersion, Initiator, Pfs, Status,
};
use vpnaas_core::contract::{DesiredConnection, IkeProposal, IpsecProposal};
use vpnaas_core::values::{Cidr, Dpd, PeerAddress, Psk};
use vpnaas_strongswan::swanctl::swanctl_conf;
use vpnaas_strongswan::vici::{Client, Message};

/// The lab, or `None` after printing why it cannot run here. Under `CI` it must run.
fn lab(test: &str) -> Option<TwoSites> {
    if let Some(reason) = testbed::unavailable() {
        let ci = std::env::var("CI").is_ok_and(|v| !v.is_empty());
        assert!(!ci, "{test}: {reason} (CI is set: run .ci/strongswan.sh as root)");
        eprintln!("SKIPPED {test}: {reason}");
        return None;
    }
    Some(TwoSites::start().unwrap_or_else(|e| panic!("{test}: building the lab: {e}")))
}

/// A site's side of the tunnel, as the server would send it.
fn connection(id: Uuid, local: &Site, peer: &Site, psk: &str) -> DesiredConnection {
    let ike = IkeProposal {
        auth_algorithm: AuthAlgorithm::Sha256,
        encryption_algorithm: EncryptionAlgorithm::Aes256,
        ike_version: IkeVersion::V2,
        pfs: Pfs::Group14,
        ..IkeProposal::default()
    };
    let ipsec = IpsecProposal {
        auth_algorithm: AuthAlgorithm::Sha256,
        encryption_algorithm: EncryptionAlgorithm::Aes256,
        pfs: Pfs::Group14,
        ..IpsecProposal::default()
    };
    DesiredConnection {
        id,
        vpnservice_id: Uuid::new_v4(),
        revision: 1,
        enabled: true,
        ike,
        ipsec,
        psk: Some(Psk::parse(psk).unwrap()),
        certs: None,
        local_id: local.wan.to_owned(),
        local_address: local.wan.parse().unwrap(),
        peer_address: PeerAddress::parse(peer.wan).unwrap(),
        peer_id: peer.wan.to_owned(),
        local_cidrs: vec![Cidr::parse(local.lan).unwrap()],
        peer_cidrs: vec![Cidr::parse(peer.lan).unwrap()],
        // A dead peer is noticed in seconds with the lab's retransmission settings.
        dpd: Dpd { action: DpdAction::Restart, interval: 2, timeout: 10 },
        mtu: 1500,
        initiator: Initiator::BiDirectional,
        ha: None,
        options: Default::default(),
    }
}

/// One side of the tunnel: what the agent of that gateway holds.
struct Agent {
    engine: Engine,
    charon: ViciCharon,
    desired: Vec<DesiredConnection>,
}

impl Agent {
    fn new(site: &Site, desired: Vec<DesiredConnection>) -> Agent {
        Agent {
            engine: Engine::new(Duration::from_secs(2)),
            charon: ViciCharon::new(&site.vici, Duration::from_secs(5)).unwrap(),
            desired,
        }
    }

    async fn step(&mut self) -> Result<Step, CharonError> {
        self.engine.step(&mut self.charon, &self.desired).await
    }

    fn status(step: &Step) -> Status {
        step.statuses[0].status
    }
}

fn ike_ids(step: &Step) -> Vec<u64> {
    let mut ids: Vec<u64> = step.sas.iter().map(|s| s.unique_id).collect();
    ids.sort();
    ids
}

/// Steps both agents (a real agent does every few seconds) until `done` holds for both
/// last steps, or panics with both charon logs after `within`.
async fn converge(
    lab: &TwoSites,
    a: &mut Agent,
    b: &mut Agent,
    within: Duration,
    what: &str,
    done: impl Fn(&Step, &Step) -> bool,
) -> (Step, Step, Vec<Action>, Vec<Action>) {
    let deadline = Instant::now() + within;
    let (mut actions_a, mut actions_b) = (Vec::new(), Vec::new());
    loop {
        let (sa, sb) = (a.step().await, b.step().await);
        if let (Ok(sa), Ok(sb)) = (&sa, &sb) {
            actions_a.extend(sa.actions.iter().copied());
            actions_b.extend(sb.actions.iter().copied());
            if done(sa, sb) {
                return (sa.clone(), sb.clone(), actions_a, actions_b);
            }
        }
        if Instant::now() > deadline {
            panic!(
                "{what}: not within {within:?}: A {sa:?}\nB {sb:?}\n--- A log\n{}\n--- B log\n{}",
                lab.a.log(),
                lab.b.log()
            );
        }
        tokio::time::sleep(Duration::from_millis(150)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tunnel_comes_up_is_left_alone_survives_restarts_and_goes_down_when_disabled() {
    let test = "a_tunnel_comes_up_is_left_alone_survives_restarts_and_goes_down_when_disabled";
    let Some(mut lab) = lab(test) else { return };
    let psk = "lab-only-psk-0123456789abcdef";
    let (id_a, id_b) = (Uuid::new_v4(), Uuid::new_v4());
    let mut a = Agent::new(&lab.a, vec![connection(id_a, &lab.a, &lab.b, psk)]);
    let mut b = Agent::new(&lab.b, vec![connection(id_b, &lab.b, &lab.a, psk)]);

    // Up: each agent loads its side; the CHILD_SA is installed on both.
    let started = Instant::now();
    let both_active = |sa: &Step, sb: &Step| Agent::status(sa) == Status::Active && Agent::status(sb) == Status::Active;
    let (sa, sb, actions_a, actions_b) =
        converge(&lab, &mut a, &mut b, Duration::from_secs(15), "bring-up", both_active).await;
    println!("tunnel up in {:?}", started.elapsed());
    assert_eq!(actions_a.first(), Some(&Action::Load(id_a)));
    assert_eq!(actions_b.first(), Some(&Action::Load(id_b)));
    let installed = |step: &Step, id: Uuid| {
        step.sas.iter().any(|s| s.name == id.to_string() && s.children.iter().any(|c| c.state == "INSTALLED"))
    };
    assert!(installed(&sa, id_a) && installed(&sb, id_b), "list-sas shows the CHILD_SA INSTALLED on both");
    assert!(lab.ping_a_to_b(), "ping through the tunnel");
    let counted = a.step().await.unwrap();
    assert!(counted.statuses[0].counters.packets_out > 0, "counters move: {:?}", counted.statuses[0].counters);

    // The same desired state again, for over a second (charon's clock-derived fields
    // jitter across second boundaries): nothing is loaded, unloaded or initiated; same IKE_SAs.
    let (ids_a, ids_b) = (ike_ids(&sa), ike_ids(&sb));
    for _ in 0..5 {
        tokio::time::sleep(Duration::from_millis(300)).await;
        let (again_a, again_b) = (a.step().await.unwrap(), b.step().await.unwrap());
        assert_eq!(again_a.actions, vec![], "re-applying touches nothing on A");
        assert_eq!(again_b.actions, vec![], "re-applying touches nothing on B");
        assert_eq!((ike_ids(&again_a), ike_ids(&again_b)), (ids_a.clone(), ids_b.clone()), "same IKE_SAs");
        assert_eq!((Agent::status(&again_a), Agent::status(&again_b)), (Status::Active, Status::Active));
    }

    // A restarted agent (fresh memory) loads its connection again; charon keeps the tunnel
    // of a config loaded unchanged.
    a.engine = Engine::new(Duration::from_secs(2));
    let adopted = a.step().await.unwrap();
    assert_eq!(adopted.actions, vec![Action::Load(id_a)]);
    assert_eq!(ike_ids(&adopted), ids_a, "the tunnel survives an agent restart");
    assert_eq!(Agent::status(&adopted), Status::Active);
    assert_eq!(a.step().await.unwrap().actions, vec![]);
    assert!(lab.ping_a_to_b(), "ping after the agent restart");

    // charon on B crashes and comes back empty: B's agent loads everything again.
    lab.b.kill_charon();
    lab.b.start_charon().unwrap();
    let (_, _, _, actions_b) =
        converge(&lab, &mut a, &mut b, Duration::from_secs(15), "recovery after a charon restart", both_active).await;
    assert!(actions_b.contains(&Action::Load(id_b)), "B reloaded after its charon restarted: {actions_b:?}");
    assert!(lab.ping_a_to_b(), "ping after the charon restart");

    // B is disabled: unloaded and DOWN on B, and A's tunnel is gone with it.
    b.desired[0].enabled = false;
    let down = b.step().await.unwrap();
    assert_eq!(down.actions, vec![Action::Unload(id_b)]);
    assert_eq!(Agent::status(&down), Status::Down);
    let conns = b.charon.conns().await.unwrap();
    assert!(!conns.contains(&id_b.to_string()), "unloaded from charon: {conns:?}");
    let a_down = |sa: &Step, sb: &Step| Agent::status(sa) != Status::Active && Agent::status(sb) == Status::Down;
    // B said goodbye (IKE DELETE), so A knows at once, not after dead peer detection (~6 s).
    let (sa, _, _, _) = converge(&lab, &mut a, &mut b, Duration::from_secs(3), "A notices B left", a_down).await;
    assert_eq!(Agent::status(&sa), Status::Down);
    assert!(!lab.ping_a_to_b(), "no tunnel, no ping");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrong_psk_never_comes_up_and_what_charon_cannot_do_is_an_error() {
    let test = "a_wrong_psk_never_comes_up_and_what_charon_cannot_do_is_an_error";
    let Some(lab) = lab(test) else { return };
    let (id_a, id_b) = (Uuid::new_v4(), Uuid::new_v4());
    let mut a = Agent::new(&lab.a, vec![connection(id_a, &lab.a, &lab.b, "one-psk-for-a")]);
    let mut b = Agent::new(&lab.b, vec![connection(id_b, &lab.b, &lab.a, "another-psk-for-b")]);

    // Both load and try (charon keeps trying, the agents re-initiate every 2 s); never ACTIVE.
    let until = Instant::now() + Duration::from_secs(5);
    let mut tried = (false, false);
    while Instant::now() < until {
        let (sa, sb) = (a.step().await.unwrap(), b.step().await.unwrap());
        tried.0 |= sa.actions.contains(&Action::Load(id_a));
        tried.1 |= sb.actions.contains(&Action::Load(id_b));
        assert_eq!(Agent::status(&sa), Status::Down, "A with a wrong PSK: {sa:?}");
        assert_eq!(Agent::status(&sb), Status::Down, "B with a wrong PSK: {sb:?}");
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    assert!(tried.0 && tried.1, "both sides loaded and tried");
    assert!(lab.a.log().contains("AUTHENTICATION_FAILED") || lab.b.log().contains("AUTHENTICATION_FAILED"));
    assert!(!lab.ping_a_to_b());

    // What this charon cannot do is refused before loading, with a reason (lab plugins: no GCM, no ECP, no AH or transport in libipsec).
    let gcm = {
        let mut c = connection(Uuid::new_v4(), &lab.a, &lab.b, "x-psk");
        c.ipsec.encryption_algorithm = EncryptionAlgorithm::Aes128Gcm16;
        c
    };
    let ecp = {
        let mut c = connection(Uuid::new_v4(), &lab.a, &lab.b, "x-psk");
        c.ike.pfs = Pfs::Group19;
        c
    };
    let transport = {
        let mut c = connection(Uuid::new_v4(), &lab.a, &lab.b, "x-psk");
        c.ipsec.encapsulation_mode = EncapsulationMode::Transport;
        c
    };
    let mut refused = Agent::new(&lab.a, vec![gcm.clone(), ecp.clone(), transport.clone()]);
    let step = refused.step().await.unwrap();
    let expected = [("AES_GCM_16", gcm.id), ("ECP_256", ecp.id), ("kernel-libipsec", transport.id)];
    for (s, (needle, id)) in step.statuses.iter().zip(expected) {
        assert_eq!((s.id, s.status), (id, Status::Error));
        assert!(s.reason.as_deref().unwrap_or_default().contains(needle), "{:?}", s.reason);
    }
    assert!(step.actions.iter().all(|a| matches!(a, Action::Unload(_))), "nothing new is loaded: {:?}", step.actions);
    let conns = refused.charon.conns().await.unwrap();
    assert!(!conns.contains(&gcm.id.to_string()), "{conns:?}");

    // And what charon itself refuses comes back as its errmsg.
    let mut charon = ViciCharon::new(&lab.a.vici, Duration::from_secs(5)).unwrap();
    let bogus = Message::new().section("bogus", Message::new().list("proposals", ["no-such-algorithm"]));
    match charon.load_conn(&bogus).await {
        Err(CharonError::Refused(why)) => assert!(why.contains("proposals"), "{why}"),
        other => panic!("charon accepted a bogus proposal: {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_vici_client_streams_list_conns_from_a_real_charon() {
    let test = "the_vici_client_streams_list_conns_from_a_real_charon";
    let Some(lab) = lab(test) else { return };
    let id = Uuid::new_v4();
    let mut a = Agent::new(&lab.a, vec![connection(id, &lab.a, &lab.b, "some-psk")]);
    a.step().await.unwrap();
    let mut client = Client::connect(&lab.a.vici, Duration::from_secs(5)).await.unwrap();
    let version = client.request("version", Message::new()).await.unwrap();
    assert_eq!(version.str("daemon").as_deref(), Some("charon"));
    let (events, _) = client.streamed("list-conns", "list-conn", Message::new()).await.unwrap();
    let conn = events.iter().find_map(|e| e.sub(&id.to_string())).expect("the loaded connection is listed");
    assert_eq!(conn.strings("local_addrs"), vec!["192.0.2.1"]);
    assert_eq!(conn.strings("remote_addrs"), vec!["192.0.2.2"]);
    let child = conn.sub("children").and_then(|c| c.sub(&id.to_string())).expect("one child named by the id");
    assert_eq!(child.strings("local-ts"), vec!["10.1.0.0/24"]);
    assert_eq!(child.strings("remote-ts"), vec!["10.2.0.0/24"]);
    let shared = client.request("get-shared", Message::new()).await.unwrap();
    assert!(shared.strings("keys").contains(&id.to_string()), "{shared:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_swanctl_conf_rendering_loaded_by_swanctl_meets_the_agent_on_the_other_side() {
    let test = "a_swanctl_conf_rendering_loaded_by_swanctl_meets_the_agent_on_the_other_side";
    let Some(lab) = lab(test) else { return };
    let psk = "0x-looks-like-hex-but-is-text";
    let (id_a, id_b) = (Uuid::new_v4(), Uuid::new_v4());
    // Site A: the text, loaded by swanctl as an administrator would. Site B: the agent.
    let text = swanctl_conf(&connection(id_a, &lab.a, &lab.b, psk)).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("swanctl.conf");
    std::fs::write(&file, &text).unwrap();
    let out = std::process::Command::new("swanctl")
        .args(["--load-all", "--noprompt", "--uri", &lab.a.vici, "--file"])
        .arg(&file)
        .output()
        .unwrap();
    let said = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success(), "swanctl --load-all: {said}\n{text}");
    assert!(said.contains("loaded connection '") && said.contains("loaded ike secret 'ike-"), "{said}");

    let mut b = Agent::new(&lab.b, vec![connection(id_b, &lab.b, &lab.a, psk)]);
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let step = b.step().await.unwrap();
        if Agent::status(&step) == Status::Active {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "no tunnel: {step:?}\n--- A log\n{}\n--- B log\n{}",
            lab.a.log(),
            lab.b.log()
        );
        tokio::time::sleep(Duration::from_millis(150)).await;
    }
    assert!(lab.ping_a_to_b(), "ping through a tunnel of a swanctl.conf and a VICI rendering");
}
