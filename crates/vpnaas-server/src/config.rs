//! Server settings, loaded once: defaults, then a TOML file (`--config FILE` or
//! `VPNAAS_CONFIG`), then `VPNAAS_*` environment variables, then command-line flags, each
//! layer overriding the ones before it.
//!
//! figment merges the layers and remembers which layer every value came from, so a bad value
//! is reported with the setting and its source: `listen in /etc/vpnaas.toml ...`,
//! `VPNAAS_LISTEN ...` or `--listen ...`. [`SETTINGS`] is the one list of settings: their
//! file keys, variables, flags and defaults; the command line and its `--help` are built
//! from it.

use std::collections::BTreeMap;
use std::fmt;
use std::marker::PhantomData;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use crate::notifications::{Publisher, TransportUrl};
use figment::value::{Dict, Map, Value};
use figment::{Figment, Metadata, Provider, Source};
use serde::de::{self, Deserializer, MapAccess, Visitor};
use serde::Deserialize;
use vpnaas_core::allowed::AlgorithmPolicy;
use vpnaas_core::profile::{Profile, OPENSTACK};
use vpnaas_core::quota::{Counted, Limit, Limits};

/// The settings of `vpnaas serve`, `vpnaas migrate` and `vpnaas rotate-key`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// Where the API listens; loopback by default (ADR 0001 D8).
    #[serde(deserialize_with = "listen")]
    pub listen: SocketAddr,
    /// Where the SQLite database lives.
    pub data_dir: PathBuf,
    /// `postgres://...` selects PostgreSQL, `mysql://...` (or `mariadb://`) MariaDB; a SQLite
    /// path or `sqlite://` URL selects that file; unset means `<data_dir>/vpnaas.db`.
    pub database_url: Option<DatabaseUrl>,
    /// Connections per server process.
    #[serde(deserialize_with = "number")]
    pub database_max_connections: u32,
    /// Seconds a request waits for a database connection before it is answered 503.
    #[serde(deserialize_with = "number")]
    pub database_timeout_secs: u64,
    /// HTTP connections served at once; more are answered 503 (ADR 0013 §2). Lowered at start
    /// when the process's open-file limit has no room for it.
    #[serde(deserialize_with = "number")]
    pub http_max_connections: usize,
    /// Gateway agents' connections (`/v2.0/gateway/...`) served at once, a budget of their own
    /// beside `http_max_connections` (ADR 0023). Lowered at start, before that one, when the
    /// open-file limit has no room for both.
    #[serde(deserialize_with = "number")]
    pub http_max_gateway_connections: usize,
    /// Seconds a client has to send a request's head, from when the server waits for it.
    #[serde(deserialize_with = "number")]
    pub http_header_timeout_secs: u64,
    /// Seconds a kept-alive connection may sit idle between requests.
    #[serde(deserialize_with = "number")]
    pub http_idle_timeout_secs: u64,
    /// Seconds a client has to send a request's body (a 408 after).
    #[serde(deserialize_with = "number")]
    pub http_body_timeout_secs: u64,
    /// The project given to requests that name none; off by default (they get a 401).
    #[serde(deserialize_with = "optional_text")]
    pub noauth_default_project: Option<String>,
    /// noauth tokens: an `X-Auth-Token` found here names the caller's project and roles
    /// (for clients such as `openstack --os-auth-type none` that send a token but no project).
    pub noauth_tokens: NoauthTokens,
    /// The credential gateway agents present (`Authorization: Bearer ...`); without it the
    /// gateway API refuses everyone.
    pub agent_token: Option<Secret>,
    /// The credential a metrics scrape presents (`Authorization: Bearer ...`); without it
    /// `/metrics` is open (ADR 0015).
    pub metrics_token: Option<Secret>,
    /// Seconds between agent heartbeats, and after how many without one a gateway is dead.
    #[serde(deserialize_with = "number")]
    pub agent_heartbeat_secs: u64,
    #[serde(deserialize_with = "number")]
    pub agent_dead_after_secs: u64,
    /// How long a pair's active member stays active before a failure report swaps the pair.
    #[serde(deserialize_with = "number")]
    pub ha_hold_down_secs: u64,
    /// The validation profile (ADR 0001 D3): `openstack` (default) or `otc`.
    #[serde(deserialize_with = "profile")]
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
    /// HTTPS: the server's certificate chain and private key (PEM), read again when they
    /// change; both unset means plain HTTP (ADR 0016).
    pub tls_cert_file: Option<PathBuf>,
    pub tls_key_file: Option<PathBuf>,
    /// HTTPS: the CA whose client certificates the gateway API accepts in place of the agent
    /// credential, each limited to the host or router it names.
    pub tls_client_ca_file: Option<PathBuf>,
    /// Hand desired states holding pre-shared keys to peers that are not loopback over plain HTTP.
    #[serde(deserialize_with = "boolean")]
    pub allow_plaintext_secrets: bool,
    /// Where routers and subnets come from: `standalone` (the local inventory, the default)
    /// or `neutron` (the cloud's Neutron API, ADR 0022).
    pub topology: TopologyKind,
    /// neutron mode: Neutron's base URL; unset means the Keystone catalog's `network`
    /// service, internal interface.
    #[serde(deserialize_with = "optional_text")]
    pub neutron_url: Option<String>,
    /// neutron mode: seconds an answer of Neutron is reused (the staleness bound), and the
    /// interval of the re-check that finds deleted routers and removed interfaces.
    #[serde(deserialize_with = "number")]
    pub neutron_cache_secs: u64,
    /// neutron mode: seconds a call to Neutron may take before the request is answered 503.
    #[serde(deserialize_with = "number")]
    pub neutron_timeout_secs: u64,
    /// The limits of a project that has none of its own (ADR 0041).
    pub quotas: QuotaSettings,
    /// The algorithms new and updated IKE and IPsec policies may use (ADR 0042).
    pub algorithms: AlgorithmSettings,
    /// Where notifications go (oslo.messaging's `transport_url`, `rabbit://...`); unset means
    /// none are published and no broker is needed (ADR 0043).
    #[serde(deserialize_with = "transport_url")]
    pub transport_url: Option<TransportUrl>,
    /// The host in the notifications' `publisher_id` (`network.<host>`); unset means this
    /// machine's host name.
    #[serde(deserialize_with = "optional_text")]
    pub notification_host: Option<String>,
    /// oslo.messaging's `control_exchange`: the exchange notifications go to.
    pub control_exchange: String,
    /// oslo.messaging's `amqp_durable_queues`: the exchange and the queue are durable.
    #[serde(deserialize_with = "boolean")]
    pub amqp_durable_queues: bool,
    /// A file CADF audit events of API writes are appended to, one JSON object per line.
    pub audit_file: Option<PathBuf>,
    /// The topic CADF audit events go to on the broker (`audit.http.response`); needs
    /// `transport_url`.
    #[serde(deserialize_with = "optional_text")]
    pub audit_topic: Option<String>,
}

/// `[algorithms]`: for each restricted attribute, the words new and updated policies may use
/// (a TOML array, or one text with commas); unset means every word the API accepts.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AlgorithmSettings {
    #[serde(deserialize_with = "encryption_words")]
    pub encryption_algorithm: Option<Vec<String>>,
    #[serde(deserialize_with = "auth_words")]
    pub auth_algorithm: Option<Vec<String>>,
    #[serde(deserialize_with = "pfs_words")]
    pub pfs: Option<Vec<String>>,
}

impl Config {
    /// As whom and where notifications are published, when `transport_url` is set.
    pub fn publisher(&self) -> Option<(TransportUrl, Publisher)> {
        let url = self.transport_url.clone()?;
        let host = self.notification_host.clone().unwrap_or_else(this_host);
        let publisher = Publisher {
            publisher_id: format!("network.{host}"),
            exchange: self.control_exchange.clone(),
            topic: "notifications".to_owned(),
            durable: self.amqp_durable_queues,
            audit_topic: self.audit_topic.clone(),
        };
        Some((url, publisher))
    }
}

/// This machine's host name, as oslo.config's `host` defaults to it.
fn this_host() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_owned())
        .ok()
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "localhost".to_owned())
}

impl AlgorithmSettings {
    /// The policy these settings describe (their words were checked when they were read).
    pub fn policy(&self) -> AlgorithmPolicy {
        let mut policy = AlgorithmPolicy::everything();
        let lists = [
            ("encryption_algorithm", &self.encryption_algorithm),
            ("auth_algorithm", &self.auth_algorithm),
            ("pfs", &self.pfs),
        ];
        for (attr, words) in lists {
            if let Some(words) = words {
                policy = match policy.clone().restrict(attr, words) {
                    Ok(p) => p,
                    // Unreachable: the deserializer refused unknown words already.
                    Err(_) => policy,
                };
            }
        }
        policy
    }
}

/// The default quota of each counted resource (`[quotas]`, Neutron's `[QUOTAS] quota_*`):
/// -1 is unlimited.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct QuotaSettings {
    #[serde(deserialize_with = "limit")]
    pub ikepolicy: Limit,
    #[serde(deserialize_with = "limit")]
    pub ipsecpolicy: Limit,
    #[serde(deserialize_with = "limit")]
    pub vpnservice: Limit,
    #[serde(deserialize_with = "limit")]
    pub endpoint_group: Limit,
    #[serde(deserialize_with = "limit")]
    pub ipsec_site_connection: Limit,
    #[serde(deserialize_with = "limit")]
    pub certificate: Limit,
}

impl Default for QuotaSettings {
    /// Unlimited, as upstream (which has no VPN quotas) is: a cloud sets its own.
    fn default() -> Self {
        let u = Limit::UNLIMITED;
        QuotaSettings {
            ikepolicy: u,
            ipsecpolicy: u,
            vpnservice: u,
            endpoint_group: u,
            ipsec_site_connection: u,
            certificate: u,
        }
    }
}

impl QuotaSettings {
    /// The limits in [`Counted::ALL`]'s order.
    pub fn limits(&self) -> Limits {
        let mut limits = Limits::UNLIMITED;
        for what in Counted::ALL {
            let limit = match what {
                Counted::IkePolicy => self.ikepolicy,
                Counted::IpsecPolicy => self.ipsecpolicy,
                Counted::VpnService => self.vpnservice,
                Counted::EndpointGroup => self.endpoint_group,
                Counted::SiteConnection => self.ipsec_site_connection,
                Counted::Certificate => self.certificate,
            };
            limits.set(what, limit);
        }
        limits
    }
}

/// Where routers and subnets come from (`topology`, ADR 0022).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum TopologyKind {
    #[default]
    Standalone,
    Neutron,
}

/// A setting's value that is none of its choices; the message follows the setting's name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NotAChoice {
    /// `"a" or "b"`, as the message lists them.
    pub choices: &'static str,
    pub value: String,
}

impl fmt::Display for NotAChoice {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "must be {}, not {:?}", self.choices, self.value)
    }
}

impl std::error::Error for NotAChoice {}

impl FromStr for TopologyKind {
    type Err = NotAChoice;
    fn from_str(v: &str) -> Result<TopologyKind, NotAChoice> {
        match v {
            "standalone" => Ok(TopologyKind::Standalone),
            "neutron" => Ok(TopologyKind::Neutron),
            _ => Err(NotAChoice { choices: "\"standalone\" or \"neutron\"", value: v.to_owned() }),
        }
    }
}

impl<'de> Deserialize<'de> for TopologyKind {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        String::deserialize(d)?.parse().map_err(de::Error::custom)
    }
}

/// How callers are authenticated (`auth_strategy`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum AuthStrategy {
    #[default]
    Noauth,
    Static,
    Keystone,
}

impl FromStr for AuthStrategy {
    type Err = NotAChoice;
    fn from_str(v: &str) -> Result<AuthStrategy, NotAChoice> {
        match v {
            "noauth" => Ok(AuthStrategy::Noauth),
            "static" => Ok(AuthStrategy::Static),
            "keystone" => Ok(AuthStrategy::Keystone),
            _ => Err(NotAChoice { choices: "\"noauth\", \"static\" or \"keystone\"", value: v.to_owned() }),
        }
    }
}

impl<'de> Deserialize<'de> for AuthStrategy {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        String::deserialize(d)?.parse().map_err(de::Error::custom)
    }
}

/// Where Keystone is and who this service is to it (keystonemiddleware's `[keystone_authtoken]`).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct KeystoneSettings {
    /// The identity service, such as `http://keystone:5000` (a trailing `/v3` is allowed).
    pub url: Option<String>,
    pub username: String,
    pub password: Secret,
    pub project_name: String,
    pub user_domain_name: String,
    pub project_domain_name: String,
    /// A validation is reused until its token expires or this many seconds pass.
    #[serde(deserialize_with = "number")]
    pub cache_secs: u64,
    /// Seconds a call to Keystone may take before the request is answered 503.
    #[serde(deserialize_with = "number")]
    pub timeout_secs: u64,
    /// PEM certificates trusted for an `https://` Keystone besides the platform's store (ADR 0016).
    pub ca_file: Option<PathBuf>,
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
            ca_file: None,
        }
    }
}

impl Default for Config {
    fn default() -> Self {
        Config {
            listen: SocketAddr::from(([127, 0, 0, 1], 9696)),
            data_dir: PathBuf::from("vpnaas-data"),
            database_url: None,
            database_max_connections: 16,
            database_timeout_secs: 3,
            http_max_connections: 512,
            http_max_gateway_connections: 16384,
            http_header_timeout_secs: 10,
            http_idle_timeout_secs: 75,
            http_body_timeout_secs: 60,
            noauth_default_project: None,
            noauth_tokens: NoauthTokens::default(),
            agent_token: None,
            metrics_token: None,
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
            tls_cert_file: None,
            tls_key_file: None,
            tls_client_ca_file: None,
            allow_plaintext_secrets: false,
            topology: TopologyKind::Standalone,
            neutron_url: None,
            neutron_cache_secs: 5,
            neutron_timeout_secs: 5,
            quotas: QuotaSettings::default(),
            algorithms: AlgorithmSettings::default(),
            transport_url: None,
            notification_host: None,
            control_exchange: "neutron".to_owned(),
            amqp_durable_queues: false,
            audit_file: None,
            audit_topic: None,
        }
    }
}

/// The settings table, one entry per setting (`config/settings.rs`).
mod settings;
pub use settings::{Setting, SETTINGS};

/// The settings whose values are credentials: a bad one is reported without its value.
const SECRET_KEYS: &[&str] =
    &["agent_token", "metrics_token", "keystone.password", "noauth_tokens", "database_url", "transport_url"];

/// A secret setting (a password, a token). It never prints.
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

impl<'de> Deserialize<'de> for Secret {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        String::deserialize(d).map(Secret)
    }
}

/// A database URL. It may hold a password, so it prints with the password masked.
#[derive(Clone, PartialEq, Eq)]
pub struct DatabaseUrl(pub String);

impl DatabaseUrl {
    pub fn is_postgres(&self) -> bool {
        self.0.starts_with("postgres://") || self.0.starts_with("postgresql://")
    }
    /// `mysql://` or `mariadb://`: MariaDB (or a Galera cluster of it).
    pub fn is_mariadb(&self) -> bool {
        self.0.starts_with("mysql://") || self.0.starts_with("mariadb://")
    }
    /// A database server several replicas share (PostgreSQL or MariaDB), not a SQLite file.
    pub fn is_shared(&self) -> bool {
        self.is_postgres() || self.is_mariadb()
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

impl<'de> Deserialize<'de> for DatabaseUrl {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        String::deserialize(d).map(DatabaseUrl)
    }
}

/// Who a noauth token stands for.
#[derive(Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Identity {
    pub project: String,
    #[serde(default)]
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
    /// `TOKEN=PROJECT[:ROLE,ROLE];...`, the environment's form. The error quotes no entry:
    /// each begins with a token.
    fn parse(text: &str) -> Result<NoauthTokens, &'static str> {
        let mut map = NoauthTokens::default();
        for entry in text.split(';').map(str::trim).filter(|e| !e.is_empty()) {
            let (token, who) = entry.split_once('=').ok_or("entries must be TOKEN=PROJECT[:ROLE,ROLE]")?;
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

/// The file's table (`TOKEN = { project = "p", roles = ["admin"] }`) or the environment's
/// string (`TOKEN=PROJECT:ROLE,ROLE;...`).
impl<'de> Deserialize<'de> for NoauthTokens {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Tokens;
        impl<'de> Visitor<'de> for Tokens {
            type Value = NoauthTokens;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a table of tokens or TOKEN=PROJECT:ROLE,ROLE;...")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<NoauthTokens, E> {
                NoauthTokens::parse(v).map_err(E::custom)
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<NoauthTokens, A::Error> {
                let mut tokens = NoauthTokens::default();
                while let Some((token, identity)) = map.next_entry::<String, Identity>()? {
                    tokens.insert(token, identity);
                }
                Ok(tokens)
            }
        }
        d.deserialize_any(Tokens)
    }
}

/// A number from the file (an integer) or from the environment or a flag (text).
fn number<'de, D, T>(d: D) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: FromStr + TryFrom<u64>,
{
    struct Number<T>(PhantomData<T>);
    impl<'de, T: FromStr + TryFrom<u64>> Visitor<'de> for Number<T> {
        type Value = T;
        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("a number")
        }
        fn visit_u64<E: de::Error>(self, v: u64) -> Result<T, E> {
            T::try_from(v).map_err(|_| E::custom(format!("must be a smaller number, not {v}")))
        }
        fn visit_i64<E: de::Error>(self, v: i64) -> Result<T, E> {
            let v = u64::try_from(v).map_err(|_| E::custom(format!("must be a number, not {v}")))?;
            self.visit_u64(v)
        }
        fn visit_str<E: de::Error>(self, v: &str) -> Result<T, E> {
            v.trim().parse().map_err(|_| E::custom(format!("must be a number, not {v:?}")))
        }
    }
    d.deserialize_any(Number(PhantomData))
}

/// A list of `attr`'s words: a TOML array of texts, or one text with commas (the environment's
/// and the command line's form); each must be a word of `attr`.
fn words<'de, D: Deserializer<'de>>(d: D, attr: &'static str) -> Result<Option<Vec<String>>, D::Error> {
    struct Words(&'static str);
    impl<'de> Visitor<'de> for Words {
        type Value = Vec<String>;
        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            write!(f, "a list of {} values", self.0)
        }
        fn visit_str<E: de::Error>(self, v: &str) -> Result<Vec<String>, E> {
            Ok(v.split(',').map(|w| w.trim().to_owned()).filter(|w| !w.is_empty()).collect())
        }
        fn visit_seq<A: de::SeqAccess<'de>>(self, mut seq: A) -> Result<Vec<String>, A::Error> {
            let mut out = Vec::new();
            while let Some(word) = seq.next_element::<String>()? {
                out.push(word.trim().to_owned());
            }
            Ok(out)
        }
    }
    let list = d.deserialize_any(Words(attr))?;
    if list.is_empty() {
        return Err(de::Error::custom(format!("must name at least one {attr} value (unset it to allow all)")));
    }
    AlgorithmPolicy::everything()
        .restrict(attr, &list)
        .map_err(|e| de::Error::custom(format!("must be {attr} values: {e}")))?;
    Ok(Some(list))
}

fn encryption_words<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Vec<String>>, D::Error> {
    words(d, "encryption_algorithm")
}

fn auth_words<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Vec<String>>, D::Error> {
    words(d, "auth_algorithm")
}

fn pfs_words<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Vec<String>>, D::Error> {
    words(d, "pfs")
}

/// oslo.messaging's `transport_url`; its password is never shown in an error.
fn transport_url<'de, D: Deserializer<'de>>(d: D) -> Result<Option<TransportUrl>, D::Error> {
    let text = String::deserialize(d)?;
    if text.trim().is_empty() {
        return Ok(None);
    }
    TransportUrl::parse(&text).map(Some).map_err(|e| de::Error::custom(format!("{e} (its value is not shown)")))
}

/// A quota limit: -1 (unlimited) or a number from 0.
fn limit<'de, D: Deserializer<'de>>(d: D) -> Result<Limit, D::Error> {
    struct Quota;
    impl<'de> Visitor<'de> for Quota {
        type Value = Limit;
        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("-1 (unlimited) or a number from 0")
        }
        fn visit_i64<E: de::Error>(self, v: i64) -> Result<Limit, E> {
            Limit::parse("", v).map_err(|_| E::custom(format!("must be -1 (unlimited) or a number from 0, not {v}")))
        }
        fn visit_u64<E: de::Error>(self, v: u64) -> Result<Limit, E> {
            Ok(Limit::at_most(v))
        }
        fn visit_str<E: de::Error>(self, v: &str) -> Result<Limit, E> {
            match v.trim().parse::<i64>() {
                Ok(n) => self.visit_i64(n),
                Err(_) => Err(E::custom(format!("must be -1 (unlimited) or a number from 0, not {v:?}"))),
            }
        }
    }
    d.deserialize_any(Quota)
}

fn listen<'de, D: Deserializer<'de>>(d: D) -> Result<SocketAddr, D::Error> {
    let v = String::deserialize(d)?;
    v.parse().map_err(|_| de::Error::custom(format!("must be an address:port such as 127.0.0.1:9696, not {v:?}")))
}

fn profile<'de, D: Deserializer<'de>>(d: D) -> Result<&'static Profile, D::Error> {
    let v = String::deserialize(d)?;
    Profile::by_name(&v).ok_or_else(|| de::Error::custom(format!("must be \"openstack\" or \"otc\", not {v:?}")))
}

/// A yes or no: a boolean in the file, `true`/`false` (or `1`/`0`, `yes`/`no`) as text.
fn boolean<'de, D: Deserializer<'de>>(d: D) -> Result<bool, D::Error> {
    struct Flag;
    impl<'de> Visitor<'de> for Flag {
        type Value = bool;
        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("true or false")
        }
        fn visit_bool<E: de::Error>(self, v: bool) -> Result<bool, E> {
            Ok(v)
        }
        fn visit_str<E: de::Error>(self, v: &str) -> Result<bool, E> {
            match v.trim().to_ascii_lowercase().as_str() {
                "true" | "1" | "yes" => Ok(true),
                "false" | "0" | "no" | "" => Ok(false),
                _ => Err(E::custom(format!("must be true or false, not {v:?}"))),
            }
        }
    }
    d.deserialize_any(Flag)
}

/// Text where empty means unset.
fn optional_text<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    Ok(Option::<String>::deserialize(d)?.filter(|s| !s.is_empty()))
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
    /// `VPNAAS_*` environment variables (read through `env`), then command-line flags.
    pub fn load(flags: &Flags, env: impl Fn(&str) -> Option<String>) -> Result<Config, ConfigError> {
        let mut figment = Figment::new();
        let file = flags.config.clone().or_else(|| env("VPNAAS_CONFIG").filter(|v| !v.is_empty()).map(PathBuf::from));
        if let Some(path) = file {
            let text =
                std::fs::read_to_string(&path).map_err(|source| ConfigError::Read { path: path.clone(), source })?;
            let values = toml::from_str(&text).map_err(|e| toml_error(&path, &text, &e))?;
            figment = figment.merge(FileLayer { path, values });
        }
        let mut from_env = Dict::new();
        for s in SETTINGS {
            if let Some(v) = env(s.env).filter(|v| !(s.empty_is_unset && v.is_empty())) {
                insert(&mut from_env, s.key, v);
            }
        }
        let mut from_flags = Dict::new();
        for (key, v) in &flags.values {
            insert(&mut from_flags, key, v.clone());
        }
        figment
            .merge(Layer { name: "the environment", values: from_env, naming: env_name })
            .merge(Layer { name: "the command line", values: from_flags, naming: flag_name })
            .extract()
            .map_err(describe)
    }
}

/// Puts `value` at the setting `key` (`keystone.url`: `url` in the table `keystone`).
fn insert(dict: &mut Dict, key: &str, value: String) {
    match key.split_once('.') {
        Some((table, field)) => {
            let entry = dict.entry(table.to_owned()).or_insert_with(|| Value::from(Dict::new()));
            if let Value::Dict(_, inner) = entry {
                inner.insert(field.to_owned(), Value::from(value));
            }
        }
        None => {
            dict.insert(key.to_owned(), Value::from(value));
        }
    }
}

/// Why the settings cannot be loaded.
#[derive(Debug)]
pub enum ConfigError {
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    /// A file that is not TOML, by line and without the line itself, which may hold a
    /// password: toml's own error (which quotes it) is not kept.
    NotToml {
        path: PathBuf,
        message: String,
        line: Option<usize>,
    },
    /// One line per invalid setting, each naming the setting and where its value came from;
    /// figment's errors are not kept, since they may show a credential's value.
    Invalid(Vec<String>),
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ConfigError::Read { path, source } => write!(f, "cannot read {}: {source}", path.display()),
            ConfigError::NotToml { path, message, line } => {
                write!(f, "{} is not valid TOML: {message}", path.display())?;
                match line {
                    Some(n) => write!(f, " (line {n})"),
                    None => Ok(()),
                }
            }
            ConfigError::Invalid(lines) => f.write_str(&lines.join("\n")),
        }
    }
}

impl std::error::Error for ConfigError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            ConfigError::Read { source, .. } => Some(source),
            ConfigError::NotToml { .. } | ConfigError::Invalid(_) => None,
        }
    }
}

fn toml_error(path: &Path, text: &str, e: &toml::de::Error) -> ConfigError {
    let line = e.span().map(|span| text.get(..span.start).unwrap_or("").matches('\n').count() + 1);
    ConfigError::NotToml { path: path.to_owned(), message: e.message().to_owned(), line }
}

/// The TOML file layer, with the file's path as the source.
struct FileLayer {
    path: PathBuf,
    values: Dict,
}

impl Provider for FileLayer {
    fn metadata(&self) -> Metadata {
        Metadata::from("file", self.path.as_path())
    }
    fn data(&self) -> Result<Map<figment::Profile, Dict>, figment::Error> {
        Ok(figment::Profile::Default.collect(self.values.clone()))
    }
}

/// The environment's and the command line's layer: the values as text, each named in errors
/// by its variable or flag.
struct Layer {
    name: &'static str,
    values: Dict,
    naming: fn(&figment::Profile, &[&str]) -> String,
}

impl Provider for Layer {
    fn metadata(&self) -> Metadata {
        Metadata::named(self.name).interpolater(self.naming)
    }
    fn data(&self) -> Result<Map<figment::Profile, Dict>, figment::Error> {
        Ok(figment::Profile::Default.collect(self.values.clone()))
    }
}

/// The setting an error's path points into, never deeper than a setting: inside
/// `noauth_tokens` the next key is a token.
fn setting_of(path: &[String]) -> Option<&'static Setting> {
    let one = path.first()?;
    let two = path.get(1).map(|k| format!("{one}.{k}"));
    SETTINGS.iter().find(|s| Some(s.key) == two.as_deref()).or_else(|| SETTINGS.iter().find(|s| s.key == one))
}

fn env_name(_: &figment::Profile, keys: &[&str]) -> String {
    let path: Vec<String> = keys.iter().map(|k| (*k).to_owned()).collect();
    setting_of(&path).map_or_else(|| format!("VPNAAS_{}", keys.join("_").to_uppercase()), |s| s.env.to_owned())
}

fn flag_name(_: &figment::Profile, keys: &[&str]) -> String {
    let path: Vec<String> = keys.iter().map(|k| (*k).to_owned()).collect();
    match setting_of(&path) {
        Some(Setting { flag: Some(flag), .. }) => format!("--{flag}"),
        _ => format!("--{}", keys.join("-").replace('_', "-")),
    }
}

/// One line per error, each naming the setting and where its value came from; a credential's
/// value is never shown.
fn describe(errors: figment::Error) -> ConfigError {
    ConfigError::Invalid(errors.into_iter().map(|e| describe_one(&e)).collect())
}

fn describe_one(e: &figment::Error) -> String {
    use figment::error::Kind;
    let mut path = e.path.as_slice();
    // An unknown key's path ends with it; it is reported as a key of what holds it.
    if let (Kind::UnknownField(name, _), Some((last, holder))) = (&e.kind, path.split_last()) {
        if last == name {
            path = holder;
        }
    }
    let setting = setting_of(path);
    let key = setting.map(|s| s.key.to_owned()).unwrap_or_else(|| path.join("."));
    let place = match &e.metadata {
        Some(md) => match &md.source {
            Some(Source::File(path)) if key.is_empty() => path.display().to_string(),
            Some(Source::File(path)) => format!("{key} in {}", path.display()),
            _ if key.is_empty() => md.name.to_string(),
            _ => {
                let keys: Vec<&str> = key.split('.').collect();
                md.interpolate(&e.profile.clone().unwrap_or_default(), &keys)
            }
        },
        None if key.is_empty() => "the settings".to_owned(),
        None => key.clone(),
    };
    let secret = SECRET_KEYS.contains(&key.as_str());
    match &e.kind {
        Kind::Message(m) => format!("{place} {m}"),
        Kind::UnknownField(name, _) => format!("{place}: unknown setting {name:?}"),
        Kind::MissingField(name) => format!("{place}: {name} is missing"),
        _ if secret => format!("{place} is not valid (its value is not shown)"),
        other => format!("{place} is not valid: {other}"),
    }
}

/// Settings given on the command line, by setting key (`listen`, `keystone.url`).
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Flags {
    /// `--config FILE`.
    pub config: Option<PathBuf>,
    pub values: BTreeMap<&'static str, String>,
}

impl Flags {
    /// These flags and `key` set to `value`.
    pub fn with(mut self, key: &'static str, value: impl Into<String>) -> Flags {
        self.values.insert(key, value.into());
        self
    }
    /// These flags with the file `path`.
    pub fn with_config(mut self, path: &Path) -> Flags {
        self.config = Some(path.to_owned());
        self
    }
}

#[cfg(test)]
mod reference;

#[cfg(test)]
mod tests {
    use super::*;

    /// A fresh directory with `c.toml` holding `text`.
    fn config_file(text: &str) -> (tempfile::TempDir, PathBuf) {
        let dir = tempfile::TempDir::new().unwrap();
        let file = dir.path().join("c.toml");
        std::fs::write(&file, text).unwrap();
        (dir, file)
    }

    fn env<'a>(pairs: &'a [(&'a str, &'a str)]) -> impl Fn(&str) -> Option<String> + 'a {
        move |k| pairs.iter().find(|(name, _)| *name == k).map(|(_, v)| (*v).to_owned())
    }

    #[test]
    fn flags_override_environment_which_overrides_file() {
        let (_dir, file) = config_file("listen = \"127.0.0.1:1000\"\ndata_dir = \"/f\"\nlog = \"debug\"\n");
        let flags = Flags::default().with_config(&file).with("listen", "127.0.0.1:2000");
        let c = Config::load(&flags, env(&[("VPNAAS_DATA_DIR", "/e")])).unwrap();
        assert_eq!(c.listen.port(), 2000);
        assert_eq!(c.data_dir, PathBuf::from("/e"));
        assert_eq!(c.log, "debug");
        // The rest stays at its default.
        assert_eq!(c.ha_hold_down_secs, Config::default().ha_hold_down_secs);
    }

    #[test]
    fn every_layer_reaches_nested_keystone_settings() {
        let (_dir, file) = config_file("[keystone]\nurl = \"http://f:5000\"\nusername = \"svc\"\ncache_secs = 60\n");
        let c = Config::load(&Flags::default().with_config(&file), |_| None).unwrap();
        assert_eq!((c.keystone.url.as_deref(), c.keystone.cache_secs), (Some("http://f:5000"), 60));
        assert_eq!(c.keystone.project_name, "service");
        let vars = [("VPNAAS_KEYSTONE_CACHE_SECS", "90"), ("VPNAAS_KEYSTONE_PASSWORD", "pw")];
        let c = Config::load(&Flags::default().with_config(&file), env(&vars)).unwrap();
        // The environment changes one key of the table and keeps the file's others.
        assert_eq!((c.keystone.username.as_str(), c.keystone.cache_secs), ("svc", 90));
        assert!(c.keystone.password.matches("pw"));
        let flags = Flags::default().with_config(&file).with("keystone.cache_secs", "7");
        assert_eq!(Config::load(&flags, env(&vars)).unwrap().keystone.cache_secs, 7);
    }

    #[test]
    fn the_config_file_may_come_from_vpnaas_config_and_the_flag_wins() {
        let (_a, first) = config_file("log = \"warn\"\n");
        let (_b, second) = config_file("log = \"trace\"\n");
        let path = first.display().to_string();
        let vars = [("VPNAAS_CONFIG", path.as_str())];
        assert_eq!(Config::load(&Flags::default(), env(&vars)).unwrap().log, "warn");
        assert_eq!(Config::load(&Flags::default().with_config(&second), env(&vars)).unwrap().log, "trace");
        let missing = Flags::default().with_config(Path::new("/nonexistent/vpnaas.toml"));
        assert!(Config::load(&missing, |_| None)
            .unwrap_err()
            .to_string()
            .contains("cannot read /nonexistent/vpnaas.toml"));
    }

    #[test]
    fn noauth_tokens_come_from_the_file_and_the_environment_and_never_print() {
        let (_dir, file) =
            config_file("[noauth_tokens]\nsecret-admin = { project = \"admin\", roles = [\"admin\"] }\n");
        let flags = Flags::default().with_config(&file);
        let c = Config::load(&flags, |_| None).unwrap();
        assert_eq!(c.noauth_tokens.get("secret-admin").map(|i| i.roles.clone()), Some(vec!["admin".to_owned()]));
        assert!(!format!("{c:?}").contains("secret-admin"));
        let vars = [("VPNAAS_NOAUTH_TOKENS", "notused=demo; t2=p2:member,reader")];
        let c = Config::load(&Flags::default(), env(&vars)).unwrap();
        assert_eq!(c.noauth_tokens.get("notused").map(|i| i.project.as_str()), Some("demo"));
        assert_eq!(c.noauth_tokens.get("t2").map(|i| i.roles.len()), Some(2));
        // The environment's map replaces the file's.
        let c = Config::load(&flags, env(&vars)).unwrap();
        assert!(c.noauth_tokens.get("secret-admin").is_none());
        let err =
            Config::load(&Flags::default(), env(&[("VPNAAS_NOAUTH_TOKENS", "secret-admin")])).unwrap_err().to_string();
        assert!(err.starts_with("VPNAAS_NOAUTH_TOKENS entries must be TOKEN=PROJECT"), "{err}");
        assert!(!err.contains("secret-admin"), "{err}");
        let (_dir, bad) = config_file("[noauth_tokens]\nsecret-admin = { roles = 3 }\n");
        let err = Config::load(&Flags::default().with_config(&bad), |_| None).unwrap_err().to_string();
        assert!(err.starts_with("noauth_tokens in ") && !err.contains("secret-admin"), "{err}");
    }

    #[test]
    fn the_profile_is_openstack_unless_set_and_unknown_names_are_refused() {
        assert_eq!(Config::load(&Flags::default(), |_| None).unwrap().profile.name, "openstack");
        let otc = |k: &str| (k == "VPNAAS_PROFILE").then(|| "otc".to_owned());
        assert_eq!(Config::load(&Flags::default(), otc).unwrap().profile.name, "otc");
        let bad = |k: &str| (k == "VPNAAS_PROFILE").then(|| "aws".to_owned());
        assert!(Config::load(&Flags::default(), bad).unwrap_err().to_string().contains("openstack"));
    }

    #[test]
    fn the_topology_is_standalone_unless_set_and_neutron_settings_layer() {
        let c = Config::load(&Flags::default(), |_| None).unwrap();
        assert_eq!((c.topology, c.neutron_url, c.neutron_cache_secs), (TopologyKind::Standalone, None, 5));
        let (_dir, file) =
            config_file("topology = \"neutron\"\nneutron_url = \"http://n:9696\"\nneutron_cache_secs = 9\n");
        let vars = [("VPNAAS_NEUTRON_CACHE_SECS", "3")];
        let c = Config::load(&Flags::default().with_config(&file), env(&vars)).unwrap();
        assert_eq!(
            (c.topology, c.neutron_url.as_deref(), c.neutron_cache_secs),
            (TopologyKind::Neutron, Some("http://n:9696"), 3)
        );
        let c =
            Config::load(&Flags::default().with_config(&file).with("neutron_timeout_secs", "2"), env(&vars)).unwrap();
        assert_eq!(c.neutron_timeout_secs, 2);
        let bad = |k: &str| (k == "VPNAAS_TOPOLOGY").then(|| "ovn".to_owned());
        let e = Config::load(&Flags::default(), bad).unwrap_err().to_string();
        assert!(e.contains("VPNAAS_TOPOLOGY") && e.contains("standalone"), "{e}");
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
        let env1 = |k: &str| (k == "VPNAAS_HA_HOLD_DOWN_SECS").then(|| "soon".to_owned());
        let err = Config::load(&Flags::default(), env1).unwrap_err().to_string();
        assert!(err.contains("VPNAAS_HA_HOLD_DOWN_SECS must be a number"), "{err}");
        let env2 = |k: &str| (k == "VPNAAS_DATABASE_MAX_CONNECTIONS").then(|| "4".to_owned());
        assert_eq!(Config::load(&Flags::default(), env2).unwrap().database_max_connections, 4);
    }

    #[test]
    fn a_bad_value_is_reported_with_its_setting_and_its_source() {
        let (_dir, file) = config_file("listen = \"nowhere\"\nha_hold_down_secs = \"soon\"\n");
        let flags = Flags::default().with_config(&file);
        let err = Config::load(&flags, |_| None).unwrap_err().to_string();
        let path = file.display();
        assert!(err.contains(&format!("ha_hold_down_secs in {path} must be a number")), "{err}");
        // The environment overrides the file's bad value; the remaining one is still named.
        let err = Config::load(&flags, env(&[("VPNAAS_HA_HOLD_DOWN_SECS", "5")])).unwrap_err().to_string();
        assert_eq!(err, format!("listen in {path} must be an address:port such as 127.0.0.1:9696, not \"nowhere\""));
        let err = Config::load(&Flags::default().with("listen", "here"), env(&[("VPNAAS_LISTEN", "127.0.0.1:1")]))
            .unwrap_err()
            .to_string();
        assert_eq!(err, "--listen must be an address:port such as 127.0.0.1:9696, not \"here\"");
        let err = Config::load(&Flags::default(), env(&[("VPNAAS_AUTH_STRATEGY", "ldap")])).unwrap_err().to_string();
        assert_eq!(err, "VPNAAS_AUTH_STRATEGY must be \"noauth\", \"static\" or \"keystone\", not \"ldap\"");
        let err =
            Config::load(&Flags::default().with("keystone.timeout_secs", "-1"), |_| None).unwrap_err().to_string();
        assert_eq!(err, "--keystone-timeout-secs must be a number, not \"-1\"");
        let (_dir, toml) = config_file("log = \"info\"\n[keystone]\npassword = \"hunter2\n");
        let err = Config::load(&Flags::default().with_config(&toml), |_| None).unwrap_err().to_string();
        assert!(err.starts_with(&format!("{} is not valid TOML: ", toml.display())), "{err}");
        assert!(err.ends_with("(line 3)") && !err.contains("hunter2"), "{err}");
    }

    #[test]
    fn secrets_never_appear_in_errors_or_debug_output() {
        let (_dir, file) = config_file("agent_token = 424242\n");
        let err = Config::load(&Flags::default().with_config(&file), |_| None).unwrap_err().to_string();
        assert!(err.starts_with("agent_token in ") && err.ends_with("is not valid (its value is not shown)"), "{err}");
        assert!(!err.contains("424242"), "{err}");
        let (_dir, file) = config_file("[keystone]\npassword = 7777777\ncache_secs = 1\n");
        let err = Config::load(&Flags::default().with_config(&file), |_| None).unwrap_err().to_string();
        assert!(err.starts_with("keystone.password in ") && !err.contains("7777777"), "{err}");
        let vars = [("VPNAAS_KEYSTONE_PASSWORD", "hunter2-secret"), ("VPNAAS_AGENT_TOKEN", "agent-secret")];
        let c = Config::load(&Flags::default(), env(&vars)).unwrap();
        let shown = format!("{c:?}");
        assert!(!shown.contains("hunter2") && !shown.contains("agent-secret"), "{shown}");
    }

    #[test]
    fn empty_variables_unset_optional_settings_or_clear_the_default_project() {
        let (_dir, file) =
            config_file("database_url = \"/db/x.db\"\nnoauth_default_project = \"demo\"\npolicy_file = \"/p.yaml\"\n");
        let vars = [("VPNAAS_DATABASE_URL", ""), ("VPNAAS_NOAUTH_DEFAULT_PROJECT", ""), ("VPNAAS_POLICY_FILE", "")];
        let c = Config::load(&Flags::default().with_config(&file), env(&vars)).unwrap();
        assert_eq!(c.database_url, Some(DatabaseUrl("/db/x.db".into())));
        assert_eq!(c.policy_file, Some(PathBuf::from("/p.yaml")));
        assert_eq!(c.noauth_default_project, None);
    }

    #[test]
    fn unknown_file_keys_are_refused() {
        let (_dir, file) = config_file("lissten = \"x\"\n");
        let err = Config::load(&Flags::default().with_config(&file), |_| None).unwrap_err().to_string();
        assert_eq!(err, format!("{}: unknown setting \"lissten\"", file.display()));
        // Still the file's, with values from the other layers beside it.
        let flags = Flags::default().with_config(&file).with("log", "debug");
        let err = Config::load(&flags, env(&[("VPNAAS_LOG", "warn")])).unwrap_err().to_string();
        assert_eq!(err, format!("{}: unknown setting \"lissten\"", file.display()));
        let (_dir, file) = config_file("[keystone]\nurll = \"x\"\n");
        let err = Config::load(&Flags::default().with_config(&file), env(&[("VPNAAS_KEYSTONE_URL", "u")]))
            .unwrap_err()
            .to_string();
        assert_eq!(err, format!("keystone in {}: unknown setting \"urll\"", file.display()));
    }

    #[test]
    fn the_defaults_help_shows_are_the_defaults() {
        // Every default that is a value, given as a flag, gives the default settings.
        let mut flags = Flags::default();
        for s in SETTINGS
            .iter()
            .filter(|s| s.flag.is_some() && !s.default.starts_with("none") && !s.default.starts_with("DATA_DIR"))
        {
            flags = flags.with(s.key, s.default);
        }
        assert_eq!(Config::load(&flags, |_| None).unwrap(), Config::default());
    }

    #[test]
    fn tls_settings_come_from_every_layer_and_booleans_are_words() {
        let (_dir, file) = config_file(
            "tls_cert_file = \"/c.pem\"\nallow_plaintext_secrets = true\n[keystone]\nca_file = \"/ca.pem\"\n",
        );
        let c = Config::load(&Flags::default().with_config(&file), |_| None).unwrap();
        assert_eq!(c.tls_cert_file, Some(PathBuf::from("/c.pem")));
        assert_eq!(c.keystone.ca_file, Some(PathBuf::from("/ca.pem")));
        assert!(c.allow_plaintext_secrets);
        let vars = [("VPNAAS_ALLOW_PLAINTEXT_SECRETS", "false"), ("VPNAAS_TLS_KEY_FILE", "/k.pem")];
        let c = Config::load(&Flags::default().with_config(&file), env(&vars)).unwrap();
        assert!(!c.allow_plaintext_secrets);
        assert_eq!(c.tls_key_file, Some(PathBuf::from("/k.pem")));
        let err =
            Config::load(&Flags::default().with("allow_plaintext_secrets", "maybe"), |_| None).unwrap_err().to_string();
        assert_eq!(err, "--allow-plaintext-secrets must be true or false, not \"maybe\"");
    }

    #[test]
    fn names_follow_the_file_keys() {
        for s in SETTINGS {
            assert_eq!(s.env, format!("VPNAAS_{}", s.key.replace('.', "_").to_uppercase()));
            if let Some(flag) = s.flag {
                assert_eq!(flag, s.key.replace(['.', '_'], "-"));
            }
        }
    }

    #[test]
    fn quotas_and_algorithms_come_from_the_file_and_the_environment() {
        let text = "[quotas]\nipsec_site_connection = 10\n[algorithms]\nauth_algorithm = [\"sha256\", \"sha512\"]\n";
        let (_dir, file) = config_file(text);
        let env = |k: &str| (k == "VPNAAS_ALGORITHMS_PFS").then(|| "group14, group15".to_owned());
        let c = Config::load(&Flags::default().with_config(&file), env).unwrap();
        assert_eq!(c.quotas.limits().get(Counted::SiteConnection), Limit::at_most(10));
        assert_eq!(c.quotas.limits().get(Counted::IkePolicy), Limit::UNLIMITED);
        let policy = c.algorithms.policy();
        assert_eq!(policy.allowed("auth_algorithm"), Some(&["sha256", "sha512"][..]));
        assert_eq!(policy.allowed("pfs"), Some(&["group14", "group15"][..]));
        assert_eq!(policy.allowed("encryption_algorithm"), None);
        let (_dir, file) = config_file("[algorithms]\nencryption_algorithm = []\n");
        let err = Config::load(&Flags::default().with_config(&file), |_| None).unwrap_err().to_string();
        assert!(err.contains("algorithms.encryption_algorithm") && err.contains("at least one"), "{err}");
        let (_dir, file) = config_file("[quotas]\nvpnservice = -3\n");
        let err = Config::load(&Flags::default().with_config(&file), |_| None).unwrap_err().to_string();
        assert!(err.contains("quotas.vpnservice") && err.contains("-1 (unlimited)"), "{err}");
    }
}
