//! The `vpnaas` command: `serve` runs the API, `migrate` brings the database schema up to
//! date, `rotate-key` re-seals pre-shared keys under a new key, `agent` runs a gateway agent.

use std::path::PathBuf;
use std::process::ExitCode;

use tracing_subscriber::EnvFilter;
use vpnaas_server::config::{Config, Flags};

const USAGE: &str = "usage: vpnaas <serve|migrate|rotate-key> [--config FILE] [--listen ADDR:PORT] [--data-dir DIR]
                                  [--from-sqlite FILE]
       vpnaas agent --router ID --server URL --vici unix:///PATH [--host NAME]

  serve     serve the VPNaaS v2.0 API (default 127.0.0.1:9696, data in ./vpnaas-data)
  migrate   create or upgrade the database, then exit; with --from-sqlite FILE, also copy
            every row of that SQLite database into the configured (empty) one
  rotate-key  add a new key to the key file (psk_key_file, default DATA_DIR/psk.key; created
            if missing) and re-seal every stored pre-shared key with it
  agent     run the gateway agent of one router: converge its charon (VICI socket) on the
            server's desired state and report status; the credential is a Keystone user
            holding the service role (OS_AUTH_URL, OS_USERNAME, OS_PASSWORD, OS_PROJECT_NAME)
            or a token (VPNAAS_AGENT_TOKEN)

Settings also come from a TOML file (--config or VPNAAS_CONFIG) and from VPNAAS_* variables:
VPNAAS_LISTEN, VPNAAS_DATA_DIR, VPNAAS_DATABASE_URL, VPNAAS_LOG, VPNAAS_AUTH_STRATEGY
(noauth|static|keystone), VPNAAS_KEYSTONE_URL, VPNAAS_KEYSTONE_USERNAME,
VPNAAS_KEYSTONE_PASSWORD, VPNAAS_STATIC_TOKENS_FILE, VPNAAS_POLICY_FILE, VPNAAS_PSK_KEY_FILE,
... (see the README).";

fn parse_flags(args: &[String]) -> Result<Flags, String> {
    let mut flags = Flags::default();
    let mut it = args.iter();
    while let Some(arg) = it.next() {
        let mut value = |name: &str| it.next().cloned().ok_or_else(|| format!("{name} needs a value"));
        match arg.as_str() {
            "--config" => flags.config = Some(PathBuf::from(value("--config")?)),
            "--listen" => flags.listen = Some(value("--listen")?),
            "--data-dir" => flags.data_dir = Some(PathBuf::from(value("--data-dir")?)),
            "--from-sqlite" => flags.from_sqlite = Some(PathBuf::from(value("--from-sqlite")?)),
            other => return Err(format!("unknown argument {other:?}")),
        }
    }
    Ok(flags)
}

/// The agent's credential, from the environment so it never shows in `ps`: a Keystone user
/// (`OS_AUTH_URL`, `OS_USERNAME`, `OS_PASSWORD`, `OS_PROJECT_NAME`, and the domains, which
/// default to `Default`), else a fixed token (`VPNAAS_AGENT_TOKEN`).
fn agent_credential(env: impl Fn(&str) -> Option<String>) -> Result<vpnaas_agent::Credential, String> {
    if let Some(url) = env("OS_AUTH_URL") {
        let need = |k: &str| env(k).ok_or_else(|| format!("OS_AUTH_URL is set, so {k} is needed"));
        let auth = vpnaas_agent::keystone::PasswordAuth {
            url,
            username: need("OS_USERNAME")?,
            password: need("OS_PASSWORD")?,
            project_name: need("OS_PROJECT_NAME")?,
            user_domain_name: env("OS_USER_DOMAIN_NAME").unwrap_or_else(|| "Default".into()),
            project_domain_name: env("OS_PROJECT_DOMAIN_NAME").unwrap_or_else(|| "Default".into()),
        };
        return Ok(vpnaas_agent::Credential::Keystone(std::sync::Arc::new(vpnaas_agent::keystone::Session::new(auth))));
    }
    env("VPNAAS_AGENT_TOKEN")
        .map(vpnaas_agent::Credential::Token)
        .ok_or_else(|| "set VPNAAS_AGENT_TOKEN, or OS_AUTH_URL and the other OS_* variables of a Keystone user".into())
}

/// `vpnaas agent` flags.
fn agent_options(args: &[String]) -> Result<vpnaas_agent::AgentOptions, String> {
    let (mut router, mut server, mut vici, mut host) = (None, None, None, None);
    let mut it = args.iter();
    while let Some(arg) = it.next() {
        let mut value = |name: &str| it.next().cloned().ok_or_else(|| format!("{name} needs a value"));
        match arg.as_str() {
            "--router" => router = Some(value("--router")?),
            "--server" => server = Some(value("--server")?),
            "--vici" => vici = Some(value("--vici")?),
            "--host" => host = Some(value("--host")?),
            other => return Err(format!("unknown argument {other:?}")),
        }
    }
    let router = router.ok_or("--router is required")?;
    let router_id =
        uuid::Uuid::parse_str(&router).map_err(|_| format!("--router must be a router id, not {router:?}"))?;
    let credential = agent_credential(|k| std::env::var(k).ok().filter(|v| !v.is_empty()))?;
    let host = host
        .or_else(|| std::fs::read_to_string("/proc/sys/kernel/hostname").ok().map(|h| h.trim().to_owned()))
        .unwrap_or_else(|| "gateway".to_owned());
    Ok(vpnaas_agent::AgentOptions {
        router_id,
        server: server.ok_or("--server is required")?,
        vici: vici.unwrap_or_else(|| "unix:///var/run/charon.vici".to_owned()),
        credential,
        host,
        status_interval: std::time::Duration::from_secs(10),
    })
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let Some(command) = args.first().cloned() else {
        eprintln!("{USAGE}");
        return ExitCode::from(2);
    };
    if command == "agent" {
        return run_agent(&args[1..]);
    }
    let flags = parse_flags(&args[1..]);
    let from_sqlite = flags.as_ref().ok().and_then(|f| f.from_sqlite.clone());
    let config = match flags.and_then(|f| Config::load(&f, |k| std::env::var(k).ok())) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("vpnaas: {e}\n\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    tracing_subscriber::fmt()
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stdout()))
        // sqlx reports every statement and server notice at info; those are debugging detail.
        .with_env_filter(
            EnvFilter::try_new(format!("sqlx=warn,{}", config.log)).unwrap_or_else(|_| EnvFilter::new("info")),
        )
        .init();
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(r) => r,
        Err(e) => {
            eprintln!("vpnaas: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(async move {
        match command.as_str() {
            "serve" => {
                let listener = tokio::net::TcpListener::bind(config.listen)
                    .await
                    .map_err(|e| format!("cannot listen on {}: {e}", config.listen))?;
                vpnaas_server::serve(config, listener, async {
                    let _ = tokio::signal::ctrl_c().await;
                })
                .await
            }
            "migrate" => {
                let store = vpnaas_server::open_store(&config).await?;
                tracing::info!(database = %vpnaas_server::database_label(&config), "schema is up to date");
                store.close().await;
                if let Some(from) = &from_sqlite {
                    let rows = vpnaas_server::copy_from_sqlite(&config, from).await?;
                    tracing::info!(rows, from = %from.display(), to = %vpnaas_server::database_label(&config), "copied");
                }
                Ok(())
            }
            "rotate-key" => {
                let (key, resealed) = vpnaas_server::rotate_key(&config).await?;
                tracing::info!(key = %key, resealed, file = %config.key_file().display(), "new key in force");
                println!("key {key} added to {}; {resealed} pre-shared keys re-sealed", config.key_file().display());
                Ok(())
            }
            "help" | "--help" | "-h" => {
                println!("{USAGE}");
                Ok(())
            }
            other => Err(format!("unknown command {other:?}\n\n{USAGE}")),
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

fn run_agent(args: &[String]) -> ExitCode {
    let opts = match agent_options(args) {
        Ok(o) => o,
        Err(e) => {
            eprintln!("vpnaas: {e}\n\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    let filter = std::env::var("VPNAAS_LOG").unwrap_or_else(|_| "info".to_owned());
    tracing_subscriber::fmt()
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stdout()))
        .with_env_filter(EnvFilter::try_new(&filter).unwrap_or_else(|_| EnvFilter::new("info")))
        .init();
    let result = tokio::runtime::Runtime::new().map_err(|e| e.to_string()).and_then(|rt| {
        rt.block_on(vpnaas_agent::run(opts, async {
            let _ = tokio::signal::ctrl_c().await;
        }))
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

    fn env<'a>(pairs: &'a [(&'a str, &'a str)]) -> impl Fn(&str) -> Option<String> + 'a {
        move |k| pairs.iter().find(|(name, _)| *name == k).map(|(_, v)| (*v).to_owned())
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
        match agent_credential(env(&keystone)).unwrap() {
            vpnaas_agent::Credential::Keystone(s) => {
                assert_eq!(
                    (s.auth().username.as_str(), s.auth().user_domain_name.as_str()),
                    ("vpnaas-agent", "Default")
                )
            }
            other => panic!("{other:?}"),
        }
        let err = agent_credential(env(&keystone[..2])).unwrap_err();
        assert!(err.contains("OS_PASSWORD"), "{err}");
        let token = agent_credential(env(&[("VPNAAS_AGENT_TOKEN", "t")])).unwrap();
        assert!(matches!(token, vpnaas_agent::Credential::Token(t) if t == "t"));
        assert!(agent_credential(env(&[])).is_err());
    }
}
