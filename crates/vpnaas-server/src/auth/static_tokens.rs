//! Static-token mode: a TOML file of tokens, each with its project and roles, for small
//! installations without Keystone. The file is read again when it changes (looked at no
//! more than once a second); tokens are compared in constant time.
//!
//! ```toml
//! [[token]]
//! token = "a-long-random-string"
//! project_id = "0b4c..."
//! roles = ["member"]          # admin, member, reader, service, ...; implied roles added
//! user_id = "alice"           # optional
//! ```

use std::fmt;
use std::path::{Path, PathBuf};

use serde::Deserialize;

use super::policy::Credentials;
use crate::config::Secret;
use crate::watched::Watched;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct File {
    #[serde(default)]
    token: Vec<Entry>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Entry {
    token: String,
    project_id: String,
    #[serde(default)]
    user_id: Option<String>,
    #[serde(default)]
    roles: Vec<String>,
}

pub struct StaticTokens(Watched<Vec<(Secret, Credentials)>, TokenFileError>);

const MIN_TOKEN_LEN: usize = 16;

/// Why the static token file is refused. It names the file and the place, never a token.
#[derive(Debug)]
pub enum TokenFileError {
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    /// toml's message and line only: its full error quotes the line, which may hold a token.
    NotToml {
        path: PathBuf,
        message: String,
        line: usize,
    },
    /// `n` counts the file's tokens from 1.
    Short {
        path: PathBuf,
        n: usize,
    },
    NoProject {
        path: PathBuf,
        n: usize,
    },
}

impl fmt::Display for TokenFileError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TokenFileError::Read { path, source } => write!(f, "cannot read {}: {source}", path.display()),
            TokenFileError::NotToml { path, message, line } => {
                write!(f, "{}: {message} (line {line})", path.display())
            }
            TokenFileError::Short { path, n } => {
                write!(f, "{}: token #{n} is shorter than {MIN_TOKEN_LEN} characters", path.display())
            }
            TokenFileError::NoProject { path, n } => write!(f, "{}: token #{n} has no project_id", path.display()),
        }
    }
}

impl std::error::Error for TokenFileError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            TokenFileError::Read { source, .. } => Some(source),
            _ => None,
        }
    }
}

/// Reads and checks the file. Errors name the file and the place, never a token.
fn read(path: &Path) -> Result<Vec<(Secret, Credentials)>, TokenFileError> {
    let text =
        std::fs::read_to_string(path).map_err(|source| TokenFileError::Read { path: path.to_owned(), source })?;
    let file: File = toml::from_str(&text).map_err(|e| {
        let line = e.span().map(|s| text[..s.start.min(text.len())].lines().count().max(1));
        TokenFileError::NotToml { path: path.to_owned(), message: e.message().to_owned(), line: line.unwrap_or(0) }
    })?;
    let mut out = Vec::with_capacity(file.token.len());
    for (n, entry) in file.token.into_iter().enumerate() {
        if entry.token.len() < MIN_TOKEN_LEN {
            return Err(TokenFileError::Short { path: path.to_owned(), n: n + 1 });
        }
        if entry.project_id.trim().is_empty() {
            return Err(TokenFileError::NoProject { path: path.to_owned(), n: n + 1 });
        }
        let creds = Credentials::new(entry.project_id, entry.user_id, entry.roles).with_implied_roles();
        out.push((Secret(entry.token), creds));
    }
    Ok(out)
}

impl StaticTokens {
    /// Reads the file; a missing or malformed file is an error at startup.
    pub fn open(path: &Path) -> Result<StaticTokens, TokenFileError> {
        Watched::open(path, "static token file", read).map(StaticTokens)
    }

    /// The credentials of `token`, if the file holds it. Every entry is compared, each in
    /// constant time, so the time taken does not tell how much of a token was right.
    pub fn lookup(&self, token: &str) -> Option<Credentials> {
        let entries = self.0.current(false);
        let mut found = None;
        for (secret, creds) in entries.iter() {
            if secret.matches(token) && found.is_none() {
                found = Some(creds.clone());
            }
        }
        found
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::watched::RECHECK;

    #[test]
    fn tokens_map_to_project_and_roles_and_the_file_is_reread_when_it_changes() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("tokens.toml");
        std::fs::write(&path, "[[token]]\ntoken = \"aaaaaaaaaaaaaaaa1\"\nproject_id = \"p1\"\nroles = [\"member\"]\n")
            .unwrap();
        let t = StaticTokens::open(&path).unwrap();
        let c = t.lookup("aaaaaaaaaaaaaaaa1").unwrap();
        assert_eq!(c.project_id, "p1");
        assert_eq!(c.roles, ["member", "reader"]);
        assert!(t.lookup("aaaaaaaaaaaaaaaa").is_none());
        assert!(t.lookup("aaaaaaaaaaaaaaaa12").is_none());
        std::fs::write(
            &path,
            "[[token]]\ntoken = \"bbbbbbbbbbbbbbbb2\"\nproject_id = \"p2\"\nuser_id = \"u\"\nroles = [\"reader\"]\n",
        )
        .unwrap();
        std::thread::sleep(RECHECK + Duration::from_millis(50));
        assert!(t.lookup("aaaaaaaaaaaaaaaa1").is_none());
        assert_eq!(t.lookup("bbbbbbbbbbbbbbbb2").unwrap().user_id.as_deref(), Some("u"));
        // A broken file keeps the last good set, and its error shows no token.
        std::fs::write(&path, "[[token]]\ntoken = \"cccccccccccccccc3\"\nproject = 1\n").unwrap();
        std::thread::sleep(RECHECK + Duration::from_millis(50));
        assert!(t.lookup("bbbbbbbbbbbbbbbb2").is_some());
        let e = read(&path).err().unwrap().to_string();
        assert!(!e.contains("cccc"), "{e}");
    }

    #[test]
    fn short_tokens_and_missing_projects_are_refused_at_startup() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("tokens.toml");
        std::fs::write(&path, "[[token]]\ntoken = \"short\"\nproject_id = \"p1\"\n").unwrap();
        assert!(StaticTokens::open(&path).err().unwrap().to_string().contains("shorter"));
        std::fs::write(&path, "[[token]]\ntoken = \"aaaaaaaaaaaaaaaaaaa\"\nproject_id = \" \"\n").unwrap();
        assert!(StaticTokens::open(&path).err().unwrap().to_string().contains("no project_id"));
    }
}
