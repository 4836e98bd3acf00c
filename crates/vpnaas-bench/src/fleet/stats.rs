//! The fleet's small arithmetic: latency summaries, a seeded random stream, and a process's CPU time from /proc.

use std::time::Duration;

use crate::load::percentile;

/// Nearest-rank p50/p99 and the maximum of a set of durations, in milliseconds.
#[derive(Debug, Clone, Copy, Default, PartialEq, serde::Serialize)]
pub struct Summary {
    pub count: usize,
    pub p50_ms: f64,
    pub p99_ms: f64,
    pub max_ms: f64,
}

impl Summary {
    pub fn of(mut samples: Vec<Duration>) -> Summary {
        samples.sort_unstable();
        let ms = |d: Option<&Duration>| d.map_or(0.0, |d| d.as_secs_f64() * 1000.0);
        Summary {
            count: samples.len(),
            p50_ms: ms(percentile(&samples, 50.0)),
            p99_ms: ms(percentile(&samples, 99.0)),
            max_ms: ms(samples.last()),
        }
    }
}

/// xorshift64*: the changes are the same every run of a seed, without a dependency.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        // Never zero: xorshift would stay there.
        Rng(seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1)
    }

    pub fn next_u64(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    /// Uniform in `0..n` (`n` > 0; the bias is negligible for the sizes used here).
    pub fn below(&mut self, n: usize) -> usize {
        (self.next_u64() % n.max(1) as u64) as usize
    }

    /// Uniform in `[0, 1)`.
    pub fn fraction(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }
}

/// User + system CPU time of a process so far, in clock ticks (`/proc/PID/stat`, Linux).
pub fn cpu_ticks(pid: u32) -> Option<u64> {
    parse_ticks(&std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?)
}

/// utime and stime are fields 14 and 15; the command name (field 2) may hold spaces and
/// parentheses, so counting starts after its last `)`.
fn parse_ticks(stat: &str) -> Option<u64> {
    let rest = &stat[stat.rfind(')')? + 1..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let utime: u64 = fields.get(11)?.parse().ok()?;
    let stime: u64 = fields.get(12)?.parse().ok()?;
    Some(utime + stime)
}

/// Clock ticks per second (`getconf CLK_TCK`; 100 on Linux when it cannot be asked).
pub fn ticks_per_second() -> u64 {
    std::process::Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|o| String::from_utf8_lossy(&o.stdout).trim().parse().ok())
        .filter(|t| *t > 0)
        .unwrap_or(100)
}

/// Cores used over a window: ticks spent / (ticks per second × seconds).
pub fn cores(ticks: u64, per_second: u64, seconds: f64) -> f64 {
    ticks as f64 / (per_second.max(1) as f64 * seconds.max(1e-9))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn summaries_use_nearest_rank() {
        let samples: Vec<Duration> = (1..=200).rev().map(Duration::from_millis).collect();
        let s = Summary::of(samples);
        assert_eq!(s.count, 200);
        assert!((s.p50_ms - 100.0).abs() < 1e-9, "{s:?}");
        assert!((s.p99_ms - 198.0).abs() < 1e-9, "{s:?}");
        assert!((s.max_ms - 200.0).abs() < 1e-9, "{s:?}");
        let one = Summary::of(vec![Duration::from_micros(1500)]);
        assert!((one.p50_ms - 1.5).abs() < 1e-9 && (one.p99_ms - 1.5).abs() < 1e-9);
        assert_eq!(Summary::of(Vec::new()), Summary::default());
        // p99 of 5 samples is the largest: no interpolation.
        let few: Vec<Duration> = [3, 1, 4, 1, 5].into_iter().map(Duration::from_millis).collect();
        let s = Summary::of(few);
        assert!((s.p50_ms - 3.0).abs() < 1e-9 && (s.p99_ms - 5.0).abs() < 1e-9);
    }

    #[test]
    fn the_random_stream_is_seeded_and_bounded() {
        let (mut a, mut b) = (Rng::new(1), Rng::new(1));
        let xs: Vec<usize> = (0..1000).map(|_| a.below(7)).collect();
        let ys: Vec<usize> = (0..1000).map(|_| b.below(7)).collect();
        assert_eq!(xs, ys);
        assert!(xs.iter().all(|x| *x < 7));
        assert!((0..7).all(|v| xs.contains(&v)));
        assert_ne!(Rng::new(0).next_u64(), 0);
        let f = Rng::new(3).fraction();
        assert!((0.0..1.0).contains(&f));
    }

    #[test]
    fn ticks_from_stat() {
        let stat = "1234 (vpn (x) y) S 1 1234 1234 0 -1 4194560 900 0 0 0 250 75 0 0 20 0 3 0 100 0 0";
        assert_eq!(parse_ticks(stat), Some(325));
        assert_eq!(parse_ticks("garbage"), None);
        assert!(cpu_ticks(std::process::id()).is_some());
        assert!((cores(200, 100, 20.0) - 0.1).abs() < 1e-12);
    }
}
