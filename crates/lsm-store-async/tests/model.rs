//! The model test of `SimpleLsmStore`, run against `AsyncLsmStore`: random
//! operation sequences (put, delete, batch, get, range, snapshot reads,
//! flush, compact, close + reopen) against a `BTreeMap`; every read, made
//! after `wait_for_seq` of the last acknowledged write, must agree.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

use std::collections::BTreeMap;
use std::ops::Bound;

use std::time::Duration;

use lsm_store_async::{AsyncLsmStore, LsmConfig, SyncMode, WriteBatch};
use proptest::prelude::*;

#[derive(Clone, Debug)]
enum Op {
    Put(u8, Vec<u8>),
    Delete(u8),
    Batch(Vec<(u8, Option<Vec<u8>>)>),
    Get(u8),
    Range(Bound<u8>, Bound<u8>),
    SnapshotThenWrites(u8, Vec<u8>),
    Flush,
    Compact(usize),
    Reopen,
}

fn key(k: u8) -> Vec<u8> {
    format!("key{k:03}").into_bytes()
}

fn op_strategy() -> impl Strategy<Value = Op> {
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
        2 => (bound.clone(), bound).prop_map(|(a, b)| Op::Range(a, b)),
        1 => (0u8..40, value).prop_map(|(k, v)| Op::SnapshotThenWrites(k, v)),
        1 => Just(Op::Flush),
        1 => (0usize..3).prop_map(Op::Compact),
        1 => Just(Op::Reopen),
    ]
}

fn config(dir: &std::path::Path) -> LsmConfig {
    // Tiny sizes so flushes, multi-level compactions and WAL rotations all
    // happen within a few hundred operations.
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

const FENCE: Duration = Duration::from_secs(30);

/// Waits until every acknowledged write is visible.
fn fence(store: &AsyncLsmStore, last: u64) {
    assert!(
        store.wait_for_seq(last, FENCE),
        "watermark never reached {last}"
    );
}

fn run(ops: Vec<Op>) {
    let dir = tempfile::tempdir().unwrap();
    let mut store = AsyncLsmStore::open(config(dir.path())).unwrap();
    let mut model: BTreeMap<Vec<u8>, Vec<u8>> = BTreeMap::new();
    let mut last = 0;
    for op in ops {
        match op {
            Op::Put(k, v) => {
                last = store.put(key(k), &v).unwrap();
                model.insert(key(k), v);
            }
            Op::Delete(k) => {
                last = store.delete(key(k)).unwrap();
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
                    store.get(key(k)).unwrap(),
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
                let got: Vec<(Vec<u8>, Vec<u8>)> = store
                    .range((start.clone(), end.clone()))
                    .unwrap()
                    .collect::<Result<_, _>>()
                    .unwrap();
                let want: Vec<(Vec<u8>, Vec<u8>)> = model
                    .range((start, end))
                    .map(|(k, v)| (k.clone(), v.clone()))
                    .collect();
                assert_eq!(got, want, "range {a:?}..{b:?}");
            }
            Op::SnapshotThenWrites(k, v) => {
                let frozen = model.clone();
                fence(&store, last);
                let snapshot = store.snapshot().unwrap();
                store.put(key(k), &v).unwrap();
                last = store.delete(key(k.wrapping_add(1) % 40)).unwrap();
                store.flush_memtable().unwrap();
                model.insert(key(k), v);
                model.remove(&key(k.wrapping_add(1) % 40));
                let seen: Vec<(Vec<u8>, Vec<u8>)> = snapshot
                    .range::<[u8], _>(..)
                    .unwrap()
                    .collect::<Result<_, _>>()
                    .unwrap();
                let want: Vec<(Vec<u8>, Vec<u8>)> =
                    frozen.iter().map(|(k, v)| (k.clone(), v.clone())).collect();
                assert_eq!(seen, want, "snapshot view changed");
                assert_eq!(snapshot.get(key(k)).unwrap(), frozen.get(&key(k)).cloned());
            }
            Op::Flush => store.flush_memtable().unwrap(),
            Op::Compact(level) => {
                store.compact_level(level, true).unwrap();
            }
            Op::Reopen => {
                store.close().unwrap();
                drop(store);
                store = AsyncLsmStore::open(config(dir.path())).unwrap();
            }
        }
    }
    // Final full comparison, after one more reopen.
    store.close().unwrap();
    drop(store);
    let store = AsyncLsmStore::open(config(dir.path())).unwrap();
    assert_eq!(store.visible_seq(), last, "reopen must replay every write");
    let all: Vec<(Vec<u8>, Vec<u8>)> = store
        .range::<[u8], _>(..)
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    let want: Vec<(Vec<u8>, Vec<u8>)> = model.into_iter().collect();
    assert_eq!(all, want);
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(24))]
    #[test]
    fn store_matches_btreemap_model(ops in proptest::collection::vec(op_strategy(), 1..250)) {
        run(ops);
    }
}

#[test]
fn long_deterministic_sequence_matches_model() {
    // Enough writes for several flushes and compactions into L2.
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
    run(ops);
}
