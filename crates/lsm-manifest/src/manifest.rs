//! [`Manifest`]: the durable log of version edits, and recovery from it.
//!
//! Write protocol (every step must succeed before the next):
//! 1. `log_and_apply` checks the edit against the current version (an edit
//!    that does not apply is refused before anything is written).
//! 2. The edit is appended to the live `MANIFEST-NNNNNN` as one record and
//!    the file is fsynced.
//! 3. Only then does the in-memory current version change.
//!
//! If step 2 fails the manifest is poisoned: the on-disk state is unknown
//! (the record may or may not be durable), so every later call fails and the
//! store must reopen, which recovers whatever is durable.
//!
//! Switching manifests (at open, and when the live one passes its rollover
//! size): write the new file holding one snapshot edit, fsync it and the
//! directory, point `CURRENT` at it (temp file, fsync, rename, fsync the
//! directory), then remove the old manifest (best effort: a leftover one is
//! harmless and removed at the next open).

use std::path::{Path, PathBuf};
use std::sync::Arc;

use lsm_core::fs::WritableFile;
use lsm_core::record::encode_record;
use lsm_core::{Error as CoreError, FileSystem, RangeTombstone, SeqNo, SharedFileSystem};

use crate::current::{
    install_current, manifest_path, parse_manifest_file_name, read_current, sync_dir,
    CURRENT_TEMP_FILE_NAME,
};
use crate::error::{Error, Result};
use crate::file_meta::{parse_table_file_name, FileMeta};
use crate::replay::{
    check_named_manifest_exists, replay, require_snapshot, DroppedTail, EDIT_RECORD_TYPE,
    MAX_EDIT_BYTES, MAX_MANIFEST_BYTES,
};
use crate::version::Version;
use crate::version_edit::{Counters, VersionEdit, MAX_LEVELS};

/// Size past which [`Manifest::log_and_apply`] starts a new manifest file
/// (holding one snapshot edit) instead of appending, by default.
pub const DEFAULT_ROLLOVER_BYTES: u64 = 4 << 20;

/// The catalog state the manifest files on disk hold, read by
/// [`Manifest::recover`] without writing anything.
#[derive(Clone, Debug)]
pub struct RecoveredState {
    /// The current version.
    pub version: Arc<Version>,
    /// The next unallocated file number.
    pub next_file_number: u64,
    /// The largest sequence number whose effects are in tables.
    pub last_seq: SeqNo,
    /// The oldest WAL segment still needed for recovery.
    pub wal_segment: u64,
    /// The newest WAL segment the store recorded creating, if any edit
    /// recorded one: every segment from `wal_segment` up to it must exist.
    pub newest_wal_segment: Option<u64>,
    /// The manifest file that was read; `None` for a fresh catalog (no
    /// `CURRENT`).
    pub source: Option<PathBuf>,
    /// The damaged last record of `source` that was left out, if any. A
    /// torn write leaves one, but so does damage to an edit that was
    /// durable long ago: the caller must check that the state without it
    /// is complete (its WAL segments present, its tables present) before
    /// trusting it or deleting anything it does not list.
    pub dropped_tail: Option<DroppedTail>,
    counters: Counters,
}

/// The manifest log writer and the current version.
///
/// Not internally synchronized: every method that changes state takes
/// `&mut self`, and the store guards the `Manifest` with its own mutex
/// (REQUIRES: that mutex is held for `log_and_apply` and `new_file_number`).
#[derive(Debug)]
pub struct Manifest {
    // Immutable after open.
    fs: SharedFileSystem,
    dir: PathBuf,

    // Changed only through `&mut self` (guarded by the owner's mutex).
    /// The live manifest file, open for appending.
    log: Arc<dyn WritableFile>,
    /// The live manifest's number and size in bytes.
    manifest_number: u64,
    log_bytes: u64,
    /// Size of the live manifest's snapshot record.
    snapshot_bytes: u64,
    /// The version all durable edits add up to.
    current: Arc<Version>,
    /// Counters, including numbers handed out by `new_file_number` but not
    /// yet logged.
    counters: Counters,
    rollover_bytes: u64,
    /// The largest catalog an edit may make ([`MAX_CATALOG_BYTES`]; lower
    /// in tests).
    max_catalog_bytes: u64,
    /// The first I/O failure; once set, every `log_and_apply` fails.
    poisoned: Option<String>,
}

impl Manifest {
    /// Reads the catalog of the store in `dir` without writing anything.
    ///
    /// With no `CURRENT` file, the catalog is fresh (empty version,
    /// counters at their start) — unless the directory already holds table
    /// files or a manifest that records tables, which is
    /// [`Error::MissingCurrent`]. Otherwise reads `CURRENT` and replays the
    /// manifest it names, leaving out a damaged last record
    /// ([`RecoveredState::dropped_tail`]).
    ///
    /// Errors: [`Error::InvalidNumLevels`] unless `1 <= num_levels <=
    /// MAX_LEVELS`; [`lsm_core::Error::Corruption`] for a garbage `CURRENT`,
    /// a missing manifest, or damage in the middle of the log;
    /// [`lsm_core::Error::Io`] for failed I/O.
    pub fn recover(fs: &dyn FileSystem, dir: &Path, num_levels: usize) -> Result<RecoveredState> {
        if num_levels == 0 || num_levels > MAX_LEVELS {
            return Err(Error::InvalidNumLevels {
                num_levels,
                max: MAX_LEVELS,
            });
        }
        let (version, counters, source, dropped_tail) = match read_current(fs, dir)? {
            Some(number) => {
                let path = manifest_path(dir, number);
                check_named_manifest_exists(fs, dir, &path)?;
                let replayed = replay(fs, &path, num_levels, |_| {})?;
                require_snapshot(&replayed, &path)?;
                (
                    replayed.version,
                    replayed.counters,
                    Some(path),
                    replayed.dropped_tail,
                )
            }
            None => {
                check_no_existing_store(fs, dir)?;
                (Version::new(num_levels), Counters::FRESH, None, None)
            }
        };
        Ok(RecoveredState {
            version: Arc::new(version),
            next_file_number: counters.next_file_number,
            last_seq: counters.last_seq,
            wal_segment: counters.wal_segment,
            newest_wal_segment: counters.newest_wal_segment,
            source,
            dropped_tail,
            counters,
        })
    }

    /// Starts a new live manifest holding one snapshot of `recovered` with
    /// `edit` applied (say, counters that recovery moved), switches
    /// `CURRENT` to it and removes every other manifest. Manifest numbers
    /// come from the same counter as table numbers. Returns the manifest
    /// and its current version.
    ///
    /// Errors: [`Error::InvalidEdit`] if `edit` does not apply; I/O and
    /// size errors as [`Manifest::log_and_apply`].
    pub fn start(
        fs: SharedFileSystem,
        dir: &Path,
        recovered: &RecoveredState,
        edit: VersionEdit,
    ) -> Result<Manifest> {
        edit.validate().map_err(Error::invalid_edit)?;
        let mut counters = recovered.counters;
        counters.absorb(&edit);
        let version = Arc::new(recovered.version.apply(&edit)?);
        fs.create_dir_all(dir).map_err(|e| CoreError::io(dir, e))?;
        let manifest_number = allocate(&mut counters);
        let (log, log_bytes) = start_manifest_file(&*fs, dir, manifest_number, &version, counters)?;
        install_current(&*fs, dir, manifest_number)?;
        remove_other_manifests(&*fs, dir, manifest_number);
        Ok(Manifest {
            fs,
            dir: dir.to_path_buf(),
            log,
            manifest_number,
            log_bytes,
            snapshot_bytes: log_bytes,
            current: version,
            counters,
            rollover_bytes: DEFAULT_ROLLOVER_BYTES,
            max_catalog_bytes: MAX_CATALOG_BYTES,
            poisoned: None,
        })
    }

    /// Writes the catalog of a new store into `dir` holding exactly
    /// `version` (a checkpoint's): a manifest with one snapshot edit of it
    /// (every table and anything else the version records), `last_seq` (the
    /// sequence number its tables hold every write up to), `wal_segment` as
    /// the oldest WAL segment needed and no newest segment recorded (so an
    /// open replays no WAL and starts one at `wal_segment`), and a next file
    /// number of at least `next_file_number` and past every table; fsyncs it
    /// and `dir`, then points `CURRENT` at it (temp file, fsync, rename,
    /// fsync `dir`). Returns the manifest's number. `CURRENT` is written
    /// last: until it is durable, `dir` holds no store an open accepts.
    ///
    /// REQUIRES: `dir` exists and holds no manifest or `CURRENT` of its
    /// own; the tables of `version` are in it, synced.
    ///
    /// Errors: I/O errors naming the file. (A version too large for one
    /// record is written as a snapshot spanning several.)
    pub fn create_from_version(
        fs: &dyn FileSystem,
        dir: &Path,
        version: &Version,
        last_seq: SeqNo,
        wal_segment: u64,
        next_file_number: u64,
    ) -> Result<u64> {
        let snapshot = version.to_snapshot_edit();
        let mut counters = Counters {
            next_file_number,
            last_seq,
            wal_segment,
            newest_wal_segment: None,
        };
        counters.absorb(&snapshot);
        let number = allocate(&mut counters);
        start_manifest_file(fs, dir, number, version, counters)?;
        install_current(fs, dir, number)?;
        Ok(number)
    }

    /// Opens the store's manifest in `dir` (creating `dir` if missing):
    /// [`Manifest::recover`], then [`Manifest::start`] with no edit. For
    /// callers that have nothing to check between the two (tools, tests);
    /// a store checks the recovered state against its WAL and tables first.
    pub fn open(
        fs: SharedFileSystem,
        dir: &Path,
        num_levels: usize,
    ) -> Result<(Manifest, RecoveredState)> {
        fs.create_dir_all(dir).map_err(|e| CoreError::io(dir, e))?;
        let recovered = Manifest::recover(&*fs, dir, num_levels)?;
        let manifest = Manifest::start(fs, dir, &recovered, VersionEdit::default())?;
        Ok((manifest, recovered))
    }

    /// Allocates a file number (for a new table). The allocation becomes
    /// durable with the next [`Manifest::log_and_apply`], which records the
    /// next file number; until then a crash may hand the number out again
    /// (harmless: a table never logged is a stray the store deletes).
    pub fn new_file_number(&mut self) -> u64 {
        allocate(&mut self.counters)
    }

    /// Appends `edit` to the manifest (setting its `next_file_number` to the
    /// catalog's, which also moves past every added table's number), fsyncs
    /// it, and returns the new current version.
    ///
    /// Counters only move forward: a `last_seq` or `wal_segment` lower than
    /// the current one leaves it unchanged.
    ///
    /// An edit that encodes to more than [`MAX_EDIT_BYTES`] is logged as
    /// several records, its added range tombstones ahead of the rest, each
    /// fsynced before the next (`docs/format/manifest.md`); only one over
    /// the limit without them is refused. An edit after which the catalog
    /// would be too large to read back is refused ([`Error::CatalogTooLarge`]);
    /// nothing is written.
    ///
    /// Errors: [`Error::InvalidEdit`] or [`Error::EditTooLarge`] if the edit
    /// cannot be applied or recorded (nothing is written; the manifest stays
    /// usable). On an I/O failure the manifest is poisoned: this call
    /// returns the I/O error, every later call [`Error::Poisoned`], and the
    /// in-memory version stays as it was.
    pub fn log_and_apply(&mut self, mut edit: VersionEdit) -> Result<Arc<Version>> {
        if let Some(cause) = &self.poisoned {
            return Err(Error::Poisoned {
                cause: cause.clone(),
            });
        }
        edit.validate().map_err(Error::invalid_edit)?;
        let mut counters = self.counters;
        counters.absorb(&edit);
        edit.next_file_number = Some(counters.next_file_number);
        let version = self.current.apply(&edit)?;
        let payloads = edit_payloads(&edit)?;
        let snapshot_bytes = snapshot_bytes_bound(&version);
        if snapshot_bytes > self.max_catalog_bytes {
            return Err(Error::CatalogTooLarge {
                bytes: snapshot_bytes,
                max: self.max_catalog_bytes,
            });
        }
        let edit_bytes: u64 = payloads.iter().map(|p| p.len() as u64 + 16).sum();

        // Roll over once the log is past the threshold and at least twice
        // its snapshot, so a large catalog does not roll on every edit.
        // Also before the edit would take the file past what a reader
        // accepts: the snapshot alone is at most half of that.
        let roll = self.log_bytes >= self.rollover_bytes.max(2 * self.snapshot_bytes)
            || self.log_bytes + edit_bytes > MAX_MANIFEST_BYTES;
        // A panic inside a file-system call (a bug in a `FileSystem`) is a
        // failed write: it poisons the manifest like an I/O error, or the
        // next edit would be appended after a torn record and the log
        // could not be read back.
        let live = manifest_path(&self.dir, self.manifest_number);
        let written = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            if roll {
                self.roll_over(&version, &mut counters)
            } else {
                self.append(&payloads)
            }
        }))
        .unwrap_or_else(|payload| {
            let message = lsm_core::fs::panic_message(payload.as_ref());
            let source = std::io::Error::other(format!("the file system panicked: {message}"));
            Err(CoreError::io(&live, source).into())
        });
        if let Err(err) = written {
            self.poisoned = Some(err.to_string());
            return Err(err);
        }
        self.counters = counters;
        self.current = Arc::new(version);
        Ok(Arc::clone(&self.current))
    }

    /// Appends the records of one edit to the live manifest, fsyncing
    /// each: a power cut can then damage only the last record written (the
    /// kernel writes a file's dirty pages back in no particular order, so
    /// one fsync for several records could leave an earlier one damaged
    /// and a later one whole, which reads as corruption, not a torn tail).
    fn append(&mut self, payloads: &[Vec<u8>]) -> Result<()> {
        let path = manifest_path(&self.dir, self.manifest_number);
        for payload in payloads {
            let mut record = Vec::new();
            encode_record(&mut record, EDIT_RECORD_TYPE, payload);
            self.log
                .append(&record)
                .and_then(|()| self.log.sync_data())
                .map_err(|e| CoreError::io(&path, e))?;
            self.log_bytes += record.len() as u64;
        }
        Ok(())
    }

    /// Starts a new manifest whose snapshot is `version` (the edit being
    /// logged is already in it) and makes it live.
    fn roll_over(&mut self, version: &Version, counters: &mut Counters) -> Result<()> {
        let number = allocate(counters);
        let (log, log_bytes) =
            start_manifest_file(&*self.fs, &self.dir, number, version, *counters)?;
        install_current(&*self.fs, &self.dir, number)?;
        let old = manifest_path(&self.dir, self.manifest_number);
        // Best effort: a leftover manifest is removed at the next open.
        let _ = self.fs.remove_file(&old);
        self.log = log;
        self.log_bytes = log_bytes;
        self.snapshot_bytes = log_bytes;
        self.manifest_number = number;
        Ok(())
    }

    /// The current version.
    pub fn current(&self) -> Arc<Version> {
        Arc::clone(&self.current)
    }

    /// The live manifest file's number.
    pub fn manifest_number(&self) -> u64 {
        self.manifest_number
    }

    /// The live manifest file's size in bytes.
    pub fn manifest_bytes(&self) -> u64 {
        self.log_bytes
    }

    /// The largest sequence number recorded.
    pub fn last_seq(&self) -> SeqNo {
        self.counters.last_seq
    }

    /// The oldest WAL segment still needed for recovery.
    pub fn wal_segment(&self) -> u64 {
        self.counters.wal_segment
    }

    /// The newest WAL segment an edit recorded, if any.
    pub fn newest_wal_segment(&self) -> Option<u64> {
        self.counters.newest_wal_segment
    }

    /// The next file number [`Manifest::new_file_number`] will hand out.
    pub fn next_file_number(&self) -> u64 {
        self.counters.next_file_number
    }

    /// The store directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// True once an I/O failure has poisoned the manifest.
    pub fn is_poisoned(&self) -> bool {
        self.poisoned.is_some()
    }

    /// Sets the size past which the next `log_and_apply` starts a new
    /// manifest file (holding one snapshot edit) instead of appending
    /// (default [`DEFAULT_ROLLOVER_BYTES`]). The log also waits until it is
    /// at least twice its snapshot, so rolling over stays amortized.
    pub fn set_rollover_bytes(&mut self, bytes: u64) {
        self.rollover_bytes = bytes;
    }
}

/// Hands out the next file number.
fn allocate(counters: &mut Counters) -> u64 {
    let number = counters.next_file_number;
    counters.next_file_number += 1;
    number
}

fn check_edit_size(payload: &[u8]) -> Result<()> {
    if payload.len() > MAX_EDIT_BYTES {
        return Err(Error::EditTooLarge {
            len: payload.len(),
            max: MAX_EDIT_BYTES,
        });
    }
    Ok(())
}

/// The largest catalog the writer lets a version edit make (by
/// [`snapshot_bytes_bound`]): half of what a reader accepts of a manifest
/// file, so a snapshot and the edits after it always fit in one.
const MAX_CATALOG_BYTES: u64 = MAX_MANIFEST_BYTES / 2;

/// More than the bytes a snapshot of `version` takes, records included.
fn snapshot_bytes_bound(version: &Version) -> u64 {
    let tables: u64 = version
        .all_files()
        .map(|(_, meta)| table_bytes_bound(meta) as u64)
        .sum();
    let tombstones: u64 = version
        .range_tombstones()
        .tombstones()
        .map(|t| tombstone_bytes_bound(t) as u64)
        .sum();
    let entries = tables + tombstones;
    // The counters, and a record header per record.
    4096 + entries + entries.div_ceil(SPLIT_RECORD_BUDGET as u64) * 64
}

/// The most bytes of tables and range tombstones one record of a split edit
/// or snapshot carries, by [`entry_bytes_bound`]: below [`MAX_EDIT_BYTES`]
/// by far more than the fields around them take.
const SPLIT_RECORD_BUDGET: usize = MAX_EDIT_BYTES - (1 << 20);

/// More than the bytes an added table or range tombstone takes encoded
/// (its keys, plus tags and varints of at most 10 bytes each).
fn entry_bytes_bound(entry: &Entry) -> usize {
    match entry {
        Entry::Table(_, meta) => table_bytes_bound(meta),
        Entry::RangeTombstone(t) => tombstone_bytes_bound(t),
    }
}

fn table_bytes_bound(meta: &FileMeta) -> usize {
    128 + meta.smallest.as_bytes().len() + meta.largest.as_bytes().len()
}

fn tombstone_bytes_bound(tombstone: &RangeTombstone) -> usize {
    64 + tombstone.start.len() + tombstone.end.len()
}

/// What a split record carries.
enum Entry {
    Table(usize, FileMeta),
    RangeTombstone(RangeTombstone),
}

/// Groups `entries` into edits of at most [`SPLIT_RECORD_BUDGET`] bytes
/// each (one entry is far below it: keys are at most `MAX_TREE_KEY_BYTES`).
fn split_entries(entries: Vec<Entry>) -> Vec<VersionEdit> {
    let mut edits = Vec::new();
    let mut edit = VersionEdit::default();
    let mut bytes = 0;
    for entry in entries {
        let size = entry_bytes_bound(&entry);
        if bytes + size > SPLIT_RECORD_BUDGET && !edit.is_empty() {
            edits.push(std::mem::take(&mut edit));
            bytes = 0;
        }
        bytes += size;
        match entry {
            Entry::Table(level, meta) => edit.added.push((level, meta)),
            Entry::RangeTombstone(t) => edit.added_range_tombstones.push(t),
        }
    }
    if !edit.is_empty() {
        edits.push(edit);
    }
    edits
}

/// The payloads of the records that log `edit`: one, unless it encodes to
/// more than [`MAX_EDIT_BYTES`] (range deletes with long keys, flushed
/// together). Then its added range tombstones go first, in records of
/// their own, and the rest of the edit last, each fsynced before the next
/// is written: a crash leaves a prefix of them, and range tombstones that
/// joined the catalog early are
/// harmless (the WAL still holds them until the last record moves
/// `wal_segment` on, and its replay adds them again, which the flush then
/// leaves out as already held). An edit over the limit without them is
/// refused ([`Error::EditTooLarge`]).
fn edit_payloads(edit: &VersionEdit) -> Result<Vec<Vec<u8>>> {
    let mut whole = Vec::new();
    edit.encode(&mut whole);
    if whole.len() <= MAX_EDIT_BYTES {
        return Ok(vec![whole]);
    }
    let mut rest = edit.clone();
    let tombstones = std::mem::take(&mut rest.added_range_tombstones);
    let mut parts = split_entries(tombstones.into_iter().map(Entry::RangeTombstone).collect());
    parts.push(rest);
    encode_parts(Vec::new(), &parts)
}

/// `payloads`, then each of `parts` encoded as a plain edit, each checked
/// against [`MAX_EDIT_BYTES`].
fn encode_parts(mut payloads: Vec<Vec<u8>>, parts: &[VersionEdit]) -> Result<Vec<Vec<u8>>> {
    for part in parts {
        let mut payload = Vec::new();
        part.encode(&mut payload);
        check_edit_size(&payload)?;
        payloads.push(payload);
    }
    Ok(payloads)
}

/// The payloads of the records of a snapshot (the first record of a
/// manifest file): one, unless it encodes to more than [`MAX_EDIT_BYTES`]
/// (many tables with long keys, or many range deletes). Then the first
/// record carries the magic, the counters and the number of records the
/// snapshot spans, and the next ones its tables and range tombstones. The
/// file is made live only once all of them are durable, so a reader treats
/// damage to any of them as corruption, never as a torn tail.
fn snapshot_payloads(snapshot: &VersionEdit) -> Result<Vec<Vec<u8>>> {
    let mut whole = Vec::new();
    snapshot.encode_file_start(&mut whole);
    if whole.len() <= MAX_EDIT_BYTES {
        return Ok(vec![whole]);
    }
    let mut head = snapshot.clone();
    let entries: Vec<Entry> = std::mem::take(&mut head.added)
        .into_iter()
        .map(|(level, meta)| Entry::Table(level, meta))
        .chain(
            std::mem::take(&mut head.added_range_tombstones)
                .into_iter()
                .map(Entry::RangeTombstone),
        )
        .collect();
    let parts = split_entries(entries);
    let mut first = Vec::new();
    head.encode_file_start_spanning(parts.len() as u64 + 1, &mut first);
    check_edit_size(&first)?;
    encode_parts(vec![first], &parts)
}

/// Creates manifest `number` holding a snapshot of `version` and `counters`
/// (one record, or several for a snapshot over [`MAX_EDIT_BYTES`]: see
/// [`snapshot_payloads`]), fsyncs it and the directory. Returns the open file and its
/// size. Does not touch `CURRENT`.
fn start_manifest_file(
    fs: &dyn FileSystem,
    dir: &Path,
    number: u64,
    version: &Version,
    counters: Counters,
) -> Result<(Arc<dyn WritableFile>, u64)> {
    let snapshot = VersionEdit {
        next_file_number: Some(counters.next_file_number),
        last_seq: Some(counters.last_seq),
        wal_segment: Some(counters.wal_segment),
        newest_wal_segment: counters.newest_wal_segment,
        ..version.to_snapshot_edit()
    };
    let mut record = Vec::new();
    for payload in snapshot_payloads(&snapshot)? {
        encode_record(&mut record, EDIT_RECORD_TYPE, &payload);
    }
    let path = manifest_path(dir, number);
    let file = fs.create(&path).map_err(|e| CoreError::io(&path, e))?;
    file.append(&record)
        .and_then(|()| file.sync_data())
        .map_err(|e| CoreError::io(&path, e))?;
    sync_dir(fs, dir)?;
    Ok((file, record.len() as u64))
}

/// With no `CURRENT`, a fresh catalog is safe only if no store lives in
/// `dir`: no table files, and no manifest that records a table. (A manifest
/// without tables is what a crash during a fresh open leaves behind.)
fn check_no_existing_store(fs: &dyn FileSystem, dir: &Path) -> Result<()> {
    let names = fs.list_dir(dir).map_err(|e| CoreError::io(dir, e))?;
    for name in names {
        let found = |what: &str| Error::MissingCurrent {
            dir: dir.to_path_buf(),
            found: format!("{what} {name}"),
        };
        if parse_table_file_name(&name).is_some() {
            return Err(found("table file"));
        }
        if parse_manifest_file_name(&name).is_some() {
            let path = dir.join(&name);
            match replay(fs, &path, MAX_LEVELS, |_| {}) {
                Ok(replayed) if replayed.version.num_files() == 0 => {}
                Ok(_) => return Err(found("manifest file")),
                Err(_) => return Err(found("unreadable manifest file")),
            }
        }
    }
    Ok(())
}

/// Removes every manifest file but `live`, and a leftover `CURRENT.tmp`.
/// Best effort: failures leave harmless files for the next open.
fn remove_other_manifests(fs: &dyn FileSystem, dir: &Path, live: u64) {
    let Ok(names) = fs.list_dir(dir) else {
        return;
    };
    for name in names {
        let obsolete = match parse_manifest_file_name(&name) {
            Some(number) => number != live,
            None => name == CURRENT_TEMP_FILE_NAME,
        };
        if obsolete {
            let _ = fs.remove_file(&dir.join(&name));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use lsm_core::{InternalKey, OsFileSystem, ValueKind};

    fn table(number: u64, i: u64, key_bytes: usize) -> FileMeta {
        let key = |fill: u8| {
            let mut key = format!("{i:08}").into_bytes();
            key.resize(key_bytes, fill);
            InternalKey::new(&key, 5, ValueKind::Put)
        };
        FileMeta {
            number,
            file_bytes: 1000,
            smallest: key(b'a'),
            largest: key(b'b'),
            min_seq: 5,
            max_seq: 5,
            entries: 2,
            tombstones: 0,
        }
    }

    /// The bound the catalog limit is checked with is never below what a
    /// snapshot takes, for short keys and long ones.
    #[test]
    fn the_snapshot_bound_covers_the_snapshot_records() {
        for key_bytes in [8, 60 * 1024] {
            let edit = VersionEdit {
                added: (0..300).map(|i| (1, table(i + 1, i, key_bytes))).collect(),
                added_range_tombstones: (0..300u64)
                    .map(|i| {
                        RangeTombstone::new(vec![b'x'; key_bytes], vec![b'y'; key_bytes], i + 10)
                    })
                    .collect(),
                ..VersionEdit::default()
            };
            let version = Version::new(4).apply(&edit).unwrap();
            let written: u64 = snapshot_payloads(&version.to_snapshot_edit())
                .unwrap()
                .iter()
                .map(|p| p.len() as u64 + 16)
                .sum();
            assert!(
                snapshot_bytes_bound(&version) >= written,
                "{key_bytes}-byte keys"
            );
        }
    }

    /// An edit that would make the catalog larger than the limit is refused
    /// before anything is written, and the manifest stays usable (before,
    /// the writer could grow a manifest past what a reader accepts, 1 GiB,
    /// and the store would no longer open).
    #[test]
    fn an_edit_past_the_catalog_limit_is_refused_and_nothing_is_written() {
        let dir = tempfile::tempdir().unwrap();
        let (mut manifest, _) = Manifest::open(OsFileSystem::shared(), dir.path(), 4).unwrap();
        manifest.max_catalog_bytes = 64 * 1024;
        let first = manifest.new_file_number();
        manifest
            .log_and_apply(VersionEdit {
                added: vec![(1, table(first, 1, 1024))],
                ..VersionEdit::default()
            })
            .unwrap();
        let bytes = manifest.manifest_bytes();
        let added = (0..100)
            .map(|i| (1, table(manifest.new_file_number(), 10 + i, 1024)))
            .collect();
        let err = manifest
            .log_and_apply(VersionEdit {
                added,
                ..VersionEdit::default()
            })
            .unwrap_err();
        assert!(matches!(err, Error::CatalogTooLarge { .. }), "{err}");
        assert_eq!(manifest.manifest_bytes(), bytes, "nothing written");
        assert!(!manifest.is_poisoned());
        assert_eq!(manifest.current().files_at(1).len(), 1);
        let next = manifest.new_file_number();
        manifest
            .log_and_apply(VersionEdit {
                added: vec![(1, table(next, 500, 1024))],
                ..VersionEdit::default()
            })
            .unwrap();
        drop(manifest);
        let recovered = Manifest::recover(&OsFileSystem, dir.path(), 4).unwrap();
        assert_eq!(recovered.version.files_at(1).len(), 2);
    }
}
