//! Range deletes whose bounds are keys of the largest size
//! (`MAX_KEY_BYTES`). An inclusive end or an exclusive start is stored as
//! the first key after the bound; for a key of the largest size that key
//! is not "the bound plus a zero byte" (one byte too long, which the WAL
//! reader rightly refuses as corruption) but the next key no longer than
//! the limit. (Found by a review: the store accepted such a range delete
//! and then refused to reopen.)
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

use std::ops::Bound;

use lsm_core::MAX_KEY_BYTES;
use lsm_store_sync::{KeyspaceId, LsmConfig, SimpleLsmStore, SyncMode, WriteBatch};

fn open(dir: &std::path::Path) -> SimpleLsmStore {
    let config = LsmConfig::builder(dir)
        .wal_sync(SyncMode::Never)
        .build()
        .unwrap();
    SimpleLsmStore::open(config).unwrap()
}

fn delete_range(store: &SimpleLsmStore, start: Bound<&[u8]>, end: Bound<&[u8]>) {
    let mut batch = WriteBatch::new();
    batch.delete_range_in(KeyspaceId::DEFAULT, start, end);
    store.write(&batch).unwrap();
}

fn keys(store: &SimpleLsmStore) -> Vec<Vec<u8>> {
    store
        .iter()
        .unwrap()
        .map(|pair| pair.unwrap().0.to_vec())
        .collect()
}

#[test]
fn a_range_delete_bounded_by_a_largest_key_survives_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let largest_m = vec![b'm'; MAX_KEY_BYTES];
    let largest_x = vec![b'x'; MAX_KEY_BYTES];
    let largest_ff = vec![0xffu8; MAX_KEY_BYTES];
    let store = open(dir.path());
    for key in [
        &b"m"[..],
        &largest_m,
        b"n",
        b"x",
        &largest_x,
        b"y",
        &largest_ff,
    ] {
        store.put(key, b"v").unwrap();
    }
    // ["m", largest_m]: both ends deleted, "n" kept.
    delete_range(&store, Bound::Included(b"m"), Bound::Included(&largest_m));
    // (largest_x, largest_ff): "y" only.
    delete_range(
        &store,
        Bound::Excluded(&largest_x),
        Bound::Excluded(&largest_ff),
    );
    // Nothing lies after the last possible key: deletes nothing.
    delete_range(&store, Bound::Excluded(&largest_ff), Bound::Unbounded);
    let expected = vec![
        b"n".to_vec(),
        b"x".to_vec(),
        largest_x.clone(),
        largest_ff.clone(),
    ];
    assert_eq!(keys(&store), expected, "before reopen");
    drop(store);

    let store = open(dir.path());
    assert_eq!(keys(&store), expected, "after reopen (WAL replay)");
    // [0xff, largest_ff]: the inclusive end is the last possible key.
    delete_range(
        &store,
        Bound::Included(&[0xff]),
        Bound::Included(&largest_ff),
    );
    store.flush_memtable().unwrap();
    let expected = vec![b"n".to_vec(), b"x".to_vec(), largest_x.clone()];
    assert_eq!(keys(&store), expected, "after flush");
    drop(store);

    let store = open(dir.path());
    assert_eq!(keys(&store), expected, "after flush and reopen");
}
