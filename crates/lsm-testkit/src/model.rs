//! The model test: operation sequences run against a store and a
//! `BTreeMap`; every read (get, range forward, backward and with `next` and
//! `next_back` mixed, snapshot range both ways and get, and a full scan
//! after a final reopen) must agree with the model.

use std::collections::BTreeMap;
use std::ops::Bound;
use std::path::Path;

use std::time::Duration;

use lsm_core::{SeqNo, WriteBatch};
use lsm_store_sync::{KvSnapshot, KvStore, LsmConfig, SyncMode};
use proptest::prelude::*;

/// One step of a model-test sequence. Keys are indices `0..40`, mapped to
/// `key000`..`key039`.
#[derive(Clone, Debug)]
pub enum Op {
    /// Put a value under a key.
    Put(u8, Vec<u8>),
    /// Delete a key.
    Delete(u8),
    /// Apply one batch of puts (`Some`) and deletes (`None`).
    Batch(Vec<(u8, Option<Vec<u8>>)>),
    /// Point read, compared with the model.
    Get(u8),
    /// Range scan, forward and backward, compared with the model (skipped
    /// if the bounds are empty or inverted).
    Range(Bound<u8>, Bound<u8>),
    /// Range scan taking `next` (true) or `next_back` (false) as the list
    /// says, then alternating, until the ends meet; every item compared
    /// with the model's front or back.
    RangeMixed(Bound<u8>, Bound<u8>, Vec<bool>),
    /// Take a snapshot, then put the key, delete the next one and flush;
    /// the snapshot must still show the state at the time it was taken.
    SnapshotThenWrites(u8, Vec<u8>),
    /// Flush the memtable.
    Flush,
    /// Compact a level into the next one.
    Compact(usize),
    /// Close and reopen the store.
    Reopen,
}

/// How long the model test waits for a write to become visible
/// ([`KvStore::wait_visible`]) before failing.
pub const FENCE: Duration = Duration::from_secs(30);

fn key(k: u8) -> Vec<u8> {
    format!("key{k:03}").into_bytes()
}

/// A random model-test step (keys `0..40`, values up to 119 bytes).
pub fn op_strategy() -> impl Strategy<Value = Op> {
    let value = proptest::collection::vec(any::<u8>(), 0..120);
    let bound = prop_oneof![
        Just(Bound::Unbounded),
        (0u8..40).prop_map(Bound::Included),
        (0u8..40).prop_map(Bound::Excluded)
    ];
    prop_oneof![
        8 => (0u8..40, value.clone()).prop_map(|(k, v)| Op::Put(k, v)),
        3 => (0u8..40).prop_map(Op::Delete),
        2 => proptest::collection::vec((0u8..40, proptest::option::of(value.clone())), 1..6).prop_map(Op::Batch),
        4 => (0u8..40).prop_map(Op::Get),
        2 => (bound.clone(), bound.clone()).prop_map(|(a, b)| Op::Range(a, b)),
        1 => (bound.clone(), bound, proptest::collection::vec(any::<bool>(), 0..12))
            .prop_map(|(a, b, steps)| Op::RangeMixed(a, b, steps)),
        1 => (0u8..40, value).prop_map(|(k, v)| Op::SnapshotThenWrites(k, v)),
        1 => Just(Op::Flush),
        1 => (0usize..3).prop_map(Op::Compact),
        1 => Just(Op::Reopen),
    ]
}

/// The store configuration of the model test: tiny sizes so flushes,
/// multi-level compactions and WAL rotations all happen within a few
/// hundred operations; no WAL sync.
pub fn model_config(dir: &Path) -> LsmConfig {
    LsmConfig::builder(dir)
        .memtable_bytes(4096)
        .wal_segment_bytes(8192)
        .table_target_bytes(4096)
        .block_bytes(256)
        .base_level_bytes(8192)
        .l0_trigger(2)
        .num_levels(4)
        .wal_sync(SyncMode::Never)
        .build()
        .unwrap()
}

/// A fixed sequence of 3000 writes (with deletes, periodic reopens and
/// range checks): enough for several flushes and compactions into L2.
pub fn long_deterministic_ops() -> Vec<Op> {
    let mut ops = Vec::new();
    for i in 0..3000u32 {
        let k = (i.wrapping_mul(7919) % 40) as u8;
        if i % 7 == 0 {
            ops.push(Op::Delete(k));
        } else {
            ops.push(Op::Put(k, vec![(i % 251) as u8; (i % 90) as usize]));
        }
        if i % 500 == 0 {
            ops.push(Op::Reopen);
        }
        if i % 97 == 0 {
            ops.push(Op::Range(Bound::Included(5), Bound::Excluded(30)));
        }
    }
    ops
}

fn map_bound(b: &Bound<u8>) -> Bound<Vec<u8>> {
    match b {
        Bound::Included(k) => Bound::Included(key(*k)),
        Bound::Excluded(k) => Bound::Excluded(key(*k)),
        Bound::Unbounded => Bound::Unbounded,
    }
}

fn valid_range(start: &Bound<Vec<u8>>, end: &Bound<Vec<u8>>) -> bool {
    // BTreeMap::range panics on start > end or equal excluded bounds.
    match (start, end) {
        (Bound::Included(s), Bound::Included(e)) => s <= e,
        (Bound::Included(s) | Bound::Excluded(s), Bound::Excluded(e))
        | (Bound::Excluded(s), Bound::Included(e)) => s < e,
        _ => true,
    }
}

/// Every pair of `iter`, panicking on an error.
fn collect<E: std::fmt::Debug>(
    iter: impl Iterator<Item = Result<(Vec<u8>, Vec<u8>), E>>,
) -> Vec<(Vec<u8>, Vec<u8>)> {
    iter.collect::<Result<_, _>>().unwrap()
}

/// Every pair of `iter` taken from the back, in key order, panicking on an
/// error.
fn collect_backward<E: std::fmt::Debug>(
    iter: impl DoubleEndedIterator<Item = Result<(Vec<u8>, Vec<u8>), E>>,
) -> Vec<(Vec<u8>, Vec<u8>)> {
    let mut pairs: Vec<_> = iter.rev().collect::<Result<_, _>>().unwrap();
    pairs.reverse();
    pairs
}

/// Drives `iter` by `steps` (true = `next`, false = `next_back`, then
/// alternating) until an end is exhausted, asserting each item is the
/// model's front or back, then that both ends stay exhausted.
fn check_mixed<E: std::fmt::Debug>(
    mut iter: impl DoubleEndedIterator<Item = Result<(Vec<u8>, Vec<u8>), E>>,
    want: Vec<(Vec<u8>, Vec<u8>)>,
    steps: &[bool],
) {
    let mut left: std::collections::VecDeque<_> = want.into();
    let mut choices = steps
        .iter()
        .copied()
        .chain([true, false].into_iter().cycle());
    loop {
        let forward = choices.next().unwrap_or(true);
        let (got, expected) = if forward {
            (iter.next(), left.pop_front())
        } else {
            (iter.next_back(), left.pop_back())
        };
        let got = got.transpose().unwrap();
        assert_eq!(got, expected, "mixed range, forward: {forward}");
        if got.is_none() {
            assert!(iter.next().is_none() && iter.next_back().is_none());
            return;
        }
    }
}

/// Makes every write up to `last` visible to reads before the model test
/// reads (at once for the sync store).
fn fence<S: KvStore>(store: &S, last: SeqNo) {
    assert!(
        store.wait_visible(last, FENCE),
        "watermark never reached {last}"
    );
}

/// Runs `ops` against a fresh store `S` (in a temporary directory, with
/// [`model_config`]) and a `BTreeMap`, asserting that every read agrees;
/// finally closes, reopens, checks that the reopened store's watermark is
/// the last acknowledged write, and compares a full scan with the model.
/// Panics on any disagreement.
pub fn run_model<S: KvStore>(ops: Vec<Op>) {
    let dir = tempfile::tempdir().unwrap();
    let mut store = S::open(model_config(dir.path())).unwrap();
    let mut model: BTreeMap<Vec<u8>, Vec<u8>> = BTreeMap::new();
    let mut last = 0;
    for op in ops {
        match op {
            Op::Put(k, v) => {
                last = store.put(&key(k), &v).unwrap();
                model.insert(key(k), v);
            }
            Op::Delete(k) => {
                last = store.delete(&key(k)).unwrap();
                model.remove(&key(k));
            }
            Op::Batch(items) => {
                let mut batch = WriteBatch::new();
                for (k, v) in &items {
                    match v {
                        Some(v) => batch.put(&key(*k), v),
                        None => batch.delete(&key(*k)),
                    };
                }
                last = store.write(&batch).unwrap();
                for (k, v) in items {
                    match v {
                        Some(v) => model.insert(key(k), v),
                        None => model.remove(&key(k)),
                    };
                }
            }
            Op::Get(k) => {
                fence(&store, last);
                assert_eq!(
                    store.get(&key(k)).unwrap(),
                    model.get(&key(k)).cloned(),
                    "get {k}"
                );
            }
            Op::Range(a, b) => {
                let (start, end) = (map_bound(&a), map_bound(&b));
                if !valid_range(&start, &end) {
                    continue;
                }
                fence(&store, last);
                let got = collect(store.range(start.clone(), end.clone()).unwrap());
                let want: Vec<(Vec<u8>, Vec<u8>)> = model
                    .range((start.clone(), end.clone()))
                    .map(|(k, v)| (k.clone(), v.clone()))
                    .collect();
                assert_eq!(got, want, "range {a:?}..{b:?}");
                let backward = collect_backward(store.range(start, end).unwrap());
                assert_eq!(backward, want, "range {a:?}..{b:?} backward");
            }
            Op::RangeMixed(a, b, steps) => {
                let (start, end) = (map_bound(&a), map_bound(&b));
                if !valid_range(&start, &end) {
                    continue;
                }
                fence(&store, last);
                let want: Vec<(Vec<u8>, Vec<u8>)> = model
                    .range((start.clone(), end.clone()))
                    .map(|(k, v)| (k.clone(), v.clone()))
                    .collect();
                check_mixed(store.range(start, end).unwrap(), want, &steps);
            }
            Op::SnapshotThenWrites(k, v) => {
                let frozen = model.clone();
                fence(&store, last);
                let snapshot = store.snapshot().unwrap();
                store.put(&key(k), &v).unwrap();
                last = store.delete(&key(k.wrapping_add(1) % 40)).unwrap();
                store.flush().unwrap();
                model.insert(key(k), v);
                model.remove(&key(k.wrapping_add(1) % 40));
                let seen = collect(snapshot.range(Bound::Unbounded, Bound::Unbounded).unwrap());
                let want: Vec<(Vec<u8>, Vec<u8>)> =
                    frozen.iter().map(|(k, v)| (k.clone(), v.clone())).collect();
                assert_eq!(seen, want, "snapshot view changed");
                let seen_backward =
                    collect_backward(snapshot.range(Bound::Unbounded, Bound::Unbounded).unwrap());
                assert_eq!(seen_backward, want, "snapshot view changed, read backward");
                assert_eq!(snapshot.get(&key(k)).unwrap(), frozen.get(&key(k)).cloned());
            }
            Op::Flush => store.flush().unwrap(),
            Op::Compact(level) => store.compact_level(level).unwrap(),
            Op::Reopen => {
                store.close().unwrap();
                drop(store);
                store = S::open(model_config(dir.path())).unwrap();
            }
        }
    }
    // Final full comparison, after one more reopen.
    store.close().unwrap();
    drop(store);
    let store = S::open(model_config(dir.path())).unwrap();
    let stats = store.stats().unwrap();
    assert_eq!(stats.last_seq, last, "reopen must recover every write");
    assert_eq!(stats.visible_seq, last, "reopen must replay every write");
    let all = collect(store.range(Bound::Unbounded, Bound::Unbounded).unwrap());
    let want: Vec<(Vec<u8>, Vec<u8>)> = model.into_iter().collect();
    assert_eq!(all, want);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn valid_range_rejects_the_bounds_btreemap_range_panics_on() {
        let (a, b) = (key(3), key(7));
        assert!(valid_range(
            &Bound::Included(a.clone()),
            &Bound::Included(a.clone())
        ));
        assert!(!valid_range(
            &Bound::Excluded(a.clone()),
            &Bound::Excluded(a.clone())
        ));
        assert!(!valid_range(
            &Bound::Included(b.clone()),
            &Bound::Excluded(a.clone())
        ));
        assert!(valid_range(&Bound::Excluded(a), &Bound::Included(b)));
        assert!(valid_range(&Bound::Unbounded, &Bound::Unbounded));
    }

    #[test]
    fn long_deterministic_ops_reopen_and_scan_periodically() {
        let ops = long_deterministic_ops();
        let reopens = ops.iter().filter(|op| matches!(op, Op::Reopen)).count();
        let ranges = ops.iter().filter(|op| matches!(op, Op::Range(..))).count();
        assert_eq!(reopens, 6);
        assert_eq!(ranges, 31);
        assert_eq!(ops.len(), 3000 + reopens + ranges);
    }
}
