//! A benchmark program: one real charon holding 1,000 connections; prints the time
//! of a full reconcile from an empty charon and the VICI calls of a one-connection change.
//!
//! Run as root: `cargo run --release -p vpnaas-agent --example scale [-- N]`. It uses the
//! two-site testbed and loads every connection into site A; the peers (in 192.0.2.0/24 on
//! the lab's own veth) need not answer. Connections are response-only, so the figure is the
//! load itself, not 1,000 initiations.

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr};
use std::time::{Duration, Instant};

use uuid::Uuid;
use vpnaas_agent::charon::{Charon, CharonError, IkeSa, ViciCharon};
use vpnaas_agent::engine::Engine;
use vpnaas_agent::testbed::{self, TwoSites};
use vpnaas_core::algorithms::*;
use vpnaas_core::contract::{DesiredConnection, IkeProposal, IpsecProposal};
use vpnaas_core::values::{Cidr, Dpd, PeerAddress, Psk};
use vpnaas_strongswan::render::Capabilities;
use vpnaas_strongswan::vici::Message;

/// Counts every call that reaches charon, by name.
struct Counting<C> {
    inner: C,
    calls: BTreeMap<&'static str, u64>,
}

impl<C: Charon> Counting<C> {
    fn count(&mut self, name: &'static str) {
        *self.calls.entry(name).or_default() += 1;
    }
    fn take(&mut self) -> BTreeMap<&'static str, u64> {
        std::mem::take(&mut self.calls)
    }
}

impl<C: Charon> Charon for Counting<C> {
    async fn capabilities(&mut self) -> Result<Capabilities, CharonError> {
        self.count("get-algorithms");
        self.inner.capabilities().await
    }
    async fn conns(&mut self) -> Result<Vec<String>, CharonError> {
        self.count("get-conns");
        self.inner.conns().await
    }
    async fn shared(&mut self) -> Result<Vec<String>, CharonError> {
        self.count("get-shared");
        self.inner.shared().await
    }
    async fn load_conn(&mut self, conn: &Message) -> Result<(), CharonError> {
        self.count("load-conn");
        self.inner.load_conn(conn).await
    }
    async fn unload_conn(&mut self, name: &str) -> Result<(), CharonError> {
        self.count("unload-conn");
        self.inner.unload_conn(name).await
    }
    async fn load_shared(&mut self, secret: &Message) -> Result<(), CharonError> {
        self.count("load-shared");
        self.inner.load_shared(secret).await
    }
    async fn unload_shared(&mut self, id: &str) -> Result<(), CharonError> {
        self.count("unload-shared");
        self.inner.unload_shared(id).await
    }
    async fn initiate(&mut self, ike: &str, child: &str) -> Result<(), CharonError> {
        self.count("initiate");
        self.inner.initiate(ike, child).await
    }
    async fn terminate(&mut self, ike: &str) -> Result<(), CharonError> {
        self.count("terminate");
        self.inner.terminate(ike).await
    }
    async fn list_sas(&mut self) -> Result<Vec<IkeSa>, CharonError> {
        self.count("list-sas");
        self.inner.list_sas().await
    }
}

fn connection(i: u32) -> Result<DesiredConnection, Box<dyn std::error::Error>> {
    let peer = Ipv4Addr::new(192, 0, 2, 10 + u8::try_from(i % 200)?);
    let peer_net = Ipv4Addr::from(u32::from(Ipv4Addr::new(100, 64, 0, 0)) + (i << 8));
    let lifetime_secs = 3600;
    Ok(DesiredConnection {
        id: Uuid::new_v4(),
        vpnservice_id: Uuid::nil(),
        revision: 1,
        enabled: true,
        ike: IkeProposal {
            auth_algorithm: AuthAlgorithm::Sha256,
            lifetime_secs,
            ike_version: IkeVersion::V2,
            pfs: Pfs::Group14,
            ..IkeProposal::default()
        },
        ipsec: IpsecProposal {
            auth_algorithm: AuthAlgorithm::Sha256,
            lifetime_secs,
            pfs: Pfs::Group14,
            ..IpsecProposal::default()
        },
        psk: Some(Psk::parse(&format!("scale-psk-{i}"))?),
        certs: None,
        local_id: format!("gw-{i}@scale"),
        local_address: IpAddr::V4(Ipv4Addr::new(192, 0, 2, 1)),
        peer_address: PeerAddress::Ip(IpAddr::V4(peer)),
        peer_id: format!("peer-{i}@scale"),
        local_cidrs: vec![Cidr::parse("10.1.0.0/24").map_err(|e| format!("{e:?}"))?],
        peer_cidrs: vec![Cidr::parse(&format!("{peer_net}/24")).map_err(|e| format!("{e:?}"))?],
        dpd: Dpd { action: DpdAction::Hold, interval: 30, timeout: 120 },
        mtu: 1500,
        initiator: Initiator::ResponseOnly,
        ha: None,
        options: Default::default(),
    })
}

fn show(calls: &BTreeMap<&'static str, u64>) -> String {
    let total: u64 = calls.values().sum();
    let parts: Vec<String> = calls.iter().map(|(k, v)| format!("{k} {v}")).collect();
    format!("{total} calls ({})", parts.join(", "))
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let n: u32 = std::env::args().nth(1).map_or(Ok(1000), |a| a.parse().map_err(|_| format!("not a count: {a}")))?;
    if let Some(why) = testbed::unavailable() {
        return Err(format!("cannot run: {why}").into());
    }
    let lab = TwoSites::start()?;
    let vici = ViciCharon::new(&lab.a.vici, Duration::from_secs(30))?;
    let mut charon = Counting { inner: vici, calls: BTreeMap::new() };
    let mut desired: Vec<DesiredConnection> = (0..n).map(connection).collect::<Result<_, _>>()?;
    let mut engine = Engine::new(Duration::from_secs(3600));

    let started = Instant::now();
    let step = engine.step(&mut charon, &desired).await.map_err(|e| format!("{e:?}"))?;
    let full = started.elapsed();
    println!(
        "full reconcile of {n} connections from an empty charon: {:.2} s, {}",
        full.as_secs_f64(),
        show(&charon.take())
    );
    let loaded = step.statuses.iter().filter(|s| s.status == Status::Down).count();
    println!("  {loaded} of {n} loaded and waiting for their peers (DOWN), {} errors", step.statuses.len() - loaded);

    let started = Instant::now();
    engine.step(&mut charon, &desired).await.map_err(|e| format!("{e:?}"))?;
    println!("a pass with nothing changed: {:.3} s, {}", started.elapsed().as_secs_f64(), show(&charon.take()));

    desired[n as usize / 2].dpd.interval = 10;
    desired[n as usize / 2].revision = 2;
    let started = Instant::now();
    engine.step(&mut charon, &desired).await.map_err(|e| format!("{e:?}"))?;
    println!("a pass after one connection changed: {:.3} s, {}", started.elapsed().as_secs_f64(), show(&charon.take()));
    drop(lab);
    Ok(())
}
