//! The model test: operation sequences run against a store and a
//! `BTreeMap` per keyspace; every read (get, range forward, backward and
//! with `next` and `next_back` mixed, snapshot range both ways and get,
//! reads in named keyspaces, and a full scan of every keyspace after a
//! final reopen) must agree with the model, and so must every checkpoint,
//! opened right after it is taken and again at the end. Range deletes,
//! keyspace creation and drops, and batches spanning keyspaces are
//! operations like any other.

use std::collections::BTreeMap;
use std::ops::Bound;
use std::path::Path;

use std::time::Duration;

use lsm_core::{KeyspaceId, SeqNo, WriteBatch};
use lsm_store_sync::{KvSnapshot, KvStore, LsmConfig, ReadOnlyStore, SyncMode};
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
    /// Take a checkpoint; it must hold exactly the model (its sequence
    /// number is the last write's): read at once through a
    /// `ReadOnlyStore`, and opened as a store `S` after the last operation
    /// (when the source store has compacted its tables away).
    Checkpoint,
    /// Delete every key in `[a, b)` of a keyspace slot (0: the default
    /// keyspace; 1, 2: keyspaces `ks1`, `ks2`, created first if missing).
    RangeDelete(u8, u8, u8),
    /// Put a value under a key of a keyspace slot (created first if
    /// missing).
    PutIn(u8, u8, Vec<u8>),
    /// One batch over several keyspace slots (each created first if
    /// missing): puts (`Some`) and deletes (`None`).
    BatchIn(Vec<(u8, u8, Option<Vec<u8>>)>),
    /// Point read in a keyspace slot (the store must agree that a missing
    /// keyspace holds nothing).
    GetIn(u8, u8),
    /// Full scan of a keyspace slot, compared with the model.
    ScanIn(u8),
    /// Drop the keyspace of a slot (1 or 2) if it exists.
    DropKeyspace(u8),
}

/// Keyspace slots of the model test: 0 is the default keyspace, 1 and 2
/// the named keyspaces `ks1` and `ks2`.
const SLOTS: u8 = 3;

fn slot_name(slot: u8) -> String {
    format!("ks{slot}")
}

/// The model of the named keyspaces: the live pairs of every existing one,
/// by slot.
type Model = BTreeMap<u8, BTreeMap<Vec<u8>, Vec<u8>>>;

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
        1 => (0u8..40, value.clone()).prop_map(|(k, v)| Op::SnapshotThenWrites(k, v)),
        1 => Just(Op::Flush),
        1 => (0usize..3).prop_map(Op::Compact),
        1 => Just(Op::Reopen),
        1 => Just(Op::Checkpoint),
        2 => (0..SLOTS, 0u8..40, 0u8..41).prop_map(|(s, a, b)| Op::RangeDelete(s, a, b)),
        3 => (1..SLOTS, 0u8..40, value.clone()).prop_map(|(s, k, v)| Op::PutIn(s, k, v)),
        1 => proptest::collection::vec((0..SLOTS, 0u8..40, proptest::option::of(value.clone())), 1..5).prop_map(Op::BatchIn),
        2 => (0..SLOTS, 0u8..40).prop_map(|(s, k)| Op::GetIn(s, k)),
        1 => (0..SLOTS).prop_map(Op::ScanIn),
        1 => (1..SLOTS).prop_map(Op::DropKeyspace),
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

/// A fixed sequence of 3000 writes (with deletes, periodic reopens, range
/// checks, checkpoints, range deletes, writes to two named keyspaces and
/// drops of one): enough for several flushes and compactions into L2.
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
        if i % 700 == 350 {
            ops.push(Op::Checkpoint);
        }
        if i % 97 == 0 {
            ops.push(Op::Range(Bound::Included(5), Bound::Excluded(30)));
        }
        if i % 150 == 75 {
            ops.push(Op::RangeDelete((i % 3) as u8, k, k.saturating_add(6)));
        }
        if i % 40 == 20 {
            ops.push(Op::PutIn(1 + (i % 2) as u8, k, vec![(i % 13) as u8; 20]));
        }
        if i % 1000 == 900 {
            ops.push(Op::DropKeyspace(1));
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

/// Checks that the checkpoint in `dir` holds exactly `model` at sequence
/// number `seq`: read-only (writing nothing, no fsync), or opened as a
/// store `S`.
fn check_checkpoint<S: KvStore>(
    dir: &Path,
    model: &BTreeMap<Vec<u8>, Vec<u8>>,
    seq: SeqNo,
    read_only: bool,
) {
    let want: Vec<(Vec<u8>, Vec<u8>)> = model.iter().map(|(k, v)| (k.clone(), v.clone())).collect();
    let (stats, all) = if read_only {
        let copy = ReadOnlyStore::open(model_config(dir)).unwrap();
        let all = collect(copy.range(..).unwrap());
        (copy.stats().unwrap(), all)
    } else {
        let copy = S::open(model_config(dir)).unwrap();
        let all = collect(copy.range(Bound::Unbounded, Bound::Unbounded).unwrap());
        let stats = copy.stats().unwrap();
        copy.close().unwrap();
        (stats, all)
    };
    assert_eq!(
        (stats.last_seq, stats.visible_seq),
        (seq, seq),
        "{}",
        dir.display()
    );
    assert_eq!(all, want, "checkpoint {}", dir.display());
}

/// The keyspace id of `slot` (0: the default keyspace), creating the
/// named keyspace (in the store and the model) if it does not exist yet;
/// moves `last` past the creating write.
fn slot_id<S: KvStore>(store: &S, named: &mut Model, slot: u8, last: &mut SeqNo) -> KeyspaceId {
    if slot == 0 {
        return KeyspaceId::DEFAULT;
    }
    let created = !named.contains_key(&slot);
    let id = store.open_keyspace(&slot_name(slot)).unwrap();
    if created {
        named.insert(slot, BTreeMap::new());
        *last = store.stats().unwrap().last_seq;
    }
    id
}

/// Checks the named keyspaces of `store` against `named`: the same names,
/// and in each the same pairs.
fn check_named<S: KvStore>(store: &S, named: &Model, what: &str) {
    let want_names: Vec<String> = named.keys().map(|&slot| slot_name(slot)).collect();
    assert_eq!(
        store.keyspace_names().unwrap(),
        want_names,
        "{what}: keyspace names"
    );
    for (&slot, pairs) in named {
        let id = store.open_keyspace(&slot_name(slot)).unwrap();
        let got = collect(
            store
                .range_in(id, Bound::Unbounded, Bound::Unbounded)
                .unwrap(),
        );
        let want: Vec<(Vec<u8>, Vec<u8>)> =
            pairs.iter().map(|(k, v)| (k.clone(), v.clone())).collect();
        assert_eq!(got, want, "{what}: keyspace {}", slot_name(slot));
    }
}

fn remove_range(pairs: &mut BTreeMap<Vec<u8>, Vec<u8>>, start: &[u8], end: &[u8]) {
    if start < end {
        let doomed: Vec<Vec<u8>> = pairs
            .range::<[u8], _>((Bound::Included(start), Bound::Excluded(end)))
            .map(|(k, _)| k.clone())
            .collect();
        for k in doomed {
            pairs.remove(&k);
        }
    }
}

/// Runs `ops` against a fresh store `S` (in a temporary directory, with
/// [`model_config`]) and a `BTreeMap`, asserting that every read agrees;
/// finally closes, reopens, checks that the reopened store's watermark is
/// the last acknowledged write, and compares a full scan with the model,
/// then reopens every checkpoint taken and compares it with the model of
/// its moment. Panics on any disagreement.
pub fn run_model<S: KvStore>(ops: Vec<Op>) {
    let dir = tempfile::tempdir().unwrap();
    let checkpoints_dir = tempfile::tempdir().unwrap();
    let mut checkpoints = Vec::new();
    let mut store = S::open(model_config(dir.path())).unwrap();
    let mut model: BTreeMap<Vec<u8>, Vec<u8>> = BTreeMap::new();
    // The named keyspaces (slots 1 and 2) that exist; `model` is slot 0.
    let mut named: Model = Model::new();
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
                        Some(v) => batch.put(key(*k), v),
                        None => batch.delete(key(*k)),
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
            Op::Checkpoint => {
                fence(&store, last);
                let path = checkpoints_dir
                    .path()
                    .join(format!("cp-{}", checkpoints.len()));
                let info = store.checkpoint(&path).unwrap();
                assert_eq!(info.seq, last, "the checkpoint misses acknowledged writes");
                check_checkpoint::<S>(&path, &model, last, true);
                checkpoints.push((path, model.clone(), named.clone(), last));
            }
            Op::RangeDelete(slot, a, b) => {
                let id = slot_id(&store, &mut named, slot, &mut last);
                let (start, end) = (key(a), key(b));
                let mut batch = WriteBatch::new();
                batch.delete_range_in(id, Bound::Included(&start), Bound::Excluded(&end));
                last = store.write(&batch).unwrap();
                let pairs = match slot {
                    0 => &mut model,
                    _ => named.get_mut(&slot).unwrap(),
                };
                remove_range(pairs, &start, &end);
            }
            Op::PutIn(slot, k, v) => {
                let id = slot_id(&store, &mut named, slot, &mut last);
                let mut batch = WriteBatch::new();
                batch.put_in(id, key(k), &v);
                last = store.write(&batch).unwrap();
                named.get_mut(&slot).unwrap().insert(key(k), v);
            }
            Op::BatchIn(items) => {
                let mut batch = WriteBatch::new();
                for (slot, k, v) in &items {
                    let id = slot_id(&store, &mut named, *slot, &mut last);
                    match v {
                        Some(v) => batch.put_in(id, key(*k), v),
                        None => batch.delete_in(id, key(*k)),
                    };
                }
                last = store.write(&batch).unwrap();
                for (slot, k, v) in items {
                    let pairs = match slot {
                        0 => &mut model,
                        _ => named.get_mut(&slot).unwrap(),
                    };
                    match v {
                        Some(v) => pairs.insert(key(k), v),
                        None => pairs.remove(&key(k)),
                    };
                }
            }
            Op::GetIn(slot, k) => {
                fence(&store, last);
                let want = match slot {
                    0 => model.get(&key(k)).cloned(),
                    _ => match named.get(&slot) {
                        Some(pairs) => pairs.get(&key(k)).cloned(),
                        None => continue, // reading would create it
                    },
                };
                let id = slot_id(&store, &mut named, slot, &mut last);
                assert_eq!(
                    store.get_in(id, &key(k)).unwrap(),
                    want,
                    "get {k} in slot {slot}"
                );
            }
            Op::ScanIn(slot) => {
                fence(&store, last);
                if slot == 0 {
                    let got = collect(
                        store
                            .range_in(KeyspaceId::DEFAULT, Bound::Unbounded, Bound::Unbounded)
                            .unwrap(),
                    );
                    let want: Vec<(Vec<u8>, Vec<u8>)> =
                        model.iter().map(|(k, v)| (k.clone(), v.clone())).collect();
                    assert_eq!(got, want, "scan of the default keyspace");
                } else {
                    check_named(&store, &named, "scan");
                }
            }
            Op::DropKeyspace(slot) => {
                if named.remove(&slot).is_some() {
                    last = store.drop_keyspace(&slot_name(slot)).unwrap();
                    fence(&store, last);
                    assert!(!store.keyspace_names().unwrap().contains(&slot_name(slot)));
                }
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
    check_named(&store, &named, "after the final reopen");
    store.close().unwrap();
    // The checkpoints are stores of their own: what the source did since
    // (compactions deleting the tables they link to) changes nothing.
    for (path, model, named, seq) in &checkpoints {
        check_checkpoint::<S>(path, model, *seq, false);
        let copy = S::open(model_config(path)).unwrap();
        check_named(&copy, named, "checkpoint");
        copy.close().unwrap();
    }
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
        let checkpoints = ops.iter().filter(|op| matches!(op, Op::Checkpoint)).count();
        assert_eq!(reopens, 6);
        assert_eq!(ranges, 31);
        assert_eq!(checkpoints, 4);
        let keyspace_ops = ops
            .iter()
            .filter(|op| {
                matches!(
                    op,
                    Op::RangeDelete(..) | Op::PutIn(..) | Op::DropKeyspace(_)
                )
            })
            .count();
        assert_eq!(keyspace_ops, 20 + 75 + 3);
        assert_eq!(
            ops.len(),
            3000 + reopens + ranges + checkpoints + keyspace_ops
        );
    }
}
