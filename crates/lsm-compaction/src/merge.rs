//! `MergingIterator`: a k-way merge of sorted cursors into one sorted
//! cursor.
//!
//! Children are given newest first (memtable, immutable memtables, L0 tables
//! newest to oldest, then one [`crate::LevelIterator`] per deeper level).
//! Two children never hold the same internal key in a healthy store; if they
//! do (e.g. the same WAL record replayed into a memtable and also present in
//! a table), the newer child's entry comes first and the duplicate follows,
//! which the entry filter above treats as a shadowed older entry. With
//! the `invariants` cargo feature, [`MergingIterator::next`] instead panics
//! on it (see [`MergingIterator`]).
//!
//! Like LevelDB's merger, it finds the smallest child by a linear scan: the
//! fan-in is small (a few memtables, the L0 tables, one cursor per level), so
//! a scan beats a heap's bookkeeping.
//!
//! Going backward it finds the largest child instead. Going forward every
//! child that is not current sits at its first entry after the current key;
//! going backward, at its last entry before it. So a change of direction
//! first re-positions every other child (LevelDB's merger does the same):
//! `prev` after `next` moves each to its last entry `<` the current key,
//! `next` after `prev` each to its first entry `>` it. Equal internal keys
//! (the unhealthy case above) keep forward order reversed: going backward,
//! the older child's copy comes first.

use std::cmp::Ordering;

use bytes::Bytes;
use lsm_core::{compare_internal_keys, InternalIterator, Result};

/// A boxed cursor that can move to another thread.
pub type BoxedIterator = Box<dyn InternalIterator + Send>;

/// Merges sorted children into one sorted stream.
///
/// With the `invariants` cargo feature (a test-only switch; release builds
/// too), every [`InternalIterator::next`] asserts that the entry it moves
/// to has an internal key strictly greater than the one it left, and every
/// [`InternalIterator::prev`] one strictly smaller: a child out of order,
/// or the same internal key from two children (or twice from one), panics.
/// Without the feature nothing is checked.
pub struct MergingIterator {
    children: Vec<BoxedIterator>,
    /// Index of the child at the smallest key (going forward) or the
    /// largest (going backward); `None` when exhausted or not positioned.
    /// INVARIANT: if `Some(i)`, `children[i].valid()`.
    current: Option<usize>,
    /// Which way the cursor last moved; tells where the other children sit.
    direction: Direction,
}

/// The direction of the last move of a [`MergingIterator`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Direction {
    /// Every valid child but the current one is at its first entry after
    /// the current key.
    Forward,
    /// Every valid child but the current one is at its last entry before
    /// the current key.
    Backward,
}

impl MergingIterator {
    /// Merges `children`, given newest first.
    pub fn new(children: Vec<BoxedIterator>) -> Self {
        MergingIterator {
            children,
            current: None,
            direction: Direction::Forward,
        }
    }

    /// The child at the largest key; on a tie the later (older) child, the
    /// mirror of [`Self::find_smallest`]'s tie-break.
    fn find_largest(&mut self) {
        let mut largest: Option<usize> = None;
        for (i, child) in self.children.iter().enumerate() {
            if !child.valid() {
                continue;
            }
            largest = match largest {
                Some(l)
                    if compare_internal_keys(child.key(), self.children[l].key())
                        == Ordering::Less =>
                {
                    Some(l)
                }
                _ => Some(i),
            };
        }
        self.current = largest;
    }

    /// Puts every child but the current one at its first entry after the
    /// current key, as going forward expects. A child at an equal key stays
    /// there if it is older than the current one (it comes next).
    fn turn_forward(&mut self, current: usize) -> Result<()> {
        let key = self.children[current].key().to_vec();
        for (i, child) in self.children.iter_mut().enumerate() {
            if i == current {
                continue;
            }
            child.seek(&key)?;
            if child.valid() && i < current && compare_internal_keys(child.key(), &key).is_eq() {
                child.next()?;
            }
        }
        self.direction = Direction::Forward;
        Ok(())
    }

    /// Puts every child but the current one at its last entry before the
    /// current key, as going backward expects. A child at an equal key stays
    /// there if it is newer than the current one (it comes next).
    fn turn_backward(&mut self, current: usize) -> Result<()> {
        let key = self.children[current].key().to_vec();
        for (i, child) in self.children.iter_mut().enumerate() {
            if i == current {
                continue;
            }
            child.seek(&key)?;
            if !child.valid() {
                child.seek_to_last()?;
            } else if !(i < current && compare_internal_keys(child.key(), &key).is_eq()) {
                child.prev()?;
            }
        }
        self.direction = Direction::Backward;
        Ok(())
    }

    fn find_smallest(&mut self) {
        let mut smallest: Option<usize> = None;
        for (i, child) in self.children.iter().enumerate() {
            if !child.valid() {
                continue;
            }
            smallest = match smallest {
                None => Some(i),
                Some(s) => {
                    // Strictly less: on a tie the earlier (newer) child wins.
                    if compare_internal_keys(child.key(), self.children[s].key()) == Ordering::Less
                    {
                        Some(i)
                    } else {
                        Some(s)
                    }
                }
            };
        }
        self.current = smallest;
    }
}

impl InternalIterator for MergingIterator {
    fn valid(&self) -> bool {
        self.current.is_some()
    }

    fn key(&self) -> &[u8] {
        debug_assert!(self.valid());
        self.current.map_or(&[], |i| self.children[i].key())
    }

    fn value(&self) -> &[u8] {
        debug_assert!(self.valid());
        self.current.map_or(&[], |i| self.children[i].value())
    }

    /// The current child's [`InternalIterator::value_bytes`]: a slice of
    /// its buffer where the child has one, so no copy.
    fn value_bytes(&self) -> Bytes {
        debug_assert!(self.valid());
        self.current
            .map_or_else(Bytes::new, |i| self.children[i].value_bytes())
    }

    fn next(&mut self) -> Result<()> {
        let Some(i) = self.current else {
            return Ok(());
        };
        #[cfg(feature = "invariants")]
        let previous = self.children[i].key().to_vec();
        let moved = match self.direction {
            Direction::Forward => Ok(()),
            Direction::Backward => self.turn_forward(i),
        }
        .and_then(|()| self.children[i].next());
        if let Err(err) = moved {
            self.current = None;
            return Err(err);
        }
        self.find_smallest();
        #[cfg(feature = "invariants")]
        if let Some(now) = self.current {
            assert_strictly_ordered(&previous, self.children[now].key(), "increasing");
        }
        Ok(())
    }

    fn prev(&mut self) -> Result<()> {
        let Some(i) = self.current else {
            return Ok(());
        };
        #[cfg(feature = "invariants")]
        let previous = self.children[i].key().to_vec();
        let moved = match self.direction {
            Direction::Backward => Ok(()),
            Direction::Forward => self.turn_backward(i),
        }
        .and_then(|()| self.children[i].prev());
        if let Err(err) = moved {
            self.current = None;
            return Err(err);
        }
        self.find_largest();
        #[cfg(feature = "invariants")]
        if let Some(now) = self.current {
            assert_strictly_ordered(self.children[now].key(), &previous, "decreasing");
        }
        Ok(())
    }

    fn seek(&mut self, target: &[u8]) -> Result<()> {
        self.current = None;
        self.direction = Direction::Forward;
        for child in &mut self.children {
            child.seek(target)?;
        }
        self.find_smallest();
        Ok(())
    }

    fn seek_for_prev(&mut self, target: &[u8]) -> Result<()> {
        self.current = None;
        self.direction = Direction::Backward;
        for child in &mut self.children {
            child.seek_for_prev(target)?;
        }
        self.find_largest();
        Ok(())
    }

    fn seek_to_first(&mut self) -> Result<()> {
        self.current = None;
        self.direction = Direction::Forward;
        for child in &mut self.children {
            child.seek_to_first()?;
        }
        self.find_smallest();
        Ok(())
    }

    fn seek_to_last(&mut self) -> Result<()> {
        self.current = None;
        self.direction = Direction::Backward;
        for child in &mut self.children {
            child.seek_to_last()?;
        }
        self.find_largest();
        Ok(())
    }
}

/// The `invariants` check of [`MergingIterator::next`] and
/// [`MergingIterator::prev`]: `smaller` must sort strictly before `larger`
/// (the output is strictly `increasing` or `decreasing`, the way it went).
#[cfg(feature = "invariants")]
#[allow(
    clippy::panic,
    reason = "the invariants feature is a test-only switch whose checks panic"
)]
fn assert_strictly_ordered(smaller: &[u8], larger: &[u8], way: &str) {
    if compare_internal_keys(smaller, larger) != Ordering::Less {
        panic!(
            "invariant broken: merge output not strictly {way}: {:?} and {:?}",
            lsm_core::parse_internal_key(smaller),
            lsm_core::parse_internal_key(larger),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use lsm_core::{InternalKey, ValueKind, VecCursor};
    use proptest::prelude::*;

    fn e(k: &str, seq: u64) -> (Vec<u8>, Vec<u8>) {
        (
            InternalKey::new(k.as_bytes(), seq, ValueKind::Put).into_bytes(),
            format!("{k}{seq}").into_bytes(),
        )
    }

    fn drain(it: &mut MergingIterator) -> Vec<Vec<u8>> {
        let mut out = Vec::new();
        while it.valid() {
            out.push(it.value().to_vec());
            it.next().unwrap();
        }
        out
    }

    #[test]
    fn merges_in_internal_key_order() {
        let a = VecCursor::new(vec![e("a", 5), e("c", 9)]);
        let b = VecCursor::new(vec![e("a", 3), e("b", 1), e("c", 10)]);
        let mut m = MergingIterator::new(vec![Box::new(a), Box::new(b)]);
        m.seek_to_first().unwrap();
        assert_eq!(drain(&mut m), [&b"a5"[..], b"a3", b"b1", b"c10", b"c9"]);
        m.seek(InternalKey::for_seek(b"c", 9).as_bytes()).unwrap();
        assert_eq!(drain(&mut m), [&b"c9"[..]]);
    }

    #[test]
    fn child_error_surfaces_and_invalidates() {
        let a = VecCursor::new(vec![e("a", 1), e("b", 1)]).fail_after(2);
        let mut m = MergingIterator::new(vec![Box::new(a)]);
        m.seek_to_first().unwrap();
        m.next().unwrap();
        assert!(m.next().is_err());
        assert!(!m.valid());
    }

    /// With the feature, a repeated internal key (here from two children)
    /// panics on the `next` that reaches the copy; without it, the copy
    /// follows the original.
    #[test]
    #[cfg_attr(
        feature = "invariants",
        should_panic(expected = "merge output not strictly increasing")
    )]
    fn a_repeated_internal_key_is_caught_under_invariants() {
        let a = VecCursor::new(vec![e("a", 5), e("b", 1)]);
        let b = VecCursor::new(vec![e("a", 5)]);
        let mut m = MergingIterator::new(vec![Box::new(a), Box::new(b)]);
        m.seek_to_first().unwrap();
        assert_eq!(drain(&mut m), [&b"a5"[..], b"a5", b"b1"]);
    }

    /// A child that goes backwards is caught the same way.
    #[test]
    #[cfg_attr(
        feature = "invariants",
        should_panic(expected = "merge output not strictly increasing")
    )]
    fn a_child_out_of_order_is_caught_under_invariants() {
        let unsorted = Unsorted {
            entries: vec![e("b", 1), e("a", 1)],
            pos: 0,
        };
        let mut m = MergingIterator::new(vec![Box::new(unsorted)]);
        m.seek_to_first().unwrap();
        assert_eq!(drain(&mut m), [&b"b1"[..], b"a1"]);
    }

    /// A cursor that yields its entries in the order given.
    struct Unsorted {
        entries: Vec<(Vec<u8>, Vec<u8>)>,
        pos: usize,
    }

    impl InternalIterator for Unsorted {
        fn valid(&self) -> bool {
            self.pos < self.entries.len()
        }
        fn key(&self) -> &[u8] {
            &self.entries[self.pos].0
        }
        fn value(&self) -> &[u8] {
            &self.entries[self.pos].1
        }
        fn next(&mut self) -> Result<()> {
            self.pos += 1;
            Ok(())
        }
        fn prev(&mut self) -> Result<()> {
            self.pos = self.pos.checked_sub(1).unwrap_or(self.entries.len());
            Ok(())
        }
        fn seek(&mut self, _target: &[u8]) -> Result<()> {
            unimplemented!("not used")
        }
        fn seek_for_prev(&mut self, _target: &[u8]) -> Result<()> {
            unimplemented!("not used")
        }
        fn seek_to_first(&mut self) -> Result<()> {
            self.pos = 0;
            Ok(())
        }
        fn seek_to_last(&mut self) -> Result<()> {
            self.pos = self.entries.len().saturating_sub(1);
            Ok(())
        }
    }

    fn drain_backward(it: &mut MergingIterator) -> Vec<Vec<u8>> {
        let mut out = Vec::new();
        while it.valid() {
            out.push(it.value().to_vec());
            it.prev().unwrap();
        }
        out
    }

    #[test]
    fn merges_backward_in_reverse_internal_key_order() {
        let a = VecCursor::new(vec![e("a", 5), e("c", 9)]);
        let b = VecCursor::new(vec![e("a", 3), e("b", 1), e("c", 10)]);
        let mut m = MergingIterator::new(vec![Box::new(a), Box::new(b)]);
        m.seek_to_last().unwrap();
        assert_eq!(
            drain_backward(&mut m),
            [&b"c9"[..], b"c10", b"b1", b"a3", b"a5"]
        );
        // The last entry <= c@10 is c@10 itself; before every "c": b@1.
        m.seek_for_prev(&e("c", 10).0).unwrap();
        assert_eq!(m.value(), b"c10");
        m.seek_for_prev(InternalKey::for_seek(b"c", 100).as_bytes())
            .unwrap();
        assert_eq!(drain_backward(&mut m), [&b"b1"[..], b"a3", b"a5"]);
    }

    /// Each switch of direction re-positions the children that are not
    /// current, so the merge steps to the neighbouring entry, never skipping
    /// or repeating one.
    #[test]
    fn direction_switches_step_to_the_neighbouring_entry() {
        let a = VecCursor::new(vec![e("a", 1), e("d", 1), e("g", 1)]);
        let b = VecCursor::new(vec![e("b", 1), e("e", 1)]);
        let c = VecCursor::new(vec![e("c", 1), e("f", 1)]);
        let mut m = MergingIterator::new(vec![Box::new(a), Box::new(b), Box::new(c)]);
        m.seek(InternalKey::for_seek(b"d", 5).as_bytes()).unwrap();
        assert_eq!(m.value(), b"d1");
        m.prev().unwrap();
        assert_eq!(m.value(), b"c1");
        m.prev().unwrap();
        assert_eq!(m.value(), b"b1");
        m.next().unwrap();
        assert_eq!(m.value(), b"c1");
        m.next().unwrap();
        assert_eq!(m.value(), b"d1");
        m.next().unwrap();
        assert_eq!(m.value(), b"e1");
        m.prev().unwrap();
        assert_eq!(m.value(), b"d1");
        m.seek_for_prev(InternalKey::for_seek(b"f", 0).as_bytes())
            .unwrap();
        assert_eq!(m.value(), b"f1");
        m.next().unwrap();
        assert_eq!(m.value(), b"g1");
        m.next().unwrap();
        assert!(!m.valid());
        m.seek_to_first().unwrap();
        m.prev().unwrap();
        assert!(!m.valid(), "before the first entry");
    }

    /// Without the feature, the same internal key from two children comes
    /// out newer child first going forward and older child first going
    /// backward, also across a switch of direction; with it, `prev` onto the
    /// copy panics.
    #[test]
    #[cfg_attr(
        feature = "invariants",
        should_panic(expected = "merge output not strictly decreasing")
    )]
    fn a_repeated_internal_key_reverses_exactly() {
        let newer = VecCursor::new(vec![(e("a", 5).0, b"newer".to_vec()), e("b", 1)]);
        let older = VecCursor::new(vec![e("a", 4), (e("a", 5).0, b"older".to_vec())]);
        let mut m = MergingIterator::new(vec![Box::new(newer), Box::new(older)]);
        m.seek_to_last().unwrap();
        assert_eq!(
            drain_backward(&mut m),
            [&b"b1"[..], b"a4", b"older", b"newer"]
        );
        m.seek(InternalKey::for_seek(b"a", 5).as_bytes()).unwrap();
        assert_eq!(m.value(), b"newer");
        m.next().unwrap();
        assert_eq!(m.value(), b"older");
        m.prev().unwrap();
        assert_eq!(m.value(), b"newer");
        m.next().unwrap();
        assert_eq!(m.value(), b"older");
        m.next().unwrap();
        assert_eq!(m.value(), b"a4");
        m.prev().unwrap();
        assert_eq!(m.value(), b"older");
    }

    #[test]
    fn child_error_while_turning_surfaces_and_invalidates() {
        // seek, next, then the turn's seek of `a` is its third move.
        let a = VecCursor::new(vec![e("a", 1), e("c", 1)]).fail_after(2);
        let b = VecCursor::new(vec![e("b", 1)]);
        let mut m = MergingIterator::new(vec![Box::new(a), Box::new(b)]);
        m.seek_to_first().unwrap();
        m.next().unwrap();
        assert_eq!(m.value(), b"b1");
        assert!(m.prev().unwrap_err().is_corruption());
        assert!(!m.valid());
    }

    proptest! {
        #[test]
        fn equals_sorted_union(sets in proptest::collection::vec(proptest::collection::btree_set((0u8..20, 0u64..50), 0..20), 0..5)) {
            // Give each child distinct seqnos so keys are unique across children.
            let mut all = Vec::new();
            let mut children: Vec<BoxedIterator> = Vec::new();
            for (c, set) in sets.iter().enumerate() {
                let entries: Vec<_> = set.iter().map(|&(k, s)| {
                    let seq = s * 8 + c as u64;
                    (InternalKey::new(&[k], seq, ValueKind::Put).into_bytes(), vec![c as u8])
                }).collect();
                all.extend(entries.iter().map(|(k, _)| k.clone()));
                children.push(Box::new(VecCursor::new(entries)));
            }
            all.sort_by(|a, b| compare_internal_keys(a, b));
            let mut m = MergingIterator::new(children);
            m.seek_to_first().unwrap();
            let mut got = Vec::new();
            while m.valid() { got.push(m.key().to_vec()); m.next().unwrap(); }
            prop_assert_eq!(&got, &all);
            m.seek_to_last().unwrap();
            let mut got = Vec::new();
            while m.valid() { got.push(m.key().to_vec()); m.prev().unwrap(); }
            got.reverse();
            prop_assert_eq!(got, all);
        }

        /// Random walks of `next` and `prev` from a random seek land where
        /// an index into the sorted union says, at every step.
        #[test]
        fn random_walks_match_the_sorted_union(
            sets in proptest::collection::vec(proptest::collection::btree_set((0u8..12, 0u64..6), 0..12), 1..5),
            start in (0u8..4, 0u8..13, 0u64..8),
            moves in proptest::collection::vec(any::<bool>(), 0..40),
        ) {
            let mut all = Vec::new();
            let mut children: Vec<BoxedIterator> = Vec::new();
            for (c, set) in sets.iter().enumerate() {
                let entries: Vec<_> = set.iter().map(|&(k, s)| {
                    let seq = s * 8 + c as u64;
                    (InternalKey::new(&[k], seq, ValueKind::Put).into_bytes(), vec![c as u8])
                }).collect();
                all.extend(entries.iter().map(|(k, _)| k.clone()));
                children.push(Box::new(VecCursor::new(entries)));
            }
            all.sort_by(|a, b| compare_internal_keys(a, b));
            let mut m = MergingIterator::new(children);
            let (how, user_key, seq) = start;
            let target = InternalKey::for_seek(&[user_key], seq * 8 + 3).into_bytes();
            // The model's position: Some(index into `all`) or None.
            let mut at: Option<usize> = match how {
                0 => { m.seek_to_first().unwrap(); (!all.is_empty()).then_some(0) }
                1 => { m.seek_to_last().unwrap(); all.len().checked_sub(1) }
                2 => {
                    m.seek(&target).unwrap();
                    let i = all.partition_point(|k| compare_internal_keys(k, &target).is_lt());
                    (i < all.len()).then_some(i)
                }
                _ => {
                    m.seek_for_prev(&target).unwrap();
                    all.partition_point(|k| compare_internal_keys(k, &target).is_le()).checked_sub(1)
                }
            };
            for forward in moves {
                prop_assert_eq!(m.valid(), at.is_some());
                let Some(i) = at else { break };
                prop_assert_eq!(m.key(), &all[i][..]);
                if forward {
                    m.next().unwrap();
                    at = (i + 1 < all.len()).then_some(i + 1);
                } else {
                    m.prev().unwrap();
                    at = i.checked_sub(1);
                }
            }
            prop_assert_eq!(m.valid(), at.is_some());
            if let Some(i) = at {
                prop_assert_eq!(m.key(), &all[i][..]);
            }
        }
    }
}
