//! Values without a copy: `get_pinned` and `StoreIterator::pinned` on
//! `SimpleLsmStore`, its snapshots, keyspaces and `ReadOnlyStore`. Pinned
//! reads share the cached block's memory (memtable values are copies), outlive
//! eviction, compaction and close, and always equal the `Vec` reads.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

use std::ops::Bound;

use lsm_store_sync::{
    Bytes, LsmConfig, ReadOnlyStore, SimpleLsmStore, Snapshot, StoreIterator, SyncMode, WriteBatch,
};
use proptest::prelude::*;

fn config(dir: &std::path::Path, block_cache_bytes: u64) -> LsmConfig {
    LsmConfig::builder(dir)
        .memtable_bytes(16 * 1024)
        .table_target_bytes(16 * 1024)
        .base_level_bytes(64 * 1024)
        .l0_trigger(2)
        .num_levels(4)
        .block_cache_bytes(block_cache_bytes)
        .wal_sync(SyncMode::Never)
        .build()
        .unwrap()
}

fn key(i: usize) -> String {
    format!("key{i:05}")
}

fn value(i: usize, len: usize) -> Vec<u8> {
    format!("{i:05}|")
        .into_bytes()
        .into_iter()
        .cycle()
        .take(len)
        .collect()
}

#[test]
fn two_pinned_reads_of_a_cached_value_share_its_memory() {
    let dir = tempfile::tempdir().unwrap();
    let store = SimpleLsmStore::open(config(dir.path(), 8 << 20)).unwrap();
    store.put(key(1), value(1, 100)).unwrap();

    // In the memtable: copies (memtable entries are not shared).
    let first = store.get_pinned(key(1)).unwrap().unwrap();
    let second = store.get_pinned(key(1)).unwrap().unwrap();
    assert_eq!(first, value(1, 100));
    assert_eq!(first, second);

    // In a table: slices of the one cached block, whatever the value size.
    store.put(key(2), value(2, 4096)).unwrap();
    store.flush_memtable().unwrap();
    for (i, len) in [(1, 100), (2, 4096)] {
        let first = store.get_pinned(key(i)).unwrap().unwrap();
        let second = store.get_pinned(key(i)).unwrap().unwrap();
        assert_eq!(first, value(i, len));
        assert_eq!(first.as_ptr(), second.as_ptr(), "one cached block");
        let copied = store.get(key(i)).unwrap().unwrap();
        assert_ne!(first.as_ptr(), copied.as_ptr(), "`get` copies");
        let fresh = Bytes::copy_from_slice(&value(i, len));
        assert_ne!(first.as_ptr(), fresh.as_ptr());

        // A pinned scan and a snapshot hand out the same slice.
        let scanned = store
            .range(key(i)..)
            .unwrap()
            .pinned()
            .next()
            .unwrap()
            .unwrap();
        assert_eq!(scanned.1.as_ptr(), first.as_ptr());
        let snapshot = store.snapshot().unwrap();
        assert_eq!(
            snapshot.get_pinned(key(i)).unwrap().unwrap().as_ptr(),
            first.as_ptr()
        );
    }
}

#[test]
fn a_pinned_value_outlives_eviction_compaction_and_close() {
    let dir = tempfile::tempdir().unwrap();
    // A cache far smaller than the data: a full scan evicts every block.
    let store = SimpleLsmStore::open(config(dir.path(), 32 * 1024)).unwrap();
    let mut batch = WriteBatch::new();
    for i in 0..2000 {
        batch.put(key(i), value(i, 100));
    }
    store.write(&batch).unwrap();
    store.flush_memtable().unwrap();

    let pinned = store.get_pinned(key(0)).unwrap().unwrap();
    let scanned: Vec<(Bytes, Bytes)> = store
        .range(..key(10))
        .unwrap()
        .pinned()
        .collect::<Result<_, _>>()
        .unwrap();
    let in_memtable = {
        store.put("memtable", "still here").unwrap();
        store.get_pinned("memtable").unwrap().unwrap()
    };
    assert_eq!(store.iter().unwrap().count(), 2001);
    // Point reads of every key cache every block (a scan caches only the
    // blocks its read-aheads start at), evicting key00000's.
    for i in 1..2000 {
        assert_eq!(store.get_pinned(key(i)).unwrap().unwrap(), value(i, 100));
    }
    let reread = store.get_pinned(key(0)).unwrap().unwrap();
    assert_ne!(reread.as_ptr(), pinned.as_ptr(), "the block was evicted");
    assert_eq!(pinned, value(0, 100));

    // Compact every table away: the files the values came from are gone.
    // (A second version of key00005 makes the two tables overlap, so the
    // compaction rewrites them instead of moving them down whole.)
    let files_before = store.stats().unwrap().total_files();
    store.put(key(5), value(5, 100)).unwrap();
    store.flush_memtable().unwrap();
    for level in 0..3 {
        store.compact_level(level).unwrap();
    }
    assert!(store.stats().unwrap().total_files() > 0 && files_before > 0);
    assert_ne!(
        store.get_pinned(key(0)).unwrap().unwrap().as_ptr(),
        reread.as_ptr(),
        "now read from the compaction's output"
    );

    store.close().unwrap();
    drop(store);
    assert!(dir.path().exists());
    assert_eq!(pinned, value(0, 100));
    assert_eq!(reread, value(0, 100));
    assert_eq!(in_memtable, "still here");
    assert_eq!(scanned.len(), 10);
    for (i, (k, v)) in scanned.iter().enumerate() {
        assert_eq!((k, v), (&Bytes::from(key(i)), &Bytes::from(value(i, 100))));
    }
}

#[test]
fn read_only_store_and_keyspaces_read_pinned() {
    let dir = tempfile::tempdir().unwrap();
    let store = SimpleLsmStore::open(config(dir.path(), 1 << 20)).unwrap();
    let users = store.keyspace("users").unwrap();
    users.put("ada", "lovelace").unwrap();
    store.put("ada", "default keyspace").unwrap();
    let snapshot = store.snapshot().unwrap();
    users.put("ada", "newer").unwrap();
    assert_eq!(users.get_pinned("ada").unwrap().unwrap(), "newer");
    assert_eq!(
        users.get_pinned_at(&snapshot, "ada").unwrap().unwrap(),
        "lovelace"
    );
    let pairs: Vec<(Bytes, Bytes)> = users
        .iter()
        .unwrap()
        .pinned()
        .collect::<Result<_, _>>()
        .unwrap();
    assert_eq!(pairs, [(Bytes::from("ada"), Bytes::from("newer"))]);
    store.flush_memtable().unwrap();
    store.close().unwrap();

    let reader = ReadOnlyStore::open(config(dir.path(), 1 << 20)).unwrap();
    let first = reader.get_pinned("ada").unwrap().unwrap();
    assert_eq!(first, "default keyspace");
    assert_eq!(
        reader.get_pinned("ada").unwrap().unwrap().as_ptr(),
        first.as_ptr()
    );
    assert_eq!(reader.get_pinned("nobody").unwrap(), None);
    let pinned: Vec<_> = reader
        .iter()
        .unwrap()
        .pinned()
        .map(Result::unwrap)
        .collect();
    assert_eq!(pinned, [(Bytes::from("ada"), first)]);
}

/// One step of the property test.
#[derive(Clone, Debug)]
enum Op {
    Put(usize, usize),
    Delete(usize),
    DeleteRange(usize, usize),
    Flush,
    Compact(usize),
    Snapshot,
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        8 => (0..40usize, prop_oneof![0..120usize, 3000..5000usize]).prop_map(|(k, len)| Op::Put(k, len)),
        2 => (0..40usize).prop_map(Op::Delete),
        1 => (0..40usize, 0..8usize).prop_map(|(k, n)| Op::DeleteRange(k, k + n)),
        1 => Just(Op::Flush),
        1 => (0..3usize).prop_map(Op::Compact),
        1 => Just(Op::Snapshot),
    ]
}

fn vec_pairs(iter: StoreIterator, backward: bool) -> Vec<(Vec<u8>, Vec<u8>)> {
    let items: Vec<_> = if backward {
        iter.rev().map(Result::unwrap).collect()
    } else {
        iter.map(Result::unwrap).collect()
    };
    items
}

fn pinned_pairs(iter: StoreIterator, backward: bool) -> Vec<(Vec<u8>, Vec<u8>)> {
    let pinned = iter.pinned();
    let items: Vec<(Bytes, Bytes)> = if backward {
        pinned.rev().map(Result::unwrap).collect()
    } else {
        pinned.map(Result::unwrap).collect()
    };
    items
        .into_iter()
        .map(|(k, v)| (k.to_vec(), v.to_vec()))
        .collect()
}

/// Alternates the two ends as `fronts` says, until they meet.
fn walk<I, K: AsRef<[u8]>, V: AsRef<[u8]>>(mut iter: I, fronts: &[bool]) -> Vec<(Vec<u8>, Vec<u8>)>
where
    I: DoubleEndedIterator<Item = Result<(K, V), lsm_store_sync::Error>>,
{
    let mut out = Vec::new();
    for &front in fronts.iter().cycle().take(200) {
        let item = if front { iter.next() } else { iter.next_back() };
        match item {
            Some(item) => {
                let (k, v) = item.unwrap();
                out.push((k.as_ref().to_vec(), v.as_ref().to_vec()));
            }
            None => break,
        }
    }
    out
}

/// Every read form: pinned and `Vec` agree, at the store and a snapshot.
fn check_reads(store: &SimpleLsmStore, snapshot: Option<&Snapshot>, fronts: &[bool]) {
    for i in 0..42 {
        let copied = store.get(key(i)).unwrap();
        let pinned = store.get_pinned(key(i)).unwrap();
        assert_eq!(pinned.map(|v| v.to_vec()), copied, "get {}", key(i));
        if let Some(snapshot) = snapshot {
            let copied = snapshot.get(key(i)).unwrap();
            let pinned = snapshot.get_pinned(key(i)).unwrap();
            assert_eq!(
                pinned.map(|v| v.to_vec()),
                copied,
                "snapshot get {}",
                key(i)
            );
        }
    }
    let bounds = [
        (Bound::Unbounded, Bound::Unbounded),
        (
            Bound::Included(key(5).into_bytes()),
            Bound::Excluded(key(30).into_bytes()),
        ),
        (
            Bound::Excluded(key(12).into_bytes()),
            Bound::Included(key(13).into_bytes()),
        ),
    ];
    for (start, end) in bounds {
        let range = || store.range((start.clone(), end.clone())).unwrap();
        for backward in [false, true] {
            assert_eq!(
                pinned_pairs(range(), backward),
                vec_pairs(range(), backward)
            );
        }
        assert_eq!(walk(range().pinned(), fronts), walk(range(), fronts));
        if let Some(snapshot) = snapshot {
            let range = || snapshot.range((start.clone(), end.clone())).unwrap();
            for backward in [false, true] {
                assert_eq!(
                    pinned_pairs(range(), backward),
                    vec_pairs(range(), backward)
                );
            }
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(24))]

    #[test]
    fn pinned_reads_equal_vec_reads(
        ops in proptest::collection::vec(op(), 1..120),
        fronts in proptest::collection::vec(any::<bool>(), 1..8),
    ) {
        let dir = tempfile::tempdir().unwrap();
        let store = SimpleLsmStore::open(config(dir.path(), 64 * 1024)).unwrap();
        let mut snapshot = None;
        for (step, op) in ops.iter().enumerate() {
            match *op {
                Op::Put(k, len) => drop(store.put(key(k), value(step, len)).unwrap()),
                Op::Delete(k) => drop(store.delete(key(k)).unwrap()),
                Op::DeleteRange(a, b) => drop(store.delete_range(key(a)..key(b)).unwrap()),
                Op::Flush => store.flush_memtable().unwrap(),
                Op::Compact(level) => store.compact_level(level).unwrap(),
                Op::Snapshot => snapshot = Some(store.snapshot().unwrap()),
            }
            if step % 40 == 39 {
                check_reads(&store, snapshot.as_ref(), &fronts);
            }
        }
        check_reads(&store, snapshot.as_ref(), &fronts);
    }
}
