//! Command-line options: what to run against, how hard and for how long, with the smoke preset.

use std::path::PathBuf;
use std::time::Duration;

use crate::workload::OpKind;

pub const USAGE: &str = "usage: vpnaas-bench [options]
       vpnaas-bench compare --reference REF.json --vpnaas VPNAAS.json
       vpnaas-bench fleet [options]   (simulated gateway agents; `fleet --help`)

Starts `vpnaas serve` on 127.0.0.1:0 over a fresh data directory (or targets --url),
seeds a deterministic data set, drives each operation at each concurrency, measures the
HTTP and SQLite ceilings in the same run and prints one table (and JSON with --json).

target
  --vpnaas PATH          the vpnaas binary (default: `vpnaas` next to this executable)
  --url URL              a running server instead (loopback addresses only)
  --pid PID[,PID...]     with --url: the server's processes, to read their peak RSS
                         (summed: a server of several processes counts them all)
  --reference            the target is the reference Neutron (noauth): project in bodies,
                         a Neutron inventory (networks, subnets, router, interface)
  --label NAME           the target's name in the table and JSON (default vpnaas/neutron)
                         (a server in keystone or static mode: set VPNAAS_BENCH_TOKEN and
                         VPNAAS_BENCH_ADMIN_TOKEN, and VPNAAS_BENCH_PROJECT to the first's project)
  --server-log FILTER    VPNAAS_LOG for the server this program starts (default: its own);
                         keep `vpnaas_server` at info, for its listening line: e.g.
                         warn,vpnaas_server=info,vpnaas_server::api=warn (no request log)
load
  --concurrency LIST     clients per run, comma-separated (default 1,32)
  --requests N           at most N requests per operation and concurrency (default 2000)
  --duration SECS        at most SECS seconds per operation and concurrency (default 10)
  --ops LIST             a subset of: create,show,list,page,update,delete
  --timeout SECS         per request (default 60)
data set
  --full-rows N          connections listed in full by `list` (default 1000)
  --page-rows N          connections behind the paged, name-filtered list (default 10000)
  --page-size N          the `limit` of a page (default 100)
  --seed-concurrency N   concurrent creates while seeding (default 32)
  --seed-command CMD     clone rows with CMD instead of creating each through the API:
                         run as `CMD TEMPLATE_ID COUNT NAME`, prints the new ids one a line
  --rss-rows N           also seed N connections into a fresh server and report its
                         memory (default 100000; 0 skips; needs a server this program starts)
ceilings and output
  --no-ceilings          skip the HTTP and SQLite ceilings
  --data-root DIR        where the temporary data directories go (default: the temp dir)
  --json FILE            also write the results as JSON
  --smoke                a few hundred requests in seconds; exits 1 if any request failed";

#[derive(Debug, Clone)]
pub struct Options {
    pub vpnaas: Option<PathBuf>,
    pub url: Option<String>,
    pub pids: Vec<u32>,
    pub reference: bool,
    pub label: Option<String>,
    pub server_log: Option<String>,
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
        match (&self.label, self.reference) {
            (Some(l), _) => l.clone(),
            (None, true) => "neutron".into(),
            (None, false) => "vpnaas".into(),
        }
    }
}

/// What the command line asks for.
#[derive(Debug)]
pub enum Command {
    Run(Box<Options>),
    /// `vpnaas-bench fleet ...` (see `fleet::options`).
    Fleet(Box<crate::fleet::options::FleetOptions>),
    FleetHelp,
    Compare {
        reference: PathBuf,
        vpnaas: PathBuf,
    },
    /// Internal: the HTTP ceiling's server, started by this program as a child process.
    CeilingServer,
    Help,
}

fn number<T: std::str::FromStr>(flag: &str, v: &str) -> Result<T, String> {
    v.parse().map_err(|_| format!("{flag}: not a number: {v:?}"))
}

fn positive(flag: &str, v: &str) -> Result<usize, String> {
    match number::<usize>(flag, v)? {
        0 => Err(format!("{flag} must be at least 1")),
        n => Ok(n),
    }
}

pub fn parse(args: &[String]) -> Result<Command, String> {
    match args.first().map(String::as_str) {
        Some("ceiling-server") => return Ok(Command::CeilingServer),
        Some("compare") => return parse_compare(&args[1..]),
        Some("fleet") => {
            return Ok(match crate::fleet::options::parse(&args[1..])? {
                Some(o) => Command::Fleet(Box::new(o)),
                None => Command::FleetHelp,
            })
        }
        _ => {}
    }
    if args.iter().any(|a| a == "--help" || a == "-h" || a == "help") {
        return Ok(Command::Help);
    }
    // The smoke preset first, so that explicit flags still override it.
    let mut o = if args.iter().any(|a| a == "--smoke") { Options::smoke() } else { Options::full() };
    let mut it = args.iter();
    while let Some(arg) = it.next() {
        let flag = arg.as_str();
        let mut value = || it.next().cloned().ok_or_else(|| format!("{flag} needs a value"));
        match flag {
            "--smoke" => {}
            "--reference" => o.reference = true,
            "--no-ceilings" => o.ceilings = false,
            "--vpnaas" => o.vpnaas = Some(PathBuf::from(value()?)),
            "--url" => o.url = Some(value()?.trim_end_matches('/').to_owned()),
            "--pid" => o.pids = value()?.split(',').map(|p| number(flag, p.trim())).collect::<Result<_, _>>()?,
            "--label" => o.label = Some(value()?),
            "--server-log" => o.server_log = Some(value()?),
            "--concurrency" => {
                o.concurrency = value()?.split(',').map(|c| positive(flag, c.trim())).collect::<Result<_, _>>()?
            }
            "--requests" => o.requests = positive(flag, &value()?)? as u64,
            "--duration" => o.duration = Duration::from_secs_f64(number::<f64>(flag, &value()?)?.max(0.1)),
            "--timeout" => o.timeout = Duration::from_secs_f64(number::<f64>(flag, &value()?)?.max(0.1)),
            "--ops" => {
                o.ops = value()?
                    .split(',')
                    .map(|s| OpKind::parse(s.trim()).ok_or_else(|| format!("--ops: unknown operation {s:?}")))
                    .collect::<Result<_, _>>()?
            }
            "--full-rows" => o.full_rows = positive(flag, &value()?)?,
            "--page-rows" => o.page_rows = positive(flag, &value()?)?,
            "--page-size" => o.page_size = positive(flag, &value()?)?,
            "--seed-concurrency" => o.seed_concurrency = positive(flag, &value()?)?,
            "--seed-command" => o.seed_command = Some(value()?),
            "--rss-rows" => o.rss_rows = number(flag, &value()?)?,
            "--data-root" => o.data_root = Some(PathBuf::from(value()?)),
            "--json" => o.json = Some(PathBuf::from(value()?)),
            other => return Err(format!("unknown argument {other:?}")),
        }
    }
    if o.page_rows <= o.page_size {
        return Err("--page-rows must be larger than --page-size".into());
    }
    if !o.pids.is_empty() && o.url.is_none() {
        return Err("--pid goes with --url".into());
    }
    Ok(Command::Run(Box::new(o)))
}

fn parse_compare(args: &[String]) -> Result<Command, String> {
    let (mut reference, mut vpnaas) = (None, None);
    let mut it = args.iter();
    while let Some(arg) = it.next() {
        let v = it.next().map(PathBuf::from).ok_or_else(|| format!("{arg} needs a value"))?;
        match arg.as_str() {
            "--reference" => reference = Some(v),
            "--vpnaas" => vpnaas = Some(v),
            other => return Err(format!("compare: unknown argument {other:?}")),
        }
    }
    match (reference, vpnaas) {
        (Some(reference), Some(vpnaas)) => Ok(Command::Compare { reference, vpnaas }),
        _ => Err("compare needs --reference FILE and --vpnaas FILE".into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(s: &str) -> Vec<String> {
        s.split_whitespace().map(String::from).collect()
    }

    #[test]
    fn smoke_preset_is_small_and_flags_override_it() {
        let Ok(Command::Run(o)) = parse(&args("--concurrency 2 --smoke")) else { panic!("not a run") };
        assert!(o.smoke);
        assert_eq!(o.concurrency, vec![2]);
        assert_eq!(o.rss_rows, 0);
        assert!(o.requests * (o.concurrency.len() as u64) * 6 < 1000);
    }

    #[test]
    fn defaults_and_errors() {
        let Ok(Command::Run(o)) = parse(&[]) else { panic!("not a run") };
        assert_eq!(o.concurrency, vec![1, 32]);
        assert_eq!((o.full_rows, o.page_rows, o.page_size), (1000, 10_000, 100));
        assert!(parse(&args("--ops create,nope")).is_err());
        assert!(parse(&args("--requests 0")).is_err());
        assert!(parse(&args("--pid 3")).is_err());
        assert!(matches!(parse(&args("compare --reference a --vpnaas b")), Ok(Command::Compare { .. })));
    }
}
