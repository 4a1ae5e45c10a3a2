//! What the writer writes and how the checker recognizes it: the schedule
//! of operations, keys, values, keyspace names, the store configuration,
//! and one handle over both stores.
//!
//! Each writer thread runs one fixed schedule of operations, numbered by
//! its write index `i` ([`op_kind`]); the checker holds a recovered store
//! against the state after the first `k` operations of each thread
//! (`crate::prefix`). Every operation has an effect the checker can see:
//! a put or a batch adds keys, a range delete hides keys of the thread's
//! earlier writes, a create lists a keyspace name, a drop removes it.

use std::ops::Bound;
use std::path::Path;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::{bail, Context, Result};
use lsm_core::{KeyspaceId, SeqNo, WriteBatch};
use lsm_store_async::AsyncLsmStore;
use lsm_store_sync::{KvStore, LsmConfig, SimpleLsmStore, SyncMode, WriteOptions};

/// The period of a thread's keyspace schedule: write `i` with
/// `i % KEYSPACE_EVERY == 0` creates the thread's keyspace number
/// `i / KEYSPACE_EVERY`, and the last write of the period drops it.
pub const KEYSPACE_EVERY: u64 = 40;

/// How far a range delete reaches behind its own write index: range
/// delete `r` deletes the default-keyspace keys of writes `r - 3 .. r + 3`
/// (`[key(r - 3, ""), key(r + 3, ""))`). Writes `r - 3` and `r - 1` are
/// puts made before it (gone once it is applied), `r + 1` and `r + 2` a put
/// and a batch made after it (never hidden by it).
pub const RANGE_DELETE_BEHIND: u64 = 3;
/// How far a range delete reaches ahead of its own write index (see
/// [`RANGE_DELETE_BEHIND`]).
pub const RANGE_DELETE_AHEAD: u64 = 3;

/// The key suffixes of one write: a plain put writes only `""`, a batch
/// writes all three (and one key in the thread's keyspace).
pub const SUFFIXES: [&str; 3] = ["", "-a", "-b"];

/// What write `i` of a thread does (see [`op_kind`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum OpKind {
    /// One key in the default keyspace.
    Put,
    /// One batch: the three [`SUFFIXES`] keys in the default keyspace and
    /// one key in the thread's current keyspace.
    Batch,
    /// A range delete of the default keyspace over the thread's own keys
    /// ([`range_delete_covers`]); under `--sync never` one in
    /// [`KEYSPACE_EVERY`] writes of thread 0 is written with
    /// `WriteOptions::SYNC` ([`synced_under_never`]).
    RangeDelete,
    /// Creates the thread's next keyspace ([`keyspace_name`]).
    KeyspaceCreate,
    /// One key in the thread's current keyspace.
    KeyspacePut,
    /// Drops the thread's current keyspace.
    KeyspaceDrop,
}

impl OpKind {
    /// Every kind, in the order the reports list them.
    pub const ALL: [OpKind; 6] = [
        OpKind::Put,
        OpKind::Batch,
        OpKind::RangeDelete,
        OpKind::KeyspaceCreate,
        OpKind::KeyspacePut,
        OpKind::KeyspaceDrop,
    ];

    /// The name in reports.
    pub fn name(self) -> &'static str {
        match self {
            OpKind::Put => "put",
            OpKind::Batch => "batch",
            OpKind::RangeDelete => "range_delete",
            OpKind::KeyspaceCreate => "ks_create",
            OpKind::KeyspacePut => "ks_put",
            OpKind::KeyspaceDrop => "ks_drop",
        }
    }

    /// Whether the operation writes a key in the default keyspace.
    pub fn writes_default_keys(self) -> bool {
        matches!(self, OpKind::Put | OpKind::Batch)
    }

    /// Whether the operation writes a key in the thread's keyspace.
    pub fn writes_keyspace_key(self) -> bool {
        matches!(self, OpKind::Batch | OpKind::KeyspacePut)
    }

    /// The mask of [`SUFFIXES`] the operation writes in the default
    /// keyspace (0 for none).
    pub fn default_mask(self) -> u8 {
        match self {
            OpKind::Put => 0b001,
            OpKind::Batch => 0b111,
            _ => 0,
        }
    }
}

/// The operation of write `i` of a thread. Per [`KEYSPACE_EVERY`] writes:
/// the first creates a keyspace and the last drops it; between them, by
/// `i % 10`: 5 puts a key into the keyspace, 7 is a range delete, 9 a
/// batch spanning the default keyspace and the keyspace, anything else a
/// put.
pub fn op_kind(i: u64) -> OpKind {
    match (i % KEYSPACE_EVERY, i % 10) {
        (0, _) => OpKind::KeyspaceCreate,
        (p, _) if p == KEYSPACE_EVERY - 1 => OpKind::KeyspaceDrop,
        (_, 5) => OpKind::KeyspacePut,
        (_, 7) => OpKind::RangeDelete,
        (_, 9) => OpKind::Batch,
        _ => OpKind::Put,
    }
}

/// Whether write `i` of `thread` is written with `WriteOptions::SYNC`
/// under `--sync never`, so acknowledged durable (and with it everything
/// the WAL holds before it): one range delete per [`KEYSPACE_EVERY`]
/// writes of thread 0. Rare enough that a power cut still takes the
/// unsynced writes since the last one (about `4 * KEYSPACE_EVERY` writes
/// with four threads), often enough that every cut has durable writes to
/// check.
pub fn synced_under_never(thread: usize, i: u64) -> bool {
    thread == 0 && i % KEYSPACE_EVERY == 17
}

/// Whether range delete `r` of a thread covers the default-keyspace keys
/// of the same thread's write `j` (it hides them if `j < r`).
pub fn range_delete_covers(r: u64, j: u64) -> bool {
    r.saturating_sub(RANGE_DELETE_BEHIND) <= j && j < r + RANGE_DELETE_AHEAD
}

/// The bounds `[start, end)` of range delete `r` of `thread` in `cycle`.
pub fn range_delete_bounds(cycle: u32, thread: usize, r: u64) -> (String, String) {
    (
        key(cycle, thread, r.saturating_sub(RANGE_DELETE_BEHIND), ""),
        key(cycle, thread, r + RANGE_DELETE_AHEAD, ""),
    )
}

/// The keyspace epoch write `i` belongs to: the number of the keyspace
/// the thread has while it runs.
pub fn keyspace_epoch(i: u64) -> u64 {
    i / KEYSPACE_EVERY
}

/// The write index that creates keyspace `epoch` of a thread.
pub fn keyspace_create_index(epoch: u64) -> u64 {
    epoch * KEYSPACE_EVERY
}

/// The write index that drops keyspace `epoch` of a thread.
pub fn keyspace_drop_index(epoch: u64) -> u64 {
    epoch * KEYSPACE_EVERY + KEYSPACE_EVERY - 1
}

/// The name of keyspace `epoch` of `thread` in `cycle`: `ks{epoch}` under
/// the cycle's and thread's prefix, so names are never reused.
pub fn keyspace_name(cycle: u32, thread: usize, epoch: u64) -> String {
    format!("c{cycle:04}-t{thread}-ks{epoch}")
}

/// A parsed keyspace name: cycle, thread, epoch.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct KeyspaceNameId {
    /// The cycle that created it.
    pub cycle: u32,
    /// The writer thread.
    pub thread: usize,
    /// The thread's keyspace number.
    pub epoch: u64,
}

/// Parses a name made by [`keyspace_name`]; `None` for anything else.
pub fn parse_keyspace_name(name: &str) -> Option<KeyspaceNameId> {
    let rest = name.strip_prefix('c')?;
    let (cycle, rest) = rest.split_once("-t")?;
    let (thread, epoch) = rest.split_once("-ks")?;
    if cycle.len() != 4 {
        return None;
    }
    let id = KeyspaceNameId {
        cycle: cycle.parse().ok()?,
        thread: thread.parse().ok()?,
        epoch: epoch.parse().ok()?,
    };
    (keyspace_name(id.cycle, id.thread, id.epoch) == name).then_some(id)
}

/// The key write `i` puts into the thread's keyspace.
pub fn keyspace_key(i: u64) -> String {
    format!("k{i:08}")
}

/// Parses a key made by [`keyspace_key`]; `None` for anything else.
pub fn parse_keyspace_key(raw: &[u8]) -> Option<u64> {
    let s = std::str::from_utf8(raw).ok()?;
    let index: u64 = s.strip_prefix('k')?.parse().ok()?;
    (keyspace_key(index) == s).then_some(index)
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

/// The value write `i` of `thread` in `cycle` puts into the thread's
/// keyspace: names the write, then 0 to 199 bytes of padding chosen by the
/// cycle's seed.
pub fn keyspace_value(seed: u64, cycle: u32, thread: usize, i: u64) -> Vec<u8> {
    let h = mix(!seed ^ (u64::from(cycle) << 48) ^ ((thread as u64) << 40) ^ i);
    format!("ks-{cycle}-{thread}-{i}-{}", "y".repeat((h % 200) as usize)).into_bytes()
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

    /// Puts one key; returns its sequence number once the store
    /// acknowledges it.
    pub fn put(&self, key: &[u8], value: &[u8]) -> Result<SeqNo> {
        Ok(match self {
            Store::Sync(s) => KvStore::put(s, key, value)?,
            Store::Async(s) => KvStore::put(s, key, value)?,
        })
    }

    /// Writes a batch atomically, fdatasynced before it returns if `sync`
    /// (`WriteOptions::SYNC`), else as the sync mode says; returns its last
    /// sequence number once the store acknowledges it.
    pub fn write(&self, batch: &WriteBatch, sync: bool) -> Result<SeqNo> {
        let options = if sync {
            WriteOptions::SYNC
        } else {
            WriteOptions::default()
        };
        Ok(match self {
            Store::Sync(s) => s.write_with(batch, &options)?,
            Store::Async(s) => s.write_with(batch, &options)?,
        })
    }

    /// The id of keyspace `name`, creating it (one WAL record) if missing.
    pub fn open_keyspace(&self, name: &str) -> Result<KeyspaceId> {
        Ok(match self {
            Store::Sync(s) => KvStore::open_keyspace(s, name)?,
            Store::Async(s) => KvStore::open_keyspace(s, name)?,
        })
    }

    /// Drops keyspace `name` (one WAL record); returns its sequence number.
    pub fn drop_keyspace(&self, name: &str) -> Result<SeqNo> {
        Ok(match self {
            Store::Sync(s) => s.drop_keyspace(name)?,
            Store::Async(s) => s.drop_keyspace(name)?,
        })
    }

    /// The names of the keyspaces, in order.
    pub fn keyspace_names(&self) -> Result<Vec<String>> {
        Ok(match self {
            Store::Sync(s) => s.keyspace_names()?,
            Store::Async(s) => s.keyspace_names()?,
        })
    }

    /// Every live pair of keyspace `id` (listed or not), in key order.
    pub fn scan_keyspace(&self, id: KeyspaceId) -> Result<Vec<(Vec<u8>, Vec<u8>)>> {
        match self {
            Store::Sync(s) => scan_in(s, id),
            Store::Async(s) => scan_in(s, id),
        }
    }

    /// Every live pair of the default keyspace, in key order.
    pub fn scan_all(&self) -> Result<Vec<(Vec<u8>, Vec<u8>)>> {
        self.scan_keyspace(KeyspaceId::DEFAULT)
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

/// Every live pair of keyspace `id` of `store`, in key order.
fn scan_in<S: KvStore>(store: &S, id: KeyspaceId) -> Result<Vec<(Vec<u8>, Vec<u8>)>> {
    let mut out = Vec::new();
    for item in store.range_in(id, Bound::Unbounded, Bound::Unbounded)? {
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
    fn the_schedule_has_every_kind_and_values_depend_on_seed() {
        let kinds: Vec<OpKind> = (0..12).map(op_kind).collect();
        use OpKind::*;
        assert_eq!(
            kinds,
            [
                KeyspaceCreate,
                Put,
                Put,
                Put,
                Put,
                KeyspacePut,
                Put,
                RangeDelete,
                Put,
                Batch,
                Put,
                Put
            ]
        );
        assert_eq!(op_kind(39), KeyspaceDrop);
        assert_eq!(op_kind(40), KeyspaceCreate);
        assert_eq!(keyspace_drop_index(keyspace_epoch(77)), 79);
        let id = KeyId {
            cycle: 0,
            thread: 1,
            index: 2,
            suffix: 0,
        };
        assert!(value(1, id).starts_with(b"v-0-1-2-"));
        let differs = (0..20).any(|seed| value(seed, id) != value(seed + 1, id));
        assert!(differs);
        assert!(keyspace_value(1, 0, 1, 2).starts_with(b"ks-0-1-2-"));
    }

    /// A range delete covers three writes behind it and two ahead, every
    /// suffix of each, and nothing of the writes around them.
    #[test]
    fn range_delete_bounds_cover_exactly_their_writes() {
        let (start, end) = range_delete_bounds(3, 1, 17);
        for j in 10..25 {
            for suffix in SUFFIXES {
                let k = key(3, 1, j, suffix);
                let inside = start <= k && k < end;
                assert_eq!(inside, range_delete_covers(17, j), "{k}");
                assert_eq!(inside, (14..20).contains(&j), "{k}");
            }
        }
        assert!(key(3, 0, 15, "") < start && end < key(3, 2, 15, ""));
    }

    #[test]
    fn keyspace_names_and_keys_round_trip() {
        let name = keyspace_name(12, 3, 45);
        assert_eq!(name, "c0012-t3-ks45");
        assert_eq!(
            parse_keyspace_name(&name),
            Some(KeyspaceNameId {
                cycle: 12,
                thread: 3,
                epoch: 45
            })
        );
        assert_eq!(parse_keyspace_name("c12-t3-ks45"), None);
        assert_eq!(parse_keyspace_name("c0012-t3-ks+45"), None);
        assert_eq!(parse_keyspace_key(keyspace_key(77).as_bytes()), Some(77));
        assert_eq!(parse_keyspace_key(b"k77"), None);
    }
}
