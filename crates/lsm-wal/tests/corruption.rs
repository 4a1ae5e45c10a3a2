//! Damage on disk: a torn tail is cut to the exact valid prefix, damage
//! anywhere else is a corruption error naming the segment and offset, and
//! arbitrary bytes never panic.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

mod common;

use std::path::{Path, PathBuf};

use common::{owned, owned_batch, tagged_batch, Replayed};
use lsm_core::record::encode_record;
use lsm_core::OsFileSystem;
use lsm_wal::format::{RECORD_TYPE_WRITE_BATCH, SEGMENT_HEADER_BYTES};
use lsm_wal::{
    read_segment, recover, segment_path, RecordSummary, RecoveryMode, RecoveryReport, SyncMode,
    TornTail, WalOptions, WalWriter,
};
use proptest::prelude::*;

const RECORDS: u64 = 5;

/// Writes `RECORDS` batches into segment `segment` starting at `first_seq`
/// and leaves it as a crash does; returns what recovery should replay and
/// each record's place.
fn write_segment(dir: &Path, segment: u64, first_seq: u64) -> (Vec<Replayed>, Vec<RecordSummary>) {
    write_segment_ending(dir, segment, first_seq, false)
}

/// The same, then `close` when `closed` (a sync mark ends the segment).
/// Otherwise not closed, as a crash leaves it: no sync mark proves the
/// last records durable.
fn write_segment_ending(
    dir: &Path,
    segment: u64,
    first_seq: u64,
    closed: bool,
) -> (Vec<Replayed>, Vec<RecordSummary>) {
    let options = WalOptions {
        sync_mode: SyncMode::Never,
        ..WalOptions::default()
    };
    let wal = WalWriter::create(OsFileSystem::shared(), dir, segment, first_seq, options).unwrap();
    let mut expected = Vec::new();
    for i in 0..RECORDS {
        let mut batch = tagged_batch(segment * 100 + i);
        if i % 2 == 1 {
            batch.delete(b"some-deleted-key");
        }
        let last = wal.append(&batch).unwrap();
        expected.push(owned_batch(&batch, last + 1 - u64::from(batch.count())));
    }
    if closed {
        wal.close().unwrap();
    }
    let contents = read_segment(&OsFileSystem, &segment_path(dir, segment)).unwrap();
    assert_eq!(contents.records.len() as u64, RECORDS);
    (expected, contents.records)
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

fn corruption_at(err: &lsm_wal::Error) -> (PathBuf, u64) {
    match err {
        lsm_wal::Error::Core(lsm_core::Error::Corruption { path, offset, .. }) => {
            (path.clone(), *offset)
        }
        other => panic!("expected a corruption error, got {other:?}"),
    }
}

/// Byte ranges of a record's regions: CRC, length, type, payload.
fn regions(record: &RecordSummary) -> [(&'static str, std::ops::Range<u64>); 4] {
    let o = record.offset;
    [
        ("crc", o..o + 4),
        ("length", o + 4..o + 8),
        ("type", o + 8..o + 9),
        ("payload", o + 9..o + record.framed_len),
    ]
}

#[test]
fn flipped_byte_in_last_record_is_a_torn_tail_cut_to_the_valid_prefix() {
    let dir = tempfile::tempdir().unwrap();
    let (expected, records) = write_segment(dir.path(), 1, 1);
    let path = segment_path(dir.path(), 1);
    let original = std::fs::read(&path).unwrap();
    let last = records.last().unwrap();
    for (region, range) in regions(last) {
        for at in range {
            for mask in [0x01u8, 0x80] {
                let mut bytes = original.clone();
                bytes[at as usize] ^= mask;
                std::fs::write(&path, &bytes).unwrap();

                let err = replay(dir.path(), RecoveryMode::AbsoluteConsistency).unwrap_err();
                assert_eq!(
                    corruption_at(&err),
                    (path.clone(), last.offset),
                    "{region} byte {at}"
                );

                let (replayed, report) =
                    replay(dir.path(), RecoveryMode::TolerateTornTail).unwrap();
                assert_eq!(
                    replayed,
                    expected[..expected.len() - 1],
                    "{region} byte {at}"
                );
                assert_eq!(
                    report.torn_tail,
                    Some(TornTail {
                        segment: 1,
                        offset: last.offset,
                        dropped_bytes: last.framed_len
                    }),
                    "{region} byte {at}"
                );
                assert_eq!(std::fs::metadata(&path).unwrap().len(), last.offset);
                // The cut is durable and recovery is idempotent.
                let (again, report) =
                    replay(dir.path(), RecoveryMode::AbsoluteConsistency).unwrap();
                assert_eq!(again, replayed);
                assert_eq!(report.torn_tail, None);
            }
        }
    }
}

#[test]
fn flipped_byte_in_middle_record_is_corruption_at_its_offset() {
    let dir = tempfile::tempdir().unwrap();
    let (expected, records) = write_segment(dir.path(), 1, 1);
    let path = segment_path(dir.path(), 1);
    let middle = &records[2];
    each_flip_is_corruption(dir.path(), &path, middle, 0x10, |region, at| {
        // PointInTime keeps the prefix before the damage.
        let (replayed, report) = replay(dir.path(), RecoveryMode::PointInTime).unwrap();
        assert_eq!(replayed, expected[..2], "{region} byte {at}");
        assert_eq!(report.torn_tail.map(|t| t.offset), Some(middle.offset));
        assert_eq!(std::fs::metadata(&path).unwrap().len(), middle.offset);
    });
}

/// Flips (with `mask`) each byte of `record` in the segment at `path` in
/// turn, from its original bytes: recovery in the tolerant and the strict
/// mode reports corruption at the record and leaves the file as it was;
/// then `after(region, byte)` runs with the damaged file in place.
fn each_flip_is_corruption(
    dir: &Path,
    path: &Path,
    record: &RecordSummary,
    mask: u8,
    mut after: impl FnMut(&str, u64),
) {
    let original = std::fs::read(path).unwrap();
    for (region, range) in regions(record) {
        for at in range {
            let mut bytes = original.clone();
            bytes[at as usize] ^= mask;
            std::fs::write(path, &bytes).unwrap();
            for mode in [
                RecoveryMode::TolerateTornTail,
                RecoveryMode::AbsoluteConsistency,
            ] {
                let err = replay(dir, mode).unwrap_err();
                assert_eq!(
                    corruption_at(&err),
                    (path.to_path_buf(), record.offset),
                    "{region} byte {at}, {mode:?}"
                );
                assert_eq!(
                    std::fs::read(path).unwrap(),
                    bytes,
                    "a failed recovery changed the file"
                );
            }
            after(region, at);
        }
    }
    std::fs::write(path, &original).unwrap();
}

#[test]
fn truncation_at_every_offset_recovers_the_exact_prefix() {
    let dir = tempfile::tempdir().unwrap();
    let (expected, records) = write_segment(dir.path(), 1, 1);
    let path = segment_path(dir.path(), 1);
    let original = std::fs::read(&path).unwrap();
    for cut in 0..=original.len() as u64 {
        std::fs::write(&path, &original[..cut as usize]).unwrap();
        let (replayed, report) = replay(dir.path(), RecoveryMode::TolerateTornTail).unwrap();
        let whole = records
            .iter()
            .filter(|r| r.offset + r.framed_len <= cut)
            .count();
        assert_eq!(replayed, expected[..whole], "cut at {cut}");
        let valid_end = records.get(whole.wrapping_sub(1)).map_or(
            if cut >= SEGMENT_HEADER_BYTES as u64 {
                SEGMENT_HEADER_BYTES as u64
            } else {
                0
            },
            |r| r.offset + r.framed_len,
        );
        // A cut leaving only zero bytes of the next record reads as space
        // zero-filled ahead: a clean end, nothing to cut.
        let zeros_only = original[valid_end as usize..cut as usize]
            .iter()
            .all(|&b| b == 0);
        let torn = (!zeros_only).then_some(TornTail {
            segment: 1,
            offset: valid_end,
            dropped_bytes: cut - valid_end,
        });
        assert_eq!(report.torn_tail, torn, "cut at {cut}");
        let kept = if zeros_only { cut } else { valid_end };
        assert_eq!(std::fs::metadata(&path).unwrap().len(), kept);
    }
}

/// `close` ends the log with a sync mark written once every record was
/// durable: damage to the last record is then corruption in every mode
/// that is not point-in-time, never a torn write.
#[test]
fn closed_log_with_its_last_record_damaged_is_corruption() {
    let dir = tempfile::tempdir().unwrap();
    let (_, records) = write_segment_ending(dir.path(), 1, 1, true);
    let path = segment_path(dir.path(), 1);
    let contents = read_segment(&OsFileSystem, &path).unwrap();
    assert_eq!(
        contents.sync_mark,
        Some(1 + RECORDS + 2),
        "past every seqno"
    );
    let last = records.last().unwrap();
    each_flip_is_corruption(dir.path(), &path, last, 0x01, |_, _| {});
}

/// Cutting a closed log anywhere in its sync mark is a torn write of the
/// sync mark alone: every batch is replayed.
#[test]
fn closed_log_cut_inside_its_sync_mark_keeps_every_batch() {
    let dir = tempfile::tempdir().unwrap();
    let (expected, records) = write_segment_ending(dir.path(), 1, 1, true);
    let path = segment_path(dir.path(), 1);
    let original = std::fs::read(&path).unwrap();
    let batches_end = records.last().map(|r| r.offset + r.framed_len).unwrap();
    for cut in batches_end..=original.len() as u64 {
        std::fs::write(&path, &original[..cut as usize]).unwrap();
        let (replayed, report) = replay(dir.path(), RecoveryMode::TolerateTornTail).unwrap();
        assert_eq!(replayed, expected, "cut at {cut}");
        let torn = (cut > batches_end && cut < original.len() as u64).then_some(TornTail {
            segment: 1,
            offset: batches_end,
            dropped_bytes: cut - batches_end,
        });
        assert_eq!(report.torn_tail, torn, "cut at {cut}");
    }
}

/// Zeros after the last record (space the writer zero-filled ahead) end
/// the segment cleanly: nothing is cut, in any mode.
#[test]
fn zeros_after_the_last_record_are_a_clean_end() {
    let dir = tempfile::tempdir().unwrap();
    let (expected, _) = write_segment(dir.path(), 1, 1);
    let path = segment_path(dir.path(), 1);
    let mut bytes = std::fs::read(&path).unwrap();
    bytes.extend_from_slice(&[0; 4096]);
    std::fs::write(&path, &bytes).unwrap();
    for mode in [
        RecoveryMode::TolerateTornTail,
        RecoveryMode::AbsoluteConsistency,
        RecoveryMode::PointInTime,
    ] {
        let (replayed, report) = replay(dir.path(), mode).unwrap();
        assert_eq!(replayed, expected, "{mode:?}");
        assert_eq!(report.torn_tail, None, "{mode:?}");
        assert_eq!(std::fs::read(&path).unwrap(), bytes, "{mode:?}");
    }
}

#[test]
fn damage_in_an_older_segment_is_corruption_but_point_in_time_drops_later_segments() {
    let dir = tempfile::tempdir().unwrap();
    let (expected1, records1) = write_segment(dir.path(), 1, 1);
    let (_, _) = write_segment(dir.path(), 2, 100);
    let path1 = segment_path(dir.path(), 1);
    let mut bytes = std::fs::read(&path1).unwrap();
    let last = records1.last().unwrap();
    bytes[last.offset as usize + 12] ^= 0xFF;
    std::fs::write(&path1, &bytes).unwrap();

    for mode in [
        RecoveryMode::TolerateTornTail,
        RecoveryMode::AbsoluteConsistency,
    ] {
        let err = replay(dir.path(), mode).unwrap_err();
        assert_eq!(corruption_at(&err), (path1.clone(), last.offset));
    }
    let (replayed, report) = replay(dir.path(), RecoveryMode::PointInTime).unwrap();
    assert_eq!(replayed, expected1[..expected1.len() - 1]);
    assert_eq!(report.lost_segments, vec![2]);
    assert_eq!(report.segments, vec![1]);
    assert_eq!(report.next_segment, 3);
    assert_eq!(
        std::fs::metadata(segment_path(dir.path(), 2))
            .unwrap()
            .len(),
        0
    );
    // What is left is a clean prefix.
    let (again, report) = replay(dir.path(), RecoveryMode::AbsoluteConsistency).unwrap();
    assert_eq!(again, replayed);
    assert_eq!((report.torn_tail, report.segments), (None, vec![1, 2]));
}

#[test]
fn seqnos_that_do_not_increase_across_segments_are_corruption() {
    let dir = tempfile::tempdir().unwrap();
    write_segment(dir.path(), 1, 1);
    write_segment(dir.path(), 2, 3);
    for mode in [RecoveryMode::TolerateTornTail, RecoveryMode::PointInTime] {
        let err = replay(dir.path(), mode).unwrap_err();
        assert_eq!(
            corruption_at(&err),
            (segment_path(dir.path(), 2), SEGMENT_HEADER_BYTES as u64)
        );
    }
}

#[test]
fn checksummed_but_invalid_batch_is_corruption_in_every_mode() {
    let dir = tempfile::tempdir().unwrap();
    write_segment(dir.path(), 1, 1);
    let path = segment_path(dir.path(), 1);
    let mut bytes = std::fs::read(&path).unwrap();
    let offset = bytes.len() as u64;
    encode_record(&mut bytes, RECORD_TYPE_WRITE_BATCH, b"not a batch at all");
    std::fs::write(&path, &bytes).unwrap();
    for mode in [
        RecoveryMode::TolerateTornTail,
        RecoveryMode::PointInTime,
        RecoveryMode::AbsoluteConsistency,
    ] {
        let err = replay(dir.path(), mode).unwrap_err();
        assert_eq!(corruption_at(&err), (path.clone(), offset));
    }
}

#[test]
fn segment_whose_header_names_another_number_is_corruption() {
    let dir = tempfile::tempdir().unwrap();
    write_segment(dir.path(), 1, 1);
    std::fs::rename(segment_path(dir.path(), 1), segment_path(dir.path(), 7)).unwrap();
    let err = replay(dir.path(), RecoveryMode::TolerateTornTail).unwrap_err();
    assert_eq!(corruption_at(&err), (segment_path(dir.path(), 7), 0));
    assert!(err.to_string().contains("names segment 1"), "{err}");
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn arbitrary_bytes_as_a_segment_never_panic(
        bytes in proptest::collection::vec(any::<u8>(), 0..300),
        keep_valid_prefix in any::<bool>(),
        mode in prop_oneof![
            Just(RecoveryMode::TolerateTornTail),
            Just(RecoveryMode::PointInTime),
            Just(RecoveryMode::AbsoluteConsistency)
        ],
    ) {
        let dir = tempfile::tempdir().unwrap();
        let path = segment_path(dir.path(), 1);
        let mut content = Vec::new();
        if keep_valid_prefix {
            write_segment(dir.path(), 1, 1);
            content = std::fs::read(&path).unwrap();
        }
        content.extend_from_slice(&bytes);
        std::fs::write(&path, &content).unwrap();
        if let Ok((replayed, _)) = replay(dir.path(), mode) {
            // Whatever was accepted is now a clean log.
            let (again, report) = replay(dir.path(), RecoveryMode::AbsoluteConsistency).unwrap();
            prop_assert_eq!(again, replayed);
            prop_assert_eq!(report.torn_tail, None);
        }
        let _ = read_segment(&OsFileSystem, &path).unwrap();
    }
}
