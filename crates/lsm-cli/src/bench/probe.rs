//! The disk's fsync probe: how many small synced writes per second the
//! filesystem under the bench directory takes, in the two shapes that
//! matter to a write-ahead log.
//!
//! - **append**: 128-byte writes to the end of a new file, each followed by
//!   `fdatasync` ([`File::sync_data`]). The file grows with every write, so
//!   each sync also has to commit the new size (and, every few writes, a
//!   newly allocated block): on a journaling filesystem that is a journal
//!   commit per write. This is what a WAL that appends does.
//! - **overwrite**: the same writes and syncs on a file first filled with
//!   zeros to its full length and synced, rewritten from offset 0. Neither
//!   its size nor its blocks change, so `fdatasync` has no metadata to
//!   commit, only the data (and the device's cache flush).
//!
//! Each case stops after `max_ops` writes or `max_time`, whichever comes
//! first. `overwrite / append` well above 1 says the disk's sync cost is
//! mostly metadata, so a preallocated (or recycled) WAL would sync faster;
//! `fillsync1` running near the append rate says that engine is bound by
//! the disk, not by its own code.

use std::fs::File;
use std::io::{Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use serde::Serialize;

/// Bytes of each probe write (a small WAL record).
pub const PROBE_WRITE_BYTES: usize = 128;

/// How long each case may run at most.
pub const PROBE_MAX_TIME: Duration = Duration::from_secs(1);

/// What one case of the probe measured.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ProbeRate {
    /// Writes, each followed by `fdatasync`.
    pub ops: u64,
    /// Wall time of those writes and syncs.
    pub seconds: f64,
}

impl ProbeRate {
    /// Synced writes per second.
    pub fn ops_per_sec(&self) -> f64 {
        if self.seconds > 0.0 {
            self.ops as f64 / self.seconds
        } else {
            0.0
        }
    }
}

/// The probe's result: both cases and where they ran.
#[derive(Clone, Debug, PartialEq)]
pub struct FsyncProbe {
    /// The directory whose filesystem was probed.
    pub dir: PathBuf,
    /// The most writes each case was allowed.
    pub max_ops: u64,
    /// The longest each case was allowed to run.
    pub max_time: Duration,
    /// Appends to a growing file.
    pub append: ProbeRate,
    /// Overwrites of a preallocated, synced file.
    pub overwrite: ProbeRate,
}

/// The probe as one JSON line: `{"probe":"fsync", ...}`.
#[derive(Debug, Serialize)]
struct ProbeJson {
    probe: &'static str,
    dir: String,
    write_bytes: usize,
    max_ops: u64,
    max_seconds: f64,
    append_ops: u64,
    append_seconds: f64,
    append_ops_per_sec: f64,
    overwrite_ops: u64,
    overwrite_seconds: f64,
    overwrite_ops_per_sec: f64,
    overwrite_over_append: Option<f64>,
}

impl FsyncProbe {
    /// Overwrite ops/s over append ops/s; `None` if no append completed.
    pub fn ratio(&self) -> Option<f64> {
        let append = self.append.ops_per_sec();
        Some(self.overwrite.ops_per_sec() / append).filter(|r| append > 0.0 && r.is_finite())
    }

    /// The probe as one JSON object on one line.
    pub fn to_json(&self) -> serde_json::Result<String> {
        serde_json::to_string(&ProbeJson {
            probe: "fsync",
            dir: self.dir.display().to_string(),
            write_bytes: PROBE_WRITE_BYTES,
            max_ops: self.max_ops,
            max_seconds: self.max_time.as_secs_f64(),
            append_ops: self.append.ops,
            append_seconds: self.append.seconds,
            append_ops_per_sec: self.append.ops_per_sec(),
            overwrite_ops: self.overwrite.ops,
            overwrite_seconds: self.overwrite.seconds,
            overwrite_ops_per_sec: self.overwrite.ops_per_sec(),
            overwrite_over_append: self.ratio(),
        })
    }

    /// The probe as one line of text for the report.
    pub fn describe(&self) -> String {
        let case = |rate: &ProbeRate| {
            format!(
                "{:.0} ops/s ({} in {:.2} s)",
                rate.ops_per_sec(),
                rate.ops,
                rate.seconds
            )
        };
        let ratio = self
            .ratio()
            .map_or_else(|| "n/a".to_string(), |r| format!("{r:.2}"));
        format!(
            "fsync probe in {} ({PROBE_WRITE_BYTES}-byte writes, fdatasync after each): \
             append {}; overwrite in place {}; overwrite/append {ratio}",
            self.dir.display(),
            case(&self.append),
            case(&self.overwrite),
        )
    }
}

/// Runs both cases in a temporary directory inside `dir` (created if
/// missing; the probe's files are removed afterwards), each for at most
/// `max_ops` synced writes or `max_time`.
pub fn probe_fsync(dir: &Path, max_ops: u64, max_time: Duration) -> Result<FsyncProbe> {
    if max_ops == 0 {
        bail!("the fsync probe needs at least one write");
    }
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let scratch = tempfile::Builder::new()
        .prefix(".lsm-fsync-probe-")
        .tempdir_in(dir)
        .with_context(|| format!("creating a probe directory in {}", dir.display()))?;
    let append_path = scratch.path().join("append");
    let append = (|| -> std::io::Result<ProbeRate> {
        let mut file = File::create(&append_path)?;
        synced_writes(&mut file, max_ops, max_time)
    })()
    .with_context(|| format!("fsync probe (append) on {}", append_path.display()))?;
    let overwrite_path = scratch.path().join("overwrite");
    let overwrite = (|| -> std::io::Result<ProbeRate> {
        let mut file = File::create(&overwrite_path)?;
        let length = max_ops.saturating_mul(PROBE_WRITE_BYTES as u64);
        let zeros = vec![0u8; 1 << 16];
        let mut left = length;
        while left > 0 {
            let chunk = left.min(zeros.len() as u64) as usize;
            file.write_all(zeros.get(..chunk).unwrap_or(&zeros))?;
            left -= chunk as u64;
        }
        file.sync_all()?;
        file.seek(SeekFrom::Start(0))?;
        synced_writes(&mut file, max_ops, max_time)
    })()
    .with_context(|| format!("fsync probe (overwrite) on {}", overwrite_path.display()))?;
    scratch
        .close()
        .with_context(|| format!("removing the probe's files in {}", dir.display()))?;
    Ok(FsyncProbe {
        dir: dir.to_path_buf(),
        max_ops,
        max_time,
        append,
        overwrite,
    })
}

/// Writes `PROBE_WRITE_BYTES` at the file's position and syncs its data,
/// until `max_ops` writes or `max_time` (at least one write).
fn synced_writes(file: &mut File, max_ops: u64, max_time: Duration) -> std::io::Result<ProbeRate> {
    let record = [0xA5u8; PROBE_WRITE_BYTES];
    let started = Instant::now();
    let mut ops = 0;
    while ops < max_ops && (ops == 0 || started.elapsed() < max_time) {
        file.write_all(&record)?;
        file.sync_data()?;
        ops += 1;
    }
    Ok(ProbeRate {
        ops,
        seconds: started.elapsed().as_secs_f64(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_probe_counts_its_writes_and_cleans_up() {
        let dir = tempfile::tempdir().unwrap();
        let base = dir.path().join("not-yet");
        let probe = probe_fsync(&base, 20, Duration::from_secs(30)).unwrap();
        assert_eq!(probe.append.ops, 20);
        assert_eq!(probe.overwrite.ops, 20);
        assert!(probe.append.seconds > 0.0 && probe.overwrite.seconds > 0.0);
        assert!(probe.ratio().unwrap() > 0.0);
        assert_eq!(
            std::fs::read_dir(&base).unwrap().count(),
            0,
            "probe files removed"
        );
    }

    #[test]
    fn the_time_cap_stops_a_case_after_at_least_one_write() {
        let dir = tempfile::tempdir().unwrap();
        let probe = probe_fsync(dir.path(), 1_000_000, Duration::ZERO).unwrap();
        assert_eq!(probe.append.ops, 1);
        assert_eq!(probe.overwrite.ops, 1);
        assert!(probe_fsync(dir.path(), 0, Duration::ZERO).is_err());
    }

    #[test]
    fn overwrites_stay_inside_the_preallocated_file() {
        let mut file = tempfile::tempfile().unwrap();
        file.write_all(&[0u8; 10 * PROBE_WRITE_BYTES]).unwrap();
        file.seek(SeekFrom::Start(0)).unwrap();
        let rate = synced_writes(&mut file, 10, Duration::from_secs(30)).unwrap();
        assert_eq!(rate.ops, 10);
        assert_eq!(
            file.metadata().unwrap().len(),
            10 * PROBE_WRITE_BYTES as u64
        );
    }

    #[test]
    fn the_json_line_has_both_rates_and_the_ratio() {
        let probe = FsyncProbe {
            dir: PathBuf::from("/data"),
            max_ops: 1000,
            max_time: Duration::from_secs(1),
            append: ProbeRate {
                ops: 100,
                seconds: 1.0,
            },
            overwrite: ProbeRate {
                ops: 400,
                seconds: 0.5,
            },
        };
        let value: serde_json::Value = serde_json::from_str(&probe.to_json().unwrap()).unwrap();
        assert_eq!(value["probe"], "fsync");
        assert_eq!(value["dir"], "/data");
        assert_eq!(value["write_bytes"], 128);
        assert_eq!(value["max_ops"], 1000);
        assert_eq!(value["max_seconds"], 1.0);
        assert_eq!(value["append_ops_per_sec"], 100.0);
        assert_eq!(value["overwrite_ops_per_sec"], 800.0);
        assert_eq!(value["overwrite_over_append"], 8.0);
        let text = probe.describe();
        assert!(
            text.contains("append 100 ops/s") && text.contains("overwrite/append 8.00"),
            "{text}"
        );
        let none = FsyncProbe {
            append: ProbeRate {
                ops: 0,
                seconds: 0.0,
            },
            ..probe
        };
        assert_eq!(none.ratio(), None);
    }
}
