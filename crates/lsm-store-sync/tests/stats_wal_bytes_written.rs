//! `StoreStats::wal_bytes_written` is "bytes appended to WAL segments
//! (headers included)" (docs/observability.md; the field's rustdoc:
//! "Bytes appended to the WAL since open"), and it is the WAL term of
//! `write_amplification()`. Checked against the segment itself: with one
//! segment and no rotation, the bytes appended are where its records end
//! (`lsm_wal::read_segment`'s `records_end`: header + records), whatever
//! the sync mode. Under `SyncMode::Always` (the default) the WAL also
//! writes up to 1 MiB of zeros ahead of its records (zero-fill, see
//! docs/durability.md), which are not appended records; counted as such
//! they make 100 puts of 9 bytes look like a write amplification of ~1000.
//! Both stores.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

use std::path::Path;
use std::time::Duration;

use lsm_core::fs::OsFileSystem;
use lsm_engine::KvStore;
use lsm_store_async::AsyncLsmStore;
use lsm_store_sync::{LsmConfig, SimpleLsmStore, SyncMode};

fn check<S: KvStore>(dir: &Path, sync: SyncMode) {
    let config = LsmConfig::builder(dir).wal_sync(sync).build().unwrap();
    let store = S::open(config).unwrap();
    let mut last = 0;
    for i in 0..100u32 {
        last = store.put(format!("k{i:03}").as_bytes(), b"value").unwrap();
    }
    assert!(store.wait_visible(last, Duration::from_secs(30)));
    let stats = store.stats().unwrap();
    let segments = lsm_wal::list_segments(&OsFileSystem, dir).unwrap();
    assert_eq!(segments.len(), 1, "no rotation: {stats:?}");
    let segment = lsm_wal::segment_path(dir, segments[0]);
    let contents = lsm_wal::read_segment(&OsFileSystem, &segment).unwrap();
    assert_eq!(contents.records.len(), 100);
    assert_eq!(
        stats.wal_bytes_written,
        contents.records_end,
        "{sync:?}: bytes appended to the one segment (header + 100 records) \
         against the stat (write amplification {:?})",
        stats.write_amplification()
    );
    store.close().unwrap();
}

#[test]
fn wal_bytes_written_is_the_bytes_appended_sync_store_never() {
    let dir = tempfile::tempdir().unwrap();
    check::<SimpleLsmStore>(dir.path(), SyncMode::Never);
}

#[test]
fn wal_bytes_written_is_the_bytes_appended_sync_store_always() {
    let dir = tempfile::tempdir().unwrap();
    check::<SimpleLsmStore>(dir.path(), SyncMode::Always);
}

#[test]
fn wal_bytes_written_is_the_bytes_appended_async_store_always() {
    let dir = tempfile::tempdir().unwrap();
    check::<AsyncLsmStore>(dir.path(), SyncMode::Always);
}
