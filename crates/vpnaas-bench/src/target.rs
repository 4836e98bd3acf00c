//! The servers under test as child processes: starting `vpnaas serve` and the ceiling server, finding their port, reading their memory, and the loopback-only rule.

use std::fs::File;
use std::net::{IpAddr, Ipv4Addr};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use tempfile::TempDir;

/// How long a server may take to print its listening line.
const START_TIMEOUT: Duration = Duration::from_secs(30);

/// A server this program started; killed (and its data directory removed) on drop.
pub struct Spawned {
    child: Child,
    pub base: String,
    pub pid: u32,
    /// The data directory and the server's logs, removed after the process is gone.
    dir: TempDir,
}

impl Spawned {
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }
}

impl Drop for Spawned {
    fn drop(&mut self) {
        // Only our own child, by its handle; SIGKILL is fine, the data is thrown away.
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Why a server under test could not be found, prepared or started.
#[derive(Debug, thiserror::Error)]
pub enum TargetError {
    #[error("cannot find this program: {0}")]
    OwnPath(#[source] std::io::Error),
    #[error("no vpnaas binary at {} (build it with `cargo build --release -p vpnaas`, or pass --vpnaas PATH)", .0.display())]
    NoBinary(PathBuf),
    #[error("cannot make a data directory in {}: {source}", .root.display())]
    DataDir { root: PathBuf, source: std::io::Error },
    #[error("cannot run {}: {source}", .binary.display())]
    Run { binary: PathBuf, source: std::io::Error },
    /// `command`: its arguments after `vpnaas`; `stderr`: what it said.
    #[error("vpnaas {command} failed: {stderr}")]
    Failed { command: String, stderr: String },
    #[error("{0}")]
    LogFile(#[source] std::io::Error),
    #[error("cannot start {program:?}: {source}")]
    Start { program: std::ffi::OsString, source: std::io::Error },
    #[error("{program:?} exited ({status}) before listening: {said}")]
    Exited { program: std::ffi::OsString, status: std::process::ExitStatus, said: String },
    #[error("{program:?} did not print {marker:?} within {:?} (a --server-log filter must keep it)", START_TIMEOUT)]
    Silent { program: std::ffi::OsString, marker: String },
    #[error("{0}: only http:// and https:// URLs are supported")]
    NotHttp(String),
    #[error("--transport-url must start with rabbit:// (oslo.messaging's syntax)")]
    NotRabbit,
    #[error("{0}: the host must be a loopback address (127.0.0.0/8, ::1, localhost)")]
    NotAnAddress(String),
    #[error("{url}: {ip} is not a loopback address; this benchmark sends traffic to loopback only")]
    NotLoopback { url: String, ip: IpAddr },
}

/// fleet/ still handles errors as Strings; this lets it take these with `?`.
impl From<TargetError> for String {
    fn from(e: TargetError) -> String {
        e.to_string()
    }
}

/// The vpnaas binary: the given path, or `vpnaas` beside this program (target/release/vpnaas
/// for a release build), so that `cargo build --release` of the workspace is all it takes.
pub fn vpnaas_binary(given: Option<&Path>) -> Result<PathBuf, TargetError> {
    let path = match given {
        Some(p) => p.to_path_buf(),
        None => {
            let me = std::env::current_exe().map_err(TargetError::OwnPath)?;
            me.with_file_name(format!("vpnaas{}", std::env::consts::EXE_SUFFIX))
        }
    };
    if path.is_file() {
        Ok(path)
    } else {
        Err(TargetError::NoBinary(path))
    }
}

fn fresh_dir(root: &Path, prefix: &str) -> Result<TempDir, TargetError> {
    tempfile::Builder::new()
        .prefix(prefix)
        .tempdir_in(root)
        .map_err(|source| TargetError::DataDir { root: root.to_owned(), source })
}

/// A command with no inherited `VPNAAS_*` settings, so a developer's environment cannot
/// change what is measured (a config file, another database, a log filter).
fn clean_command(program: &Path) -> Command {
    let mut cmd = Command::new(program);
    for (k, _) in std::env::vars_os() {
        if k.to_string_lossy().starts_with("VPNAAS_") {
            cmd.env_remove(k);
        }
    }
    cmd
}

/// Starts `vpnaas serve --listen 127.0.0.1:0` over a fresh data directory under `root`.
pub fn spawn_vpnaas(binary: &Path, root: &Path, log: Option<&str>) -> Result<Spawned, TargetError> {
    spawn_vpnaas_with(binary, root, log, &[])
}

/// [`spawn_vpnaas`] with settings (`VPNAAS_*` variables) of the caller's.
pub fn spawn_vpnaas_with(
    binary: &Path,
    root: &Path,
    log: Option<&str>,
    env: &[(&str, String)],
) -> Result<Spawned, TargetError> {
    let dir = fresh_dir(root, "vpnaas-bench-")?;
    let mut cmd = clean_command(binary);
    cmd.arg("serve").arg("--listen").arg("127.0.0.1:0").arg("--data-dir").arg(dir.path().join("data"));
    if let Some(filter) = log {
        cmd.env("VPNAAS_LOG", filter);
    }
    cmd.envs(env.iter().map(|(k, v)| (*k, v.as_str())));
    spawn(cmd, dir, "vpnaas listening on http://")
}

/// Runs `vpnaas ARGS...` to completion with the given settings (`rotate-key`, say).
pub fn run_vpnaas(binary: &Path, args: &[&str], env: &[(&str, String)]) -> Result<String, TargetError> {
    let out = clean_command(binary)
        .args(args)
        .envs(env.iter().map(|(k, v)| (*k, v.as_str())))
        .env("VPNAAS_LOG", "warn")
        .output()
        .map_err(|source| TargetError::Run { binary: binary.to_owned(), source })?;
    if !out.status.success() {
        let stderr = String::from_utf8_lossy(&out.stderr).trim().to_owned();
        return Err(TargetError::Failed { command: args.join(" "), stderr });
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// A fresh directory under `root`, removed on drop.
pub fn scratch_dir(root: &Path, prefix: &str) -> Result<TempDir, TargetError> {
    fresh_dir(root, prefix)
}

/// Starts this program's own HTTP ceiling server (see `ceiling::serve`).
pub fn spawn_ceiling(root: &Path) -> Result<Spawned, TargetError> {
    let me = std::env::current_exe().map_err(TargetError::OwnPath)?;
    let dir = fresh_dir(root, "vpnaas-bench-ceiling-")?;
    let mut cmd = Command::new(me);
    cmd.arg("ceiling-server");
    spawn(cmd, dir, "ceiling listening on http://")
}

/// Runs `vpnaas migrate` into a fresh directory: the SQLite ceiling uses the server's own schema.
pub fn migrated_database(binary: &Path, root: &Path) -> Result<(TempDir, PathBuf), TargetError> {
    let dir = fresh_dir(root, "vpnaas-bench-sqlite-")?;
    let out = clean_command(binary)
        .arg("migrate")
        .arg("--data-dir")
        .arg(dir.path())
        .env("VPNAAS_LOG", "warn")
        .output()
        .map_err(|source| TargetError::Run { binary: binary.to_owned(), source })?;
    if !out.status.success() {
        let stderr = String::from_utf8_lossy(&out.stderr).trim().to_owned();
        return Err(TargetError::Failed { command: "migrate".to_owned(), stderr });
    }
    let db = dir.path().join("vpnaas.db");
    Ok((dir, db))
}

/// Starts `cmd` with its output in files (a server logging every request must never block
/// on a pipe, and reading a pipe would cost this program CPU), then waits for the line
/// that carries its address.
fn spawn(mut cmd: Command, dir: TempDir, marker: &str) -> Result<Spawned, TargetError> {
    let out_path = dir.path().join("stdout.log");
    let out = File::create(&out_path).map_err(TargetError::LogFile)?;
    let err = File::create(dir.path().join("stderr.log")).map_err(TargetError::LogFile)?;
    // stdin stays a pipe: the ceiling server exits when this program goes away and it closes.
    let child = cmd
        .stdin(Stdio::piped())
        .stdout(out)
        .stderr(err)
        .spawn()
        .map_err(|source| TargetError::Start { program: cmd.get_program().to_owned(), source })?;
    let pid = child.id();
    let mut spawned = Spawned { child, base: String::new(), pid, dir };
    let started = Instant::now();
    loop {
        let text = std::fs::read_to_string(&out_path).unwrap_or_default();
        if let Some(base) = listening_url(&text, marker) {
            check_loopback(&base)?;
            spawned.base = base;
            return Ok(spawned);
        }
        if let Ok(Some(status)) = spawned.child.try_wait() {
            let err = std::fs::read_to_string(spawned.dir.path().join("stderr.log")).unwrap_or_default();
            let said = text + &err;
            return Err(TargetError::Exited { program: cmd.get_program().to_owned(), status, said });
        }
        if started.elapsed() > START_TIMEOUT {
            return Err(TargetError::Silent { program: cmd.get_program().to_owned(), marker: marker.to_owned() });
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// The `http://host:port` after `marker` in a log, if the line is there yet.
fn listening_url(log: &str, marker: &str) -> Option<String> {
    let at = log.find(marker)?;
    let rest = &log[at + marker.len() - "http://".len()..];
    let end = rest.find(|c: char| c.is_whitespace()).unwrap_or(rest.len());
    // A line still being written has no end yet: wait for its newline.
    rest[end..].contains('\n').then(|| rest[..end].to_owned())
}

/// Refuses a broker (`rabbit://user:pass@host:port,.../vhost`) that is not on this machine's
/// loopback.
pub fn check_broker_loopback(url: &str) -> Result<(), TargetError> {
    let rest = url.strip_prefix("rabbit://").ok_or(TargetError::NotRabbit)?;
    let hosts = rest.split(['/', '?']).next().unwrap_or("");
    for part in hosts.split(',') {
        let hostport = part.rsplit_once('@').map_or(part, |(_, h)| h);
        // The http check reads the host the same way; the credentials never reach an error.
        check_loopback(&format!("http://{hostport}/")).map_err(|e| match e {
            TargetError::NotLoopback { ip, .. } => TargetError::NotLoopback { url: hostport.to_owned(), ip },
            _ => TargetError::NotAnAddress(hostport.to_owned()),
        })?;
    }
    Ok(())
}

/// Refuses any target that is not on this machine's loopback.
pub fn check_loopback(url: &str) -> Result<(), TargetError> {
    // https:// too: the client trusts the platform's store, or SSL_CERT_FILE (a test CA).
    let rest = url
        .strip_prefix("http://")
        .or_else(|| url.strip_prefix("https://"))
        .ok_or_else(|| TargetError::NotHttp(url.to_owned()))?;
    let authority = rest.split('/').next().unwrap_or("");
    let host = match authority.strip_prefix('[') {
        Some(v6) => v6.split(']').next().unwrap_or(""),
        None => authority.rsplit_once(':').map_or(authority, |(h, _)| h),
    };
    let ip: IpAddr = if host.eq_ignore_ascii_case("localhost") {
        IpAddr::V4(Ipv4Addr::LOCALHOST)
    } else {
        host.parse().map_err(|_| TargetError::NotAnAddress(url.to_owned()))?
    };
    if ip.is_loopback() {
        Ok(())
    } else {
        Err(TargetError::NotLoopback { url: url.to_owned(), ip })
    }
}

/// A process's resident memory: now and at its peak, in KiB.
#[derive(Debug, Clone, Copy, Default, serde::Serialize, serde::Deserialize)]
pub struct Memory {
    pub rss_kib: u64,
    pub hwm_kib: u64,
}

/// The sum over `pids` of [`memory`]; `None` if there are none or one cannot be read.
pub fn memory_of(pids: &[u32]) -> Option<Memory> {
    if pids.is_empty() {
        return None;
    }
    pids.iter().try_fold(Memory::default(), |acc, pid| {
        let m = memory(*pid)?;
        Some(Memory { rss_kib: acc.rss_kib + m.rss_kib, hwm_kib: acc.hwm_kib + m.hwm_kib })
    })
}

/// `VmRSS` and `VmHWM` from /proc/PID/status (Linux).
pub fn memory(pid: u32) -> Option<Memory> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let field = |name: &str| -> Option<u64> {
        let line = status.lines().find(|l| l.starts_with(name))?;
        line[name.len()..].split_whitespace().next()?.parse().ok()
    };
    Some(Memory { rss_kib: field("VmRSS:")?, hwm_kib: field("VmHWM:")? })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_only() {
        for ok in [
            "http://127.0.0.1:9696",
            "http://localhost:1",
            "http://[::1]:80/x",
            "http://127.3.4.5",
            "https://127.0.0.1",
        ] {
            assert!(check_loopback(ok).is_ok(), "{ok}");
        }
        for bad in
            ["http://10.0.0.1:9696", "http://example.com", "https://10.0.0.1", "ftp://127.0.0.1", "http://[fe80::1]:1"]
        {
            assert!(check_loopback(bad).is_err(), "{bad}");
        }
        for ok in ["rabbit://guest:guest@127.0.0.1:5672/", "rabbit://u:p@localhost,v:w@[::1]:5673/%2F?ssl=1"] {
            assert!(check_broker_loopback(ok).is_ok(), "{ok}");
        }
        for bad in ["rabbit://u:secret@10.0.0.1:5672/", "rabbit://127.0.0.1,h.example/", "amqp://127.0.0.1/"] {
            let refused = check_broker_loopback(bad).unwrap_err().to_string();
            assert!(!refused.contains("secret"), "{refused}");
        }
    }

    #[test]
    fn finds_the_listening_line() {
        let log = "2026 INFO x: vpnaas listening on http://127.0.0.1:4321 with data in /tmp/d\n";
        assert_eq!(listening_url(log, "vpnaas listening on http://"), Some("http://127.0.0.1:4321".into()));
        assert_eq!(listening_url("vpnaas listening on http://127.0.0.1:43", "vpnaas listening on http://"), None);
    }

    #[test]
    fn reads_own_memory() {
        let m = memory(std::process::id()).unwrap();
        assert!(m.hwm_kib >= m.rss_kib && m.rss_kib > 0);
    }
}
