//! Knobs for writing a table. Reading needs none: everything a reader must
//! know is recorded in the file.

use crate::error::{Error, Result};

/// How a [`crate::TableBuilder`] lays out a table.
#[derive(Clone, Debug)]
pub struct TableOptions {
    /// Target size of a data block before compression; a block is cut as
    /// soon as it reaches this size. Default 4096.
    pub block_bytes: usize,
    /// Every this many entries a data block stores a full key (a restart
    /// point) instead of a prefix-compressed one. Default 8: a point read
    /// or seek binary-searches the restart points and then steps through
    /// at most this many entries, decoding each. Against 16 (criterion
    /// `table`, tables on tmpfs, 2 runs each): `get_hit_10k` 14-17% and
    /// `seek_10k` 14.5% faster, `scan_100k` 2.6% and `build_100k` 9%
    /// slower; `lsm bench` (1M keys, 3 alternating runs) readrandom 3.5%
    /// faster, seekrandom, readseq and fillrandom within noise, tables
    /// 0.7% larger.
    pub restart_interval: usize,
    /// Bloom filter bits per distinct user key; 0 writes no filter.
    /// Default 10 (about 1% false positives). At most 64.
    pub bloom_bits_per_key: u32,
    /// Compression of data and index blocks. Default [`Compression::None`].
    pub compression: Compression,
    /// The most distinct user keys the table will hold, when the caller
    /// knows it up front (a flush passes its memtable's entries). The
    /// filter is then sized for that many keys when the table is created
    /// and each key's bits are set as it is added, instead of an 8-byte
    /// hash of every key being kept until [`crate::TableBuilder::finish`]
    /// (3.6 MiB for a 64 MiB memtable's flush). A table with fewer distinct
    /// keys gets more filter bits per key than `bloom_bits_per_key`, and
    /// fewer false positives; more keys than this only raise the rate. A
    /// capacity whose filter would not fit in a block is ignored. Default
    /// `None`: the filter is sized for the keys added.
    pub filter_capacity: Option<u64>,
}

impl Default for TableOptions {
    fn default() -> Self {
        TableOptions {
            block_bytes: 4096,
            restart_interval: 8,
            bloom_bits_per_key: 10,
            compression: Compression::None,
            filter_capacity: None,
        }
    }
}

impl TableOptions {
    /// Largest accepted `bloom_bits_per_key`.
    pub const MAX_BLOOM_BITS_PER_KEY: u32 = 64;
    /// The largest accepted `restart_interval`. A backward step decodes a
    /// restart interval's full keys into memory: 256 keys of the longest
    /// kind are 16 MiB, and a reader refuses a block whose interval holds
    /// more than that (a table no builder with valid options writes).
    pub const MAX_RESTART_INTERVAL: usize = 256;

    /// Checks every field is in range.
    pub fn validate(&self) -> Result<()> {
        let invalid = |detail: String| Err(Error::InvalidOptions { detail });
        if self.block_bytes == 0 || self.block_bytes > crate::MAX_BLOCK_BYTES / 2 {
            return invalid(format!(
                "block_bytes must be in 1..={}, got {}",
                crate::MAX_BLOCK_BYTES / 2,
                self.block_bytes
            ));
        }
        if self.restart_interval == 0 || self.restart_interval > Self::MAX_RESTART_INTERVAL {
            return invalid(format!(
                "restart_interval must be in 1..={}, got {}",
                Self::MAX_RESTART_INTERVAL,
                self.restart_interval
            ));
        }
        if self.bloom_bits_per_key > Self::MAX_BLOOM_BITS_PER_KEY {
            return invalid(format!(
                "bloom_bits_per_key must be at most {}, got {}",
                Self::MAX_BLOOM_BITS_PER_KEY,
                self.bloom_bits_per_key
            ));
        }
        Ok(())
    }
}

/// Block compression.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Compression {
    /// Blocks are stored as built.
    None,
    /// Blocks are LZ4-compressed (block format) when that saves at least
    /// 12.5%; otherwise stored as built.
    Lz4,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_valid_and_documented_values() {
        let o = TableOptions::default();
        assert_eq!(
            (o.block_bytes, o.restart_interval, o.bloom_bits_per_key),
            (4096, 8, 10)
        );
        assert_eq!(o.compression, Compression::None);
        o.validate().unwrap();
    }

    #[test]
    fn out_of_range_fields_are_rejected() {
        for o in [
            TableOptions {
                block_bytes: 0,
                ..TableOptions::default()
            },
            TableOptions {
                restart_interval: 0,
                ..TableOptions::default()
            },
            TableOptions {
                restart_interval: TableOptions::MAX_RESTART_INTERVAL + 1,
                ..TableOptions::default()
            },
            TableOptions {
                bloom_bits_per_key: 65,
                ..TableOptions::default()
            },
        ] {
            assert!(matches!(o.validate(), Err(Error::InvalidOptions { .. })));
        }
    }
}
