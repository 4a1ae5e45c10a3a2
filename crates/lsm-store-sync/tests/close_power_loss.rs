//! Power cuts during `close` (`FaultyFileSystem::crash`): `close` syncs the
//! WAL's records before it frames the sync mark, so a power cut during its
//! final syncs never leaves a sync mark after records that did not reach
//! the disk (`docs/durability.md`, "Close"; `docs/format/wal.md`, "Sync
//! mark").
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

use std::path::Path;
use std::sync::Arc;

use lsm_core::fault::FaultyFileSystem;
use lsm_core::OsFileSystem;
use lsm_store_sync::{LsmConfig, SimpleLsmStore, SyncMode, WriteBatch, WriteOptions};

fn config(dir: &Path, fs: &Arc<FaultyFileSystem>) -> LsmConfig {
    LsmConfig::builder(dir)
        .memtable_bytes(64 * 1024)
        .wal_segment_bytes(256 * 1024)
        .num_levels(4)
        .wal_sync(SyncMode::Never)
        .fs(Arc::clone(fs) as lsm_core::SharedFileSystem)
        .build()
        .unwrap()
}

fn key(i: u32) -> String {
    format!("key{i:06}")
}

/// Under `Never`, a synced write starts zero-filling the segment, and the
/// unsynced records after it (more than one 4 KiB block) overwrite those
/// zeros. `close` then fails its fdatasync: the power went while it ran.
/// A disk may have written a later block of the segment back and not the
/// first: the first unsynced block reads as zeros, later ones survive
/// (`tear_overwrites`). If the sync mark was written before the records
/// it vouches for were durable (one fdatasync for both), it survives in
/// such a later block after the hole, and the open refuses the log as
/// corrupt (damage followed by a sync mark is not a torn write). With the
/// records synced first, a failed sync frames no sync mark, and the store
/// reopens with every synced write and a prefix of the rest.
#[test]
fn a_power_cut_during_close_never_leaves_a_sync_mark_after_lost_records() {
    let dir = tempfile::tempdir().unwrap();
    let fs = FaultyFileSystem::new(OsFileSystem::shared());
    fs.tear_overwrites(true);
    let store = SimpleLsmStore::open(config(dir.path(), &fs)).unwrap();
    let synced = 20;
    for i in 0..synced {
        let mut batch = WriteBatch::new();
        batch.put(key(i).as_bytes(), format!("v{i}").as_bytes());
        let options = if i == synced - 1 {
            WriteOptions::SYNC
        } else {
            WriteOptions::default()
        };
        store.write_with(&batch, &options).unwrap();
    }
    // About 6 KiB of unsynced records, less than a memtable.
    let written = synced + 150;
    for i in synced..written {
        store.put(key(i), format!("v{i}")).unwrap();
    }
    fs.fail_syncs(true);
    let err = store.close().unwrap_err();
    assert!(
        err.to_string().contains(".wal"),
        "close failed elsewhere: {err}"
    );
    drop(store);
    fs.fail_syncs(false);
    fs.crash().unwrap();

    let fresh = FaultyFileSystem::new(OsFileSystem::shared());
    let store = SimpleLsmStore::open(config(dir.path(), &fresh)).unwrap_or_else(|err| {
        panic!("a power cut during close left a store that does not open: {err}")
    });
    let mut present = 0;
    for i in 0..written {
        match store.get(key(i)).unwrap() {
            Some(value) => {
                assert_eq!(value, format!("v{i}").as_bytes(), "key {i}");
                assert_eq!(present, i, "key {i} is there but key {present} is not");
                present += 1;
            }
            None => assert!(i >= synced, "synced write {i} lost"),
        }
    }
    assert!(present < written, "the simulated power cut lost nothing");
    store.close().unwrap();
}

/// The segment holding the log's last records.
fn newest_segment_with_records(dir: &Path) -> std::path::PathBuf {
    lsm_wal::list_segments(&OsFileSystem, dir)
        .unwrap()
        .into_iter()
        .rev()
        .map(|n| dir.join(lsm_wal::segment_file_name(n)))
        .find(|path| {
            !lsm_wal::read_segment(&OsFileSystem, path)
                .unwrap()
                .records
                .is_empty()
        })
        .unwrap()
}

/// `close`'s second fdatasync makes its sync mark durable. Without it the
/// mark stays in the page cache, the next open reads the log as cleanly
/// closed, leaves the segment as it is and appends (synced) to a new one.
/// A power cut then may write back only part of the mark: here the mark
/// straddles a 4 KiB block boundary in zero-filled space and the disk
/// kept the later block, not the first (`tear_overwrites`). The damaged
/// mark now ends a segment that is not the newest holding records, which
/// is corruption, not a torn tail, and the store would no longer open,
/// although every write in it was acknowledged durable.
#[test]
fn a_power_cut_after_the_next_open_finds_close_s_sync_mark_whole() {
    let dir = tempfile::tempdir().unwrap();
    let fs = FaultyFileSystem::new(OsFileSystem::shared());
    fs.tear_overwrites(true);
    let store = SimpleLsmStore::open(config(dir.path(), &fs)).unwrap();
    // A synced write: zero-filling starts, later records overwrite zeros.
    let value = |len: usize| "v".repeat(len);
    let mut batch = WriteBatch::new();
    batch.put(key(0).as_bytes(), value(200).as_bytes());
    store.write_with(&batch, &WriteOptions::SYNC).unwrap();
    let path = newest_segment_with_records(dir.path());
    let contents = lsm_wal::read_segment(&OsFileSystem, &path).unwrap();
    let record_len = contents.records.last().unwrap().framed_len;
    let mut end = contents.records_end;
    // Records of 200-byte values, then one padded so the records end 8
    // bytes before the block boundary: the 17-byte sync mark straddles it.
    let target = 4096 - 8;
    let mut i = 1;
    while end + 2 * record_len <= target {
        store
            .write_with(&single(i, &value(200)), &WriteOptions::SYNC)
            .unwrap();
        end += record_len;
        i += 1;
    }
    let padded = 200 + usize::try_from(target - end - record_len).unwrap();
    store
        .write_with(&single(i, &value(padded)), &WriteOptions::SYNC)
        .unwrap();
    let written = i + 1;
    let contents = lsm_wal::read_segment(&OsFileSystem, &path).unwrap();
    assert_eq!(
        contents.records_end, target,
        "the padding missed its target"
    );
    store.close().unwrap();
    drop(store);
    let contents = lsm_wal::read_segment(&OsFileSystem, &path).unwrap();
    assert!(contents.sync_mark.is_some(), "close wrote no sync mark");
    assert_eq!(contents.records_end, target + 17);

    // The next open (same boot): the log is intact, new writes go to a
    // new segment; the old one is still needed (its writes are in no
    // table).
    let store = SimpleLsmStore::open(config(dir.path(), &fs)).unwrap();
    store
        .write_with(&single(written, "after reopen"), &WriteOptions::SYNC)
        .unwrap();
    assert_ne!(newest_segment_with_records(dir.path()), path);
    std::mem::forget(store);
    fs.crash().unwrap();

    let fresh = FaultyFileSystem::new(OsFileSystem::shared());
    let store = SimpleLsmStore::open(config(dir.path(), &fresh)).unwrap_or_else(|err| {
        panic!(
            "a power cut after a clean close and a reopen left a store that does not open: {err}"
        )
    });
    for i in 0..=written {
        assert!(
            store.get(key(i)).unwrap().is_some(),
            "synced write {i} lost"
        );
    }
    store.close().unwrap();
}

fn single(i: u32, value: &str) -> WriteBatch {
    let mut batch = WriteBatch::new();
    batch.put(key(i).as_bytes(), value.as_bytes());
    batch
}
