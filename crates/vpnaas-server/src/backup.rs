//! `vpnaas backup` and `vpnaas restore` for SQLite, the embedded default: an online,
//! consistent copy taken while the server writes, and its return into a fresh data directory.
//! PostgreSQL and MariaDB have their own tools (`pg_dump`, `mariadb-backup`), which the
//! README's backup section names.
//!
//! A backup is a directory holding `vpnaas.db` (the copy) and `backup.json` (what was copied:
//! the release, the schema, the rows of each resource, and the ids of the keys that sealed its
//! secrets). The key file is not in it: the secrets stay sealed, and the key file is kept apart.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use crate::config::Config;
use crate::secrets::KeyRing;
use crate::store::{self, PoolSettings, Store};
use crate::{open_keys, open_store, service, CommandError};

/// What `backup.json` holds.
#[derive(Debug, serde::Serialize, serde::Deserialize)]
pub struct Manifest {
    /// The release that took the backup.
    pub vpnaas: String,
    /// The copy's schema version.
    pub schema: i64,
    /// When the copy was taken (microseconds since the epoch).
    pub taken_at: i64,
    /// Rows of each resource table.
    pub rows: std::collections::BTreeMap<String, i64>,
    /// The keys the copy's secrets were sealed with: the key file a restore is given must hold them.
    pub key_ids: BTreeSet<String>,
    /// How many sealed secrets (pre-shared keys, private keys) the copy holds.
    pub secrets: usize,
}

/// Why a backup or a restore could not be made.
#[derive(Debug)]
pub enum BackupError {
    /// The configured database is not SQLite: its own tool makes the backup.
    NotSqlite(&'static str),
    /// The backup directory already holds a backup.
    TargetExists(PathBuf),
    /// The data directory to restore into already holds a database.
    DatabaseExists(PathBuf),
    /// The backup directory holds no backup.
    NoBackup(PathBuf),
    /// The key file lacks keys the backup's secrets were sealed with.
    MissingKeys {
        file: PathBuf,
        keys: Vec<String>,
    },
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    Manifest {
        path: PathBuf,
        source: serde_json::Error,
    },
}

impl std::fmt::Display for BackupError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            BackupError::NotSqlite(tool) => {
                write!(f, "vpnaas backup and restore are for SQLite; back this database up with {tool}")
            }
            BackupError::TargetExists(p) => write!(f, "{} already holds a backup; name a new directory", p.display()),
            BackupError::DatabaseExists(p) => {
                write!(f, "{} already exists; restore into a fresh data directory", p.display())
            }
            BackupError::NoBackup(p) => write!(f, "{} holds no backup (no vpnaas.db and backup.json)", p.display()),
            BackupError::MissingKeys { file, keys } => write!(
                f,
                "the key file {} lacks key(s) {} that sealed the backup's secrets; give the key file kept with it (psk_key_file)",
                file.display(),
                keys.join(", ")
            ),
            BackupError::Io { path, source } => write!(f, "{}: {source}", path.display()),
            BackupError::Manifest { path, source } => write!(f, "{}: {source}", path.display()),
        }
    }
}

impl std::error::Error for BackupError {}

impl From<BackupError> for CommandError {
    fn from(e: BackupError) -> Self {
        CommandError::Backup(e)
    }
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> BackupError + '_ {
    move |source| BackupError::Io { path: path.to_owned(), source }
}

/// The SQLite database file of the settings, or the tool to use instead.
fn sqlite_file(config: &Config) -> Result<PathBuf, BackupError> {
    match &config.database_url {
        Some(url) if url.is_postgres() => Err(BackupError::NotSqlite("pg_dump (and pg_restore)")),
        Some(url) if url.is_mariadb() => Err(BackupError::NotSqlite("mariadb-backup (or mariadb-dump)")),
        _ => Ok(crate::sqlite_path(config)),
    }
}

const DATABASE: &str = "vpnaas.db";
const MANIFEST: &str = "backup.json";

/// `vpnaas backup --to DIR`: copies the running installation's database as of one moment into
/// `DIR`, while the server goes on serving, and says what the copy holds.
pub async fn backup(config: &Config, to: &Path) -> Result<Manifest, CommandError> {
    let source = sqlite_file(config)?;
    if !source.exists() {
        return Err(CommandError::SourceMissing(source));
    }
    let (copy, manifest_path) = (to.join(DATABASE), to.join(MANIFEST));
    if copy.exists() || manifest_path.exists() {
        return Err(BackupError::TargetExists(to.to_owned()).into());
    }
    std::fs::create_dir_all(to).map_err(io(to))?;
    let taken_at = crate::clock::now_micros();
    store::backup::vacuum_into(&source, &copy)?;
    let (schema, rows) = store::backup::summary(&copy)?;
    // Which keys sealed the copy's secrets, and that each opens with the key file at hand.
    let copied = Store::open_sqlite(&copy, PoolSettings::default()).await?;
    let checked = service::check_secrets(&copied, &open_keys(config)?).await;
    copied.close().await;
    let (secrets, key_ids) = checked.map_err(CommandError::Reseal)?;
    let manifest = Manifest {
        vpnaas: env!("CARGO_PKG_VERSION").to_owned(),
        schema,
        taken_at,
        rows: rows.into_iter().map(|(t, n)| (t.to_owned(), n)).collect(),
        key_ids,
        secrets,
    };
    let text = serde_json::to_string_pretty(&manifest)
        .map_err(|source| BackupError::Manifest { path: manifest_path.clone(), source })?;
    std::fs::write(&manifest_path, text).map_err(io(&manifest_path))?;
    Ok(manifest)
}

/// `vpnaas restore --from DIR`: puts a backup's database in place of the settings' (which must
/// not exist yet), brings its schema up to date, and opens every sealed secret with the key
/// file of the settings, which must hold the keys the backup names.
pub async fn restore(config: &Config, from: &Path) -> Result<(Manifest, usize), CommandError> {
    let target = sqlite_file(config)?;
    if target.exists() {
        return Err(BackupError::DatabaseExists(target).into());
    }
    let (copy, manifest_path) = (from.join(DATABASE), from.join(MANIFEST));
    if !copy.exists() || !manifest_path.exists() {
        return Err(BackupError::NoBackup(from.to_owned()).into());
    }
    let text = std::fs::read_to_string(&manifest_path).map_err(io(&manifest_path))?;
    let manifest: Manifest =
        serde_json::from_str(&text).map_err(|source| BackupError::Manifest { path: manifest_path.clone(), source })?;
    let file = config.key_file();
    let keys = KeyRing::open(&file, false)?;
    let missing: Vec<String> = manifest.key_ids.iter().filter(|id| !keys.holds(id)).cloned().collect();
    if !missing.is_empty() {
        return Err(BackupError::MissingKeys { file, keys: missing }.into());
    }
    if let Some(dir) = target.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(|source| CommandError::CreateDataDir { dir: dir.to_owned(), source })?;
    }
    // Copied beside, then renamed: a restore cut short leaves no half database in place.
    let partial = target.with_extension("db.restoring");
    std::fs::copy(&copy, &partial).map_err(io(&partial))?;
    std::fs::File::open(&partial).and_then(|f| f.sync_all()).map_err(io(&partial))?;
    std::fs::rename(&partial, &target).map_err(io(&target))?;
    let store = open_store(config).await?;
    let checked = service::check_secrets(&store, &keys).await;
    store.close().await;
    let (opened, _) = checked.map_err(CommandError::Reseal)?;
    Ok((manifest, opened))
}
