//! What the writer writes and how the checker recognizes it: keys, values,
//! batches, the store configuration, and one handle over both stores.

use std::ops::Bound;
use std::path::Path;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::{bail, Context, Result};
use lsm_core::WriteBatch;
use lsm_store_async::AsyncLsmStore;
use lsm_store_sync::{KvStore, LsmConfig, SimpleLsmStore, SyncMode};

/// Every `BATCH_EVERY`-th write of a thread (index `i % 10 == 9`) is a
/// three-key batch.
const BATCH_EVERY: u64 = 10;

/// The key suffixes of one write: a plain put writes only `""`, a batch
/// writes all three.
pub const SUFFIXES: [&str; 3] = ["", "-a", "-b"];

/// Whether write `i` of a thread is a batch.
pub fn is_batch(i: u64) -> bool {
    i % BATCH_EVERY == BATCH_EVERY - 1
}

/// The key of write `i` of `thread` in `cycle`, with one of [`SUFFIXES`].
/// Each cycle writes under its own prefix, so a cycle's checks never see
/// another cycle's writes.
pub fn key(cycle: u32, thread: usize, i: u64, suffix: &str) -> String {
    format!("c{cycle:04}-t{thread}-{i:08}{suffix}")
}

/// A parsed key: cycle, thread, index and the index into [`SUFFIXES`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct KeyId {
    /// The cycle that wrote it.
    pub cycle: u32,
    /// The writer thread.
    pub thread: usize,
    /// The thread's write index.
    pub index: u64,
    /// Index into [`SUFFIXES`].
    pub suffix: usize,
}

/// Parses a key written by [`key`]; `None` for anything else.
pub fn parse_key(raw: &[u8]) -> Option<KeyId> {
    let s = std::str::from_utf8(raw).ok()?;
    let rest = s.strip_prefix('c')?;
    let (cycle, rest) = rest.split_once("-t")?;
    let (thread, rest) = rest.split_once('-')?;
    if cycle.len() != 4 || rest.len() < 8 {
        return None;
    }
    let (index, suffix) = rest.split_at(8);
    let suffix = SUFFIXES.iter().position(|s| *s == suffix)?;
    let id = KeyId {
        cycle: cycle.parse().ok()?,
        thread: thread.parse().ok()?,
        index: index.parse().ok()?,
        suffix,
    };
    // Reject non-canonical spellings (e.g. "+1"): the key must round-trip.
    (key(id.cycle, id.thread, id.index, SUFFIXES[id.suffix]) == s).then_some(id)
}

/// splitmix64: the harness's only source of randomness.
#[derive(Clone, Debug)]
pub struct Rng(u64);

impl Rng {
    /// A generator seeded with `seed`.
    pub fn new(seed: u64) -> Rng {
        Rng(seed)
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        mix(self.0)
    }

    /// A value in `lo..=hi`.
    pub fn range(&mut self, lo: u64, hi: u64) -> u64 {
        lo + self.next_u64() % (hi - lo + 1)
    }
}

fn mix(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// The value of a key: names the write it belongs to, then 0 to 199 bytes
/// of padding chosen by the cycle's seed.
pub fn value(seed: u64, id: KeyId) -> Vec<u8> {
    let h = mix(seed ^ (u64::from(id.cycle) << 48) ^ ((id.thread as u64) << 40) ^ id.index);
    let pad = (h % 200) as usize;
    format!(
        "v-{}-{}-{}{}-{}",
        id.cycle,
        id.thread,
        id.index,
        SUFFIXES[id.suffix],
        "x".repeat(pad)
    )
    .into_bytes()
}

/// Wall-clock nanoseconds (`CLOCK_REALTIME`). The writer and the parent are
/// separate processes on one machine, and std has no monotonic clock that
/// two processes can compare; the realtime clock is good enough for
/// comparisons at the millisecond scale of a cut.
pub fn now_ns() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(0)
}

/// Which store to drive.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StoreKind {
    /// `SimpleLsmStore`.
    Sync,
    /// `AsyncLsmStore`.
    Async,
}

impl StoreKind {
    /// Parses `sync` or `async`.
    pub fn parse(s: &str) -> Result<StoreKind> {
        match s {
            "sync" => Ok(StoreKind::Sync),
            "async" => Ok(StoreKind::Async),
            _ => bail!("unknown store `{s}` (sync|async)"),
        }
    }

    /// The command-line name.
    pub fn name(self) -> &'static str {
        match self {
            StoreKind::Sync => "sync",
            StoreKind::Async => "async",
        }
    }
}

/// The WAL sync modes the harness drives.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SyncKind {
    /// `SyncMode::Always`: acknowledged writes survive a power cut.
    Always,
    /// `SyncMode::Never`: acknowledged writes survive a process crash only.
    Never,
}

impl SyncKind {
    /// Parses `always` or `never`.
    pub fn parse(s: &str) -> Result<SyncKind> {
        match s {
            "always" => Ok(SyncKind::Always),
            "never" => Ok(SyncKind::Never),
            _ => bail!("unknown sync mode `{s}` (always|never)"),
        }
    }

    /// The command-line name.
    pub fn name(self) -> &'static str {
        match self {
            SyncKind::Always => "always",
            SyncKind::Never => "never",
        }
    }

    fn mode(self) -> SyncMode {
        match self {
            SyncKind::Always => SyncMode::Always,
            SyncKind::Never => SyncMode::Never,
        }
    }
}

/// The configuration of `lsm_testkit::crash::crash_config` with the given
/// sync mode: small memtables, tables and WAL segments, so flushes,
/// compactions and WAL rotations happen every few hundred writes.
pub fn config(dir: &Path, sync: SyncKind) -> Result<LsmConfig> {
    Ok(LsmConfig::builder(dir)
        .memtable_bytes(32 * 1024)
        .table_target_bytes(16 * 1024)
        .base_level_bytes(64 * 1024)
        .wal_segment_bytes(64 * 1024)
        .l0_trigger(2)
        .num_levels(4)
        .wal_sync(sync.mode())
        .build()?)
}

/// Either store, behind the few calls the harness makes.
#[derive(Debug)]
pub enum Store {
    /// `SimpleLsmStore`.
    Sync(SimpleLsmStore),
    /// `AsyncLsmStore`.
    Async(AsyncLsmStore),
}

impl Store {
    /// Opens (recovers) the store in `dir`. For the async store, also waits
    /// until every recovered write is visible to reads.
    pub fn open(kind: StoreKind, dir: &Path, sync: SyncKind) -> Result<Store> {
        let config = config(dir, sync)?;
        match kind {
            StoreKind::Sync => Ok(Store::Sync(SimpleLsmStore::open(config)?)),
            StoreKind::Async => {
                let store = AsyncLsmStore::open(config)?;
                let last = store.last_seq();
                if !store.wait_for_seq(last, Duration::from_secs(30)) {
                    bail!(
                        "recovered writes up to seq {last} not visible after 30 s (visible: {})",
                        store.visible_seq()
                    );
                }
                Ok(Store::Async(store))
            }
        }
    }

    /// Puts one key; returns once the store acknowledges it.
    pub fn put(&self, key: &[u8], value: &[u8]) -> Result<()> {
        match self {
            Store::Sync(s) => s.put(key, value).map(drop)?,
            Store::Async(s) => s.put(key, value).map(drop)?,
        }
        Ok(())
    }

    /// Writes a batch atomically; returns once the store acknowledges it.
    pub fn write(&self, batch: &WriteBatch) -> Result<()> {
        match self {
            Store::Sync(s) => s.write(batch).map(drop)?,
            Store::Async(s) => s.write(batch).map(drop)?,
        }
        Ok(())
    }

    /// Every live pair, in key order.
    pub fn scan_all(&self) -> Result<Vec<(Vec<u8>, Vec<u8>)>> {
        match self {
            Store::Sync(s) => scan_all(s),
            Store::Async(s) => scan_all(s),
        }
    }

    /// Writes a checkpoint into `dir` (missing or empty); returns its
    /// sequence number.
    pub fn checkpoint(&self, dir: &Path) -> Result<u64> {
        let info = match self {
            Store::Sync(s) => s.checkpoint(dir)?,
            Store::Async(s) => s.checkpoint(dir)?,
        };
        Ok(info.seq)
    }

    /// Closes the store (syncs the WAL).
    pub fn close(&self) -> Result<()> {
        match self {
            Store::Sync(s) => s.close()?,
            Store::Async(s) => s.close()?,
        }
        Ok(())
    }
}

/// Every live pair of `store`, in key order.
fn scan_all<S: KvStore>(store: &S) -> Result<Vec<(Vec<u8>, Vec<u8>)>> {
    let mut out = Vec::new();
    for item in store.range(Bound::Unbounded, Bound::Unbounded)? {
        out.push(item.context("range scan")?);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_round_trip_and_sort_by_index() {
        for (suffix, text) in SUFFIXES.iter().enumerate() {
            let id = KeyId {
                cycle: 12,
                thread: 3,
                index: 4567,
                suffix,
            };
            let k = key(id.cycle, id.thread, id.index, text);
            assert_eq!(parse_key(k.as_bytes()), Some(id));
        }
        assert_eq!(parse_key(b"c0001-t0-0000001"), None);
        assert_eq!(parse_key(b"c0001-t0-00000001-c"), None);
        assert_eq!(parse_key(b"x"), None);
        assert!(key(0, 0, 9, "-b") < key(0, 0, 10, ""));
        assert!(key(0, 0, 9, "") < key(0, 0, 9, "-a"));
    }

    #[test]
    fn batches_are_every_tenth_write_and_values_depend_on_seed() {
        assert!(!is_batch(0));
        assert!(is_batch(9));
        assert!(is_batch(19));
        let id = KeyId {
            cycle: 0,
            thread: 1,
            index: 2,
            suffix: 0,
        };
        assert!(value(1, id).starts_with(b"v-0-1-2-"));
        let differs = (0..20).any(|seed| value(seed, id) != value(seed + 1, id));
        assert!(differs);
    }
}
