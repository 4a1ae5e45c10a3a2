//! The flags of `lsm demo` and how they become an [`LsmConfig`] and a
//! [`WorkloadSpec`].

use std::path::{Path, PathBuf};

use lsm_store_sync::{LsmConfig, SyncMode};

use super::driver::{Rate, WorkloadSpec};
use super::store::StoreKind;
use crate::units;
use crate::workload::KeyChooser;
use crate::UsageError;

/// Which stores the demo drives.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum StoreChoice {
    /// `SimpleLsmStore`: flushes and compacts on the writing thread.
    Simple,
    /// `AsyncLsmStore`: WAL-first writes, background apply, flush and
    /// compaction.
    Async,
    /// The same seeded workload against each store in turn, side by side.
    Both,
}

impl StoreChoice {
    /// The stores to run, in order.
    pub fn kinds(self) -> &'static [StoreKind] {
        match self {
            StoreChoice::Simple => &[StoreKind::Simple],
            StoreChoice::Async => &[StoreKind::Async],
            StoreChoice::Both => &[StoreKind::Simple, StoreKind::Async],
        }
    }
}

/// How keys are drawn from the key space.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum DistributionArg {
    /// Every key equally likely.
    Uniform,
    /// Zipfian with `--zipf-skew` (hot keys, scattered over the key space).
    Zipf,
}

/// Arguments of `lsm demo`. The defaults finish in about 30 seconds for
/// `--store both` and show several flushes and compactions per store.
#[derive(Debug, clap::Args)]
pub struct DemoArgs {
    /// Which store(s) to drive; `both` runs the same seeded workload against
    /// each in turn and shows them side by side.
    #[arg(long, value_enum, default_value_t = StoreChoice::Both)]
    pub store: StoreChoice,
    /// Store directory (with `both`, one subdirectory per store). Default:
    /// a fresh temporary directory, removed at the end unless `--keep`.
    /// A given directory is kept; its store subdirectories must be empty.
    #[arg(long)]
    pub dir: Option<PathBuf>,
    /// Keep the temporary store directory and print where it is.
    #[arg(long)]
    pub keep: bool,
    /// Report directory: `demo.csv` and `report.html` are written there.
    #[arg(long, default_value = "lsm-demo-report")]
    pub out: PathBuf,
    /// Seconds to drive each store (at most a week).
    #[arg(long, default_value_t = 12.0, value_parser = duration_seconds)]
    pub duration: f64,
    /// Milliseconds between samples of the store's stats.
    #[arg(long, default_value_t = 250, value_parser = clap::value_parser!(u64).range(10..=60_000))]
    pub sample_ms: u64,
    /// Puts per second (0 = as fast as possible, `off` = none).
    #[arg(long, default_value = "20000", value_parser = Rate::parse)]
    pub write_rate: Rate,
    /// Point reads per second (0 = as fast as possible, `off` = none).
    #[arg(long, default_value = "5000", value_parser = Rate::parse)]
    pub read_rate: Rate,
    /// Deletes per second (0 = as fast as possible, `off` = none).
    #[arg(long, default_value = "500", value_parser = Rate::parse)]
    pub delete_rate: Rate,
    /// Range scans per second (0 = as fast as possible, `off` = none); each reads up to
    /// `--range-len` keys.
    #[arg(long, default_value = "200", value_parser = Rate::parse)]
    pub range_rate: Rate,
    /// Keys read by each range scan.
    #[arg(long, default_value_t = 20, value_parser = clap::value_parser!(u64).range(1..=1_000_000))]
    pub range_len: u64,
    /// Number of distinct keys.
    #[arg(long, default_value_t = 200_000, value_parser = clap::value_parser!(u64).range(1..=100_000_000))]
    pub key_space: u64,
    /// Key length in bytes (8 to 1 KiB).
    #[arg(long, default_value = "16", value_parser = units::size_in(8, 1024))]
    pub key_size: u64,
    /// Value length in bytes (at most 1 MiB).
    #[arg(long, default_value = "100", value_parser = units::size_in(0, 1 << 20))]
    pub value_size: u64,
    /// Key distribution.
    #[arg(long, value_enum, default_value_t = DistributionArg::Uniform)]
    pub distribution: DistributionArg,
    /// Zipf skew (with `--distribution zipf`).
    #[arg(long, default_value_t = 0.99, value_parser = positive_f64)]
    pub zipf_skew: f64,
    /// Memtable bytes that trigger a flush.
    #[arg(long, default_value = "4MiB", value_parser = units::parse_size_usize)]
    pub memtable_bytes: usize,
    /// Target size of a compaction output table.
    #[arg(long, default_value = "2MiB", value_parser = units::parse_size)]
    pub table_bytes: u64,
    /// Target bytes of L1 (each deeper level is `--level-ratio` times more).
    #[arg(long, default_value = "8MiB", value_parser = units::parse_size)]
    pub l1_bytes: u64,
    /// Growth factor between level targets.
    #[arg(long, default_value_t = 10)]
    pub level_ratio: u64,
    /// Bloom filter bits per key (0 disables filters).
    #[arg(long, default_value_t = 10, conflicts_with = "bloom_fp")]
    pub bloom_bits: u32,
    /// Bloom filter false-positive rate instead of `--bloom-bits`
    /// (e.g. 0.01 gives 10 bits per key).
    #[arg(long, value_parser = fraction)]
    pub bloom_fp: Option<f64>,
    /// Number of levels, L0 included.
    #[arg(long, default_value_t = 4)]
    pub levels: usize,
    /// L0 table count that triggers an L0 compaction.
    #[arg(long, default_value_t = 4)]
    pub l0_trigger: usize,
    /// WAL sync policy: `always`, `never` or `every-bytes:N`. The demo
    /// defaults to `never` so it measures the tree, not the disk's fsync.
    #[arg(long, default_value = "never", value_parser = units::parse_sync_mode)]
    pub wal_sync: SyncMode,
    /// Seed of the workload generator (the same seed drives every store).
    #[arg(long, default_value_t = 42)]
    pub seed: u64,
}

impl DemoArgs {
    /// The store configuration for `dir`.
    pub fn store_config(&self, dir: &Path) -> anyhow::Result<LsmConfig> {
        let mut builder = LsmConfig::builder(dir)
            .memtable_bytes(self.memtable_bytes)
            .wal_sync(self.wal_sync)
            .table_target_bytes(self.table_bytes)
            .base_level_bytes(self.l1_bytes)
            .level_ratio(self.level_ratio)
            .num_levels(self.levels)
            .l0_trigger(self.l0_trigger)
            .bloom_bits_per_key(self.bloom_bits);
        if let Some(rate) = self.bloom_fp {
            builder = builder.bloom_false_positive_rate(rate);
        }
        builder
            .build()
            .map_err(|err| UsageError(format!("invalid engine settings: {err}")).into())
    }

    /// The workload every store is driven with.
    pub fn workload(&self) -> WorkloadSpec {
        WorkloadSpec {
            keys: KeyChooser::from_flags(
                self.key_space,
                self.distribution == DistributionArg::Zipf,
                self.zipf_skew,
            ),
            key_size: self.key_size as usize,
            value_size: self.value_size as usize,
            range_len: self.range_len as usize,
            write_rate: self.write_rate,
            read_rate: self.read_rate,
            delete_rate: self.delete_rate,
            range_rate: self.range_rate,
            seed: self.seed,
        }
    }

    /// The WAL sync mode as the user would type it.
    pub fn wal_sync_label(&self) -> String {
        units::sync_mode_label(self.wal_sync)
    }

    /// Bloom bits per key actually used.
    pub fn bloom_label(&self) -> String {
        match self.bloom_fp {
            Some(rate) => format!("false-positive rate {rate}"),
            None => format!("{} bits per key", self.bloom_bits),
        }
    }
}

/// The longest `--duration` (a week): longer ones would overflow the
/// deadline's arithmetic, and no demo needs them.
const MAX_DURATION_SECONDS: f64 = 7.0 * 24.0 * 3600.0;

fn duration_seconds(text: &str) -> Result<f64, String> {
    match positive_f64(text)? {
        seconds if seconds <= MAX_DURATION_SECONDS => Ok(seconds),
        _ => Err(format!(
            "expected at most {MAX_DURATION_SECONDS} seconds (a week), got `{text}`"
        )),
    }
}

fn positive_f64(text: &str) -> Result<f64, String> {
    match text.parse::<f64>() {
        Ok(v) if v.is_finite() && v > 0.0 => Ok(v),
        _ => Err(format!("expected a positive number, got `{text}`")),
    }
}

fn fraction(text: &str) -> Result<f64, String> {
    match text.parse::<f64>() {
        Ok(v) if v > 0.0 && v < 1.0 => Ok(v),
        _ => Err(format!("expected a number between 0 and 1, got `{text}`")),
    }
}
