//! Range tombstones: "every key in `[start, end)` is deleted as of `seq`".
//!
//! A range delete is one operation with one sequence number. It hides every
//! version of every key in its range with a smaller sequence number, for a
//! reader whose snapshot is at or above the tombstone's. Readers never scan
//! the tombstones: [`RangeTombstones`] cuts the key space at every start and
//! end into elementary intervals and keeps, in a segment tree over them,
//! each tombstone's sequence number at the `O(log n)` nodes that cover its
//! range, so "which tombstone covers this key at this snapshot" is a binary
//! search for the interval and one per tree level, and `n` tombstones take
//! `O(n log n)` memory whatever their overlaps. (Fragmenting them, as
//! RocksDB does, stores every covering sequence number in every fragment:
//! `n` nested ranges, the TTL pattern "delete everything before cutoff_i",
//! then take `O(n²)`.)
//!
//! A set is immutable and built of *runs*, each a tree of its own, at least
//! twice as large as the next: adding tombstones builds a run of them and
//! merges it with the runs no larger than twice its size, as a binary
//! counter carries, so `n` range deletes added one at a time cost
//! `O(n log² n)` in all rather than a rebuild of the whole set each time,
//! and a lookup asks `O(log n)` runs.
//!
//! ```
//! use lsm_core::range_tombstone::{RangeTombstone, RangeTombstones};
//!
//! let set = RangeTombstones::new(&[
//!     RangeTombstone::new(b"b".to_vec(), b"f".to_vec(), 10),
//!     RangeTombstone::new(b"d".to_vec(), b"h".to_vec(), 20),
//! ]);
//! assert_eq!(set.covering_seq(b"c", 100), Some(10));
//! assert_eq!(set.covering_seq(b"e", 100), Some(20), "the newest covering tombstone");
//! assert_eq!(set.covering_seq(b"e", 15), Some(10), "a snapshot at 15 sees only the older one");
//! assert_eq!(set.covering_seq(b"h", 100), None, "the end is exclusive");
//! assert!(set.hides(b"e", 12, 100), "a put at 12 is hidden by the tombstone at 20");
//! assert!(!set.hides(b"e", 25, 100));
//! ```

use std::fmt;
use std::sync::Arc;

use crate::key::SeqNo;

/// One range delete: tree keys `start` (inclusive) to `end` (exclusive),
/// at sequence number `seq`.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct RangeTombstone {
    /// First tree key covered.
    pub start: Vec<u8>,
    /// First tree key past the range.
    pub end: Vec<u8>,
    /// The range delete's sequence number.
    pub seq: SeqNo,
}

impl RangeTombstone {
    /// A tombstone over `[start, end)` at `seq`.
    pub fn new(start: Vec<u8>, end: Vec<u8>, seq: SeqNo) -> RangeTombstone {
        RangeTombstone { start, end, seq }
    }

    /// True when `key` is in `[start, end)`.
    pub fn contains(&self, key: &[u8]) -> bool {
        self.start.as_slice() <= key && key < self.end.as_slice()
    }

    /// True when the range covers no key (`start >= end`).
    pub fn is_empty(&self) -> bool {
        self.start >= self.end
    }

    /// True when `[start, end)` and the closed range `[smallest, largest]`
    /// share a key.
    pub fn overlaps(&self, smallest: &[u8], largest: &[u8]) -> bool {
        self.start.as_slice() <= largest && smallest < self.end.as_slice()
    }

    /// Bytes the tombstone holds (keys plus the sequence number), for
    /// memory accounting.
    pub fn charge(&self) -> usize {
        self.start.len() + self.end.len() + 8
    }
}

/// One immutable run of tombstones and the segment tree over them.
///
/// `bounds` holds every start and end, sorted and distinct; elementary
/// interval `i` is `[bounds[i], bounds[i + 1])`. The tree is an implicit
/// binary tree over `leaves` (a power of two, at least the number of
/// intervals) leaves: node 1 is the root, node `k`'s children are `2k` and
/// `2k + 1`, interval `i`'s leaf is `leaves + i`. A tombstone over
/// intervals `[l, r)` is stored at the nodes of the canonical cover of
/// `[l, r)` (at most two per level), so the tombstones covering interval
/// `i` are exactly those stored on the path from its leaf to the root.
/// Node `k`'s sequence numbers are `seqs[offsets[k]..offsets[k + 1]]`,
/// largest first.
///
/// `spans[i]` is the smallest and the largest sequence number covering
/// interval `i` (`(SeqNo::MAX, 0)` when none does): most lookups are
/// answered by them alone (a reader newer than every tombstone there, a
/// version older than all of them), without the walk up the tree.
struct Run {
    /// Sorted by sequence number, which is unique; none empty.
    tombstones: Vec<RangeTombstone>,
    bounds: Vec<Vec<u8>>,
    leaves: usize,
    offsets: Vec<usize>,
    seqs: Vec<SeqNo>,
    spans: Vec<(SeqNo, SeqNo)>,
    /// What the fields above hold on the heap, counted once at build.
    heap_bytes: usize,
}

impl Run {
    /// REQUIRES: `tombstones` sorted by sequence number, unique, none
    /// empty, at least one.
    fn build(tombstones: Vec<RangeTombstone>) -> Run {
        let mut bounds: Vec<&[u8]> = tombstones
            .iter()
            .flat_map(|t| [t.start.as_slice(), t.end.as_slice()])
            .collect();
        bounds.sort_unstable();
        bounds.dedup();
        let intervals = bounds.len().saturating_sub(1).max(1);
        let leaves = intervals.next_power_of_two();
        let index = |key: &[u8]| bounds.partition_point(|b| *b < key);
        let covers: Vec<(usize, usize)> = tombstones
            .iter()
            .map(|t| (index(&t.start), index(&t.end)))
            .collect();
        // Count each node's sequence numbers, then fill newest first so
        // that every node's slice is largest first.
        let mut offsets = vec![0usize; 2 * leaves + 1];
        for &(l, r) in &covers {
            for_each_cover_node(leaves, l, r, |node| offsets[node + 1] += 1);
        }
        for k in 1..offsets.len() {
            offsets[k] += offsets[k - 1];
        }
        let mut filled = offsets.clone();
        let mut seqs = vec![0; offsets[2 * leaves]];
        for (t, &(l, r)) in tombstones.iter().zip(&covers).rev() {
            for_each_cover_node(leaves, l, r, |node| {
                seqs[filled[node]] = t.seq;
                filled[node] += 1;
            });
        }
        let bounds: Vec<Vec<u8>> = bounds.into_iter().map(<[u8]>::to_vec).collect();
        let mut run = Run {
            tombstones,
            bounds,
            leaves,
            offsets,
            seqs,
            spans: Vec::new(),
            heap_bytes: 0,
        };
        run.spans = (0..intervals).map(|i| run.walk_span(i)).collect();
        run.heap_bytes = run.count_heap_bytes();
        run
    }

    /// The smallest and largest sequence number on `interval`'s path.
    fn walk_span(&self, interval: usize) -> (SeqNo, SeqNo) {
        let (mut min, mut max) = (SeqNo::MAX, 0);
        let mut node = self.leaves + interval;
        while node >= 1 {
            let seqs = self.node_seqs(node);
            if let (Some(&largest), Some(&smallest)) = (seqs.first(), seqs.last()) {
                min = min.min(smallest);
                max = max.max(largest);
            }
            node /= 2;
        }
        (min, max)
    }

    fn len(&self) -> usize {
        self.tombstones.len()
    }

    fn contains_seq(&self, seq: SeqNo) -> bool {
        self.tombstones
            .binary_search_by_key(&seq, |t| t.seq)
            .is_ok()
    }

    /// The elementary interval `key` falls in, if any.
    fn interval_of(&self, key: &[u8]) -> Option<usize> {
        let position = self.bounds.partition_point(|b| b.as_slice() <= key);
        self.interval_at(position)
    }

    /// The interval for `position` bounds at or below the key.
    fn interval_at(&self, position: usize) -> Option<usize> {
        (position >= 1 && position < self.bounds.len()).then(|| position - 1)
    }

    /// Sequence numbers of the tombstones stored at `node`, largest first.
    fn node_seqs(&self, node: usize) -> &[SeqNo] {
        &self.seqs[self.offsets[node]..self.offsets[node + 1]]
    }

    /// The largest sequence number `<= snapshot` covering `interval`.
    fn covering_seq_in(&self, interval: usize, snapshot: SeqNo) -> Option<SeqNo> {
        let (min, max) = self.spans[interval];
        if min > max || snapshot < min {
            return None;
        }
        if snapshot >= max {
            return Some(max);
        }
        let mut best = None;
        let mut node = self.leaves + interval;
        while node >= 1 {
            let seqs = self.node_seqs(node);
            // Most nodes on a path hold nothing.
            if !seqs.is_empty() {
                let i = seqs.partition_point(|&s| s > snapshot);
                if let Some(&s) = seqs.get(i) {
                    best = best.max(Some(s));
                }
            }
            node /= 2;
        }
        best
    }

    /// The smallest sequence number `> seq` covering `interval`.
    fn oldest_covering_seq_above_in(&self, interval: usize, seq: SeqNo) -> Option<SeqNo> {
        let (min, max) = self.spans[interval];
        if min > max || seq >= max {
            return None;
        }
        if seq < min {
            return Some(min);
        }
        let mut best = SeqNo::MAX;
        let mut node = self.leaves + interval;
        while node >= 1 {
            let seqs = self.node_seqs(node);
            // Largest first: the ones above `seq` lead, the last of them is
            // the smallest.
            if seqs.first().is_some_and(|&s| s > seq) {
                let above = seqs.partition_point(|&s| s > seq);
                best = best.min(seqs[above - 1]);
            }
            node /= 2;
        }
        (best != SeqNo::MAX).then_some(best)
    }

    fn count_heap_bytes(&self) -> usize {
        let tombstones: usize = self
            .tombstones
            .iter()
            .map(|t| std::mem::size_of::<RangeTombstone>() + t.start.capacity() + t.end.capacity())
            .sum();
        let bounds: usize = self
            .bounds
            .iter()
            .map(|b| std::mem::size_of::<Vec<u8>>() + b.capacity())
            .sum();
        std::mem::size_of::<Run>()
            + tombstones
            + bounds
            + self.offsets.capacity() * std::mem::size_of::<usize>()
            + self.seqs.capacity() * std::mem::size_of::<SeqNo>()
            + self.spans.capacity() * std::mem::size_of::<(SeqNo, SeqNo)>()
    }
}

/// Calls `visit` with each node of the canonical cover of leaves `[l, r)`
/// in a tree of `leaves` leaves (at most two nodes per level).
fn for_each_cover_node(leaves: usize, l: usize, r: usize, mut visit: impl FnMut(usize)) {
    let (mut l, mut r) = (l + leaves, r + leaves);
    while l < r {
        if l % 2 == 1 {
            visit(l);
            l += 1;
        }
        if r % 2 == 1 {
            r -= 1;
            visit(r);
        }
        l /= 2;
        r /= 2;
    }
}

/// Up to this many tombstones, [`RangeTombstones::with`] rebuilds one run
/// rather than adding another: each lookup asks every run, and reads
/// outnumber range deletes. Measured (`cargo bench -p lsm-memtable --
/// range_delete`; a store's gets and scans under callgrind with 100 range
/// deletes in the memtable): 256 keeps those reads within about 1% of a single
/// fragmented set and costs about 90 µs per range delete added to a set of
/// 128 to 256; 32 costs 12 µs per range delete and 4% on those reads.
const SMALL_SET: usize = 256;

/// A set of range tombstones, indexed for lookups (see the module docs).
/// Immutable; adding or removing tombstones makes a new set, which shares
/// the runs it does not change.
#[derive(Clone, Default)]
pub struct RangeTombstones {
    /// Largest first. Within a set built by [`RangeTombstones::new`],
    /// [`RangeTombstones::with`] and [`RangeTombstones::without`], each is
    /// at least twice the size of the next (one run up to `SMALL_SET`
    /// tombstones) and no sequence number is in two of them;
    /// [`RangeTombstones::merged`] only concatenates.
    runs: Vec<Arc<Run>>,
    /// Distinct sequence numbers over all runs.
    len: usize,
}

/// Where a scan's last keys fell in each run of a [`RangeTombstones`] set,
/// and what covered them, for [`RangeTombstones::hides_near`]. Start with
/// `ScanHint::default()`; one hint serves one set and one scan direction
/// at a time (any key order stays correct, only slower).
#[derive(Clone, Debug, Default)]
pub struct ScanHint {
    runs: Vec<RunHint>,
}

#[derive(Clone, Copy, Debug)]
struct RunHint {
    /// How many of the run's bounds are `<=` the last key.
    position: usize,
    /// The snapshot `covering` was computed for.
    snapshot: SeqNo,
    /// The largest sequence number `<= snapshot` covering the interval at
    /// `position`.
    covering: Option<SeqNo>,
}

impl RangeTombstones {
    /// Indexes `tombstones`. Empty ranges are dropped; two tombstones with
    /// the same sequence number are one (a WAL replayed twice).
    pub fn new<'a>(tombstones: impl IntoIterator<Item = &'a RangeTombstone>) -> RangeTombstones {
        let list = sorted_unique(tombstones.into_iter().cloned().collect());
        RangeTombstones::of_sorted(list)
    }

    /// One run of `list` (sorted by sequence number, unique, none empty).
    fn of_sorted(list: Vec<RangeTombstone>) -> RangeTombstones {
        if list.is_empty() {
            return RangeTombstones::default();
        }
        let len = list.len();
        RangeTombstones {
            runs: vec![Arc::new(Run::build(list))],
            len,
        }
    }

    /// An empty set behind an `Arc`, for layers without range deletes.
    pub fn empty() -> Arc<RangeTombstones> {
        Arc::new(RangeTombstones::default())
    }

    /// True when the set holds no tombstone.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Number of tombstones (distinct sequence numbers).
    pub fn len(&self) -> usize {
        self.len
    }

    /// About the bytes the set holds in memory: its tombstones, their
    /// bounds and the trees' sequence numbers, `O(n log n)` for `n`
    /// tombstones however they overlap. Runs it shares with other sets
    /// count in full.
    pub fn heap_bytes(&self) -> usize {
        self.runs.iter().map(|r| r.heap_bytes).sum::<usize>()
            + self.runs.capacity() * std::mem::size_of::<Arc<Run>>()
    }

    /// The tombstones in sequence-number order, each once.
    pub fn tombstones(&self) -> Tombstones<'_> {
        Tombstones {
            runs: self.runs.iter().map(|r| r.tombstones.as_slice()).collect(),
            last: None,
        }
    }

    /// True when a tombstone with sequence number `seq` is in the set.
    pub fn contains_seq(&self, seq: SeqNo) -> bool {
        self.runs.iter().any(|r| r.contains_seq(seq))
    }

    /// The largest sequence number `<= snapshot` of a tombstone covering
    /// `key`, or `None`.
    pub fn covering_seq(&self, key: &[u8], snapshot: SeqNo) -> Option<SeqNo> {
        let mut best = None;
        for run in &self.runs {
            if let Some(interval) = run.interval_of(key) {
                best = best.max(run.covering_seq_in(interval, snapshot));
            }
        }
        best
    }

    /// The smallest sequence number above `seq` of a tombstone covering
    /// `key` (the oldest one that hides a version of `key` at `seq`), or
    /// `None`.
    pub fn oldest_covering_seq_above(&self, key: &[u8], seq: SeqNo) -> Option<SeqNo> {
        let mut best: Option<SeqNo> = None;
        for run in &self.runs {
            let found = run
                .interval_of(key)
                .and_then(|interval| run.oldest_covering_seq_above_in(interval, seq));
            if let Some(s) = found {
                best = Some(best.map_or(s, |b| b.min(s)));
            }
        }
        best
    }

    /// True when a version of `key` at `seq` is hidden, for a reader at
    /// `snapshot`, by a tombstone newer than it.
    pub fn hides(&self, key: &[u8], seq: SeqNo, snapshot: SeqNo) -> bool {
        self.covering_seq(key, snapshot).is_some_and(|t| t > seq)
    }

    /// [`RangeTombstones::hides`] for a caller reading keys in order
    /// (either direction): `hint` remembers where the last key fell in
    /// each run and what covered it at `snapshot`, so a scan pays a few
    /// comparisons per key instead of a search. Any key order stays
    /// correct, only slower.
    pub fn hides_near(&self, key: &[u8], seq: SeqNo, snapshot: SeqNo, hint: &mut ScanHint) -> bool {
        if hint.runs.len() != self.runs.len() {
            hint.runs = self
                .runs
                .iter()
                .map(|r| {
                    let position = r.bounds.partition_point(|b| b.as_slice() <= key);
                    RunHint {
                        position,
                        snapshot,
                        covering: r
                            .interval_at(position)
                            .and_then(|i| r.covering_seq_in(i, snapshot)),
                    }
                })
                .collect();
        }
        let mut covering = None;
        for (run, at) in self.runs.iter().zip(hint.runs.iter_mut()) {
            let bounds = &run.bounds;
            let mut position = at.position.min(bounds.len());
            while position > 0 && bounds[position - 1].as_slice() > key {
                position -= 1;
            }
            while position < bounds.len() && bounds[position].as_slice() <= key {
                position += 1;
            }
            if position != at.position || snapshot != at.snapshot {
                *at = RunHint {
                    position,
                    snapshot,
                    covering: run
                        .interval_at(position)
                        .and_then(|i| run.covering_seq_in(i, snapshot)),
                };
            }
            covering = covering.max(at.covering);
        }
        covering.is_some_and(|t| t > seq)
    }

    /// The set with `more` added (those with a sequence number the set
    /// holds already, and empty ranges, are left out). Shares the set's
    /// runs but the smaller ones the new run merges with.
    pub fn with(&self, more: &[RangeTombstone]) -> RangeTombstones {
        let mut added = sorted_unique(more.to_vec());
        added.retain(|t| !self.contains_seq(t.seq));
        if added.is_empty() {
            return self.clone();
        }
        let len = self.len + added.len();
        let mut runs = self.runs.clone();
        // Carry: merge with every run no more than twice the new one's size,
        // so each run stays at least twice the size of the next; and while
        // the two together are small, so that a set of up to `SMALL_SET`
        // tombstones is one run, which a lookup asks once.
        while let Some(last) = runs.last() {
            if last.len() > 2 * added.len() && last.len() + added.len() > SMALL_SET {
                break;
            }
            let mut merged = Vec::with_capacity(last.len() + added.len());
            merge_by_seq(&last.tombstones, &added, &mut merged);
            added = merged;
            runs.pop();
        }
        runs.push(Arc::new(Run::build(added)));
        RangeTombstones { runs, len }
    }

    /// The set without the tombstones whose sequence numbers `drop` names
    /// (one run, rebuilt).
    pub fn without(&self, drop: &[SeqNo]) -> RangeTombstones {
        let kept: Vec<RangeTombstone> = self
            .tombstones()
            .filter(|t| !drop.contains(&t.seq))
            .cloned()
            .collect();
        RangeTombstones::of_sorted(kept)
    }

    /// Several sets (the layers of a read view) as one, without a rebuild:
    /// the result asks each set's runs in turn.
    pub fn merged<'a>(sets: impl IntoIterator<Item = &'a RangeTombstones>) -> RangeTombstones {
        let mut runs: Vec<Arc<Run>> = Vec::new();
        for set in sets {
            runs.extend(set.runs.iter().cloned());
        }
        let mut merged = RangeTombstones { runs, len: 0 };
        merged.len = merged.tombstones().count();
        merged
    }
}

/// `list` sorted by sequence number, one per sequence number, no empty
/// range.
fn sorted_unique(mut list: Vec<RangeTombstone>) -> Vec<RangeTombstone> {
    list.retain(|t| !t.is_empty());
    list.sort_by_key(|t| t.seq);
    list.dedup_by_key(|t| t.seq);
    list
}

/// Merges two lists sorted by (unique) sequence number into `out`.
fn merge_by_seq(a: &[RangeTombstone], b: &[RangeTombstone], out: &mut Vec<RangeTombstone>) {
    let (mut i, mut j) = (0, 0);
    while i < a.len() && j < b.len() {
        if a[i].seq <= b[j].seq {
            out.push(a[i].clone());
            i += 1;
        } else {
            out.push(b[j].clone());
            j += 1;
        }
    }
    out.extend_from_slice(&a[i..]);
    out.extend_from_slice(&b[j..]);
}

/// The tombstones of a [`RangeTombstones`] set in sequence-number order
/// (see [`RangeTombstones::tombstones`]).
pub struct Tombstones<'a> {
    /// What is left of each run, each sorted by sequence number.
    runs: Vec<&'a [RangeTombstone]>,
    /// The sequence number yielded last (a merged set may hold one twice).
    last: Option<SeqNo>,
}

impl<'a> Iterator for Tombstones<'a> {
    type Item = &'a RangeTombstone;

    fn next(&mut self) -> Option<&'a RangeTombstone> {
        loop {
            let (run, first) = self
                .runs
                .iter()
                .enumerate()
                .filter_map(|(i, run)| run.first().map(|t| (i, t)))
                .min_by_key(|(_, t)| t.seq)?;
            self.runs[run] = &self.runs[run][1..];
            if self.last == Some(first.seq) {
                continue;
            }
            self.last = Some(first.seq);
            return Some(first);
        }
    }
}

impl PartialEq for RangeTombstones {
    fn eq(&self, other: &RangeTombstones) -> bool {
        self.tombstones().eq(other.tombstones())
    }
}

impl Eq for RangeTombstones {}

impl fmt::Debug for RangeTombstones {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(self.tombstones()).finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn t(start: &str, end: &str, seq: SeqNo) -> RangeTombstone {
        RangeTombstone::new(start.as_bytes().to_vec(), end.as_bytes().to_vec(), seq)
    }

    #[test]
    fn overlaps_are_split_at_every_bound() {
        let set = RangeTombstones::new(&[t("a", "e", 5), t("c", "g", 9), t("e", "f", 1)]);
        let at = |key: &str| set.covering_seq(key.as_bytes(), 100);
        assert_eq!(
            ["a", "b", "c", "d", "e", "ef", "f", "g"].map(at),
            [
                Some(5),
                Some(5),
                Some(9),
                Some(9),
                Some(9),
                Some(9),
                Some(9),
                None
            ]
        );
        assert_eq!(
            set.covering_seq(b"e", 8),
            Some(1),
            "only the one at 1 below 8 at e"
        );
        assert_eq!(set.covering_seq(b"d", 8), Some(5));
        let single = RangeTombstones::new(&[t("a", "c", 1), t("c", "e", 1)]);
        assert_eq!(single.len(), 1, "same sequence number: one tombstone");
    }

    /// The point of the tree: nested ranges (each covering all the later
    /// ones' keys) cost `O(n log n)` bytes, where fragments holding every
    /// covering sequence number cost `n²/2` of them.
    #[test]
    fn nested_ranges_take_n_log_n_memory() {
        let n = 2_000u64;
        let nested: Vec<RangeTombstone> =
            (0..n).map(|i| t(&format!("k{i:05}"), "z", i + 1)).collect();
        let disjoint: Vec<RangeTombstone> = (0..n)
            .map(|i| t(&format!("k{i:05}a"), &format!("k{i:05}b"), i + 1))
            .collect();
        let nested = RangeTombstones::new(&nested).heap_bytes();
        let disjoint = RangeTombstones::new(&disjoint).heap_bytes();
        // n²/2 sequence numbers would be 16 MB; the tree holds at most
        // 2 log2(4096) = 24 per tombstone.
        assert!(nested < (n as usize) * (24 * 8 + 200), "{nested}");
        assert!(nested < 3 * disjoint, "{nested} vs {disjoint}");
        assert_eq!(RangeTombstones::default().heap_bytes(), 0);
    }

    /// Adding one tombstone at a time keeps the runs a binary counter's
    /// shape (each at least twice the next), and the set equal to one built
    /// at once.
    #[test]
    fn added_one_at_a_time_the_runs_stay_few_and_the_set_the_same() {
        let all: Vec<RangeTombstone> = (0..1_000u64)
            .map(|i| t(&format!("k{:04}", (i * 7919) % 1000), "z", i + 1))
            .collect();
        let mut set = RangeTombstones::default();
        for (i, tombstone) in all.iter().enumerate() {
            set = set.with(std::slice::from_ref(tombstone));
            assert_eq!(set.len(), i + 1);
            for pair in set.runs.windows(2) {
                assert!(
                    pair[0].len() > 2 * pair[1].len(),
                    "{} then {}",
                    pair[0].len(),
                    pair[1].len()
                );
            }
            if i < SMALL_SET {
                assert_eq!(set.runs.len(), 1, "a small set is one run");
            }
            assert!(
                set.runs.len() <= 5,
                "{} runs for {} tombstones",
                set.runs.len(),
                i + 1
            );
        }
        let at_once = RangeTombstones::new(&all);
        assert_eq!(set, at_once);
        for key in ["k0000", "k0500", "k0999", "a", "z"] {
            for snapshot in [0, 1, 500, 999, 1_000, 2_000] {
                assert_eq!(
                    set.covering_seq(key.as_bytes(), snapshot),
                    at_once.covering_seq(key.as_bytes(), snapshot),
                    "{key} at {snapshot}"
                );
            }
        }
        assert_eq!(
            set.with(&all[..10]).len(),
            1_000,
            "held sequence numbers are not added twice"
        );
        assert!(set.contains_seq(1) && set.contains_seq(1_000) && !set.contains_seq(1_001));
    }

    #[test]
    fn merged_sets_answer_for_all_and_count_a_shared_tombstone_once() {
        let a = RangeTombstones::new(&[t("a", "c", 3), t("x", "y", 7)]);
        let b = RangeTombstones::new(&[t("b", "d", 5), t("x", "y", 7)]);
        let merged = RangeTombstones::merged([&a, &b]);
        assert_eq!(merged.len(), 3);
        assert_eq!(
            merged.tombstones().map(|t| t.seq).collect::<Vec<_>>(),
            [3, 5, 7]
        );
        assert_eq!(merged.covering_seq(b"b", 10), Some(5));
        assert_eq!(merged.covering_seq(b"b", 4), Some(3));
        assert_eq!(merged.oldest_covering_seq_above(b"b", 1), Some(3));
        assert_eq!(merged.covering_seq(b"c", 10), Some(5));
        assert!(RangeTombstones::merged([&RangeTombstones::default()]).is_empty());
    }

    #[test]
    fn empty_ranges_and_gaps_cover_nothing() {
        let set = RangeTombstones::new(&[t("d", "d", 3), t("a", "b", 2), t("x", "z", 4)]);
        assert_eq!(set.len(), 2);
        assert_eq!(set.covering_seq(b"c", 10), None);
        assert_eq!(set.covering_seq(b"a", 1), None, "snapshot older than it");
        assert_eq!(set.covering_seq(b"a", 2), Some(2));
        let nested = RangeTombstones::new(&[t("a", "z", 5), t("c", "e", 9), t("c", "d", 20)]);
        assert_eq!(nested.oldest_covering_seq_above(b"c", 1), Some(5));
        assert_eq!(nested.oldest_covering_seq_above(b"c", 5), Some(9));
        assert_eq!(nested.oldest_covering_seq_above(b"c", 9), Some(20));
        assert_eq!(nested.oldest_covering_seq_above(b"c", 20), None);
        assert!(set.without(&[2]).covering_seq(b"a", 10).is_none());
        assert_eq!(set.with(&[t("c", "e", 7)]).covering_seq(b"d", 10), Some(7));
    }

    /// `tombstones` as a set built in one of the ways the engine builds
    /// them: at once, one at a time, in chunks, as two merged sets, or
    /// with extra tombstones added then removed.
    fn build(tombstones: &[RangeTombstone], how: u8) -> RangeTombstones {
        match how % 5 {
            0 => RangeTombstones::new(tombstones),
            1 => tombstones
                .iter()
                .fold(RangeTombstones::default(), |set, t| {
                    set.with(std::slice::from_ref(t))
                }),
            2 => tombstones
                .chunks(3)
                .fold(RangeTombstones::default(), |set, chunk| set.with(chunk)),
            3 => {
                let (a, b) = tombstones.split_at(tombstones.len() / 2);
                RangeTombstones::merged([&RangeTombstones::new(a), &build(b, 1)])
            }
            _ => {
                // Covering every key the tests ask about, newer than all.
                let extra: Vec<RangeTombstone> = (0..4)
                    .map(|i| RangeTombstone::new(vec![0], vec![255], 1_000 + i))
                    .collect();
                build(tombstones, 1)
                    .with(&extra)
                    .without(&[1_000, 1_001, 1_002, 1_003])
            }
        }
    }

    proptest! {
        #[test]
        fn lookups_match_a_scan_of_all_tombstones(
            list in proptest::collection::vec((0u8..12, 0u8..12, 1u64..40), 0..24),
            how in 0u8..5,
            keys in proptest::collection::vec(0u8..13, 1..8),
            snapshot in 0u64..45,
        ) {
            let tombstones: Vec<RangeTombstone> = list
                .iter()
                .enumerate()
                .map(|(i, &(a, b, _))| RangeTombstone::new(vec![a], vec![b], i as u64 + 1))
                .collect();
            let set = build(&tombstones, how);
            let live = tombstones.iter().filter(|t| !t.is_empty()).count();
            prop_assert_eq!(set.len(), live);
            prop_assert_eq!(
                set.tombstones().map(|t| t.seq).collect::<Vec<_>>(),
                tombstones.iter().filter(|t| !t.is_empty()).map(|t| t.seq).collect::<Vec<_>>()
            );
            for key in keys {
                let covering = || tombstones.iter().filter(|t| t.contains(&[key]));
                let expected = covering().filter(|t| t.seq <= snapshot).map(|t| t.seq).max();
                prop_assert_eq!(set.covering_seq(&[key], snapshot), expected);
                let above = covering().filter(|t| t.seq > snapshot).map(|t| t.seq).min();
                prop_assert_eq!(set.oldest_covering_seq_above(&[key], snapshot), above);
            }
        }

        #[test]
        fn hinted_lookups_match_plain_ones_in_any_order(
            list in proptest::collection::vec((0u8..12, 0u8..12), 0..24),
            how in 0u8..5,
            keys in proptest::collection::vec((0u8..13, 0u64..30), 1..30),
            snapshots in proptest::collection::vec(0u64..30, 1..3),
        ) {
            let tombstones: Vec<RangeTombstone> = list
                .iter()
                .enumerate()
                .map(|(i, &(a, b))| RangeTombstone::new(vec![a], vec![b], i as u64 + 1))
                .collect();
            let set = build(&tombstones, how);
            let mut sorted = keys.clone();
            sorted.sort();
            let mut reversed = sorted.clone();
            reversed.reverse();
            for order in [keys, sorted, reversed] {
                let mut hint = ScanHint::default();
                for (i, (key, seq)) in order.into_iter().enumerate() {
                    // A hint reused at another snapshot must notice.
                    let snapshot = snapshots[i % snapshots.len()];
                    prop_assert_eq!(
                        set.hides_near(&[key], seq, snapshot, &mut hint),
                        set.hides(&[key], seq, snapshot)
                    );
                }
            }
        }
    }
}
