//! Replaying the WAL after a restart.
//!
//! Rules (also in `docs/format/wal.md`, "Recovery"):
//!
//! 1. Segments below `min_segment` are ignored (their data is already in
//!    tables). The rest are replayed in ascending order, and no number may
//!    be missing between the first one (`min_segment` itself when the
//!    caller knows its flushed state) and the newest one, present or
//!    recorded ([`ReplayStart::newest_known_segment`]).
//! 2. Each segment must start with a header naming its own number (an empty
//!    file counts as a segment without records).
//! 3. Every batch must parse, and sequence numbers are dense: each record
//!    starts right after the previous one, across segments too, and (when
//!    the caller passes [`ReplayStart::flushed_seq`]) the first record past
//!    the flushed state starts right after it. A record that repeats a
//!    sequence number, or a gap (a lost or shortened segment), is
//!    corruption.
//! 4. Frame damage (incomplete, zeroed, or failing checksum) with no valid
//!    record after it in its segment, or only records whose durable marks
//!    show that nothing from the damage on was durable when they were
//!    framed, and no record in any later segment, is a *torn tail*: a
//!    crash during appends (writes into zero-filled space reach the disk
//!    in any order), or during the creation of a segment made ahead of a
//!    rotation (which leaves a later segment with a torn header or only a
//!    header). Zeros running to the end of a segment are space zero-filled
//!    ahead, not damage. [`RecoveryMode`] decides what happens to damage.
//! 5. Prefix guarantee: recovery never skips a damaged record and goes on;
//!    what it replays is always a prefix of what was appended.
//! 6. Nothing is changed on disk until every check has passed: torn tails
//!    are cut after the whole log was read.
//!
//! Invariant: when recovery returns `Ok`, the files hold exactly what was
//! replayed, so a second recovery replays the same batches and reports no
//! damage.

use std::path::Path;

use lsm_core::{BatchView, FileSystem, SeqNo};

use crate::naming::{list_segments, segment_path};
use crate::options::RecoveryMode;
use crate::reader::{SegmentReader, SegmentTail};
use crate::Result;

/// What the caller knows about the log before it is replayed, so that
/// recovery can tell a complete log from one with a hole.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ReplayStart {
    /// Segments below this are ignored (their data is already in tables).
    pub min_segment: u64,
    /// The last sequence number whose write is already in tables. When set,
    /// segment `min_segment` must exist, and the first record holding a
    /// sequence number above it must start at most one past it.
    pub flushed_seq: Option<SeqNo>,
    /// The newest segment the caller recorded creating: every segment from
    /// the first one up to it must exist, so losing the newest segment is
    /// detected instead of taken for an empty log.
    pub newest_known_segment: Option<u64>,
    /// Check and replay only: cut nothing (the report says what a repair
    /// would cut). For read-only opens and `lsm verify`.
    pub dry_run: bool,
}

/// What [`recover`] replayed and repaired.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RecoveryReport {
    /// The segments replayed (every segment `>= min_segment` up to the
    /// damage point), ascending.
    pub segments: Vec<u64>,
    /// Number of batches passed to `apply`.
    pub records: u64,
    /// The last sequence number replayed, if any batch was.
    pub last_seq: Option<SeqNo>,
    /// The first damage that was cut off, if any.
    pub torn_tail: Option<TornTail>,
    /// Segments after the torn tail that held no record and whose header
    /// was torn (a crash while a segment was being created ahead of a
    /// rotation): truncated to zero bytes, which reads as an empty segment.
    pub torn_headers: Vec<u64>,
    /// The number to give the next segment: one past the largest existing
    /// segment number (below `min_segment` included), at least
    /// `min_segment`.
    pub next_segment: u64,
    /// In [`RecoveryMode::PointInTime`], the segments after the damage
    /// point, truncated to zero bytes because their records follow lost
    /// ones. Empty otherwise.
    pub lost_segments: Vec<u64>,
    /// In [`RecoveryMode::PointInTime`], the missing segment numbers the
    /// cut was made at, created as empty (zero-byte) segments so that the
    /// log is contiguous again: otherwise every later open would cut at the
    /// same gap and empty the segments written after this recovery.
    pub filled_segments: Vec<u64>,
}

/// Damage cut off the end of a segment by recovery.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TornTail {
    /// The segment that was truncated.
    pub segment: u64,
    /// Its new length: the offset of the first damaged byte.
    pub offset: u64,
    /// Bytes removed from that segment.
    pub dropped_bytes: u64,
}

/// Replays every segment `>= min_segment` in `dir` in order, calling
/// `apply` with each batch; [`recover_from`] with only `min_segment` known
/// (so the log may start at any segment and sequence number). For tools
/// and tests; a store passes what its manifest knows to [`recover_from`].
pub fn recover(
    fs: &dyn FileSystem,
    dir: &Path,
    min_segment: u64,
    mode: RecoveryMode,
    apply: impl FnMut(BatchView<'_>),
) -> Result<RecoveryReport> {
    let start = ReplayStart {
        min_segment,
        ..ReplayStart::default()
    };
    recover_from(fs, dir, &start, mode, apply)
}

/// A place where replay stops and the log is cut.
#[derive(Clone, Copy, Debug)]
struct Cut {
    /// Index into the live segments.
    index: usize,
    segment: u64,
    offset: u64,
    dropped_bytes: u64,
}

/// Replays every segment `>= start.min_segment` in `dir` in order, calling
/// `apply` with each batch; see the module doc for the rules. Once every
/// check has passed, truncates torn tails (and, in
/// [`RecoveryMode::PointInTime`], everything after the first damage)
/// through `fs.truncate`, which syncs. When it returns an error, it has
/// changed nothing on disk, but `apply` may have seen batches: discard
/// them.
///
/// Errors: `lsm_core::Error::Corruption` naming the segment file (or the
/// missing one) and the offset of the bad record; `lsm_core::Error::Io` on
/// I/O failure.
pub fn recover_from(
    fs: &dyn FileSystem,
    dir: &Path,
    start: &ReplayStart,
    mode: RecoveryMode,
    mut apply: impl FnMut(BatchView<'_>),
) -> Result<RecoveryReport> {
    let min_segment = start.min_segment;
    let all = list_segments(fs, dir)?;
    let next_segment = all
        .last()
        .map_or(0, |last| last.saturating_add(1))
        .max(min_segment);
    let mut live: Vec<u64> = all.into_iter().filter(|&n| n >= min_segment).collect();
    let mut report = RecoveryReport {
        next_segment,
        ..RecoveryReport::default()
    };
    // Segments after a missing one hold records that follow lost ones.
    let mut lost_from = None;
    let first_missing = first_missing_segment(&live, start);
    if let Some(missing) = first_missing {
        let detail = format!(
            "WAL segment {missing} is missing: every segment from {} on must exist \
             (its records are not in any table)",
            if start.flushed_seq.is_some() {
                min_segment
            } else {
                live.first().copied().unwrap_or(min_segment)
            }
        );
        if mode != RecoveryMode::PointInTime {
            return Err(corruption(&segment_path(dir, missing), 0, detail));
        }
        // The gap is filled with empty segments after the cut (below); a
        // gap wider than a store ever keeps is not a log to fill in: its
        // numbers came from damage (a manifest naming a segment far past
        // the last one, say). Checked before anything changes on disk.
        let newest = live
            .last()
            .copied()
            .into_iter()
            .chain(start.newest_known_segment)
            .max()
            .unwrap_or(missing);
        if newest.saturating_sub(missing) >= MAX_FILLED_SEGMENTS {
            return Err(corruption(
                &segment_path(dir, missing),
                0,
                format!(
                    "{detail}; segments up to {newest} would have to be created empty, \
                     more than the {MAX_FILLED_SEGMENTS} a PointInTime recovery creates"
                ),
            ));
        }
        lost_from = Some(live.partition_point(|&n| n < missing));
    }
    let replayable = lost_from.unwrap_or(live.len());

    let mut prev_last: Option<SeqNo> = None;
    // The segment holding the record that ends at `prev_last`, and the
    // segments after it that held no record.
    let mut prev_end: Option<u64> = None;
    let mut empty_since: Vec<u64> = Vec::new();
    // TolerateTornTail: damage at the end of a segment, provisionally a
    // torn tail as long as no later segment holds a record.
    let mut torn: Vec<Cut> = Vec::new();
    // PointInTime: the first damage or gap; replay stops there.
    let mut stop: Option<Cut> = None;

    'segments: for (index, &segment) in live[..replayable].iter().enumerate() {
        let path = segment_path(dir, segment);
        let buf = fs
            .read_all(&path)
            .map_err(|source| lsm_core::Error::io(&path, source))?;
        let mut reader = SegmentReader::new(&buf);
        if let Some(header) = reader.header() {
            if header.segment != segment {
                return Err(corruption(
                    &path,
                    0,
                    format!("segment header names segment {}", header.segment),
                ));
            }
        }
        report.segments.push(segment);
        for record in reader.by_ref() {
            let batch = record.batch;
            if let Some(cut) = torn.first() {
                let damaged = segment_path(dir, cut.segment);
                return Err(corruption(
                    &damaged,
                    cut.offset,
                    format!(
                        "damaged record at the end of segment {}, which is not the newest: \
                         segment {segment} holds records after it (offset {})",
                        cut.segment, record.offset
                    ),
                ));
            }
            let expected = match (prev_last, start.flushed_seq) {
                (Some(prev), _) => Some(prev.saturating_add(1)),
                (None, Some(flushed)) if batch.last_seq() > flushed => {
                    Some(flushed.saturating_add(1))
                }
                (None, _) => None,
            };
            if let Some(expected) = expected {
                let first = batch.first_seq();
                if prev_last.is_some() && first < expected {
                    return Err(corruption(
                        &path,
                        record.offset,
                        format!("sequence number {first} does not follow {}", expected - 1),
                    ));
                }
                if first > expected {
                    let after = match prev_end {
                        Some(prev) => format!(
                            "{} ends with sequence number {}: it was cut short, or a \
                             segment after it was lost",
                            segment_path(dir, prev).display(),
                            expected - 1
                        ),
                        None => format!(
                            "the log must continue from sequence number {}: a segment \
                             before this one was lost or cut short",
                            expected - 1
                        ),
                    };
                    let empty: Vec<String> = empty_since
                        .iter()
                        .map(|&n| segment_path(dir, n).display().to_string())
                        .collect();
                    let empty = match empty.as_slice() {
                        [] => String::new(),
                        paths => format!(" ({} held no record)", paths.join(", ")),
                    };
                    let detail = format!(
                        "sequence numbers {expected}..={} are missing before this record; \
                         {after}{empty}",
                        first - 1
                    );
                    if mode != RecoveryMode::PointInTime {
                        return Err(corruption(&path, record.offset, detail));
                    }
                    stop = Some(Cut {
                        index,
                        segment,
                        offset: record.offset,
                        dropped_bytes: buf.len() as u64 - record.offset,
                    });
                    break 'segments;
                }
            }
            apply(batch);
            report.records += 1;
            report.last_seq = Some(batch.last_seq());
            prev_last = Some(batch.last_seq());
            prev_end = Some(segment);
            empty_since.clear();
        }

        if let (Some(mark), Some(cut)) = (reader.sync_mark(), torn.first()) {
            return Err(corruption(
                &segment_path(dir, cut.segment),
                cut.offset,
                format!(
                    "damaged record at the end of segment {}, which is not the newest: \
                     segment {segment} holds a sync mark written once every sequence \
                     number below {mark} was durable",
                    cut.segment
                ),
            ));
        }
        if prev_end != Some(segment) {
            empty_since.push(segment);
        }
        let tail = reader.tail().cloned().unwrap_or(SegmentTail::Clean);
        // The sequence number a damaged record would have held; unknown
        // (0: no later record can show the damage torn) when no record
        // precedes it and the caller knows no flushed state.
        let lost_from = prev_last
            .or(start.flushed_seq)
            .map_or(0, |last| last.saturating_add(1));
        let explained = tail.is_torn(lost_from);
        match tail {
            SegmentTail::Clean => {}
            SegmentTail::Invalid { offset, reason } => {
                return Err(corruption(&path, offset, reason));
            }
            SegmentTail::Damaged {
                offset,
                dropped_bytes,
                reason,
                next_valid_record,
                later_durable_mark,
            } => {
                let cut = Cut {
                    index,
                    segment,
                    offset,
                    dropped_bytes,
                };
                let proof = match (next_valid_record, later_durable_mark) {
                    (Some(next), Some(SeqNo::MAX)) => {
                        Some(format!("followed by a valid record at offset {next}"))
                    }
                    (Some(next), Some(mark)) => Some(format!(
                        "followed by valid records (the first at offset {next}) written after \
                         sequence numbers below {mark} were durable, and the damage would hold \
                         sequence number {lost_from}"
                    )),
                    _ => None,
                };
                match (mode, explained) {
                    (RecoveryMode::PointInTime, _) => {
                        stop = Some(cut);
                        break 'segments;
                    }
                    (RecoveryMode::TolerateTornTail, true) => {
                        // Appends reach a segment only once every older
                        // one is synced, so only one segment can end in a
                        // torn record; later ones can only have a torn
                        // header (offset 0).
                        if let (Some(first), true) = (torn.first(), offset > 0) {
                            return Err(corruption(
                                &segment_path(dir, first.segment),
                                first.offset,
                                format!(
                                    "damaged record at the end of segment {}, which is not \
                                     the newest: segment {segment} has a record after it",
                                    first.segment
                                ),
                            ));
                        }
                        torn.push(cut);
                    }
                    (RecoveryMode::TolerateTornTail, false) => {
                        let proof = proof.unwrap_or_default();
                        return Err(corruption(&path, offset, format!("{reason}, {proof}")));
                    }
                    (RecoveryMode::AbsoluteConsistency, explained) => {
                        let detail = match (explained, proof) {
                            (false, Some(proof)) => format!("{reason}, {proof}"),
                            _ => format!(
                                "{reason} that a crash during appends explains \
                                 (a torn write, refused by AbsoluteConsistency recovery)"
                            ),
                        };
                        return Err(corruption(&path, offset, detail));
                    }
                }
            }
        }
    }

    // Every segment from here on is emptied: its records follow lost ones.
    let lost_from = stop.map(|cut| cut.index + 1).or(lost_from);
    if let Some(from) = lost_from {
        report.lost_segments = live.split_off(from);
    }
    if let Some(cut) = stop {
        report.torn_tail = Some(torn_tail(&cut));
    } else if let Some((first, later)) = torn.split_first() {
        report.torn_tail = Some(torn_tail(first));
        report.torn_headers = later.iter().map(|cut| cut.segment).collect();
    }
    if !start.dry_run {
        repair(fs, dir, start, &mut report)?;
    }
    Ok(report)
}

/// Makes the repairs that `report`, returned by a [`recover_from`] of
/// `start` with [`ReplayStart::dry_run`] set, says a repair would make:
/// empties [`RecoveryReport::lost_segments`], cuts the torn tail and the
/// torn headers, and (after a [`RecoveryMode::PointInTime`] recovery that
/// cut at a missing segment) creates the missing segments empty, noting
/// them in [`RecoveryReport::filled_segments`]. What [`recover_from`]
/// does itself without `dry_run`; for a caller with checks of its own to
/// run between the replay and the repair, so that a refused open changes
/// nothing. REQUIRES: the files are as the dry run found them.
///
/// Errors: `lsm_core::Error::Io` on I/O failure.
pub fn repair(
    fs: &dyn FileSystem,
    dir: &Path,
    start: &ReplayStart,
    report: &mut RecoveryReport,
) -> Result<()> {
    let live: Vec<u64> = list_segments(fs, dir)?
        .into_iter()
        .filter(|&n| n >= start.min_segment)
        .collect();
    let first_missing = first_missing_segment(&live, start);
    // Later segments are emptied before the damaged one is cut, so a crash
    // in between leaves the damage in place for the next recovery (prefix
    // guarantee).
    for &later in report.lost_segments.iter().rev() {
        truncate(fs, dir, later, 0)?;
    }
    for &segment in report.torn_headers.iter().rev() {
        truncate(fs, dir, segment, 0)?;
    }
    if let Some(torn) = report.torn_tail {
        truncate(fs, dir, torn.segment, torn.offset)?;
    }
    // Last, once the segments after the gap are empty: a crash before this
    // leaves the gap, and the next recovery cuts at it again.
    if let Some(missing) = first_missing {
        let newest = live
            .last()
            .copied()
            .into_iter()
            .chain(start.newest_known_segment)
            .max()
            .unwrap_or(missing)
            .max(missing);
        let present: std::collections::BTreeSet<u64> = live.iter().copied().collect();
        for number in missing..=newest {
            if !present.contains(&number) {
                let path = segment_path(dir, number);
                fs.create(&path)
                    .and_then(|file| file.sync_data())
                    .map_err(|source| lsm_core::Error::io(&path, source))?;
                report.filled_segments.push(number);
            }
        }
        fs.sync_dir(dir)
            .map_err(|source| lsm_core::Error::io(dir, source))?;
    }
    Ok(())
}

/// The most missing segment numbers a PointInTime recovery fills with
/// empty segments; a larger gap is reported as corruption.
const MAX_FILLED_SEGMENTS: u64 = 1 << 16;

/// The first segment number that should exist but does not: segments are
/// numbered consecutively from the first needed one up to the newest one
/// present or recorded.
fn first_missing_segment(live: &[u64], start: &ReplayStart) -> Option<u64> {
    let mut expected = if start.flushed_seq.is_some() {
        start.min_segment
    } else {
        *live.first()?
    };
    for &number in live {
        if number != expected {
            return Some(expected);
        }
        expected = number.checked_add(1)?;
    }
    match start.newest_known_segment {
        Some(newest) if newest >= expected => Some(expected),
        _ => None,
    }
}

fn torn_tail(cut: &Cut) -> TornTail {
    TornTail {
        segment: cut.segment,
        offset: cut.offset,
        dropped_bytes: cut.dropped_bytes,
    }
}

fn truncate(fs: &dyn FileSystem, dir: &Path, segment: u64, len: u64) -> Result<()> {
    let path = segment_path(dir, segment);
    fs.truncate(&path, len)
        .map_err(|source| lsm_core::Error::io(&path, source).into())
}

fn corruption(path: &Path, offset: u64, detail: impl Into<String>) -> crate::Error {
    lsm_core::Error::corruption(path, offset, detail).into()
}
