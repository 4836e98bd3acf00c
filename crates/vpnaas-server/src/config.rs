//! Server settings, loaded once from defaults, an optional TOML file, the environment and flags, in that order.

use std::collections::BTreeMap;
use std::fmt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use serde::Deserialize;
use vpnaas_core::profile::{Profile, OPENSTACK};

/// The settings of `vpnaas serve` and `vpnaas migrate`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    /// Where the API listens; loopback by default (DECISIONS D8).
    pub listen: SocketAddr,
    /// Where the SQLite database lives.
    pub data_dir: PathBuf,
    /// `postgres://...` selects PostgreSQL; a SQLite path or `sqlite://` URL selects that
    /// file; unset means `<data_dir>/vpnaas.db`.
    pub database_url: Option<DatabaseUrl>,
    /// Connections per server process.
    pub database_max_connections: u32,
    /// Seconds a request waits for a database connection before it is answered 503.
    pub database_timeout_secs: u64,
    /// The project given to requests that name none; off by default (they get a 401).
    pub noauth_default_project: Option<String>,
    /// noauth tokens: an `X-Auth-Token` found here names the caller's project and roles
    /// (for clients such as `openstack --os-auth-type none` that send a token but no project).
    pub noauth_tokens: NoauthTokens,
    /// The credential gateway agents present (`Authorization: Bearer ...`); without it the
    /// gateway API refuses everyone.
    pub agent_token: Option<Secret>,
    /// Seconds between agent heartbeats, and after how many without one a gateway is dead.
    pub agent_heartbeat_secs: u64,
    pub agent_dead_after_secs: u64,
    /// How long a pair's active member stays active before a failure report swaps the pair.
    pub ha_hold_down_secs: u64,
    /// The validation profile (DECISIONS D3): `openstack` (default) or `otc`.
    pub profile: &'static Profile,
    /// The tracing filter (`info`, `vpnaas_server=debug`, ...).
    pub log: String,
    /// How callers are authenticated: `noauth` (default), `static` or `keystone`.
    pub auth_strategy: AuthStrategy,
    /// Keystone mode's settings.
    pub keystone: KeystoneSettings,
    /// Static-token mode's file of tokens.
    pub static_tokens_file: Option<PathBuf>,
    /// A policy file overriding the default rules (oslo.policy YAML or JSON).
    pub policy_file: Option<PathBuf>,
    /// The keys that seal pre-shared keys at rest; unset means `<data_dir>/psk.key`.
    pub psk_key_file: Option<PathBuf>,
}

/// How callers are authenticated (`auth_strategy`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum AuthStrategy {
    #[default]
    Noauth,
    Static,
    Keystone,
}

impl AuthStrategy {
    fn parse(v: &str) -> Result<AuthStrategy, String> {
        match v {
            "noauth" => Ok(AuthStrategy::Noauth),
            "static" => Ok(AuthStrategy::Static),
            "keystone" => Ok(AuthStrategy::Keystone),
            _ => Err(format!("auth_strategy must be \"noauth\", \"static\" or \"keystone\", not {v:?}")),
        }
    }
}

/// Where Keystone is and who this service is to it (keystonemiddleware's `[keystone_authtoken]`).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct KeystoneSettings {
    /// The identity service, such as `http://keystone:5000` (a trailing `/v3` is allowed).
    #[serde(rename = "url")]
    pub url: Option<String>,
    pub username: String,
    #[serde(deserialize_with = "secret")]
    pub password: Secret,
    pub project_name: String,
    pub user_domain_name: String,
    pub project_domain_name: String,
    /// A validation is reused until its token expires or this many seconds pass.
    pub cache_secs: u64,
    /// Seconds a call to Keystone may take before the request is answered 503.
    pub timeout_secs: u64,
}

impl Default for KeystoneSettings {
    fn default() -> Self {
        KeystoneSettings {
            url: None,
            username: String::new(),
            password: Secret(String::new()),
            project_name: "service".into(),
            user_domain_name: "Default".into(),
            project_domain_name: "Default".into(),
            cache_secs: 300,
            timeout_secs: 3,
        }
    }
}

fn secret<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Secret, D::Error> {
    String::deserialize(d).map(Secret)
}

impl Default for Config {
    fn default() -> Self {
        Config {
            listen: SocketAddr::from(([127, 0, 0, 1], 9696)),
            data_dir: PathBuf::from("vpnaas-data"),
            database_url: None,
            database_max_connections: 16,
            database_timeout_secs: 3,
            noauth_default_project: None,
            noauth_tokens: NoauthTokens::default(),
            agent_token: None,
            agent_heartbeat_secs: 2,
            agent_dead_after_secs: 10,
            ha_hold_down_secs: 30,
            profile: &OPENSTACK,
            log: "info".to_owned(),
            auth_strategy: AuthStrategy::Noauth,
            keystone: KeystoneSettings::default(),
            static_tokens_file: None,
            policy_file: None,
            psk_key_file: None,
        }
    }
}

/// The file's shape: every key optional, unknown keys refused.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileConfig {
    listen: Option<String>,
    data_dir: Option<PathBuf>,
    database_url: Option<String>,
    database_max_connections: Option<u32>,
    database_timeout_secs: Option<u64>,
    noauth_default_project: Option<String>,
    noauth_tokens: Option<BTreeMap<String, FileIdentity>>,
    profile: Option<String>,
    agent_token: Option<String>,
    agent_heartbeat_secs: Option<u64>,
    agent_dead_after_secs: Option<u64>,
    ha_hold_down_secs: Option<u64>,
    log: Option<String>,
    auth_strategy: Option<String>,
    keystone: Option<KeystoneSettings>,
    static_tokens_file: Option<PathBuf>,
    policy_file: Option<PathBuf>,
    psk_key_file: Option<PathBuf>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileIdentity {
    project: String,
    #[serde(default)]
    roles: Vec<String>,
}

/// A secret setting (the agent token). It never prints.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(pub String);

impl Secret {
    /// Compares in time independent of where the texts differ.
    pub fn matches(&self, offered: &str) -> bool {
        let (a, b) = (self.0.as_bytes(), offered.as_bytes());
        let mut diff = u8::from(a.len() != b.len());
        for (i, x) in a.iter().enumerate() {
            diff |= x ^ b.get(i).copied().unwrap_or(0);
        }
        diff == 0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(***)")
    }
}

/// A database URL. It may hold a password, so it prints with the password masked.
#[derive(Clone, PartialEq, Eq)]
pub struct DatabaseUrl(pub String);

impl DatabaseUrl {
    pub fn is_postgres(&self) -> bool {
        self.0.starts_with("postgres://") || self.0.starts_with("postgresql://")
    }
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for DatabaseUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // scheme://user:password@host/db -> scheme://user:***@host/db
        if let Some((scheme, rest)) = self.0.split_once("://") {
            if let Some((credentials, host)) = rest.rsplit_once('@') {
                let user = credentials.split(':').next().unwrap_or("");
                return write!(f, "{scheme}://{user}:***@{host}");
            }
        }
        f.write_str(&self.0)
    }
}

impl fmt::Debug for DatabaseUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "DatabaseUrl({self})")
    }
}

/// Who a noauth token stands for.
#[derive(Clone, PartialEq, Eq)]
pub struct Identity {
    pub project: String,
    pub roles: Vec<String>,
}

/// The noauth token map. Its `Debug` never shows a token.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct NoauthTokens(BTreeMap<String, Identity>);

impl NoauthTokens {
    pub fn get(&self, token: &str) -> Option<&Identity> {
        self.0.get(token)
    }
    pub fn insert(&mut self, token: String, identity: Identity) {
        self.0.insert(token, identity);
    }
    /// `TOKEN=PROJECT[:ROLE,ROLE];...`, the environment's form.
    fn parse(text: &str) -> Result<NoauthTokens, String> {
        let mut map = NoauthTokens::default();
        for entry in text.split(';').map(str::trim).filter(|e| !e.is_empty()) {
            let (token, who) = entry
                .split_once('=')
                .ok_or_else(|| "VPNAAS_NOAUTH_TOKENS entries are TOKEN=PROJECT[:ROLE,ROLE]".to_owned())?;
            let (project, roles) = who.split_once(':').unwrap_or((who, ""));
            let roles = roles.split(',').map(str::trim).filter(|r| !r.is_empty()).map(str::to_owned).collect();
            map.insert(token.trim().to_owned(), Identity { project: project.trim().to_owned(), roles });
        }
        Ok(map)
    }
}

impl fmt::Debug for NoauthTokens {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "NoauthTokens({} tokens)", self.0.len())
    }
}

impl Config {
    pub fn database_path(&self) -> PathBuf {
        self.data_dir.join("vpnaas.db")
    }

    /// The key file that seals pre-shared keys at rest.
    pub fn key_file(&self) -> PathBuf {
        self.psk_key_file.clone().unwrap_or_else(|| self.data_dir.join("psk.key"))
    }

    /// Loads the settings: defaults, then the file (`--config` or `VPNAAS_CONFIG`), then
    /// `VPNAAS_*` environment variables, then command-line flags.
    pub fn load(flags: &Flags, env: impl Fn(&str) -> Option<String>) -> Result<Config, String> {
        let mut c = Config::default();
        let file = flags.config.clone().or_else(|| env("VPNAAS_CONFIG").map(PathBuf::from));
        if let Some(path) = file {
            c.apply_file(&path)?;
        }
        if let Some(v) = env("VPNAAS_LISTEN") {
            c.listen = parse_listen(&v)?;
        }
        if let Some(v) = env("VPNAAS_DATA_DIR") {
            c.data_dir = PathBuf::from(v);
        }
        if let Some(v) = env("VPNAAS_DATABASE_URL").filter(|v| !v.is_empty()) {
            c.database_url = Some(DatabaseUrl(v));
        }
        number(&env, "VPNAAS_DATABASE_MAX_CONNECTIONS", &mut c.database_max_connections)?;
        number(&env, "VPNAAS_DATABASE_TIMEOUT_SECS", &mut c.database_timeout_secs)?;
        if let Some(v) = env("VPNAAS_NOAUTH_DEFAULT_PROJECT") {
            c.noauth_default_project = Some(v).filter(|s| !s.is_empty());
        }
        if let Some(v) = env("VPNAAS_NOAUTH_TOKENS") {
            c.noauth_tokens = NoauthTokens::parse(&v)?;
        }
        if let Some(v) = env("VPNAAS_AGENT_TOKEN").filter(|v| !v.is_empty()) {
            c.agent_token = Some(Secret(v));
        }
        number(&env, "VPNAAS_AGENT_DEAD_AFTER_SECS", &mut c.agent_dead_after_secs)?;
        number(&env, "VPNAAS_HA_HOLD_DOWN_SECS", &mut c.ha_hold_down_secs)?;
        if let Some(v) = env("VPNAAS_PROFILE") {
            c.profile = parse_profile(&v)?;
        }
        if let Some(v) = env("VPNAAS_LOG") {
            c.log = v;
        }
        if let Some(v) = env("VPNAAS_AUTH_STRATEGY") {
            c.auth_strategy = AuthStrategy::parse(&v)?;
        }
        let k = &mut c.keystone;
        for (name, field) in [
            ("VPNAAS_KEYSTONE_USERNAME", &mut k.username),
            ("VPNAAS_KEYSTONE_PROJECT_NAME", &mut k.project_name),
            ("VPNAAS_KEYSTONE_USER_DOMAIN_NAME", &mut k.user_domain_name),
            ("VPNAAS_KEYSTONE_PROJECT_DOMAIN_NAME", &mut k.project_domain_name),
        ] {
            if let Some(v) = env(name) {
                *field = v;
            }
        }
        if let Some(v) = env("VPNAAS_KEYSTONE_URL").filter(|v| !v.is_empty()) {
            k.url = Some(v);
        }
        if let Some(v) = env("VPNAAS_KEYSTONE_PASSWORD") {
            k.password = Secret(v);
        }
        number(&env, "VPNAAS_KEYSTONE_CACHE_SECS", &mut k.cache_secs)?;
        number(&env, "VPNAAS_KEYSTONE_TIMEOUT_SECS", &mut k.timeout_secs)?;
        for (name, field) in [
            ("VPNAAS_STATIC_TOKENS_FILE", &mut c.static_tokens_file),
            ("VPNAAS_POLICY_FILE", &mut c.policy_file),
            ("VPNAAS_PSK_KEY_FILE", &mut c.psk_key_file),
        ] {
            if let Some(v) = env(name).filter(|v| !v.is_empty()) {
                *field = Some(PathBuf::from(v));
            }
        }
        if let Some(v) = &flags.listen {
            c.listen = parse_listen(v)?;
        }
        if let Some(v) = &flags.data_dir {
            c.data_dir.clone_from(v);
        }
        Ok(c)
    }

    fn apply_file(&mut self, path: &Path) -> Result<(), String> {
        let text = std::fs::read_to_string(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
        let f: FileConfig = toml::from_str(&text).map_err(|e| format!("bad config {}: {e}", path.display()))?;
        if let Some(v) = f.listen {
            self.listen = parse_listen(&v)?;
        }
        if let Some(v) = f.data_dir {
            self.data_dir = v;
        }
        if let Some(v) = f.database_url {
            self.database_url = Some(DatabaseUrl(v));
        }
        if let Some(v) = f.database_max_connections {
            self.database_max_connections = v;
        }
        if let Some(v) = f.database_timeout_secs {
            self.database_timeout_secs = v;
        }
        if let Some(v) = f.noauth_default_project {
            self.noauth_default_project = Some(v).filter(|s| !s.is_empty());
        }
        if let Some(tokens) = f.noauth_tokens {
            for (token, who) in tokens {
                self.noauth_tokens.insert(token, Identity { project: who.project, roles: who.roles });
            }
        }
        if let Some(v) = f.agent_token {
            self.agent_token = Some(Secret(v));
        }
        if let Some(v) = f.agent_heartbeat_secs {
            self.agent_heartbeat_secs = v;
        }
        if let Some(v) = f.agent_dead_after_secs {
            self.agent_dead_after_secs = v;
        }
        if let Some(v) = f.ha_hold_down_secs {
            self.ha_hold_down_secs = v;
        }
        if let Some(v) = f.profile {
            self.profile = parse_profile(&v)?;
        }
        if let Some(v) = f.log {
            self.log = v;
        }
        if let Some(v) = f.auth_strategy {
            self.auth_strategy = AuthStrategy::parse(&v)?;
        }
        if let Some(v) = f.keystone {
            self.keystone = v;
        }
        for (value, field) in [
            (f.static_tokens_file, &mut self.static_tokens_file),
            (f.policy_file, &mut self.policy_file),
            (f.psk_key_file, &mut self.psk_key_file),
        ] {
            if value.is_some() {
                *field = value;
            }
        }
        Ok(())
    }
}

/// Sets `field` from the environment variable `name` when it is set, refusing non-numbers.
fn number<T: std::str::FromStr>(env: impl Fn(&str) -> Option<String>, name: &str, field: &mut T) -> Result<(), String> {
    if let Some(v) = env(name) {
        *field = v.parse().map_err(|_| format!("{name} must be a number, not {v:?}"))?;
    }
    Ok(())
}

fn parse_profile(v: &str) -> Result<&'static Profile, String> {
    Profile::by_name(v).ok_or_else(|| format!("profile must be \"openstack\" or \"otc\", not {v:?}"))
}

fn parse_listen(v: &str) -> Result<SocketAddr, String> {
    v.parse().map_err(|_| format!("listen must be an address:port such as 127.0.0.1:9696, not {v:?}"))
}

/// Command-line flags that override the settings.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Flags {
    pub config: Option<PathBuf>,
    pub listen: Option<String>,
    pub data_dir: Option<PathBuf>,
    /// `migrate --from-sqlite FILE`: a SQLite database to copy into the configured one.
    pub from_sqlite: Option<PathBuf>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flags_override_environment_which_overrides_file() {
        let dir = std::env::temp_dir().join(format!("vpnaas-cfg-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("c.toml");
        std::fs::write(&file, "listen = \"127.0.0.1:1000\"\ndata_dir = \"/f\"\nlog = \"debug\"\n").unwrap();
        let env = |k: &str| (k == "VPNAAS_DATA_DIR").then(|| "/e".to_owned());
        let flags = Flags { config: Some(file), listen: Some("127.0.0.1:2000".into()), ..Flags::default() };
        let c = Config::load(&flags, env).unwrap();
        assert_eq!(c.listen.port(), 2000);
        assert_eq!(c.data_dir, PathBuf::from("/e"));
        assert_eq!(c.log, "debug");
    }

    #[test]
    fn noauth_tokens_come_from_the_file_and_the_environment_and_never_print() {
        let dir = std::env::temp_dir().join(format!("vpnaas-cfg3-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("c.toml");
        std::fs::write(&file, "[noauth_tokens]\nsecret-admin = { project = \"admin\", roles = [\"admin\"] }\n")
            .unwrap();
        let flags = Flags { config: Some(file), ..Flags::default() };
        let c = Config::load(&flags, |_| None).unwrap();
        assert_eq!(c.noauth_tokens.get("secret-admin").map(|i| i.roles.clone()), Some(vec!["admin".to_owned()]));
        assert!(!format!("{c:?}").contains("secret-admin"));
        let env = |k: &str| (k == "VPNAAS_NOAUTH_TOKENS").then(|| "notused=demo; t2=p2:member,reader".to_owned());
        let c = Config::load(&Flags::default(), env).unwrap();
        assert_eq!(c.noauth_tokens.get("notused").map(|i| i.project.as_str()), Some("demo"));
        assert_eq!(c.noauth_tokens.get("t2").map(|i| i.roles.len()), Some(2));
    }

    #[test]
    fn the_profile_is_openstack_unless_set_and_unknown_names_are_refused() {
        assert_eq!(Config::load(&Flags::default(), |_| None).unwrap().profile.name, "openstack");
        let otc = |k: &str| (k == "VPNAAS_PROFILE").then(|| "otc".to_owned());
        assert_eq!(Config::load(&Flags::default(), otc).unwrap().profile.name, "otc");
        let bad = |k: &str| (k == "VPNAAS_PROFILE").then(|| "aws".to_owned());
        assert!(Config::load(&Flags::default(), bad).unwrap_err().contains("openstack"));
    }

    #[test]
    fn database_urls_never_print_their_password() {
        let url = DatabaseUrl("postgres://vpn:s3cret@db.example:5432/vpnaas".into());
        assert!(url.is_postgres());
        assert_eq!(url.to_string(), "postgres://vpn:***@db.example:5432/vpnaas");
        assert!(!format!("{url:?}").contains("s3cret"));
    }

    #[test]
    fn numeric_settings_refuse_what_is_not_a_number() {
        let env = |k: &str| (k == "VPNAAS_HA_HOLD_DOWN_SECS").then(|| "soon".to_owned());
        let err = Config::load(&Flags::default(), env).unwrap_err();
        assert!(err.contains("VPNAAS_HA_HOLD_DOWN_SECS must be a number"), "{err}");
        let env = |k: &str| (k == "VPNAAS_DATABASE_MAX_CONNECTIONS").then(|| "4".to_owned());
        assert_eq!(Config::load(&Flags::default(), env).unwrap().database_max_connections, 4);
    }

    #[test]
    fn unknown_file_keys_are_refused() {
        let dir = std::env::temp_dir().join(format!("vpnaas-cfg2-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("c.toml");
        std::fs::write(&file, "lissten = \"x\"\n").unwrap();
        let flags = Flags { config: Some(file), ..Flags::default() };
        assert!(Config::load(&flags, |_| None).is_err());
    }
}
