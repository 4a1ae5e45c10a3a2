//! `LsmConfig`: every knob of a store, with defaults sized for a 64 MiB
//! memtable, built and validated by [`LsmConfigBuilder`].

use std::path::{Path, PathBuf};
use std::time::Duration;

use lsm_core::{OsFileSystem, SharedFileSystem};
use lsm_sstable::Compression;
use lsm_wal::{RecoveryMode, SyncMode};

use crate::error::{Error, Result};

/// The configuration of a store. Build one with [`LsmConfig::builder`].
#[derive(Clone, Debug)]
pub struct LsmConfig {
    /// The store directory (created if missing).
    pub dir: PathBuf,
    /// The memtable is frozen and flushed once it holds this many bytes.
    pub memtable_bytes: usize,
    /// When WAL appends are fsynced; see `docs/durability.md`.
    pub wal_sync: SyncMode,
    /// A WAL segment is rotated once it reaches this many bytes.
    pub wal_segment_bytes: u64,
    /// How recovery treats damaged WAL records.
    pub wal_recovery: RecoveryMode,
    /// Bloom filter bits per key (0 disables filters).
    pub bloom_bits_per_key: u32,
    /// Target size of a table's data block.
    pub block_bytes: usize,
    /// Block compression.
    pub compression: Compression,
    /// A compaction output table is cut at this size.
    pub table_target_bytes: u64,
    /// Number of levels, L0 included. The store's files depend on it, so
    /// it is fixed when the store is created and recorded in its `OPTIONS`
    /// file (`docs/format/options.md`). Reopening with the value *left
    /// unset* uses the recorded one; see
    /// [`LsmConfig::num_levels_is_explicit`] for what counts as set. Set to
    /// another value, open fails with [`Error::IncompatibleOptions`].
    pub num_levels: usize,
    /// Target bytes of L1; each deeper level is `level_ratio` times larger.
    pub base_level_bytes: u64,
    /// Growth factor between level targets.
    pub level_ratio: u64,
    /// L0 file count that triggers an L0 compaction.
    pub l0_trigger: usize,
    /// Bytes of the block cache shared by all tables.
    pub block_cache_bytes: u64,
    /// The most tables kept open at once (one file descriptor each, with
    /// their index and filter blocks in memory); past it, the least
    /// recently used one is closed and opened again when next read. 0 (the
    /// default): half the process's open-file limit (`RLIMIT_NOFILE`'s
    /// soft limit) at open, at least 64, so a store of more tables than
    /// the limit allows still reads rather than failing with "too many
    /// open files".
    pub max_open_tables: usize,
    /// AsyncLsmStore only: capacity of the apply queue, in writes. The
    /// queue also holds at most a 32nd of `memtable_bytes` of batches (at
    /// least 64 KiB); past either bound, writers apply their writes
    /// themselves. `SimpleLsmStore` ignores it.
    pub apply_queue_max: usize,
    /// AsyncLsmStore only: how long a writer that finds the apply queue
    /// full waits for a slot before it applies its write itself, beside
    /// the applier (unless the memtable is an eighth past its size: then
    /// it waits for a slot without limit). Default zero: it applies at
    /// once, so a writer that outruns the applier inserts beside it instead
    /// of giving up its core (`docs/async.md`). `SimpleLsmStore` ignores
    /// it.
    pub apply_lock_timeout: Duration,
    /// AsyncLsmStore only: background compaction threads. `SimpleLsmStore`
    /// ignores it.
    pub compaction_workers: usize,
    /// AsyncLsmStore only: the nice value (Linux `setpriority`, 0..=19)
    /// its flusher and compaction threads run at, so that on a machine
    /// with few cores the writers and readers win the CPU when table I/O
    /// competes with them. 0 keeps the opening thread's priority. Ignored
    /// where thread priorities cannot be set (not Linux), and a failure to
    /// set it is ignored. `SimpleLsmStore` has no background threads.
    /// When other processes keep every core busy, a niced flusher falls
    /// behind and a second frozen memtable waits in memory: 0 then bounds
    /// memory better (`docs/async.md`, "Threads").
    pub background_nice: i32,
    /// The file system all I/O goes through.
    pub fs: SharedFileSystem,
    /// True once [`LsmConfigBuilder::num_levels`] was called.
    num_levels_set: bool,
}

impl LsmConfig {
    /// A builder with the defaults, for the store in `dir`.
    pub fn builder(dir: impl AsRef<Path>) -> LsmConfigBuilder {
        LsmConfigBuilder {
            config: LsmConfig {
                dir: dir.as_ref().to_path_buf(),
                memtable_bytes: 64 << 20,
                wal_sync: SyncMode::Always,
                wal_segment_bytes: 64 << 20,
                wal_recovery: RecoveryMode::TolerateTornTail,
                bloom_bits_per_key: 10,
                block_bytes: 4096,
                compression: Compression::None,
                table_target_bytes: 64 << 20,
                num_levels: Self::DEFAULT_NUM_LEVELS,
                base_level_bytes: 256 << 20,
                level_ratio: 10,
                l0_trigger: 4,
                block_cache_bytes: 64 << 20,
                max_open_tables: 0,
                // Deep enough to hold a writer's puts while the applier is
                // descheduled for a few ms (readwhilewriting's writer did
                // 225-268k puts/s against 178-197k with 256). A freeze no
                // longer drains a full queue under the gate (writers apply
                // inline while the applier is away), so the depth no
                // longer bounds the slowest put (docs/async.md).
                apply_queue_max: 4096,
                // A writer that finds the queue full inserts beside the
                // applier at once rather than wait for a slot: waiting
                // made it yield its core (`docs/async.md`).
                apply_lock_timeout: Duration::ZERO,
                compaction_workers: 1,
                background_nice: 10,
                fs: OsFileSystem::shared(),
                num_levels_set: false,
            },
        }
    }

    /// The defaults, for the store in `dir`.
    pub fn new(dir: impl AsRef<Path>) -> LsmConfig {
        Self::builder(dir).config
    }

    /// The default `num_levels`.
    pub const DEFAULT_NUM_LEVELS: usize = 7;

    /// Whether the user chose `num_levels`, or left it for an existing
    /// store's recorded value: true when [`LsmConfigBuilder::num_levels`]
    /// was called (even with the default value), or when the field differs
    /// from [`LsmConfig::DEFAULT_NUM_LEVELS`] (set directly on the struct).
    /// A config from [`LsmConfig::new`] or a builder that never set it, with
    /// the field still at the default, leaves it unset.
    pub fn num_levels_is_explicit(&self) -> bool {
        self.num_levels_set || self.num_levels != Self::DEFAULT_NUM_LEVELS
    }

    /// [`LsmConfig::max_open_tables`], with 0 resolved from the process's
    /// open-file limit (half its soft limit, at least 64; no limit known:
    /// [`LsmConfig::MAX_OPEN_TABLES`]).
    pub(crate) fn open_table_capacity(&self) -> usize {
        if self.max_open_tables > 0 {
            return self.max_open_tables;
        }
        lsm_core::fs::open_file_limit().map_or(Self::MAX_OPEN_TABLES, |limit| {
            usize::try_from(limit / 2)
                .unwrap_or(Self::MAX_OPEN_TABLES)
                .clamp(64, Self::MAX_OPEN_TABLES)
        })
    }

    pub(crate) fn table_options(&self) -> lsm_sstable::TableOptions {
        lsm_sstable::TableOptions {
            block_bytes: self.block_bytes,
            bloom_bits_per_key: self.bloom_bits_per_key,
            compression: self.compression,
            ..lsm_sstable::TableOptions::default()
        }
    }

    pub(crate) fn level_shape(&self) -> lsm_compaction::LevelShape {
        lsm_compaction::LevelShape {
            num_levels: self.num_levels,
            l0_trigger: self.l0_trigger,
            base_level_bytes: self.base_level_bytes,
            level_ratio: self.level_ratio,
        }
    }

    pub(crate) fn wal_options(&self) -> lsm_wal::WalOptions {
        lsm_wal::WalOptions {
            sync_mode: self.wal_sync,
            segment_bytes: self.wal_segment_bytes,
            recovery_mode: self.wal_recovery,
        }
    }

    /// Smallest `memtable_bytes`, `wal_segment_bytes`, `table_target_bytes`
    /// and `base_level_bytes`.
    pub const MIN_SIZE_BYTES: u64 = 4096;
    /// Largest `memtable_bytes` (64 GiB): the memtable lives in memory.
    pub const MAX_MEMTABLE_BYTES: usize = 64 << 30;
    /// Largest `wal_segment_bytes` and `table_target_bytes` (1 TiB).
    pub const MAX_FILE_BYTES: u64 = 1 << 40;
    /// Largest `base_level_bytes` (1 PiB).
    pub const MAX_BASE_LEVEL_BYTES: u64 = 1 << 50;
    /// Largest `block_cache_bytes` (1 TiB; 0 disables the cache).
    pub const MAX_BLOCK_CACHE_BYTES: u64 = 1 << 40;
    /// Accepted `block_bytes`.
    pub const BLOCK_BYTES: std::ops::RangeInclusive<usize> = 64..=(16 << 20);
    /// Accepted `num_levels`.
    pub const NUM_LEVELS: std::ops::RangeInclusive<usize> = 2..=16;
    /// Accepted `level_ratio`.
    pub const LEVEL_RATIO: std::ops::RangeInclusive<u64> = 2..=1000;
    /// Accepted `l0_trigger`.
    pub const L0_TRIGGER: std::ops::RangeInclusive<usize> = 1..=1024;
    /// Largest `bloom_bits_per_key`.
    pub const MAX_BLOOM_BITS_PER_KEY: u32 = 64;
    /// Largest `max_open_tables` (0 picks it from the open-file limit).
    pub const MAX_OPEN_TABLES: usize = 1 << 20;
    /// Accepted `apply_queue_max`: the queue's slots are allocated at open.
    pub const APPLY_QUEUE_MAX: std::ops::RangeInclusive<usize> = 1..=(1 << 20);
    /// Longest `apply_lock_timeout` (a writer's wait for a queue slot).
    pub const MAX_APPLY_LOCK_TIMEOUT: Duration = Duration::from_secs(60);
    /// Accepted `compaction_workers` (one thread each).
    pub const COMPACTION_WORKERS: std::ops::RangeInclusive<usize> = 1..=64;
    /// Accepted `background_nice` (Linux nice values from "unchanged" to
    /// the lowest priority).
    pub const BACKGROUND_NICE: std::ops::RangeInclusive<i32> = 0..=19;

    /// Checks every value's range: [`Error::InvalidConfig`] names the first
    /// option out of range, its value and the accepted range.
    pub fn validate(&self) -> Result<()> {
        fn check<T: PartialOrd + std::fmt::Debug>(
            option: &'static str,
            value: T,
            range: std::ops::RangeInclusive<T>,
        ) -> Result<()> {
            if range.contains(&value) {
                return Ok(());
            }
            Err(Error::InvalidConfig {
                option,
                value: format!("{value:?}"),
                accepted: format!("{:?}..={:?}", range.start(), range.end()),
            })
        }
        let min = Self::MIN_SIZE_BYTES;
        check(
            "memtable_bytes",
            self.memtable_bytes,
            min as usize..=Self::MAX_MEMTABLE_BYTES,
        )?;
        if let SyncMode::EveryBytes(bytes) = self.wal_sync {
            // 0 would sync every write: that is `SyncMode::Always`.
            check("wal_sync (SyncMode::EveryBytes)", bytes, 1..=u64::MAX)?;
        }
        check(
            "wal_segment_bytes",
            self.wal_segment_bytes,
            min..=Self::MAX_FILE_BYTES,
        )?;
        check(
            "bloom_bits_per_key",
            self.bloom_bits_per_key,
            0..=Self::MAX_BLOOM_BITS_PER_KEY,
        )?;
        check("block_bytes", self.block_bytes, Self::BLOCK_BYTES)?;
        check(
            "table_target_bytes",
            self.table_target_bytes,
            min..=Self::MAX_FILE_BYTES,
        )?;
        check("num_levels", self.num_levels, Self::NUM_LEVELS)?;
        check(
            "base_level_bytes",
            self.base_level_bytes,
            min..=Self::MAX_BASE_LEVEL_BYTES,
        )?;
        check("level_ratio", self.level_ratio, Self::LEVEL_RATIO)?;
        check("l0_trigger", self.l0_trigger, Self::L0_TRIGGER)?;
        check(
            "block_cache_bytes",
            self.block_cache_bytes,
            0..=Self::MAX_BLOCK_CACHE_BYTES,
        )?;
        check(
            "max_open_tables",
            self.max_open_tables,
            0..=Self::MAX_OPEN_TABLES,
        )?;
        check(
            "apply_queue_max",
            self.apply_queue_max,
            Self::APPLY_QUEUE_MAX,
        )?;
        check(
            "apply_lock_timeout",
            self.apply_lock_timeout,
            Duration::ZERO..=Self::MAX_APPLY_LOCK_TIMEOUT,
        )?;
        check(
            "compaction_workers",
            self.compaction_workers,
            Self::COMPACTION_WORKERS,
        )?;
        check(
            "background_nice",
            self.background_nice,
            Self::BACKGROUND_NICE,
        )?;
        Ok(())
    }
}

/// Builds an [`LsmConfig`]; [`LsmConfigBuilder::build`] validates it.
#[derive(Clone, Debug)]
pub struct LsmConfigBuilder {
    config: LsmConfig,
}

macro_rules! setter {
    ($(#[$doc:meta])* $name:ident: $ty:ty) => {
        $(#[$doc])*
        pub fn $name(mut self, value: $ty) -> Self {
            self.config.$name = value;
            self
        }
    };
}

impl LsmConfigBuilder {
    setter!(/// Memtable size that triggers a flush.
        memtable_bytes: usize);
    setter!(/// WAL sync policy.
        wal_sync: SyncMode);
    setter!(/// WAL segment rotation size.
        wal_segment_bytes: u64);
    setter!(/// WAL recovery mode.
        wal_recovery: RecoveryMode);
    setter!(/// Bloom bits per key (0 disables filters).
        bloom_bits_per_key: u32);
    setter!(/// Data block target size.
        block_bytes: usize);
    setter!(/// Block compression.
        compression: Compression);
    setter!(/// Compaction output table size.
        table_target_bytes: u64);
    /// Number of levels, L0 included. Fixed when the store is created: a
    /// reopen that calls this with another value than the store's fails
    /// with [`Error::IncompatibleOptions`]; a reopen that does not call it
    /// uses the store's (see [`LsmConfig::num_levels_is_explicit`]).
    pub fn num_levels(mut self, value: usize) -> Self {
        self.config.num_levels = value;
        self.config.num_levels_set = true;
        self
    }
    setter!(/// L1 target bytes.
        base_level_bytes: u64);
    setter!(/// Level size ratio.
        level_ratio: u64);
    setter!(/// L0 compaction trigger (file count).
        l0_trigger: usize);
    setter!(/// Block cache size in bytes.
        block_cache_bytes: u64);
    setter!(/// The most tables kept open (0: from the open-file limit).
        max_open_tables: usize);
    setter!(/// AsyncLsmStore apply queue capacity.
        apply_queue_max: usize);
    setter!(/// AsyncLsmStore wait for a slot when the apply queue is full.
        apply_lock_timeout: Duration);
    setter!(/// AsyncLsmStore compaction threads.
        compaction_workers: usize);
    setter!(/// AsyncLsmStore nice value of the flusher and compaction
        /// threads (0..=19; 0 = unchanged).
        background_nice: i32);
    setter!(/// The file system (tests inject faults through it).
        fs: SharedFileSystem);

    /// Sets bloom bits per key from a target false-positive rate, using
    /// bits = -ln(p) / ln(2)^2 (e.g. 1% -> 10 bits). Rates outside
    /// `1e-9..=0.5` are clamped into it; a NaN rate makes
    /// [`LsmConfigBuilder::build`] fail (as `bloom_bits_per_key` out of
    /// range) rather than silently turning the filters off.
    pub fn bloom_false_positive_rate(mut self, rate: f64) -> Self {
        if rate.is_nan() {
            self.config.bloom_bits_per_key = u32::MAX;
            return self;
        }
        let rate = rate.clamp(1e-9, 0.5);
        let bits = (-rate.ln() / (std::f64::consts::LN_2 * std::f64::consts::LN_2)).ceil();
        self.config.bloom_bits_per_key = bits.clamp(1.0, 64.0) as u32;
        self
    }

    /// Validates and returns the configuration.
    pub fn build(self) -> Result<LsmConfig> {
        self.config.validate()?;
        Ok(self.config)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_validate_and_fp_rate_maps_to_bits() {
        let config = LsmConfig::builder("/tmp/x").build().unwrap();
        assert_eq!(config.memtable_bytes, 64 << 20);
        let config = LsmConfig::builder("/tmp/x")
            .bloom_false_positive_rate(0.01)
            .build()
            .unwrap();
        assert_eq!(config.bloom_bits_per_key, 10);
    }

    /// `num_levels` is explicit once the builder set it (even to the
    /// default) or the field differs from the default; otherwise an
    /// existing store's recorded value is used.
    #[test]
    fn num_levels_is_explicit_when_the_builder_set_it_or_it_differs_from_the_default() {
        let unset = LsmConfig::builder("/tmp/x").build().unwrap();
        assert!(!unset.num_levels_is_explicit());
        assert!(!LsmConfig::new("/tmp/x").num_levels_is_explicit());
        let default_value = LsmConfig::builder("/tmp/x")
            .num_levels(LsmConfig::DEFAULT_NUM_LEVELS)
            .build()
            .unwrap();
        assert!(default_value.num_levels_is_explicit());
        let mut direct = LsmConfig::new("/tmp/x");
        direct.num_levels = 4;
        assert!(direct.num_levels_is_explicit());
    }

    #[test]
    fn out_of_range_values_are_rejected() {
        assert!(matches!(
            LsmConfig::builder("/tmp/x").num_levels(1).build(),
            Err(Error::InvalidConfig {
                option: "num_levels",
                ..
            })
        ));
        assert!(LsmConfig::builder("/tmp/x")
            .memtable_bytes(10)
            .build()
            .is_err());
    }

    #[test]
    fn open_tables_follow_the_setting_or_half_the_open_file_limit() {
        let set = LsmConfig::builder("/tmp/x")
            .max_open_tables(100)
            .build()
            .unwrap();
        assert_eq!(set.open_table_capacity(), 100);
        let automatic = LsmConfig::new("/tmp/x").open_table_capacity();
        match lsm_core::fs::open_file_limit() {
            Some(limit) => {
                let half = usize::try_from(limit / 2).unwrap_or(usize::MAX);
                assert_eq!(automatic, half.clamp(64, LsmConfig::MAX_OPEN_TABLES));
            }
            None => assert_eq!(automatic, LsmConfig::MAX_OPEN_TABLES),
        }
    }

    /// Every numeric and duration option, at an absurd value (zero where
    /// zero means nothing, the type's maximum), is a typed error naming the
    /// option and the accepted range; the bounds themselves are accepted.
    #[test]
    fn every_option_is_range_checked_and_the_error_names_it() {
        type Edit = fn(LsmConfigBuilder) -> LsmConfigBuilder;
        let b = || LsmConfig::builder("/tmp/x");
        let bad: &[(&str, Edit)] = &[
            ("memtable_bytes", |c| c.memtable_bytes(0)),
            ("memtable_bytes", |c| c.memtable_bytes(usize::MAX)),
            ("wal_sync", |c| c.wal_sync(SyncMode::EveryBytes(0))),
            ("wal_segment_bytes", |c| c.wal_segment_bytes(0)),
            ("wal_segment_bytes", |c| c.wal_segment_bytes(u64::MAX)),
            ("bloom_bits_per_key", |c| c.bloom_bits_per_key(u32::MAX)),
            ("bloom_bits_per_key", |c| {
                c.bloom_false_positive_rate(f64::NAN)
            }),
            ("block_bytes", |c| c.block_bytes(0)),
            ("block_bytes", |c| c.block_bytes(usize::MAX)),
            ("table_target_bytes", |c| c.table_target_bytes(0)),
            ("table_target_bytes", |c| c.table_target_bytes(u64::MAX)),
            ("num_levels", |c| c.num_levels(0)),
            ("num_levels", |c| c.num_levels(usize::MAX)),
            ("base_level_bytes", |c| c.base_level_bytes(0)),
            ("base_level_bytes", |c| c.base_level_bytes(u64::MAX)),
            ("level_ratio", |c| c.level_ratio(0)),
            ("level_ratio", |c| c.level_ratio(u64::MAX)),
            ("l0_trigger", |c| c.l0_trigger(0)),
            ("l0_trigger", |c| c.l0_trigger(usize::MAX)),
            ("block_cache_bytes", |c| c.block_cache_bytes(u64::MAX)),
            ("max_open_tables", |c| c.max_open_tables(usize::MAX)),
            ("apply_queue_max", |c| c.apply_queue_max(0)),
            ("apply_queue_max", |c| c.apply_queue_max(usize::MAX)),
            ("apply_lock_timeout", |c| {
                c.apply_lock_timeout(Duration::MAX)
            }),
            ("compaction_workers", |c| c.compaction_workers(0)),
            ("compaction_workers", |c| c.compaction_workers(usize::MAX)),
            ("background_nice", |c| c.background_nice(-1)),
            ("background_nice", |c| c.background_nice(20)),
        ];
        for (option, edit) in bad {
            match edit(b()).build() {
                Err(err @ Error::InvalidConfig { option: named, .. }) => {
                    assert!(named.starts_with(option), "{option}: {err}");
                    let text = err.to_string();
                    assert!(text.contains(option) && text.contains("..="), "{text}");
                }
                other => panic!("{option}: expected InvalidConfig, got {other:?}"),
            }
        }
        let edges: &[Edit] = &[
            |c| c.memtable_bytes(4096).wal_segment_bytes(4096),
            |c| c.memtable_bytes(LsmConfig::MAX_MEMTABLE_BYTES),
            |c| c.wal_sync(SyncMode::EveryBytes(1)),
            |c| c.table_target_bytes(LsmConfig::MAX_FILE_BYTES),
            |c| c.base_level_bytes(LsmConfig::MAX_BASE_LEVEL_BYTES),
            |c| c.bloom_bits_per_key(0).block_cache_bytes(0),
            |c| c.level_ratio(2).l0_trigger(1).num_levels(2),
            |c| {
                c.apply_queue_max(1 << 20)
                    .apply_lock_timeout(Duration::ZERO)
            },
            |c| c.apply_lock_timeout(LsmConfig::MAX_APPLY_LOCK_TIMEOUT),
            |c| c.compaction_workers(64).block_bytes(64),
        ];
        for edit in edges {
            edit(b()).build().unwrap();
        }
    }
}
