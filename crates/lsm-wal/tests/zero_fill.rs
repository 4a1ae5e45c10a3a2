//! Zero-fill ahead of durable appends (`docs/format/wal.md`): durable
//! appends leave zeros written past the data, appends that never sync do
//! not; a power cut that loses an earlier unsynced block and keeps a later
//! one recovers a prefix holding every durable append; damage to a durable
//! record is corruption even with records after it.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

mod common;

use std::path::Path;
use std::sync::Arc;

use common::{owned, owned_batch, tagged_batch, FaultFs, Replayed};
use lsm_core::fault::FaultyFileSystem;
use lsm_core::{FileSystem, OsFileSystem, SharedFileSystem};
use lsm_wal::{
    read_segment, recover, segment_path, RecoveryMode, SegmentTail, SyncMode, WalOptions, WalWriter,
};

const MIB: u64 = 1 << 20;

fn writer(fs: SharedFileSystem, dir: &Path, sync_mode: SyncMode) -> WalWriter {
    let options = WalOptions {
        sync_mode,
        segment_bytes: 8 * MIB,
        ..WalOptions::default()
    };
    WalWriter::create(fs, dir, 1, 1, options).unwrap()
}

fn replay(fs: &dyn FileSystem, dir: &Path) -> lsm_wal::Result<Vec<Replayed>> {
    let mut out = Vec::new();
    recover(fs, dir, 0, RecoveryMode::TolerateTornTail, |view| {
        out.push(owned(view))
    })?;
    Ok(out)
}

/// The end of the last record of segment 1 and the file's length.
fn data_end_and_len(dir: &Path) -> (u64, u64) {
    let contents = read_segment(&OsFileSystem, &segment_path(dir, 1)).unwrap();
    assert_eq!(contents.tail, SegmentTail::Clean);
    let end = contents
        .records
        .last()
        .map_or(0, |r| r.offset + r.framed_len);
    (end, contents.file_len)
}

#[test]
fn durable_appends_keep_zeros_ahead_and_appends_that_never_sync_write_none() {
    let dir = tempfile::tempdir().unwrap();
    let wal = writer(OsFileSystem::shared(), dir.path(), SyncMode::Never);
    for i in 0..100 {
        wal.append(&tagged_batch(i)).unwrap();
    }
    wal.sync().unwrap();
    let (end, len) = data_end_and_len(dir.path());
    assert_eq!(len, end, "no durable append, yet zeros were written");

    let dir = tempfile::tempdir().unwrap();
    let wal = writer(OsFileSystem::shared(), dir.path(), SyncMode::Always);
    let mut expected = Vec::new();
    // About 2.5 MiB of records: the zeros are topped up along the way.
    let value = vec![b'v'; 4000];
    let mut first_end = 0;
    for i in 0..650u64 {
        let mut batch = tagged_batch(i);
        batch.put(b"big", &value);
        let last = wal.append(&batch).unwrap();
        expected.push(owned_batch(&batch, last + 1 - u64::from(batch.count())));
        if i % 25 == 0 {
            let (end, len) = data_end_and_len(dir.path());
            assert!(
                len >= end + MIB / 2,
                "after append {i}: {len} bytes, data to {end}"
            );
            assert!(
                len <= end + MIB,
                "after append {i}: {len} bytes, data to {end}"
            );
            if i == 0 {
                first_end = end;
            }
        }
    }
    // Every byte past the first record was written twice: zeros, then data.
    let (end, len) = data_end_and_len(dir.path());
    assert_eq!(wal.bytes_written(), end + (len - first_end));
    // Of which appended: the header and the records.
    assert_eq!(wal.bytes_appended(), end);
    // The next segment holds no zeros until a durable append reaches it.
    wal.rotate().unwrap();
    wal.append_with(&tagged_batch(9999), false).unwrap();
    let next = read_segment(&OsFileSystem, &segment_path(dir.path(), 2)).unwrap();
    let last = next.records.last().unwrap();
    assert_eq!(next.file_len, last.offset + last.framed_len);
    wal.close().unwrap();
    drop(wal);
    let mut replayed = replay(&OsFileSystem, dir.path()).unwrap();
    assert_eq!(replayed.len(), 651);
    replayed.pop();
    assert_eq!(replayed, expected);
}

/// A file system that cannot write zeros ahead (the trait's default):
/// durable appends work as before, and the file holds only records.
#[test]
fn without_zero_writes_durable_appends_still_work() {
    let dir = tempfile::tempdir().unwrap();
    let wal = writer(Arc::new(FaultFs::default()), dir.path(), SyncMode::Always);
    for i in 0..20 {
        wal.append(&tagged_batch(i)).unwrap();
    }
    let (end, len) = data_end_and_len(dir.path());
    assert_eq!(len, end);
    assert_eq!(wal.bytes_written(), len);
}

/// Durable appends, then `unsynced` appends that never sync, then a power
/// cut; with `tear`, the disk wrote back the later unsynced blocks and lost
/// only the first one.
fn crash_after_unsynced_appends(unsynced: u64, tear: bool) {
    let dir = tempfile::tempdir().unwrap();
    let faulty = FaultyFileSystem::new(OsFileSystem::shared());
    faulty.tear_overwrites(tear);
    let wal = writer(faulty.clone(), dir.path(), SyncMode::Always);
    let mut written = Vec::new();
    for i in 0..50 {
        let batch = tagged_batch(i);
        let last = wal.append(&batch).unwrap();
        written.push(owned_batch(&batch, last));
    }
    let durable = written.len();
    for i in 0..unsynced {
        let mut batch = tagged_batch(1000 + i);
        batch.put(b"padding", [b'p'; 300]);
        let last = wal.append_with(&batch, false).unwrap();
        written.push(owned_batch(&batch, last + 1 - u64::from(batch.count())));
    }
    drop(wal);
    faulty.crash().unwrap();

    let replayed = replay(faulty.as_ref(), dir.path())
        .unwrap_or_else(|err| panic!("{unsynced} unsynced, tear {tear}: {err}"));
    assert!(
        replayed.len() >= durable,
        "{unsynced} unsynced, tear {tear}: a durable append was lost"
    );
    assert_eq!(replayed, written[..replayed.len()], "not a prefix");
    // Recovery cut what it dropped: a second one finds no damage.
    assert_eq!(replay(faulty.as_ref(), dir.path()).unwrap(), replayed);
}

#[test]
fn a_power_cut_in_zero_filled_space_recovers_a_prefix_with_every_durable_append() {
    for unsynced in [0, 1, 5, 20, 60] {
        for tear in [false, true] {
            crash_after_unsynced_appends(unsynced, tear);
        }
    }
}

/// The torn crash really leaves whole records after the lost block, so
/// the test above exercises the durable marks, not only a plain cut.
#[test]
fn a_torn_power_cut_leaves_whole_records_after_the_lost_block() {
    let dir = tempfile::tempdir().unwrap();
    let faulty = FaultyFileSystem::new(OsFileSystem::shared());
    faulty.tear_overwrites(true);
    let wal = writer(faulty.clone(), dir.path(), SyncMode::Always);
    wal.append(&tagged_batch(0)).unwrap();
    for i in 0..60 {
        let mut batch = tagged_batch(1000 + i);
        batch.put(b"padding", [b'p'; 300]);
        wal.append_with(&batch, false).unwrap();
    }
    drop(wal);
    faulty.crash().unwrap();
    let contents = read_segment(&OsFileSystem, &segment_path(dir.path(), 1)).unwrap();
    let SegmentTail::Damaged {
        next_valid_record,
        later_durable_mark,
        ..
    } = contents.tail
    else {
        panic!("no damage: {:?}", contents.tail);
    };
    assert!(next_valid_record.is_some());
    assert_eq!(later_durable_mark, Some(2), "marked: only seqno 1 durable");
}

/// A durable record damaged later (not by a crash) is corruption when a
/// record framed after it was durable follows it.
#[test]
fn damage_to_a_durable_record_with_records_after_it_is_corruption() {
    let dir = tempfile::tempdir().unwrap();
    let wal = writer(OsFileSystem::shared(), dir.path(), SyncMode::Always);
    for i in 0..10 {
        wal.append(&tagged_batch(i)).unwrap();
    }
    drop(wal);
    let path = segment_path(dir.path(), 1);
    let contents = read_segment(&OsFileSystem, &path).unwrap();
    let damaged = contents.records[3];
    let mut bytes = std::fs::read(&path).unwrap();
    bytes[damaged.offset as usize + 12] ^= 0x40;
    std::fs::write(&path, &bytes).unwrap();
    let err = replay(&OsFileSystem, dir.path()).unwrap_err();
    match err {
        lsm_wal::Error::Core(lsm_core::Error::Corruption {
            path: at, offset, ..
        }) => assert_eq!((at, offset), (path.clone(), damaged.offset)),
        other => panic!("expected corruption, got {other}"),
    }
    assert_eq!(
        std::fs::read(&path).unwrap(),
        bytes,
        "recovery changed the file"
    );
}

/// Flips a byte inside record `index` of segment 1; returns its offset.
fn damage_record(dir: &Path, index: usize) -> u64 {
    let path = segment_path(dir, 1);
    let contents = read_segment(&OsFileSystem, &path).unwrap();
    let damaged = contents.records[index];
    let mut bytes = std::fs::read(&path).unwrap();
    bytes[damaged.offset as usize + 12] ^= 0x40;
    std::fs::write(&path, &bytes).unwrap();
    damaged.offset
}

/// Under `SyncMode::Never`, records after the last synced write are framed
/// before any sync covers them, so their marks cannot prove them durable:
/// without `close`, damage to one of them is a torn write (a crash can
/// lose them). `close` syncs them and writes a sync mark, after which the
/// same damage is corruption: they were durable.
#[test]
fn after_close_damage_to_records_framed_before_their_sync_is_corruption() {
    for closed in [false, true] {
        let dir = tempfile::tempdir().unwrap();
        let wal = writer(OsFileSystem::shared(), dir.path(), SyncMode::Never);
        wal.append_with(&tagged_batch(0), true).unwrap(); // zero-fills from here
        for i in 1..10 {
            wal.append(&tagged_batch(i)).unwrap();
        }
        if closed {
            wal.close().unwrap();
            let contents = read_segment(&OsFileSystem, &segment_path(dir.path(), 1)).unwrap();
            assert_eq!(contents.sync_mark, Some(11), "every seqno below 11 durable");
        }
        drop(wal);
        let offset = damage_record(dir.path(), 4);
        let recovered = replay(&OsFileSystem, dir.path());
        if closed {
            match recovered.unwrap_err() {
                lsm_wal::Error::Core(lsm_core::Error::Corruption {
                    offset: at, detail, ..
                }) => {
                    assert_eq!(at, offset);
                    assert!(detail.contains("below 11"), "{detail}");
                }
                other => panic!("expected corruption, got {other}"),
            }
        } else {
            let replayed = recovered.unwrap();
            assert_eq!(replayed.len(), 4, "a torn write keeps the prefix");
        }
    }
}
