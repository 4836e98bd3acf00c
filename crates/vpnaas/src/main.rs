//! The `vpnaas` command: `serve` runs the API, `migrate` brings the database schema up to
//! date, `rotate-key` re-seals pre-shared keys under a new key, `agent` runs a gateway agent,
//! `status` prints the fleet at a glance.

mod agent_config;
mod status;

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{anyhow, bail};
use clap::parser::ValueSource;
use clap::{Arg, ArgMatches, Command, CommandFactory, FromArgMatches, Parser, Subcommand};
use tracing_subscriber::EnvFilter;
use vpnaas_server::config::{Config, Flags, SETTINGS};

#[derive(Parser)]
#[command(
    name = "vpnaas",
    version,
    about = "An IPsec VPN-as-a-Service: the OpenStack Networking VPNaaS v2.0 API and its gateway agent",
    subcommand_required = true,
    arg_required_else_help = true
)]
struct Cli {
    #[command(subcommand)]
    command: Commands,
}

#[derive(Subcommand)]
enum Commands {
    /// Serve the VPNaaS v2.0 API (by default on 127.0.0.1:9696, data in ./vpnaas-data)
    Serve {
        #[command(flatten)]
        settings: SettingFlags,
    },
    /// Create or upgrade the database, then exit: the expand steps by default (what a server
    /// applies at start), the data steps with --migrate while this release serves, the contract
    /// steps with --contract once every replica runs this release
    Migrate {
        /// Also copy every row of this SQLite database into the configured one, which must be empty
        #[arg(long, value_name = "FILE")]
        from_sqlite: Option<PathBuf>,
        /// Apply the pending expand steps, which only add: safe while the previous release serves (the default)
        #[arg(long, conflicts_with_all = ["migrate", "contract", "status"])]
        expand: bool,
        /// Also apply the data steps, which rewrite rows in batches of 500, one transaction each:
        /// online, while the servers serve
        #[arg(long, conflicts_with_all = ["contract", "status", "from_sqlite"])]
        migrate: bool,
        /// Also apply the data steps and the contract steps, which remove what only the previous
        /// release used; refused while a replica of an older release still serves
        #[arg(long, conflicts_with_all = ["status", "from_sqlite"])]
        contract: bool,
        /// Print the database's schema version and the steps not applied yet; change nothing
        #[arg(long, conflicts_with = "from_sqlite")]
        status: bool,
        #[command(flatten)]
        settings: SettingFlags,
    },
    /// Add a new key to the key file (created if missing) and re-seal every stored pre-shared key with it
    RotateKey {
        #[command(flatten)]
        settings: SettingFlags,
    },
    /// Copy the SQLite database as of one moment into a new directory, while the server runs
    /// (PostgreSQL and MariaDB: use pg_dump or mariadb-backup); the key file is kept apart
    Backup {
        /// The new directory for the backup (vpnaas.db and backup.json)
        #[arg(long, value_name = "DIR")]
        to: PathBuf,
        #[command(flatten)]
        settings: SettingFlags,
    },
    /// Put a backup in place of a fresh data directory's database, then check that every sealed
    /// secret opens with the key file
    Restore {
        /// The backup's directory
        #[arg(long, value_name = "DIR")]
        from: PathBuf,
        #[command(flatten)]
        settings: SettingFlags,
    },
    /// Run a gateway agent: every router placed on a host (--host), or one router (--router); converge
    /// each router's charon on the server's desired state and report status
    Agent(Box<AgentArgs>),
    /// Print the fleet at a glance from the API: gateways alive and dead, routers, connections by
    /// status, and why connections are down
    Status(status::StatusArgs),
}

#[derive(clap::Args)]
#[command(after_help = AGENT_ENVIRONMENT)]
struct AgentArgs {
    /// Run this one router (the VPN gateway) with the charon at --vici, instead of a host's routers
    #[arg(long, value_name = "ID", required_unless_present = "host")]
    router: Option<uuid::Uuid>,
    /// The vpnaas server (any replica)
    #[arg(long, value_name = "URL")]
    server: String,
    /// With --router: charon's VICI socket
    #[arg(long, value_name = "unix:///PATH", default_value = "unix:///var/run/charon.vici", requires = "router")]
    vici: String,
    /// Without --router: run every router placed on this host (routers' binding:host_id). With
    /// --router: the name this gateway reports [default: the machine's hostname]
    #[arg(long, value_name = "NAME")]
    host: Option<String>,
    /// Host mode: attach to the charons someone else runs, at this VICI socket per router
    /// (e.g. 'unix:///run/vpnaas/{router_id}/charon.vici')
    #[arg(long, value_name = "URI", conflicts_with_all = ["netns_template", "state_dir", "router"])]
    vici_template: Option<String>,
    /// Host mode: start and supervise one charon per router inside this network namespace
    /// (the default when no --vici-template is given)
    #[arg(long, value_name = "NAME", default_value = "qrouter-{router_id}", conflicts_with = "router")]
    netns_template: String,
    /// Host mode with --netns-template: each router's strongswan.conf, VICI socket, PID and log
    /// live in DIR/<router id>/
    #[arg(long, value_name = "DIR", default_value = "/var/lib/vpnaas/charons", conflicts_with = "router")]
    state_dir: PathBuf,
    /// Host mode with --netns-template: the charon binary
    #[arg(long, value_name = "PATH", default_value = vpnaas_agent::managed::CHARON, conflicts_with = "router")]
    charon: PathBuf,
    /// Host mode with --netns-template: charon's plugin list (charon.load) [default: ADR 0007's list, which
    /// works with and without ESP in the kernel]
    #[arg(long, value_name = "LIST", conflicts_with = "router")]
    charon_plugins: Option<String>,
    /// PEM CA certificates trusted for an https:// server (and Keystone) besides the system's store
    #[arg(long, value_name = "FILE", env = "VPNAAS_AGENT_CA_FILE")]
    ca_file: Option<PathBuf>,
    /// Mutual TLS: this agent's client certificate (PEM), naming its --host (or its --router id); it
    /// replaces the token, and the server limits it to that host or router
    #[arg(long, value_name = "FILE", env = "VPNAAS_AGENT_TLS_CLIENT_CERT", requires = "tls_client_key")]
    tls_client_cert: Option<PathBuf>,
    /// Mutual TLS: the client certificate's private key (PEM)
    #[arg(long, value_name = "FILE", env = "VPNAAS_AGENT_TLS_CLIENT_KEY", requires = "tls_client_cert")]
    tls_client_key: Option<PathBuf>,
    /// Send the credential over plain http:// to a server (or Keystone) that is not on loopback
    #[arg(long, env = "VPNAAS_AGENT_ALLOW_PLAINTEXT")]
    allow_plaintext: bool,
    /// A TOML file of these options, keyed as the flags with _ (server = "https://vpnaas:9696");
    /// the environment and the command line override it. Not the credential
    #[arg(long, value_name = "FILE", env = "VPNAAS_AGENT_CONFIG")]
    config: Option<PathBuf>,
}

const AGENT_ENVIRONMENT: &str = "\
The credential comes from the environment, so that it never shows in ps:
  OS_AUTH_URL, OS_USERNAME, OS_PASSWORD, OS_PROJECT_NAME
                 a Keystone user holding the service role (OS_USER_DOMAIN_NAME and
                 OS_PROJECT_DOMAIN_NAME default to Default)
  VPNAAS_AGENT_TOKEN
                 else the token the server's agent_token names
                 (neither is needed with --tls-client-cert: the certificate is the credential)
  VPNAAS_LOG     the log filter [default: info]";

/// The settings' flags, made from [`SETTINGS`]. clap reads each flag's variable too, so that
/// `--help` shows it, but only values given on the command line are kept here: the settings
/// layer reads the environment itself, and names the variable when a value is bad.
struct SettingFlags(Flags);

impl FromArgMatches for SettingFlags {
    fn from_arg_matches(m: &ArgMatches) -> Result<Self, clap::Error> {
        let given = |id: &str| m.value_source(id) == Some(ValueSource::CommandLine);
        let mut flags = Flags::default();
        if given("config") {
            flags.config = m.get_one::<PathBuf>("config").cloned();
        }
        for s in SETTINGS.iter().filter(|s| s.flag.is_some() && given(s.key)) {
            if let Some(v) = m.get_one::<String>(s.key) {
                flags.values.insert(s.key, v.clone());
            }
        }
        Ok(SettingFlags(flags))
    }

    fn update_from_arg_matches(&mut self, m: &ArgMatches) -> Result<(), clap::Error> {
        *self = SettingFlags::from_arg_matches(m)?;
        Ok(())
    }
}

impl clap::Args for SettingFlags {
    fn augment_args(cmd: Command) -> Command {
        let config = Arg::new("config")
            .long("config")
            .env("VPNAAS_CONFIG")
            .hide_env_values(true)
            .value_name("FILE")
            .value_parser(clap::value_parser!(PathBuf))
            .help("A TOML file of settings (keys as in the README's Configuration section)");
        let mut cmd =
            cmd.next_help_heading("Settings (a flag wins over its variable, which wins over the file)").arg(config);
        for s in SETTINGS {
            if let Some(flag) = s.flag {
                // Values stay hidden: a variable's value is not for every reader of --help.
                cmd = cmd.arg(
                    Arg::new(s.key)
                        .long(flag)
                        .env(s.env)
                        .hide_env_values(true)
                        .value_name(s.value_name)
                        .help(format!("{} [default: {}]", s.help, s.default)),
                );
            }
        }
        cmd.after_help(credentials_help())
    }

    fn augment_args_for_update(cmd: Command) -> Command {
        SettingFlags::augment_args(cmd)
    }
}

/// The settings that have no flag, since other users see a process's arguments.
fn credentials_help() -> String {
    let mut text = String::from("Credentials come only from the file or the environment, never from flags:\n");
    for s in SETTINGS.iter().filter(|s| s.flag.is_none()) {
        text.push_str(&format!("  {}={}\n          {} [default: {}]\n", s.env, s.value_name, s.help, s.default));
    }
    text.push_str(
        "\nIn the file a setting's key is its flag with underscores (data_dir); the keystone_* \
         settings are the keys of a [keystone] table (url, username, password, ...).",
    );
    text
}

/// The agent's credential, from the environment so it never shows in `ps`: a Keystone user
/// (`OS_AUTH_URL`, `OS_USERNAME`, `OS_PASSWORD`, `OS_PROJECT_NAME`, and the domains, which
/// default to `Default`), else a fixed token (`VPNAAS_AGENT_TOKEN`).
/// With a client certificate and neither of them, the certificate alone; an `http://`
/// `OS_AUTH_URL` that is not loopback is refused unless plain HTTP is allowed (ADR 0016).
/// A Keystone password login from the openstack CLI's `OS_*` variables, when `OS_AUTH_URL` is
/// set (the agent's and `vpnaas status`'s); an `http://` URL that is not loopback is refused
/// unless plain HTTP is allowed (ADR 0016).
fn os_password_auth(
    env: &impl Fn(&str) -> Option<String>,
    tls: &vpnaas_keystone::outgoing::ClientTls,
) -> anyhow::Result<Option<vpnaas_keystone::PasswordAuth>> {
    let Some(url) = env("OS_AUTH_URL") else { return Ok(None) };
    tls.check_url("OS_AUTH_URL", &url)?;
    let need = |k: &str| env(k).ok_or_else(|| anyhow!("OS_AUTH_URL is set, so {k} is needed"));
    Ok(Some(vpnaas_keystone::PasswordAuth {
        url,
        username: need("OS_USERNAME")?,
        password: need("OS_PASSWORD")?,
        project_name: need("OS_PROJECT_NAME")?,
        user_domain_name: env("OS_USER_DOMAIN_NAME").unwrap_or_else(|| "Default".into()),
        project_domain_name: env("OS_PROJECT_DOMAIN_NAME").unwrap_or_else(|| "Default".into()),
    }))
}

fn agent_credential(
    env: impl Fn(&str) -> Option<String>,
    tls: &vpnaas_keystone::outgoing::ClientTls,
) -> anyhow::Result<vpnaas_agent::Credential> {
    if let Some(auth) = os_password_auth(&env, tls)? {
        return Ok(vpnaas_agent::Credential::Keystone(std::sync::Arc::new(vpnaas_keystone::Session::new(auth))));
    }
    if let Some(token) = env("VPNAAS_AGENT_TOKEN") {
        return Ok(vpnaas_agent::Credential::Token(token));
    }
    if tls.client_cert.is_some() {
        return Ok(vpnaas_agent::Credential::Certificate);
    }
    bail!(
        "set VPNAAS_AGENT_TOKEN, or OS_AUTH_URL and the other OS_* variables of a Keystone user, or give \
         --tls-client-cert and --tls-client-key"
    )
}

/// What `vpnaas agent` runs.
enum AgentMode {
    Router(vpnaas_agent::AgentOptions),
    Host(vpnaas_agent::HostOptions),
}

/// `vpnaas agent`'s options, with the credential from the environment.
fn agent_options(args: AgentArgs) -> anyhow::Result<AgentMode> {
    let tls = vpnaas_keystone::outgoing::ClientTls {
        ca_file: args.ca_file,
        client_cert: args.tls_client_cert.zip(args.tls_client_key),
        allow_plaintext: args.allow_plaintext,
    };
    let credential = agent_credential(|k| std::env::var(k).ok().filter(|v| !v.is_empty()), &tls)?;
    // Before any connection: no credential goes to a server in clear by accident.
    tls.check_url("server URL", &args.server)?;
    let status_interval = std::time::Duration::from_secs(10);
    let Some(router_id) = args.router else {
        let host =
            args.host.filter(|h| !h.is_empty()).ok_or_else(|| anyhow!("--host NAME (or --router ID) is needed"))?;
        let charons = match args.vici_template {
            Some(vici_template) => vpnaas_agent::HostCharons::Attach { vici_template },
            None => {
                let mut spec = vpnaas_agent::managed::ManagedCharons::new(&args.netns_template, &args.state_dir);
                spec.charon = args.charon;
                if let Some(plugins) = args.charon_plugins {
                    spec.plugins = plugins;
                }
                vpnaas_agent::HostCharons::Managed(spec)
            }
        };
        return Ok(AgentMode::Host(vpnaas_agent::HostOptions {
            host,
            server: args.server,
            credential,
            charons,
            status_interval,
            tls,
        }));
    };
    let host = args
        .host
        .or_else(|| std::fs::read_to_string("/proc/sys/kernel/hostname").ok().map(|h| h.trim().to_owned()))
        .unwrap_or_else(|| "gateway".to_owned());
    Ok(AgentMode::Router(vpnaas_agent::AgentOptions {
        router_id,
        server: args.server,
        vici: args.vici,
        credential,
        host,
        status_interval,
        tls,
    }))
}

/// The tracing filter of a `log` setting (ADR 0013 §5). sqlx reports every statement at
/// debug and server notices at info, which are debugging detail: it is held at `warn`
/// unless the filter names sqlx itself or sets `debug` or `trace` for everything, so
/// that `trace` means everything, dependencies included.
fn log_filter(log: &str) -> EnvFilter {
    let everything =
        log.split(',').map(str::trim).any(|d| d.eq_ignore_ascii_case("trace") || d.eq_ignore_ascii_case("debug"));
    let text = if everything || log.contains("sqlx") { log.to_owned() } else { format!("sqlx=warn,{log}") };
    EnvFilter::try_new(text).unwrap_or_else(|_| EnvFilter::new("info"))
}

/// What a server-side command does once its settings are loaded.
enum Job {
    Serve,
    Migrate { from_sqlite: Option<PathBuf>, data: bool, contract: bool, status: bool },
    RotateKey,
    Backup { to: PathBuf },
    Restore { from: PathBuf },
}

fn main() -> ExitCode {
    let (name, job, settings) = match parse_cli().command {
        Commands::Agent(args) => return run_agent(*args),
        Commands::Status(args) => return status::run(args),
        Commands::Serve { settings } => ("serve", Job::Serve, settings),
        Commands::Migrate { from_sqlite, expand: _, migrate, contract, status, settings } => {
            ("migrate", Job::Migrate { from_sqlite, data: migrate, contract, status }, settings)
        }
        Commands::RotateKey { settings } => ("rotate-key", Job::RotateKey, settings),
        Commands::Backup { to, settings } => ("backup", Job::Backup { to }, settings),
        Commands::Restore { from, settings } => ("restore", Job::Restore { from }, settings),
    };
    let config = match Config::load(&settings.0, |k| std::env::var(k).ok()) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("vpnaas {name}: {e}\n\nFor more information, try 'vpnaas {name} --help'.");
            return ExitCode::from(2);
        }
    };
    tracing_subscriber::fmt()
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stdout()))
        .with_env_filter(log_filter(&config.log))
        .init();
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(r) => r,
        Err(e) => {
            eprintln!("vpnaas: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let result: anyhow::Result<()> = runtime.block_on(async move {
        match job {
            Job::Serve => {
                let listener = vpnaas_server::http::listen(config.listen)
                    .map_err(|e| anyhow!("cannot listen on {}: {e}", config.listen))?;
                vpnaas_server::serve(config, listener, async {
                    let signal = stop_signal().await;
                    tracing::info!(
                        signal,
                        "stopping: no new connections, requests in flight finish, waiting gateways are told to come back"
                    );
                })
                .await?;
                tracing::info!("vpnaas stopped");
                Ok(())
            }
            Job::Migrate { status: true, .. } => {
                let store = vpnaas_server::open_store_as_is(&config).await?;
                let status = store.schema_status().await;
                // The replicas table exists from schema 8 on.
                let live = vpnaas_server::service::upgrade::live_replicas(&store).await;
                store.close().await;
                let (at, pending) = status?;
                let steps: Vec<String> = pending.iter().map(|(v, p)| format!("{v} ({})", p.name())).collect();
                println!(
                    "{}: schema {at}; this release {} expects {}; pending: {}",
                    vpnaas_server::database_label(&config),
                    env!("CARGO_PKG_VERSION"),
                    vpnaas_server::store::schema_version(),
                    if steps.is_empty() { "none".to_owned() } else { steps.join(", ") }
                );
                match live {
                    Ok(live) => {
                        let each: Vec<String> = live
                            .iter()
                            .map(|r| format!("{} (release {}, schema {})", r.id, r.release, r.schema_version))
                            .collect();
                        println!("replicas serving: {}{}", live.len(), if each.is_empty() { String::new() } else { format!(": {}", each.join(", ")) });
                    }
                    Err(_) => println!("replicas serving: unknown (no replicas table before schema 8)"),
                }
                Ok(())
            }
            Job::Migrate { contract: true, .. } => {
                use vpnaas_server::service::upgrade::{contract, Contracted};
                let store = vpnaas_server::open_store(&config).await?;
                let done = contract(&store).await;
                store.close().await;
                match done? {
                    Contracted::Applied(applied) => {
                        let database = vpnaas_server::database_label(&config);
                        tracing::info!(%database, steps = applied.steps, rows = applied.rows, "contracted");
                        Ok(())
                    }
                    Contracted::Refused { step, old } => {
                        let old: Vec<String> = old
                            .iter()
                            .map(|r| format!("{} (release {}, schema {})", r.id, r.release, r.schema_version))
                            .collect();
                        bail!(
                            "contract step {step} refused: {} replica(s) of an older release still serve: {}; upgrade or stop them first",
                            old.len(),
                            old.join(", ")
                        )
                    }
                }
            }
            Job::Migrate { data: true, .. } => {
                let store = vpnaas_server::open_store(&config).await?;
                let done = store.migrate_to(vpnaas_server::store::Phase::Migrate).await;
                store.close().await;
                let applied = done?;
                let database = vpnaas_server::database_label(&config);
                tracing::info!(%database, steps = applied.steps, rows = applied.rows, "data steps applied");
                Ok(())
            }
            Job::Migrate { from_sqlite, .. } => {
                let store = vpnaas_server::open_store(&config).await?;
                tracing::info!(database = %vpnaas_server::database_label(&config), "schema is up to date");
                store.close().await;
                if let Some(from) = &from_sqlite {
                    let rows = vpnaas_server::copy_from_sqlite(&config, from).await?;
                    tracing::info!(rows, from = %from.display(), to = %vpnaas_server::database_label(&config), "copied");
                }
                Ok(())
            }
            Job::Backup { to } => {
                let m = vpnaas_server::backup::backup(&config, &to).await?;
                println!(
                    "backup of {} in {}: schema {}, {} rows, {} sealed secrets (keys {}: keep the key file apart)",
                    vpnaas_server::database_label(&config),
                    to.display(),
                    m.schema,
                    m.rows.values().sum::<i64>(),
                    m.secrets,
                    m.key_ids.iter().cloned().collect::<Vec<_>>().join(", ")
                );
                Ok(())
            }
            Job::Restore { from } => {
                let (m, opened) = vpnaas_server::backup::restore(&config, &from).await?;
                println!(
                    "restored {} into {}: {} rows, {opened} sealed secrets open with {}",
                    from.display(),
                    vpnaas_server::database_label(&config),
                    m.rows.values().sum::<i64>(),
                    config.key_file().display()
                );
                Ok(())
            }
            Job::RotateKey => {
                let (key, resealed) = vpnaas_server::rotate_key(&config).await?;
                tracing::info!(key = %key, resealed, file = %config.key_file().display(), "new key in force");
                println!("key {key} added to {}; {resealed} secrets (pre-shared keys, private keys) re-sealed", config.key_file().display());
                Ok(())
            }
        }
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!("{e}");
            eprintln!("vpnaas: {e}");
            ExitCode::FAILURE
        }
    }
}

/// The command line, `--version` naming the database schema this release expects beside the
/// release (`vpnaas 0.1.0 (database schema 7)`), as an operator planning an upgrade needs.
fn parse_cli() -> Cli {
    let version = format!("{} (database schema {})", env!("CARGO_PKG_VERSION"), vpnaas_server::store::schema_version());
    // Once per process: clap keeps the text for as long as the command lives.
    let version: &'static str = Box::leak(version.into_boxed_str());
    let command = Cli::command().version(version);
    let args = std::env::args_os().collect();
    let agent = command.find_subcommand("agent").cloned().unwrap_or_else(|| clap::Command::new("agent"));
    let args = match agent_config::expand(args, |k| std::env::var(k).ok(), &agent) {
        Ok(args) => args,
        Err(e) => {
            eprintln!("vpnaas agent: {e:#}");
            std::process::exit(2);
        }
    };
    let matches = command.get_matches_from(args);
    Cli::from_arg_matches(&matches).unwrap_or_else(|e| e.exit())
}

/// Resolves on SIGINT or SIGTERM (what systemd and orchestrators stop services with), and
/// names the signal.
async fn stop_signal() -> &'static str {
    use tokio::signal::unix::{signal, SignalKind};
    match signal(SignalKind::terminate()) {
        Ok(mut term) => tokio::select! {
            _ = tokio::signal::ctrl_c() => "SIGINT",
            _ = term.recv() => "SIGTERM",
        },
        Err(e) => {
            tracing::warn!(error = %e, "cannot listen for SIGTERM: only SIGINT stops this process cleanly");
            let _ = tokio::signal::ctrl_c().await;
            "SIGINT"
        }
    }
}

fn run_agent(args: AgentArgs) -> ExitCode {
    let config = args.config.clone();
    let mode = match agent_options(args) {
        Ok(o) => o,
        Err(e) => {
            eprintln!("vpnaas agent: {e}\n\nFor more information, try 'vpnaas agent --help'.");
            return ExitCode::from(2);
        }
    };
    let filter = std::env::var("VPNAAS_LOG").unwrap_or_else(|_| "info".to_owned());
    tracing_subscriber::fmt()
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stdout()))
        .with_env_filter(log_filter(&filter))
        .init();
    if let Some(file) = config {
        tracing::info!(config = %file.display(), "options read from the configuration file");
    }
    let result = tokio::runtime::Runtime::new().map_err(anyhow::Error::from).and_then(|rt| {
        rt.block_on(async {
            let stop = async {
                let signal = stop_signal().await;
                tracing::info!(signal, "stopping: the charons and their SAs keep running");
            };
            match mode {
                AgentMode::Router(opts) => vpnaas_agent::run(opts, stop).await,
                AgentMode::Host(opts) => vpnaas_agent::run_host(opts, stop).await,
            }
            .map_err(anyhow::Error::from)
        })
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!("{e}");
            eprintln!("vpnaas agent: {e}");
            ExitCode::FAILURE
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::error::ErrorKind;
    use clap::CommandFactory;

    fn env<'a>(pairs: &'a [(&'a str, &'a str)]) -> impl Fn(&str) -> Option<String> + 'a {
        move |k| pairs.iter().find(|(name, _)| *name == k).map(|(_, v)| (*v).to_owned())
    }

    /// What `vpnaas ARGS` prints for help, or the error it stops with.
    fn parse(args: &[&str]) -> Result<Cli, clap::Error> {
        Cli::try_parse_from(std::iter::once("vpnaas").chain(args.iter().copied()))
    }

    fn help(args: &[&str]) -> String {
        match parse(args) {
            Err(e) if e.kind() == ErrorKind::DisplayHelp => {
                assert_eq!(e.exit_code(), 0);
                e.render().to_string()
            }
            Err(e) => panic!("{e}"),
            Ok(_) => panic!("{args:?} parsed"),
        }
    }

    #[test]
    fn the_command_line_is_well_formed() {
        Cli::command().debug_assert();
    }

    #[test]
    fn help_lists_the_commands_and_every_setting_with_its_variable_and_default() {
        let top = help(&["--help"]);
        for command in ["serve", "migrate", "rotate-key", "agent"] {
            assert!(top.contains(command), "{top}");
        }
        for command in ["serve", "migrate", "rotate-key"] {
            let text = help(&[command, "--help"]);
            assert!(text.contains("--config <FILE>") && text.contains("[env: VPNAAS_CONFIG]"), "{text}");
            for s in SETTINGS {
                assert!(text.contains(s.env), "{command}: {} missing:\n{text}", s.env);
                assert!(text.contains(&format!("[default: {}]", s.default)), "{command}: {}:\n{text}", s.key);
                if let Some(flag) = s.flag {
                    assert!(text.contains(&format!("--{flag} <")), "{command}: --{flag} missing:\n{text}");
                }
            }
        }
        assert!(help(&["migrate", "--help"]).contains("--from-sqlite <FILE>"));
        let agent = help(&["agent", "--help"]);
        for word in [
            "--router <ID>",
            "--server <URL>",
            "--vici",
            "--host",
            "--vici-template <URI>",
            "--netns-template <NAME>",
            "--state-dir <DIR>",
            "VPNAAS_AGENT_TOKEN",
            "OS_AUTH_URL",
            "--ca-file <FILE>",
            "--tls-client-cert <FILE>",
            "--tls-client-key <FILE>",
            "--allow-plaintext",
        ] {
            assert!(agent.contains(word), "{word}:\n{agent}");
        }
    }

    const NIL: &str = "00000000-0000-0000-0000-000000000000";

    #[test]
    fn agent_runs_a_host_by_default_in_qrouter_namespaces_or_one_router_as_before() {
        let agent = |args: &[&str]| match parse(args) {
            Ok(Cli { command: Commands::Agent(a) }) => a,
            Ok(_) => panic!("not agent"),
            Err(e) => panic!("{e}"),
        };
        let host = agent(&["agent", "--host", "net-1", "--server", "http://s"]);
        assert_eq!((host.router, host.host.as_deref()), (None, Some("net-1")));
        assert_eq!(host.netns_template, "qrouter-{router_id}");
        assert_eq!(host.state_dir, PathBuf::from("/var/lib/vpnaas/charons"));
        assert_eq!(host.vici_template, None);
        let attach =
            agent(&["agent", "--host", "net-1", "--server", "http://s", "--vici-template", "unix:///r/{router_id}"]);
        assert_eq!(attach.vici_template.as_deref(), Some("unix:///r/{router_id}"));
        let one = agent(&["agent", "--router", NIL, "--server", "http://s", "--vici", "unix:///c.vici"]);
        assert_eq!((one.router, one.vici.as_str()), (Some(uuid::Uuid::nil()), "unix:///c.vici"));
    }

    #[test]
    fn unknown_flags_and_missing_commands_are_errors() {
        for (args, kind) in [
            (&["serve", "--lissten", "x"][..], ErrorKind::UnknownArgument),
            (&["serve", "--from-sqlite", "x"], ErrorKind::UnknownArgument),
            (&["serve", "--agent-token", "x"], ErrorKind::UnknownArgument),
            (&["serve", "--listen"], ErrorKind::InvalidValue),
            (&["launch"], ErrorKind::InvalidSubcommand),
            (&["agent", "--server", "http://s"], ErrorKind::MissingRequiredArgument),
            (&["agent", "--router", "r1", "--server", "http://s"], ErrorKind::ValueValidation),
            (&["agent", "--router", NIL, "--server", "s", "--netns-template", "x"], ErrorKind::ArgumentConflict),
            (&["agent", "--router", NIL, "--server", "s", "--vici-template", "unix:///x"], ErrorKind::ArgumentConflict),
            (
                &["agent", "--host", "h", "--server", "s", "--vici-template", "unix:///x", "--state-dir", "/d"],
                ErrorKind::ArgumentConflict,
            ),
            (&["agent", "--host", "h", "--server", "s", "--vici", "unix:///x"], ErrorKind::MissingRequiredArgument),
        ] {
            match parse(args) {
                Err(e) => {
                    assert_eq!(e.kind(), kind, "{args:?}: {e}");
                    assert_eq!(e.exit_code(), 2);
                }
                Ok(_) => panic!("{args:?} parsed"),
            }
        }
        assert!(matches!(parse(&[]), Err(e) if e.exit_code() == 2));
    }

    #[test]
    fn flags_become_settings_by_their_keys() {
        let Ok(Cli { command: Commands::Migrate { from_sqlite, settings, .. } }) = parse(&[
            "migrate",
            "--from-sqlite",
            "old.db",
            "--config",
            "/etc/vpnaas.toml",
            "--data-dir",
            "/d",
            "--keystone-cache-secs",
            "5",
        ]) else {
            panic!("not migrate")
        };
        assert_eq!(from_sqlite, Some(PathBuf::from("old.db")));
        assert_eq!(settings.0.config, Some(PathBuf::from("/etc/vpnaas.toml")));
        let values: Vec<(&str, &str)> = settings.0.values.iter().map(|(k, v)| (*k, v.as_str())).collect();
        assert_eq!(values, [("data_dir", "/d"), ("keystone.cache_secs", "5")]);
    }

    #[test]
    fn the_agent_logs_in_to_keystone_when_os_auth_url_is_set_else_uses_its_token() {
        let keystone = [
            ("OS_AUTH_URL", "http://127.0.0.1:5000/v3"),
            ("OS_USERNAME", "vpnaas-agent"),
            ("OS_PASSWORD", "pw"),
            ("OS_PROJECT_NAME", "service"),
            ("VPNAAS_AGENT_TOKEN", "ignored"),
        ];
        let tls = vpnaas_keystone::outgoing::ClientTls::default();
        match agent_credential(env(&keystone), &tls).unwrap() {
            vpnaas_agent::Credential::Keystone(s) => {
                assert_eq!(
                    (s.auth().username.as_str(), s.auth().user_domain_name.as_str()),
                    ("vpnaas-agent", "Default")
                )
            }
            other => panic!("{other:?}"),
        }
        let err = agent_credential(env(&keystone[..2]), &tls).unwrap_err().to_string();
        assert!(err.contains("OS_PASSWORD"), "{err}");
        let token = agent_credential(env(&[("VPNAAS_AGENT_TOKEN", "t")]), &tls).unwrap();
        assert!(matches!(token, vpnaas_agent::Credential::Token(t) if t == "t"));
        assert!(agent_credential(env(&[]), &tls).is_err());
        // A Keystone that is not on loopback is reached over https:// unless plain HTTP is allowed.
        let far = [("OS_AUTH_URL", "http://keystone.example:5000/v3"), ("OS_USERNAME", "a"), ("OS_PASSWORD", "p")];
        let err = agent_credential(env(&far), &tls).unwrap_err().to_string();
        assert!(err.starts_with("OS_AUTH_URL") && err.contains("in clear"), "{err}");
        // A client certificate alone is a credential.
        let cert = vpnaas_keystone::outgoing::ClientTls {
            client_cert: Some((PathBuf::from("c.pem"), PathBuf::from("k.pem"))),
            ..Default::default()
        };
        assert!(matches!(agent_credential(env(&[]), &cert).unwrap(), vpnaas_agent::Credential::Certificate));
    }
}
