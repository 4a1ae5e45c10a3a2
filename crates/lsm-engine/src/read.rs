//! The read path: a [`ReadView`] is one consistent view of the tree
//! (active memtable, frozen memtables, table version); point reads and range
//! iterators run against it without holding any store lock.
//!
//! Get: memtable -> frozen memtables newest first -> L0 tables newest first
//! -> one table per deeper level. The first layer that knows the key
//! answers (a tombstone answers "absent").

use std::ops::Bound;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use lsm_compaction::{BoxedIterator, LevelIterator, MergingIterator, TableSource};
use lsm_core::{
    parse_internal_key, Error as CoreError, InternalIterator, InternalKey, Lookup, RangeTombstones,
    SeqNo, ValueKind,
};
use lsm_manifest::Version;
use lsm_memtable::Memtable;

use crate::error::Result;
use crate::snapshot::SnapshotHandle;
use crate::table_cache::TableCache;

/// A frozen memtable waiting to be flushed.
#[derive(Clone, Debug)]
pub struct ImmutableMemtable {
    /// The frozen memtable.
    pub mem: Arc<Memtable>,
    /// The WAL segment created when it was frozen: every record of this
    /// memtable lives in a segment below it.
    pub next_wal_segment: u64,
}

/// One consistent view of the tree. Immutable but for `sealed_seq`.
#[derive(Debug)]
pub struct ReadView {
    /// The memtable taking writes when this view was made.
    pub mem: Arc<Memtable>,
    /// Frozen memtables, newest first.
    pub imm: Vec<ImmutableMemtable>,
    /// The table files.
    pub version: Arc<Version>,
    /// `u64::MAX` while `mem` takes writes; once `mem` is frozen, the last
    /// sequence number it holds. A reader of this view reads at no more than
    /// this, because newer writes went to a memtable this view lacks.
    sealed_seq: AtomicU64,
}

impl ReadView {
    /// A view whose active memtable is still taking writes.
    pub fn new(mem: Arc<Memtable>, imm: Vec<ImmutableMemtable>, version: Arc<Version>) -> Self {
        ReadView {
            mem,
            imm,
            version,
            sealed_seq: AtomicU64::new(u64::MAX),
        }
    }

    /// Records that `mem` was frozen holding writes up to `last_seq`.
    /// REQUIRES: called before the view replacing this one is published.
    pub fn seal(&self, last_seq: SeqNo) {
        self.sealed_seq.store(last_seq, Ordering::SeqCst);
    }

    /// The sequence number a reader of this view reads at, given the
    /// store's watermark loaded *after* this view was loaded.
    pub fn read_seq(&self, watermark: SeqNo) -> SeqNo {
        watermark.min(self.sealed_seq.load(Ordering::SeqCst))
    }

    /// Every range delete of the view (memtables and the version's), as one
    /// set. No merge (and no allocation) when only one layer holds any.
    pub fn range_tombstones(&self) -> Arc<RangeTombstones> {
        let mut sets: Vec<Arc<RangeTombstones>> = Vec::new();
        for mem in std::iter::once(&self.mem).chain(self.imm.iter().map(|m| &m.mem)) {
            if mem.has_range_tombstones() {
                sets.push(mem.range_tombstones());
            }
        }
        let flushed = self.version.range_tombstones();
        if !flushed.is_empty() {
            sets.push(Arc::clone(flushed));
        }
        match sets.len() {
            0 => Arc::clone(flushed),
            1 => sets.swap_remove(0),
            _ => Arc::new(RangeTombstones::merged(sets.iter().map(|s| s.as_ref()))),
        }
    }

    /// True when no layer of the view holds a range delete.
    fn has_range_tombstones(&self) -> bool {
        self.mem.has_range_tombstones()
            || self.imm.iter().any(|m| m.mem.has_range_tombstones())
            || !self.version.range_tombstones().is_empty()
    }

    /// Bytes held by the active and frozen memtables.
    pub fn memtable_bytes(&self) -> (usize, usize) {
        (
            self.mem.approximate_bytes(),
            self.imm.iter().map(|m| m.mem.approximate_bytes()).sum(),
        )
    }
}

/// The newest entry of `key` (a tree key) visible at `seq`, or `None`.
///
/// Range deletes: the newest range tombstone covering `key` at `seq` (one
/// lookup in the fragmented set, skipped when the view holds none) hides
/// every version older than it: the first layer holding a version answers
/// as before, and a version older than the tombstone reads as absent.
pub fn get(sv: &ReadView, tables: &TableCache, key: &[u8], seq: SeqNo) -> Result<Option<Vec<u8>>> {
    let hidden_below = if sv.has_range_tombstones() {
        sv.range_tombstones().covering_seq(key, seq)
    } else {
        None
    };
    let found = |lookup: Lookup, version_seq: Option<SeqNo>| match lookup {
        Lookup::Value(value) if hidden_below.is_none_or(|t| version_seq.is_some_and(|v| v > t)) => {
            Some(value)
        }
        _ => None,
    };
    if let Some((lookup, version_seq)) = sv.mem.get_with_seq(key, seq) {
        return Ok(found(lookup, Some(version_seq)));
    }
    for imm in &sv.imm {
        if let Some((lookup, version_seq)) = imm.mem.get_with_seq(key, seq) {
            return Ok(found(lookup, Some(version_seq)));
        }
    }
    let version = &sv.version;
    for level in 0..version.num_levels() {
        for file in version.files_for_key(level, key) {
            if let Some((lookup, version_seq)) = tables.table(file)?.get_with_seq(key, seq)? {
                return Ok(found(lookup, Some(version_seq)));
            }
        }
    }
    Ok(None)
}

/// User-key bounds in `keyspace` as tree-key bounds (an unbounded end
/// becomes the keyspace's own end), with the prefix length to strip from
/// the keys an iterator over them yields.
pub(crate) fn tree_bounds(
    keyspace: lsm_core::KeyspaceId,
    start: Bound<Vec<u8>>,
    end: Bound<Vec<u8>>,
) -> (Bound<Vec<u8>>, Bound<Vec<u8>>, usize) {
    use lsm_core::keyspace::tree_key;
    let (prefix_start, prefix_end) = keyspace.tree_range();
    let start = match start {
        Bound::Included(k) => Bound::Included(tree_key(keyspace, &k)),
        Bound::Excluded(k) => Bound::Excluded(tree_key(keyspace, &k)),
        Bound::Unbounded => Bound::Included(prefix_start.clone()),
    };
    let end = match end {
        Bound::Included(k) => Bound::Included(tree_key(keyspace, &k)),
        Bound::Excluded(k) => Bound::Excluded(tree_key(keyspace, &k)),
        Bound::Unbounded => Bound::Excluded(prefix_end),
    };
    (start, end, prefix_start.len())
}

/// A merged cursor over every layer of `sv`.
pub fn merged_cursor(sv: &ReadView, tables: &Arc<TableCache>) -> Result<MergingIterator> {
    let mut children: Vec<BoxedIterator> = Vec::new();
    children.push(Box::new(sv.mem.iter()));
    for imm in &sv.imm {
        children.push(Box::new(imm.mem.iter()));
    }
    for file in sv.version.files_at(0) {
        children.push(Box::new(tables.table(file)?.iter()));
    }
    let source: Arc<dyn TableSource> = Arc::clone(tables) as Arc<dyn TableSource>;
    for level in 1..sv.version.num_levels() {
        let files = sv.version.files_at(level);
        if !files.is_empty() {
            children.push(Box::new(LevelIterator::new(
                files.to_vec(),
                Arc::clone(&source),
            )));
        }
    }
    Ok(MergingIterator::new(children))
}

/// Iterator over the live keys of a range, in key order, as of one
/// sequence number. Yields `Result<(key, value)>`; after an error it ends.
pub struct StoreIterator {
    cursor: MergingIterator,
    seq: SeqNo,
    end: Bound<Vec<u8>>,
    /// The user key whose versions are being skipped (already yielded,
    /// deleted, or excluded by the start bound).
    skip_key: Option<Vec<u8>>,
    done: bool,
    /// The view's range deletes (empty for most views).
    range_tombstones: Arc<RangeTombstones>,
    /// Bytes cut from the front of every key yielded: the keyspace prefix
    /// (bounds and the cursor work in tree keys).
    strip: usize,
    /// Keeps the tables and memtables of the view alive.
    _view: Arc<ReadView>,
    /// Keeps a snapshot's versions from being compacted away.
    _snapshot: Option<Arc<SnapshotHandle>>,
}

impl std::fmt::Debug for StoreIterator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StoreIterator")
            .field("seq", &self.seq)
            .field("done", &self.done)
            .finish()
    }
}

impl StoreIterator {
    /// Positions an iterator over `(start, end)` in `view` at `seq`.
    pub fn new(
        view: Arc<ReadView>,
        tables: &Arc<TableCache>,
        seq: SeqNo,
        start: Bound<Vec<u8>>,
        end: Bound<Vec<u8>>,
        snapshot: Option<Arc<SnapshotHandle>>,
    ) -> Result<Self> {
        let mut cursor = merged_cursor(&view, tables)?;
        let range_tombstones = view.range_tombstones();
        let mut skip_key = None;
        match &start {
            Bound::Unbounded => cursor.seek_to_first()?,
            Bound::Included(key) => cursor.seek(InternalKey::for_seek(key, seq).as_bytes())?,
            Bound::Excluded(key) => {
                cursor.seek(InternalKey::for_seek(key, seq).as_bytes())?;
                skip_key = Some(key.clone());
            }
        }
        Ok(StoreIterator {
            cursor,
            seq,
            end,
            skip_key,
            done: false,
            range_tombstones,
            strip: 0,
            _view: view,
            _snapshot: snapshot,
        })
    }

    /// The same iterator, yielding keys without their first `bytes` bytes
    /// (the keyspace prefix every key in its bounds shares).
    pub fn strip_prefix(mut self, bytes: usize) -> Self {
        self.strip = bytes;
        self
    }

    fn past_end(&self, user_key: &[u8]) -> bool {
        match &self.end {
            Bound::Unbounded => false,
            Bound::Included(end) => user_key > end.as_slice(),
            Bound::Excluded(end) => user_key >= end.as_slice(),
        }
    }

    fn advance(&mut self) -> Result<Option<(Vec<u8>, Vec<u8>)>> {
        while self.cursor.valid() {
            let key = self.cursor.key();
            let Some(parsed) = parse_internal_key(key) else {
                return Err(
                    CoreError::corruption("<merged cursor>", 0, "malformed internal key").into(),
                );
            };
            if parsed.seq > self.seq || self.skip_key.as_deref() == Some(parsed.user_key) {
                self.cursor.next()?;
                continue;
            }
            if self.past_end(parsed.user_key) {
                return Ok(None);
            }
            // The newest visible version of a new user key; a range delete
            // newer than it hides it.
            let user_key = parsed.user_key.to_vec();
            let hidden = !self.range_tombstones.is_empty()
                && self
                    .range_tombstones
                    .hides(parsed.user_key, parsed.seq, self.seq);
            let item = match parsed.kind {
                ValueKind::Put if !hidden => Some((
                    user_key.get(self.strip..).unwrap_or_default().to_vec(),
                    self.cursor.value().to_vec(),
                )),
                _ => None,
            };
            self.skip_key = Some(user_key);
            self.cursor.next()?;
            if item.is_some() {
                return Ok(item);
            }
        }
        Ok(None)
    }
}

impl Iterator for StoreIterator {
    type Item = Result<(Vec<u8>, Vec<u8>)>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.done {
            return None;
        }
        match self.advance() {
            Ok(Some(item)) => Some(Ok(item)),
            Ok(None) => {
                self.done = true;
                None
            }
            Err(err) => {
                self.done = true;
                Some(Err(err))
            }
        }
    }
}
