//! Segment rotation: automatic (segment_bytes) and explicit (rotate()).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

mod common;

use std::sync::Arc;

use common::{owned, owned_batch, tagged_batch, FaultFs};
use lsm_core::{FileSystem, OsFileSystem};
use lsm_wal::{
    list_segments, read_segment, recover, segment_path, RecoveryMode, SegmentTail, SyncMode,
    WalOptions, WalWriter,
};

#[test]
fn small_segments_rotate_and_recover_all_records_in_order() {
    let dir = tempfile::tempdir().unwrap();
    let options = WalOptions {
        sync_mode: SyncMode::Never,
        segment_bytes: 256,
        ..WalOptions::default()
    };
    let wal = WalWriter::create(OsFileSystem::shared(), dir.path(), 5, 1, options).unwrap();
    let mut expected = Vec::new();
    for i in 0..100 {
        let batch = tagged_batch(i);
        let last = wal.append(&batch).unwrap();
        expected.push(owned_batch(&batch, last));
    }
    wal.close().unwrap();
    let segments = list_segments(&OsFileSystem, dir.path()).unwrap();
    assert!(segments.len() >= 5, "{segments:?}");
    assert_eq!(segments[0], 5);
    assert_eq!(*segments.last().unwrap(), wal.current_segment());
    // Every closed segment reached the threshold; none is much bigger than
    // threshold plus one write.
    for &segment in &segments[..segments.len() - 1] {
        let contents = read_segment(&OsFileSystem, &segment_path(dir.path(), segment)).unwrap();
        assert_eq!(contents.tail, SegmentTail::Clean);
        assert!(
            contents.file_len >= 256 && contents.file_len < 256 + 64,
            "{}",
            contents.file_len
        );
        assert_eq!(contents.header.unwrap().segment, segment);
    }

    let mut replayed = Vec::new();
    let report = recover(
        &OsFileSystem,
        dir.path(),
        0,
        RecoveryMode::AbsoluteConsistency,
        |v| replayed.push(owned(v)),
    )
    .unwrap();
    assert_eq!(replayed, expected);
    assert_eq!(report.segments, segments);
    assert_eq!(report.records, 100);
    assert_eq!(report.last_seq, Some(100));
    assert_eq!(report.next_segment, segments.last().unwrap() + 1);
    assert_eq!(report.torn_tail, None);
}

#[test]
fn rotate_puts_returned_appends_in_older_segments() {
    let dir = tempfile::tempdir().unwrap();
    let fs = FaultFs::default();
    let wal = Arc::new(
        WalWriter::create(
            Arc::new(fs.clone()),
            dir.path(),
            1,
            1,
            WalOptions::default(),
        )
        .unwrap(),
    );
    let mut boundaries = Vec::new();
    for round in 0..3u64 {
        let mut last = 0;
        for i in 0..5 {
            last = wal
                .append_with(&tagged_batch(round * 10 + i), i % 2 == 0)
                .unwrap();
        }
        let new_segment = wal.rotate().unwrap();
        assert_eq!(new_segment, round + 2);
        assert_eq!(wal.current_segment(), new_segment);
        boundaries.push((last, new_segment));
    }
    wal.append(&tagged_batch(99)).unwrap();

    // Replay only the segments from each boundary on: nothing appended
    // before that rotate() is in them.
    for (last_before, new_segment) in boundaries {
        let mut min_seq = u64::MAX;
        recover(
            &fs,
            dir.path(),
            new_segment,
            RecoveryMode::AbsoluteConsistency,
            |v| min_seq = min_seq.min(v.first_seq()),
        )
        .unwrap();
        assert!(min_seq > last_before, "seq {min_seq} <= {last_before}");
    }
}

#[test]
fn rotated_segment_is_durable_and_new_one_has_only_a_header() {
    let dir = tempfile::tempdir().unwrap();
    let options = WalOptions {
        sync_mode: SyncMode::Never,
        ..WalOptions::default()
    };
    let wal = WalWriter::create(OsFileSystem::shared(), dir.path(), 1, 1, options).unwrap();
    wal.append(&tagged_batch(1)).unwrap();
    assert_eq!(wal.rotate().unwrap(), 2);
    let header_only = OsFileSystem
        .file_size(&segment_path(dir.path(), 2))
        .unwrap();
    assert_eq!(header_only, lsm_wal::format::SEGMENT_HEADER_BYTES as u64);
    let report = recover(
        &OsFileSystem,
        dir.path(),
        0,
        RecoveryMode::AbsoluteConsistency,
        |_| {},
    )
    .unwrap();
    assert_eq!(report.segments, vec![1, 2]);
    assert_eq!(report.records, 1);
    assert_eq!(report.next_segment, 3);
}

#[test]
fn recovery_ignores_segments_below_min_segment() {
    let dir = tempfile::tempdir().unwrap();
    let options = WalOptions {
        sync_mode: SyncMode::Never,
        ..WalOptions::default()
    };
    let wal = WalWriter::create(OsFileSystem::shared(), dir.path(), 1, 1, options).unwrap();
    wal.append(&tagged_batch(1)).unwrap();
    wal.rotate().unwrap();
    wal.append(&tagged_batch(2)).unwrap();
    wal.close().unwrap();
    // Corrupt segment 1: it must not matter, it is below min_segment.
    std::fs::write(segment_path(dir.path(), 1), b"garbage").unwrap();
    let mut seqs = Vec::new();
    let report = recover(
        &OsFileSystem,
        dir.path(),
        2,
        RecoveryMode::AbsoluteConsistency,
        |v| seqs.push(v.first_seq()),
    )
    .unwrap();
    assert_eq!(seqs, vec![2]);
    assert_eq!(report.segments, vec![2]);
    let report = recover(
        &OsFileSystem,
        dir.path(),
        10,
        RecoveryMode::AbsoluteConsistency,
        |_| {},
    )
    .unwrap();
    assert_eq!((report.records, report.next_segment), (0, 10));
}

#[test]
fn prepared_segment_is_used_by_rotation_and_recovers_like_any_other() {
    let dir = tempfile::tempdir().unwrap();
    let fs = lsm_core::OsFileSystem::shared();
    let options = lsm_wal::WalOptions {
        sync_mode: lsm_wal::SyncMode::Always,
        ..lsm_wal::WalOptions::default()
    };
    let wal =
        lsm_wal::WalWriter::create(std::sync::Arc::clone(&fs), dir.path(), 7, 1, options).unwrap();
    let mut batch = lsm_core::WriteBatch::new();
    batch.put(b"a", b"1");
    assert_eq!(wal.append(&batch).unwrap(), 1);
    wal.prepare_next_segment().unwrap();
    wal.prepare_next_segment().unwrap(); // a second call is a no-op
    assert!(
        dir.path().join(lsm_wal::segment_file_name(8)).exists(),
        "segment 8 was not created ahead"
    );
    assert_eq!(
        wal.current_segment(),
        7,
        "preparing must not switch segments"
    );
    assert_eq!(wal.rotate().unwrap(), 8);
    assert_eq!(wal.append(&batch).unwrap(), 2);
    // Prepared but never used: closes as a header-only segment.
    wal.prepare_next_segment().unwrap();
    wal.close().unwrap();
    let mut seqs = Vec::new();
    let report = lsm_wal::recover(
        fs.as_ref(),
        dir.path(),
        0,
        lsm_wal::RecoveryMode::AbsoluteConsistency,
        |b| seqs.push(b.last_seq()),
    )
    .unwrap();
    assert_eq!(seqs, [1, 2]);
    assert_eq!(report.segments, [7, 8, 9]);
    assert!(report.torn_tail.is_none());
}

#[test]
fn prepare_during_a_rotation_stands_aside_instead_of_recreating_the_new_segment() {
    let dir = tempfile::tempdir().unwrap();
    let fs = FaultFs::default();
    let faults = Arc::clone(&fs.faults);
    let options = WalOptions {
        sync_mode: SyncMode::Never,
        ..WalOptions::default()
    };
    let wal = Arc::new(WalWriter::create(Arc::new(fs), dir.path(), 1, 1, options).unwrap());
    wal.append(&tagged_batch(1)).unwrap();
    faults.block_syncs();
    let rotation = {
        let wal = Arc::clone(&wal);
        std::thread::spawn(move || wal.rotate())
    };
    // The rotation is parked in the old segment's fdatasync, its lock released.
    faults.wait_blocked(1);
    let prepare = {
        let wal = Arc::clone(&wal);
        std::thread::spawn(move || wal.prepare_next_segment())
    };
    // A prepare that raced the rotation would create segment 2 as well and
    // block in that file's header sync: a second blocked sync.
    while !prepare.is_finished() {
        assert!(
            faults.blocked() < 2,
            "prepare_next_segment created the segment a rotation is switching to"
        );
        std::thread::yield_now();
    }
    prepare.join().unwrap().unwrap();
    faults.release_syncs();
    assert_eq!(rotation.join().unwrap().unwrap(), 2);
    wal.append(&tagged_batch(2)).unwrap();
    wal.close().unwrap();
    let mut replayed = 0;
    recover(
        &OsFileSystem,
        dir.path(),
        0,
        RecoveryMode::AbsoluteConsistency,
        |_| replayed += 1,
    )
    .unwrap();
    assert_eq!(replayed, 2, "a record was lost around the rotation");
}

/// A closed writer's segments take no more appends: close frees the blocks
/// reserved past their ends (the current segment's and a prepared next
/// one's), so a process that opens, writes once and closes leaves no
/// `segment_bytes` reservation behind (64 MiB by default, until a flush).
/// Blocks are what the file system reports in use; on one without
/// `fallocate` nothing was reserved to begin with.
#[test]
fn close_frees_the_blocks_reserved_past_the_segments_ends() {
    use std::os::unix::fs::MetadataExt;
    let dir = tempfile::tempdir().unwrap();
    let wal = WalWriter::create(
        OsFileSystem::shared(),
        dir.path(),
        1,
        1,
        WalOptions::default(),
    )
    .unwrap();
    wal.append(&tagged_batch(1)).unwrap();
    wal.prepare_next_segment().unwrap();
    wal.close().unwrap();
    for number in [1, 2] {
        let meta = std::fs::metadata(segment_path(dir.path(), number)).unwrap();
        let in_use = meta.blocks() * 512;
        assert!(
            in_use <= meta.len() + (64 << 10),
            "segment {number}: {in_use} bytes of blocks for {} bytes",
            meta.len()
        );
    }
    let mut batches = 0;
    recover(
        &OsFileSystem,
        dir.path(),
        0,
        RecoveryMode::AbsoluteConsistency,
        |_| batches += 1,
    )
    .unwrap();
    assert_eq!(batches, 1, "the record and the sync mark read back");
}
