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

use std::cmp::Ordering;

use lsm_core::{compare_internal_keys, InternalIterator, Result};

/// A boxed cursor that can move to another thread.
pub type BoxedIterator = Box<dyn InternalIterator + Send>;

/// Merges sorted children into one sorted stream.
///
/// With the `invariants` cargo feature (a test-only switch; release builds
/// too), every [`InternalIterator::next`] asserts that the entry it moves
/// to has an internal key strictly greater than the one it left: a child
/// out of order, or the same internal key from two children (or twice from
/// one), panics. Without the feature nothing is checked.
pub struct MergingIterator {
    children: Vec<BoxedIterator>,
    /// Index of the child at the smallest key; `None` when exhausted or not
    /// positioned. INVARIANT: if `Some(i)`, `children[i].valid()`.
    current: Option<usize>,
}

impl MergingIterator {
    /// Merges `children`, given newest first.
    pub fn new(children: Vec<BoxedIterator>) -> Self {
        MergingIterator {
            children,
            current: None,
        }
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

    fn next(&mut self) -> Result<()> {
        let Some(i) = self.current else {
            return Ok(());
        };
        #[cfg(feature = "invariants")]
        let previous = self.children[i].key().to_vec();
        if let Err(err) = self.children[i].next() {
            self.current = None;
            return Err(err);
        }
        self.find_smallest();
        #[cfg(feature = "invariants")]
        if let Some(now) = self.current {
            assert_strictly_increasing(&previous, self.children[now].key());
        }
        Ok(())
    }

    fn seek(&mut self, target: &[u8]) -> Result<()> {
        self.current = None;
        for child in &mut self.children {
            child.seek(target)?;
        }
        self.find_smallest();
        Ok(())
    }

    fn seek_to_first(&mut self) -> Result<()> {
        self.current = None;
        for child in &mut self.children {
            child.seek_to_first()?;
        }
        self.find_smallest();
        Ok(())
    }
}

/// The `invariants` check of [`MergingIterator::next`]: `next` must sort
/// strictly after `previous`.
#[cfg(feature = "invariants")]
#[allow(
    clippy::panic,
    reason = "the invariants feature is a test-only switch whose checks panic"
)]
fn assert_strictly_increasing(previous: &[u8], next: &[u8]) {
    if compare_internal_keys(previous, next) != Ordering::Less {
        panic!(
            "invariant broken: merge output not strictly increasing: {:?} then {:?}",
            lsm_core::parse_internal_key(previous),
            lsm_core::parse_internal_key(next),
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
        fn seek(&mut self, _target: &[u8]) -> Result<()> {
            unimplemented!("not used")
        }
        fn seek_to_first(&mut self) -> Result<()> {
            self.pos = 0;
            Ok(())
        }
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
            prop_assert_eq!(got, all);
        }
    }
}
