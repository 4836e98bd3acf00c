//! The results: one row per operation and concurrency with its ceilings, printed as a table, written as JSON, and two runs compared.

use anyhow::anyhow;
use std::fmt::Write as _;
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::load::Measure;
use crate::target::Memory;
use crate::workload::{OpKind, SeedFigure};

/// One operation at one concurrency.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Row {
    pub op: OpKind,
    pub what: String,
    pub concurrency: usize,
    #[serde(flatten)]
    pub measure: Measure,
    /// The server's peak resident memory (VmHWM) after this run, when it can be read.
    pub peak_rss_kib: Option<u64>,
    pub http_ceiling: Option<Measure>,
    pub storage_ceiling: Option<Measure>,
}

impl Row {
    pub fn http_ratio(&self) -> Option<f64> {
        ratio(self.measure.throughput, self.http_ceiling.as_ref()?.throughput)
    }
    pub fn storage_ratio(&self) -> Option<f64> {
        ratio(self.measure.throughput, self.storage_ceiling.as_ref()?.throughput)
    }
}

/// The memory figure with many connections stored.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RssFigure {
    pub rows: usize,
    pub seed: SeedFigure,
    /// Right after seeding.
    pub after_seed: Memory,
    /// After a few reads (pages, a list of 1,000) over the large table.
    pub after_reads: Memory,
    pub database_bytes: u64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Report {
    pub label: String,
    pub target: String,
    pub reference: bool,
    pub cores: usize,
    pub requests_bound: u64,
    pub seconds_bound: f64,
    pub seeding: Vec<SeedFigure>,
    pub rows: Vec<Row>,
    pub rss: Option<RssFigure>,
    /// The server's memory before any load (after start and the inventory).
    pub idle_memory: Option<Memory>,
    pub notes: Vec<String>,
}

impl Report {
    /// Every failed request, seeding retries included.
    pub fn errors(&self) -> u64 {
        let rows: u64 = self
            .rows
            .iter()
            .map(|r| {
                r.measure.errors
                    + r.http_ceiling.as_ref().map_or(0, |m| m.errors)
                    + r.storage_ceiling.as_ref().map_or(0, |m| m.errors)
            })
            .sum();
        rows + self.seeding.iter().map(|s| s.failed_attempts).sum::<u64>()
    }

    pub fn write_json(&self, path: &Path) -> anyhow::Result<()> {
        let text = serde_json::to_string_pretty(self)?;
        std::fs::write(path, text + "\n").map_err(|e| anyhow!("cannot write {}: {e}", path.display()))
    }

    pub fn read_json(path: &Path) -> anyhow::Result<Report> {
        let text = std::fs::read_to_string(path).map_err(|e| anyhow!("cannot read {}: {e}", path.display()))?;
        serde_json::from_str(&text).map_err(|e| anyhow!("{}: {e}", path.display()))
    }
}

fn ratio(a: f64, b: f64) -> Option<f64> {
    (b > 0.0).then(|| a / b)
}

fn mib(kib: Option<u64>) -> String {
    kib.map_or_else(|| "-".into(), |k| format!("{:.1}", k as f64 / 1024.0))
}

fn opt(v: Option<f64>, digits: usize) -> String {
    v.map_or_else(|| "-".into(), |v| format!("{v:.digits$}"))
}

/// A number with as many decimals as it needs to show three significant digits.
fn num(v: f64) -> String {
    if v >= 100.0 {
        format!("{v:.0}")
    } else if v >= 10.0 {
        format!("{v:.1}")
    } else {
        format!("{v:.2}")
    }
}

/// Renders rows of cells with right-aligned columns (the first left-aligned).
fn render(header: &[&str], rows: &[Vec<String>]) -> String {
    let mut widths: Vec<usize> = header.iter().map(|h| h.len()).collect();
    for r in rows {
        for (i, c) in r.iter().enumerate() {
            if let Some(w) = widths.get_mut(i) {
                *w = (*w).max(c.len());
            }
        }
    }
    let line = |cells: Vec<&str>| -> String {
        let mut s = String::new();
        for (i, c) in cells.iter().enumerate() {
            let w = widths.get(i).copied().unwrap_or(0);
            if i == 0 {
                let _ = write!(s, "{c:<w$}");
            } else {
                let _ = write!(s, "  {c:>w$}");
            }
        }
        s.trim_end().to_owned() + "\n"
    };
    let mut out = line(header.to_vec());
    out += &line(widths.iter().map(|w| "-".repeat(*w)).collect::<Vec<_>>().iter().map(String::as_str).collect());
    for r in rows {
        out += &line(r.iter().map(String::as_str).collect());
    }
    out
}

/// The main table, then the ceilings, then seeding and memory.
pub fn table(r: &Report) -> String {
    let mut out = format!("{} at {} ({} cores)\n\n", r.label, r.target, r.cores);
    let rows: Vec<Vec<String>> = r
        .rows
        .iter()
        .map(|row| {
            let m = &row.measure;
            vec![
                row.op.name().to_owned(),
                row.concurrency.to_string(),
                m.requests.to_string(),
                num(m.throughput),
                num(m.p50_ms),
                num(m.p99_ms),
                num(m.max_ms),
                m.errors.to_string(),
                mib(row.peak_rss_kib),
                m.mean_bytes.to_string(),
                row.what.clone(),
            ]
        })
        .collect();
    out += &render(
        &[
            "operation",
            "conc",
            "requests",
            "req/s",
            "p50 ms",
            "p99 ms",
            "max ms",
            "errors",
            "peak RSS MiB",
            "resp B",
            "what",
        ],
        &rows,
    );
    if r.rows.iter().any(|row| row.http_ceiling.is_some() || row.storage_ceiling.is_some()) {
        out += "\nceilings in the same run (ratio = vpnaas req/s / ceiling req/s)\n\n";
        let rows: Vec<Vec<String>> = r
            .rows
            .iter()
            .map(|row| {
                let h = row.http_ceiling.as_ref();
                let s = row.storage_ceiling.as_ref();
                vec![
                    row.op.name().to_owned(),
                    row.concurrency.to_string(),
                    num(row.measure.throughput),
                    h.map_or_else(|| "-".into(), |m| num(m.throughput)),
                    h.map_or_else(|| "-".into(), |m| num(m.p50_ms)),
                    opt(row.http_ratio(), 3),
                    s.map_or_else(|| "-".into(), |m| num(m.throughput)),
                    s.map_or_else(|| "-".into(), |m| num(m.p50_ms)),
                    opt(row.storage_ratio(), 3),
                ]
            })
            .collect();
        out += &render(
            &[
                "operation",
                "conc",
                "vpnaas req/s",
                "HTTP req/s",
                "HTTP p50 ms",
                "vpnaas/HTTP",
                "SQLite op/s",
                "SQLite p50 ms",
                "vpnaas/SQLite",
            ],
            &rows,
        );
    }
    if !r.seeding.is_empty() {
        out += "\nseeding\n\n";
        let rows: Vec<Vec<String>> = r
            .seeding
            .iter()
            .map(|s| {
                vec![
                    s.name.clone(),
                    s.rows.to_string(),
                    format!("{:.1}", s.seconds),
                    num(s.rows_per_second),
                    s.failed_attempts.to_string(),
                    s.method.clone(),
                ]
            })
            .collect();
        out += &render(&["set", "rows", "seconds", "rows/s", "failed tries", "how"], &rows);
    }
    if let Some(m) = &r.idle_memory {
        let _ = writeln!(out, "\nserver memory before load: RSS {} MiB", mib(Some(m.rss_kib)));
    }
    if let Some(x) = &r.rss {
        let _ = writeln!(
            out,
            "server memory with {} connections stored (seeded in {:.1} s, {:.0} rows/s; database {:.1} MiB):\n  \
             after seeding: RSS {} MiB, peak {} MiB\n  after reads:   RSS {} MiB, peak {} MiB",
            x.rows,
            x.seed.seconds,
            x.seed.rows_per_second,
            x.database_bytes as f64 / 1048576.0,
            mib(Some(x.after_seed.rss_kib)),
            mib(Some(x.after_seed.hwm_kib)),
            mib(Some(x.after_reads.rss_kib)),
            mib(Some(x.after_reads.hwm_kib)),
        );
    }
    for row in &r.rows {
        if let Some(e) = &row.measure.first_error {
            let _ = writeln!(out, "\nfirst error of {} at {}: {e}", row.op.name(), row.concurrency);
        }
    }
    for n in &r.notes {
        let _ = writeln!(out, "\nnote: {n}");
    }
    out
}

/// vpnaas against the reference, operation by operation.
pub fn compare(reference: &Report, vpnaas: &Report) -> String {
    let mut out = format!(
        "{} vs {} (ratio > 1: vpnaas does more per second; latency ratio < 1: vpnaas answers sooner)\n\n",
        vpnaas.label, reference.label
    );
    let mut rows = Vec::new();
    for v in &vpnaas.rows {
        let Some(r) = reference.rows.iter().find(|r| r.op == v.op && r.concurrency == v.concurrency) else {
            continue;
        };
        let (a, b) = (&v.measure, &r.measure);
        rows.push(vec![
            v.op.name().to_owned(),
            v.concurrency.to_string(),
            num(a.throughput),
            num(b.throughput),
            opt(ratio(a.throughput, b.throughput), 1),
            num(a.p50_ms),
            num(b.p50_ms),
            opt(ratio(a.p50_ms, b.p50_ms), 4),
            num(a.p99_ms),
            num(b.p99_ms),
            format!("{}/{}", a.errors, a.requests),
            format!("{}/{}", b.errors, b.requests),
        ]);
    }
    let header = [
        "operation",
        "conc",
        "vpnaas req/s",
        "ref req/s",
        "req/s ratio",
        "vpnaas p50",
        "ref p50",
        "p50 ratio",
        "vpnaas p99",
        "ref p99",
        "vpnaas err",
        "ref err",
    ];
    out += &render(&header, &rows);
    let peak = |r: &Report| r.rows.iter().filter_map(|row| row.peak_rss_kib).max();
    let _ = writeln!(
        out,
        "\npeak server RSS: vpnaas {} MiB, reference {} MiB (the reference: all its uwsgi processes)",
        mib(peak(vpnaas)),
        mib(peak(reference))
    );
    for (v, r) in vpnaas.seeding.iter().zip(reference.seeding.iter()) {
        let _ = writeln!(
            out,
            "seeding {:>5} rows: vpnaas {:.0} rows/s ({}), reference {:.0} rows/s ({})",
            v.rows, v.rows_per_second, v.method, r.rows_per_second, r.method
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(op: OpKind, c: usize, tput: f64) -> Row {
        Row {
            op,
            what: String::new(),
            concurrency: c,
            measure: Measure { requests: 10, throughput: tput, p50_ms: 1.0, ..Measure::default() },
            peak_rss_kib: Some(2048),
            http_ceiling: Some(Measure { throughput: tput * 4.0, ..Measure::default() }),
            storage_ceiling: None,
        }
    }

    fn report(label: &str, tput: f64) -> Report {
        Report {
            label: label.into(),
            target: "http://127.0.0.1:1".into(),
            reference: false,
            cores: 2,
            requests_bound: 10,
            seconds_bound: 1.0,
            seeding: vec![],
            rows: vec![row(OpKind::Show, 1, tput), row(OpKind::List, 32, tput)],
            rss: None,
            idle_memory: None,
            notes: vec![],
        }
    }

    #[test]
    fn table_has_ratios_and_json_round_trips() {
        let r = report("vpnaas", 100.0);
        assert_eq!(r.rows[0].http_ratio(), Some(0.25));
        let t = table(&r);
        assert!(t.contains("0.250") && t.contains("peak RSS MiB") && t.contains("2.0"), "{t}");
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("r.json");
        r.write_json(&p).unwrap();
        let back = Report::read_json(&p).unwrap();
        assert_eq!(back.rows.len(), 2);
        assert_eq!(back.rows[1].op, OpKind::List);
    }

    #[test]
    fn every_failure_counts_for_the_smoke_verdict() {
        let mut r = report("vpnaas", 100.0);
        assert_eq!(r.errors(), 0);
        r.rows[0].measure.errors = 2;
        if let Some(h) = r.rows[1].http_ceiling.as_mut() {
            h.errors = 1;
        }
        r.seeding.push(SeedFigure {
            name: "full".into(),
            rows: 1,
            seconds: 1.0,
            rows_per_second: 1.0,
            failed_attempts: 4,
            method: String::new(),
        });
        assert_eq!(r.errors(), 7);
    }

    #[test]
    fn compare_divides_vpnaas_by_reference() {
        let c = compare(&report("neutron", 10.0), &report("vpnaas", 250.0));
        assert!(c.contains("25.0"), "{c}");
    }
}
