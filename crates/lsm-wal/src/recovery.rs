//! Replaying the WAL after a restart.
//!
//! Rules (also in `docs/format/wal.md`, "Recovery"):
//!
//! 1. Segments below `min_segment` are ignored (their data is already in
//!    tables). The rest are replayed in ascending order.
//! 2. Each segment must start with a header naming its own number (an empty
//!    file counts as a segment without records).
//! 3. Every batch must parse, and sequence numbers must strictly increase
//!    across records and segments; a checksummed record that breaks either
//!    rule is corruption in every mode (a bug, not a crash).
//! 4. Frame damage (incomplete, zeroed, or failing checksum) is a *torn
//!    tail* only when it is in the newest segment and no valid record
//!    follows it. [`RecoveryMode`] decides what happens to damage.
//! 5. Prefix guarantee: recovery never skips a damaged record and goes on;
//!    what it replays is always a prefix of what was appended.
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
    /// The damage that was cut off, if any.
    pub torn_tail: Option<TornTail>,
    /// The number to give the next segment: one past the largest existing
    /// segment number (below `min_segment` included), at least
    /// `min_segment`.
    pub next_segment: u64,
    /// In [`RecoveryMode::PointInTime`], the segments after the damage
    /// point, truncated to zero bytes because their records follow lost
    /// ones. Empty otherwise.
    pub lost_segments: Vec<u64>,
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
/// `apply` with each batch; see the module doc for the rules. Truncates a
/// torn tail (and, in [`RecoveryMode::PointInTime`], everything after the
/// first damage) through `fs.truncate`, which syncs.
///
/// Errors: `lsm_core::Error::Corruption` naming the segment file and the
/// offset of the bad record; `lsm_core::Error::Io` on I/O failure.
pub fn recover(
    fs: &dyn FileSystem,
    dir: &Path,
    min_segment: u64,
    mode: RecoveryMode,
    mut apply: impl FnMut(BatchView<'_>),
) -> Result<RecoveryReport> {
    let all = list_segments(fs, dir)?;
    let next_segment = all
        .last()
        .map_or(0, |last| last.saturating_add(1))
        .max(min_segment);
    let live: Vec<u64> = all.into_iter().filter(|&n| n >= min_segment).collect();
    let mut report = RecoveryReport {
        next_segment,
        ..RecoveryReport::default()
    };

    for (index, &segment) in live.iter().enumerate() {
        let newest = index + 1 == live.len();
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
            if let Some(last) = report.last_seq {
                if batch.first_seq() <= last {
                    return Err(corruption(
                        &path,
                        record.offset,
                        format!(
                            "sequence number {} does not follow {last}",
                            batch.first_seq()
                        ),
                    ));
                }
            }
            apply(batch);
            report.records += 1;
            report.last_seq = Some(batch.last_seq());
        }

        let tail = reader.tail().cloned().unwrap_or(SegmentTail::Clean);
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
            } => {
                let torn = newest && next_valid_record.is_none();
                let cut = match mode {
                    RecoveryMode::PointInTime => true,
                    RecoveryMode::TolerateTornTail => torn,
                    RecoveryMode::AbsoluteConsistency => false,
                };
                if !cut {
                    let detail = match (torn, next_valid_record) {
                        (true, _) => format!(
                            "{reason} at the end of the newest segment \
                             (a torn write, refused by AbsoluteConsistency recovery)"
                        ),
                        (false, Some(next)) => {
                            format!("{reason}, followed by a valid record at offset {next}")
                        }
                        (false, None) => {
                            format!("{reason} at the end of a segment that is not the newest")
                        }
                    };
                    return Err(corruption(&path, offset, detail));
                }
                // Empty the later segments before cutting this one: if we
                // crash in between, this segment is still damaged and the
                // next recovery stops here again (prefix guarantee).
                for &later in live[index + 1..].iter().rev() {
                    let later_path = segment_path(dir, later);
                    fs.truncate(&later_path, 0)
                        .map_err(|source| lsm_core::Error::io(&later_path, source))?;
                }
                report.lost_segments = live[index + 1..].to_vec();
                fs.truncate(&path, offset)
                    .map_err(|source| lsm_core::Error::io(&path, source))?;
                report.torn_tail = Some(TornTail {
                    segment,
                    offset,
                    dropped_bytes,
                });
                break;
            }
        }
    }
    Ok(report)
}

fn corruption(path: &Path, offset: u64, detail: impl Into<String>) -> crate::Error {
    lsm_core::Error::corruption(path, offset, detail).into()
}
