//! What the benchmarks measure besides time: latency histograms, the
//! process's disk writes (`/proc/self/io`), its peak RSS
//! (`/proc/self/status` `VmHWM`) and a store directory's size.
//!
//! All of these are process-wide (every thread, the engines' background
//! threads included) and Linux-only; elsewhere they read as unavailable.

use std::path::Path;
use std::time::Duration;

use anyhow::{Context, Result};
use hdrhistogram::Histogram;

/// Latencies in nanoseconds (1 ns to 1 hour, 3 significant digits),
/// reported in microseconds. The maximum is kept exactly beside the
/// histogram, whose own `max()` is the top of the maximum's bucket (up to
/// 0.1% above it).
#[derive(Clone, Debug)]
pub struct Latency {
    histogram: Histogram<u64>,
    max_nanos: u64,
}

/// The largest latency recorded exactly; longer ones saturate here.
const MAX_LATENCY_NANOS: u64 = 3_600_000_000_000;

impl Latency {
    /// An empty histogram.
    pub fn new() -> Result<Latency> {
        Ok(Latency {
            histogram: Histogram::new_with_bounds(1, MAX_LATENCY_NANOS, 3)
                .context("creating a latency histogram")?,
            max_nanos: 0,
        })
    }

    /// Records one operation's latency.
    pub fn record(&mut self, elapsed: Duration) {
        let nanos = u64::try_from(elapsed.as_nanos()).unwrap_or(u64::MAX);
        self.histogram.saturating_record(nanos.max(1));
        self.max_nanos = self.max_nanos.max(nanos.clamp(1, MAX_LATENCY_NANOS));
    }

    /// Adds every sample of `other` (same bounds, so it cannot fail).
    pub fn merge(&mut self, other: &Latency) -> Result<()> {
        self.max_nanos = self.max_nanos.max(other.max_nanos);
        self.histogram
            .add(&other.histogram)
            .context("merging latency histograms")
    }

    /// Number of samples.
    pub fn count(&self) -> u64 {
        self.histogram.len()
    }

    /// The latency at `quantile` (0..=1) in microseconds.
    pub fn quantile_micros(&self, quantile: f64) -> f64 {
        self.histogram.value_at_quantile(quantile) as f64 / 1000.0
    }

    /// The largest latency recorded, in microseconds.
    pub fn max_micros(&self) -> f64 {
        self.max_nanos as f64 / 1000.0
    }
}

/// Counters from `/proc/self/io`.
#[derive(Clone, Copy, Debug, Default)]
pub struct IoCounters {
    /// Bytes this process caused to be sent to the storage layer.
    pub write_bytes: u64,
    /// Bytes passed to `write`-like system calls (page cache included).
    pub wchar: u64,
}

/// Which counter a write-amplification figure came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WriteSource {
    /// `/proc/self/io` `write_bytes`: bytes headed for the device.
    WriteBytes,
    /// `/proc/self/io` `wchar`, used when `write_bytes` did not move (e.g.
    /// on tmpfs or in containers that do not account block I/O).
    Wchar,
}

impl WriteSource {
    /// The counter's name as `/proc/self/io` spells it.
    pub fn name(self) -> &'static str {
        match self {
            WriteSource::WriteBytes => "write_bytes",
            WriteSource::Wchar => "wchar",
        }
    }
}

impl IoCounters {
    /// Reads `/proc/self/io`; `None` where it does not exist.
    pub fn read() -> Option<IoCounters> {
        let text = std::fs::read_to_string("/proc/self/io").ok()?;
        let mut counters = IoCounters::default();
        for line in text.lines() {
            let Some((name, value)) = line.split_once(':') else {
                continue;
            };
            let Ok(value) = value.trim().parse::<u64>() else {
                continue;
            };
            match name.trim() {
                "write_bytes" => counters.write_bytes = value,
                "wchar" => counters.wchar = value,
                _ => {}
            }
        }
        Some(counters)
    }

    /// Bytes written between `self` and `later`: the `write_bytes` delta,
    /// or the `wchar` delta if `write_bytes` did not move.
    pub fn written_until(&self, later: &IoCounters) -> (u64, WriteSource) {
        let write_bytes = later.write_bytes.saturating_sub(self.write_bytes);
        if write_bytes > 0 {
            (write_bytes, WriteSource::WriteBytes)
        } else {
            (later.wchar.saturating_sub(self.wchar), WriteSource::Wchar)
        }
    }
}

/// Resets the process's peak RSS (`VmHWM`) to its current RSS by writing
/// `5` to `/proc/self/clear_refs` (Linux 4.0+). False if that failed, in
/// which case the peak covers the whole run so far.
pub fn reset_peak_rss() -> bool {
    std::fs::write("/proc/self/clear_refs", "5").is_ok()
}

/// The process's peak resident set size in bytes (`VmHWM`), if known.
pub fn peak_rss_bytes() -> Option<u64> {
    let text = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = text.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kib: u64 = line
        .trim_start_matches("VmHWM:")
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse()
        .ok()?;
    Some(kib * 1024)
}

/// The disk space every file under `dir` takes: allocated blocks, so a
/// preallocated sparse file (fjall's journal is set to 64 MiB up front)
/// counts for what it holds, not for its length. Falls back to file
/// lengths off Unix.
pub fn dir_bytes(dir: &Path) -> Result<u64> {
    let mut total = 0;
    let entries = std::fs::read_dir(dir).with_context(|| format!("listing {}", dir.display()))?;
    for entry in entries {
        let entry = entry.with_context(|| format!("listing {}", dir.display()))?;
        let path = entry.path();
        // A file may vanish (compaction, WAL rotation) between the listing
        // and the stat: it no longer counts.
        let Ok(meta) = std::fs::symlink_metadata(&path) else {
            continue;
        };
        if meta.is_dir() {
            total += dir_bytes(&path)?;
        } else {
            total += allocated_bytes(&meta);
        }
    }
    Ok(total)
}

#[cfg(unix)]
fn allocated_bytes(meta: &std::fs::Metadata) -> u64 {
    use std::os::unix::fs::MetadataExt as _;
    meta.blocks() * 512 // st_blocks is in 512-byte units on every Unix
}

#[cfg(not(unix))]
fn allocated_bytes(meta: &std::fs::Metadata) -> u64 {
    meta.len()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn latency_quantiles_are_reported_in_microseconds() {
        let mut a = Latency::new().unwrap();
        let mut b = Latency::new().unwrap();
        for micros in 1..=100 {
            a.record(Duration::from_micros(micros));
        }
        b.record(Duration::from_millis(5));
        a.merge(&b).unwrap();
        assert_eq!(a.count(), 101);
        let p50 = a.quantile_micros(0.5);
        assert!((50.0..=52.0).contains(&p50), "p50 = {p50}");
        assert!(
            (a.max_micros() - 5000.0).abs() < 5.0,
            "max = {}",
            a.max_micros()
        );
    }

    /// hdrhistogram's `max()` is the top of the maximum's bucket: above
    /// 2 ms up to 0.1% more than was recorded (5001.215 µs here).
    #[test]
    fn max_latency_is_the_largest_recorded_value() {
        let mut latency = Latency::new().unwrap();
        latency.record(Duration::from_nanos(1_000));
        latency.record(Duration::from_nanos(5_000_001));
        assert_eq!(latency.max_micros(), 5_000.001);
        let mut other = Latency::new().unwrap();
        other.record(Duration::from_nanos(7_000_003));
        latency.merge(&other).unwrap();
        assert_eq!(latency.max_micros(), 7_000.003);
        assert_eq!(latency.count(), 3);
    }

    #[test]
    fn write_counter_falls_back_to_wchar_when_write_bytes_stays_put() {
        let before = IoCounters {
            write_bytes: 10,
            wchar: 100,
        };
        let moved = IoCounters {
            write_bytes: 60,
            wchar: 300,
        };
        assert_eq!(before.written_until(&moved), (50, WriteSource::WriteBytes));
        let stuck = IoCounters {
            write_bytes: 10,
            wchar: 300,
        };
        assert_eq!(before.written_until(&stuck), (200, WriteSource::Wchar));
    }

    #[test]
    fn dir_bytes_sums_nested_files_and_skips_sparse_holes() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("a"), vec![7u8; 100 << 10]).unwrap();
        std::fs::create_dir(dir.path().join("sub")).unwrap();
        std::fs::write(dir.path().join("sub/b"), vec![7u8; 100 << 10]).unwrap();
        let sparse = std::fs::File::create(dir.path().join("sparse")).unwrap();
        sparse.set_len(64 << 20).unwrap();
        let bytes = dir_bytes(dir.path()).unwrap();
        assert!((200 << 10..1 << 20).contains(&bytes), "{bytes}");
    }

    #[test]
    fn proc_counters_are_readable_on_linux() {
        if cfg!(target_os = "linux") {
            assert!(IoCounters::read().is_some());
            assert!(peak_rss_bytes().unwrap() > 0);
        }
    }
}
