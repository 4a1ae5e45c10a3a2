//! The memtable: a concurrent, multi-version, sorted map of internal keys.
//!
//! Invariants:
//! - Every `(user_key, seq, kind)` is at most one entry. Inserting the same
//!   internal key again (a WAL replayed twice after a crash) keeps the
//!   *first* entry and drops the new one without counting it.
//! - Entries are never removed or changed once inserted; the memtable only
//!   grows until it is dropped.
//! - `approximate_bytes`, `min_seq` and `max_seq` only ever move one way
//!   (up, down, up) and count each stored entry exactly once.

use std::fmt;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;

use lsm_core::checksum::key_hash;
use lsm_core::key::{pack_trailer, TRAILER_BYTES};
use lsm_core::{BatchOp, Lookup, RangeTombstone, RangeTombstones, SeqNo, ValueKind, MAX_SEQNO};
use parking_lot::Mutex;

use crate::arena_skiplist::{SkipList, CHUNK_BYTES};
use crate::entry::{kind_of, seq_of, KeyProbe};
use crate::iterator::MemtableIterator;
use crate::point_filter::PointFilter;

/// Bytes charged per entry on top of its key, trailer and value, so that
/// [`Memtable::approximate_bytes`] tracks the real heap use: what an
/// entry's arena node costs on average. (Charging each node's exact size
/// would make the charge depend on its random height, so two memtables
/// with the same entries would differ in size.)
///
/// Where it comes from (64-bit): an entry's node in the arena holds one
/// 8-byte link per tower level (2 levels on average: 1 + 1/2 + 1/4 + ...),
/// so 16 bytes, a varint length each for key and value (2 bytes below
/// 128), and pads the node to 8 bytes (3.5 on average); there is no
/// per-entry malloc.
///
/// Measured as RSS growth over 1M inserts of 16-byte keys (random order)
/// with 100-byte values, real bytes per entry minus key + trailer + value
/// were 20.2 (with these sizes a node pads 2 bytes, not 3.5); the
/// crossbeam-skiplist memtable this replaced cost 94.7 there.
/// (`cargo run --release -p lsm-memtable --example bytes_per_entry`.)
pub const ENTRY_OVERHEAD_BYTES: usize = 21;

/// Sentinel in `min_seq`: no entry yet (real sequence numbers are at most
/// [`MAX_SEQNO`], far below it).
const NO_MIN_SEQ: u64 = u64::MAX;

/// The arena chunks that hold `ahead` bytes of prepared memory: at least
/// one (see [`Memtable::wants_memory`]).
fn chunks_ahead(ahead: usize) -> usize {
    ahead.div_ceil(CHUNK_BYTES).max(1)
}

/// The in-memory write buffer: every version of every key written since the
/// last flush, sorted by internal key.
///
/// `Send + Sync`: writers insert concurrently through `&self`, readers never
/// take a lock. See the crate docs for what it guarantees.
#[doc(alias = "write buffer")]
pub struct Memtable {
    // Every field but `range_tombstones` is lock-free: the skiplist is
    // concurrent (its arena takes a mutex only to add a 2 MiB chunk, to
    // give an entry of 128 KiB or more a chunk of its own, and to move
    // spare chunks), the rest atomic.
    /// The entries, ordered by internal key, in the skiplist's arena.
    /// Shared with the cursors, which keep it alive.
    pub(crate) entries: Arc<SkipList>,
    /// The range deletes, indexed; replaced by each new batch of them (the
    /// new set shares the old one's larger runs). The mutex guards the replacement; readers clone the `Arc` and
    /// let go, and skip the lock while `has_range_tombstones` is false.
    range_tombstones: Mutex<Arc<RangeTombstones>>,
    /// Set (Release) once a range delete is stored; read Acquire.
    has_range_tombstones: AtomicBool,
    /// Sum of the stored entries' charges (key + trailer + value +
    /// [`ENTRY_OVERHEAD_BYTES`]). Relaxed: a counter.
    approximate_bytes: AtomicUsize,
    /// Smallest stored sequence number, or [`NO_MIN_SEQ`]. Relaxed.
    min_seq: AtomicU64,
    /// Largest stored sequence number plus one, or 0 when empty. Relaxed.
    max_seq_plus_one: AtomicU64,
    /// Set once by [`Memtable::freeze`]; Release/Acquire.
    frozen: AtomicBool,
    /// The keys of the point entries, so a point read of a key not here
    /// skips the skiplist search ([`Memtable::with_point_filter`]).
    point_filter: Option<PointFilter>,
}

/// Memtable bytes per byte of point filter ([`Memtable::with_point_filter`]).
const POINT_FILTER_RATIO: usize = 64;

impl Memtable {
    /// An empty, mutable memtable.
    pub fn new() -> Self {
        Self::build(None)
    }

    /// An empty, mutable memtable with a point-lookup filter of about
    /// `memtable_bytes / 64` bytes (1 MiB for a 64 MiB memtable: about 18
    /// bits per entry of 150 bytes), which [`Memtable::get`] consults
    /// before it searches: a key the memtable does not hold is then
    /// usually answered without touching the skiplist. The filter's memory
    /// is not counted in [`Memtable::approximate_bytes`].
    pub fn with_point_filter(memtable_bytes: usize) -> Self {
        Self::build(Some(PointFilter::with_bytes(
            memtable_bytes / POINT_FILTER_RATIO,
        )))
    }

    fn build(point_filter: Option<PointFilter>) -> Self {
        Memtable {
            entries: Arc::new(SkipList::new()),
            range_tombstones: Mutex::new(RangeTombstones::empty()),
            has_range_tombstones: AtomicBool::new(false),
            approximate_bytes: AtomicUsize::new(0),
            min_seq: AtomicU64::new(NO_MIN_SEQ),
            max_seq_plus_one: AtomicU64::new(0),
            frozen: AtomicBool::new(false),
            point_filter,
        }
    }

    /// Bytes of memory prepared ahead of the memtable's next entries
    /// ([`Memtable::prepare_memory`]) and not used yet: a whole number of
    /// the arena's 2 MiB chunks. A relaxed load.
    pub fn prepared_bytes(&self) -> usize {
        self.entries.spare_chunks() * CHUNK_BYTES
    }

    /// True when less than `ahead` bytes of memory are prepared, or none
    /// when `ahead` is 0 ([`Memtable::prepare_memory`]). A relaxed load.
    pub fn wants_memory(&self, ahead: usize) -> bool {
        self.entries.spare_chunks() < chunks_ahead(ahead)
    }

    /// Allocates the memory the memtable's next 2 MiB of entries will
    /// take, and touches every page of it so that the kernel backs it now,
    /// on the calling thread, instead of inside the insert that first
    /// needs it (the first touch of a fresh huge page took 0.5-6 ms where
    /// this was measured). For a background thread; it faults the memory
    /// in holding no lock, then takes the arena's chunk mutex (which an
    /// insert takes only to start a new chunk) to add it. False, doing
    /// nothing, unless
    /// [`Memtable::wants_memory`]`(ahead)`. The memory is not counted in
    /// [`Memtable::approximate_bytes`] until entries use it.
    pub fn prepare_memory(&self, ahead: usize) -> bool {
        self.entries.prepare_spare_chunk(chunks_ahead(ahead))
    }

    /// Moves all the memory `from` prepared ([`Memtable::prepare_memory`])
    /// and has not used to this memtable. A freeze hands the frozen
    /// memtable's to its successor, which would otherwise fault in fresh
    /// memory for its first inserts while the frozen one held unused
    /// memory until flushed. True if it moved any.
    pub fn adopt_prepared_memory(&self, from: &Memtable) -> bool {
        self.entries.adopt_spare_chunks(&from.entries) > 0
    }

    /// Inserts one version: `value` for a [`ValueKind::Put`], a tombstone for
    /// a [`ValueKind::Delete`] (whose `value` must be empty).
    ///
    /// Safe to call from many threads at once. If this exact internal key
    /// `(user_key, seq, kind)` is already present, the first entry is kept
    /// and this call changes nothing.
    ///
    /// REQUIRES: the memtable is not frozen; `seq <= MAX_SEQNO`; sequence
    /// numbers are unique per operation (two different operations with the
    /// same `(user_key, seq)` would both be kept, the put sorting first).
    pub fn insert(&self, user_key: &[u8], seq: SeqNo, kind: ValueKind, value: &[u8]) {
        debug_assert!(!self.is_frozen(), "insert into a frozen memtable");
        debug_assert!(seq <= MAX_SEQNO, "sequence number {seq} exceeds 56 bits");
        debug_assert!(
            kind == ValueKind::Put || value.is_empty(),
            "a tombstone carries no value"
        );
        let charge = user_key.len() + TRAILER_BYTES + value.len() + ENTRY_OVERHEAD_BYTES;
        // The filter's word is read now and set once the entry is linked,
        // before this returns (see `point_filter`): a reader that can see
        // the entry through its published sequence number sees its bits.
        let slot = self
            .point_filter
            .as_ref()
            .map(|filter| filter.slot(user_key));
        // False: a replayed duplicate; the first copy stays, nothing to count.
        let inserted = self
            .entries
            .insert(user_key, pack_trailer(seq, kind), value);
        if let Some(slot) = slot {
            slot.set();
        }
        if inserted {
            self.count(charge, seq);
        }
    }

    fn count(&self, charge: usize, seq: SeqNo) {
        self.approximate_bytes.fetch_add(charge, Ordering::Relaxed);
        self.min_seq.fetch_min(seq, Ordering::Relaxed);
        self.max_seq_plus_one.fetch_max(seq + 1, Ordering::Relaxed);
    }

    /// Stores a range delete of the tree keys `[start, end)` at `seq`. A
    /// replayed duplicate (same `seq`) changes nothing.
    ///
    /// Costs `O(log² n)` amortized in the range deletes this memtable
    /// holds, whatever their overlaps ([`RangeTombstones::with`]).
    /// [`Memtable::apply`] adds a batch's range deletes in one step. REQUIRES: as for [`Memtable::insert`].
    pub fn insert_range_tombstone(&self, start: &[u8], end: &[u8], seq: SeqNo) {
        self.insert_range_tombstones(vec![RangeTombstone::new(start.to_vec(), end.to_vec(), seq)]);
    }

    /// Stores `tombstones` in one step; those
    /// whose sequence number is stored already (a replayed duplicate)
    /// change nothing.
    fn insert_range_tombstones(&self, mut tombstones: Vec<RangeTombstone>) {
        debug_assert!(!self.is_frozen(), "insert into a frozen memtable");
        let mut set = self.range_tombstones.lock();
        tombstones.retain(|t| !set.contains_seq(t.seq));
        if tombstones.is_empty() {
            return;
        }
        let before = set.heap_bytes();
        *set = Arc::new(set.with(&tombstones));
        // What the set grew by (its index takes `O(log n)` sequence numbers
        // per range delete), not only the range deletes' keys.
        let grown = set.heap_bytes().saturating_sub(before);
        self.has_range_tombstones.store(true, Ordering::Release);
        drop(set);
        for tombstone in &tombstones {
            self.count(ENTRY_OVERHEAD_BYTES, tombstone.seq);
        }
        self.count(grown, tombstones[0].seq);
    }

    /// The range deletes stored so far (an empty set when there are none,
    /// without taking the lock).
    pub fn range_tombstones(&self) -> Arc<RangeTombstones> {
        if !self.has_range_tombstones.load(Ordering::Acquire) {
            return RangeTombstones::empty();
        }
        Arc::clone(&self.range_tombstones.lock())
    }

    /// True when a range delete was stored.
    pub fn has_range_tombstones(&self) -> bool {
        self.has_range_tombstones.load(Ordering::Acquire)
    }

    /// Inserts every operation of a batch, each with its own `op.seq`
    /// (range deletes into the range-tombstone set).
    ///
    /// Not atomic towards concurrent readers: the store makes a batch
    /// visible by publishing its last sequence number only after this
    /// returns. REQUIRES: as for [`Memtable::insert`].
    pub fn apply<'a>(&self, ops: impl IntoIterator<Item = BatchOp<'a>>) {
        let mut range_tombstones = Vec::new();
        for op in ops {
            match op.kind.value_kind() {
                Some(kind) => self.insert(op.key, op.seq, kind, op.value),
                None => range_tombstones.push(RangeTombstone::new(
                    op.key.to_vec(),
                    op.value.to_vec(),
                    op.seq,
                )),
            }
        }
        // One addition to the set for the whole batch.
        if !range_tombstones.is_empty() {
            self.insert_range_tombstones(range_tombstones);
        }
    }

    /// The newest entry of `user_key` with a sequence number `<= snapshot`:
    /// `Some(Lookup::Value)` for a put, `Some(Lookup::Deleted)` for a
    /// tombstone, `None` when this memtable holds no such version (ask the
    /// next layer).
    ///
    /// Never blocks. A value is copied out of the memtable's arena into a
    /// fresh [`bytes::Bytes`] (one allocation), so it outlives the memtable.
    pub fn get(&self, user_key: &[u8], snapshot: SeqNo) -> Option<Lookup> {
        self.get_with_seq(user_key, snapshot)
            .map(|(lookup, _)| lookup)
    }

    /// [`Memtable::get`], with the sequence number of the version found.
    pub fn get_with_seq(&self, user_key: &[u8], snapshot: SeqNo) -> Option<(Lookup, SeqNo)> {
        self.get_hashed(user_key, key_hash(user_key), snapshot)
    }

    /// [`Memtable::get_with_seq`] for a key already hashed: `hash` is
    /// `lsm_core::checksum::key_hash(user_key)`, which a read that goes on
    /// to the tables' filters computes once for all of them.
    pub fn get_hashed(
        &self,
        user_key: &[u8],
        hash: u64,
        snapshot: SeqNo,
    ) -> Option<(Lookup, SeqNo)> {
        debug_assert_eq!(hash, key_hash(user_key), "hash of another key");
        if let Some(filter) = &self.point_filter {
            if !filter.may_contain_hash(hash) {
                return None;
            }
        }
        let probe = KeyProbe::for_snapshot(user_key, snapshot);
        let entry = self.entries.find_ge(&probe)?;
        if entry.user_key() != user_key {
            return None;
        }
        let trailer = entry.trailer();
        debug_assert!(seq_of(trailer) <= snapshot);
        let lookup = match kind_of(trailer) {
            ValueKind::Put => Lookup::Value(bytes::Bytes::copy_from_slice(entry.value)),
            ValueKind::Delete => Lookup::Deleted,
        };
        Some((lookup, seq_of(trailer)))
    }

    /// A cursor over every entry, in internal-key order. It holds a clone of
    /// the `Arc`, so it is `'static` and keeps the memtable alive.
    pub fn iter(self: &Arc<Self>) -> MemtableIterator {
        MemtableIterator::new(Arc::clone(self))
    }

    /// Heap bytes the entries take, estimated as key + 8-byte trailer +
    /// value + [`ENTRY_OVERHEAD_BYTES`] per entry (the arena's real bytes on
    /// average; free space left at the end of its 2 MiB chunks is not
    /// counted). Never decreases.
    pub fn approximate_bytes(&self) -> usize {
        self.approximate_bytes.load(Ordering::Relaxed)
    }

    /// Number of entries (versions, tombstones included).
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// True when no entry and no range delete has been inserted.
    pub fn is_empty(&self) -> bool {
        self.entries.len() == 0 && !self.has_range_tombstones()
    }

    /// Marks the memtable immutable: it is about to be flushed, and any
    /// later insert is a bug (caught by a `debug_assert!`). Idempotent.
    pub fn freeze(&self) {
        self.frozen.store(true, Ordering::Release);
    }

    /// True once [`Memtable::freeze`] has been called.
    pub fn is_frozen(&self) -> bool {
        self.frozen.load(Ordering::Acquire)
    }

    /// The smallest sequence number stored, `None` when empty. Exact once
    /// every insert has returned (e.g. for a frozen memtable).
    pub fn min_seq(&self) -> Option<SeqNo> {
        match self.min_seq.load(Ordering::Relaxed) {
            NO_MIN_SEQ => None,
            seq => Some(seq),
        }
    }

    /// The largest sequence number stored, `None` when empty. Exact once
    /// every insert has returned (e.g. for a frozen memtable).
    pub fn max_seq(&self) -> Option<SeqNo> {
        self.max_seq_plus_one.load(Ordering::Relaxed).checked_sub(1)
    }
}

impl Default for Memtable {
    fn default() -> Self {
        Memtable::new()
    }
}

impl fmt::Debug for Memtable {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Memtable")
            .field("len", &self.len())
            .field("approximate_bytes", &self.approximate_bytes())
            .field("min_seq", &self.min_seq())
            .field("max_seq", &self.max_seq())
            .field("frozen", &self.is_frozen())
            .field(
                "point_filter_bytes",
                &self.point_filter.as_ref().map(PointFilter::bytes),
            )
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use lsm_core::{InternalIterator, WriteBatch};

    fn value(s: &str) -> Option<Lookup> {
        Some(Lookup::Value(s.as_bytes().to_vec().into()))
    }

    #[test]
    fn prepared_memory_is_taken_by_the_inserts_that_need_it() {
        const CHUNK: usize = CHUNK_BYTES;
        let m = Memtable::new();
        assert!(m.wants_memory(0), "a new memtable has nothing prepared");
        assert!(m.prepare_memory(0));
        assert_eq!(m.prepared_bytes(), CHUNK);
        assert!(!m.wants_memory(0) && !m.wants_memory(CHUNK));
        assert!(!m.prepare_memory(0), "one chunk for anything up to 2 MiB");
        assert!(m.wants_memory(CHUNK + 1), "but two for more");
        assert_eq!(m.approximate_bytes(), 0, "prepared memory holds no entry");
        m.insert(b"k", 1, ValueKind::Put, b"v");
        assert!(
            m.wants_memory(0),
            "the first insert took the prepared chunk"
        );
        assert_eq!(m.prepared_bytes(), 0);
        assert!(m.prepare_memory(0));
        // Entries fill the first chunk and go on into the prepared one.
        let value = vec![7u8; 1000];
        for seq in 2..3000u64 {
            m.insert(&seq.to_be_bytes(), seq, ValueKind::Put, &value);
        }
        assert!(m.wants_memory(0), "a second chunk was needed and taken");
        let next = Memtable::new();
        assert!(!next.adopt_prepared_memory(&m), "nothing prepared to move");
        assert!(m.prepare_memory(3 * CHUNK));
        assert!(m.prepare_memory(3 * CHUNK));
        assert!(next.prepare_memory(0));
        assert!(next.adopt_prepared_memory(&m), "all of it moves");
        assert_eq!((m.prepared_bytes(), next.prepared_bytes()), (0, 3 * CHUNK));
        assert!(m.wants_memory(0) && !next.wants_memory(3 * CHUNK));
        for seq in 2..3000u64 {
            assert_eq!(
                m.get(&seq.to_be_bytes(), MAX_SEQNO),
                Some(Lookup::Value(value.clone().into()))
            );
        }
    }

    #[test]
    fn memtable_is_send_and_sync() {
        fn assert_send_sync<T: Send + Sync + 'static>() {}
        assert_send_sync::<Memtable>();
    }

    #[test]
    fn get_returns_newest_version_at_or_below_snapshot() {
        let m = Memtable::new();
        m.insert(b"k", 3, ValueKind::Put, b"v3");
        m.insert(b"k", 5, ValueKind::Delete, b"");
        m.insert(b"k", 8, ValueKind::Put, b"v8");
        m.insert(b"j", 4, ValueKind::Put, b"j4");
        m.insert(b"kk", 1, ValueKind::Put, b"kk1");

        assert_eq!(m.get(b"k", 0), None, "nothing that old");
        assert_eq!(m.get(b"k", 2), None);
        assert_eq!(m.get(b"k", 3), value("v3"));
        assert_eq!(m.get(b"k", 4), value("v3"));
        assert_eq!(m.get(b"k", 5), Some(Lookup::Deleted));
        assert_eq!(m.get(b"k", 7), Some(Lookup::Deleted));
        assert_eq!(m.get(b"k", 8), value("v8"));
        assert_eq!(m.get(b"k", MAX_SEQNO), value("v8"));
        assert_eq!(m.get(b"k", u64::MAX), value("v8"), "snapshot is clamped");
        assert_eq!(m.get(b"j", 3), None, "older than j's only version");
        assert_eq!(m.get(b"kk", 9), value("kk1"), "prefix keys do not mix");
        assert_eq!(m.get(b"", 9), None);
        assert_eq!(m.get(b"a", 9), None);
        assert_eq!(m.get(b"z", 9), None);
    }

    #[test]
    fn empty_user_key_and_value_are_stored() {
        let m = Memtable::new();
        m.insert(b"", 1, ValueKind::Put, b"");
        assert_eq!(m.get(b"", 1), value(""));
        assert_eq!(m.get(b"", 0), None);
    }

    #[test]
    fn duplicate_insert_keeps_first_and_is_not_counted() {
        let m = Memtable::new();
        m.insert(b"k", 7, ValueKind::Put, b"first");
        let bytes = m.approximate_bytes();
        m.insert(b"k", 7, ValueKind::Put, b"second, longer");
        assert_eq!(m.len(), 1);
        assert_eq!(m.approximate_bytes(), bytes);
        assert_eq!(m.get(b"k", 7), value("first"));
    }

    #[test]
    fn approximate_bytes_grows_monotonically_by_the_documented_charge() {
        let m = Memtable::new();
        assert_eq!(m.approximate_bytes(), 0);
        let mut last = 0;
        for i in 0..100u64 {
            let key = format!("key{i:03}");
            let val = "x".repeat(i as usize);
            m.insert(key.as_bytes(), i, ValueKind::Put, val.as_bytes());
            let now = m.approximate_bytes();
            assert_eq!(
                now - last,
                key.len() + TRAILER_BYTES + val.len() + ENTRY_OVERHEAD_BYTES
            );
            assert!(now > last);
            last = now;
        }
        m.insert(b"gone", 100, ValueKind::Delete, b"");
        assert!(m.approximate_bytes() > last, "tombstones are charged too");
    }

    /// 16-byte keys with 100-byte values (nodes pad 2 bytes), or keys and
    /// values of many lengths (all paddings, 1- and 2-byte lengths).
    fn sized_entry(mixed: bool, i: u64) -> (Vec<u8>, Vec<u8>) {
        if mixed {
            let key = format!("{i:08}").repeat(i as usize % 25);
            (key.into_bytes(), vec![7; i as usize % 200])
        } else {
            let key = format!("{:016}", i.wrapping_mul(0x9E37_79B9) % 10u64.pow(12));
            (key.into_bytes(), vec![7; 100])
        }
    }

    #[test]
    fn the_charge_tracks_the_arena_bytes_nodes_take() {
        for mixed in [false, true] {
            let m = Memtable::new();
            let n = 20_000u64;
            for i in 0..n {
                let (key, value) = sized_entry(mixed, i);
                m.insert(&key, i + 1, ValueKind::Put, &value);
            }
            // Tower heights are random; over 20k entries the mean is within
            // about 0.1 byte of its expectation.
            let real = m.entries.allocated_bytes() as f64;
            let difference = (real - m.approximate_bytes() as f64) / n as f64;
            assert!(
                difference.abs() < 2.0,
                "mixed {mixed}: arena bytes exceed the charge by {difference:.2} per entry"
            );
        }
    }

    #[test]
    fn len_min_seq_and_max_seq_track_inserts() {
        let m = Memtable::default();
        assert!(m.is_empty());
        assert_eq!((m.min_seq(), m.max_seq()), (None, None));
        m.insert(b"b", 10, ValueKind::Put, b"x");
        assert_eq!((m.min_seq(), m.max_seq()), (Some(10), Some(10)));
        m.insert(b"a", 0, ValueKind::Delete, b"");
        m.insert(b"c", 12, ValueKind::Put, b"y");
        assert_eq!((m.min_seq(), m.max_seq()), (Some(0), Some(12)));
        assert_eq!(m.len(), 3);
        assert!(!m.is_empty());
    }

    #[test]
    fn apply_inserts_each_op_with_its_own_seq() {
        let mut batch = WriteBatch::new();
        batch.put(b"a", b"1").delete(b"b").put(b"a", b"2");
        batch.set_first_seq(20);
        let m = Memtable::new();
        // Batch keys are tree keys: the default keyspace's prefix is 0.
        m.insert(b"\0b", 5, ValueKind::Put, b"old");
        m.apply(batch.iter());
        assert_eq!(m.len(), 4);
        assert_eq!(m.get(b"\0a", 20), value("1"));
        assert_eq!(m.get(b"\0a", 22), value("2"));
        assert_eq!(m.get(b"\0b", 20), value("old"));
        assert_eq!(m.get(b"\0b", 21), Some(Lookup::Deleted));
        assert_eq!((m.min_seq(), m.max_seq()), (Some(5), Some(22)));
    }

    #[test]
    fn range_deletes_go_to_the_tombstone_set_once() {
        let mut batch = WriteBatch::new();
        batch.put(b"c", b"1").delete_range(b"a", b"m");
        batch.set_first_seq(7);
        let m = Memtable::new();
        assert!(m.is_empty() && m.range_tombstones().is_empty());
        m.apply(batch.iter());
        m.apply(batch.iter()); // a replayed WAL
        assert_eq!(m.len(), 1, "the range delete is not a point entry");
        let set = m.range_tombstones();
        assert_eq!(set.len(), 1);
        assert_eq!(set.covering_seq(b"\0c", 100), Some(8));
        assert_eq!(set.covering_seq(b"\0m", 100), None);
        assert_eq!(m.max_seq(), Some(8), "the range delete's seq counts");
        let only_tombstone = Memtable::new();
        only_tombstone.insert_range_tombstone(b"\0a", b"\0b", 3);
        assert!(
            !only_tombstone.is_empty(),
            "a memtable holding a range delete needs a flush"
        );
    }

    #[test]
    fn freeze_is_sticky() {
        let m = Memtable::new();
        assert!(!m.is_frozen());
        m.insert(b"a", 1, ValueKind::Put, b"1");
        m.freeze();
        m.freeze();
        assert!(m.is_frozen());
        assert_eq!(m.get(b"a", 1), value("1"), "a frozen memtable still reads");
    }

    #[test]
    #[cfg(debug_assertions)]
    #[should_panic(expected = "frozen")]
    fn insert_after_freeze_trips_debug_assert() {
        let m = Memtable::new();
        m.freeze();
        m.insert(b"a", 1, ValueKind::Put, b"1");
    }

    fn value_of(lookup: Option<Lookup>) -> bytes::Bytes {
        match lookup {
            Some(Lookup::Value(value)) => value,
            other => panic!("expected a value, got {other:?}"),
        }
    }

    #[test]
    fn get_returns_the_value_as_an_owned_copy_that_outlives_the_memtable() {
        let m = Arc::new(Memtable::new());
        m.insert(b"k", 1, ValueKind::Put, b"the value");
        let first = value_of(m.get(b"k", 1));
        let second = value_of(m.get(b"k", 1));
        assert_eq!(first, &b"the value"[..]);
        assert_ne!(
            first.as_ptr(),
            second.as_ptr(),
            "entries are not shared: each read copies"
        );
        let mut cursor = m.iter().pin_values();
        cursor.seek_to_first().unwrap();
        assert_eq!(cursor.value_bytes(), first);
        drop((cursor, m));
        assert_eq!(first, &b"the value"[..]);
        assert_eq!(second, &b"the value"[..]);
    }

    #[test]
    fn a_tombstone_and_an_empty_value_read_as_empty_bytes() {
        let m = Arc::new(Memtable::new());
        m.insert(b"e", 1, ValueKind::Put, b"");
        m.insert(b"t", 2, ValueKind::Delete, b"");
        assert!(value_of(m.get(b"e", 1)).is_empty());
        let mut cursor = m.iter().pin_values();
        cursor.seek_to_first().unwrap();
        while cursor.valid() {
            assert!(cursor.value_bytes().is_empty());
            cursor.next().unwrap();
        }
    }
}
