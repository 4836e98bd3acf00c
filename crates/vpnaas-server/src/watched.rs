//! A file read once and read again when it changes: the static token file and the PSK key
//! file. Its size and modification time are looked at no more than once a second; a file
//! that no longer parses keeps the last good value in force and says why in the log.

use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant, SystemTime};

/// How often the file's size and modification time are looked at.
pub const RECHECK: Duration = Duration::from_secs(1);

fn stamp(path: &Path) -> Option<(SystemTime, u64)> {
    let m = std::fs::metadata(path).ok()?;
    Some((m.modified().ok()?, m.len()))
}

struct State<T> {
    value: T,
    stamp: Option<(SystemTime, u64)>,
    checked: Instant,
}

/// The parsed contents of a file, kept current.
pub struct Watched<T, E> {
    path: PathBuf,
    what: &'static str,
    read: fn(&Path) -> Result<T, E>,
    state: Mutex<State<T>>,
}

/// The current value, locked while it is used.
pub struct Current<'a, T>(MutexGuard<'a, State<T>>);

impl<T> std::ops::Deref for Current<'_, T> {
    type Target = T;
    fn deref(&self) -> &T {
        &self.0.value
    }
}

impl<T, E: std::fmt::Display> Watched<T, E> {
    /// Reads the file with `read`; its error (which must not quote secrets) is returned.
    /// `what` names the file in log lines.
    pub fn open(path: &Path, what: &'static str, read: fn(&Path) -> Result<T, E>) -> Result<Watched<T, E>, E> {
        let value = read(path)?;
        let state = State { value, stamp: stamp(path), checked: Instant::now() };
        Ok(Watched { path: path.to_owned(), what, read, state: Mutex::new(state) })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The value, read again first if the file changed (or at once with `force`).
    pub fn current(&self, force: bool) -> Current<'_, T> {
        let mut state = self.state.lock().unwrap_or_else(|p| p.into_inner());
        if force || state.checked.elapsed() >= RECHECK {
            state.checked = Instant::now();
            let now = stamp(&self.path);
            if force || now != state.stamp {
                match (self.read)(&self.path) {
                    Ok(value) => {
                        tracing::info!(file = %self.path.display(), "{} reloaded", self.what);
                        state.value = value;
                        state.stamp = now;
                    }
                    Err(e) => {
                        tracing::warn!(error = %e, "{} not reloaded; the last good one stays in force", self.what)
                    }
                }
            }
        }
        Current(state)
    }
}
