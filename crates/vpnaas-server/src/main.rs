//! The `vpnaas` command: `serve` runs the API, `migrate` brings the database schema up to date.

use std::path::PathBuf;
use std::process::ExitCode;

use tracing_subscriber::EnvFilter;
use vpnaas_server::config::{Config, Flags};

const USAGE: &str = "usage: vpnaas <serve|migrate> [--config FILE] [--listen ADDR:PORT] [--data-dir DIR]
                                  [--from-sqlite FILE]

  serve     serve the VPNaaS v2.0 API (default 127.0.0.1:9696, data in ./vpnaas-data)
  migrate   create or upgrade the database, then exit; with --from-sqlite FILE, also copy
            every row of that SQLite database into the configured (empty) one

Settings also come from a TOML file (--config or VPNAAS_CONFIG) and from
VPNAAS_LISTEN, VPNAAS_DATA_DIR, VPNAAS_NOAUTH_DEFAULT_PROJECT and VPNAAS_LOG.";

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

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let Some(command) = args.first().cloned() else {
        eprintln!("{USAGE}");
        return ExitCode::from(2);
    };
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
