//! Reading a manifest log back: recovery replays it into a [`Version`];
//! inspection ([`read_manifest`]) lists it record by record. Neither writes.
//!
//! Rules (see `docs/format/manifest.md`, "Recovery"):
//! - The first record must carry the manifest magic (it is the snapshot).
//! - A damaged record with no valid record anywhere after it (torn,
//!   incomplete, zeroed or failing its checksum) is the tail of an edit that
//!   never completed: it is dropped and reported as [`DroppedTail`].
//! - A damaged record followed by a valid one, an unknown record type, an
//!   edit that does not decode, or an edit that does not apply is
//!   [`lsm_core::Error::Corruption`] naming the file and the record's offset.

use std::path::{Path, PathBuf};

use lsm_core::record::{decode_record, find_record_after_damage, RecordDecode};
use lsm_core::{Error as CoreError, FileSystem, SeqNo};

use crate::current::{manifest_path, parse_manifest_file_name, read_current, CURRENT_FILE_NAME};
use crate::error::Result;
use crate::version::Version;
use crate::version_edit::{decode_fields, Counters, VersionEdit, MAX_LEVELS};

/// The record type of a version edit in the manifest log. On-disk constant:
/// never change it. (Type 0 is reserved by the framing for unused space.)
pub const EDIT_RECORD_TYPE: u8 = 1;

/// Largest edit payload a reader accepts (64 MiB); the writer refuses to
/// write a larger one. Bounds every length read from a manifest.
pub const MAX_EDIT_BYTES: usize = 64 << 20;

/// Largest manifest file a reader loads (1 GiB). The writer starts a new
/// manifest long before this.
pub const MAX_MANIFEST_BYTES: u64 = 1 << 30;

/// One record of a manifest log, as read back.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ManifestRecord {
    /// Byte offset of the record's header in the file.
    pub offset: u64,
    /// Bytes the record takes, header included.
    pub framed_bytes: u64,
    /// True for the snapshot that opens a manifest file: its first record
    /// (which carries the manifest magic) and, for a snapshot too large for
    /// one record, the records it says follow.
    pub is_snapshot: bool,
    /// The decoded edit.
    pub edit: VersionEdit,
}

/// The damaged tail a reader dropped: an edit whose write never completed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DroppedTail {
    /// Offset of the first damaged byte (the start of the bad record).
    pub offset: u64,
    /// Bytes from there to the end of the file.
    pub bytes: u64,
    /// Why the record did not decode.
    pub reason: &'static str,
}

/// What [`read_manifest`] found: every record with its offset, the damaged
/// tail if any, and the catalog state the records add up to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ManifestDump {
    /// The manifest file read.
    pub path: PathBuf,
    /// The number in its name, if the name is a canonical manifest name.
    pub manifest_number: Option<u64>,
    /// Its size in bytes.
    pub file_bytes: u64,
    /// The valid records, in file order.
    pub records: Vec<ManifestRecord>,
    /// The damaged tail that recovery would drop, if any.
    pub dropped_tail: Option<DroppedTail>,
    /// The version the records build, with as many levels as the deepest
    /// non-empty level needs (at least one).
    pub version: Version,
    /// The next unallocated file number.
    pub next_file_number: u64,
    /// The largest sequence number recorded.
    pub last_seq: SeqNo,
    /// The oldest WAL segment still needed.
    pub wal_segment: u64,
    /// The newest WAL segment an edit recorded creating, if any.
    pub newest_wal_segment: Option<u64>,
}

/// Reads the live manifest of the store in `dir` (the one `CURRENT` names)
/// without writing anything: for `lsm inspect manifest` and `lsm verify`.
/// Errors as recovery would: corruption in the middle of the log, a missing
/// or garbage `CURRENT`, a missing manifest.
pub fn read_manifest(fs: &dyn FileSystem, dir: &Path) -> Result<ManifestDump> {
    let current = dir.join(CURRENT_FILE_NAME);
    let number = read_current(fs, dir)?
        .ok_or_else(|| CoreError::corruption(&current, 0, "the CURRENT file is missing"))?;
    let path = manifest_path(dir, number);
    check_named_manifest_exists(fs, dir, &path)?;
    read_manifest_file(fs, &path)
}

/// Reads one manifest file (live or not) without writing anything; see
/// [`read_manifest`].
pub fn read_manifest_file(fs: &dyn FileSystem, path: &Path) -> Result<ManifestDump> {
    let mut records = Vec::new();
    let replayed = replay(fs, path, MAX_LEVELS, |record| records.push(record))?;
    require_snapshot(&replayed, path)?;
    let deepest = replayed
        .version
        .all_files()
        .map(|(level, _)| level + 1)
        .max()
        .unwrap_or(1);
    let version = Version::new(deepest).apply(&replayed.version.to_snapshot_edit())?;
    Ok(ManifestDump {
        path: path.to_path_buf(),
        manifest_number: manifest_number_of(path),
        file_bytes: replayed.file_bytes,
        records,
        dropped_tail: replayed.dropped_tail,
        version,
        next_file_number: replayed.counters.next_file_number,
        last_seq: replayed.counters.last_seq,
        wal_segment: replayed.counters.wal_segment,
        newest_wal_segment: replayed.counters.newest_wal_segment,
    })
}

/// A manifest log replayed into a version.
#[derive(Debug)]
pub(crate) struct Replayed {
    pub(crate) version: Version,
    pub(crate) counters: Counters,
    /// How many valid records were applied.
    pub(crate) records: usize,
    /// How many records the snapshot spans (the first record says; 1 when
    /// there was none).
    pub(crate) snapshot_records: u64,
    pub(crate) file_bytes: u64,
    pub(crate) dropped_tail: Option<DroppedTail>,
}

/// Replays the manifest at `path` into a version with `num_levels` levels,
/// calling `on_record` for each valid record. Accepts a log with no valid
/// record at all (`records == 0`); callers decide whether that is an error
/// ([`require_snapshot`]).
pub(crate) fn replay(
    fs: &dyn FileSystem,
    path: &Path,
    num_levels: usize,
    mut on_record: impl FnMut(ManifestRecord),
) -> Result<Replayed> {
    let corruption =
        |offset: usize, detail: String| CoreError::corruption(path, offset as u64, detail);
    let file_bytes = fs.file_size(path).map_err(|e| CoreError::io(path, e))?;
    if file_bytes > MAX_MANIFEST_BYTES {
        return Err(CoreError::corruption(
            path,
            0,
            format!("manifest is {file_bytes} bytes, over the {MAX_MANIFEST_BYTES}-byte limit"),
        )
        .into());
    }
    let buf = fs.read_all(path).map_err(|e| CoreError::io(path, e))?;
    let mut version = Version::new(num_levels);
    let mut counters = Counters::FRESH;
    let mut records = 0;
    let mut snapshot_records = 1;
    let mut offset = 0;
    let mut dropped_tail = None;
    while offset < buf.len() {
        let damage = match decode_record(&buf[offset..], MAX_EDIT_BYTES) {
            RecordDecode::End => break,
            RecordDecode::Record {
                kind,
                payload,
                framed_len,
            } => {
                if kind != EDIT_RECORD_TYPE {
                    return Err(
                        corruption(offset, format!("unknown manifest record type {kind}")).into(),
                    );
                }
                let decoded = decode_fields(payload)
                    .map_err(|detail| corruption(offset, format!("bad version edit: {detail}")))?;
                if records == 0 && !decoded.starts_file {
                    return Err(corruption(
                        offset,
                        "first record lacks the manifest magic; not a manifest file".into(),
                    )
                    .into());
                }
                if records > 0 && decoded.starts_file {
                    return Err(corruption(
                        offset,
                        "manifest magic in a record after the first".into(),
                    )
                    .into());
                }
                if records == 0 {
                    snapshot_records = decoded.snapshot_records;
                }
                let in_snapshot = (records as u64) < snapshot_records;
                version = version.apply(&decoded.edit).map_err(|err| {
                    corruption(offset, format!("version edit does not apply: {err}"))
                })?;
                counters.absorb(&decoded.edit);
                on_record(ManifestRecord {
                    offset: offset as u64,
                    framed_bytes: framed_len as u64,
                    is_snapshot: in_snapshot,
                    edit: decoded.edit,
                });
                records += 1;
                offset += framed_len;
                continue;
            }
            RecordDecode::Incomplete => "record runs past the end of the file",
            RecordDecode::Zeroed => "zeroed bytes where a record header should be",
            RecordDecode::Bad(reason) => reason,
        };
        // The snapshot was whole and durable before `CURRENT` named this
        // file: damage inside it is never a torn tail.
        if (records as u64) < snapshot_records && records > 0 {
            return Err(corruption(
                offset,
                format!(
                    "{damage}, inside the snapshot (record {} of {snapshot_records})",
                    records + 1
                ),
            )
            .into());
        }
        // A torn edit's payload holds user keys, which may hold whole
        // records: only a record that is not a part of it counts.
        let edit = |kind, _len| kind == EDIT_RECORD_TYPE;
        if let Some(next) = find_record_after_damage(&buf, offset, MAX_EDIT_BYTES, edit, edit) {
            return Err(corruption(
                offset,
                format!("{damage}, and a valid record follows at offset {next}"),
            )
            .into());
        }
        dropped_tail = Some(DroppedTail {
            offset: offset as u64,
            bytes: (buf.len() - offset) as u64,
            reason: damage,
        });
        break;
    }
    Ok(Replayed {
        version,
        counters,
        records,
        snapshot_records,
        file_bytes,
        dropped_tail,
    })
}

/// A live manifest must hold at least its snapshot: `CURRENT` is switched
/// to a manifest only after the snapshot is durable.
pub(crate) fn require_snapshot(replayed: &Replayed, path: &Path) -> Result<()> {
    if replayed.records == 0 {
        return Err(
            CoreError::corruption(path, 0, "manifest holds no complete snapshot record").into(),
        );
    }
    if (replayed.records as u64) < replayed.snapshot_records {
        return Err(CoreError::corruption(
            path,
            replayed.file_bytes,
            format!(
                "the snapshot spans {} records and the file ends after {}",
                replayed.snapshot_records, replayed.records
            ),
        )
        .into());
    }
    Ok(())
}

/// A clear error when `CURRENT` names a manifest that is not there.
pub(crate) fn check_named_manifest_exists(
    fs: &dyn FileSystem,
    dir: &Path,
    path: &Path,
) -> Result<()> {
    if fs.exists(path) {
        return Ok(());
    }
    Err(CoreError::corruption(
        dir.join(CURRENT_FILE_NAME),
        0,
        format!("CURRENT names {}, which does not exist", path.display()),
    )
    .into())
}

/// The manifest number in a manifest path's file name, if it has one.
pub(crate) fn manifest_number_of(path: &Path) -> Option<u64> {
    parse_manifest_file_name(path.file_name()?.to_str()?)
}
