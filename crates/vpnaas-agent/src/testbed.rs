//! A two-site strongSwan lab for tests: network namespaces joined by a veth pair, a LAN per site and one charon per site with kernel-libipsec.
//!
//! What it relies on, as found on the machines the tests run on:
//! - The kernels may have no ESP (no `xfrm` ESP support), so charon does ESP in user space
//!   with the kernel-libipsec plugin, which must be loaded before kernel-netlink so that it
//!   installs the SAs; kernel-netlink still installs routes and addresses.
//! - strongSwan 5.9.8 needs the `kdf` plugin to derive keys; the plugin list is `PLUGINS`.
//! - charon writes its PID file to a fixed /var/run/charon.pid and refuses to start when
//!   another charon holds it, so each charon runs under `ip netns exec` (which gives it a
//!   private mount namespace) with its own directory bind-mounted over /run.
//! - Where the kernel has no dummy interfaces, a LAN is a bridge without ports: it holds
//!   the gateway's LAN address all the same.
//!
//! Only addresses inside the namespaces created here are used (192.0.2.0/24 from
//! RFC 5737, 10.1.0.0/24 and 10.2.0.0/24). Everything it creates is removed when the
//! `TwoSites` value is dropped, also when a test fails. It shells out and starts daemons,
//! so it is test support behind the `testbed` feature, never built into the product.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

pub const CHARON: &str = "/usr/lib/ipsec/charon";
pub const LIBIPSEC: &str = "/usr/lib/ipsec/plugins/libstrongswan-kernel-libipsec.so";

/// The lab's plugin list is the agent's default (AES-CBC, SHA-1/2, MODP groups; no GCM, no
/// ECP, no x25519), so that the tests run what users run.
pub use crate::managed::PLUGINS;

/// Why the lab cannot run here (not root, strongSwan or iproute2 missing), or `None`.
pub fn unavailable() -> Option<String> {
    let euid = fs::read_to_string("/proc/self/status").ok().and_then(|s| {
        s.lines().find_map(|l| l.strip_prefix("Uid:")).and_then(|ids| ids.split_whitespace().nth(1).map(str::to_owned))
    });
    if euid.as_deref() != Some("0") {
        return Some("not running as root (network namespaces and charon need it)".to_owned());
    }
    for (path, what) in [(CHARON, "strongswan-charon"), (LIBIPSEC, "libcharon-extra-plugins (kernel-libipsec)")] {
        if !Path::new(path).exists() {
            return Some(format!("{path} is missing (install {what}; .ci/strongswan.sh does)"));
        }
    }
    for tool in ["swanctl", "ip", "ping"] {
        let found = Command::new("sh")
            .args(["-c", &format!("command -v {tool}")])
            .stdout(Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        if !found {
            return Some(format!("{tool} is missing (.ci/strongswan.sh installs it)"));
        }
    }
    None
}

/// One site: a namespace with a WAN address, a LAN and a charon.
pub struct Site {
    pub netns: String,
    pub dir: PathBuf,
    /// `unix:///...` of this site's charon.
    pub vici: String,
    /// The address on the veth "internet".
    pub wan: &'static str,
    /// The gateway's LAN address and its subnet.
    pub lan_ip: &'static str,
    pub lan: &'static str,
    charon: Option<Child>,
}

/// Two sites, A (192.0.2.1, LAN 10.1.0.0/24) and B (192.0.2.2, LAN 10.2.0.0/24).
pub struct TwoSites {
    pub a: Site,
    pub b: Site,
    root: PathBuf,
}

static COUNTER: AtomicUsize = AtomicUsize::new(0);

/// Why the lab could not be built or a charon of it started.
#[derive(Debug, thiserror::Error)]
pub enum LabError {
    #[error("{command}: {source}")]
    Spawn { command: String, source: std::io::Error },
    #[error("{command} failed: {stderr}")]
    Failed { command: String, stderr: String },
    #[error("{}: {source}", .path.display())]
    File { path: PathBuf, source: std::io::Error },
    #[error("{0}")]
    Output(#[source] std::io::Error),
    #[error("starting charon: {0}")]
    StartCharon(#[source] std::io::Error),
    /// `log`: the end of charon's log.
    #[error("charon in {netns} did not open its VICI socket: {log}")]
    NoSocket { netns: String, log: String },
}

fn file_error(path: &Path) -> impl FnOnce(std::io::Error) -> LabError {
    let path = path.to_owned();
    move |source| LabError::File { path, source }
}

fn run(args: &[&str]) -> Result<(), LabError> {
    let command = || args.join(" ");
    let out = Command::new(args[0])
        .args(&args[1..])
        .output()
        .map_err(|source| LabError::Spawn { command: command(), source })?;
    if out.status.success() {
        Ok(())
    } else {
        Err(LabError::Failed { command: command(), stderr: String::from_utf8_lossy(&out.stderr).trim().to_owned() })
    }
}

impl TwoSites {
    /// Builds both sites and starts both charons. Names are unique per process and call,
    /// so tests may run in parallel.
    pub fn start() -> Result<TwoSites, LabError> {
        let n = COUNTER.fetch_add(1, Ordering::SeqCst);
        let tag = format!("vpnaas-{}-{n}", std::process::id());
        let root = std::env::temp_dir().join(&tag);
        let site = |letter: &str, wan, lan_ip, lan| Site {
            netns: format!("{tag}-{letter}"),
            dir: root.join(letter),
            vici: format!("unix://{}/charon.vici", root.join(letter).display()),
            wan,
            lan_ip,
            lan,
            charon: None,
        };
        // From here on, Drop cleans up whatever was created.
        let mut lab = TwoSites {
            a: site("a", "192.0.2.1", "10.1.0.1", "10.1.0.0/24"),
            b: site("b", "192.0.2.2", "10.2.0.1", "10.2.0.0/24"),
            root,
        };
        for s in [&lab.a, &lab.b] {
            fs::create_dir_all(s.dir.join("run")).map_err(file_error(&s.dir))?;
            run(&["ip", "netns", "add", &s.netns])?;
            run(&["ip", "-n", &s.netns, "link", "set", "lo", "up"])?;
        }
        run(&[
            "ip",
            "link",
            "add",
            "wana",
            "netns",
            &lab.a.netns,
            "type",
            "veth",
            "peer",
            "name",
            "wanb",
            "netns",
            &lab.b.netns,
        ])?;
        for (s, wan_if, lan_if) in [(&lab.a, "wana", "lana"), (&lab.b, "wanb", "lanb")] {
            run(&["ip", "-n", &s.netns, "addr", "add", &format!("{}/24", s.wan), "dev", wan_if])?;
            run(&["ip", "-n", &s.netns, "link", "set", wan_if, "up"])?;
            if run(&["ip", "-n", &s.netns, "link", "add", lan_if, "type", "dummy"]).is_err() {
                run(&["ip", "-n", &s.netns, "link", "add", lan_if, "type", "bridge"])?;
            }
            run(&["ip", "-n", &s.netns, "addr", "add", &format!("{}/24", s.lan_ip), "dev", lan_if])?;
            run(&["ip", "-n", &s.netns, "link", "set", lan_if, "up"])?;
        }
        lab.a.start_charon()?;
        lab.b.start_charon()?;
        Ok(lab)
    }

    /// `ping -c1 -W2` from one site's LAN address to the other's, through the tunnel.
    pub fn ping_a_to_b(&self) -> bool {
        self.a.ping(self.b.lan_ip)
    }
}

impl Site {
    fn conf(&self) -> PathBuf {
        self.dir.join("strongswan.conf")
    }

    fn write_conf(&self, edit: impl Fn(String) -> String) -> Result<(), LabError> {
        let conf = edit(crate::managed::strongswan_conf(PLUGINS, &self.dir));
        fs::write(self.conf(), conf).map_err(file_error(&self.conf()))
    }

    /// Starts this site's charon and waits for its VICI socket.
    pub fn start_charon(&mut self) -> Result<(), LabError> {
        self.start_charon_with(|conf| conf)
    }

    /// [`Site::start_charon`] with its `strongswan.conf` changed by `edit` (a benchmark's peer
    /// standing in for many sites installs no routes: theirs would all lead to one subnet).
    pub fn start_charon_with(&mut self, edit: impl Fn(String) -> String) -> Result<(), LabError> {
        self.write_conf(edit)?;
        let socket = self.dir.join("charon.vici");
        let _ = fs::remove_file(&socket);
        let out = fs::File::create(self.dir.join("charon.stdout")).map_err(LabError::Output)?;
        let err = out.try_clone().map_err(LabError::Output)?;
        // ip -> sh -> charon all exec, so the child's pid is charon's.
        let script = format!("mount --bind '{}' /run && exec {CHARON}", self.dir.join("run").display());
        let child = Command::new("ip")
            .args(["netns", "exec", &self.netns, "sh", "-c", &script])
            .env("STRONGSWAN_CONF", self.conf())
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err)
            .spawn()
            .map_err(LabError::StartCharon)?;
        self.charon = Some(child);
        let deadline = Instant::now() + Duration::from_secs(10);
        while !socket.exists() {
            if Instant::now() > deadline {
                return Err(LabError::NoSocket { netns: self.netns.clone(), log: self.log() });
            }
            std::thread::sleep(Duration::from_millis(25));
        }
        Ok(())
    }

    /// Stops this site's charon: SIGTERM, then SIGKILL after 3 s.
    pub fn stop_charon(&mut self) {
        if let Some(mut child) = self.charon.take() {
            if let Ok(None) = child.try_wait() {
                let _ = Command::new("kill").args(["-TERM", &child.id().to_string()]).status();
                let deadline = Instant::now() + Duration::from_secs(3);
                while Instant::now() < deadline {
                    if let Ok(Some(_)) = child.try_wait() {
                        return;
                    }
                    std::thread::sleep(Duration::from_millis(20));
                }
                let _ = child.kill();
            }
            let _ = child.wait();
        }
    }

    /// Kills this site's charon at once (a crash), without letting it say goodbye.
    pub fn kill_charon(&mut self) {
        if let Some(mut child) = self.charon.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// `ping -c1 -W2 -I <lan_ip> <dst>` inside this site.
    pub fn ping(&self, dst: &str) -> bool {
        Command::new("ip")
            .args(["netns", "exec", &self.netns, "ping", "-c1", "-W2", "-I", self.lan_ip, dst])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    }

    /// The end of this site's charon log, for failure messages.
    pub fn log(&self) -> String {
        let log = fs::read_to_string(self.dir.join("charon.log")).unwrap_or_default();
        let lines: Vec<&str> = log.lines().collect();
        lines[lines.len().saturating_sub(40)..].join("\n")
    }
}

impl Drop for TwoSites {
    fn drop(&mut self) {
        self.a.stop_charon();
        self.b.stop_charon();
        for s in [&self.a, &self.b] {
            let _ = run(&["ip", "netns", "del", &s.netns]);
        }
        let _ = fs::remove_dir_all(&self.root);
    }
}

/// Any number of sites on one "internet": a namespace holding a bridge that every site's WAN
/// (192.0.2.0/24) is plugged into. A site's namespace may be given a name (a host agent's
/// `qrouter-<router id>`), and its charon started by the lab (`Site::start_charon`) or by a
/// host agent; the charons a host agent started under a state directory given to `sweep`
/// are killed when the lab is dropped, before the namespaces go.
pub struct Lab {
    pub sites: Vec<Site>,
    internet: String,
    tag: String,
    root: PathBuf,
    sweep: Vec<PathBuf>,
}

impl Lab {
    pub fn start() -> Result<Lab, LabError> {
        let n = COUNTER.fetch_add(1, Ordering::SeqCst);
        let tag = format!("vpnaas-{}-{n}", std::process::id());
        let root = std::env::temp_dir().join(&tag);
        let lab = Lab { sites: Vec::new(), internet: format!("{tag}-inet"), tag, root, sweep: Vec::new() };
        fs::create_dir_all(&lab.root).map_err(file_error(&lab.root))?;
        run(&["ip", "netns", "add", &lab.internet])?;
        run(&["ip", "-n", &lab.internet, "link", "add", "br0", "type", "bridge"])?;
        run(&["ip", "-n", &lab.internet, "link", "set", "br0", "up"])?;
        Ok(lab)
    }

    /// The lab's directory; a site named `name` keeps its files in `<root>/<name>`.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Adds a site: its namespace (`netns`, or one named after the lab), its WAN address on the
    /// internet and a LAN. No charon runs yet. Returns its index in `sites`.
    pub fn add_site(
        &mut self,
        name: &str,
        netns: Option<String>,
        wan: &'static str,
        lan_ip: &'static str,
        lan: &'static str,
    ) -> Result<usize, LabError> {
        let i = self.sites.len();
        let dir = self.root.join(name);
        fs::create_dir_all(dir.join("run")).map_err(file_error(&dir))?;
        let netns = netns.unwrap_or_else(|| format!("{}-{i}", self.tag));
        run(&["ip", "netns", "add", &netns])?;
        self.sites.push(Site {
            netns: netns.clone(),
            vici: format!("unix://{}/charon.vici", dir.display()),
            dir,
            wan,
            lan_ip,
            lan,
            charon: None,
        });
        let (wan_if, port) = ("wan".to_owned(), format!("p{i}"));
        run(&["ip", "-n", &netns, "link", "set", "lo", "up"])?;
        run(&[
            "ip",
            "-n",
            &self.internet,
            "link",
            "add",
            &port,
            "type",
            "veth",
            "peer",
            "name",
            &wan_if,
            "netns",
            &netns,
        ])?;
        run(&["ip", "-n", &self.internet, "link", "set", &port, "master", "br0", "up"])?;
        run(&["ip", "-n", &netns, "addr", "add", &format!("{wan}/24"), "dev", &wan_if])?;
        run(&["ip", "-n", &netns, "link", "set", &wan_if, "up"])?;
        if run(&["ip", "-n", &netns, "link", "add", "lan", "type", "dummy"]).is_err() {
            run(&["ip", "-n", &netns, "link", "add", "lan", "type", "bridge"])?;
        }
        run(&["ip", "-n", &netns, "addr", "add", &format!("{lan_ip}/24"), "dev", "lan"])?;
        run(&["ip", "-n", &netns, "link", "set", "lan", "up"])?;
        Ok(i)
    }

    /// charons started by a host agent under `state_dir/<router id>/` die with the lab.
    pub fn sweep(&mut self, state_dir: PathBuf) {
        self.sweep.push(state_dir);
    }
}

impl Drop for Lab {
    fn drop(&mut self) {
        for site in &mut self.sites {
            site.stop_charon();
        }
        for dir in &self.sweep {
            for entry in fs::read_dir(dir).into_iter().flatten().flatten() {
                if let Some(pid) = crate::managed::pid_file(&entry.path()).filter(|p| crate::managed::is_charon(*p)) {
                    let _ = Command::new("kill").args(["-KILL", &pid.to_string()]).status();
                }
            }
        }
        std::thread::sleep(Duration::from_millis(100));
        for site in &self.sites {
            let _ = run(&["ip", "netns", "del", &site.netns]);
        }
        let _ = run(&["ip", "netns", "del", &self.internet]);
        let _ = fs::remove_dir_all(&self.root);
    }
}
