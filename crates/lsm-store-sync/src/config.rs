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
    /// Number of levels, L0 included.
    pub num_levels: usize,
    /// Target bytes of L1; each deeper level is `level_ratio` times larger.
    pub base_level_bytes: u64,
    /// Growth factor between level targets.
    pub level_ratio: u64,
    /// L0 file count that triggers an L0 compaction.
    pub l0_trigger: usize,
    /// Bytes of the block cache shared by all tables.
    pub block_cache_bytes: u64,
    /// AsyncLsmStore only: capacity of the apply queue. `SimpleLsmStore`
    /// ignores it.
    pub apply_queue_max: usize,
    /// AsyncLsmStore only: how long a writer waits for the core lock when
    /// the apply queue is full. `SimpleLsmStore` ignores it.
    pub apply_lock_timeout: Duration,
    /// AsyncLsmStore only: background compaction threads. `SimpleLsmStore`
    /// ignores it.
    pub compaction_workers: usize,
    /// The file system all I/O goes through.
    pub fs: SharedFileSystem,
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
                num_levels: 7,
                base_level_bytes: 256 << 20,
                level_ratio: 10,
                l0_trigger: 4,
                block_cache_bytes: 64 << 20,
                apply_queue_max: 4096,
                apply_lock_timeout: Duration::from_millis(5),
                compaction_workers: 1,
                fs: OsFileSystem::shared(),
            },
        }
    }

    /// The defaults, for the store in `dir`.
    pub fn new(dir: impl AsRef<Path>) -> LsmConfig {
        Self::builder(dir).config
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

    /// Checks every value's range.
    pub fn validate(&self) -> Result<()> {
        let bad = |what: &str| Err(Error::InvalidConfig(what.to_string()));
        if self.memtable_bytes < 4096 {
            return bad("memtable_bytes must be at least 4096");
        }
        if self.num_levels < 2 || self.num_levels > 16 {
            return bad("num_levels must be between 2 and 16");
        }
        if self.level_ratio < 2 {
            return bad("level_ratio must be at least 2");
        }
        if self.l0_trigger == 0 {
            return bad("l0_trigger must be at least 1");
        }
        if self.block_bytes < 64 || self.block_bytes > (16 << 20) {
            return bad("block_bytes must be between 64 and 16 MiB");
        }
        if self.table_target_bytes < 4096 {
            return bad("table_target_bytes must be at least 4096");
        }
        if self.wal_segment_bytes < 4096 {
            return bad("wal_segment_bytes must be at least 4096");
        }
        if self.bloom_bits_per_key > 64 {
            return bad("bloom_bits_per_key must be at most 64");
        }
        if self.apply_queue_max == 0 {
            return bad("apply_queue_max must be at least 1");
        }
        if self.compaction_workers == 0 {
            return bad("compaction_workers must be at least 1");
        }
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
    setter!(/// Number of levels.
        num_levels: usize);
    setter!(/// L1 target bytes.
        base_level_bytes: u64);
    setter!(/// Level size ratio.
        level_ratio: u64);
    setter!(/// L0 compaction trigger (file count).
        l0_trigger: usize);
    setter!(/// Block cache size in bytes.
        block_cache_bytes: u64);
    setter!(/// AsyncLsmStore apply queue capacity.
        apply_queue_max: usize);
    setter!(/// AsyncLsmStore wait for the core lock when the queue is full.
        apply_lock_timeout: Duration);
    setter!(/// AsyncLsmStore compaction threads.
        compaction_workers: usize);
    setter!(/// The file system (tests inject faults through it).
        fs: SharedFileSystem);

    /// Sets bloom bits per key from a target false-positive rate, using
    /// bits = -ln(p) / ln(2)^2 (e.g. 1% -> 10 bits).
    pub fn bloom_false_positive_rate(mut self, rate: f64) -> Self {
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

    #[test]
    fn out_of_range_values_are_rejected() {
        assert!(matches!(
            LsmConfig::builder("/tmp/x").num_levels(1).build(),
            Err(Error::InvalidConfig(_))
        ));
        assert!(LsmConfig::builder("/tmp/x")
            .memtable_bytes(10)
            .build()
            .is_err());
    }
}
