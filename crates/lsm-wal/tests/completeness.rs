//! A log with a hole is corruption, a log whose only damage is what a crash
//! leaves is recovered: torn tails followed by segments created ahead of a
//! rotation (header only, or a torn header), lost or shortened older
//! segments, a lost newest segment the caller knows about, and a log that
//! does not continue from the caller's flushed state.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

mod common;

use std::path::{Path, PathBuf};

use common::{owned, tagged_batch, Replayed};
use lsm_core::OsFileSystem;
use lsm_wal::format::SEGMENT_HEADER_BYTES;
use lsm_wal::{
    read_segment, recover, recover_from, segment_path, RecordSummary, RecoveryMode, RecoveryReport,
    ReplayStart, SyncMode, TornTail, WalOptions, WalWriter,
};

const RECORDS: u64 = 4;

/// Writes `RECORDS` one-op batches into segment `segment`, sequence numbers
/// `first_seq..first_seq + RECORDS`; returns each record's place.
fn write_segment(dir: &Path, segment: u64, first_seq: u64) -> Vec<RecordSummary> {
    let options = WalOptions {
        sync_mode: SyncMode::Never,
        ..WalOptions::default()
    };
    let wal = WalWriter::create(OsFileSystem::shared(), dir, segment, first_seq, options).unwrap();
    for i in 0..RECORDS {
        wal.append(&tagged_batch(segment * 100 + i)).unwrap();
    }
    // Not closed: a crash or a rotation leaves a segment without the sync
    // mark `close` writes.
    drop(wal);
    read_segment(&OsFileSystem, &segment_path(dir, segment))
        .unwrap()
        .records
}

/// A segment holding only its header, as `prepare_next_segment` leaves it.
fn header_only_segment(dir: &Path, segment: u64, next_seq: u64) {
    let wal = WalWriter::create(
        OsFileSystem::shared(),
        dir,
        segment,
        next_seq,
        WalOptions::default(),
    )
    .unwrap();
    drop(wal); // prepared, never written to: no sync mark
    assert_eq!(
        file_len(&segment_path(dir, segment)),
        SEGMENT_HEADER_BYTES as u64
    );
}

fn file_len(path: &Path) -> u64 {
    std::fs::metadata(path).unwrap().len()
}

fn cut(path: &Path, len: u64) {
    let file = std::fs::OpenOptions::new().write(true).open(path).unwrap();
    file.set_len(len).unwrap();
}

fn replay_from(
    dir: &Path,
    start: &ReplayStart,
    mode: RecoveryMode,
) -> Result<(Vec<Replayed>, RecoveryReport), lsm_wal::Error> {
    let mut replayed = Vec::new();
    let report = recover_from(&OsFileSystem, dir, start, mode, |view| {
        replayed.push(owned(view))
    })?;
    Ok((replayed, report))
}

fn replay(
    dir: &Path,
    mode: RecoveryMode,
) -> Result<(Vec<Replayed>, RecoveryReport), lsm_wal::Error> {
    let mut replayed = Vec::new();
    let report = recover(&OsFileSystem, dir, 0, mode, |view| {
        replayed.push(owned(view))
    })?;
    Ok((replayed, report))
}

fn corruption(err: &lsm_wal::Error) -> (PathBuf, u64, String) {
    match err {
        lsm_wal::Error::Core(lsm_core::Error::Corruption {
            path,
            offset,
            detail,
        }) => (path.clone(), *offset, detail.clone()),
        other => panic!("expected a corruption error, got {other:?}"),
    }
}

/// Every file's bytes, to check that a failed recovery changed nothing.
fn snapshot(dir: &Path) -> Vec<(String, Vec<u8>)> {
    let mut files: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| {
            let e = e.unwrap();
            (
                e.file_name().into_string().unwrap(),
                std::fs::read(e.path()).unwrap(),
            )
        })
        .collect();
    files.sort();
    files
}

fn last_seqs(replayed: &[Replayed]) -> Vec<u64> {
    replayed
        .iter()
        .map(|(first_seq, ops)| first_seq + ops.len() as u64 - 1)
        .collect()
}

#[test]
fn torn_tail_followed_by_a_prepared_header_only_segment_is_cut() {
    // The power-cut failure: segment 1 ends in a torn record and segment 2
    // was created ahead of the rotation, holding only its header.
    let dir = tempfile::tempdir().unwrap();
    let records = write_segment(dir.path(), 1, 1);
    header_only_segment(dir.path(), 2, 5);
    let path1 = segment_path(dir.path(), 1);
    let last = records.last().unwrap();
    cut(&path1, last.offset + 5);

    let (replayed, report) = replay(dir.path(), RecoveryMode::TolerateTornTail).unwrap();
    assert_eq!(last_seqs(&replayed), [1, 2, 3]);
    assert_eq!(
        report.torn_tail,
        Some(TornTail {
            segment: 1,
            offset: last.offset,
            dropped_bytes: 5
        })
    );
    assert!(report.torn_headers.is_empty());
    assert_eq!(file_len(&path1), last.offset);
    assert_eq!(report.next_segment, 3);
    // The repaired log recovers cleanly, even with the strictest mode.
    let (again, report) = replay(dir.path(), RecoveryMode::AbsoluteConsistency).unwrap();
    assert_eq!(again, replayed);
    assert_eq!(report.torn_tail, None);
}

#[test]
fn torn_tail_followed_by_a_torn_prepared_header_is_cut_and_the_header_emptied() {
    let dir = tempfile::tempdir().unwrap();
    let records = write_segment(dir.path(), 1, 1);
    header_only_segment(dir.path(), 2, 5);
    let path1 = segment_path(dir.path(), 1);
    let path2 = segment_path(dir.path(), 2);
    let last = records.last().unwrap();
    let mut bytes = std::fs::read(&path1).unwrap();
    // The start of a record whose write was cut short (zeros to the end
    // would be space zero-filled ahead, not damage).
    let start = usize::try_from(last.offset).unwrap();
    let partial = bytes[start..start + 20].to_vec();
    bytes.extend_from_slice(&partial);
    std::fs::write(&path1, &bytes).unwrap();
    cut(&path2, 11); // the header's write was cut short

    let (replayed, report) = replay(dir.path(), RecoveryMode::TolerateTornTail).unwrap();
    assert_eq!(last_seqs(&replayed), [1, 2, 3, 4]);
    assert_eq!(
        report.torn_tail.map(|t| (t.segment, t.offset)),
        Some((1, last.offset + last.framed_len))
    );
    assert_eq!(report.torn_headers, [2]);
    assert_eq!(file_len(&path2), 0);
    let (_, report) = replay(dir.path(), RecoveryMode::AbsoluteConsistency).unwrap();
    assert_eq!(report.torn_tail, None);
}

/// Writes a later segment into a directory.
type WriteLater = fn(&Path);

/// Damage at the end of segment 1 followed by a segment 2 that proves
/// segment 1 was durable: one holding records, or one holding only the
/// sync mark a `close` right after a rotation writes. Either way it is not
/// a torn write.
#[test]
fn torn_tail_followed_by_records_or_a_sync_mark_is_corruption_and_changes_nothing() {
    let later_segments: [(&str, WriteLater); 2] = [
        ("not the newest", |dir| {
            write_segment(dir, 2, 5);
        }),
        ("sync mark", |dir| {
            let options = WalOptions::default();
            let wal = WalWriter::create(OsFileSystem::shared(), dir, 2, 5, options).unwrap();
            wal.close().unwrap();
        }),
    ];
    for (proof, write_later) in later_segments {
        let dir = tempfile::tempdir().unwrap();
        let records = write_segment(dir.path(), 1, 1);
        write_later(dir.path());
        let path1 = segment_path(dir.path(), 1);
        let last = records.last().unwrap();
        cut(&path1, last.offset + 5);
        let before = snapshot(dir.path());
        let err = replay(dir.path(), RecoveryMode::TolerateTornTail).unwrap_err();
        let (path, offset, detail) = corruption(&err);
        assert_eq!((path, offset), (path1, last.offset));
        assert!(detail.contains(proof), "{detail}");
        assert_eq!(snapshot(dir.path()), before, "a failed recovery wrote");
    }
}

#[test]
fn older_segment_cut_at_a_record_boundary_is_a_gap_naming_the_missing_range() {
    let dir = tempfile::tempdir().unwrap();
    let records = write_segment(dir.path(), 1, 1);
    let records2 = write_segment(dir.path(), 2, 5);
    cut(&segment_path(dir.path(), 1), records[2].offset); // seqnos 3 and 4 gone
    let before = snapshot(dir.path());
    for mode in [
        RecoveryMode::TolerateTornTail,
        RecoveryMode::AbsoluteConsistency,
    ] {
        let err = replay(dir.path(), mode).unwrap_err();
        let (path, offset, detail) = corruption(&err);
        assert_eq!(
            (path, offset),
            (segment_path(dir.path(), 2), records2[0].offset)
        );
        assert!(detail.contains("3..=4 are missing"), "{detail}");
        assert_eq!(snapshot(dir.path()), before);
    }
    // PointInTime stops at the gap: the records after it follow lost ones.
    let (replayed, report) = replay(dir.path(), RecoveryMode::PointInTime).unwrap();
    assert_eq!(last_seqs(&replayed), [1, 2]);
    assert_eq!(file_len(&segment_path(dir.path(), 2)), records2[0].offset);
    assert_eq!(report.torn_tail.map(|t| t.segment), Some(2));
}

#[test]
fn older_segment_truncated_to_zero_is_a_gap() {
    let dir = tempfile::tempdir().unwrap();
    write_segment(dir.path(), 1, 1);
    write_segment(dir.path(), 2, 5);
    let records3 = write_segment(dir.path(), 3, 9);
    cut(&segment_path(dir.path(), 2), 0);
    let err = replay(dir.path(), RecoveryMode::TolerateTornTail).unwrap_err();
    let (path, offset, detail) = corruption(&err);
    assert_eq!(
        (path, offset),
        (segment_path(dir.path(), 3), records3[0].offset)
    );
    assert!(detail.contains("5..=8 are missing"), "{detail}");
}

#[test]
fn deleted_older_segment_is_a_missing_segment() {
    let dir = tempfile::tempdir().unwrap();
    write_segment(dir.path(), 1, 1);
    write_segment(dir.path(), 2, 5);
    write_segment(dir.path(), 3, 9);
    std::fs::remove_file(segment_path(dir.path(), 2)).unwrap();
    let before = snapshot(dir.path());
    let err = replay(dir.path(), RecoveryMode::TolerateTornTail).unwrap_err();
    let (path, offset, detail) = corruption(&err);
    assert_eq!((path, offset), (segment_path(dir.path(), 2), 0));
    assert!(detail.contains("missing"), "{detail}");
    assert_eq!(snapshot(dir.path()), before);
    // PointInTime keeps what precedes the hole and empties what follows,
    // then creates the missing segment empty: the log is contiguous again,
    // so a second recovery replays the same and cuts nothing.
    let (replayed, report) = replay(dir.path(), RecoveryMode::PointInTime).unwrap();
    assert_eq!(last_seqs(&replayed), [1, 2, 3, 4]);
    assert_eq!(report.lost_segments, [3]);
    assert_eq!(report.filled_segments, [2]);
    assert_eq!(file_len(&segment_path(dir.path(), 3)), 0);
    assert_eq!(file_len(&segment_path(dir.path(), 2)), 0);
    let (again, report) = replay(dir.path(), RecoveryMode::TolerateTornTail).unwrap();
    assert_eq!(last_seqs(&again), [1, 2, 3, 4]);
    assert!(report.lost_segments.is_empty() && report.filled_segments.is_empty());
}

/// A gap wider than PointInTime fills (a manifest naming a newest segment
/// far past the last one) is corruption, and nothing changes on disk.
#[test]
fn point_in_time_refuses_to_fill_a_gap_of_a_million_segments() {
    let dir = tempfile::tempdir().unwrap();
    write_segment(dir.path(), 1, 1);
    write_segment(dir.path(), 2, 5);
    let before = snapshot(dir.path());
    let start = ReplayStart {
        min_segment: 1,
        flushed_seq: Some(0),
        newest_known_segment: Some(1_000_000),
        dry_run: false,
    };
    let err = replay_from(dir.path(), &start, RecoveryMode::PointInTime).unwrap_err();
    let (path, offset, detail) = corruption(&err);
    assert_eq!((path, offset), (segment_path(dir.path(), 3), 0));
    assert!(detail.contains("1000000"), "{detail}");
    assert_eq!(snapshot(dir.path()), before);
}

#[test]
fn log_must_continue_from_the_flushed_state() {
    let dir = tempfile::tempdir().unwrap();
    let records = write_segment(dir.path(), 4, 11);
    // Tables hold up to 10: the log continues them.
    let start = ReplayStart {
        min_segment: 4,
        flushed_seq: Some(10),
        newest_known_segment: Some(4),
        dry_run: false,
    };
    let (replayed, _) = replay_from(dir.path(), &start, RecoveryMode::TolerateTornTail).unwrap();
    assert_eq!(last_seqs(&replayed), [11, 12, 13, 14]);
    // Tables hold only up to 6 (their newest edit was lost): 7..=10 are
    // nowhere.
    let start = ReplayStart {
        flushed_seq: Some(6),
        ..start
    };
    let err = replay_from(dir.path(), &start, RecoveryMode::TolerateTornTail).unwrap_err();
    let (path, offset, detail) = corruption(&err);
    assert_eq!(
        (path, offset),
        (segment_path(dir.path(), 4), records[0].offset)
    );
    assert!(detail.contains("7..=10 are missing"), "{detail}");
    // Records already in tables are skipped, not a gap.
    let start = ReplayStart {
        flushed_seq: Some(12),
        ..start
    };
    let (replayed, _) = replay_from(dir.path(), &start, RecoveryMode::TolerateTornTail).unwrap();
    assert_eq!(replayed.len(), 4, "recovery hands every record to apply");
}

#[test]
fn missing_first_needed_or_recorded_newest_segment_is_corruption() {
    let dir = tempfile::tempdir().unwrap();
    write_segment(dir.path(), 5, 1);
    // The manifest needs segment 4 on.
    let start = ReplayStart {
        min_segment: 4,
        flushed_seq: Some(0),
        newest_known_segment: None,
        dry_run: false,
    };
    let err = replay_from(dir.path(), &start, RecoveryMode::TolerateTornTail).unwrap_err();
    assert_eq!(corruption(&err).0, segment_path(dir.path(), 4));
    // The manifest recorded creating segment 6, which is gone.
    let start = ReplayStart {
        min_segment: 5,
        flushed_seq: Some(0),
        newest_known_segment: Some(6),
        dry_run: false,
    };
    let err = replay_from(dir.path(), &start, RecoveryMode::TolerateTornTail).unwrap_err();
    assert_eq!(corruption(&err).0, segment_path(dir.path(), 6));
    // With both present, recovery succeeds.
    header_only_segment(dir.path(), 6, 5);
    let (replayed, report) =
        replay_from(dir.path(), &start, RecoveryMode::TolerateTornTail).unwrap();
    assert_eq!(replayed.len() as u64, RECORDS);
    assert_eq!(report.segments, [5, 6]);
}

#[test]
fn dry_run_reports_the_torn_tail_and_cuts_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let records = write_segment(dir.path(), 1, 1);
    header_only_segment(dir.path(), 2, 5);
    let last = records.last().unwrap();
    cut(&segment_path(dir.path(), 1), last.offset + 5);
    let before = snapshot(dir.path());
    let start = ReplayStart {
        dry_run: true,
        ..ReplayStart::default()
    };
    let (replayed, report) =
        replay_from(dir.path(), &start, RecoveryMode::TolerateTornTail).unwrap();
    assert_eq!(last_seqs(&replayed), [1, 2, 3]);
    assert_eq!(
        report.torn_tail.map(|t| (t.segment, t.offset)),
        Some((1, last.offset))
    );
    assert_eq!(snapshot(dir.path()), before, "a dry run wrote");
}
