//! The workload driver: one thread per operation kind (put, get, delete,
//! range scan), each issuing its operation at a target rate with a simple
//! pacing loop, counting what it did and recording put latencies.
//!
//! Every thread draws from its own generator seeded from `--seed`, so two
//! stores driven with the same spec see the same key and value sequences
//! (at a fixed rate also the same number of operations).

use std::ops::Bound;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use anyhow::Context;
use hdrhistogram::Histogram;

use crate::workload::{key_bytes, value_bytes, KeyChooser, Rng};
use lsm_store_sync::KvStore;

/// The largest latency a histogram records exactly (longer ones saturate).
const MAX_LATENCY_NS: u64 = 60_000_000_000;

/// A target rate of one operation kind.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Rate {
    /// As fast as the store allows (`0` on the command line).
    Max,
    /// This many operations per second.
    PerSecond(u64),
    /// Not issued at all (`off` on the command line).
    Off,
}

impl Rate {
    /// Parses `N` (0 = as fast as possible) or `off`.
    pub fn parse(text: &str) -> Result<Rate, String> {
        match text {
            "off" => Ok(Rate::Off),
            "0" | "max" => Ok(Rate::Max),
            _ => text
                .parse::<u64>()
                .map(Rate::PerSecond)
                .map_err(|_| format!("expected operations per second, 0 or off, got `{text}`")),
        }
    }

    /// As the user would type it.
    pub fn label(self) -> String {
        match self {
            Rate::Max => "as fast as possible".to_string(),
            Rate::PerSecond(n) => format!("{n}/s"),
            Rate::Off => "off".to_string(),
        }
    }
}

/// What the driver issues.
#[derive(Clone, Debug)]
pub struct WorkloadSpec {
    /// Where keys come from.
    pub keys: KeyChooser,
    /// Key length in bytes.
    pub key_size: usize,
    /// Value length in bytes.
    pub value_size: usize,
    /// Keys read by one range scan.
    pub range_len: usize,
    /// Puts.
    pub write_rate: Rate,
    /// Point reads.
    pub read_rate: Rate,
    /// Deletes.
    pub delete_rate: Rate,
    /// Range scans.
    pub range_rate: Rate,
    /// Seed of every thread's generator.
    pub seed: u64,
}

/// A fresh latency histogram (nanoseconds, 3 significant figures).
pub fn new_latency_histogram() -> anyhow::Result<Histogram<u64>> {
    Histogram::new_with_bounds(1, MAX_LATENCY_NS, 3).context("cannot create a latency histogram")
}

/// Operations completed, per kind.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct OpTotals {
    /// Puts.
    pub puts: u64,
    /// Point reads.
    pub gets: u64,
    /// Deletes.
    pub deletes: u64,
    /// Range scans.
    pub ranges: u64,
}

/// What the driver threads have done so far. Shared between the driver
/// threads (writers) and the sampler (reader).
#[derive(Debug)]
pub struct OpCounters {
    /// Puts completed since start (atomic; monotonic).
    pub puts: AtomicU64,
    /// Gets completed since start (atomic; monotonic).
    pub gets: AtomicU64,
    /// Deletes completed since start (atomic; monotonic).
    pub deletes: AtomicU64,
    /// Range scans completed since start (atomic; monotonic).
    pub ranges: AtomicU64,
    /// Put latencies since the sampler last took them (guarded by its
    /// mutex; the put thread holds it only to record one value).
    put_latency: Mutex<Histogram<u64>>,
}

impl OpCounters {
    fn new() -> anyhow::Result<OpCounters> {
        Ok(OpCounters {
            puts: AtomicU64::new(0),
            gets: AtomicU64::new(0),
            deletes: AtomicU64::new(0),
            ranges: AtomicU64::new(0),
            put_latency: Mutex::new(new_latency_histogram()?),
        })
    }

    fn record_put(&self, latency: Duration) {
        let nanos = u64::try_from(latency.as_nanos()).unwrap_or(u64::MAX);
        self.put_latency
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .saturating_record(nanos.clamp(1, MAX_LATENCY_NS));
        self.puts.fetch_add(1, Ordering::Relaxed);
    }

    /// The totals so far.
    pub fn totals(&self) -> OpTotals {
        OpTotals {
            puts: self.puts.load(Ordering::Relaxed),
            gets: self.gets.load(Ordering::Relaxed),
            deletes: self.deletes.load(Ordering::Relaxed),
            ranges: self.ranges.load(Ordering::Relaxed),
        }
    }

    /// Takes the put latencies recorded since the last call, leaving an
    /// empty histogram behind.
    pub fn take_put_latencies(&self) -> Histogram<u64> {
        let mut guard = self
            .put_latency
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        let taken = guard.clone();
        guard.reset();
        taken
    }
}

/// The running driver threads.
#[derive(Debug)]
pub struct Driver {
    counters: Arc<OpCounters>,
    /// Set by `stop`, or by a thread whose operation failed.
    stop: Arc<AtomicBool>,
    threads: Vec<JoinHandle<anyhow::Result<()>>>,
}

/// One operation kind's thread.
#[derive(Clone, Copy, Debug)]
enum OpKind {
    Put,
    Get,
    Delete,
    Range,
}

impl OpKind {
    fn name(self) -> &'static str {
        match self {
            OpKind::Put => "put",
            OpKind::Get => "get",
            OpKind::Delete => "delete",
            OpKind::Range => "range scan",
        }
    }

    /// Separates the threads' generators.
    fn salt(self) -> u64 {
        match self {
            OpKind::Put => 1,
            OpKind::Get => 2,
            OpKind::Delete => 3,
            OpKind::Range => 4,
        }
    }
}

impl Driver {
    /// Starts one thread per operation kind whose rate is not `Off`.
    pub fn start<S: KvStore + 'static>(
        store: Arc<S>,
        spec: &WorkloadSpec,
    ) -> anyhow::Result<Driver> {
        let mut driver = Driver {
            counters: Arc::new(OpCounters::new()?),
            stop: Arc::new(AtomicBool::new(false)),
            threads: Vec::new(),
        };
        let spec = Arc::new(spec.clone());
        for (kind, rate) in [
            (OpKind::Put, spec.write_rate),
            (OpKind::Get, spec.read_rate),
            (OpKind::Delete, spec.delete_rate),
            (OpKind::Range, spec.range_rate),
        ] {
            if rate == Rate::Off {
                continue;
            }
            let store = Arc::clone(&store);
            let spec = Arc::clone(&spec);
            let counters = Arc::clone(&driver.counters);
            let stop = Arc::clone(&driver.stop);
            let handle = std::thread::Builder::new()
                .name(format!("demo-{}", kind.name()))
                .spawn(move || {
                    let result = drive(kind, rate, &*store, &spec, &counters, &stop);
                    if result.is_err() {
                        stop.store(true, Ordering::Relaxed);
                    }
                    result
                })
                .context("cannot start a workload thread")?;
            driver.threads.push(handle);
        }
        Ok(driver)
    }

    /// The shared counters.
    pub fn counters(&self) -> &OpCounters {
        &self.counters
    }

    /// The shared counters, to read after [`Driver::stop`] (the puts that
    /// completed after the last sample).
    pub fn shared_counters(&self) -> Arc<OpCounters> {
        Arc::clone(&self.counters)
    }

    /// Whether a thread stopped on an error (`stop` reports it).
    pub fn failed(&self) -> bool {
        self.stop.load(Ordering::Relaxed)
    }

    /// Stops the threads; returns what they did, or the first error any
    /// of them hit.
    pub fn stop(self) -> anyhow::Result<OpTotals> {
        self.stop.store(true, Ordering::Relaxed);
        let mut first = Ok(());
        for handle in self.threads {
            let result = match handle.join() {
                Ok(result) => result,
                Err(_) => Err(anyhow::anyhow!("a workload thread panicked")),
            };
            if first.is_ok() {
                first = result;
            }
        }
        first.map(|()| self.counters.totals())
    }
}

/// Paces a loop to a target rate: `next` returns once the next operation
/// is due, or `false` when it is time to stop. Behind schedule it returns
/// at once until caught up (open loop, so a stall is followed by a burst).
struct Pacer {
    rate: Rate,
    start: Instant,
    issued: u64,
}

impl Pacer {
    fn next(&mut self, stop: &AtomicBool) -> bool {
        loop {
            if stop.load(Ordering::Relaxed) {
                return false;
            }
            let per_second = match self.rate {
                Rate::PerSecond(n) if n > 0 => n,
                _ => return true,
            };
            let elapsed = self.start.elapsed().as_secs_f64();
            let due = (elapsed * per_second as f64) as u64;
            if self.issued < due {
                self.issued += 1;
                return true;
            }
            let next_at = (self.issued + 1) as f64 / per_second as f64;
            let wait = (next_at - elapsed).clamp(0.0, 0.001);
            std::thread::sleep(Duration::from_secs_f64(wait));
        }
    }
}

/// Reads up to `limit` live keys from `start` on; returns how many.
fn scan<S: KvStore>(store: &S, start: &[u8], limit: usize) -> anyhow::Result<usize> {
    let iter = store.range(Bound::Included(start.to_vec()), Bound::Unbounded)?;
    let mut count = 0;
    for item in iter.take(limit) {
        item?;
        count += 1;
    }
    Ok(count)
}

fn drive<S: KvStore>(
    kind: OpKind,
    rate: Rate,
    store: &S,
    spec: &WorkloadSpec,
    counters: &OpCounters,
    stop: &AtomicBool,
) -> anyhow::Result<()> {
    let mut rng = Rng::new(spec.seed.wrapping_mul(31).wrapping_add(kind.salt()));
    let mut pacer = Pacer {
        rate,
        start: Instant::now(),
        issued: 0,
    };
    while pacer.next(stop) {
        let key = key_bytes(spec.keys.next(&mut rng), spec.key_size);
        match kind {
            OpKind::Put => {
                let value = value_bytes(&mut rng, spec.value_size);
                let started = Instant::now();
                store.put(&key, &value).context("put failed")?;
                counters.record_put(started.elapsed());
            }
            OpKind::Get => {
                store.get(&key).context("get failed")?;
                counters.gets.fetch_add(1, Ordering::Relaxed);
            }
            OpKind::Delete => {
                store.delete(&key).context("delete failed")?;
                counters.deletes.fetch_add(1, Ordering::Relaxed);
            }
            OpKind::Range => {
                scan(store, &key, spec.range_len).context("range scan failed")?;
                counters.ranges.fetch_add(1, Ordering::Relaxed);
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rates_parse_numbers_zero_and_off() {
        assert_eq!(Rate::parse("0"), Ok(Rate::Max));
        assert_eq!(Rate::parse("1500"), Ok(Rate::PerSecond(1500)));
        assert_eq!(Rate::parse("off"), Ok(Rate::Off));
        assert!(Rate::parse("fast").is_err());
    }

    #[test]
    fn pacer_issues_about_rate_times_elapsed() {
        let stop = AtomicBool::new(false);
        let mut pacer = Pacer {
            rate: Rate::PerSecond(1000),
            start: Instant::now(),
            issued: 0,
        };
        let started = Instant::now();
        let mut n = 0;
        while started.elapsed() < Duration::from_millis(200) && pacer.next(&stop) {
            n += 1;
        }
        assert!((100..=260).contains(&n), "issued {n} in 200 ms at 1000/s");
        stop.store(true, Ordering::Relaxed);
        assert!(!pacer.next(&stop));
    }
}
