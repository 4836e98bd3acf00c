//! Pre-shared keys and certificates' private keys (ADR 0017) at rest: sealed with ChaCha20-Poly1305 under a key from a key file, the
//! key's id stored with each value so keys can be rotated (`vpnaas rotate-key`).
//!
//! The key file holds one key per line, `<id> <32 bytes in base64>`; `#` starts a comment;
//! the last key seals, every key opens. A sealed value is `psk1:<id>:<base64(nonce ‖
//! ciphertext ‖ tag)>`, with the connection's id as associated data, so a value cannot be
//! moved to another row. The file is read again when it changes (another process rotated
//! the keys), looked at no more than once a second, and at once when a value names a key
//! not yet known.

use std::collections::HashMap;
use std::fmt;
use std::io::Write;
use std::path::{Path, PathBuf};

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use chacha20poly1305::aead::{Aead, AeadCore, KeyInit, OsRng, Payload};
use chacha20poly1305::{ChaCha20Poly1305, Key, Nonce};
use uuid::Uuid;
use vpnaas_core::values::{PrivateKey, Psk, StoredKey, StoredPsk};

use crate::error::Error;
use crate::watched::Watched;

const PREFIX: &str = "psk1";
const NONCE_LEN: usize = 12;
/// The keys of a key file: the id of the one that seals, and every one by id.
struct Keys {
    current: String,
    by_id: HashMap<String, Key>,
}

/// The keys of a key file, kept current.
pub struct KeyRing(Watched<Keys, KeyFileError>);

/// Why a key file cannot be read or written. It names the file and the line, never a key.
#[derive(Debug)]
pub enum KeyFileError {
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    /// `line` counts from 1.
    BadLine {
        path: PathBuf,
        line: usize,
    },
    NoKey {
        path: PathBuf,
    },
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
    CreateDir {
        dir: PathBuf,
        source: std::io::Error,
    },
}

impl fmt::Display for KeyFileError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            KeyFileError::Read { path, source } => write!(f, "cannot read key file {}: {source}", path.display()),
            KeyFileError::BadLine { path, line } => {
                write!(f, "{} line {line}: expected `<id> <32-byte key in base64>`", path.display())
            }
            KeyFileError::NoKey { path } => write!(f, "{} holds no key", path.display()),
            KeyFileError::Write { path, source } => write!(f, "cannot write key file {}: {source}", path.display()),
            KeyFileError::CreateDir { dir, source } => write!(f, "cannot create {}: {source}", dir.display()),
        }
    }
}

impl std::error::Error for KeyFileError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            KeyFileError::Read { source, .. }
            | KeyFileError::Write { source, .. }
            | KeyFileError::CreateDir { source, .. } => Some(source),
            KeyFileError::BadLine { .. } | KeyFileError::NoKey { .. } => None,
        }
    }
}

/// Parses a key file. Errors name the line, never a key.
fn parse(path: &Path, text: &str) -> Result<Keys, KeyFileError> {
    let mut by_id = HashMap::new();
    let mut current = None;
    for (n, line) in text.lines().enumerate() {
        let line = line.split('#').next().unwrap_or("").trim();
        if line.is_empty() {
            continue;
        }
        let bad = || KeyFileError::BadLine { path: path.to_owned(), line: n + 1 };
        let (id, key) = line.split_once(char::is_whitespace).ok_or_else(bad)?;
        let key = STANDARD.decode(key.trim()).map_err(|_| bad())?;
        if key.len() != 32 || id.contains(':') {
            return Err(bad());
        }
        by_id.insert(id.to_owned(), *Key::from_slice(&key));
        current = Some(id.to_owned());
    }
    let current = current.ok_or_else(|| KeyFileError::NoKey { path: path.to_owned() })?;
    Ok(Keys { current, by_id })
}

fn read(path: &Path) -> Result<Keys, KeyFileError> {
    let text = std::fs::read_to_string(path).map_err(|source| KeyFileError::Read { path: path.to_owned(), source })?;
    parse(path, &text)
}

/// A new key line: the next free id `kN` and 32 random bytes.
fn new_key_line(existing: &HashMap<String, Key>) -> (String, String) {
    let next = existing.keys().filter_map(|id| id.strip_prefix('k')?.parse::<u64>().ok()).max().unwrap_or(0) + 1;
    let key = ChaCha20Poly1305::generate_key(&mut OsRng);
    let id = format!("k{next}");
    let line = format!("{id} {}\n", STANDARD.encode(key));
    (id, line)
}

/// Writes `text` as the key file, readable by its owner only, replacing it at once.
fn write_file(path: &Path, text: &str) -> Result<(), KeyFileError> {
    let tmp = path.with_extension("tmp");
    let fail = |source| KeyFileError::Write { path: path.to_owned(), source };
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut f = options.open(&tmp).map_err(fail)?;
    f.write_all(text.as_bytes()).map_err(fail)?;
    f.sync_all().map_err(fail)?;
    std::fs::rename(&tmp, path).map_err(fail)
}

/// Adds a new key to the file (creating the file if needed); it seals from now on.
/// Returns its id.
pub fn add_key(path: &Path) -> Result<String, KeyFileError> {
    let (old_text, existing) = match std::fs::read_to_string(path) {
        Ok(text) => {
            let keys = parse(path, &text)?.by_id;
            (text, keys)
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => (String::new(), HashMap::new()),
        Err(source) => return Err(KeyFileError::Read { path: path.to_owned(), source }),
    };
    let (id, line) = new_key_line(&existing);
    let mut text = old_text;
    if text.is_empty() {
        text.push_str("# vpnaas pre-shared key sealing keys: <id> <key>. The last one seals; all open.\n");
    } else if !text.ends_with('\n') {
        text.push('\n');
    }
    text.push_str(&line);
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(|source| KeyFileError::CreateDir { dir: dir.to_owned(), source })?;
    }
    write_file(path, &text)?;
    Ok(id)
}

impl KeyRing {
    /// Opens the key file; `create` makes one with a fresh key when there is none (the
    /// embedded default). Warns when others may read it.
    pub fn open(path: &Path, create: bool) -> Result<KeyRing, KeyFileError> {
        if create && !path.exists() {
            let id = add_key(path)?;
            tracing::info!(file = %path.display(), key = %id, "created a key file to seal pre-shared keys");
        }
        let keys = Watched::open(path, "key file", read)?;
        #[cfg(unix)]
        if let Ok(m) = std::fs::metadata(path) {
            use std::os::unix::fs::PermissionsExt;
            if m.permissions().mode() & 0o077 != 0 {
                tracing::warn!(file = %path.display(), "the key file is readable by others than its owner");
            }
        }
        Ok(KeyRing(keys))
    }

    /// The id of the key that seals.
    pub fn current(&self) -> String {
        self.0.current(false).current.clone()
    }

    /// Whether the key file holds the key `id`.
    pub fn holds(&self, id: &str) -> bool {
        self.0.current(false).by_id.contains_key(id)
    }

    /// Seals `psk` for the connection `id`.
    pub fn seal(&self, psk: &Psk, id: Uuid) -> Result<String, Error> {
        self.seal_text(psk.expose(), id)
    }

    /// Seals a private key for the certificate `id` (the same format as a PSK's).
    pub fn seal_key(&self, key: &PrivateKey, id: Uuid) -> Result<String, Error> {
        self.seal_text(key.expose(), id)
    }

    /// Opens a private key sealed for the certificate `id`.
    pub fn open_key(&self, sealed: &str, id: Uuid) -> Result<PrivateKey, Error> {
        let text = self.open_text(sealed, id, "private key of certificate")?;
        Ok(PrivateKey::checked(text))
    }

    /// The private key in clear, opening it if it is sealed.
    pub fn reveal_key(&self, key: &mut StoredKey, id: Uuid) -> Result<(), Error> {
        if let StoredKey::Sealed(text) = key {
            *key = StoredKey::Clear(self.open_key(text, id)?);
        }
        Ok(())
    }

    /// The private key sealed, sealing it if it is clear.
    pub fn sealed_key(&self, key: &StoredKey, id: Uuid) -> Result<StoredKey, Error> {
        match key {
            StoredKey::Clear(k) => Ok(StoredKey::Sealed(self.seal_key(k, id)?)),
            sealed => Ok(sealed.clone()),
        }
    }

    fn seal_text(&self, text: &str, id: Uuid) -> Result<String, Error> {
        let keys = self.0.current(false);
        let key = keys.by_id.get(&keys.current).ok_or_else(|| Error::Secret("the sealing key is gone".into()))?;
        let nonce = ChaCha20Poly1305::generate_nonce(&mut OsRng);
        let sealed = ChaCha20Poly1305::new(key)
            .encrypt(&nonce, Payload { msg: text.as_bytes(), aad: id.as_bytes() })
            .map_err(|_| Error::Secret("sealing failed".into()))?;
        let mut bytes = nonce.to_vec();
        bytes.extend_from_slice(&sealed);
        Ok(format!("{PREFIX}:{}:{}", keys.current, STANDARD.encode(bytes)))
    }

    /// Opens a value sealed for the connection `id`.
    pub fn open_value(&self, sealed: &str, id: Uuid) -> Result<Psk, Error> {
        let text = self.open_text(sealed, id, "pre-shared key of connection")?;
        Psk::from_stored(&text)
            .map_err(|_| Error::Secret(format!("the pre-shared key of connection {id} is not a sealed value")))
    }

    /// Opens a value sealed for the row `id`; `what` names it in errors.
    fn open_text(&self, sealed: &str, id: Uuid, what: &str) -> Result<String, Error> {
        let damaged = || Error::Secret(format!("the {what} {id} is not a sealed value"));
        let mut parts = sealed.splitn(3, ':');
        let (Some(PREFIX), Some(key_id), Some(body)) = (parts.next(), parts.next(), parts.next()) else {
            return Err(damaged());
        };
        let bytes = STANDARD.decode(body).map_err(|_| damaged())?;
        if bytes.len() < NONCE_LEN {
            return Err(damaged());
        }
        let (nonce, ciphertext) = bytes.split_at(NONCE_LEN);
        let key = {
            let mut keys = self.0.current(false);
            if !keys.by_id.contains_key(key_id) {
                // Another process may have added it: read the file now.
                drop(keys);
                keys = self.0.current(true);
            }
            *keys.by_id.get(key_id).ok_or_else(|| {
                Error::Secret(format!(
                    "the {what} {id} is sealed with key {key_id}, which {} lacks",
                    self.0.path().display()
                ))
            })?
        };
        let clear = ChaCha20Poly1305::new(&key)
            .decrypt(Nonce::from_slice(nonce), Payload { msg: ciphertext, aad: id.as_bytes() })
            .map_err(|_| Error::Secret(format!("the {what} {id} does not open with key {key_id}")))?;
        String::from_utf8(clear).map_err(|_| damaged())
    }

    /// The key in clear, opening it if it is sealed.
    pub fn reveal(&self, psk: &mut StoredPsk, id: Uuid) -> Result<(), Error> {
        if let StoredPsk::Sealed(text) = psk {
            *psk = StoredPsk::Clear(self.open_value(text, id)?);
        }
        Ok(())
    }

    /// The key sealed, sealing it if it is clear.
    pub fn sealed(&self, psk: &StoredPsk, id: Uuid) -> Result<StoredPsk, Error> {
        match psk {
            StoredPsk::Clear(p) => Ok(StoredPsk::Sealed(self.seal(p, id)?)),
            sealed => Ok(sealed.clone()),
        }
    }

    /// Whether a stored text was sealed with the current key (rotation skips those).
    pub fn is_current(&self, sealed: &str) -> bool {
        let keys = self.0.current(false);
        sealed.strip_prefix(PREFIX).and_then(|s| s.strip_prefix(':')).and_then(|s| s.split(':').next())
            == Some(keys.current.as_str())
    }
}

/// Whether a stored text is a sealed value (older rows hold the key in clear).
/// The id of the key `sealed` was sealed with, if it is a sealed value.
pub fn key_id_of(sealed: &str) -> Option<&str> {
    let mut parts = sealed.splitn(3, ':');
    match (parts.next(), parts.next(), parts.next()) {
        (Some(PREFIX), Some(id), Some(_)) => Some(id),
        _ => None,
    }
}

pub fn is_sealed(text: &str) -> bool {
    StoredPsk::is_sealed_text(text)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn psk(s: &str) -> Psk {
        Psk::parse(s).unwrap()
    }

    #[test]
    fn seal_and_open_round_trip_bound_to_the_row() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("psk.key");
        let ring = KeyRing::open(&path, true).unwrap();
        let id = Uuid::new_v4();
        let sealed = ring.seal(&psk("hunter2-secret"), id).unwrap();
        assert!(sealed.starts_with("psk1:k1:"), "{sealed}");
        assert!(!sealed.contains("hunter2"));
        assert_eq!(ring.open_value(&sealed, id).unwrap().expose(), "hunter2-secret");
        // Two seals of one key differ (a fresh nonce each time).
        assert_ne!(sealed, ring.seal(&psk("hunter2-secret"), id).unwrap());
        // Moved to another row, or changed, it does not open.
        assert!(ring.open_value(&sealed, Uuid::new_v4()).is_err());
        let mut bytes = sealed.into_bytes();
        let last = bytes.len() - 3;
        bytes[last] = if bytes[last] == b'A' { b'B' } else { b'A' };
        assert!(ring.open_value(&String::from_utf8(bytes).unwrap(), id).is_err());
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            assert_eq!(std::fs::metadata(&path).unwrap().permissions().mode() & 0o777, 0o600);
        }
    }

    #[test]
    fn a_new_key_seals_while_old_ones_still_open_and_others_see_it() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("psk.key");
        let ring = KeyRing::open(&path, true).unwrap();
        let other = KeyRing::open(&path, false).unwrap();
        let id = Uuid::new_v4();
        let old = ring.seal(&psk("k"), id).unwrap();
        assert_eq!(add_key(&path).unwrap(), "k2");
        // The other process learns the new key when a value needs it.
        let new = KeyRing::open(&path, false).unwrap().seal(&psk("k"), id).unwrap();
        assert!(new.starts_with("psk1:k2:"));
        assert_eq!(other.open_value(&new, id).unwrap().expose(), "k");
        assert_eq!(other.open_value(&old, id).unwrap().expose(), "k");
        assert!(other.is_current(&new) && !other.is_current(&old));
    }

    #[test]
    fn bad_key_files_are_refused_without_quoting_keys() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("psk.key");
        assert!(KeyRing::open(&path, false).is_err());
        std::fs::write(&path, "k1 c2hvcnQ=\n").unwrap();
        let e = KeyRing::open(&path, false).err().unwrap().to_string();
        assert!(e.contains("line 1") && !e.contains("c2hvcnQ"), "{e}");
        std::fs::write(&path, "# nothing\n").unwrap();
        assert!(KeyRing::open(&path, false).err().unwrap().to_string().contains("no key"));
    }
}
