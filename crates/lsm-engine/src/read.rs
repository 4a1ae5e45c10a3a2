//! The read path: a [`ReadView`] is one consistent view of the tree
//! (active memtable, frozen memtables, table version); point reads and range
//! iterators run against it without holding any store lock.
//!
//! Get: memtable -> frozen memtables newest first -> L0 tables newest first
//! -> one table per deeper level. The first layer that knows the key
//! answers (a tombstone answers "absent").
//!
//! Values leave the layers without a copy ([`get_pinned`], the
//! [`PinnedStoreIterator`]): a [`Bytes`] slice of the table's cached
//! block, which it keeps alive (a value still in a memtable is copied
//! once). The `Vec` reads copy that slice once, as they always copied the
//! value once.
//!
//! A closed store: every call that starts a read checks that the store is
//! open, and an iterator checks it again on every move (one atomic load,
//! the flag of the store's `Instance`, shared through the table cache's
//! `Arc`), so a read started before `close` does not go on reading
//! afterwards. A read that races the close and fails on the way with an
//! I/O error (a table it opens lazily was deleted by the directory's next
//! owner) reports [`Error::Closed`](crate::Error::Closed) instead.

use std::ops::Bound;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use bytes::Bytes;
use lsm_compaction::{BoxedIterator, LevelIterator, MergingIterator, TableSource};
use lsm_core::{
    parse_internal_key, Error as CoreError, InternalIterator, InternalKey, Lookup, RangeTombstones,
    ScanHint, SeqNo, ValueKind, MAX_SEQNO,
};
use lsm_manifest::Version;
use lsm_memtable::Memtable;

use crate::error::Result;
use crate::instance::Instance;
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
        let flushed = self.version.range_tombstones();
        let mut only: Option<Arc<RangeTombstones>> =
            (!flushed.is_empty()).then(|| Arc::clone(flushed));
        let mut more: Vec<Arc<RangeTombstones>> = Vec::new();
        for mem in std::iter::once(&self.mem).chain(self.imm.iter().map(|m| &m.mem)) {
            if mem.has_range_tombstones() {
                match only {
                    None => only = Some(mem.range_tombstones()),
                    Some(_) => more.push(mem.range_tombstones()),
                }
            }
        }
        match only {
            None => Arc::clone(flushed),
            Some(set) if more.is_empty() => set,
            Some(set) => {
                more.push(set);
                Arc::new(RangeTombstones::merged(more.iter().map(|s| s.as_ref())))
            }
        }
    }

    /// The largest sequence number `<= seq` of a range delete covering
    /// `key` in any layer of the view, or `None`: each layer's set is asked
    /// in turn (a search per run and a step per tree level), not merged, which a
    /// `get` would pay for in full (every range delete of every layer) once
    /// two layers hold any.
    fn covering_seq(&self, key: &[u8], seq: SeqNo) -> Option<SeqNo> {
        let mut covering = self.version.range_tombstones().covering_seq(key, seq);
        for mem in std::iter::once(&self.mem).chain(self.imm.iter().map(|m| &m.mem)) {
            if mem.has_range_tombstones() {
                covering = covering.max(mem.range_tombstones().covering_seq(key, seq));
            }
        }
        covering
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
/// lookup in each layer's set, skipped when the view holds none) hides
/// every version older than it: the first layer holding a version answers
/// as before, and a version older than the tombstone reads as absent.
pub fn get(sv: &ReadView, tables: &TableCache, key: &[u8], seq: SeqNo) -> Result<Option<Vec<u8>>> {
    // `Vec::from` copies a slice of a cached block once, and takes over the
    // buffer of a memtable value's `Bytes` (already a fresh copy, unshared)
    // without copying again.
    Ok(get_pinned(sv, tables, key, seq)?.map(Vec::from))
}

/// [`get`], returning the value without a copy: a slice of the memtable
/// entry or of the table block it is stored in (from a cached block, no
/// allocation at all).
///
/// An I/O error while the store is closed (a race with `close`) is
/// reported as [`Error::Closed`](crate::Error::Closed).
pub fn get_pinned(
    sv: &ReadView,
    tables: &TableCache,
    key: &[u8],
    seq: SeqNo,
) -> Result<Option<Bytes>> {
    find_pinned(sv, tables, key, seq).map_err(|err| tables.instance().closed_or(err))
}

/// [`get_pinned`] without the error's translation.
fn find_pinned(
    sv: &ReadView,
    tables: &TableCache,
    key: &[u8],
    seq: SeqNo,
) -> Result<Option<Bytes>> {
    let hidden_below = if sv.has_range_tombstones() {
        sv.covering_seq(key, seq)
    } else {
        None
    };
    let found = |lookup: Lookup, version_seq: Option<SeqNo>| match lookup {
        Lookup::Value(value) if hidden_below.is_none_or(|t| version_seq.is_some_and(|v| v > t)) => {
            Some(value)
        }
        _ => None,
    };
    // Hashed once for every memtable's and table's filter.
    let filter_key = lsm_sstable::FilterKey::new(key);
    if let Some((lookup, version_seq)) = sv.mem.get_hashed(key, filter_key.hash(), seq) {
        return Ok(found(lookup, Some(version_seq)));
    }
    for imm in &sv.imm {
        if let Some((lookup, version_seq)) = imm.mem.get_hashed(key, filter_key.hash(), seq) {
            return Ok(found(lookup, Some(version_seq)));
        }
    }
    let version = &sv.version;
    for level in 0..version.num_levels() {
        for file in version.files_for_key(level, key) {
            if let Some((lookup, version_seq)) =
                tables.table(file)?.get_filtered(filter_key, seq)?
            {
                return Ok(found(lookup, Some(version_seq)));
            }
        }
    }
    Ok(None)
}

/// An iterator over the user keys of `keyspace` from `start` to `end` in
/// `view` at `seq` (an unbounded end is the keyspace's own end; the
/// keyspace prefix is stripped from the keys it yields). See
/// [`StoreIterator::new`] for `snapshot`.
pub(crate) fn keyspace_iter(
    view: Arc<ReadView>,
    tables: &Arc<TableCache>,
    seq: SeqNo,
    keyspace: lsm_core::KeyspaceId,
    (start, end): (Bound<Vec<u8>>, Bound<Vec<u8>>),
    snapshot: Option<Arc<SnapshotHandle>>,
) -> Result<StoreIterator> {
    let (start, end, prefix_len) = tree_bounds(keyspace, start, end);
    Ok(StoreIterator::new(view, tables, seq, start, end, snapshot)?.strip_prefix(prefix_len))
}

/// User-key bounds in `keyspace` as tree-key bounds (an unbounded end
/// becomes the keyspace's own end), with the prefix length to strip from
/// the keys an iterator over them yields.
fn tree_bounds(
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

/// A merged cursor over every layer of `sv`. With `pin_values` its
/// memtable cursors hold references to the entries instead of copies, so
/// that `value_bytes` is a slice of the entry (table cursors always hand
/// out slices of their blocks).
pub fn merged_cursor(
    sv: &ReadView,
    tables: &Arc<TableCache>,
    pin_values: bool,
) -> Result<MergingIterator> {
    let memtable_cursor = |mem: &Arc<Memtable>| -> BoxedIterator {
        if pin_values {
            Box::new(mem.iter().pin_values())
        } else {
            Box::new(mem.iter())
        }
    };
    let mut children: Vec<BoxedIterator> = Vec::new();
    children.push(memtable_cursor(&sv.mem));
    for imm in &sv.imm {
        children.push(memtable_cursor(&imm.mem));
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
///
/// Double-ended: `next_back` (and so `.rev()`) yields the range from its
/// end, and `next` and `next_back` may be mixed: the two ends meet in the
/// middle and no key is yielded twice. Each end runs its own merged cursor,
/// positioned on its first move: the one made with the iterator goes to
/// whichever end moves first, so `range(..=k).next_back()` costs one
/// backward seek, as `range(k..).next()` costs one forward seek. Creating
/// the iterator opens the view's L0 tables (an error there is returned by
/// the call that made it); an error while positioning or moving is
/// yielded as an item and ends the iterator.
///
/// Once its store is closed, the iterator's next move from either end
/// (`next`, `next_back`, [`next_borrowed`](Self::next_borrowed), and the
/// same moves of its [`pinned`](Self::pinned) form) yields
/// [`Error::Closed`](crate::Error::Closed) and ends the iterator, like
/// every other read of a closed store; pairs already yielded, and pinned
/// values (which hold their blocks), stay valid. A move racing the close
/// yields either its pair or `Closed`, never an I/O error about a table the
/// directory's next owner deleted.
pub struct StoreIterator {
    /// Keeps the tables and memtables of the view alive, and makes the
    /// second end's cursor.
    view: Arc<ReadView>,
    tables: Arc<TableCache>,
    /// The open of the store the iterator reads: checked on every move.
    instance: Arc<Instance>,
    seq: SeqNo,
    start: Bound<Vec<u8>>,
    end: Bound<Vec<u8>>,
    /// The cursor made with the iterator, not positioned yet: the first end
    /// to move takes it.
    unpositioned: Option<MergingIterator>,
    /// The front end's cursor, once it moved.
    front: Option<MergingIterator>,
    /// The back end's cursor, once it moved.
    back: Option<MergingIterator>,
    /// The user key the front end is at or past: its older versions are
    /// skipped, and the back end stops there. Starts as an excluded start
    /// bound.
    front_key: Option<Vec<u8>>,
    /// The user key the back end is at or past; the front end stops there.
    back_key: Option<Vec<u8>>,
    /// Cursors made from now on keep references to memtable entries
    /// rather than copies ([`StoreIterator::pinned`]).
    pin_values: bool,
    /// Set when either end ran out (then both have: the ends met) or after
    /// an error.
    done: bool,
    /// The front cursor is on the version it last yielded: the front's
    /// next move steps it on first (so a borrowed pair can point into it).
    front_on_item: bool,
    /// The view's range deletes (empty for most views): a version older
    /// than a range delete covering its key reads as deleted.
    range_tombstones: Arc<RangeTombstones>,
    /// Bytes cut from the front of every key yielded: the keyspace prefix
    /// (bounds and the cursors work in tree keys).
    strip: usize,
    /// Where the front and the back end's last keys fell among the range
    /// tombstones' intervals ([`RangeTombstones::hides_near`]).
    front_hint: ScanHint,
    back_hint: ScanHint,
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

/// True if `user_key` lies after the `end` bound.
fn past_end(end: &Bound<Vec<u8>>, user_key: &[u8]) -> bool {
    match end {
        Bound::Unbounded => false,
        Bound::Included(end) => user_key > end.as_slice(),
        Bound::Excluded(end) => user_key >= end.as_slice(),
    }
}

/// True if `user_key` lies before the `start` bound.
fn before_start(start: &Bound<Vec<u8>>, user_key: &[u8]) -> bool {
    match start {
        Bound::Unbounded => false,
        Bound::Included(start) => user_key < start.as_slice(),
        Bound::Excluded(start) => user_key <= start.as_slice(),
    }
}

/// An encoded internal key the iterator could not parse.
fn malformed_key() -> crate::error::Error {
    CoreError::corruption("<merged cursor>", 0, "malformed internal key").into()
}

impl StoreIterator {
    /// An iterator over `(start, end)` in `view` at `seq`. Opens the
    /// view's L0 tables; positions nothing until the first `next` or
    /// `next_back`. [`Error::ForeignSnapshot`](crate::Error::ForeignSnapshot)
    /// if `snapshot` was made by another open than `tables`' store's.
    pub fn new(
        view: Arc<ReadView>,
        tables: &Arc<TableCache>,
        seq: SeqNo,
        start: Bound<Vec<u8>>,
        end: Bound<Vec<u8>>,
        snapshot: Option<Arc<SnapshotHandle>>,
    ) -> Result<Self> {
        let instance = Arc::clone(tables.instance());
        if let Some(handle) = &snapshot {
            instance.check_snapshot(handle.instance())?;
        }
        let cursor = merged_cursor(&view, tables, false).map_err(|err| instance.closed_or(err))?;
        let range_tombstones = view.range_tombstones();
        let front_key = match &start {
            Bound::Excluded(key) => Some(key.clone()),
            Bound::Included(_) | Bound::Unbounded => None,
        };
        Ok(StoreIterator {
            view,
            tables: Arc::clone(tables),
            instance,
            seq,
            start,
            end,
            unpositioned: Some(cursor),
            front: None,
            back: None,
            front_key,
            back_key: None,
            pin_values: false,
            done: false,
            front_on_item: false,
            range_tombstones,
            strip: 0,
            front_hint: ScanHint::default(),
            back_hint: ScanHint::default(),
            _snapshot: snapshot,
        })
    }

    /// The same iterator, yielding keys without their first `bytes` bytes
    /// (the keyspace prefix every key in its bounds shares).
    pub fn strip_prefix(mut self, bytes: usize) -> Self {
        self.strip = bytes;
        self
    }

    /// True when a range delete the iterator sees hides the version of
    /// `user_key` at `seq` (for the back end).
    fn hidden_back(&mut self, user_key: &[u8], seq: SeqNo) -> bool {
        !self.range_tombstones.is_empty()
            && self
                .range_tombstones
                .hides_near(user_key, seq, self.seq, &mut self.back_hint)
    }

    /// `tree_key` without the keyspace prefix.
    fn user_key(&self, tree_key: &[u8]) -> Vec<u8> {
        tree_key.get(self.strip..).unwrap_or_default().to_vec()
    }

    /// The same iterator, yielding `(key, value)` as [`Bytes`], each value
    /// without a copy: a slice of the table block it is stored in (from the
    /// block cache: no allocation); a value still in a memtable is copied
    /// once. The key is
    /// assembled from the prefix-compressed block, so it costs one
    /// allocation, as a `Vec` key does. A pinned value keeps its block
    /// alive for as long as it is held, even after the block is
    /// evicted, its table compacted away or the store closed; so holding
    /// many values from many blocks holds those blocks' memory. A block an
    /// iterator read ahead (up to 256 KiB of a table file at a time, read
    /// with the block before it) is a slice of that read, which a value
    /// from it keeps whole.
    ///
    /// It may be called at any point: values still in a memtable are
    /// copied once either way (memtable entries are not shared), and values
    /// in table blocks are slices whichever cursor reads them.
    pub fn pinned(mut self) -> PinnedStoreIterator {
        self.pin_values = true;
        PinnedStoreIterator(self)
    }

    /// The unpositioned cursor if no end took it yet, else a new one.
    fn take_cursor(&mut self) -> Result<MergingIterator> {
        match self.unpositioned.take() {
            Some(cursor) => Ok(cursor),
            None => merged_cursor(&self.view, &self.tables, self.pin_values),
        }
    }

    /// Makes and positions the front end's cursor at the start bound, on
    /// the front's first move.
    fn position_front(&mut self) -> Result<()> {
        if self.front.is_none() {
            let mut cursor = self.take_cursor()?;
            match &self.start {
                Bound::Unbounded => cursor.seek_to_first()?,
                // An excluded start's versions are skipped (`front_key`).
                Bound::Included(key) | Bound::Excluded(key) => {
                    cursor.seek(InternalKey::for_seek(key, self.seq).as_bytes())?
                }
            }
            self.front = Some(cursor);
        }
        Ok(())
    }

    /// Makes and positions the back end's cursor at the end bound, on the
    /// back's first move.
    fn position_back(&mut self) -> Result<()> {
        if self.back.is_none() {
            let mut cursor = self.take_cursor()?;
            match &self.end {
                Bound::Unbounded => cursor.seek_to_last()?,
                // The last internal key of `key`: sequence 0, kind 0.
                Bound::Included(key) => {
                    cursor.seek_for_prev(InternalKey::new(key, 0, ValueKind::Delete).as_bytes())?
                }
                // Sorts before every version of `key`.
                Bound::Excluded(key) => {
                    cursor.seek_for_prev(InternalKey::for_seek(key, MAX_SEQNO).as_bytes())?
                }
            }
            self.back = Some(cursor);
        }
        Ok(())
    }

    /// Moves the front cursor to the newest visible version of the next
    /// live key and leaves it there (the next call moves it on first);
    /// `false` at the end bound or where the back end is. `front_key`
    /// then holds that key's tree key.
    fn front_to_next_live(&mut self) -> Result<bool> {
        self.instance.check_open()?;
        self.position_front()?;
        let Some(cursor) = self.front.as_mut() else {
            return Ok(false);
        };
        if std::mem::take(&mut self.front_on_item) {
            cursor.next()?;
        }
        while cursor.valid() {
            let key = cursor.key();
            let Some(parsed) = parse_internal_key(key) else {
                return Err(malformed_key());
            };
            if parsed.seq > self.seq || self.front_key.as_deref() == Some(parsed.user_key) {
                cursor.next()?;
                continue;
            }
            let met_back = self
                .back_key
                .as_deref()
                .is_some_and(|back| parsed.user_key >= back);
            if met_back || past_end(&self.end, parsed.user_key) {
                return Ok(false);
            }
            // The newest visible version of a new user key; a range delete
            // newer than it hides it. Reuses the previous key's buffer.
            let mut user_key = self.front_key.take().unwrap_or_default();
            user_key.clear();
            user_key.extend_from_slice(parsed.user_key);
            let hidden = !self.range_tombstones.is_empty()
                && self.range_tombstones.hides_near(
                    parsed.user_key,
                    parsed.seq,
                    self.seq,
                    &mut self.front_hint,
                );
            let live = parsed.kind == ValueKind::Put && !hidden;
            self.front_key = Some(user_key);
            if live {
                self.front_on_item = true;
                return Ok(true);
            }
            cursor.next()?;
        }
        Ok(false)
    }

    /// The next live pair from the front, or `None` at the end bound or
    /// where the back end is.
    fn advance<V: ValueOut>(&mut self) -> Result<Option<(Vec<u8>, V)>> {
        if !self.front_to_next_live()? {
            return Ok(None);
        }
        match (&self.front, &self.front_key) {
            (Some(cursor), Some(tree_key)) => Ok(Some((self.user_key(tree_key), V::read(cursor)))),
            _ => Ok(None),
        }
    }

    /// The next live pair from the front, borrowed from the iterator: no
    /// allocation and no copy. The key and value stay valid until the
    /// iterator is moved again (the borrow checker holds you to it). The
    /// same pairs in the same order as [`Iterator::next`], and the two may
    /// be mixed with each other and with the back end's moves; `None` at
    /// the end, and after an error (which ends the iterator) is returned.
    ///
    /// ```
    /// use std::ops::Bound;
    /// use lsm_engine::{Engine, LsmConfig};
    ///
    /// let dir = tempfile::tempdir()?;
    /// let engine = Engine::open(LsmConfig::new(dir.path()))?;
    /// let mut batch = lsm_core::WriteBatch::new();
    /// batch.put(b"apple", b"red");
    /// batch.put(b"pear", b"green");
    /// engine.write(&batch)?;
    /// let mut iter = engine.range(Bound::Unbounded, Bound::Unbounded, None)?;
    /// let mut seen = Vec::new();
    /// while let Some(item) = iter.next_borrowed() {
    ///     let (key, value) = item?; // borrowed: copy what must outlive the next move
    ///     seen.push(format!("{}={}", String::from_utf8_lossy(key), String::from_utf8_lossy(value)));
    /// }
    /// assert_eq!(seen, ["apple=red", "pear=green"]);
    /// engine.close()?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn next_borrowed(&mut self) -> Option<Result<(&[u8], &[u8])>> {
        if self.done {
            return None;
        }
        match self.front_to_next_live() {
            Ok(true) => {}
            Ok(false) => {
                self.done = true;
                return None;
            }
            Err(err) => {
                self.done = true;
                return Some(Err(self.instance.closed_or(err)));
            }
        }
        let (Some(cursor), Some(tree_key)) = (&self.front, &self.front_key) else {
            self.done = true;
            return None;
        };
        let key = tree_key.get(self.strip..).unwrap_or_default();
        Some(Ok((key, cursor.value())))
    }

    /// The next live pair from the back, or `None` at the start bound or
    /// where the front end is. Going backward a user key's versions come
    /// oldest first, so the newest visible one is the last one at or below
    /// `seq` before the user key changes.
    fn advance_back<V: ValueOut>(&mut self) -> Result<Option<(Vec<u8>, V)>> {
        self.instance.check_open()?;
        self.position_back()?;
        loop {
            let Some(cursor) = self.back.as_ref() else {
                return Ok(None);
            };
            if !cursor.valid() {
                return Ok(None);
            }
            let user_key = parse_internal_key(cursor.key())
                .ok_or_else(malformed_key)?
                .user_key;
            let met_front = self
                .front_key
                .as_deref()
                .is_some_and(|front| user_key <= front);
            if met_front || before_start(&self.start, user_key) {
                return Ok(None);
            }
            // Reuses the previous key's buffer.
            let mut back_key = self.back_key.take().unwrap_or_default();
            back_key.clear();
            back_key.extend_from_slice(user_key);
            let mut value = V::default();
            let newest = self.newest_visible_backward(&back_key, &mut value);
            let item = match newest {
                Ok(Some((ValueKind::Put, seq))) if !self.hidden_back(&back_key, seq) => {
                    Some((self.user_key(&back_key), value))
                }
                _ => None,
            };
            self.back_key = Some(back_key);
            newest?;
            if item.is_some() {
                return Ok(item);
            }
        }
    }

    /// Moves the back cursor over every version of `user_key` (it is at
    /// the oldest), keeping the value of the newest one visible at `seq`
    /// in `value` (if that one is a put); returns that version's kind and
    /// sequence number, `None` if no version is visible.
    fn newest_visible_backward<V: ValueOut>(
        &mut self,
        user_key: &[u8],
        value: &mut V,
    ) -> Result<Option<(ValueKind, SeqNo)>> {
        let Some(cursor) = self.back.as_mut() else {
            return Ok(None);
        };
        let mut newest = None;
        while cursor.valid() {
            let parsed = parse_internal_key(cursor.key()).ok_or_else(malformed_key)?;
            if parsed.user_key != user_key {
                break;
            }
            if parsed.seq <= self.seq {
                newest = Some((parsed.kind, parsed.seq));
                if parsed.kind == ValueKind::Put {
                    value.assign(cursor);
                }
            }
            cursor.prev()?;
        }
        Ok(newest)
    }

    /// Turns one end's result into the iterator's item, ending the
    /// iterator at `None` or an error (an I/O error once the store is
    /// closed is `Closed`).
    fn finish<T>(&mut self, result: Result<Option<T>>) -> Option<Result<T>> {
        match result {
            Ok(Some(item)) => Some(Ok(item)),
            Ok(None) => {
                self.done = true;
                None
            }
            Err(err) => {
                self.done = true;
                Some(Err(self.instance.closed_or(err)))
            }
        }
    }
}

impl Iterator for StoreIterator {
    type Item = Result<(Vec<u8>, Vec<u8>)>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.done {
            return None;
        }
        let result = self.advance();
        self.finish(result)
    }
}

impl DoubleEndedIterator for StoreIterator {
    fn next_back(&mut self) -> Option<Self::Item> {
        if self.done {
            return None;
        }
        let result = self.advance_back();
        self.finish(result)
    }
}

/// How [`StoreIterator`] takes a value off its merged cursor: a copy into a
/// `Vec`, or a [`Bytes`] slice of the cursor's buffer.
trait ValueOut: Default {
    /// The cursor's current value.
    fn read(cursor: &MergingIterator) -> Self;
    /// Replaces `self` with the cursor's current value, reusing `self`'s
    /// buffer where it has one.
    fn assign(&mut self, cursor: &MergingIterator);
}

impl ValueOut for Vec<u8> {
    fn read(cursor: &MergingIterator) -> Self {
        cursor.value().to_vec()
    }

    fn assign(&mut self, cursor: &MergingIterator) {
        self.clear();
        self.extend_from_slice(cursor.value());
    }
}

impl ValueOut for Bytes {
    fn read(cursor: &MergingIterator) -> Self {
        cursor.value_bytes()
    }

    fn assign(&mut self, cursor: &MergingIterator) {
        *self = cursor.value_bytes();
    }
}

/// A [`StoreIterator`] yielding `(key, value)` as [`Bytes`], each value a
/// slice of the cached table block it is stored in, not a copy (memtable
/// values are copied once); made by [`StoreIterator::pinned`]. The same range, order,
/// snapshot and double-ended behaviour as the iterator it was made from;
/// yields `Result<(key, value)>` and ends after an error.
pub struct PinnedStoreIterator(StoreIterator);

impl std::fmt::Debug for PinnedStoreIterator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("PinnedStoreIterator").field(&self.0).finish()
    }
}

impl Iterator for PinnedStoreIterator {
    type Item = Result<(Bytes, Bytes)>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.0.done {
            return None;
        }
        let result = self.0.advance::<Bytes>();
        let item = self.0.finish(result)?;
        // An exact-size `Vec` becomes a `Bytes` without a copy or allocation.
        Some(item.map(|(key, value)| (Bytes::from(key), value)))
    }
}

impl DoubleEndedIterator for PinnedStoreIterator {
    fn next_back(&mut self) -> Option<Self::Item> {
        if self.0.done {
            return None;
        }
        let result = self.0.advance_back::<Bytes>();
        let item = self.0.finish(result)?;
        Some(item.map(|(key, value)| (Bytes::from(key), value)))
    }
}
