//! The sampler: every `--sample-ms` it reads the driver's counters and the
//! store's public `stats()` and turns them into one [`Sample`] (one CSV
//! row): rates over the window since the previous sample, put latency
//! percentiles of that window, and the store's shape at the sample time.

use std::time::Instant;

use hdrhistogram::Histogram;

use super::driver::{OpCounters, OpTotals};
use lsm_store_sync::KvStore;

/// Put latency percentiles of one window, in microseconds.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct LatencySummary {
    /// Median.
    pub p50_us: f64,
    /// 99th percentile.
    pub p99_us: f64,
    /// 99.9th percentile.
    pub p999_us: f64,
    /// Slowest.
    pub max_us: f64,
}

impl LatencySummary {
    /// The percentiles of `histogram` (nanoseconds), or `None` if empty.
    pub fn of(histogram: &Histogram<u64>) -> Option<LatencySummary> {
        if histogram.is_empty() {
            return None;
        }
        let us = |nanos: u64| nanos as f64 / 1000.0;
        Some(LatencySummary {
            p50_us: us(histogram.value_at_quantile(0.50)),
            p99_us: us(histogram.value_at_quantile(0.99)),
            p999_us: us(histogram.value_at_quantile(0.999)),
            max_us: us(histogram.max()),
        })
    }
}

/// One sample of one store: one CSV row.
#[derive(Clone, Debug, PartialEq)]
pub struct Sample {
    /// Milliseconds since the workload started.
    pub elapsed_ms: u64,
    /// Puts per second over the window ending here.
    pub puts_per_s: f64,
    /// Gets per second over the window.
    pub gets_per_s: f64,
    /// Deletes per second over the window.
    pub deletes_per_s: f64,
    /// Range scans per second over the window.
    pub ranges_per_s: f64,
    /// Put latency over the window (`None`: no put completed in it).
    pub put_latency: Option<LatencySummary>,
    /// Bytes in the active memtable.
    pub memtable_bytes: u64,
    /// Frozen memtables waiting for flush.
    pub immutable_memtables: u64,
    /// Bytes in frozen memtables.
    pub immutable_bytes: u64,
    /// Flushes since open (cumulative).
    pub flushes: u64,
    /// Compactions since open, trivial moves included (cumulative).
    pub compactions: u64,
    /// Tables per level, L0 first.
    pub level_files: Vec<u64>,
    /// Table bytes per level, L0 first.
    pub level_bytes: Vec<u64>,
    /// Bytes of WAL segments on disk.
    pub wal_bytes: u64,
    /// Last sequence number the WAL assigned.
    pub last_seq: u64,
    /// Applied watermark: reads see writes up to here.
    pub visible_seq: u64,
    /// Writes waiting in the apply queue at the sample (async store only).
    pub apply_queue_depth: Option<u64>,
    /// The most writes seen waiting in the apply queue during the window,
    /// polled every few milliseconds (async store only).
    pub apply_queue_max: Option<u64>,
    /// Compaction jobs waiting to run (async store only).
    pub pending_compactions: Option<u64>,
}

impl Sample {
    /// `last_seq - visible_seq`: writes in the WAL not yet readable.
    pub fn watermark_lag(&self) -> u64 {
        self.last_seq.saturating_sub(self.visible_seq)
    }
}

/// Turns counters and stats into samples, remembering the previous one.
#[derive(Debug)]
pub struct Sampler {
    started: Instant,
    previous_at: Instant,
    previous: OpTotals,
    /// Every put latency of the run.
    whole_run: Histogram<u64>,
}

impl Sampler {
    /// A sampler whose clock starts now.
    pub fn new(started: Instant) -> anyhow::Result<Sampler> {
        Ok(Sampler {
            started,
            previous_at: started,
            previous: OpTotals::default(),
            whole_run: super::driver::new_latency_histogram()?,
        })
    }

    /// Takes one sample; `apply_queue_max` is the deepest apply queue the
    /// caller saw polling during the window.
    pub fn sample<S: KvStore>(
        &mut self,
        store: &S,
        counters: &OpCounters,
        apply_queue_max: Option<u64>,
    ) -> anyhow::Result<Sample> {
        let latencies = counters.take_put_latencies();
        let totals = counters.totals();
        let stats = store.stats()?;
        let backlog = store.backlog();
        let now = Instant::now();
        let window = now.duration_since(self.previous_at).as_secs_f64().max(1e-6);
        let rate = |now: u64, before: u64| now.saturating_sub(before) as f64 / window;
        // Saturating: both histograms share bounds, so this cannot fail.
        let _ = self.whole_run.add(&latencies);
        let sample = Sample {
            elapsed_ms: now.duration_since(self.started).as_millis() as u64,
            puts_per_s: rate(totals.puts, self.previous.puts),
            gets_per_s: rate(totals.gets, self.previous.gets),
            deletes_per_s: rate(totals.deletes, self.previous.deletes),
            ranges_per_s: rate(totals.ranges, self.previous.ranges),
            put_latency: LatencySummary::of(&latencies),
            memtable_bytes: stats.memtable_bytes as u64,
            immutable_memtables: stats.immutable_memtables as u64,
            immutable_bytes: stats.immutable_bytes as u64,
            flushes: stats.flushes,
            compactions: stats.compactions,
            level_files: stats.levels.iter().map(|l| l.files as u64).collect(),
            level_bytes: stats.levels.iter().map(|l| l.bytes).collect(),
            wal_bytes: stats.wal_bytes,
            last_seq: stats.last_seq,
            visible_seq: stats.visible_seq,
            apply_queue_depth: backlog.map(|b| b.queued_writes as u64),
            apply_queue_max,
            pending_compactions: backlog.map(|b| b.pending_compactions as u64),
        };
        self.previous = totals;
        self.previous_at = now;
        Ok(sample)
    }

    /// Adds put latencies that belong to no sample window (those of the
    /// puts that completed after the last sample) to the whole run's.
    pub fn add_unsampled(&mut self, latencies: &Histogram<u64>) {
        // Saturating: both histograms share bounds, so this cannot fail.
        let _ = self.whole_run.add(latencies);
    }

    /// Put latencies of the whole run so far.
    pub fn whole_run_latency(&self) -> &Histogram<u64> {
        &self.whole_run
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn latency_summary_is_in_microseconds_and_none_when_empty() {
        let mut h = super::super::driver::new_latency_histogram().unwrap();
        assert_eq!(LatencySummary::of(&h), None);
        for _ in 0..99 {
            h.record(2_000).unwrap();
        }
        h.record(5_000_000).unwrap();
        let summary = LatencySummary::of(&h).unwrap();
        assert!((summary.p50_us - 2.0).abs() < 0.01, "{summary:?}");
        assert!((summary.max_us - 5000.0).abs() < 5.0, "{summary:?}");
    }
}
