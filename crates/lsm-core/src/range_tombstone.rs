//! Range tombstones: "every key in `[start, end)` is deleted as of `seq`".
//!
//! A range delete is one operation with one sequence number. It hides every
//! version of every key in its range with a smaller sequence number, for a
//! reader whose snapshot is at or above the tombstone's. Readers never scan
//! the tombstones: [`RangeTombstones`] *fragments* them (as RocksDB does)
//! into non-overlapping key intervals, each with the sorted sequence numbers
//! of the tombstones covering it, so "which tombstone covers this key at
//! this snapshot" is two binary searches.
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

/// One fragment: `[start, end)` covered by the tombstones whose sequence
/// numbers are `seqs`, largest first.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Fragment {
    start: Vec<u8>,
    end: Vec<u8>,
    seqs: Vec<SeqNo>,
}

/// A set of range tombstones, fragmented for lookups. Immutable; build a
/// new one to add tombstones (they are rare next to point writes).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RangeTombstones {
    /// Sorted by start, pairwise disjoint, none empty.
    fragments: Vec<Fragment>,
    /// The tombstones as given (deduplicated by sequence number), sorted by
    /// sequence number.
    tombstones: Vec<RangeTombstone>,
}

impl RangeTombstones {
    /// Fragments `tombstones`. Empty ranges are dropped; two tombstones with
    /// the same sequence number are one (a WAL replayed twice).
    pub fn new<'a>(tombstones: impl IntoIterator<Item = &'a RangeTombstone>) -> RangeTombstones {
        let mut list: Vec<RangeTombstone> = tombstones
            .into_iter()
            .filter(|t| !t.is_empty())
            .cloned()
            .collect();
        list.sort_by_key(|t| t.seq);
        list.dedup_by_key(|t| t.seq);
        let mut bounds: Vec<&[u8]> = list
            .iter()
            .flat_map(|t| [t.start.as_slice(), t.end.as_slice()])
            .collect();
        bounds.sort_unstable();
        bounds.dedup();
        let mut by_start: Vec<&RangeTombstone> = list.iter().collect();
        by_start.sort_by(|a, b| a.start.cmp(&b.start));
        let mut fragments: Vec<Fragment> = Vec::new();
        let mut active: Vec<&RangeTombstone> = Vec::new();
        let mut next = 0;
        for pair in bounds.windows(2) {
            let (lo, hi) = (pair[0], pair[1]);
            active.retain(|t| t.end.as_slice() > lo);
            while next < by_start.len() && by_start[next].start.as_slice() <= lo {
                if by_start[next].end.as_slice() > lo {
                    active.push(by_start[next]);
                }
                next += 1;
            }
            if active.is_empty() {
                continue;
            }
            let mut seqs: Vec<SeqNo> = active.iter().map(|t| t.seq).collect();
            seqs.sort_unstable_by(|a, b| b.cmp(a));
            // Merge with the previous fragment when it ends here with the
            // same tombstones, so a lone tombstone stays one fragment.
            if let Some(last) = fragments.last_mut() {
                if last.end.as_slice() == lo && last.seqs == seqs {
                    last.end = hi.to_vec();
                    continue;
                }
            }
            fragments.push(Fragment {
                start: lo.to_vec(),
                end: hi.to_vec(),
                seqs,
            });
        }
        RangeTombstones {
            fragments,
            tombstones: list,
        }
    }

    /// An empty set behind an `Arc`, for layers without range deletes.
    pub fn empty() -> Arc<RangeTombstones> {
        Arc::new(RangeTombstones::default())
    }

    /// True when the set holds no tombstone.
    pub fn is_empty(&self) -> bool {
        self.tombstones.is_empty()
    }

    /// Number of tombstones.
    pub fn len(&self) -> usize {
        self.tombstones.len()
    }

    /// About the bytes the set holds in memory: its tombstones, and its
    /// fragments with every covering sequence number in each. `n` nested
    /// or staggered ranges make about `n` fragments of up to `n` sequence
    /// numbers each, so this grows with `n²` for them (a memtable charges
    /// it against its size, so such a set is flushed in time).
    pub fn heap_bytes(&self) -> usize {
        let fragment = std::mem::size_of::<Fragment>();
        let tombstone = std::mem::size_of::<RangeTombstone>();
        let fragments: usize = self
            .fragments
            .iter()
            .map(|f| {
                fragment
                    + f.start.capacity()
                    + f.end.capacity()
                    + f.seqs.capacity() * std::mem::size_of::<SeqNo>()
            })
            .sum();
        let tombstones: usize = self
            .tombstones
            .iter()
            .map(|t| tombstone + t.start.capacity() + t.end.capacity())
            .sum();
        fragments + tombstones
    }

    /// The tombstones, sorted by sequence number.
    pub fn tombstones(&self) -> &[RangeTombstone] {
        &self.tombstones
    }

    /// The largest sequence number `<= snapshot` of a tombstone covering
    /// `key`, or `None`.
    pub fn covering_seq(&self, key: &[u8], snapshot: SeqNo) -> Option<SeqNo> {
        let fragment = self.fragment_at(key)?;
        let i = fragment.seqs.partition_point(|&s| s > snapshot);
        fragment.seqs.get(i).copied()
    }

    /// The smallest sequence number above `seq` of a tombstone covering
    /// `key` (the oldest one that hides a version of `key` at `seq`), or
    /// `None`.
    pub fn oldest_covering_seq_above(&self, key: &[u8], seq: SeqNo) -> Option<SeqNo> {
        let fragment = self.fragment_at(key)?;
        // `seqs` is descending: the ones above `seq` come first.
        let above = fragment.seqs.partition_point(|&s| s > seq);
        above.checked_sub(1).map(|i| fragment.seqs[i])
    }

    /// True when a version of `key` at `seq` is hidden, for a reader at
    /// `snapshot`, by a tombstone newer than it.
    pub fn hides(&self, key: &[u8], seq: SeqNo, snapshot: SeqNo) -> bool {
        self.covering_seq(key, snapshot).is_some_and(|t| t > seq)
    }

    /// [`RangeTombstones::hides`] for a caller reading keys in order
    /// (either direction): `hint` remembers where the last key fell, so a
    /// scan pays a few comparisons per key instead of a binary search.
    /// Start with `None`; any key order stays correct, only slower.
    pub fn hides_near(
        &self,
        key: &[u8],
        seq: SeqNo,
        snapshot: SeqNo,
        hint: &mut Option<usize>,
    ) -> bool {
        let fragments = &self.fragments;
        // `at`: the first fragment whose end is past `key`.
        let mut at = match *hint {
            Some(at) => at.min(fragments.len()),
            None => fragments.partition_point(|f| f.end.as_slice() <= key),
        };
        while at > 0 && fragments[at - 1].end.as_slice() > key {
            at -= 1;
        }
        while at < fragments.len() && fragments[at].end.as_slice() <= key {
            at += 1;
        }
        *hint = Some(at);
        let Some(fragment) = fragments.get(at) else {
            return false;
        };
        if key < fragment.start.as_slice() {
            return false;
        }
        let i = fragment.seqs.partition_point(|&s| s > snapshot);
        fragment.seqs.get(i).is_some_and(|&t| t > seq)
    }

    fn fragment_at(&self, key: &[u8]) -> Option<&Fragment> {
        let i = self
            .fragments
            .partition_point(|f| f.start.as_slice() <= key);
        let fragment = self.fragments.get(i.checked_sub(1)?)?;
        (key < fragment.end.as_slice()).then_some(fragment)
    }

    /// The set with `more` added.
    pub fn with(&self, more: &[RangeTombstone]) -> RangeTombstones {
        RangeTombstones::new(self.tombstones.iter().chain(more))
    }

    /// The set without the tombstones whose sequence numbers `drop` names.
    pub fn without(&self, drop: &[SeqNo]) -> RangeTombstones {
        RangeTombstones::new(self.tombstones.iter().filter(|t| !drop.contains(&t.seq)))
    }

    /// Merges several sets (the layers of a read view) into one.
    pub fn merged<'a>(sets: impl IntoIterator<Item = &'a RangeTombstones>) -> RangeTombstones {
        RangeTombstones::new(sets.into_iter().flat_map(|s| s.tombstones.iter()))
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
    fn fragments_split_overlaps_and_merge_equal_neighbours() {
        let set = RangeTombstones::new(&[t("a", "e", 5), t("c", "g", 9), t("e", "f", 1)]);
        let shape: Vec<(&[u8], &[u8], Vec<SeqNo>)> = set
            .fragments
            .iter()
            .map(|f| (f.start.as_slice(), f.end.as_slice(), f.seqs.clone()))
            .collect();
        assert_eq!(
            shape,
            [
                (&b"a"[..], &b"c"[..], vec![5]),
                (&b"c"[..], &b"e"[..], vec![9, 5]),
                (&b"e"[..], &b"f"[..], vec![9, 1]),
                (&b"f"[..], &b"g"[..], vec![9]),
            ]
        );
        let single = RangeTombstones::new(&[t("a", "c", 1), t("c", "e", 1)]);
        assert_eq!(single.len(), 1, "same sequence number: one tombstone");
    }

    #[test]
    fn heap_bytes_count_every_covering_sequence_number() {
        let disjoint: Vec<RangeTombstone> = (0..100u64)
            .map(|i| t(&format!("k{i:03}a"), &format!("k{i:03}b"), i + 1))
            .collect();
        let nested: Vec<RangeTombstone> = (0..100u64)
            .map(|i| t(&format!("k{i:03}"), "z", i + 1))
            .collect();
        let disjoint = RangeTombstones::new(&disjoint).heap_bytes();
        let nested = RangeTombstones::new(&nested).heap_bytes();
        // 100 nested ranges hold about 5,050 sequence numbers.
        assert!(nested >= 5_050 * 8, "{nested}");
        assert!(nested > 3 * disjoint, "{nested} vs {disjoint}");
        assert_eq!(RangeTombstones::default().heap_bytes(), 0);
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

    proptest! {
        #[test]
        fn lookup_matches_a_scan_of_all_tombstones(
            list in proptest::collection::vec((0u8..12, 0u8..12, 1u64..40), 0..12),
            key in 0u8..13,
            snapshot in 0u64..45,
        ) {
            let tombstones: Vec<RangeTombstone> = list
                .iter()
                .enumerate()
                .map(|(i, &(a, b, _))| RangeTombstone::new(vec![a], vec![b], i as u64 + 1))
                .collect();
            let set = RangeTombstones::new(&tombstones);
            let expected = tombstones
                .iter()
                .filter(|t| t.contains(&[key]) && t.seq <= snapshot)
                .map(|t| t.seq)
                .max();
            prop_assert_eq!(set.covering_seq(&[key], snapshot), expected);
        }

        #[test]
        fn hinted_lookups_match_plain_ones_in_any_order(
            list in proptest::collection::vec((0u8..12, 0u8..12), 0..12),
            keys in proptest::collection::vec((0u8..13, 0u64..20), 1..30),
            snapshot in 0u64..25,
        ) {
            let tombstones: Vec<RangeTombstone> = list
                .iter()
                .enumerate()
                .map(|(i, &(a, b))| RangeTombstone::new(vec![a], vec![b], i as u64 + 1))
                .collect();
            let set = RangeTombstones::new(&tombstones);
            let mut sorted = keys.clone();
            sorted.sort();
            let mut reversed = sorted.clone();
            reversed.reverse();
            for order in [keys, sorted, reversed] {
                let mut hint = None;
                for (key, seq) in order {
                    prop_assert_eq!(
                        set.hides_near(&[key], seq, snapshot, &mut hint),
                        set.hides(&[key], seq, snapshot)
                    );
                }
            }
        }
    }
}
