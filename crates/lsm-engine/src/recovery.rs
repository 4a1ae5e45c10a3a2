//! Opening a store's files after a restart: what was durable, whether it is
//! complete, and the repairs open makes. Checks first, writes after.
//!
//! [`check`] reads only: the `OPTIONS` file (a damaged one is corruption;
//! a config value set explicitly that differs from the stored one is
//! [`Error::IncompatibleOptions`]; one left unset takes the stored value),
//! the manifest ([`Manifest::recover`]; a table deeper than `num_levels`
//! allows is [`Error::IncompatibleOptions`], not corruption), the tables it
//! lists (present, with the size it recorded), and the WAL from the
//! manifest's `wal_segment` on ([`lsm_wal::recover_from`]: every segment
//! present, sequence numbers continuing the tables' `last_seq` without a
//! gap, damage only where a crash leaves it), replayed into a memtable. Any
//! hole is a corruption error naming the file and offset. [`RecoveryCheck`]
//! says what a repair would change. `lsm verify` and read-only tools stop
//! there.
//!
//! [`repair`] runs only after every check passed, in this order (each step
//! durable before the next; docs/durability.md, "Open"):
//! 1. cut the WAL's torn tail (`lsm_wal::repair`, at the end of [`check`]
//!    once every check has passed);
//! 2. write `OPTIONS` when it is missing (temp file, fsync, rename,
//!    directory fsync), and remove a leftover `OPTIONS.tmp`: the checks
//!    found the manifest fits the recorded levels, and everything written
//!    after depends on them;
//! 3. create the new WAL segment (header, fdatasync, directory fsync);
//! 4. if the manifest's last record was damaged, keep a copy of that
//!    manifest in `quarantine/`;
//! 5. start a new manifest: the recovered catalog, `newest_wal_segment` =
//!    the new segment, and, when the WAL held nothing the tables lack,
//!    `wal_segment` = the new segment;
//! 6. remove WAL segments below the manifest's `wal_segment`, and tables the
//!    manifest does not list. A table is deleted only when the manifest was
//!    read whole (so the table's edit never reached the disk); after a
//!    damaged last record it is moved to `quarantine/` instead, since the
//!    lost edit may have been the one that listed it.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use lsm_core::{Error as CoreError, FileSystem, SeqNo, SharedFileSystem};
use lsm_manifest::{
    parse_table_file_name, table_file_name, DroppedTail, Manifest, RecoveredState, Version,
    VersionEdit, MAX_LEVELS,
};
use lsm_memtable::Memtable;
use lsm_wal::{parse_segment_file_name, RecoveryMode, RecoveryReport, ReplayStart, WalWriter};

use crate::config::LsmConfig;
use crate::error::{Error, Result};
use crate::options_file::{self, StoredOptions, OPTIONS_FILE_NAME};

/// Name of the directory, inside the store directory, where open moves
/// files it may not delete: tables no intact manifest lists, and a manifest
/// whose last record was damaged.
pub const QUARANTINE_DIR_NAME: &str = "quarantine";

/// Bytes that open would cut from (or, for the manifest, leave out of) the
/// end of a file: a torn write.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Truncation {
    /// The file.
    pub path: PathBuf,
    /// Where the damaged bytes start.
    pub offset: u64,
    /// How many bytes from there to the end of the file.
    pub bytes: u64,
}

/// What [`check_store`] found in a store directory that open would accept:
/// the state open would recover, and what it would repair.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StoreCheck {
    /// The last sequence number of the state open would recover.
    pub last_seq: SeqNo,
    /// The sequence number the tables hold up to (the manifest's).
    pub flushed_seq: SeqNo,
    /// The WAL segments open would replay.
    pub wal_segments: Vec<u64>,
    /// WAL records (batches) in them.
    pub wal_records: u64,
    /// The torn tail open would cut from the newest WAL segment.
    pub wal_torn_tail: Option<Truncation>,
    /// Later WAL segments holding no record whose torn header open would cut
    /// to zero bytes.
    pub wal_torn_headers: Vec<PathBuf>,
    /// The damaged last manifest record open would leave out (the state
    /// without it was checked complete).
    pub manifest_dropped_tail: Option<Truncation>,
    /// Tables the manifest does not list, which open would delete (or move
    /// to `quarantine/` when `manifest_dropped_tail` is set).
    pub stray_tables: Vec<PathBuf>,
    /// The `num_levels` open would use: the one recorded in `OPTIONS`, or
    /// the config's when there is none.
    pub num_levels: usize,
    /// Whether open would write `OPTIONS` (the store has none: it is new,
    /// or older than the file).
    pub writes_options: bool,
}

/// Runs every check [`crate::Engine::open`] (a store's open) runs on the files of
/// `config.dir`, reading only: no lock, no repair, no new file. `Ok` when
/// open would succeed, with what it would recover and repair; otherwise the
/// error open would return (a corruption error names the file and offset).
/// Table blocks are not read (open does not read them either); `lsm verify`
/// checks those separately. Run it on a closed store: one open in another
/// process may be writing while this reads.
pub fn check_store(config: &LsmConfig) -> Result<StoreCheck> {
    config.validate()?;
    let fs = config.fs.as_ref();
    let dir = &config.dir;
    if !fs.exists(dir) {
        return Err(CoreError::io(
            dir,
            std::io::Error::new(std::io::ErrorKind::NotFound, "no such store directory"),
        )
        .into());
    }
    let found = check(fs, config, true)?;
    Ok(store_check(dir, &found))
}

/// The public summary of what [`check`] found in `dir`.
pub(crate) fn store_check(dir: &Path, found: &RecoveryCheck) -> StoreCheck {
    let segment = |number: u64| lsm_wal::segment_path(dir, number);
    StoreCheck {
        last_seq: found.last_seq,
        flushed_seq: found.manifest.last_seq,
        wal_segments: found.wal.segments.clone(),
        wal_records: found.wal.records,
        wal_torn_tail: found.wal.torn_tail.as_ref().map(|torn| Truncation {
            path: segment(torn.segment),
            offset: torn.offset,
            bytes: torn.dropped_bytes,
        }),
        wal_torn_headers: found.wal.torn_headers.iter().map(|&n| segment(n)).collect(),
        manifest_dropped_tail: match (&found.manifest.dropped_tail, &found.manifest.source) {
            (Some(tail), Some(path)) => Some(Truncation {
                path: path.clone(),
                offset: tail.offset,
                bytes: tail.bytes,
            }),
            _ => None,
        },
        stray_tables: found
            .stray_tables
            .iter()
            .map(|&n| dir.join(table_file_name(n)))
            .collect(),
        num_levels: found.options.num_levels,
        writes_options: found.write_options,
    }
}

/// What [`check`] found: the recovered state and what a repair would
/// change. Nothing here is an error; errors are returned instead.
#[derive(Debug)]
pub(crate) struct RecoveryCheck {
    /// The catalog the manifest holds.
    pub(crate) manifest: RecoveredState,
    /// The WAL's writes the tables lack.
    pub(crate) mem: Arc<Memtable>,
    /// The last sequence number of the recovered state.
    pub(crate) last_seq: SeqNo,
    /// What the WAL replay found (torn tail, next segment number).
    pub(crate) wal: RecoveryReport,
    /// Tables in the directory the manifest does not list.
    pub(crate) stray_tables: Vec<u64>,
    /// The options the store is opened with (stored, or the config's).
    pub(crate) options: StoredOptions,
    /// True when `OPTIONS` is missing or holds other options.
    pub(crate) write_options: bool,
}

/// Every check open makes, reading only (see the module doc). With
/// `dry_run` the WAL's torn tail is reported but not cut; otherwise it is
/// cut once every check has passed.
pub(crate) fn check(
    fs: &dyn FileSystem,
    config: &LsmConfig,
    dry_run: bool,
) -> Result<RecoveryCheck> {
    let dir = &config.dir;
    let stored = options_file::read(fs, dir)?;
    let options = options_file::resolve(config, stored)?;
    let manifest = recover_manifest(fs, dir, options, stored.is_some())?;
    let names = fs.list_dir(dir).map_err(|e| CoreError::io(dir, e))?;
    let present: BTreeSet<u64> = names
        .iter()
        .filter_map(|name| parse_table_file_name(name))
        .collect();
    let incomplete = |err: Error| explain_dropped_tail(&manifest, err);
    check_listed_tables(fs, dir, &manifest, &present).map_err(incomplete)?;

    let flushed_seq = manifest.last_seq;
    let mem = Arc::new(Memtable::with_point_filter(config.memtable_bytes));
    let mut last_seq = flushed_seq;
    // Replayed without cutting anything: the repair waits until every
    // check below has passed too, so a refused open changes nothing.
    let start = ReplayStart {
        min_segment: manifest.wal_segment,
        flushed_seq: Some(flushed_seq),
        newest_known_segment: manifest.newest_wal_segment,
        dry_run: true,
    };
    if manifest.dropped_tail.is_some() && config.wal_recovery == RecoveryMode::PointInTime {
        // The state without the dropped manifest edit is trusted only if
        // the log shows it complete. PointInTime would take a missing
        // segment or a gap in sequence numbers for a place to cut, never
        // for the sign that the dropped edit had taken effect (deleted the
        // segments a flush covered): check as the default mode does.
        lsm_wal::recover_from(fs, dir, &start, RecoveryMode::TolerateTornTail, |_| {})
            .map_err(|err| incomplete(with_manifest_context(err, &manifest)))?;
    }
    let mut wal = lsm_wal::recover_from(fs, dir, &start, config.wal_recovery, |batch| {
        if batch.last_seq() > flushed_seq {
            mem.apply(batch.iter().filter(|op| op.seq > flushed_seq));
            last_seq = last_seq.max(batch.last_seq());
        }
    })
    .map_err(|err| incomplete(with_manifest_context(err, &manifest)))?;
    check_tables_within_last_seq(&manifest, last_seq)?;
    if !dry_run {
        // Every check passed: cut what the replay found torn.
        lsm_wal::repair(fs, dir, &start, &mut wal)?;
    }

    let live: BTreeSet<u64> = manifest
        .version
        .all_files()
        .map(|(_, f)| f.number)
        .collect();
    let stray_tables = present.difference(&live).copied().collect();
    Ok(RecoveryCheck {
        manifest,
        mem,
        last_seq,
        wal,
        stray_tables,
        options,
        write_options: stored != Some(options),
    })
}

/// The manifest's catalog in a version of `options.num_levels` levels. The
/// manifest is replayed with every level the format allows, so a table
/// deeper than the config's levels is found as such rather than as an edit
/// that does not apply: [`Error::IncompatibleOptions`] naming the level
/// (or, when `OPTIONS` recorded the levels, a corruption error naming it:
/// the two files disagree).
fn recover_manifest(
    fs: &dyn FileSystem,
    dir: &Path,
    options: StoredOptions,
    options_stored: bool,
) -> Result<RecoveredState> {
    let mut manifest = Manifest::recover(fs, dir, MAX_LEVELS)?;
    let deepest = manifest.version.all_files().map(|(level, _)| level).max();
    let num_levels = options.num_levels;
    if let Some(level) = deepest.filter(|&level| level >= num_levels) {
        let needed = level + 1;
        let manifest = manifest_name(&manifest);
        if options_stored {
            let path = dir.join(OPTIONS_FILE_NAME);
            return Err(CoreError::corruption(
                &path,
                0,
                format!(
                    "OPTIONS records num_levels {num_levels}, but {manifest} lists tables at \
                     level {level}: the store was opened with more levels without updating \
                     OPTIONS (by a build older than the file?); remove OPTIONS and open with \
                     num_levels of at least {needed}"
                ),
            )
            .into());
        }
        return Err(Error::IncompatibleOptions {
            option: "num_levels",
            stored: format!("at least {needed}"),
            requested: num_levels.to_string(),
            reason: format!("{manifest} lists tables at level {level}"),
        });
    }
    let version = Version::new(num_levels).apply(&manifest.version.to_snapshot_edit())?;
    manifest.version = Arc::new(version);
    Ok(manifest)
}

/// Every table the manifest lists must exist with the size it recorded.
fn check_listed_tables(
    fs: &dyn FileSystem,
    dir: &Path,
    manifest: &RecoveredState,
    present: &BTreeSet<u64>,
) -> Result<()> {
    for (level, file) in manifest.version.all_files() {
        let path = dir.join(table_file_name(file.number));
        if !present.contains(&file.number) {
            return Err(CoreError::corruption(
                &path,
                0,
                format!(
                    "table {} of level {level} is listed in {} but missing",
                    file.number,
                    manifest_name(manifest)
                ),
            )
            .into());
        }
        let size = fs.file_size(&path).map_err(|e| CoreError::io(&path, e))?;
        if size != file.file_bytes {
            return Err(CoreError::corruption(
                &path,
                size.min(file.file_bytes),
                format!(
                    "table is {size} bytes, {} recorded {}",
                    manifest_name(manifest),
                    file.file_bytes
                ),
            )
            .into());
        }
    }
    Ok(())
}

/// No table the manifest lists may hold a sequence number above the last
/// one the manifest and the WAL record (`last_seq`): writes after open are
/// numbered from `last_seq + 1`, so such a table's versions would hide
/// them (and a read-only open, reading at `last_seq`, would not see its
/// newest versions). Every writer records a table and a `last_seq` at
/// least its `max_seq` in one edit, so this is a catalog no writer wrote:
/// corruption naming the manifest.
fn check_tables_within_last_seq(manifest: &RecoveredState, last_seq: SeqNo) -> Result<()> {
    let Some((level, file)) = manifest
        .version
        .all_files()
        .find(|(_, file)| file.max_seq > last_seq)
    else {
        return Ok(());
    };
    let path = manifest.source.clone().unwrap_or_default();
    Err(CoreError::corruption(
        &path,
        0,
        format!(
            "table {} of level {level} holds sequence numbers up to {}, above the last one \
             the manifest and the WAL record ({last_seq}): writes would be numbered below \
             the table's",
            file.number, file.max_seq
        ),
    )
    .into())
}

/// The manifest's path for error texts.
fn manifest_name(manifest: &RecoveredState) -> String {
    manifest.source.as_ref().map_or_else(
        || "the fresh catalog".to_string(),
        |path| path.display().to_string(),
    )
}

/// A WAL corruption error, with what the manifest says the WAL must hold
/// (a manifest cut short makes the WAL look incomplete).
fn with_manifest_context(err: lsm_wal::Error, manifest: &RecoveredState) -> Error {
    match err {
        lsm_wal::Error::Core(CoreError::Corruption {
            path,
            offset,
            detail,
        }) => CoreError::corruption(
            path,
            offset,
            format!(
                "{detail} ({} records tables up to sequence number {} and needs WAL \
                 segments from {} on)",
                manifest_name(manifest),
                manifest.last_seq,
                manifest.wal_segment
            ),
        )
        .into(),
        other => other.into(),
    }
}

/// When the manifest's last record was left out and the state without it
/// is incomplete, the damage was not a torn write: say so, naming the
/// manifest, and keep the underlying finding.
fn explain_dropped_tail(manifest: &RecoveredState, err: Error) -> Error {
    let (Some(tail), Some(path)) = (&manifest.dropped_tail, &manifest.source) else {
        return err;
    };
    if !err.is_corruption() {
        return err;
    }
    let DroppedTail { offset, reason, .. } = tail;
    CoreError::corruption(
        path,
        *offset,
        format!(
            "the manifest's last record is damaged ({reason}) and the state before it is \
             incomplete, so it was a durable edit, not a torn write: {err}"
        ),
    )
    .into()
}

/// What open builds from a checked directory.
pub(crate) struct Recovered {
    pub(crate) manifest: Manifest,
    pub(crate) wal: WalWriter,
    pub(crate) mem: Arc<Memtable>,
    pub(crate) last_seq: SeqNo,
    /// What recovery replayed and repaired, for the `lsm.open` event.
    pub(crate) summary: RecoverySummary,
}

/// What [`repair`] did, for the `lsm.open` event (the warnings about
/// damage are emitted by `repair` itself, one event each).
#[derive(Clone, Debug, Default)]
pub(crate) struct RecoverySummary {
    /// The sequence number the tables hold up to (the manifest's).
    pub(crate) flushed_seq: SeqNo,
    /// The WAL segments replayed, ascending.
    pub(crate) replayed_segments: Vec<u64>,
    /// WAL records (batches) replayed.
    pub(crate) replayed_records: u64,
    /// The last sequence number the replay saw, if any record.
    pub(crate) replayed_last_seq: Option<SeqNo>,
    /// The segment new writes go to.
    pub(crate) new_wal_segment: u64,
    /// A torn tail was cut from the WAL (or torn headers, or lost
    /// segments), or the manifest's damaged last record was left out.
    pub(crate) repaired_damage: bool,
    /// `OPTIONS` was written (new store, or one older than the file).
    pub(crate) options_written: bool,
    /// Old WAL segments deleted (their writes are in tables).
    pub(crate) removed_wal_segments: usize,
    /// Tables no manifest lists, deleted.
    pub(crate) removed_tables: usize,
    /// Files moved (tables) or copied (the manifest) to `quarantine/`.
    pub(crate) quarantined: usize,
}

/// Emits one `warn` event per piece of damage open repairs (see
/// `docs/observability.md`): a torn WAL tail, torn segment headers,
/// segments lost after the damage point, the manifest's damaged last
/// record. True if there was any.
fn report_damage(dir: &Path, report: &RecoveryReport, manifest: &RecoveredState) -> bool {
    let mut damage = false;
    if let Some(torn) = &report.torn_tail {
        damage = true;
        tracing::warn!(
            name: "lsm.recovery.torn_tail",
            dir = %dir.display(),
            path = %lsm_wal::segment_path(dir, torn.segment).display(),
            segment = torn.segment,
            offset = torn.offset,
            bytes = torn.dropped_bytes,
            "cut a torn tail from the WAL (a crash during an append)"
        );
    }
    for &segment in &report.torn_headers {
        damage = true;
        tracing::warn!(
            name: "lsm.recovery.torn_header",
            dir = %dir.display(),
            path = %lsm_wal::segment_path(dir, segment).display(),
            segment,
            "cut a torn WAL segment header to zero bytes (a crash while the segment was created)"
        );
    }
    if !report.lost_segments.is_empty() {
        damage = true;
        tracing::warn!(
            name: "lsm.recovery.lost_segments",
            dir = %dir.display(),
            segments = ?report.lost_segments,
            "point-in-time recovery emptied the WAL segments after the damage"
        );
    }
    if let (Some(tail), Some(path)) = (&manifest.dropped_tail, &manifest.source) {
        damage = true;
        tracing::warn!(
            name: "lsm.recovery.manifest_tail_dropped",
            dir = %dir.display(),
            path = %path.display(),
            offset = tail.offset,
            bytes = tail.bytes,
            reason = %tail.reason,
            "left out the manifest's damaged last record (a torn write)"
        );
    }
    damage
}

/// Makes the checked state the store's (see the module doc for the order).
pub(crate) fn repair(
    fs: &SharedFileSystem,
    config: &LsmConfig,
    check: RecoveryCheck,
) -> Result<Recovered> {
    let dir = &config.dir;
    let RecoveryCheck {
        manifest: recovered,
        mem,
        last_seq,
        wal: report,
        stray_tables,
        options,
        write_options,
    } = check;
    let repaired_damage = report_damage(dir, &report, &recovered);
    if write_options {
        options_file::write(fs.as_ref(), dir, &options)?;
        tracing::debug!(
            name: "lsm.recovery.options_written",
            dir = %dir.display(),
            num_levels = options.num_levels,
            "wrote OPTIONS"
        );
    }
    if options_file::remove_temp(fs.as_ref(), dir)? {
        fs.sync_dir(dir).map_err(|e| CoreError::io(dir, e))?;
    }
    let mut quarantined = 0;
    let new_segment = report.next_segment.max(recovered.wal_segment);
    sync_replayed_segments(fs.as_ref(), dir, recovered.wal_segment)?;
    let wal = WalWriter::create(
        Arc::clone(fs),
        dir,
        new_segment,
        last_seq + 1,
        config.wal_options(),
    )?;
    if let Some(source) = recovered
        .dropped_tail
        .as_ref()
        .and(recovered.source.as_ref())
    {
        quarantine_copy(fs.as_ref(), dir, source)?;
        quarantined += 1;
    }
    let mut edit = VersionEdit {
        newest_wal_segment: Some(new_segment),
        ..VersionEdit::default()
    };
    if mem.is_empty() {
        // The older segments hold only writes already in tables.
        edit.wal_segment = Some(new_segment);
    }
    let manifest = Manifest::start(Arc::clone(fs), dir, &recovered, edit)?;

    let names = fs.list_dir(dir).map_err(|e| CoreError::io(dir, e))?;
    let oldest_needed = manifest.wal_segment();
    let mut removed_wal_segments = 0;
    let mut removed_tables = 0;
    for name in names {
        if parse_segment_file_name(&name).is_some_and(|segment| segment < oldest_needed) {
            let path = dir.join(&name);
            fs.remove_file(&path).map_err(|e| CoreError::io(&path, e))?;
            removed_wal_segments += 1;
        }
    }
    for number in &stray_tables {
        let path = dir.join(table_file_name(*number));
        if recovered.dropped_tail.is_some() {
            quarantine_move(fs.as_ref(), dir, &path)?;
            quarantined += 1;
        } else {
            fs.remove_file(&path).map_err(|e| CoreError::io(&path, e))?;
            removed_tables += 1;
        }
    }
    if removed_wal_segments > 0 || !stray_tables.is_empty() {
        fs.sync_dir(dir).map_err(|e| CoreError::io(dir, e))?;
    }
    if removed_tables > 0 {
        tracing::debug!(
            name: "lsm.recovery.stray_tables_removed",
            dir = %dir.display(),
            tables = ?stray_tables,
            "deleted tables no manifest lists (their flush or compaction never committed)"
        );
    }
    let summary = RecoverySummary {
        flushed_seq: recovered.last_seq,
        replayed_segments: report.segments,
        replayed_records: report.records,
        replayed_last_seq: report.last_seq,
        new_wal_segment: new_segment,
        repaired_damage,
        options_written: write_options,
        removed_wal_segments,
        removed_tables,
        quarantined,
    };
    Ok(Recovered {
        manifest,
        wal,
        mem,
        last_seq,
        summary,
    })
}

/// Fdatasyncs every WAL segment from `oldest` on, before the open appends
/// to a newer one. A process that died without closing leaves the tails
/// of the segments it wrote unsynced (under `SyncMode::Never`, or a write
/// not yet synced); open replayed them from the page cache. Once a newer
/// segment holds a record, damage at the end of an older one is
/// corruption, not a torn tail (`docs/format/wal.md`), so a power cut that
/// tore such a tail after this open's durable writes would keep the store
/// from opening: the WAL's rule is that appends reach a segment only once
/// every older one is synced, across opens too. A segment with nothing
/// unsynced costs an fdatasync that writes nothing.
fn sync_replayed_segments(fs: &dyn FileSystem, dir: &Path, oldest: u64) -> Result<()> {
    let names = fs.list_dir(dir).map_err(|e| CoreError::io(dir, e))?;
    for name in names {
        if parse_segment_file_name(&name).is_some_and(|segment| segment >= oldest) {
            let path = dir.join(&name);
            fs.sync_file(&path).map_err(|e| CoreError::io(&path, e))?;
        }
    }
    Ok(())
}

/// A path in the quarantine directory for `name` that is not taken yet.
fn quarantine_path(fs: &dyn FileSystem, dir: &Path, name: &str) -> Result<PathBuf> {
    let quarantine = dir.join(QUARANTINE_DIR_NAME);
    fs.create_dir_all(&quarantine)
        .map_err(|e| CoreError::io(&quarantine, e))?;
    let mut path = quarantine.join(name);
    let mut n = 1u32;
    while fs.exists(&path) {
        path = quarantine.join(format!("{name}.{n}"));
        n += 1;
    }
    Ok(path)
}

/// Moves `path` into the quarantine directory (both directories synced).
fn quarantine_move(fs: &dyn FileSystem, dir: &Path, path: &Path) -> Result<()> {
    let name = file_name(path);
    let target = quarantine_path(fs, dir, &name)?;
    fs.rename(path, &target)
        .map_err(|e| CoreError::io(path, e))?;
    sync_quarantine(fs, dir)?;
    tracing::warn!(
        name: "lsm.recovery.quarantined",
        dir = %dir.display(),
        path = %path.display(),
        target = %target.display(),
        action = "moved",
        "moved a table no intact manifest lists to quarantine (the manifest's last record was damaged)"
    );
    Ok(())
}

/// Copies `path` into the quarantine directory, synced.
fn quarantine_copy(fs: &dyn FileSystem, dir: &Path, path: &Path) -> Result<()> {
    let bytes = fs.read_all(path).map_err(|e| CoreError::io(path, e))?;
    let target = quarantine_path(fs, dir, &file_name(path))?;
    let file = fs.create(&target).map_err(|e| CoreError::io(&target, e))?;
    file.append(&bytes)
        .and_then(|()| file.sync_data())
        .map_err(|e| CoreError::io(&target, e))?;
    sync_quarantine(fs, dir)?;
    tracing::warn!(
        name: "lsm.recovery.quarantined",
        dir = %dir.display(),
        path = %path.display(),
        target = %target.display(),
        action = "copied",
        "kept a copy of the manifest whose last record was damaged in quarantine"
    );
    Ok(())
}

fn sync_quarantine(fs: &dyn FileSystem, dir: &Path) -> Result<()> {
    let quarantine = dir.join(QUARANTINE_DIR_NAME);
    fs.sync_dir(&quarantine)
        .map_err(|e| CoreError::io(&quarantine, e))?;
    fs.sync_dir(dir).map_err(|e| CoreError::io(dir, e))?;
    Ok(())
}

fn file_name(path: &Path) -> String {
    path.file_name().map_or_else(
        || "unnamed".to_string(),
        |n| n.to_string_lossy().into_owned(),
    )
}
