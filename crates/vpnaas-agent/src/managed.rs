//! One charon per router, started and supervised by the host agent inside the router's network namespace (ADR 0011, `--netns-template`).
//!
//! Each router gets a directory `<state_dir>/<router id>/` holding its `strongswan.conf`, its
//! VICI socket `charon.vici`, its log `charon.log` and a `run/` directory that is bind-mounted
//! over `/run` in charon's private mount namespace (charon's PID file is always
//! `/var/run/charon.pid`; ADR 0007), so the PID lands in `run/charon.pid`. charon runs in its
//! own process group: it outlives the agent (a restarted agent adopts it by its PID file,
//! and tunnels stay up), dies with nothing but an explicit stop, and is started again when it
//! is found dead.

use std::collections::BTreeMap;
use std::fs;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::time::Instant;
use uuid::Uuid;
use vpnaas_core::tunnel::DownReason;

/// strongSwan's charon as Debian installs it.
pub const CHARON: &str = "/usr/lib/ipsec/charon";

/// ADR 0007's plugin list: works with kernel ESP and without it (`kernel-libipsec` before
/// `kernel-netlink`), and negotiates AES-CBC, SHA-1/2 and MODP groups. Certificate
/// authentication (ADR 0017) needs `pkcs8` (the server hands keys over as PKCS#8: without it
/// charon refuses them, "parsing ANY private key failed") and `constraints` (a CA's name and
/// path-length constraints are checked). The test lab runs this very list.
pub const PLUGINS: &str = "random nonce aes sha1 sha2 hmac kdf gmp pem pkcs1 pkcs8 x509 pubkey constraints \
                           kernel-libipsec kernel-netlink socket-default vici updown";

/// How long a started charon may take to open its VICI socket.
const START_TIMEOUT: Duration = Duration::from_secs(10);
/// How long a stopped charon may take to say goodbye to its peers before it is killed.
const STOP_TIMEOUT: Duration = Duration::from_secs(3);

/// Where and how the host agent runs its charons.
#[derive(Debug, Clone)]
pub struct ManagedCharons {
    /// The namespace of a router, `{router_id}` replaced: Neutron's `qrouter-{router_id}`.
    pub netns_template: String,
    /// Per-router directories live here.
    pub state_dir: PathBuf,
    /// The charon binary.
    pub charon: PathBuf,
    /// strongSwan's `charon.load` list.
    pub plugins: String,
}

impl ManagedCharons {
    pub fn new(netns_template: &str, state_dir: &Path) -> ManagedCharons {
        ManagedCharons {
            netns_template: netns_template.to_owned(),
            state_dir: state_dir.to_path_buf(),
            charon: PathBuf::from(CHARON),
            plugins: PLUGINS.to_owned(),
        }
    }

    pub fn netns(&self, router: Uuid) -> String {
        self.netns_template.replace("{router_id}", &router.to_string())
    }

    pub fn dir(&self, router: Uuid) -> PathBuf {
        self.state_dir.join(router.to_string())
    }

    /// `unix:///...` of the router's charon.
    pub fn vici(&self, router: Uuid) -> String {
        format!("unix://{}", self.dir(router).join("charon.vici").display())
    }

    /// The router's `strongswan.conf` (see [`strongswan_conf`]).
    pub fn conf(&self, router: Uuid) -> String {
        strongswan_conf(&self.plugins, &self.dir(router))
    }
}

/// A `strongswan.conf` for one charon whose files live in `dir`: the plugin list, the VICI
/// socket and a log file there, and short retransmits so that a dead peer shows within
/// seconds (ADR 0007). The agent's managed charons and the test lab's use it alike.
pub fn strongswan_conf(plugins: &str, dir: &std::path::Path) -> String {
    let d = dir.display();
    format!(
        "charon {{
  load = {plugins}
  install_routes = yes
  # an unanswered request fails after 1 + 1.4 + 1.96 s, not charon's default ~165 s
  retransmit_timeout = 1.0
  retransmit_base = 1.4
  retransmit_tries = 2
  plugins {{
    vici {{
      socket = unix://{d}/charon.vici
    }}
  }}
  filelog {{
    charon {{
      path = {d}/charon.log
      time_format = %H:%M:%S
      append = yes
      default = 1
      flush_line = yes
    }}
  }}
  syslog {{
    daemon {{
      default = -1
    }}
  }}
}}
"
    )
}

/// Why a router's charon could not be started, as the status reports it: the reason code
/// and the cause in its own words (`ip netns exec`'s or charon's; no secrets are involved).
pub fn start_failure(error: &str) -> (DownReason, String) {
    let code = if error.contains("Cannot open network namespace") {
        DownReason::NamespaceMissing
    } else {
        DownReason::IkeDaemonDown
    };
    (code, format!("charon cannot start: {error}"))
}

/// Why a router's charon could not be started.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("{}: {source}", .path.display())]
    File { path: PathBuf, source: std::io::Error },
    #[error("{0}")]
    Output(#[source] std::io::Error),
    #[error("starting charon in {netns}: {source}")]
    Spawn { netns: String, source: std::io::Error },
    /// `said`: what charon (or `ip netns exec`) printed before it exited.
    #[error("charon in {netns} exited ({status}): {said}")]
    Exited { netns: String, status: std::process::ExitStatus, said: String },
    #[error("charon in {netns} did not open its VICI socket within {:?}", START_TIMEOUT)]
    NoSocket { netns: String },
}

/// The charons of one host agent: the processes it started (kept to reap them), the PIDs of
/// those it adopted, and why the last start of each failed (until one succeeds).
#[derive(Clone)]
pub struct Supervisor {
    pub spec: Arc<ManagedCharons>,
    children: Arc<Mutex<BTreeMap<Uuid, Child>>>,
    failures: Arc<Mutex<BTreeMap<Uuid, String>>>,
}

impl Supervisor {
    pub fn new(spec: ManagedCharons) -> Supervisor {
        Supervisor { spec: Arc::new(spec), children: Arc::default(), failures: Arc::default() }
    }

    /// Why the router's charon could not be started the last time, while it does not run.
    pub fn failure(&self, router: Uuid) -> Option<(DownReason, String)> {
        let failures = self.failures.lock().ok()?;
        failures.get(&router).map(|e| start_failure(e))
    }

    /// The PID of the router's charon if it runs (started by us or by an earlier agent).
    pub fn running(&self, router: Uuid) -> Option<u32> {
        if let Ok(mut children) = self.children.lock() {
            if let Some(child) = children.get_mut(&router) {
                match child.try_wait() {
                    Ok(None) => return Some(child.id()),
                    // Exited (and now reaped), or unknowable: look at the PID file below.
                    _ => {
                        children.remove(&router);
                    }
                }
            }
        }
        let pid = pid_file(&self.spec.dir(router))?;
        is_charon(pid).then_some(pid)
    }

    /// Starts the router's charon in its namespace and waits for its VICI socket; what went
    /// wrong is kept for [`Supervisor::failure`] until a start succeeds.
    pub async fn start(&self, router: Uuid) -> Result<u32, StartError> {
        let result = self.start_once(router).await;
        if let Ok(mut failures) = self.failures.lock() {
            match &result {
                Ok(_) => failures.remove(&router),
                // Kept as the status will say it: the failure itself is the caller's.
                Err(e) => failures.insert(router, e.to_string()),
            };
        }
        result
    }

    async fn start_once(&self, router: Uuid) -> Result<u32, StartError> {
        let file = |path: &Path| {
            let path = path.to_owned();
            move |source| StartError::File { path, source }
        };
        let dir = self.spec.dir(router);
        let run = dir.join("run");
        fs::create_dir_all(&run).map_err(file(&run))?;
        let conf = dir.join("strongswan.conf");
        fs::write(&conf, self.spec.conf(router)).map_err(file(&conf))?;
        let socket = dir.join("charon.vici");
        let _ = fs::remove_file(&socket);
        let _ = fs::remove_file(run.join("charon.pid"));
        let out = fs::File::create(dir.join("charon.stdout")).map_err(file(&dir))?;
        let err = out.try_clone().map_err(StartError::Output)?;
        let netns = self.spec.netns(router);
        // ip -> sh -> charon all exec, so the child's PID is charon's.
        let script = format!("mount --bind '{}' /run && exec '{}'", run.display(), self.spec.charon.display());
        let mut child = Command::new("ip")
            .args(["netns", "exec", &netns, "sh", "-c", &script])
            .env("STRONGSWAN_CONF", &conf)
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err)
            .process_group(0)
            .spawn()
            .map_err(|source| StartError::Spawn { netns: netns.clone(), source })?;
        let pid = child.id();
        let deadline = Instant::now() + START_TIMEOUT;
        loop {
            if socket.exists() {
                break;
            }
            if let Ok(Some(status)) = child.try_wait() {
                let said = fs::read_to_string(dir.join("charon.stdout")).unwrap_or_default();
                return Err(StartError::Exited { netns, status, said: said.trim().to_owned() });
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                let _ = child.wait();
                return Err(StartError::NoSocket { netns });
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
        if let Ok(mut children) = self.children.lock() {
            children.insert(router, child);
        }
        Ok(pid)
    }

    /// Stops the router's charon: SIGTERM (it tells its peers), SIGKILL after a few seconds.
    pub async fn stop(&self, router: Uuid) {
        let Some(pid) = self.running(router) else { return };
        signal("TERM", pid);
        let deadline = Instant::now() + STOP_TIMEOUT;
        while Instant::now() < deadline && self.running(router).is_some() {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        if self.running(router).is_some() {
            signal("KILL", pid);
            tokio::time::sleep(Duration::from_millis(100)).await;
            let _ = self.running(router);
        }
    }
}

fn signal(name: &str, pid: u32) {
    let _ = Command::new("kill").args([&format!("-{name}"), &pid.to_string()]).stderr(Stdio::null()).status();
}

/// The PID in `<dir>/run/charon.pid`.
pub fn pid_file(dir: &Path) -> Option<u32> {
    fs::read_to_string(dir.join("run").join("charon.pid")).ok()?.trim().parse().ok()
}

/// Whether `pid` is a live (not zombie) charon.
pub fn is_charon(pid: u32) -> bool {
    let Ok(stat) = fs::read_to_string(format!("/proc/{pid}/stat")) else { return false };
    // "pid (comm) state ...": comm may hold spaces, so split at the last ')'.
    let Some((head, tail)) = stat.rsplit_once(')') else { return false };
    let comm = head.split_once('(').map(|(_, c)| c).unwrap_or_default();
    let state = tail.split_whitespace().next().unwrap_or_default();
    comm == "charon" && state != "Z" && state != "X"
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_router_gets_its_namespace_directory_socket_and_conf() {
        let spec = ManagedCharons::new("qrouter-{router_id}", Path::new("/var/lib/vpnaas"));
        let id = Uuid::from_u128(7);
        assert_eq!(spec.netns(id), format!("qrouter-{id}"));
        assert_eq!(spec.vici(id), format!("unix:///var/lib/vpnaas/{id}/charon.vici"));
        let conf = spec.conf(id);
        assert!(conf.contains(&format!("socket = unix:///var/lib/vpnaas/{id}/charon.vici")), "{conf}");
        assert!(conf.contains("kernel-libipsec kernel-netlink"), "{conf}");
        // Certificate connections: the server sends PKCS#8 keys (ADR 0017).
        assert!(conf.contains(" pkcs8 ") && conf.contains(" constraints "), "{conf}");
        // strongSwan takes one setting per line (ADR 0007).
        assert!(!conf.contains(';'));
    }

    #[test]
    fn a_missing_namespace_is_told_apart_from_a_charon_that_cannot_start() {
        // What `ip netns exec` (iproute2 6.1) prints for a namespace that does not exist.
        let netns = "charon in qrouter-1 exited (exit status: 255): Cannot open network namespace \"qrouter-1\": \
                     No such file or directory";
        let (code, text) = start_failure(netns);
        assert_eq!(code, DownReason::NamespaceMissing);
        assert!(text.contains("Cannot open network namespace \"qrouter-1\""), "{text}");
        let (code, _) = start_failure("charon in qrouter-1 did not open its VICI socket within 10s");
        assert_eq!(code, DownReason::IkeDaemonDown);
    }

    #[test]
    fn only_a_live_charon_counts() {
        assert!(!is_charon(std::process::id()), "this test is no charon");
        assert!(!is_charon(u32::MAX));
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(pid_file(dir.path()), None);
        fs::create_dir_all(dir.path().join("run")).unwrap();
        fs::write(dir.path().join("run/charon.pid"), "1234\n").unwrap();
        assert_eq!(pid_file(dir.path()), Some(1234));
    }
}
