//! `StoreStats`: everything a dashboard needs, read through the public API.

use lsm_core::SeqNo;

/// One level's shape.
#[derive(Clone, Debug, Default, PartialEq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub struct LevelStats {
    /// Number of tables.
    pub files: usize,
    /// Bytes of those tables.
    pub bytes: u64,
    /// The compaction picker's score (>= 1 means due for compaction).
    pub score: f64,
}

/// A point-in-time picture of a store.
#[derive(Clone, Debug, Default, PartialEq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub struct StoreStats {
    /// Bytes in the active memtable.
    pub memtable_bytes: usize,
    /// Frozen memtables waiting for flush.
    pub immutable_memtables: usize,
    /// Bytes in frozen memtables.
    pub immutable_bytes: usize,
    /// Per level, L0 first.
    pub levels: Vec<LevelStats>,
    /// Bytes of WAL segments on disk.
    pub wal_bytes: u64,
    /// WAL segments on disk.
    pub wal_segments: usize,
    /// The last sequence number the WAL assigned.
    pub last_seq: SeqNo,
    /// The applied watermark: reads see writes up to here.
    pub visible_seq: SeqNo,
    /// Memtable flushes since open.
    pub flushes: u64,
    /// Compactions since open (trivial moves included).
    pub compactions: u64,
    /// Compactions that moved a table down without rewriting it.
    pub trivial_moves: u64,
    /// Bytes of L0 tables written by flushes since open.
    pub flush_bytes_written: u64,
    /// Bytes of tables read by compactions since open.
    pub compaction_bytes_read: u64,
    /// Bytes of tables written by compactions since open.
    pub compaction_bytes_written: u64,
    /// Key and value bytes accepted by writes since open.
    pub user_bytes_written: u64,
    /// Bytes appended to the WAL since open: records and segment headers,
    /// not the zeros written ahead of durable appends (docs/durability.md),
    /// which are preallocation rather than data.
    pub wal_bytes_written: u64,
    /// Live snapshot handles.
    pub live_snapshots: usize,
    /// Block cache hits since open.
    pub block_cache_hits: u64,
    /// Block cache misses since open.
    pub block_cache_misses: u64,
    /// Why the store refuses writes until it is reopened (a failed WAL
    /// or manifest sync, a failed flush or compaction); `None` while it
    /// accepts them.
    pub poisoned: Option<String>,
    /// The picker's estimate of the table bytes compactions must still
    /// rewrite before no level is due (`lsm_compaction::pending_compaction_bytes`,
    /// RocksDB's "estimated pending compaction bytes"); 0 when the tree is
    /// in shape. A backlog gauge: rising means compaction falls behind.
    pub pending_compaction_bytes: u64,
    /// Write stalls since open: times a write (or the thread applying
    /// writes) waited for the store to make room. Async store: the applier
    /// waiting for the flusher (too many frozen memtables), and a writer
    /// blocked on a full apply queue for 100 µs or more; sync store: a write that froze,
    /// flushed and compacted inline (or waited for another write doing
    /// so). See `docs/observability.md`.
    pub write_stalls: u64,
    /// Nanoseconds spent in those stalls since open, summed over threads
    /// (stalls that overlap in time each count).
    pub write_stall_nanos: u64,
    /// fdatasync calls the WAL made since open (`WalWriter::sync_count`):
    /// group-commit syncs, rotations and new segments' headers.
    pub wal_syncs: u64,
    /// Bytes per second writes are held to while L0 holds
    /// `L0_SLOWDOWN_FACTOR` x `l0_trigger` tables or more (the async
    /// store's write slowdown, `Engine::write_delay`); `None` while writes
    /// are not slowed.
    pub delayed_write_rate: Option<u64>,
}

impl StoreStats {
    /// Tables across all levels.
    pub fn total_files(&self) -> usize {
        self.levels.iter().map(|l| l.files).sum()
    }

    /// Bytes of tables across all levels.
    pub fn total_table_bytes(&self) -> u64 {
        self.levels.iter().map(|l| l.bytes).sum()
    }

    /// Bytes the store wrote per byte the user wrote, since open:
    /// (WAL + flush + compaction bytes written) / user bytes. `None` before
    /// any user byte was written.
    pub fn write_amplification(&self) -> Option<f64> {
        if self.user_bytes_written == 0 {
            return None;
        }
        let written = self
            .wal_bytes_written
            .saturating_add(self.flush_bytes_written)
            .saturating_add(self.compaction_bytes_written);
        Some(written as f64 / self.user_bytes_written as f64)
    }

    /// The share of block cache lookups that hit, since open, in `0..=1`.
    /// `None` before any lookup (or without a block cache).
    pub fn block_cache_hit_rate(&self) -> Option<f64> {
        let lookups = self
            .block_cache_hits
            .saturating_add(self.block_cache_misses);
        if lookups == 0 {
            return None;
        }
        Some(self.block_cache_hits as f64 / lookups as f64)
    }
}
