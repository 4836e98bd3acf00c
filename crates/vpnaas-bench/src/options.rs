//! Command-line options: what to run against, how hard and for how long, with the smoke preset.

use std::path::PathBuf;
use std::time::Duration;

use clap::error::ErrorKind;
use clap::{Args, CommandFactory, Parser, Subcommand};

use crate::values::{positive, seconds};
use crate::workload::OpKind;

/// `vpnaas-bench`'s command line.
#[derive(Parser, Debug)]
#[command(
    name = "vpnaas-bench",
    version,
    about = "Benchmarks the vpnaas API: each operation at each concurrency, with HTTP and SQLite ceilings and server memory",
    long_about = "Starts `vpnaas serve` on 127.0.0.1:0 over a fresh data directory (or targets --url), \
seeds a deterministic data set, drives each operation at each concurrency, measures the HTTP and \
SQLite ceilings in the same run and prints one table (and JSON with --json).",
    args_conflicts_with_subcommands = true
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Option<Sub>,
    #[command(flatten)]
    pub run: RunArgs,
}

#[derive(Subcommand, Debug)]
pub enum Sub {
    /// Compares two runs' JSON files side by side
    Compare {
        #[arg(long, value_name = "REF.json")]
        reference: PathBuf,
        #[arg(long, value_name = "VPNAAS.json")]
        vpnaas: PathBuf,
    },
    /// Simulated gateway agents against one server or two replicas (`fleet --help`)
    #[command(long_about = crate::fleet::options::FLEET_ABOUT)]
    Fleet(Box<crate::fleet::options::FleetArgs>),
    /// Real tunnels: one gateway with many connections, and two-site bring-up (root, strongSwan)
    Tunnels(Box<crate::tunnels::TunnelArgs>),
    /// Internal: the HTTP ceiling's server, started by this program as a child process
    #[command(hide = true)]
    CeilingServer,
}

/// The benchmark run's flags; unset ones take the full or the `--smoke` preset's value.
#[derive(Args, Debug, Default)]
pub struct RunArgs {
    /// The vpnaas binary [default: `vpnaas` next to this executable]
    #[arg(long, value_name = "PATH", help_heading = "Target")]
    vpnaas: Option<PathBuf>,
    /// A running server instead (loopback addresses only)
    #[arg(long, value_name = "URL", help_heading = "Target")]
    url: Option<String>,
    /// With --url: the server's processes, to read their peak RSS (summed: a server of several processes counts them all)
    #[arg(long = "pid", value_name = "PID,...", value_delimiter = ',', requires = "url", help_heading = "Target")]
    pids: Vec<u32>,
    /// The target is the reference Neutron (noauth): project in bodies, a Neutron inventory
    /// (networks, subnets, router, interface)
    #[arg(long, help_heading = "Target")]
    reference: bool,
    /// The target's name in the table and JSON [default: vpnaas/neutron, vpnaas+notifications
    /// with --transport-url]. A server in keystone or
    /// static mode: set VPNAAS_BENCH_TOKEN and VPNAAS_BENCH_ADMIN_TOKEN, and VPNAAS_BENCH_PROJECT
    /// to the first's project
    #[arg(long, value_name = "NAME", help_heading = "Target")]
    label: Option<String>,
    /// VPNAAS_LOG for the server this program starts [default: its own]; keep `vpnaas_server` at
    /// info, for its listening line: e.g. warn,vpnaas_server=info,vpnaas_server::api=warn
    #[arg(long, value_name = "FILTER", help_heading = "Target")]
    server_log: Option<String>,
    /// The server this program starts publishes notifications to this broker (oslo.messaging's
    /// transport_url, on loopback: rabbit://guest:guest@127.0.0.1:5672/), so that the writes
    /// measure their cost
    #[arg(long, value_name = "URL", help_heading = "Target")]
    transport_url: Option<String>,
    /// Clients per run, comma-separated [default: 1,32]
    #[arg(long, value_name = "N,...", value_delimiter = ',', value_parser = positive, help_heading = "Load")]
    concurrency: Option<Vec<usize>>,
    /// At most N requests per operation and concurrency [default: 2000]
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..), help_heading = "Load")]
    requests: Option<u64>,
    /// At most SECS seconds per operation and concurrency [default: 10]
    #[arg(long, value_name = "SECS", value_parser = seconds, help_heading = "Load")]
    duration: Option<Duration>,
    /// A subset of: create,show,list,page,update,delete
    #[arg(long, value_name = "OP,...", value_delimiter = ',', value_parser = op, help_heading = "Load")]
    ops: Option<Vec<OpKind>>,
    /// Per request, in seconds [default: 60]
    #[arg(long, value_name = "SECS", value_parser = seconds, help_heading = "Load")]
    timeout: Option<Duration>,
    /// Connections listed in full by `list` [default: 1000]
    #[arg(long, value_name = "N", value_parser = positive, help_heading = "Data set")]
    full_rows: Option<usize>,
    /// Connections behind the paged, name-filtered list [default: 10000]
    #[arg(long, value_name = "N", value_parser = positive, help_heading = "Data set")]
    page_rows: Option<usize>,
    /// The `limit` of a page [default: 100]
    #[arg(long, value_name = "N", value_parser = positive, help_heading = "Data set")]
    page_size: Option<usize>,
    /// Concurrent creates while seeding [default: 32]
    #[arg(long, value_name = "N", value_parser = positive, help_heading = "Data set")]
    seed_concurrency: Option<usize>,
    /// Clone rows with CMD instead of creating each through the API: run as
    /// `CMD TEMPLATE_ID COUNT NAME`, prints the new ids one a line
    #[arg(long, value_name = "CMD", help_heading = "Data set")]
    seed_command: Option<String>,
    /// Also seed N connections into a fresh server and report its memory [default: 100000; 0
    /// skips; needs a server this program starts]
    #[arg(long, value_name = "N", help_heading = "Data set")]
    rss_rows: Option<usize>,
    /// Skip the HTTP and SQLite ceilings
    #[arg(long, help_heading = "Ceilings and output")]
    no_ceilings: bool,
    /// Where the temporary data directories go [default: the temp dir]
    #[arg(long, value_name = "DIR", help_heading = "Ceilings and output")]
    data_root: Option<PathBuf>,
    /// Also write the results as JSON
    #[arg(long, value_name = "FILE", help_heading = "Ceilings and output")]
    json: Option<PathBuf>,
    /// A few hundred requests in seconds; exits 1 if any request failed (flags still override it)
    #[arg(long, help_heading = "Ceilings and output")]
    smoke: bool,
}

/// A flag's value that cannot be used, or flags that do not fit together; clap names the flag.
#[derive(Debug, thiserror::Error)]
pub enum OptionError {
    #[error("unknown operation {0:?}")]
    UnknownOperation(String),
    #[error("--page-rows must be larger than --page-size")]
    PageRowsNotAbovePageSize,
}

fn op(v: &str) -> Result<OpKind, OptionError> {
    OpKind::parse(v.trim()).ok_or_else(|| OptionError::UnknownOperation(v.to_owned()))
}

#[derive(Debug, Clone)]
pub struct Options {
    pub vpnaas: Option<PathBuf>,
    pub url: Option<String>,
    pub pids: Vec<u32>,
    pub reference: bool,
    pub label: Option<String>,
    pub server_log: Option<String>,
    pub transport_url: Option<String>,
    pub concurrency: Vec<usize>,
    pub requests: u64,
    pub duration: Duration,
    pub ops: Vec<OpKind>,
    pub timeout: Duration,
    pub full_rows: usize,
    pub page_rows: usize,
    pub page_size: usize,
    pub seed_concurrency: usize,
    pub seed_command: Option<String>,
    pub rss_rows: usize,
    pub ceilings: bool,
    pub data_root: Option<PathBuf>,
    pub json: Option<PathBuf>,
    pub smoke: bool,
}

impl Options {
    fn full() -> Options {
        Options {
            vpnaas: None,
            url: None,
            pids: Vec::new(),
            reference: false,
            label: None,
            server_log: None,
            transport_url: None,
            concurrency: vec![1, 32],
            requests: 2000,
            duration: Duration::from_secs(10),
            ops: OpKind::ALL.to_vec(),
            timeout: Duration::from_secs(60),
            full_rows: 1000,
            page_rows: 10_000,
            page_size: 100,
            seed_concurrency: 32,
            seed_command: None,
            rss_rows: 100_000,
            ceilings: true,
            data_root: None,
            json: None,
            smoke: false,
        }
    }

    /// Small enough for CI (a few hundred requests, seconds), but every code path runs.
    fn smoke() -> Options {
        Options {
            concurrency: vec![1, 4],
            requests: 20,
            duration: Duration::from_secs(5),
            timeout: Duration::from_secs(30),
            full_rows: 40,
            page_rows: 120,
            page_size: 10,
            seed_concurrency: 8,
            rss_rows: 0,
            smoke: true,
            ..Options::full()
        }
    }

    pub fn label(&self) -> String {
        match (&self.label, self.reference, &self.transport_url) {
            (Some(l), _, _) => l.clone(),
            (None, true, _) => "neutron".into(),
            (None, false, Some(_)) => "vpnaas+notifications".into(),
            (None, false, None) => "vpnaas".into(),
        }
    }
}

impl RunArgs {
    /// The run's options: the preset, then every flag given.
    pub fn options(self) -> Result<Options, OptionError> {
        let p = if self.smoke { Options::smoke() } else { Options::full() };
        let o = Options {
            vpnaas: self.vpnaas,
            url: self.url.map(|u| u.trim_end_matches('/').to_owned()),
            pids: self.pids,
            reference: self.reference,
            label: self.label,
            server_log: self.server_log,
            transport_url: self.transport_url,
            concurrency: self.concurrency.unwrap_or(p.concurrency),
            requests: self.requests.unwrap_or(p.requests),
            duration: self.duration.unwrap_or(p.duration),
            ops: self.ops.unwrap_or(p.ops),
            timeout: self.timeout.unwrap_or(p.timeout),
            full_rows: self.full_rows.unwrap_or(p.full_rows),
            page_rows: self.page_rows.unwrap_or(p.page_rows),
            page_size: self.page_size.unwrap_or(p.page_size),
            seed_concurrency: self.seed_concurrency.unwrap_or(p.seed_concurrency),
            seed_command: self.seed_command,
            rss_rows: self.rss_rows.unwrap_or(p.rss_rows),
            ceilings: !self.no_ceilings,
            data_root: self.data_root,
            json: self.json,
            smoke: self.smoke,
        };
        if o.page_rows <= o.page_size {
            return Err(OptionError::PageRowsNotAbovePageSize);
        }
        Ok(o)
    }
}

/// What the command line asks for.
#[derive(Debug)]
pub enum Command {
    Run(Box<Options>),
    Fleet(Box<crate::fleet::options::FleetOptions>),
    Tunnels(Box<crate::tunnels::TunnelArgs>),
    Compare { reference: PathBuf, vpnaas: PathBuf },
    CeilingServer,
}

/// Parses the command line (the program's name first); `--help` and `--version` come back
/// as clap's errors of those kinds, to be printed.
pub fn parse<I, T>(args: I) -> Result<Command, clap::Error>
where
    I: IntoIterator<Item = T>,
    T: Into<std::ffi::OsString> + Clone,
{
    let cli = Cli::try_parse_from(args)?;
    let invalid = |e: &dyn std::fmt::Display| Cli::command().error(ErrorKind::ValueValidation, e);
    Ok(match cli.command {
        Some(Sub::Compare { reference, vpnaas }) => Command::Compare { reference, vpnaas },
        Some(Sub::CeilingServer) => Command::CeilingServer,
        Some(Sub::Fleet(f)) => Command::Fleet(Box::new(f.options().map_err(|e| invalid(&e))?)),
        Some(Sub::Tunnels(t)) => Command::Tunnels(t),
        None => Command::Run(Box::new(cli.run.options().map_err(|e| invalid(&e))?)),
    })
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    pub(crate) fn args(s: &str) -> Vec<String> {
        std::iter::once("vpnaas-bench").chain(s.split_whitespace()).map(String::from).collect()
    }

    #[test]
    fn smoke_preset_is_small_and_flags_override_it() {
        let Ok(Command::Run(o)) = parse(args("--concurrency 2 --smoke")) else { panic!("not a run") };
        assert!(o.smoke);
        assert_eq!(o.concurrency, vec![2]);
        assert_eq!(o.rss_rows, 0);
        assert!(o.requests * (o.concurrency.len() as u64) * 6 < 1000);
    }

    #[test]
    fn defaults_and_errors() {
        let Ok(Command::Run(o)) = parse(args("")) else { panic!("not a run") };
        assert_eq!(o.concurrency, vec![1, 32]);
        assert_eq!((o.full_rows, o.page_rows, o.page_size), (1000, 10_000, 100));
        assert!(o.ceilings && o.ops.len() == 6);
        let Ok(Command::Run(o)) = parse(args("--ops create,show --url http://127.0.0.1:1/ --pid 3,4 --no-ceilings"))
        else {
            panic!("not a run")
        };
        assert_eq!(
            (o.ops, o.url.as_deref(), o.pids, o.ceilings),
            (vec![OpKind::Create, OpKind::Show], Some("http://127.0.0.1:1"), vec![3, 4], false)
        );
        for bad in
            ["--ops create,nope", "--requests 0", "--pid 3", "--duration -1", "--page-rows 10 --page-size 10", "--nope"]
        {
            assert!(parse(args(bad)).is_err(), "{bad}");
        }
        assert!(matches!(parse(args("compare --reference a --vpnaas b")), Ok(Command::Compare { .. })));
        assert!(parse(args("compare --reference a")).is_err());
        assert_eq!(parse(args("--help")).map(|_| ()).map_err(|e| e.kind()), Err(ErrorKind::DisplayHelp));
        Cli::command().debug_assert();
    }
}
