//! The load loop: N concurrent clients send an operation's requests until a request count or a time limit is reached, and the latencies become percentiles.

use std::collections::BTreeMap;
use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::client::Api;
use crate::workload::Plan;

/// The bounds of one run: whichever comes first stops it.
#[derive(Debug, Clone, Copy)]
pub struct Bounds {
    pub concurrency: usize,
    pub requests: u64,
    pub duration: Duration,
}

/// What one run measured.
#[derive(Debug, Clone, Default, serde::Serialize, serde::Deserialize)]
pub struct Measure {
    pub requests: u64,
    pub errors: u64,
    pub seconds: f64,
    pub throughput: f64,
    pub p50_ms: f64,
    pub p99_ms: f64,
    pub max_ms: f64,
    /// Mean size of a successful response body, in bytes.
    pub mean_bytes: u64,
    /// Responses by status ("transport" for no response at all).
    pub statuses: BTreeMap<String, u64>,
    /// The first failure, to tell what went wrong.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub first_error: Option<String>,
}

impl Measure {
    /// From the latencies of every request (successful or not) and the run's wall time.
    pub fn from_samples(mut latencies: Vec<Duration>, errors: u64, wall: Duration, ok_bytes: u64) -> Measure {
        latencies.sort_unstable();
        let n = latencies.len() as u64;
        let ms = |d: Option<&Duration>| d.map_or(0.0, |d| d.as_secs_f64() * 1000.0);
        let seconds = wall.as_secs_f64();
        Measure {
            requests: n,
            errors,
            seconds,
            throughput: if seconds > 0.0 { n as f64 / seconds } else { 0.0 },
            p50_ms: ms(percentile(&latencies, 50.0)),
            p99_ms: ms(percentile(&latencies, 99.0)),
            max_ms: ms(latencies.last()),
            mean_bytes: if n > errors { ok_bytes / (n - errors) } else { 0 },
            statuses: BTreeMap::new(),
            first_error: None,
        }
    }
}

/// Nearest-rank percentile of sorted samples.
pub fn percentile<T>(sorted: &[T], p: f64) -> Option<&T> {
    if sorted.is_empty() {
        return None;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted.get(rank.clamp(1, sorted.len()) - 1)
}

/// Per-task tallies, merged at the end so the loop shares nothing but a counter.
#[derive(Default)]
struct Tally {
    latencies: Vec<Duration>,
    errors: u64,
    ok_bytes: u64,
    statuses: BTreeMap<String, u64>,
    first_error: Option<String>,
}

impl Tally {
    fn merge(&mut self, other: Tally) {
        self.latencies.extend(other.latencies);
        self.errors += other.errors;
        self.ok_bytes += other.ok_bytes;
        for (k, v) in other.statuses {
            *self.statuses.entry(k).or_default() += v;
        }
        if self.first_error.is_none() {
            self.first_error = other.first_error;
        }
    }
}

/// Drives `plan` against `api`. `replay`: the HTTP ceiling run (no state consumed, the
/// responses are filler).
pub async fn drive(api: &Api, plan: Arc<Plan>, bounds: Bounds, replay: bool) -> Measure {
    let next = Arc::new(AtomicU64::new(0));
    let started = Instant::now();
    let deadline = started + bounds.duration;
    let expected = plan.op.expected();
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..bounds.concurrency {
        let (api, plan, next) = (api.clone(), plan.clone(), next.clone());
        tasks.spawn(async move {
            let mut t = Tally::default();
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= bounds.requests || Instant::now() >= deadline {
                    return t;
                }
                let Some(req) = plan.request(i, replay) else { return t };
                let sent = Instant::now();
                let outcome = api.request(&req).await;
                t.latencies.push(sent.elapsed());
                match outcome {
                    Ok(reply) => {
                        *t.statuses.entry(reply.status.as_u16().to_string()).or_default() += 1;
                        if reply.status == expected {
                            t.ok_bytes += reply.body.len() as u64;
                            if !replay {
                                plan.created(&reply.body);
                            }
                        } else {
                            t.errors += 1;
                            t.first_error.get_or_insert_with(|| {
                                format!("{} {}: {} {}", req.method, req.path, reply.status, reply.snippet())
                            });
                        }
                    }
                    Err(e) => {
                        *t.statuses.entry("transport".into()).or_default() += 1;
                        t.errors += 1;
                        t.first_error.get_or_insert(e.to_string());
                    }
                }
            }
        });
    }
    collect(tasks, started).await
}

fn finish(t: Tally, wall: Duration) -> Measure {
    let mut m = Measure::from_samples(t.latencies, t.errors, wall, t.ok_bytes);
    m.statuses = t.statuses;
    m.first_error = t.first_error;
    m
}

/// The same loop for work that is not HTTP (the SQLite ceiling): `work(i)` is one operation.
pub async fn drive_fn<F, Fut, E>(bounds: Bounds, work: F) -> Measure
where
    F: Fn(u64) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<(), E>> + Send,
    E: std::fmt::Display,
{
    let work = Arc::new(work);
    let next = Arc::new(AtomicU64::new(0));
    let started = Instant::now();
    let deadline = started + bounds.duration;
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..bounds.concurrency {
        let (work, next) = (work.clone(), next.clone());
        tasks.spawn(async move {
            let mut t = Tally::default();
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= bounds.requests || Instant::now() >= deadline {
                    return t;
                }
                let sent = Instant::now();
                let outcome = work(i).await;
                t.latencies.push(sent.elapsed());
                if let Err(e) = outcome {
                    t.errors += 1;
                    t.first_error.get_or_insert_with(|| e.to_string());
                }
            }
        });
    }
    collect(tasks, started).await
}

/// Merges what every client task counted; a task that died counts as an error.
async fn collect(mut tasks: tokio::task::JoinSet<Tally>, started: Instant) -> Measure {
    let mut all = Tally::default();
    while let Some(joined) = tasks.join_next().await {
        match joined {
            Ok(t) => all.merge(t),
            Err(e) => {
                all.errors += 1;
                all.first_error.get_or_insert(format!("load task: {e}"));
            }
        }
    }
    finish(all, started.elapsed())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nearest_rank() {
        let v: Vec<u32> = (1..=100).collect();
        assert_eq!(percentile(&v, 50.0), Some(&50));
        assert_eq!(percentile(&v, 99.0), Some(&99));
        assert_eq!(percentile(&v, 100.0), Some(&100));
        assert_eq!(percentile(&[7], 99.0), Some(&7));
        assert_eq!(percentile::<u32>(&[], 50.0), None);
    }

    #[test]
    fn throughput_and_sizes() {
        let lat = vec![Duration::from_millis(2), Duration::from_millis(1), Duration::from_millis(3)];
        let m = Measure::from_samples(lat, 1, Duration::from_secs(1), 200);
        assert_eq!((m.requests, m.errors, m.mean_bytes), (3, 1, 100));
        assert!((m.throughput - 3.0).abs() < 1e-9);
        assert!((m.p50_ms - 2.0).abs() < 1e-9 && (m.max_ms - 3.0).abs() < 1e-9);
    }

    #[tokio::test]
    async fn bounded_by_count_and_time() {
        let b = Bounds { concurrency: 3, requests: 10, duration: Duration::from_secs(5) };
        let m = drive_fn(b, |_| async { Ok::<(), String>(()) }).await;
        assert_eq!(m.requests, 10);
        let b = Bounds { concurrency: 2, requests: u64::MAX, duration: Duration::from_millis(100) };
        let m = drive_fn(b, |_| async {
            tokio::time::sleep(Duration::from_millis(10)).await;
            Err("x".to_string())
        })
        .await;
        assert!(m.requests > 0 && m.requests < 100 && m.errors == m.requests, "{m:?}");
        assert!(m.seconds < 1.0);
    }
}
