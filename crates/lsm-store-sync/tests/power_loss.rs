//! Simulated power loss (`FaultyFileSystem::crash`: unsynced bytes and
//! unsynced directory entries vanish): durability promises 1 and 3.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

use std::path::Path;
use std::sync::Arc;

use lsm_core::fault::FaultyFileSystem;
use lsm_core::OsFileSystem;
use lsm_store_sync::{LsmConfig, SimpleLsmStore, SyncMode, WriteBatch};

fn config(dir: &Path, fs: &Arc<FaultyFileSystem>, sync: SyncMode) -> LsmConfig {
    LsmConfig::builder(dir)
        .memtable_bytes(16 * 1024)
        .table_target_bytes(16 * 1024)
        .base_level_bytes(64 * 1024)
        .wal_segment_bytes(32 * 1024)
        .l0_trigger(2)
        .num_levels(4)
        .wal_sync(sync)
        .fs(Arc::clone(fs) as lsm_core::SharedFileSystem)
        .build()
        .unwrap()
}

fn key(i: u32) -> String {
    format!("key{i:06}")
}

/// Writes keys 0.. in order (every 10th as a 3-key batch) until `n`,
/// "loses power", and returns how many writes were acknowledged.
fn write_then_lose_power(dir: &Path, sync: SyncMode, n: u32) -> (Arc<FaultyFileSystem>, u32) {
    let fs = FaultyFileSystem::new(OsFileSystem::shared());
    let store = SimpleLsmStore::open(config(dir, &fs, sync)).unwrap();
    let mut i = 0;
    while i < n {
        if i % 10 == 0 && i + 3 <= n {
            let mut batch = WriteBatch::new();
            for j in i..i + 3 {
                batch.put(key(j).as_bytes(), format!("v{j}").as_bytes());
            }
            store.write(&batch).unwrap();
            i += 3;
        } else {
            store.put(key(i), format!("v{i}")).unwrap();
            i += 1;
        }
    }
    // The process dies without closing: no final sync.
    std::mem::forget(store);
    fs.crash().unwrap();
    (fs, i)
}

/// The keys present after reopening must be exactly keys 0..m for some m
/// (a prefix of the write order; batches all or nothing).
fn recovered_prefix(dir: &Path, written: u32) -> u32 {
    let fs = FaultyFileSystem::new(OsFileSystem::shared());
    let store = SimpleLsmStore::open(config(dir, &fs, SyncMode::Never)).unwrap();
    let present: Vec<(Vec<u8>, Vec<u8>)> =
        store.range(..).unwrap().collect::<Result<_, _>>().unwrap();
    for (i, (k, v)) in present.iter().enumerate() {
        assert_eq!(
            k,
            key(i as u32).as_bytes(),
            "hole in the recovered state before {:?}",
            String::from_utf8_lossy(k)
        );
        assert_eq!(v, format!("v{i}").as_bytes());
    }
    let m = present.len() as u32;
    // Keys b..b+3 were one batch for every b % 10 == 0 with b + 3 <= written:
    // recovery never splits one.
    let b = m - m % 10;
    let inside_batch = !m.is_multiple_of(10) && m % 10 < 3 && b + 3 <= written;
    assert!(!inside_batch, "batch split by recovery: {m} keys");
    m
}

#[test]
fn every_write_acknowledged_under_sync_always_survives_power_loss() {
    for n in [1u32, 37, 400, 1500] {
        let dir = tempfile::tempdir().unwrap();
        let (fs, acknowledged) = write_then_lose_power(dir.path(), SyncMode::Always, n);
        assert!(fs.sync_count() > 0);
        let recovered = recovered_prefix(dir.path(), acknowledged);
        assert_eq!(recovered, acknowledged, "n = {n}");
    }
}

#[test]
fn unsynced_writes_lost_to_power_loss_are_a_suffix() {
    for (sync, n) in [
        (SyncMode::Never, 1500u32),
        (SyncMode::EveryBytes(4096), 1500),
        (SyncMode::Never, 50),
    ] {
        let dir = tempfile::tempdir().unwrap();
        let (_fs, acknowledged) = write_then_lose_power(dir.path(), sync, n);
        let recovered = recovered_prefix(dir.path(), acknowledged);
        assert!(recovered <= acknowledged);
        if sync == SyncMode::Never && n == 50 {
            // 50 small writes never fill the memtable, so nothing forced a
            // sync: the simulated power loss must take all of them.
            assert_eq!(recovered, 0, "unsynced writes survived a power loss");
        }
        if let SyncMode::EveryBytes(bytes) = sync {
            // At most one sync interval's worth of writes (plus the
            // memtable flushes' own syncs) can be lost.
            let lost_bytes = u64::from(acknowledged - recovered) * 40;
            assert!(
                lost_bytes <= bytes * 2,
                "lost {} writes with {sync:?}",
                acknowledged - recovered
            );
        }
    }
}

#[test]
fn store_reopens_after_repeated_power_losses() {
    let dir = tempfile::tempdir().unwrap();
    let mut expected_at_least = 0;
    for round in 0..4u32 {
        let fs = FaultyFileSystem::new(OsFileSystem::shared());
        let store = SimpleLsmStore::open(config(dir.path(), &fs, SyncMode::Always)).unwrap();
        let start = store.range(..).unwrap().count() as u32;
        assert!(
            start >= expected_at_least,
            "round {round}: {start} < {expected_at_least}"
        );
        for i in start..start + 300 {
            store.put(key(i), format!("v{i}")).unwrap();
        }
        expected_at_least = start + 300;
        std::mem::forget(store);
        fs.crash().unwrap();
        assert_eq!(recovered_prefix(dir.path(), 0), expected_at_least);
    }
}

/// `SimpleLsmStore::sync` under `SyncMode::Never`: many unsynced writes,
/// then one sync makes all of them durable with one WAL fdatasync; writes
/// after the last sync may be lost, but what survives is still a prefix.
#[test]
fn sync_makes_earlier_unsynced_writes_durable_with_one_fdatasync() {
    let dir = tempfile::tempdir().unwrap();
    let fs = FaultyFileSystem::new(OsFileSystem::shared());
    // A large memtable and segment: no flush or rotation syncs behind our back.
    let store = SimpleLsmStore::open(
        LsmConfig::builder(dir.path())
            .memtable_bytes(1024 * 1024)
            .wal_segment_bytes(1024 * 1024)
            .wal_sync(SyncMode::Never)
            .fs(Arc::clone(&fs) as lsm_core::SharedFileSystem)
            .build()
            .unwrap(),
    )
    .unwrap();
    for i in 0..100 {
        store.put(key(i), format!("v{i}")).unwrap();
    }
    let wal_syncs = store.stats().unwrap().wal_syncs;
    store.sync().unwrap();
    assert_eq!(
        store.stats().unwrap().wal_syncs,
        wal_syncs + 1,
        "100 writes, one sync"
    );
    for i in 100..150 {
        store.put(key(i), format!("v{i}")).unwrap();
    }
    std::mem::forget(store);
    fs.crash().unwrap();
    let store = SimpleLsmStore::open(LsmConfig::new(dir.path())).unwrap();
    let present: Vec<(Vec<u8>, Vec<u8>)> =
        store.range(..).unwrap().collect::<Result<_, _>>().unwrap();
    for (i, (k, v)) in present.iter().enumerate() {
        assert_eq!(k, key(i as u32).as_bytes(), "not a prefix");
        assert_eq!(v, format!("v{i}").as_bytes());
    }
    assert!(
        (100..=150).contains(&present.len()),
        "every write before the sync survives; got {}",
        present.len()
    );
}

/// Synced writes make the WAL write zeros ahead; unsynced writes after
/// them overwrite those zeros, and a disk may write such blocks back out of
/// order. A power cut that loses the first unsynced block but keeps later
/// ones (`tear_overwrites`) leaves whole records after a hole in the
/// newest segment: the store must reopen, with every synced write and a
/// prefix of the rest.
#[test]
fn a_power_cut_that_keeps_later_unsynced_blocks_reopens_with_every_synced_write() {
    use lsm_store_sync::WriteOptions;
    let dir = tempfile::tempdir().unwrap();
    let fs = FaultyFileSystem::new(OsFileSystem::shared());
    fs.tear_overwrites(true);
    let store = SimpleLsmStore::open(config(dir.path(), &fs, SyncMode::Never)).unwrap();
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
    // About 6 KiB of unsynced records: more than one 4 KiB block, less
    // than a memtable (no freeze, no rotation syncs them).
    let written = synced + 150;
    for i in synced..written {
        store.put(key(i), format!("v{i}")).unwrap();
    }
    std::mem::forget(store);
    fs.crash().unwrap();

    let newest = lsm_wal::list_segments(&OsFileSystem, dir.path())
        .unwrap()
        .into_iter()
        .rev()
        .find(|&n| {
            let path = dir.path().join(lsm_wal::segment_file_name(n));
            !lsm_wal::read_segment(&OsFileSystem, &path)
                .unwrap()
                .records
                .is_empty()
        })
        .unwrap();
    let path = dir.path().join(lsm_wal::segment_file_name(newest));
    let tail = lsm_wal::read_segment(&OsFileSystem, &path).unwrap().tail;
    assert!(
        matches!(
            tail,
            lsm_wal::SegmentTail::Damaged {
                next_valid_record: Some(_),
                ..
            }
        ),
        "the crash left no whole record after the lost block: {tail:?}"
    );

    let recovered = recovered_prefix(dir.path(), written);
    assert!(recovered >= synced, "a synced write was lost: {recovered}");
    assert!(
        recovered < written,
        "unsynced writes in the lost block survived"
    );
}
