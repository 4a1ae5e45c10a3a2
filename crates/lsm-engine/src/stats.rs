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
    /// Bytes appended to the WAL since open.
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
}
